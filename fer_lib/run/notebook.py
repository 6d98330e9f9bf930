"""What every notebook does first: resolve its folders and declared artefacts, make the data, seed.

Notebooks call :func:`setup_notebook` right after their ``parameters`` cell, so
the logic that turns parameters into folders lives here once.

Each notebook declares, in its ``parameters`` cell, ploomber-style:

- ``upstream``: the artefacts of earlier notebooks it reads, a dict
  ``{name: "<notebook id>/<file>"}`` relative to ``<run_dir>/artifacts``
  (e.g. ``{"folds": "01_data_audit/ckplus48_folds.csv"}``);
- ``products``: the files it writes into its own artefact folder.

:func:`setup_notebook` checks the declarations (an upstream must name an
earlier notebook of the table of contents) and that every upstream file
exists, and raises :class:`MissingUpstreamError` naming the notebook to run
first otherwise. The notebook then reads ``ctx.upstream[name]`` and writes
``ctx.product(file)``: no glob over the run folder, so what a notebook
reads never depends on which other notebooks happened to run.
"""

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType

from fer_lib.core import paths
from fer_lib.core.environment import git_commit
from fer_lib.core.jsonio import to_jsonable
from fer_lib.core.reproducibility import seed_everything
from fer_lib.run.layout import notebook_ids


class MissingUpstreamError(FileNotFoundError):
    """An artefact a notebook declares in ``upstream`` is not in the run folder."""


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
    upstream : mapping of str to Path
        The declared upstream artefacts, resolved and checked to exist.
    products : tuple of str
        The declared products (file names inside ``out_dir``).
    """

    notebook: str
    preset: str
    data_dir: Path
    synthetic: bool
    run_dir: Path
    out_dir: Path
    seed: int
    upstream: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    products: tuple = ()

    def product(self, name):
        """Path of one of this notebook's declared products: ``out_dir / name``.

        Raises
        ------
        ValueError
            When ``name`` is not declared in the notebook's ``products``.
        """
        if name not in self.products:
            raise ValueError(f"{name!r} is not a declared product of notebook {self.notebook}; "
                             f"its products are {list(self.products)} (add it to `products` in the parameters cell)")
        return self.out_dir / name


def parse_upstream(notebook, upstream, ids=None):
    """Check a notebook's ``upstream`` declaration; return ``{name: (notebook id, file)}``.

    Parameters
    ----------
    notebook : str
        The declaring notebook's id.
    upstream : mapping of str to str or None
        ``{name: "<notebook id>/<file>"}``.
    ids : sequence of str, optional
        Notebook ids in reading order; default :func:`fer_lib.run.layout.notebook_ids`.

    Raises
    ------
    ValueError
        When an entry is not ``"<notebook id>/<file>"`` or names a notebook
        that is not earlier than ``notebook`` in the table of contents.
    """
    ids = tuple(notebook_ids() if ids is None else ids)
    earlier = ids[:ids.index(notebook)] if notebook in ids else ids
    parsed = {}
    for name, ref in dict(upstream or {}).items():
        parts = PurePosixPath(str(ref)).parts
        if len(parts) != 2 or parts[0] not in earlier:
            raise ValueError(f"upstream[{name!r}] of notebook {notebook} must be '<notebook id>/<file>' with an "
                             f"earlier notebook id (one of {list(earlier)}); got {ref!r}")
        parsed[name] = (parts[0], parts[1])
    return parsed


def resolve_upstream(notebook, upstream, run_dir, preset, ids=None):
    """Paths of a notebook's upstream artefacts in ``run_dir``, each checked to exist.

    Parameters
    ----------
    notebook : str
    upstream : mapping of str to str or None
        See :func:`parse_upstream`.
    run_dir : path-like
    preset : str
        Named in the error message.
    ids : sequence of str, optional

    Returns
    -------
    mapping of str to Path

    Raises
    ------
    MissingUpstreamError
        Naming every missing file and the notebooks to run first.
    """
    resolved = {name: Path(run_dir) / "artifacts" / nb / file
                for name, (nb, file) in parse_upstream(notebook, upstream, ids).items()}
    missing = {name: path for name, path in resolved.items() if not path.exists()}
    if missing:
        producers = sorted({path.parent.name for path in missing.values()})
        listed = "; ".join(f"{name}: {paths.display_path(path)}" for name, path in missing.items())
        raise MissingUpstreamError(
            f"notebook {notebook} reads artefacts that are not in the run folder ({listed}): run notebook(s) "
            f"{', '.join(producers)} with preset={preset!r} first (or the whole study: "
            f"`make study PRESET={preset}`)")
    return MappingProxyType(resolved)


def setup_notebook(notebook, preset="smoke", data_dir="synthetic", run_dir=None, seed=0, *, upstream=None,
                   products=()):
    """Resolve a notebook's folders and declared artefacts, generate the synthetic data if needed, and seed.

    Parameters
    ----------
    notebook : str
        The notebook's id (its file name without suffix).
    preset, data_dir, run_dir, seed
        The notebook's parameters (see :func:`fer_lib.core.paths.resolve_data_dir`).
    upstream : dict of str to str, optional
        The artefacts of earlier notebooks it reads (see :func:`parse_upstream`).
    products : sequence of str, default=()
        The files it writes into its artefact folder.

    Returns
    -------
    NotebookContext

    Raises
    ------
    MissingUpstreamError
        When an upstream artefact is not in the run folder.
    """
    resolved = paths.resolve_data_dir(data_dir)
    synthetic = paths.is_synthetic(resolved)
    if synthetic:
        from fer_lib.data.synthetic import ensure_synthetic_dataset

        ensure_synthetic_dataset(resolved)
    run = paths.resolve_run_dir(preset, run_dir)
    resolved_upstream = resolve_upstream(notebook, upstream, run, preset)
    out = paths.artifact_dir(run, notebook)
    seed = seed_everything(seed)
    commit = git_commit(paths.project_root())
    print(f"run folder: {paths.display_path(run)}\ncode: commit {commit}")
    return NotebookContext(notebook, preset, resolved, synthetic, run, out, seed, resolved_upstream,
                           tuple(products or ()))


def save_json(path, obj):
    """Write ``obj`` (dicts, lists, numpy scalars and arrays) as indented JSON; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_jsonable(obj), indent=2, sort_keys=True) + "\n")
    return path


def load_json(path):
    """Read a JSON file written by :func:`save_json`."""
    return json.loads(Path(path).read_text())
