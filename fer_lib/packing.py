"""Pack FER-2013 into parts of a chosen size, with hashes, and read it back.

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
all parts is the data set exactly as :func:`~fer_lib.fer2013.load_fer2013`
returned it. Parts are written deterministically (fixed zip timestamps), so
packing the same data with the same limit gives byte-identical parts.

:func:`verify_packed` checks that every part is present with its size and
hash; :func:`read_fer2013_packed` (used by
:func:`~fer_lib.fer2013.load_fer2013` for a ``*.packed`` folder) also checks
the arrays against the manifest. Anything missing or corrupt raises
:class:`~fer_lib.errors.DataError` naming the part.

Command line::

    python -m fer_lib.packing fer2013 SOURCE OUT_DIR [--max-part-mib N] [--overwrite]
    python -m fer_lib.packing verify FOLDER
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
from dataclasses import replace
from pathlib import Path

import numpy as np

from .constants import FER2013_CLASSES, FER2013_SIZE, FER2013_SPLITS
from .errors import DataError
from .fer2013 import FER2013_PACKED_NAME, FER2013Data, load_fer2013

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
        Anything :func:`~fer_lib.fer2013.load_fer2013` reads (the CSV, a data
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
    """Read a FER-2013 CSV through the cache of parsed arrays (see :func:`~fer_lib.fer2013.load_fer2013`).

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
    from .paths import cache_root

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
    parser = _Parser(prog="python -m fer_lib.packing",
                     description="Pack a data set into parts of bounded size, or verify a packed folder.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{fer2013,verify}", parser_class=_Parser)
    pack = sub.add_parser("fer2013", help="pack FER-2013 into OUT_DIR/fer2013.packed/")
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
        if args.command == "fer2013":
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
