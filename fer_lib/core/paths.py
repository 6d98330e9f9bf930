"""Where things are: the project, the data, the run folders.

No path here depends on the working directory: relative paths given by a user
or a preset are resolved against the project root (the folder holding
``pyproject.toml``), so a notebook gives the same answer whether it is run
from ``notebooks/``, from the root, or by papermill from anywhere.

Environment variables:

``FER_DATA_DIR``
    Overrides the data folder of every notebook and preset.
``FER_RUNS_DIR``
    Root of the run folders (default ``<project>/runs``); each preset writes
    to ``<runs root>/<preset>`` so a smoke run never overwrites a full one.
"""

import os
import re
from pathlib import Path

from fer_lib.core.errors import DataError

#: Data folder values with a meaning of their own (see :func:`resolve_data_dir`).
DATA_DIR_KEYWORDS = ("synthetic", "auto")

#: Folders that ``data_dir="auto"`` tries, in order, relative to the project root.
AUTO_DATA_DIRS = ("data", "../shared/data")


def project_root():
    """The project folder (holding ``pyproject.toml``, ``notebooks/`` and ``book/``).

    Found from this file's location (editable install or a checkout); set
    ``FER_PROJECT_ROOT`` when ``fer_lib`` is installed elsewhere.
    """
    env = os.environ.get("FER_PROJECT_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parents[2]
    if (here / "pyproject.toml").is_file() and (here / "notebooks").is_dir():
        return here
    raise RuntimeError(
        f"cannot find the project folder from {here}; set FER_PROJECT_ROOT to the checkout of the study"
    )


def synthetic_data_dir():
    """Folder of the synthetic default data set (``<project>/data/synthetic``)."""
    return project_root() / "data" / "synthetic"


def _holds_real_data(path):
    return (path / "fer2013").is_dir() or (path / "ckplus").is_dir()


def resolve_data_dir(data_dir="synthetic", verbose=True):
    """Turn a ``data_dir`` parameter into a folder.

    Parameters
    ----------
    data_dir : str or Path, default="synthetic"
        ``"synthetic"``: the synthetic default (generate it with
        :func:`fer_lib.data.synthetic.ensure_synthetic_dataset`); ``"auto"``: the first of
        ``data/`` and ``../shared/data`` that holds a ``fer2013/`` or ``ckplus/``
        folder; anything else is a path, relative to the project root.
        The environment variable ``FER_DATA_DIR``, when set, overrides it.
    verbose : bool, default=True
        Print which folder was chosen and why.

    Returns
    -------
    Path
        Absolute path of the data folder.
    """
    env = os.environ.get("FER_DATA_DIR")
    if env:
        path = _absolute(env)
        reason = f"FER_DATA_DIR={env!r} overrides data_dir={str(data_dir)!r}"
    elif str(data_dir) == "synthetic":
        path, reason = synthetic_data_dir(), "synthetic default"
    elif str(data_dir) == "auto":
        candidates = [_absolute(p) for p in AUTO_DATA_DIRS]
        found = [p for p in candidates if _holds_real_data(p)]
        if not found:
            raise DataError(
                "data_dir='auto' found no real data in " + ", ".join(map(str, candidates))
                + " (each needs a fer2013/ or ckplus/ folder; see data/README.md)"
            )
        path, reason = found[0], "first folder with real data among " + ", ".join(AUTO_DATA_DIRS)
    else:
        path, reason = _absolute(data_dir), "data_dir parameter"
    if verbose:
        print(f"data folder: {display_path(path)} ({reason})")
    return path


def display_path(path):
    """``path`` as the book and the logs show it: never an absolute path of the machine that ran.

    Inside ``$FER_RUNS_DIR`` or ``$FER_DATA_DIR`` (when set): relative to it,
    written ``$FER_RUNS_DIR/...``; inside the project or its parent folder
    (``../shared/data``): relative to the project; elsewhere (a temporary
    folder): the absolute path.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    str
    """
    p = Path(os.path.abspath(Path(path).expanduser()))
    for env in ("FER_RUNS_DIR", "FER_DATA_DIR"):
        root = os.environ.get(env)
        if root:
            root = Path(os.path.abspath(_absolute(root)))
            if p.is_relative_to(root):
                return "/".join(["$" + env, *p.relative_to(root).parts])
    project = project_root()
    if p.is_relative_to(project.parent):
        rel = Path(os.path.relpath(p, project))
        return rel.as_posix()
    return str(p)


def display_text(text):
    """``text`` (e.g. a command's output) with the absolute paths of the run, data and project folders shown by :func:`display_path`."""
    roots = [runs_root(), project_root(), project_root().parent]
    if os.environ.get("FER_DATA_DIR"):
        roots.append(_absolute(os.environ["FER_DATA_DIR"]))
    for root in sorted({Path(os.path.abspath(r)) for r in roots}, key=lambda r: len(str(r)), reverse=True):
        # whole path components only: /work must not rewrite /workspace
        text = re.sub(re.escape(str(root)) + r"(?![\w.-])", display_path(root).replace("\\", "\\\\"), text)
    return text


def is_synthetic(data_dir):
    """True when ``data_dir`` (a resolved folder) is the synthetic default."""
    return Path(data_dir).resolve() == synthetic_data_dir().resolve()


def _absolute(path):
    path = Path(path).expanduser()
    return path if path.is_absolute() else (project_root() / path).resolve()


def runs_root():
    """Root of all run folders: ``$FER_RUNS_DIR`` or ``<project>/runs``."""
    env = os.environ.get("FER_RUNS_DIR")
    return _absolute(env) if env else project_root() / "runs"


def cache_root():
    """Root of the caches (aligned face crops): ``$FER_CACHE_DIR``, else ``~/.cache/fer-study``.

    Outside the project on purpose: crops of the research-only data sets must
    never sit in a checkout, where one ``git add -f`` would publish them.
    ``$XDG_CACHE_HOME`` replaces ``~/.cache`` when set.
    """
    env = os.environ.get("FER_CACHE_DIR")
    if env:
        return _absolute(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "fer-study"


def resolve_run_dir(preset, run_dir=None):
    """Run folder of a preset: ``run_dir`` if given, else ``<runs root>/<preset>``."""
    if not preset or any(c in str(preset) for c in "/\\"):
        raise ValueError(f"preset must be a plain name such as 'smoke' or 'full'; got {preset!r}")
    path = _absolute(run_dir) if run_dir else runs_root() / str(preset)
    path.mkdir(parents=True, exist_ok=True)
    return path


def artifact_dir(run_dir, notebook):
    """Folder for one notebook's artefacts: ``<run_dir>/artifacts/<notebook>`` (created)."""
    path = Path(run_dir) / "artifacts" / notebook
    path.mkdir(parents=True, exist_ok=True)
    return path
