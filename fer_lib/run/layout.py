"""Where the study's pieces are: the notebooks folder, the table of contents, the generated pages."""

from pathlib import Path

import yaml

from fer_lib.core import paths

#: Book pages written by the pipeline from the run folder (not kept in ``book/``).
GENERATED_PAGES = ("reproducibility", "results")


#: Tag of the cells whose outputs nbval compares with the stored baseline.
CHECKED_TAG = "nbval-check-output"


#: Folder (relative to the project root) holding the notebooks' jupytext sources.
NOTEBOOKS_DIR = "notebooks"


def toc_entries():
    """Files listed in ``book/_toc.yml`` in reading order (``root`` first)."""
    toc = yaml.safe_load((paths.project_root() / "book" / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(items):
        for item in items or []:
            if "file" in item:
                files.append(item["file"])
            walk(item.get("sections"))
            for part in item.get("parts", []) if isinstance(item, dict) else []:
                walk(part.get("chapters"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return files


def notebook_ids():
    """Ids (``NN_slug``) of the study's notebooks, in the order of the table of contents."""
    prefix = NOTEBOOKS_DIR + "/"
    return tuple(Path(f).name for f in toc_entries() if f.startswith(prefix))


#: The pre-registered protocol of the spatial-vs-temporal comparison (relative to the project root).
PROTOCOL_FILE = "book/protocol.md"


def protocol_record():
    """The protocol a run follows: its path, version line and SHA-256 (for the run log).

    Returns
    -------
    dict
        ``file``, ``sha256`` (of the file's bytes) and ``version`` (its first
        line starting with "Version").

    Raises
    ------
    FileNotFoundError
        When the protocol file is missing.
    """
    import hashlib

    path = paths.project_root() / PROTOCOL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"the pre-registered protocol {PROTOCOL_FILE} is missing from the project")
    text = path.read_bytes()
    version = next((line.strip() for line in text.decode().splitlines() if line.startswith("Version")), "")
    return {"file": PROTOCOL_FILE, "sha256": hashlib.sha256(text).hexdigest(), "version": version}
