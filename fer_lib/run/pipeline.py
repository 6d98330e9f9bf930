"""Run the study: make the data, execute the notebooks in order, build the book.

``python -m fer_lib.run.pipeline --preset smoke`` (or ``make study``) does, in order:

1. reads the preset (``notebooks/presets/<preset>.yml``) and the chapter order
   (``book/_toc.yml``);
2. generates the synthetic default data set if the preset uses it and it is
   missing (or says that it reuses it);
3. executes each numbered notebook from its jupytext source
   (``notebooks/NN_slug.py``) with papermill into ``<run_dir>/notebooks/``,
   passing only the preset parameters that differ from the notebook's own
   defaults; logs go to ``<run_dir>/logs/`` and wall times to
   ``<run_dir>/run_log.json``;
4. writes the generated pages (reproducibility) and builds the Jupyter Book
   from the executed notebooks, without re-executing them, into
   ``<run_dir>/book/_build/html``.

Nothing is skipped silently: every notebook is executed on each run, and the
notebooks themselves say which cached artefacts they reused.
"""

import argparse
import json
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import yaml

from fer_lib.core import paths
from fer_lib.core.environment import git_commit, hardware, package_versions
from fer_lib.core.validation import check_option
from fer_lib.run.layout import CHECKED_TAG, NOTEBOOKS_DIR, notebook_ids, protocol_record


def presets_dir():
    """Folder of the preset files."""
    return paths.project_root() / NOTEBOOKS_DIR / "presets"


def available_presets():
    """Names of the presets (``*.yml`` files in :func:`presets_dir`)."""
    return tuple(sorted(p.stem for p in presets_dir().glob("*.yml")))


def load_preset(name):
    """Read a preset file.

    Returns
    -------
    dict
        With keys ``description``, ``parameters`` (common to all notebooks) and
        ``notebooks`` (per-notebook overrides).
    """
    check_option("preset", name, available_presets())
    preset = yaml.safe_load((presets_dir() / f"{name}.yml").read_text()) or {}
    preset.setdefault("parameters", {})
    preset.setdefault("notebooks", {})
    if preset["parameters"].get("preset", name) != name:
        raise ValueError(f"{name}.yml sets parameters.preset to {preset['parameters']['preset']!r}; it must be {name!r}")
    preset["parameters"]["preset"] = name
    return preset


def read_source(notebook_id):
    """Read a notebook from its jupytext ``py:percent`` source, as an nbformat notebook."""
    import jupytext

    return jupytext.read(paths.project_root() / NOTEBOOKS_DIR / f"{notebook_id}.py")


def notebook_defaults(nb):
    """Default values of the ``parameters`` cell of a notebook.

    Returns
    -------
    dict
        Parameter name -> default value (evaluated as Python literals).
    """
    import ast

    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(cells) != 1:
        raise ValueError(f"a notebook needs exactly one cell tagged 'parameters'; found {len(cells)}")
    defaults = {}
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            defaults[node.targets[0].id] = ast.literal_eval(node.value)
    return defaults


def notebook_parameters(preset, notebook_id, defaults, overrides=None):
    """Parameters to pass to one notebook: preset values that differ from its defaults.

    Parameters
    ----------
    preset : dict
        Output of :func:`load_preset`.
    notebook_id : str
    defaults : dict
        Output of :func:`notebook_defaults`.
    overrides : dict, optional
        Command-line overrides, applied last (only to parameters the notebook declares).

    Returns
    -------
    dict
    """
    wanted = dict(preset["parameters"])
    extra = preset["notebooks"].get(notebook_id) or {}
    unknown = sorted(set(extra) - set(defaults))
    if unknown:
        raise ValueError(
            f"preset {preset['parameters']['preset']!r} sets {unknown} for {notebook_id}, which declares "
            f"only {sorted(defaults)}"
        )
    wanted.update(extra)
    wanted.update(overrides or {})
    return {k: v for k, v in wanted.items() if k in defaults and defaults[k] != v}


def execute_notebook(notebook_id, run_dir, parameters, kernel="python3"):
    """Execute one notebook with papermill; return a run-log record.

    The executed notebook goes to ``<run_dir>/notebooks/<id>.ipynb`` and its log
    to ``<run_dir>/logs/<id>.log``. Raises ``RuntimeError`` naming both when a
    cell fails.
    """
    import jupytext
    import papermill

    nb_dir, log_dir = run_dir / "notebooks", run_dir / "logs"
    nb_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    source = run_dir / "_sources" / f"{notebook_id}.ipynb"
    source.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(read_source(notebook_id), source)
    output, log_path = nb_dir / f"{notebook_id}.ipynb", log_dir / f"{notebook_id}.log"
    print(f"[{notebook_id}] executing with {parameters or 'its defaults'}")
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    status = "ok"
    with open(log_path, "w") as log:
        try:
            papermill.execute_notebook(
                str(source), str(output), parameters=parameters, kernel_name=kernel,
                cwd=str(paths.project_root() / NOTEBOOKS_DIR), progress_bar=False,
                log_output=True, stdout_file=log, stderr_file=log,
            )
        except papermill.PapermillExecutionError as exc:
            status = "failed"
            error = exc
    seconds = time.perf_counter() - t0
    print(f"[{notebook_id}] {status} in {seconds:.1f} s -> {paths.display_path(output)}")
    _relative_papermill_paths(output)
    record = {
        "notebook": notebook_id,
        "status": status,
        "seconds": round(seconds, 2),
        "started_utc": started.isoformat(timespec="seconds"),
        "parameters": parameters,
        "commit": git_commit(paths.project_root()),  # a run resumed with --only may span commits
    }
    if status != "ok":
        record["error"] = str(error).splitlines()[-1] if str(error) else type(error).__name__
        _update_run_log(run_dir, record)
        raise RuntimeError(f"{notebook_id} failed: see {output} and {log_path}\n{error}")
    return record


def _relative_papermill_paths(notebook_path):
    """Show papermill's input and output paths in an executed notebook as :func:`~fer_lib.core.paths.display_path` does."""
    import nbformat

    if not Path(notebook_path).is_file():
        return
    nb = nbformat.read(notebook_path, as_version=4)
    meta = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if meta.get(key):
            meta[key] = paths.display_path(meta[key])
    nbformat.write(nb, notebook_path)


def _update_run_log(run_dir, record, context=None):
    path = run_dir / "run_log.json"
    log = json.loads(path.read_text()) if path.exists() else {"notebooks": {}}
    if context:
        log.update(context)
    if record:
        log["notebooks"][record["notebook"]] = record
    path.write_text(json.dumps(log, indent=2) + "\n")
    return log


def write_reproducibility_page(run_dir, book_src):
    """Write ``reproducibility.md`` from the run log, the preset and the environment.

    The preset is the one the run log recorded (``preset_config``); runs
    logged before that record existed get the preset file of the logged name.
    """
    log = json.loads((run_dir / "run_log.json").read_text())
    preset = log.get("preset_config") or load_preset(log["preset"])
    rows = "\n".join(
        f"| {r['notebook']} | {r['status']} | {r['seconds']:.1f} | {r['started_utc']} |"
        for r in log["notebooks"].values()
    )
    total = sum(r["seconds"] for r in log["notebooks"].values())
    recorded = log.get("protocol")
    protocol = (f"protocol: [`{recorded['file']}`](protocol.md), {recorded['version'] or 'no version line'}, SHA-256 "
                f"`{recorded['sha256'][:16]}...`" if recorded else
                "protocol: none recorded (the run predates the pre-registered protocol)")
    versions = "\n".join(f"| {k} | {v} |" for k, v in log["packages"].items())
    hw = "\n".join(f"| {k} | {v} |" for k, v in log["hardware"].items())
    params = yaml.safe_dump({"parameters": preset["parameters"], "notebooks": preset["notebooks"]}, sort_keys=False)
    first = notebook_ids()[0]
    text = f"""# Reproducibility

This page is generated by `fer_lib.run.pipeline` from the run folder; it is not
typed by hand.

## This run

- preset: `{preset['parameters']['preset']}` ({preset.get('description', '')})
- commit: `{log.get('commit')}`
- {protocol}
- finished (UTC): {log.get('finished_utc', 'unfinished')}
- total notebook wall time: {total:.1f} s

| notebook | status | wall time (s) | started (UTC) |
| --- | --- | ---: | --- |
{rows}

## Preset parameters

```yaml
{params}```

## Hardware

| item | value |
| --- | --- |
{hw}

## Software

| package | version |
| --- | --- |
{versions}

## Re-running

The whole study, then the book:

```bash
make study PRESET={preset['parameters']['preset']}
```

One notebook with other parameters, with papermill (run from the project root;
the jupytext source is converted first):

```bash
jupytext --to ipynb notebooks/{first}.py -o /tmp/{first}.ipynb
papermill /tmp/{first}.ipynb /tmp/{first}-out.ipynb -p preset mytrial -p seed 1
```

Its outputs go to `runs/mytrial/`, so no other run is overwritten.

A finished run is published (executed notebooks, run log and `metrics.json`
copied to `book/published/{preset['parameters']['preset']}/`, the README's results block regenerated)
with `make publish PRESET={preset['parameters']['preset']}`; its book then renders offline, without the
data, with `make study PUBLISHED={preset['parameters']['preset']}`.
"""
    (book_src / "reproducibility.md").write_text(text)


def build_book(run_dir, strict=True, book_dir=None, metrics=None):
    """Build the Jupyter Book from the executed notebooks (no re-execution).

    Copies ``book/`` into ``book_dir`` (default ``<run_dir>/book``) and each
    ``<run_dir>/notebooks/*.ipynb`` as its book page
    (:func:`fer_lib.run.book.book_page`: code collapsed, the parameters as a
    table), writes the generated pages (from the run log
    and the run's metrics, :func:`fer_lib.run.publish.read_metrics`), and runs
    ``jupyter-book build`` with warnings as errors (``-W --keep-going``) when
    ``strict``. ``run_dir`` may be a run folder or a published run
    (:func:`fer_lib.run.publish.published_dir`); ``metrics`` saves condensing a
    run folder again when the caller has just done it.

    Returns
    -------
    Path
        The HTML index.
    """
    import nbformat

    from fer_lib.run.book import book_page

    book_src = Path(book_dir) if book_dir is not None else run_dir / "book"
    if book_src.exists():
        shutil.rmtree(book_src)
    # the published runs under book/ are other books' sources, not pages of this one
    shutil.copytree(paths.project_root() / "book", book_src, ignore=shutil.ignore_patterns("published"))
    (book_src / NOTEBOOKS_DIR).mkdir()
    for notebook_id in notebook_ids():
        executed = run_dir / "notebooks" / f"{notebook_id}.ipynb"
        if not executed.exists():
            raise FileNotFoundError(f"{executed} missing: execute the notebooks before building the book")
        nbformat.write(book_page(nbformat.read(executed, as_version=4)), book_src / NOTEBOOKS_DIR / executed.name)
    write_reproducibility_page(run_dir, book_src)
    from fer_lib.report.results import write_results_page
    from fer_lib.run.publish import read_metrics

    write_results_page(metrics if metrics is not None else read_metrics(run_dir), book_src)
    executable = Path(sys.executable).parent / "jupyter-book"  # the CLI of this environment
    cmd = [str(executable if executable.exists() else "jupyter-book"), "build", str(book_src)]
    if strict:
        cmd += ["--warningiserror", "--keep-going"]
    print("building the book:", " ".join(cmd))
    result = subprocess.run(cmd, capture_output=True, text=True)
    book_log = book_src.parent / "logs" / "book.log"  # beside the book: a published folder stays untouched
    book_log.parent.mkdir(exist_ok=True)
    book_log.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise RuntimeError(f"jupyter-book build failed (log: {book_log}):\n{tail}")
    index = book_src / "_build" / "html" / "index.html"
    print(f"book: {index}")
    return index


def build_published_book(preset):
    """Build the book of a published run into ``<runs root>/published-<preset>/book``.

    Needs neither the data nor any execution: the executed notebooks, run log
    and metrics are in ``book/published/<preset>`` (:func:`fer_lib.run.publish.publish_run`).

    Returns
    -------
    Path
        The HTML index.
    """
    from fer_lib.run.publish import available_published, published_dir

    published = available_published()
    if preset not in published:
        raise ValueError(f"published must name a published run in book/published, one of {list(published)}; got "
                         f"{preset!r} (publish a finished run with `make publish PRESET={preset}`)")
    source = published_dir(preset)
    target = paths.runs_root() / f"published-{preset}" / "book"
    return build_book(source, book_dir=target)


def store_baseline(run_dir):
    """Store the executed smoke notebooks as ``notebooks/NN_slug.ipynb`` (nbval's reference outputs).

    Each executed notebook must have run with its defaults (no injected
    parameters) and from the current source. Only the outputs of cells tagged
    ``nbval-check-output`` are kept (the ones nbval compares); the figures
    live in the run folder's executed notebooks and the book, and volatile
    metadata (timings) is removed, so the stored pair changes only when a
    checked result changes.

    Returns
    -------
    list of Path
        The notebooks written.
    """
    import nbformat

    written = []
    for notebook_id in notebook_ids():
        executed = nbformat.read(run_dir / "notebooks" / f"{notebook_id}.ipynb", as_version=4)
        if any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells):
            raise ValueError(f"{notebook_id} ran with injected parameters; the baseline must use the defaults")
        source = read_source(notebook_id)
        if [c.source for c in executed.cells] != [c.source for c in source.cells]:
            raise ValueError(f"{notebook_id} was executed from an older source; run it again first")
        for cell in executed.cells:
            cell.metadata.pop("papermill", None)
            cell.metadata.pop("execution", None)
            if cell.cell_type == "code" and CHECKED_TAG not in cell.metadata.get("tags", []):
                cell.outputs = []
                cell.execution_count = None
        executed.metadata.pop("papermill", None)
        executed.metadata["jupytext"] = source.metadata.get("jupytext", {})
        executed.metadata["jupytext"]["formats"] = "ipynb,py:percent"
        executed.metadata["jupytext"].pop("text_representation", None)
        target = paths.project_root() / NOTEBOOKS_DIR / f"{notebook_id}.ipynb"
        if target.exists():  # keep the stored cell ids, so the pair's diff shows only real changes
            stored = nbformat.read(target, as_version=4)
            if [c.source for c in stored.cells] == [c.source for c in executed.cells]:
                for cell, old in zip(executed.cells, stored.cells):
                    cell.id = old.get("id", cell.get("id"))
        nbformat.write(executed, target)
        written.append(target)
        print(f"stored {target}")
    return written


def run_study(preset="smoke", only=None, data_dir=None, run_dir=None, book=True):
    """Execute the study's notebooks for a preset and build the book.

    Parameters
    ----------
    preset : str, default="smoke"
        One of :func:`available_presets`.
    only : sequence of str, optional
        Notebook ids to execute (default: all, in table-of-contents order). The
        book needs every notebook executed once in the run folder.
    data_dir : str, optional
        Overrides the preset's ``data_dir``.
    run_dir : str, optional
        Overrides the run folder (default ``<runs root>/<preset>``).
    book : bool, default=True
        Build the book after executing.

    Returns
    -------
    dict
        The run log.
    """
    config = load_preset(preset)
    ids = notebook_ids()
    if only:
        unknown = sorted(set(only) - set(ids))
        if unknown:
            raise ValueError(f"only must name notebooks among {list(ids)}; got unknown {unknown}")
    overrides = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if run_dir is not None:
        overrides["run_dir"] = run_dir
    run = paths.resolve_run_dir(preset, run_dir)
    t0 = time.perf_counter()
    wanted_data = overrides.get("data_dir", config["parameters"].get("data_dir", "synthetic"))
    resolved = paths.resolve_data_dir(wanted_data)
    if paths.is_synthetic(resolved):
        from fer_lib.data.synthetic import ensure_synthetic_dataset

        ensure_synthetic_dataset(resolved)
    context = {
        "preset": preset,
        "run_dir": str(run),
        "data_dir": str(resolved),
        "commit": git_commit(paths.project_root()),
        "packages": package_versions(),
        "hardware": hardware(),
        "preset_config": config,  # as it was for this run (the book of a published run shows it)
        "protocol": protocol_record(),  # the pre-registered protocol this run follows (book/protocol.md)
    }
    _update_run_log(run, None, context)
    for notebook_id in ids:
        if only and notebook_id not in only:
            print(f"[{notebook_id}] not executed (--only); the book uses the executed copy already in {run}")
            continue
        defaults = notebook_defaults(read_source(notebook_id))
        params = notebook_parameters(config, notebook_id, defaults, overrides)
        _update_run_log(run, execute_notebook(notebook_id, run, params))
    log = _update_run_log(run, None, {"finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                      "study_seconds": round(time.perf_counter() - t0, 2)})
    from fer_lib.report.results import METRICS_FILE
    from fer_lib.run.publish import write_metrics

    metrics = write_metrics(run)
    print(f"metrics: {run / METRICS_FILE}")
    if book:
        build_book(run, metrics=metrics)
    print(f"study ({preset}) done in {time.perf_counter() - t0:.0f} s; run folder {run}")
    return log


def main(argv=None):
    """Command-line entry point (``fer-study`` / ``python -m fer_lib.run.pipeline``)."""
    parser = argparse.ArgumentParser(
        prog="fer-study", description="Execute the study's notebooks for a preset and build the book."
    )
    parser.add_argument("--preset", default="smoke", help=f"preset name (one of {', '.join(available_presets())})")
    parser.add_argument("--only", nargs="+", metavar="NOTEBOOK", help="execute only these notebook ids")
    parser.add_argument("--data-dir", help="override the preset's data_dir")
    parser.add_argument("--run-dir", help="override the run folder")
    parser.add_argument("--no-book", action="store_true", help="execute the notebooks, do not build the book")
    parser.add_argument("--book-only", action="store_true", help="build the book from the executed notebooks")
    parser.add_argument("--store-baseline", action="store_true",
                        help="store the executed notebooks as notebooks/*.ipynb (nbval's reference outputs)")
    parser.add_argument("--publish", action="store_true",
                        help="copy the finished run of --preset to book/published/<preset> and update the README")
    parser.add_argument("--published", metavar="PRESET",
                        help="build the book of a published run (book/published/PRESET) without data or execution")
    args = parser.parse_args(argv)
    try:
        if args.published:
            build_published_book(args.published)
        elif args.publish:
            from fer_lib.run.publish import publish_run

            publish_run(paths.resolve_run_dir(args.preset, args.run_dir))
        elif args.store_baseline:
            store_baseline(paths.resolve_run_dir(args.preset, args.run_dir))
        elif args.book_only:
            build_book(paths.resolve_run_dir(args.preset, args.run_dir))
        else:
            run_study(args.preset, args.only, args.data_dir, args.run_dir, book=not args.no_book)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"fer-study: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
