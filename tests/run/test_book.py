"""Book pages read as a paper: code collapsed, the parameters of the run as a table (fer_lib.run.book)."""

import nbformat
import pytest

from fer_lib.run.book import HIDDEN_TAG, book_page, parameter_rows, parameter_table
from fer_lib.run.layout import notebook_ids
from fer_lib.run.pipeline import read_source

PARAMETERS = '''preset = "smoke"  # name of the run: outputs go to <runs root>/<preset>
epochs = 6  # epochs; None: the recipe's own
products = ["a.csv",
            "b.json"]  # written to the artefact folder
note = "a | b"  # a value with a pipe
'''


def executed(injected=None):
    cells = [nbformat.v4.new_markdown_cell("# Title"),
             nbformat.v4.new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]})]
    if injected:
        cells.append(nbformat.v4.new_code_cell(injected, metadata={"tags": ["injected-parameters"]}))
    cells += [nbformat.v4.new_code_cell("print(1)", metadata={"tags": ["nbval-check-output"]}),
              nbformat.v4.new_code_cell("x = 2")]
    return nbformat.v4.new_notebook(cells=cells)


def test_parameter_rows_take_the_injected_values_and_keep_the_comments():
    rows = parameter_rows(executed('# Parameters\npreset = "real-cpu"\nepochs = 17\nextra = {"a": 1}\n'))
    assert rows == [
        {"name": "preset", "value": '"real-cpu"', "set_by": "preset",
         "comment": "name of the run: outputs go to <runs root>/<preset>"},
        {"name": "epochs", "value": "17", "set_by": "preset", "comment": "epochs; None: the recipe's own"},
        {"name": "products", "value": '["a.csv", "b.json"]', "set_by": "default",
         "comment": "written to the artefact folder"},
        {"name": "note", "value": '"a | b"', "set_by": "default", "comment": "a value with a pipe"},
        {"name": "extra", "value": '{"a": 1}', "set_by": "preset", "comment": ""},
    ]
    table = parameter_table(rows)
    assert ('| `preset` | `"real-cpu"` | preset | name of the run: outputs go to &lt;runs root&gt;/&lt;preset&gt; |'
            in table)
    assert '| `note` | `"a \\| b"` | default | a value with a pipe |' in table
    with pytest.raises(ValueError, match="no cell tagged 'parameters'"):
        parameter_rows(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]))


def test_book_page_collapses_code_and_replaces_the_parameter_cells():
    nb = executed('preset = "real-cpu"\n')
    page = book_page(nb)
    assert [c.cell_type for c in page.cells] == ["markdown", "markdown", "code", "code"]
    assert page.cells[1].source.startswith("**What this run used**")
    assert page.cells[2].metadata["tags"] == ["nbval-check-output", HIDDEN_TAG]
    assert page.cells[3].metadata["tags"] == [HIDDEN_TAG]
    assert len(nb.cells) == 5 and "tags" not in nb.cells[4].metadata  # the executed notebook is left as it was


@pytest.mark.parametrize("notebook", notebook_ids())
def test_every_notebook_parameter_cell_becomes_a_table(notebook):
    rows = parameter_rows(read_source(notebook))
    names = [r["name"] for r in rows]
    assert names[:3] == ["preset", "data_dir", "run_dir"] and {"upstream", "products"} <= set(names)
    assert all(r["comment"] for r in rows), [r["name"] for r in rows if not r["comment"]]
