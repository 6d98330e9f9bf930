"""A run's metrics.json, publishing a run, and the committed published runs (fer_lib.run.publish)."""

import json

import nbformat
import numpy as np
import pandas as pd
import pytest
from factories import arm

from fer_lib.core import paths
from fer_lib.data.constants import CKPLUS_CLASSES, FER2013_CLASSES
from fer_lib.evaluate.predictions import save_predictions
from fer_lib.report import paired_tests
from fer_lib.report import results as report
from fer_lib.report.results import METRICS_FILE
from fer_lib.run import layout, pipeline, publish


@pytest.fixture
def finished_run(tmp_path):
    """A run folder in which every notebook ran: FER-2013 (2 seeds) and CK+ (2 folds) predictions, 07's tests."""
    run = tmp_path / "runs" / "trial"
    fer = [arm(np.arange(10) < n_right, classes=FER2013_CLASSES, dataset="fer2013", protocol="canonical",
               model="spatial", variant="small-ours", seed=seed, split=split, fold=-1)
           for seed, splits in ((0, {"PublicTest": 6, "PrivateTest": 7}), (1, {"PublicTest": 5, "PrivateTest": 8}))
           for split, n_right in splits.items()]
    ck = [arm(np.arange(5) < n_right, classes=CKPLUS_CLASSES, dataset="ckplus48", protocol="7class", model=model,
              variant=variant, seed=0, split="test", fold=fold)
          for model, variant, rights in (("spatial", "transfer", (3, 4)), ("hybrid", "cnn-rnn", (4, 5)))
          for fold, n_right in enumerate(rights)]
    save_predictions(fer + ck[:2], run / "artifacts" / "03_spatial_baseline")
    save_predictions(ck[2:], run / "artifacts" / "05_hybrid")
    tests = pd.DataFrame([{c: np.nan for c in paired_tests.PAIRED_TEST_COLUMNS}])
    tests = tests.assign(level="fold", dataset="ckplus48", protocol="7class", split="test", metric="accuracy",
                         model_a="hybrid", variant_a="cnn-rnn", model_b="spatial", variant_b="transfer",
                         test="corrected_resampled_ttest", statistic=2.0, p=0.0765, p_holm=0.153, mean_diff=0.2,
                         ci_low=-0.1, ci_high=0.5, n=2)
    (run / "artifacts" / "07_paired_tests").mkdir(parents=True)
    tests.to_csv(run / "artifacts" / "07_paired_tests" / "paired_tests.csv", index=False)
    pd.DataFrame({"epoch": [1, 2], "seconds": [20.0, 40.0], "dataset": "fer2013", "protocol": "canonical",
                  "model": "spatial", "variant": "small-ours", "seed": 0, "fold": -1}).to_csv(
        run / "artifacts" / "03_spatial_baseline" / "histories.csv", index=False)
    (run / "notebooks").mkdir()
    log = {"preset": "trial", "data_dir": str(tmp_path / "data"), "commit": "0123abc", "finished_utc": "2026-01-01",
           "hardware": {"cpu_cores": "2", "memory_gib": "24.0", "gpu": "none"}, "packages": {"torch": "2.13.0"},
           "notebooks": {}}
    for k, notebook_id in enumerate(layout.notebook_ids()):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# {notebook_id}")])
        nbformat.write(nb, run / "notebooks" / f"{notebook_id}.ipynb")
        log["notebooks"][notebook_id] = {"notebook": notebook_id, "status": "ok", "seconds": 60.0 * (k + 1),
                                         "commit": "0123abc" if k < 7 else "4567def"}
    (run / "run_log.json").write_text(json.dumps(log))
    return run


def _score(metrics, **where):
    rows = [r for r in metrics["scores"] if all(r[k] == v for k, v in where.items())]
    assert len(rows) == 1, (where, rows)
    return rows[0]


def test_study_metrics_hold_what_the_issue_asks(finished_run):
    metrics = publish.study_metrics(finished_run)
    json.dumps(metrics, allow_nan=False)  # strict JSON: NaN became null
    assert metrics["schema"] == publish.METRICS_SCHEMA and metrics["commit"] == "0123abc"
    assert metrics["preset"] == "trial" and metrics["synthetic"] is False
    # FER-2013: accuracy and macro-F1 per model, seed and split (PublicTest and PrivateTest)
    fer = dict(dataset="fer2013", model="spatial", variant="small-ours")
    assert _score(metrics, **fer, seed=0, split="PublicTest")["accuracy"] == pytest.approx(0.6)
    assert _score(metrics, **fer, seed=1, split="PrivateTest")["accuracy"] == pytest.approx(0.8)
    assert 0 < _score(metrics, **fer, seed=1, split="PrivateTest")["macro_f1"] <= 1
    # CK+: accuracy per fold per model
    assert _score(metrics, dataset="ckplus48", model="hybrid", fold=1)["accuracy"] == pytest.approx(1.0)
    assert _score(metrics, dataset="ckplus48", model="spatial", fold=0)["accuracy"] == pytest.approx(0.6)
    # p-values of notebook 07, wall time per notebook
    assert metrics["paired_tests"][0]["p"] == pytest.approx(0.0765) and metrics["paired_tests"][0]["dof"] is None
    assert metrics["wall_seconds"]["notebooks"]["01_data_audit"] == 60.0
    assert metrics["wall_seconds"]["total"] == pytest.approx(60.0 * 36)
    head = pd.DataFrame(metrics["headline"]).set_index(["dataset", "model"])
    assert head.loc[("fer2013", "spatial"), "accuracy"] == pytest.approx(0.75)  # PrivateTest, mean of 2 seeds


def test_study_metrics_needs_a_run_log(tmp_path):
    with pytest.raises(FileNotFoundError, match="run_dir must be a run folder with run_log.json"):
        publish.study_metrics(tmp_path)


def test_publish_run_copies_results_only_and_regenerates_the_readme_block(finished_run, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{publish.README_MARKERS[0]}\nold table\n{publish.README_MARKERS[1]}\n\nrest\n")
    dest = publish.publish_run(finished_run, dest=tmp_path / "published" / "trial", readme=readme)
    files = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file())
    assert files == ["metrics.json", *[f"notebooks/{n}.ipynb" for n in layout.notebook_ids()], "run_log.json"]
    nb = nbformat.read(dest / "notebooks" / "03_spatial_baseline.ipynb", as_version=4)
    assert nb.metadata["fer_study"]["commit"] == "0123abc"
    text = readme.read_text()
    assert text.startswith("# Title\n\n") and text.endswith("\n\nrest\n") and "old table" not in text
    metrics = json.loads((dest / "metrics.json").read_text())
    assert publish.readme_block_of(readme) == publish.readme_block(metrics, str(dest))
    assert "| FER-2013 | PrivateTest | 75.0 ± 7.1 (small-ours) | – | – |" in text
    assert "| CK+48, 7class | test | 70.0 ± 14.1 (transfer) | – | 90.0 ± 14.1 (cnn-rnn) |" in text
    assert "commit `0123abc`" in text and "2 CPU cores, 24.0 GiB memory, GPU: none" in text
    assert "FER-2013 training of spatial/small-ours: 1.0 min over 2 epochs" in text
    assert "Notebook 08 was executed at commit `4567def`." in text
    nb08 = nbformat.read(dest / "notebooks" / "08_video_inference.ipynb", as_version=4)
    assert nb08.metadata["fer_study"]["commit"] == "4567def"
    assert text.index("| FER-2013 |") < text.index("| CK+48, 7class |")


def test_publish_run_refuses_an_unfinished_run(finished_run, tmp_path):
    log = json.loads((finished_run / "run_log.json").read_text())
    log["notebooks"]["05_hybrid"]["status"] = "failed"
    del log["notebooks"]["08_video_inference"]
    (finished_run / "run_log.json").write_text(json.dumps(log))
    with pytest.raises(ValueError, match=r"not a finished run: notebooks \['05_hybrid', '08_video_inference'\]"):
        publish.publish_run(finished_run, dest=tmp_path / "out", readme=tmp_path / "README.md")


def test_update_readme_needs_the_markers(finished_run, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    with pytest.raises(ValueError, match="must hold the markers"):
        publish.update_readme(publish.study_metrics(finished_run), "x", readme)


# --------------------------------------------------------------------------- #
# The committed published runs: README, results page and metrics.json agree
# --------------------------------------------------------------------------- #
PUBLISHED = publish.available_published()
needs_published = pytest.mark.skipif(not PUBLISHED, reason="no published run under book/published")


@needs_published
@pytest.mark.parametrize("preset", PUBLISHED)
def test_published_run_agrees_with_readme_and_results_page(preset):
    folder = publish.published_dir(preset)
    metrics = json.loads((folder / METRICS_FILE).read_text())
    location = folder.relative_to(paths.project_root()).as_posix()
    block = publish.readme_block_of()
    if block != publish.readme_block(metrics, location):
        assert f"{location}/{METRICS_FILE}" not in (block or ""), (
            "the README's results block differs from what book/published metrics.json generates: "
            f"run `fer-study --publish --preset {preset}` again")
        pytest.skip(f"the README shows another published run than {preset}")
    page = report.results_markdown(metrics)
    for row in metrics["headline"]:
        assert f"| {100 * row['accuracy']:.1f} |" in page, row
    for row in metrics["paired_tests"]:
        if row["level"] == "fold" and row["metric"] == "accuracy":
            assert f"| {row['p']:.3g} |" in page, row
    for notebook_id in layout.notebook_ids():
        nb = nbformat.read(folder / "notebooks" / f"{notebook_id}.ipynb", as_version=4)
        assert nb.metadata["fer_study"]["commit"] == metrics["notebook_commits"][notebook_id]
        assert f"code: commit {metrics['notebook_commits'][notebook_id]}" in json.dumps(nb.cells[:8])
        figures = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "display_data"
                   and str(o.get("data", {}).get("text/plain", "")).startswith("<Figure")]
        assert all("image/png" in o["data"] for o in figures), f"{notebook_id}: a figure was not rendered"
        assert not [c for c in nb.cells if c.cell_type == "code" and any(o.get("output_type") == "error"
                                                                         for o in c.get("outputs", []))]
    log = json.loads((folder / "run_log.json").read_text())
    assert metrics["notebook_commits"] == {k: r.get("commit", log["commit"]) for k, r in log["notebooks"].items()}
    assert metrics["commit"] in metrics["notebook_commits"].values()


@needs_published
@pytest.mark.parametrize("preset", PUBLISHED)
def test_published_folder_holds_results_only(preset):
    folder = publish.published_dir(preset)
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == ["metrics.json", *[f"notebooks/{n}.ipynb" for n in layout.notebook_ids()], "run_log.json"]
    assert sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) < 25 * 2**20


@needs_published
def test_published_book_builds_offline_without_data(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_RUNS_DIR", str(tmp_path))
    monkeypatch.setenv("FER_DATA_DIR", str(tmp_path / "no-data-here"))
    index = pipeline.build_published_book(PUBLISHED[0])
    assert index == tmp_path / f"published-{PUBLISHED[0]}" / "book" / "_build" / "html" / "index.html"
    assert (index.parent / "results.html").is_file() and (index.parent / "notebooks" / "07_paired_tests.html").is_file()


def test_unknown_published_run_message():
    with pytest.raises(ValueError, match=r"published must name a published run in book/published, one of .*; got "
                                         r"'no-such-run' \(publish a finished run with `make publish"):
        pipeline.build_published_book("no-such-run")


def test_readme_names_the_notebooks_executed_at_other_commits_grouped_by_commit():
    metrics = {"commit": "c3", "notebook_commits": {"01_data_audit": "c1", "02_alignment": "c1",
                                                    "03_spatial_baseline": "c2", "05_hybrid": "c3"}}
    assert publish._other_commits(metrics) == {"c1": ["01", "02"], "c2": ["03"]}
    assert publish._other_commits({"commit": "c3"}) == {}


def test_metrics_and_readme_name_the_training_runtime(finished_run):
    runtime = {"device": "cpu", "precision": "fp32", "channels_last": True, "threads": 2, "cpu_bf16": False,
               "cpu_capability": "AVX2"}
    summary = finished_run / "artifacts" / "03_spatial_baseline" / "summary.json"
    summary.write_text(json.dumps({"fer2013": {"runtime": runtime}}))
    log = json.loads((finished_run / "run_log.json").read_text())
    log["hardware"].update(cpu_model="AMD EPYC", cpu_capability="AVX2")
    (finished_run / "run_log.json").write_text(json.dumps(log))
    metrics = publish.study_metrics(finished_run)
    assert metrics["fer2013_training_runtime"] == runtime
    block = publish.readme_block(metrics, "book/published/trial")
    assert "on AMD EPYC (AVX2), 2 CPU cores" in block
    assert "over 2 epochs on cpu, fp32 (no native bf16: AVX2), channels-last, 2 threads (the epochs'" in block
