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
