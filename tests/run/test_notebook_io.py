"""Notebooks declare what they read (``upstream``) and write (``products``); the run context checks both."""

import ast
import re
from pathlib import Path

import pytest

from fer_lib.core import paths
from fer_lib.run.layout import NOTEBOOKS_DIR, notebook_ids
from fer_lib.run.notebook import MissingUpstreamError, parse_upstream, resolve_upstream, setup_notebook

IDS = ("01_data_audit", "02_alignment", "04_temporal")


def declarations(notebook):
    """``upstream`` and ``products`` as assigned in a notebook's parameters cell (its jupytext source)."""
    source = (paths.project_root() / NOTEBOOKS_DIR / f"{notebook}.py").read_text()
    cell = source.split('# %% tags=["parameters"]', 1)[1].split("# %%", 1)[0]
    values = {}
    for node in ast.parse(cell).body:
        if isinstance(node, ast.Assign) and node.targets[0].id in ("upstream", "products"):
            values[node.targets[0].id] = ast.literal_eval(node.value)
    return values


@pytest.mark.parametrize("notebook", notebook_ids())
def test_every_notebook_declares_upstream_and_products(notebook):
    declared = declarations(notebook)
    assert set(declared) == {"upstream", "products"}, f"{notebook} declares {sorted(declared)}"
    assert isinstance(declared["upstream"], dict) and isinstance(declared["products"], list)
    products = declared["products"]
    assert products and len(set(products)) == len(products), f"{notebook} declares products {products}"
    assert all(isinstance(p, str) and p and "/" not in p for p in products), f"{notebook}: not file names {products}"
    # every product the notebook writes by a literal name is declared
    source = (paths.project_root() / NOTEBOOKS_DIR / f"{notebook}.py").read_text()
    written = set(re.findall(r"ctx\.product\(\"([^\"]+)\"\)", source))
    assert written and written <= set(products), f"{notebook} writes undeclared {sorted(written - set(products))}"


def test_every_upstream_is_a_product_of_an_earlier_notebook():
    ids = notebook_ids()
    products = {nb: set(declarations(nb)["products"]) for nb in ids}
    read_by = {}
    for nb in ids:
        for name, (producer, file) in parse_upstream(nb, declarations(nb)["upstream"], ids).items():
            assert file in products[producer], f"{nb} reads {producer}/{file} ({name}), not a product of {producer}"
            read_by.setdefault(producer, set()).add(nb)
    # notebook 02 is no dead end: the temporal and hybrid notebooks read its aligned sequences
    assert {"04_temporal", "05_hybrid"} <= read_by["02_alignment"]


def test_upstream_must_name_an_earlier_notebook_and_a_file():
    assert parse_upstream("04_temporal", {"folds": "01_data_audit/ckplus48_folds.csv"}, IDS) == {
        "folds": ("01_data_audit", "ckplus48_folds.csv")}
    assert parse_upstream("01_data_audit", None, IDS) == {}
    with pytest.raises(ValueError, match=r"upstream\['x'\] of notebook 02_alignment must be '<notebook id>/<file>' "
                                         r"with an earlier notebook id \(one of \['01_data_audit'\]\); "
                                         r"got '04_temporal/a.csv'"):
        parse_upstream("02_alignment", {"x": "04_temporal/a.csv"}, IDS)
    with pytest.raises(ValueError, match="got 'ckplus48_folds.csv'"):
        parse_upstream("04_temporal", {"folds": "ckplus48_folds.csv"}, IDS)


def test_a_missing_upstream_names_the_notebook_to_run_first(tmp_path):
    (tmp_path / "artifacts" / "01_data_audit").mkdir(parents=True)
    (tmp_path / "artifacts" / "01_data_audit" / "ckplus48_folds.csv").write_text("fold\n0\n")
    upstream = {"folds": "01_data_audit/ckplus48_folds.csv", "aligned": "02_alignment/ckplus_aligned.npz"}
    with pytest.raises(MissingUpstreamError, match=r"notebook 04_temporal reads artefacts that are not in the run "
                                                   r"folder \(aligned: .*ckplus_aligned.npz\): run notebook\(s\) "
                                                   r"02_alignment with preset='x' first") as err:
        resolve_upstream("04_temporal", upstream, tmp_path, "x", IDS)
    assert isinstance(err.value, FileNotFoundError)
    found = resolve_upstream("04_temporal", {"folds": upstream["folds"]}, tmp_path, "x", IDS)
    assert dict(found) == {"folds": tmp_path / "artifacts" / "01_data_audit" / "ckplus48_folds.csv"}


def test_setup_notebook_resolves_upstream_and_guards_products(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_RUNS_DIR", str(tmp_path / "runs"))
    ctx = setup_notebook("01_data_audit", "io-test", str(tmp_path / "data"), products=["summary.json"])
    assert ctx.run_dir == tmp_path / "runs" / "io-test" and dict(ctx.upstream) == {}
    assert ctx.product("summary.json") == ctx.out_dir / "summary.json" == Path(ctx.run_dir, "artifacts",
                                                                                "01_data_audit", "summary.json")
    with pytest.raises(ValueError, match=r"'other.csv' is not a declared product of notebook 01_data_audit; "
                                         r"its products are \['summary.json'\]"):
        ctx.product("other.csv")
    ctx.product("summary.json").write_text("{}")
    later = setup_notebook("02_alignment", "io-test", str(tmp_path / "data"),
                           upstream={"audit": "01_data_audit/summary.json"}, products=["alignment.json"])
    assert later.upstream["audit"] == ctx.out_dir / "summary.json"
    with pytest.raises(MissingUpstreamError, match="run notebook\\(s\\) 01_data_audit with preset='io-test'"):
        setup_notebook("02_alignment", "io-test", str(tmp_path / "data"), upstream={"x": "01_data_audit/x.csv"})


def test_the_protocol_is_in_the_book_and_its_hash_is_recorded():
    import hashlib

    from fer_lib.run.layout import PROTOCOL_FILE, protocol_record, toc_entries

    record = protocol_record()
    text = (paths.project_root() / PROTOCOL_FILE).read_bytes()
    assert record == {"file": "book/protocol.md", "sha256": hashlib.sha256(text).hexdigest(),
                      "version": record["version"]}
    assert record["version"].startswith("Version 1, written 2026-12-08")
    assert toc_entries()[1] == "protocol"  # the first page after the introduction
