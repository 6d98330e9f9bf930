"""The project's structure: notebooks, their jupytext pairs, the table of contents, presets, environment files."""

import re
from pathlib import Path

import jupytext
import nbformat
import pytest
import tomllib
import yaml

from fer_lib.core import paths
from fer_lib.run import layout, pipeline

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_NAME = re.compile(r"^\d{2}_[a-z0-9_]+$")


def sources():
    return sorted(p.stem for p in (ROOT / "notebooks").glob("*.py"))


def test_toc_notebooks_and_pairs_agree():
    toc_ids = list(layout.notebook_ids())
    assert toc_ids, "book/_toc.yml lists no notebooks"
    assert toc_ids == sorted(toc_ids), "the TOC must list the numbered notebooks in order"
    assert toc_ids == sources(), "every notebooks/NN_slug.py must be in book/_toc.yml and vice versa"
    paired = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert paired == sources(), "every notebook source needs its .ipynb pair (jupytext --sync notebooks/*.py)"
    for name in toc_ids:
        assert NOTEBOOK_NAME.match(name), f"{name}: notebook ids are NN_slug"


@pytest.mark.parametrize("name", sources())
def test_pair_has_the_same_cells(name):
    py = jupytext.read(ROOT / "notebooks" / f"{name}.py")
    ipynb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    assert [(c.cell_type, c.source) for c in py.cells] == [(c.cell_type, c.source) for c in ipynb.cells], (
        f"{name}.py and {name}.ipynb differ: run `jupytext --sync notebooks/{name}.py`"
    )
    assert ipynb.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent"


@pytest.mark.parametrize("name", sources())
def test_notebook_has_one_parameters_cell_with_literal_defaults(name):
    defaults = pipeline.notebook_defaults(pipeline.read_source(name))
    for required in ("preset", "data_dir", "run_dir", "seed"):
        assert required in defaults, f"{name}: the parameters cell must declare {required}"
    assert defaults["preset"] == "smoke" and defaults["data_dir"] == "synthetic", (
        f"{name}: defaults must run as they are (smoke preset, synthetic data)"
    )


def test_other_toc_pages_exist_or_are_generated():
    for entry in layout.toc_entries():
        if entry.startswith("notebooks/"):
            continue
        assert (ROOT / "book" / f"{entry}.md").is_file() or entry in layout.GENERATED_PAGES, entry


@pytest.mark.parametrize("preset", pipeline.available_presets())
def test_presets_only_set_declared_parameters(preset):
    config = pipeline.load_preset(preset)
    for name in layout.notebook_ids():
        defaults = pipeline.notebook_defaults(pipeline.read_source(name))
        pipeline.notebook_parameters(config, name, defaults)  # raises on unknown per-notebook keys


def test_smoke_preset_equals_the_notebook_defaults():
    # so that nbval (which runs the notebooks with their defaults) tests the smoke preset
    config = pipeline.load_preset("smoke")
    for name in layout.notebook_ids():
        defaults = pipeline.notebook_defaults(pipeline.read_source(name))
        assert pipeline.notebook_parameters(config, name, defaults) == {}, name


def test_unknown_preset_message():
    with pytest.raises(ValueError, match=r"preset must be one of \['full', 'real-cpu', 'smoke'\]; got 'fast'"):
        pipeline.load_preset("fast")


def _name(requirement):
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].strip().lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pip_reqs = [r for r in pip_section if not r.startswith("-")]
    assert sorted(pip_reqs) == sorted(project["dependencies"]), "environment.yml pip list != pyproject dependencies"
    assert "-e ." in pip_section
    text = (ROOT / "environment.yml").read_text()
    for extra in project["optional-dependencies"]["mtcnn"]:
        assert f"pip install --no-deps {extra}" in text, f"environment.yml must say how to install {extra}"
    overrides = (ROOT / "overrides.txt").read_text()
    for pinned in ("torch", "torchvision"):
        spec = next(r for r in project["dependencies"] if _name(r) == pinned)
        assert spec in overrides, f"overrides.txt must pin {spec} like pyproject.toml"


def test_paths_do_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("FER_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert paths.project_root() == ROOT
    assert paths.resolve_data_dir("synthetic", verbose=False) == ROOT / "data" / "synthetic"
    assert paths.resolve_data_dir("some/where", verbose=False) == ROOT / "some" / "where"


def test_data_dir_env_override_and_auto(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_DATA_DIR", str(tmp_path))
    assert paths.resolve_data_dir("synthetic", verbose=False) == tmp_path
    monkeypatch.delenv("FER_DATA_DIR")
    monkeypatch.setattr(paths, "AUTO_DATA_DIRS", (str(tmp_path / "none"), str(tmp_path)))
    with pytest.raises(ValueError, match="data_dir='auto' found no real data"):
        paths.resolve_data_dir("auto", verbose=False)
    (tmp_path / "ckplus").mkdir()
    assert paths.resolve_data_dir("auto", verbose=False) == tmp_path


def test_run_dirs_are_per_preset(tmp_path, monkeypatch):
    monkeypatch.setenv("FER_RUNS_DIR", str(tmp_path))
    assert paths.resolve_run_dir("smoke") == tmp_path / "smoke"
    assert paths.resolve_run_dir("full") == tmp_path / "full"
    with pytest.raises(ValueError, match="preset must be a plain name"):
        paths.resolve_run_dir("../x")


def test_display_paths_never_show_the_machine(tmp_path, monkeypatch):
    monkeypatch.delenv("FER_RUNS_DIR", raising=False)
    monkeypatch.delenv("FER_DATA_DIR", raising=False)
    assert paths.display_path(ROOT / "runs" / "real-cpu" / "artifacts") == "runs/real-cpu/artifacts"
    assert paths.display_path(ROOT.parent / "shared" / "data") == "../shared/data"
    assert paths.display_path(tmp_path / "x.mp4") == str(tmp_path / "x.mp4")  # elsewhere: as it is
    monkeypatch.setenv("FER_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("FER_DATA_DIR", str(tmp_path / "data"))
    assert paths.display_path(tmp_path / "runs" / "smoke" / "a.csv") == "$FER_RUNS_DIR/smoke/a.csv"
    assert paths.display_path(tmp_path / "data" / "fer2013") == "$FER_DATA_DIR/fer2013"
    text = f"outputs in {tmp_path / 'runs' / 'smoke'}\n  csv {tmp_path / 'data'}/x.csv and {ROOT}/README.md"
    assert paths.display_text(text) == "outputs in $FER_RUNS_DIR/smoke\n  csv $FER_DATA_DIR/x.csv and ./README.md"
    other = f"{tmp_path / 'runs'}2/a.csv {ROOT.parent}space/c"  # folders that only start like a root stay
    assert paths.display_text(other) == other


def test_cache_lives_outside_the_project(tmp_path, monkeypatch):
    from fer_lib.faces.datasets import alignment_cache_dir

    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "c"))
    assert alignment_cache_dir() == tmp_path / "c" / "alignment"
    monkeypatch.delenv("FER_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert paths.cache_root() == tmp_path / "xdg" / "fer-study"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert paths.project_root() not in paths.cache_root().parents


#: fer_lib's rooms (subpackages) in dependency order: a module may import from
#: its own room and the rooms before it, never from a later one (lazy imports
#: inside functions included), as the package docstring says.
ROOMS = ("core", "data", "evaluate", "faces", "models", "train", "experiments", "report", "video", "run")


def fer_lib_imports():
    """``(module, imported module)`` for every ``from fer_lib... import`` in the package, lazy ones included."""
    import ast

    pkg = ROOT / "fer_lib"
    for path in sorted(pkg.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                raise AssertionError(f"{module}: relative import; fer_lib uses absolute imports")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fer_lib"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    target = full if (ROOT / (full.replace(".", "/") + ".py")).is_file() else node.module
                    yield module, target


def test_every_module_lives_in_a_room():
    pkg = ROOT / "fer_lib"
    assert sorted(p.name for p in pkg.iterdir() if p.is_dir() and (p / "__init__.py").is_file()) == sorted(ROOMS)
    assert sorted(p.name for p in pkg.glob("*.py")) == ["__init__.py"], "fer_lib's modules belong in its rooms"


def test_rooms_import_only_earlier_rooms():
    def room(module):
        parts = module.split(".")
        return parts[1] if len(parts) > 2 else None  # None: fer_lib itself (its __version__)

    upward = sorted({(m, t) for m, t in fer_lib_imports()
                     if room(t) is not None and ROOMS.index(room(t)) > ROOMS.index(room(m))})
    assert not upward, f"imports from a later room: {upward}"


def test_no_import_cycles_between_modules():
    graph = {}
    for module, target in fer_lib_imports():
        if target != module:
            graph.setdefault(module, set()).add(target)

    def reaches(start, goal):
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt == goal:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    cycles = sorted({tuple(sorted((a, b))) for a in graph for b in graph[a] if reaches(b, a)})
    assert not cycles, f"modules that import each other (directly or through others): {cycles}"


def test_tests_mirror_the_rooms():
    # a room's tests live in tests/<room>/; only project-wide tests stay at the top
    folders = sorted(p.name for p in (ROOT / "tests").iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    assert folders == sorted(ROOMS)
    for room in ROOMS:
        assert list((ROOT / "tests" / room).glob("test_*.py")), f"tests/{room}/ holds no test file"
    assert sorted(p.name for p in (ROOT / "tests").glob("test_*.py")) == ["test_project.py", "test_real_data.py"]
    names = [p.name for p in (ROOT / "tests").rglob("test_*.py")]
    assert len(names) == len(set(names)), "test file names must be unique (pytest imports them by name)"
