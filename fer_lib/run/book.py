"""How an executed notebook becomes a book page that reads as a paper.

:func:`book_page` turns an executed notebook into the page the book shows:

* every code cell is collapsed (tag ``hide-input``): the reader sees the
  narrative, the figures and the tables, and can open any cell's code;
* the ``parameters`` cell and papermill's ``injected-parameters`` cell are
  replaced by one compact table of what this run used
  (:func:`parameter_table`): each parameter, its value, where the value came
  from (the notebook's default or the preset) and the comment that explains it.

The executed notebooks in the run folder stay as papermill wrote them.
"""

import ast
import io
import tokenize

import nbformat

__all__ = ["HIDDEN_TAG", "book_page", "parameter_rows", "parameter_table"]

#: Tag of the code cells whose input the book collapses (Jupyter Book's toggle).
HIDDEN_TAG = "hide-input"

#: Tags of the cells :func:`book_page` replaces by the parameter table.
PARAMETER_TAGS = ("parameters", "injected-parameters")


def _tags(cell):
    return cell.get("metadata", {}).get("tags", [])


def _assignments(source):
    """``{name: (value source, comment)}`` of the top-level ``name = value  # comment`` lines of a cell."""
    comments = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = tok.string.lstrip("#").strip()
    except (tokenize.TokenError, IndentationError) as exc:
        raise ValueError(f"the parameters cell is not valid Python: {exc}") from exc
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = " ".join(ast.get_source_segment(source, node.value).split())
            # the comment after the value, else one on another line of a value written over several lines
            lines = [node.end_lineno, *range(node.lineno, node.end_lineno)]
            comment = next((comments[n] for n in lines if n in comments), "")
            out[node.targets[0].id] = (value, comment)
    return out


def parameter_rows(nb):
    """The parameters an executed notebook ran with.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        An executed notebook (its ``parameters`` cell, and papermill's
        ``injected-parameters`` cell when the preset set some).

    Returns
    -------
    list of dict
        One per parameter, in the order of the ``parameters`` cell:
        ``name``, ``value`` (source text, whitespace collapsed), ``set_by``
        (``"default"`` or ``"preset"``) and ``comment``.

    Raises
    ------
    ValueError
        When the notebook has no ``parameters`` cell.
    """
    cells = {tag: [c for c in nb.cells if tag in _tags(c)] for tag in PARAMETER_TAGS}
    if not cells["parameters"]:
        raise ValueError("the notebook has no cell tagged 'parameters'")
    defaults = _assignments(cells["parameters"][0].source)
    injected = {}
    for cell in cells["injected-parameters"]:
        injected.update({name: value for name, (value, _) in _assignments(cell.source).items()})
    rows = [{"name": name, "value": injected.get(name, value), "set_by": "preset" if name in injected else "default",
             "comment": comment} for name, (value, comment) in defaults.items()]
    rows += [{"name": name, "value": value, "set_by": "preset", "comment": ""}
             for name, value in injected.items() if name not in defaults]
    return rows


def _cell_text(text):
    """Escape what a Markdown table cell cannot hold as is: pipes, and ``<`` / ``>`` (read as HTML tags)."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def parameter_table(rows):
    """A Markdown table of :func:`parameter_rows`, values in code spans.

    Returns
    -------
    str
    """
    lines = ["**What this run used** (the notebook's `parameters` cell; *preset*: set by the run's preset, "
             "*default*: the notebook's own value)", "", "| parameter | value | set by | what it is |",
             "| --- | --- | --- | --- |"]
    for r in rows:
        value = r["value"].replace("`", "'")
        lines.append(f"| `{r['name']}` | `{_cell_text(value)}` | {r['set_by']} | {_cell_text(r['comment'])} |")
    return "\n".join(lines)


def book_page(nb):
    """The book page of an executed notebook: code collapsed, parameters as a table.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        Left unchanged.

    Returns
    -------
    nbformat.NotebookNode
        A copy: the ``parameters`` and ``injected-parameters`` cells replaced
        by one Markdown cell holding :func:`parameter_table`, every other code
        cell tagged :data:`HIDDEN_TAG`.
    """
    page = nbformat.from_dict(nb)
    table = nbformat.v4.new_markdown_cell(parameter_table(parameter_rows(nb)))
    cells = []
    for cell in page.cells:
        tags = _tags(cell)
        if "parameters" in tags:
            cells.append(table)
        elif "injected-parameters" in tags:
            continue
        else:
            if cell.cell_type == "code" and HIDDEN_TAG not in tags:
                cell.setdefault("metadata", {})["tags"] = [*tags, HIDDEN_TAG]
            cells.append(cell)
    page.cells = cells
    return page
