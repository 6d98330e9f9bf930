"""Load FER-2013: the Kaggle CSV (``emotion,pixels,Usage``), the image-folder release,
or the packed form written by :func:`fer_lib.packing.pack_fer2013`.

Both loaders return a :class:`FER2013Data` holding uint8 images, integer labels
indexing :data:`fer_lib.constants.FER2013_CLASSES` and the split of each image.
Bad input raises :class:`DataError` naming the file and the problem; nothing is
dropped silently.
"""

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .constants import (
    FER2013_CLASSES,
    FER2013_COLUMNS,
    FER2013_FOLDER_CLASSES,
    FER2013_FOLDER_SPLITS,
    FER2013_SIZE,
    FER2013_SPLITS,
)
from .errors import DataError
from .validation import check_option

#: File names tried, in order, inside a ``fer2013/`` data folder.
FER2013_CSV_NAMES = ("fer2013.csv", "fer2013.csv.gz", "fer2013.csv.xz")

#: Image suffixes read from the image-folder release.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

#: Folder name of the packed form (:mod:`fer_lib.packing`) inside a ``fer2013/`` data folder.
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
        Class codes indexing :data:`~fer_lib.constants.FER2013_CLASSES`.
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
    ``<data_dir>/fer2013/fer2013.packed/`` (:mod:`fer_lib.packing`), then for the
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
        from .packing import verify_packed  # packing imports this module

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
        (``*.packed``, written by :func:`fer_lib.packing.pack_fer2013`), or a
        data folder containing ``fer2013/`` (resolved with :func:`find_fer2013`).
    fmt : {"auto", "csv", "folders"}, default="auto"
        Format; ``"auto"`` decides from the path (a folder named ``*.packed``
        is read with :func:`fer_lib.packing.read_fer2013_packed`, which checks
        every part's sha256 and the unpacked arrays against its manifest).
    cache : bool, default=True
        For a CSV: keep the parsed arrays in the packed form under
        ``<cache root>/fer2013/<sha256 of the file>/`` (outside the project,
        :func:`fer_lib.paths.cache_root`) and read them from there next time
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
        from .packing import read_fer2013_packed  # packing imports this module

        return read_fer2013_packed(path)
    if fmt == "auto":
        fmt = "folders" if path.is_dir() else "csv"
    if fmt == "csv":
        if cache:
            from .packing import cached_csv  # packing imports this module

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
