"""Load FER-2013: the Kaggle CSV (``emotion,pixels,Usage``), the image-folder release,
or the packed form written by :func:`fer_lib.data.fer2013.pack_fer2013`.

Both loaders return a :class:`FER2013Data` holding uint8 images, integer labels
indexing :data:`fer_lib.data.constants.FER2013_CLASSES` and the split of each image.
Bad input raises :class:`DataError` naming the file and the problem; nothing is
dropped silently.

The packed form
---------------
Pack FER-2013 into parts of a chosen size, with hashes, and read it back.

The Kaggle CSV (78 MB as ``.csv.xz``) is one file, too big for a transfer that
allows, say, 64 MiB per call. :func:`pack_fer2013` writes the data set as a
folder of compressed numpy parts, each at most ``max_part_mib`` MiB, plus a
manifest with the size and sha256 of every part and of the unpacked arrays::

    <out_dir>/fer2013.packed/
        manifest.json
        part-000.npz   rows [0, k0)
        part-001.npz   rows [k0, k1)
        ...

Each part is a plain ``.npz`` (zip, deflate) holding

    ``images``      uint8, shape (k, 48, 48)
    ``labels``      int64, shape (k,), codes indexing ``class_names``
    ``split_codes`` int8, shape (k,), codes indexing ``split_names``
    ``row_ids``     int64, shape (k,), the row of each image in the loaded data
                    set (0-based; for the CSV, file line = row id + 2)

Parts hold consecutive rows in their original order, so the concatenation of
all parts is the data set exactly as :func:`~fer_lib.data.fer2013.load_fer2013`
returned it. Parts are written deterministically (fixed zip timestamps), so
packing the same data with the same limit gives byte-identical parts.

:func:`verify_packed` checks that every part is present with its size and
hash; :func:`read_fer2013_packed` (used by
:func:`~fer_lib.data.fer2013.load_fer2013` for a ``*.packed`` folder) also checks
the arrays against the manifest. Anything missing or corrupt raises
:class:`~fer_lib.core.errors.DataError` naming the part.

Command line::

    python -m fer_lib.data.fer2013 pack SOURCE OUT_DIR [--max-part-mib N] [--overwrite]
    python -m fer_lib.data.fer2013 verify FOLDER
"""

import argparse
import hashlib
import io
import json
import math
import os
import re
import shutil
import sys
import warnings
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from fer_lib.core.errors import DataError
from fer_lib.core.validation import check_option
from fer_lib.data.constants import (
    FER2013_CLASSES,
    FER2013_COLUMNS,
    FER2013_FOLDER_CLASSES,
    FER2013_FOLDER_SPLITS,
    FER2013_SIZE,
    FER2013_SPLITS,
)

#: File names tried, in order, inside a ``fer2013/`` data folder.
FER2013_CSV_NAMES = ("fer2013.csv", "fer2013.csv.gz", "fer2013.csv.xz")

#: Image suffixes read from the image-folder release.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

#: Folder name of the packed form (:mod:`fer_lib.data.fer2013`) inside a ``fer2013/`` data folder.
FER2013_PACKED_NAME = "fer2013.packed"

#: Formats that :func:`load_fer2013` can read (``"auto"`` also reads a ``*.packed`` folder).
FER2013_FORMATS = ("auto", "csv", "folders")


@dataclass(frozen=True)
class FER2013Data:
    """FER-2013 images with labels and splits.

    Attributes
    ----------
    images : ndarray of shape (n, 48, 48), uint8
        Grayscale faces.
    labels : ndarray of shape (n,), int64
        Class codes indexing :data:`~fer_lib.data.constants.FER2013_CLASSES`.
    usage : ndarray of shape (n,), object
        Split of each image (``Training``, ``PublicTest``, ``PrivateTest``; the
        image-folder release has ``Training`` and ``Test`` only).
    source : str
        The file or folder the data came from.
    class_names : tuple of str
        Names of the classes, indexed by label.
    """

    images: np.ndarray
    labels: np.ndarray
    usage: np.ndarray
    source: str
    class_names: tuple = FER2013_CLASSES
    notes: tuple = field(default_factory=tuple)

    def __len__(self):
        return len(self.labels)

    @property
    def splits(self):
        """Split names present, in canonical order."""
        present = set(self.usage.tolist())
        order = [s for s in (*FER2013_SPLITS, "Test") if s in present]
        return tuple(order)

    def split(self, name):
        """Return ``(images, labels)`` of one split.

        Parameters
        ----------
        name : str
            One of :attr:`splits`.

        Returns
        -------
        images : ndarray of shape (n_split, 48, 48), uint8
        labels : ndarray of shape (n_split,), int64
        """
        check_option("split", name, self.splits)
        mask = self.usage == name
        return self.images[mask], self.labels[mask]

    def counts(self):
        """Images per split and class, as a DataFrame (rows: classes, columns: splits)."""
        table = pd.crosstab(
            pd.Categorical([self.class_names[i] for i in self.labels], categories=self.class_names),
            pd.Categorical(self.usage, categories=self.splits),
            dropna=False,
        )
        table.index.name, table.columns.name = "class", "split"
        return table


def find_fer2013(data_dir):
    """Locate FER-2013 inside a data folder.

    Looks for ``<data_dir>/fer2013/fer2013.csv[.gz|.xz]``, then for the packed form
    ``<data_dir>/fer2013/fer2013.packed/`` (:mod:`fer_lib.data.fer2013`), then for the
    image-folder release ``<data_dir>/fer2013/train/<class>/*.jpg`` (with ``test/``).
    The CSV wins when it is present: it is the original, the packed form is
    derived from it. A packed folder that is found is checked at once (manifest
    readable, every part present with its size; hashes are checked when it is
    loaded): an incomplete copy raises rather than falling back to another layout.

    Parameters
    ----------
    data_dir : str or Path
        The data folder (e.g. ``data/``, ``../shared/data`` or the synthetic default).

    Returns
    -------
    Path
        The CSV file, the ``fer2013.packed`` folder, or the folder holding
        ``train/`` and ``test/``.

    Raises
    ------
    DataError
        If no layout is present (the message lists the paths tried), or the
        packed folder is incomplete (the message names the missing parts).
    """
    root = Path(data_dir) / "fer2013"
    tried = []
    for name in FER2013_CSV_NAMES:
        path = root / name
        tried.append(str(path))
        if path.is_file():
            return path
    packed = root / FER2013_PACKED_NAME
    tried.append(str(packed))
    if packed.is_dir():

        verify_packed(packed, check_hashes=False)
        return packed
    tried.append(str(root / "train"))
    if (root / "train").is_dir():
        return root
    raise DataError(
        "FER-2013 not found; tried: " + ", ".join(tried) + ". See data/README.md for where to put it."
    )


def load_fer2013(path, fmt="auto", cache=True):
    """Load FER-2013 from a CSV file, an image-folder release or a packed folder.

    Parameters
    ----------
    path : str or Path
        A ``fer2013.csv`` (``.gz``/``.xz`` compressed allowed), or a folder with
        ``train/<class>/`` and ``test/<class>/``, or a packed folder
        (``*.packed``, written by :func:`fer_lib.data.fer2013.pack_fer2013`), or a
        data folder containing ``fer2013/`` (resolved with :func:`find_fer2013`).
    fmt : {"auto", "csv", "folders"}, default="auto"
        Format; ``"auto"`` decides from the path (a folder named ``*.packed``
        is read with :func:`fer_lib.data.fer2013.read_fer2013_packed`, which checks
        every part's sha256 and the unpacked arrays against its manifest).
    cache : bool, default=True
        For a CSV: keep the parsed arrays in the packed form under
        ``<cache root>/fer2013/<sha256 of the file>/`` (outside the project,
        :func:`fer_lib.core.paths.cache_root`) and read them from there next time
        (about 1 s instead of 35 s for the 78 MB ``.csv.xz``); keyed by the
        file's bytes, so an edited file is parsed again. ``False`` neither
        reads nor writes the cache.

    Returns
    -------
    FER2013Data
        From a packed folder: the same images, labels, usage, class names and
        notes, in the same order, as the data that was packed.
    """
    check_option("fmt", fmt, FER2013_FORMATS)
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    if path.is_dir() and not path.name.endswith(".packed") and not (path / "train").is_dir():
        path = find_fer2013(path)  # a data folder: its CSV, packed folder or release folder
    packed = path.is_dir() and path.name.endswith(".packed")
    if fmt == "auto" and packed:

        return read_fer2013_packed(path)
    if fmt == "auto":
        fmt = "folders" if path.is_dir() else "csv"
    if fmt == "csv":
        if cache:

            return cached_csv(path, read_fer2013_csv)
        return read_fer2013_csv(path)
    return read_fer2013_folders(path)


def read_fer2013_csv(path):
    """Read the Kaggle CSV (``emotion,pixels,Usage``).

    Parameters
    ----------
    path : str or Path
        CSV file; pandas decompresses ``.gz`` and ``.xz`` by suffix.

    Returns
    -------
    FER2013Data

    Raises
    ------
    DataError
        Missing file, wrong columns, a row whose pixel count is not 2304 or holds
        values outside 0-255 or non-integers, an unknown emotion code or Usage.
        The message names the file and the first offending rows (1-based, as in
        a text editor, counting the header as line 1).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path, dtype={"pixels": str, "Usage": str})
    except Exception as exc:  # pandas raises many types for corrupt/compressed input
        raise DataError(f"{path}: cannot be read as CSV ({type(exc).__name__}: {exc})") from exc
    missing = [c for c in FER2013_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"{path}: wrong columns: expected {list(FER2013_COLUMNS)}, found {list(frame.columns)} "
            f"(missing {missing})"
        )
    if frame.empty:
        raise DataError(f"{path}: no rows")

    emotion = pd.to_numeric(frame["emotion"], errors="coerce")
    bad = ~emotion.isin(range(len(FER2013_CLASSES)))
    if bad.any():
        raise DataError(
            f"{path}: unknown emotion code in {int(bad.sum())} rows (allowed 0-{len(FER2013_CLASSES) - 1}); "
            f"first at line {_lines(bad)}: {frame.loc[bad, 'emotion'].iloc[0]}"
        )
    usage = frame["Usage"].astype(str).str.strip()
    bad = ~usage.isin(FER2013_SPLITS)
    if bad.any():
        raise DataError(
            f"{path}: unknown Usage in {int(bad.sum())} rows (allowed {list(FER2013_SPLITS)}); "
            f"first at line {_lines(bad)}: {usage[bad].iloc[0]!r}"
        )
    images = _parse_pixels(frame["pixels"], path)
    return FER2013Data(
        images=images,
        labels=emotion.to_numpy(dtype=np.int64),
        usage=usage.to_numpy(dtype=object),
        source=str(path),
    )


def _lines(mask):
    """1-based file lines (header = line 1) of the first True rows of ``mask``."""
    idx = np.flatnonzero(np.asarray(mask))[:5] + 2
    return ", ".join(str(i) for i in idx)


def _parse_pixels(pixels, path):
    """Parse the ``pixels`` column, vectorised (35,887 rows in a few seconds)."""
    n_pix = FER2013_SIZE * FER2013_SIZE
    text = pixels.fillna("").astype(str).str.strip().tolist()
    try:
        joined = "\n".join(text).encode("ascii")
    except UnicodeEncodeError as exc:
        raise DataError(f"{path}: non-ASCII characters in the pixels column ({exc})") from exc
    buf = np.frombuffer(joined, dtype=np.uint8)
    # Values per row = spaces per row + 1 (0 for an empty row), from one cumulative sum.
    breaks = np.flatnonzero(buf == ord("\n"))
    spaces = np.concatenate([[0], np.cumsum(buf == ord(" "))])
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(buf)]])
    counts = spaces[ends] - spaces[starts] + 1
    counts[ends == starts] = 0
    bad = counts != n_pix
    if bad.any():
        raise DataError(
            f"{path}: wrong pixel count in {int(bad.sum())} rows (expected {n_pix} space-separated "
            f"values = 48x48); first at line {_lines(bad)} with {int(counts[bad][0])} values"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # numpy warns on unparsable text
        try:
            flat = np.fromstring(joined.replace(b"\n", b" "), dtype=np.int64, sep=" ")
        except (ValueError, DeprecationWarning) as exc:
            raise DataError(f"{path}: non-integer pixel values ({exc})") from exc
    if flat.size != n_pix * len(text):
        raise DataError(
            f"{path}: non-integer pixel values (parsed {flat.size} integers, expected {n_pix * len(text)})"
        )
    values = flat.reshape(len(text), n_pix)
    bad = (values < 0).any(axis=1) | (values > 255).any(axis=1)
    if bad.any():
        raise DataError(
            f"{path}: pixel values outside 0-255 in {int(bad.sum())} rows; first at line {_lines(bad)}"
        )
    return values.astype(np.uint8).reshape(-1, FER2013_SIZE, FER2013_SIZE)


def read_fer2013_folders(root):
    """Read the image-folder release (``train/<class>/*.jpg``, ``test/<class>/*.jpg``).

    Parameters
    ----------
    root : str or Path
        Folder holding ``train/`` and, usually, ``test/``.

    Returns
    -------
    FER2013Data
        ``usage`` is ``Training`` for ``train/`` and ``Test`` for ``test/``: that
        release merges PublicTest and PrivateTest, so the canonical protocol
        (select on PublicTest, report on PrivateTest) cannot be followed with
        it; :attr:`FER2013Data.notes` says so.

    Raises
    ------
    DataError
        Unknown class folder, an empty folder, an unreadable image, or an image
        that is not 48x48 grayscale.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(root)
    images, labels, usage = [], [], []
    for split_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if split_dir.name not in FER2013_FOLDER_SPLITS:
            raise DataError(
                f"{split_dir}: unknown split folder; allowed {list(FER2013_FOLDER_SPLITS)}"
            )
        class_dirs = sorted(p for p in split_dir.iterdir() if p.is_dir())
        if not class_dirs:
            raise DataError(f"{split_dir}: empty folder (expected one folder per class)")
        for class_dir in class_dirs:
            if class_dir.name not in FER2013_FOLDER_CLASSES:
                raise DataError(
                    f"{class_dir}: unknown label folder {class_dir.name!r}; "
                    f"allowed {list(FER2013_FOLDER_CLASSES)}"
                )
            files = sorted(p for p in class_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise DataError(f"{class_dir}: empty folder (no {'/'.join(IMAGE_SUFFIXES)} images)")
            for file in files:
                try:
                    with Image.open(file) as im:
                        arr = np.asarray(im.convert("L"))
                except (OSError, UnidentifiedImageError) as exc:
                    raise DataError(f"{file}: unreadable image ({exc})") from exc
                if arr.shape != (FER2013_SIZE, FER2013_SIZE):
                    raise DataError(f"{file}: image is {arr.shape[1]}x{arr.shape[0]}, expected 48x48")
                images.append(arr)
                labels.append(FER2013_FOLDER_CLASSES[class_dir.name])
                usage.append(FER2013_FOLDER_SPLITS[split_dir.name])
    if not images:
        raise DataError(f"{root}: no images found")
    return FER2013Data(
        images=np.stack(images),
        labels=np.array(labels, dtype=np.int64),
        usage=np.array(usage, dtype=object),
        source=str(root),
        notes=(
            "image-folder release: PublicTest and PrivateTest are merged into 'Test'; "
            "the canonical select-on-PublicTest / report-on-PrivateTest protocol needs the CSV",
        ),
    )


def fer2013_split_arrays(fer):
    """``{split: (images, labels, sample_ids)}`` of the canonical FER-2013 splits.

    ``sample_ids`` are the 0-based rows of the images in the loaded data (the
    ids :mod:`fer_lib.evaluate.predictions` uses for FER-2013).

    Raises
    ------
    DataError
        If Training, PublicTest or PrivateTest is missing (the image-folder
        release merges the two test splits into ``Test``, so it cannot follow
        the select-on-PublicTest, report-on-PrivateTest protocol).
    """
    missing = [s for s in ("Training", "PublicTest", "PrivateTest") if s not in fer.splits]
    if missing:
        raise DataError(
            f"{fer.source}: FER-2013 splits {missing} are missing (present: {list(fer.splits)}); the spatial "
            "baseline needs Training / PublicTest / PrivateTest, i.e. the Kaggle CSV (see data/README.md)"
        )
    rows = np.arange(len(fer))
    return {s: (fer.images[fer.usage == s], fer.labels[fer.usage == s], rows[fer.usage == s].astype(str))
            for s in ("Training", "PublicTest", "PrivateTest")}


#: Name of the manifest inside a packed folder.
MANIFEST_NAME = "manifest.json"

#: ``format`` field of the manifest.
PACK_FORMAT = "fer_lib.packed"

#: ``format_version`` written by :func:`pack_fer2013`; the only one read.
PACK_FORMAT_VERSION = 1

#: Default part size limit in MiB (two parts and a small working tree fit a 64 MiB transfer).
DEFAULT_MAX_PART_MIB = 30

#: Split names in code order: ``split_codes`` index this tuple. ``Test`` is the
#: merged test split of the image-folder release.
PACKED_SPLITS = (*FER2013_SPLITS, "Test")

#: Arrays stored in every part, with their dtype (little-endian where it matters).
PART_ARRAYS = {"images": "|u1", "labels": "<i8", "split_codes": "|i1", "row_ids": "<i8"}

_MIB = 2**20
_PART_NAME = re.compile(r"^part-\d{3,}\.npz$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
#: Zip entry timestamp (the earliest zip allows), so that parts are reproducible.
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
#: Rows compressed to estimate the packed size of one row.
_SAMPLE_ROWS = 1024


def pack_fer2013(source, out_dir, max_part_mib=DEFAULT_MAX_PART_MIB, overwrite=False):
    """Write FER-2013 as ``<out_dir>/fer2013.packed/``: a manifest and parts of at most ``max_part_mib`` MiB.

    Parameters
    ----------
    source : str, Path or FER2013Data
        Anything :func:`~fer_lib.data.fer2013.load_fer2013` reads (the CSV, a data
        folder holding ``fer2013/``, the image-folder release, another packed
        folder), or data already loaded.
    out_dir : str or Path
        Folder to write ``fer2013.packed/`` into (created if missing).
    max_part_mib : float, default=30
        Largest size of one part file, in MiB (2**20 bytes); > 0. Rows per part
        are chosen from the measured compressed size of a sample, and a part
        that comes out too big is split further before it is written.
    overwrite : bool, default=False
        Replace an existing ``fer2013.packed/`` (only one holding a manifest).

    Returns
    -------
    Path
        The packed folder. It is written under a temporary name, verified
        (hashes, and every array read back equal to the source) and only then
        renamed, so an interrupted run leaves no half-written folder.

    Raises
    ------
    ValueError
        ``max_part_mib`` is not a number > 0, or is smaller than one packed row.
    DataError
        The source cannot be loaded, ``out_dir`` is a file, or the packed
        folder exists and ``overwrite`` is false.
    """
    limit = _part_limit_bytes(max_part_mib)
    if isinstance(source, FER2013Data):
        data = source
    else:
        data = load_fer2013(source)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir}: out_dir must be a folder; it is a file")
    final = out_dir / FER2013_PACKED_NAME
    if final.exists() and not overwrite:
        raise DataError(f"{final}: already exists; remove it or pass overwrite=True (--overwrite)")
    if final.exists() and not (final / MANIFEST_NAME).is_file():
        raise DataError(f"{final}: exists but holds no {MANIFEST_NAME}; not replacing a folder this module did not write")

    arrays = _arrays_of(data)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / f".{FER2013_PACKED_NAME}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        parts = _write_parts(arrays, tmp, limit, max_part_mib)
        manifest = _manifest(data, arrays, parts, limit)
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1) + "\n")
        # Verify what is on disk, not what was meant to be written.
        for part in parts:
            size = (tmp / part["file"]).stat().st_size
            if size > limit:  # cannot happen unless the file system changed it; never ship it
                raise DataError(f"{tmp / part['file']}: {size} bytes written, above the limit of {limit}")
        back = read_fer2013_packed(tmp)
        for name, a, b in (("images", data.images, back.images), ("labels", data.labels, back.labels),
                           ("usage", data.usage, back.usage)):
            if a.shape != b.shape or not np.array_equal(a, b):
                raise DataError(f"{tmp}: {name} read back differ from the source; nothing was written")
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return final


def verify_packed(folder, check_hashes=True):
    """Check a packed folder: manifest readable, every part present with its size and sha256.

    Parameters
    ----------
    folder : str or Path
        A folder written by :func:`pack_fer2013` (``.../fer2013.packed``).
    check_hashes : bool, default=True
        Also hash every part (reads all of them); ``False`` checks presence and
        sizes only, which is instant.

    Returns
    -------
    dict
        The manifest.

    Raises
    ------
    DataError
        The folder or its manifest is missing or malformed, a part is missing
        (all missing parts are named), or a part has the wrong size or hash.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder (expected a packed data set)")
    manifest = _read_manifest(folder)
    parts = manifest["parts"]
    missing = [p["file"] for p in parts if not (folder / p["file"]).is_file()]
    if missing:
        raise DataError(
            f"{folder}: incomplete: missing {len(missing)} of {len(parts)} parts: {', '.join(missing)} "
            f"(copy every part listed in {MANIFEST_NAME})"
        )
    for p in parts:
        path = folder / p["file"]
        size = path.stat().st_size
        if size != p["bytes"]:
            raise DataError(
                f"{path}: corrupt or incompletely copied part: {size} bytes, {MANIFEST_NAME} says {p['bytes']}"
            )
        if check_hashes:
            digest = _file_sha256(path)
            if digest != p["sha256"]:
                raise DataError(
                    f"{path}: corrupt part: sha256 {digest[:16]}..., {MANIFEST_NAME} says {p['sha256'][:16]}..."
                )
    return manifest


def read_fer2013_packed(folder):
    """Read a packed FER-2013 folder, verifying every part and array hash.

    Parameters
    ----------
    folder : str or Path
        A folder written by :func:`pack_fer2013`.

    Returns
    -------
    FER2013Data
        The same images (n, 48, 48) uint8, labels (n,) int64, usage (n,) object,
        class names and notes as the data that was packed, in the same row
        order; ``source`` is ``folder``.

    Raises
    ------
    DataError
        Anything :func:`verify_packed` raises, a part whose arrays do not match
        the manifest (names, dtypes, shapes, row ids), or unpacked arrays whose
        sha256 or split counts differ from the manifest.
    """
    folder = Path(folder)
    manifest = verify_packed(folder, check_hashes=True)
    pieces = {name: [] for name in PART_ARRAYS}
    for p in manifest["parts"]:
        path = folder / p["file"]
        start, stop = p["rows"]
        try:
            with np.load(path, allow_pickle=False) as npz:
                got = {name: npz[name] for name in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile, KeyError) as exc:
            raise DataError(f"{path}: unreadable part ({type(exc).__name__}: {exc})") from exc
        if sorted(got) != sorted(PART_ARRAYS):
            raise DataError(f"{path}: holds arrays {sorted(got)}, expected {sorted(PART_ARRAYS)}")
        k = stop - start
        for name, dtype in PART_ARRAYS.items():
            shape = (k, FER2013_SIZE, FER2013_SIZE) if name == "images" else (k,)
            a = got[name]
            if a.dtype != np.dtype(dtype) or a.shape != shape:
                raise DataError(
                    f"{path}: array {name} is {a.dtype} {a.shape}, expected {np.dtype(dtype)} {shape}"
                )
        if not np.array_equal(got["row_ids"], np.arange(start, stop)):
            raise DataError(f"{path}: row ids are not {start}..{stop - 1} as {MANIFEST_NAME} says")
        for name in PART_ARRAYS:
            pieces[name].append(got[name])
    arrays = {name: np.concatenate(pieces[name]) for name in PART_ARRAYS}
    for name, spec in manifest["arrays"].items():
        digest = _array_sha256(arrays[name])
        if digest != spec["sha256"]:
            raise DataError(
                f"{folder}: unpacked {name} do not match {MANIFEST_NAME} "
                f"(sha256 {digest[:16]}..., expected {spec['sha256'][:16]}...)"
            )
    split_names = manifest["split_names"]
    codes = arrays["split_codes"]
    if codes.size and (codes.min() < 0 or codes.max() >= len(split_names)):
        raise DataError(f"{folder}: split codes outside 0-{len(split_names) - 1}")
    labels = arrays["labels"]
    if labels.size and (labels.min() < 0 or labels.max() >= len(manifest["class_names"])):
        raise DataError(f"{folder}: labels outside 0-{len(manifest['class_names']) - 1}")
    usage = np.array(split_names, dtype=object)[codes.astype(np.intp)]
    counts = {s: int((usage == s).sum()) for s in split_names if (usage == s).any()}
    if counts != manifest["split_counts"]:
        raise DataError(f"{folder}: split counts {counts} differ from {MANIFEST_NAME}: {manifest['split_counts']}")
    return FER2013Data(
        images=arrays["images"],
        labels=labels,
        usage=usage,
        source=str(folder),
        class_names=tuple(manifest["class_names"]),
        notes=tuple(manifest["notes"]),
    )


# --------------------------------------------------------------------------- internals


def cached_csv(path, read_csv):
    """Read a FER-2013 CSV through the cache of parsed arrays (see :func:`~fer_lib.data.fer2013.load_fer2013`).

    Parameters
    ----------
    path : Path
        The CSV (``.gz``/``.xz`` allowed).
    read_csv : callable
        ``read_csv(path) -> FER2013Data``, the parser used on a miss.

    Returns
    -------
    FER2013Data
        ``source`` is ``path`` either way. A cache entry that fails its
        verification is reported with a warning, parsed again and replaced.
    """
    from fer_lib.core.paths import cache_root

    entry = cache_root() / "fer2013" / _file_sha256(path)[:24]
    folder = entry / FER2013_PACKED_NAME
    if folder.is_dir():
        try:
            return replace(read_fer2013_packed(folder), source=str(path))
        except DataError as exc:
            warnings.warn(f"FER-2013 cache {folder} is damaged ({exc}); parsing {path} again", stacklevel=3)
            shutil.rmtree(folder)
    data = read_csv(path)
    # one part: the cache never travels, so there is no size limit to respect
    pack_fer2013(data, entry, max_part_mib=4096)
    return data


def _part_limit_bytes(max_part_mib):
    """``max_part_mib`` checked and converted to bytes."""
    if isinstance(max_part_mib, bool) or not isinstance(max_part_mib, (int, float, np.integer, np.floating)):
        raise ValueError(f"max_part_mib must be a number > 0 (MiB); got {max_part_mib!r}")
    if not math.isfinite(float(max_part_mib)) or max_part_mib <= 0:
        raise ValueError(f"max_part_mib must be a number > 0 (MiB); got {max_part_mib!r}")
    return int(float(max_part_mib) * _MIB)


def _arrays_of(data):
    """The part arrays of the whole data set, checked and in their stored dtypes."""
    images = np.ascontiguousarray(data.images)
    n = len(images)
    if images.dtype != np.uint8 or images.shape != (n, FER2013_SIZE, FER2013_SIZE):
        raise DataError(f"{data.source}: images are {images.dtype} {images.shape}, expected uint8 (n, 48, 48)")
    if n == 0:
        raise DataError(f"{data.source}: no rows to pack")
    unknown = sorted(set(data.usage.tolist()) - set(PACKED_SPLITS))
    if unknown:
        raise DataError(f"{data.source}: unknown splits {unknown}; packable splits are {list(PACKED_SPLITS)}")
    codes = np.zeros(n, dtype=np.int8)
    for code, name in enumerate(PACKED_SPLITS):
        codes[data.usage == name] = code
    return {
        "images": images,
        "labels": np.asarray(data.labels).astype("<i8"),
        "split_codes": codes,
        "row_ids": np.arange(n, dtype="<i8"),
    }


def _npz_bytes(arrays, start, stop):
    """Rows ``[start, stop)`` of ``arrays`` as the bytes of a deterministic compressed ``.npz``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for name in PART_ARRAYS:
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(arrays[name][start:stop]), allow_pickle=False)
    return buf.getvalue()


def _write_parts(arrays, folder, limit, max_part_mib):
    """Write ``part-NNN.npz`` files of at most ``limit`` bytes into ``folder``; return their manifest entries."""
    n = len(arrays["row_ids"])
    k = min(n, _SAMPLE_ROWS)
    per_row = len(_npz_bytes(arrays, 0, k)) / k
    rows = max(1, int(limit * 0.98 / per_row))
    parts, start = [], 0
    while start < n:
        k = min(rows, n - start)
        blob = _npz_bytes(arrays, start, start + k)
        while len(blob) > limit:  # this stretch compresses worse than the sample: split finer
            if k == 1:
                need = math.ceil(len(blob) / _MIB * 1000) / 1000
                raise ValueError(
                    f"max_part_mib must be large enough for one row (at least {need} MiB here); "
                    f"got {max_part_mib!r}"
                )
            k = max(1, min(k - 1, int(k * limit / len(blob) * 0.98)))
            blob = _npz_bytes(arrays, start, start + k)
        rows = min(rows, k)  # keep the smaller count for the rest
        name = f"part-{len(parts):03d}.npz"
        (folder / name).write_bytes(blob)
        parts.append({"file": name, "rows": [start, start + k], "bytes": len(blob),
                      "sha256": hashlib.sha256(blob).hexdigest()})
        start += k
    return parts


def _manifest(data, arrays, parts, limit):
    """The manifest of a packed data set (a JSON-ready dict)."""
    present = [s for s in PACKED_SPLITS if (data.usage == s).any()]
    source = Path(data.source)
    source_info = {"name": source.name}
    if source.is_file():
        source_info.update(bytes=source.stat().st_size, sha256=_file_sha256(source))
    return {
        "format": PACK_FORMAT,
        "format_version": PACK_FORMAT_VERSION,
        "dataset": "fer2013",
        "n_rows": int(len(arrays["row_ids"])),
        "image_shape": [FER2013_SIZE, FER2013_SIZE],
        "class_names": list(data.class_names),
        "split_names": list(PACKED_SPLITS),
        "split_counts": {s: int((data.usage == s).sum()) for s in present},
        "notes": list(data.notes),
        "source": source_info,
        "max_part_bytes": limit,
        "hash": "sha256 of the C-order bytes of each array, in the dtype given",
        "arrays": {
            name: {"dtype": PART_ARRAYS[name], "shape": list(arrays[name].shape),
                   "sha256": _array_sha256(arrays[name])}
            for name in PART_ARRAYS
        },
        "parts": parts,
    }


def _read_manifest(folder):
    """Parse and check the manifest of ``folder``; raise DataError on anything unexpected."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise DataError(f"{folder}: missing {MANIFEST_NAME} (not a packed data set, or an incomplete copy)")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from exc
    if not isinstance(manifest, dict):
        raise DataError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    if manifest.get("format") != PACK_FORMAT:
        raise DataError(f"{path}: format must be {PACK_FORMAT!r}; got {manifest.get('format')!r}")
    if manifest.get("format_version") != PACK_FORMAT_VERSION:
        raise DataError(
            f"{path}: format_version must be {PACK_FORMAT_VERSION} (the only one this fer_lib reads); "
            f"got {manifest.get('format_version')!r}"
        )
    if manifest.get("dataset") != "fer2013":
        raise DataError(f"{path}: dataset must be 'fer2013'; got {manifest.get('dataset')!r}")
    keys = ("n_rows", "class_names", "split_names", "split_counts", "notes", "arrays", "parts")
    absent = [k for k in keys if k not in manifest]
    if absent:
        raise DataError(f"{path}: missing fields {absent}")
    n = manifest["n_rows"]
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise DataError(f"{path}: n_rows must be an integer >= 1; got {n!r}")
    if tuple(manifest["class_names"]) != FER2013_CLASSES:
        raise DataError(f"{path}: class_names must be {list(FER2013_CLASSES)}; got {manifest['class_names']!r}")
    if tuple(manifest["split_names"]) != PACKED_SPLITS:
        raise DataError(f"{path}: split_names must be {list(PACKED_SPLITS)}; got {manifest['split_names']!r}")
    arrays = manifest["arrays"]
    if not isinstance(arrays, dict) or sorted(arrays) != sorted(PART_ARRAYS) or not all(
        isinstance(a, dict) and _SHA256.match(str(a.get("sha256", ""))) for a in arrays.values()
    ):
        raise DataError(f"{path}: arrays must give a sha256 for each of {sorted(PART_ARRAYS)}")
    parts = manifest["parts"]
    if not isinstance(parts, list) or not parts:
        raise DataError(f"{path}: parts must be a non-empty list")
    expected_start = 0
    for i, p in enumerate(parts):
        ok = (
            isinstance(p, dict)
            and _PART_NAME.match(str(p.get("file", "")))
            and isinstance(p.get("bytes"), int)
            and _SHA256.match(str(p.get("sha256", "")))
            and isinstance(p.get("rows"), list)
            and len(p["rows"]) == 2
            and all(isinstance(r, int) for r in p["rows"])
        )
        if not ok:
            raise DataError(f"{path}: parts[{i}] must have file 'part-NNN.npz', bytes, sha256 and rows [start, stop]; "
                            f"got {p!r}")
        start, stop = p["rows"]
        if start != expected_start or stop <= start:
            raise DataError(f"{path}: parts[{i}] ({p['file']}) covers rows {p['rows']}, expected to start at "
                            f"{expected_start}; parts must cover rows 0..n_rows-1 in order")
        expected_start = stop
    if expected_start != n:
        raise DataError(f"{path}: parts cover {expected_start} rows, n_rows says {n}")
    return manifest


def _file_sha256(path):
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_MIB), b""):
            h.update(block)
    return h.hexdigest()


def _array_sha256(a):
    """Hex sha256 of the C-order bytes of ``a``."""
    return hashlib.sha256(np.ascontiguousarray(a).data).hexdigest()


# --------------------------------------------------------------------------- command line


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (and exit code 2)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _parser():
    parser = _Parser(prog="python -m fer_lib.data.fer2013",
                     description="Pack FER-2013 into parts of bounded size, or verify a packed folder.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{pack,verify}", parser_class=_Parser)
    pack = sub.add_parser("pack", help="pack FER-2013 into OUT_DIR/fer2013.packed/")
    pack.add_argument("source", metavar="SOURCE",
                      help="fer2013.csv[.gz|.xz], a data folder holding fer2013/, or a packed folder")
    pack.add_argument("out_dir", metavar="OUT_DIR", help="folder to write fer2013.packed/ into")
    pack.add_argument("--max-part-mib", type=float, default=DEFAULT_MAX_PART_MIB, metavar="N",
                      help=f"largest part size in MiB (default {DEFAULT_MAX_PART_MIB})")
    pack.add_argument("--overwrite", action="store_true", help="replace an existing fer2013.packed/")
    verify = sub.add_parser("verify", help="check a packed folder's parts (presence, sizes, sha256)")
    verify.add_argument("folder", metavar="FOLDER", help="a *.packed folder")
    return parser


def main(argv=None):
    """Run the command line; return the exit code (0 ok, 2 bad input)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "pack":
            folder = pack_fer2013(args.source, args.out_dir, max_part_mib=args.max_part_mib,
                                  overwrite=args.overwrite)
            manifest = verify_packed(folder, check_hashes=False)
            print(f"packed {manifest['n_rows']} rows ({manifest['split_counts']}) into {folder}")
        else:
            folder = Path(args.folder)
            manifest = verify_packed(folder)
            print(f"ok: {folder}: {manifest['n_rows']} rows, every part present with its sha256")
    except (DataError, ValueError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    total = 0
    for p in manifest["parts"]:
        total += p["bytes"]
        print(f"  {p['file']}  rows {p['rows'][0]}-{p['rows'][1] - 1}  {p['bytes'] / _MIB:.2f} MiB")
    print(f"  {MANIFEST_NAME}  {(folder / MANIFEST_NAME).stat().st_size / 1024:.1f} KiB")
    print(f"{len(manifest['parts'])} parts, {total / _MIB:.2f} MiB in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
