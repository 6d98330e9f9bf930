"""What every notebook does first: resolve its folders, make the data, seed, and save results.

Notebooks call :func:`setup_notebook` right after their ``parameters`` cell, so
the logic that turns parameters into folders lives here once.
"""

import json
from dataclasses import dataclass
from pathlib import Path

from fer_lib.core import paths
from fer_lib.core.environment import git_commit
from fer_lib.core.jsonio import to_jsonable
from fer_lib.core.reproducibility import seed_everything


@dataclass(frozen=True)
class NotebookContext:
    """Folders and seed of one notebook run.

    Attributes
    ----------
    notebook : str
        Notebook id, e.g. ``"01_data_audit"``.
    preset : str
    data_dir : Path
        Resolved data folder.
    synthetic : bool
        True when ``data_dir`` is the synthetic default.
    run_dir : Path
        ``<runs root>/<preset>`` unless given.
    out_dir : Path
        This notebook's artefacts: ``<run_dir>/artifacts/<notebook>``.
    seed : int
    """

    notebook: str
    preset: str
    data_dir: Path
    synthetic: bool
    run_dir: Path
    out_dir: Path
    seed: int

    def artifact(self, notebook, name):
        """Path of an artefact of an earlier notebook; raises if it is missing.

        Parameters
        ----------
        notebook : str
            Id of the notebook that wrote it, e.g. ``"01_data_audit"``.
        name : str
            File name inside that notebook's artefact folder.
        """
        path = self.run_dir / "artifacts" / notebook / name
        if not path.exists():
            raise FileNotFoundError(
                f"{path} not found: run notebook {notebook} with preset={self.preset!r} first "
                f"(or run the whole study: `make study PRESET={self.preset}`)"
            )
        return path


def setup_notebook(notebook, preset="smoke", data_dir="synthetic", run_dir=None, seed=0):
    """Resolve a notebook's folders, generate the synthetic data if needed, and seed.

    Parameters
    ----------
    notebook : str
        The notebook's id (its file name without suffix).
    preset, data_dir, run_dir, seed
        The notebook's parameters (see :func:`fer_lib.core.paths.resolve_data_dir`).

    Returns
    -------
    NotebookContext
    """
    resolved = paths.resolve_data_dir(data_dir)
    synthetic = paths.is_synthetic(resolved)
    if synthetic:
        from fer_lib.data.synthetic import ensure_synthetic_dataset

        ensure_synthetic_dataset(resolved)
    run = paths.resolve_run_dir(preset, run_dir)
    out = paths.artifact_dir(run, notebook)
    seed = seed_everything(seed)
    commit = git_commit(paths.project_root())
    print(f"run folder: {paths.display_path(run)}\ncode: commit {commit}")
    return NotebookContext(notebook, preset, resolved, synthetic, run, out, seed)


def save_json(path, obj):
    """Write ``obj`` (dicts, lists, numpy scalars and arrays) as indented JSON; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_jsonable(obj), indent=2, sort_keys=True) + "\n")
    return path


def load_json(path):
    """Read a JSON file written by :func:`save_json`."""
    return json.loads(Path(path).read_text())
