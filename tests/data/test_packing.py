"""The packed form of FER-2013: parts under a size limit, hashes, and the loader reading it."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from test_fer2013 import (  # the FER CSV and PNG writers of the loader tests
    _write_png,
    write_csv,
)

from fer_lib.core.errors import DataError
from fer_lib.data.fer2013 import (
    MANIFEST_NAME,
    _npz_bytes,
    find_fer2013,
    load_fer2013,
    main,
    pack_fer2013,
    read_fer2013_csv,
    read_fer2013_packed,
    verify_packed,
)

#: About 8 random 48x48 rows per part, so 40 rows make several parts.
TINY_MIB = 0.02


@pytest.fixture
def data_dir(tmp_path):
    """A data folder with ``fer2013/fer2013.csv.gz``: 40 rows of random pixels, all three splits."""
    rng = np.random.default_rng(1)
    usage = ["Training"] * 28 + ["PublicTest"] * 6 + ["PrivateTest"] * 6
    rows = [(k % 7, " ".join(map(str, rng.integers(0, 256, 2304))), u) for k, u in enumerate(usage)]
    (tmp_path / "data" / "fer2013").mkdir(parents=True)
    write_csv(tmp_path / "data" / "fer2013" / "fer2013.csv.gz", rows, compression="gzip")
    return tmp_path / "data"


@pytest.fixture
def packed(data_dir, tmp_path):
    """The data set of ``data_dir`` packed into ``tmp_path/out/fer2013.packed`` with tiny parts."""
    return pack_fer2013(data_dir, tmp_path / "out", max_part_mib=TINY_MIB)


def assert_same(a, b):
    assert a.images.dtype == b.images.dtype == np.uint8 and a.labels.dtype == b.labels.dtype == np.int64
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.usage.dtype == b.usage.dtype == object and a.usage.tolist() == b.usage.tolist()
    assert a.splits == b.splits and a.class_names == b.class_names and a.notes == b.notes
    assert a.counts().equals(b.counts())


def manifest_of(folder):
    return json.loads((folder / MANIFEST_NAME).read_text())


def write_manifest(folder, manifest):
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))


def test_pack_gives_several_parts_under_the_limit_and_loads_back_exactly(data_dir, packed):
    csv = load_fer2013(data_dir)
    manifest = manifest_of(packed)
    assert packed.name == "fer2013.packed" and manifest["n_rows"] == 40
    assert manifest["split_counts"] == {"Training": 28, "PublicTest": 6, "PrivateTest": 6}
    parts = manifest["parts"]
    # random pixels do not compress: 9 rows are 9 * 2304 image bytes plus 9 * 17 bytes of the other arrays, which
    # leaves under 100 of the 20971-byte limit for 4 npy headers (128 bytes each) and the zip records; 8 rows fit
    assert int(TINY_MIB * 2**20) - 9 * (2304 + 8 + 1 + 8) < 4 * 128
    assert [p["rows"] for p in parts] == [[8 * i, 8 * i + 8] for i in range(5)]
    assert [p["file"] for p in parts] == [f"part-{i:03d}.npz" for i in range(len(parts))]
    for p in parts:
        size = (packed / p["file"]).stat().st_size
        assert size == p["bytes"] <= TINY_MIB * 2**20
    row_ids = np.concatenate([np.load(packed / p["file"])["row_ids"] for p in parts])
    np.testing.assert_array_equal(row_ids, np.arange(40))
    back = load_fer2013(packed)
    assert back.source == str(packed)
    assert_same(back, csv)
    assert sorted(q.name for q in packed.parent.iterdir()) == ["fer2013.packed"]  # no temporary left


def test_packing_is_deterministic_and_refuses_to_overwrite(data_dir, packed):
    before = manifest_of(packed)["parts"]
    with pytest.raises(DataError, match="fer2013.packed: already exists; remove it or pass overwrite=True"):
        pack_fer2013(data_dir, packed.parent, max_part_mib=TINY_MIB)
    time.sleep(1.1)  # zip timestamps would differ if they were taken from the clock
    pack_fer2013(data_dir, packed.parent, max_part_mib=TINY_MIB, overwrite=True)
    assert manifest_of(packed)["parts"] == before


def test_repacking_a_packed_folder_and_loaded_data(data_dir, packed, tmp_path):
    again = pack_fer2013(packed, tmp_path / "again", max_part_mib=1)
    assert len(manifest_of(again)["parts"]) == 1
    assert_same(load_fer2013(again), load_fer2013(data_dir))
    loaded = pack_fer2013(load_fer2013(data_dir), tmp_path / "loaded", max_part_mib=1)
    assert manifest_of(loaded)["arrays"] == manifest_of(again)["arrays"]


def test_image_folder_release_keeps_its_test_split_and_notes(tmp_path):
    from fer_lib.data.constants import FER2013_CLASSES

    for split in ("train", "test"):
        for k, name in enumerate(FER2013_CLASSES):
            _write_png(tmp_path / "rel" / split / name / "a.png", value=k * 10)
    folders = load_fer2013(tmp_path / "rel")
    back = load_fer2013(pack_fer2013(tmp_path / "rel", tmp_path / "out"))
    assert_same(back, folders)
    assert back.splits == ("Training", "Test") and "merged" in back.notes[0]


def test_find_prefers_the_csv_then_the_packed_folder(data_dir, packed):
    (data_dir / "fer2013" / "fer2013.packed").symlink_to(packed, target_is_directory=True)
    assert find_fer2013(data_dir).name == "fer2013.csv.gz"
    (data_dir / "fer2013" / "fer2013.csv.gz").unlink()
    assert find_fer2013(data_dir) == data_dir / "fer2013" / "fer2013.packed"
    data = load_fer2013(data_dir)
    assert data.source == str(data_dir / "fer2013" / "fer2013.packed") and len(data) == 40


def test_missing_part_is_named_and_never_falls_back(data_dir, packed):
    n_parts = len(manifest_of(packed)["parts"])
    (packed / "part-001.npz").unlink()
    message = rf"fer2013.packed: incomplete: missing 1 of {n_parts} parts: part-001.npz \(copy every part"
    with pytest.raises(DataError, match=message):
        load_fer2013(packed)
    with pytest.raises(DataError, match=message):
        verify_packed(packed)
    # In a data folder, with an image-folder release beside it and no CSV: still an error.
    fer_dir = data_dir / "fer2013"
    (fer_dir / "fer2013.csv.gz").unlink()
    (fer_dir / "train" / "happy").mkdir(parents=True)
    packed.rename(fer_dir / "fer2013.packed")
    with pytest.raises(DataError, match=message):
        find_fer2013(data_dir)
    with pytest.raises(DataError, match=message):
        load_fer2013(data_dir)


def test_corrupt_part_is_named(packed):
    part = packed / "part-002.npz"
    blob = bytearray(part.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    part.write_bytes(bytes(blob))
    verify_packed(packed, check_hashes=False)  # same size: only the hash can tell
    with pytest.raises(DataError, match=r"part-002.npz: corrupt part: sha256 [0-9a-f]{16}\.\.\., manifest.json says"):
        load_fer2013(packed)
    part.write_bytes(bytes(blob[:-100]))
    with pytest.raises(DataError, match=rf"part-002.npz: corrupt or incompletely copied part: {len(blob) - 100} bytes, "
                                        rf"manifest.json says {len(blob)}"):
        verify_packed(packed, check_hashes=False)


def test_wrong_manifest(packed):
    good = manifest_of(packed)

    write_manifest(packed, {**good, "format_version": 2})
    with pytest.raises(DataError, match="format_version must be 1 .*; got 2"):
        load_fer2013(packed)

    write_manifest(packed, {**good, "n_rows": 41})
    with pytest.raises(DataError, match="parts cover 40 rows, n_rows says 41"):
        load_fer2013(packed)

    arrays = {**good["arrays"], "labels": {**good["arrays"]["labels"], "sha256": "0" * 64}}
    write_manifest(packed, {**good, "arrays": arrays})
    with pytest.raises(DataError, match="unpacked labels do not match manifest.json"):
        load_fer2013(packed)

    write_manifest(packed, {**good, "split_counts": {"Training": 40}})
    with pytest.raises(DataError, match="split counts .* differ from manifest.json"):
        load_fer2013(packed)

    (packed / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(DataError, match="manifest.json: unreadable"):
        load_fer2013(packed)

    (packed / MANIFEST_NAME).unlink()
    with pytest.raises(DataError, match="fer2013.packed: missing manifest.json"):
        load_fer2013(packed)


def test_consistent_hashes_of_changed_content_are_caught(packed):
    """A part rewritten with other labels, its file hash updated: the array hashes still catch it."""
    manifest = manifest_of(packed)
    p = manifest["parts"][0]
    with np.load(packed / p["file"]) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays["labels"] = (arrays["labels"] + 1) % 7
    blob = _npz_bytes(arrays, 0, len(arrays["labels"]))
    (packed / p["file"]).write_bytes(blob)
    import hashlib

    p.update(bytes=len(blob), sha256=hashlib.sha256(blob).hexdigest())
    write_manifest(packed, manifest)
    verify_packed(packed)
    with pytest.raises(DataError, match="unpacked labels do not match manifest.json"):
        read_fer2013_packed(packed)


@pytest.mark.parametrize("bad", [0, -1, "30", True, float("nan"), None])
def test_max_part_mib_validation(data_dir, tmp_path, bad):
    with pytest.raises(ValueError, match=rf"max_part_mib must be a number > 0 \(MiB\); got {bad!r}"):
        pack_fer2013(data_dir, tmp_path / "out", max_part_mib=bad)


def test_limit_smaller_than_one_row(data_dir, tmp_path):
    with pytest.raises(ValueError, match=r"max_part_mib must be large enough for one row \(at least 0.00\d+ MiB here\); "
                                         r"got 0.001"):
        pack_fer2013(data_dir, tmp_path / "out", max_part_mib=0.001)
    assert not (tmp_path / "out" / "fer2013.packed").exists()
    assert list((tmp_path / "out").iterdir()) == []  # the temporary folder is gone too


def test_cli(data_dir, tmp_path, capsys):
    assert main(["pack", str(data_dir), str(tmp_path / "out"), "--max-part-mib", str(TINY_MIB)]) == 0
    out = capsys.readouterr().out
    assert "packed 40 rows" in out and "part-000.npz  rows 0-" in out and "MiB in all" in out
    assert main(["verify", str(tmp_path / "out" / "fer2013.packed")]) == 0
    assert capsys.readouterr().out.startswith("ok: ")

    assert main(["pack", str(tmp_path / "nope.csv"), str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope.csv: no such file" in err and err.count("\n") == 1

    assert main(["pack", str(data_dir), str(tmp_path / "o3"), "--max-part-mib", "0"]) == 2
    assert capsys.readouterr().err == "error: max_part_mib must be a number > 0 (MiB); got 0.0\n"

    with pytest.raises(SystemExit) as exc:
        main(["pack", str(data_dir), str(tmp_path / "o4"), "--max-part-mib", "many"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid float value: 'many'" in err


def test_cli_as_module_and_no_side_effects_at_import(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    quiet = subprocess.run([sys.executable, "-c", "import fer_lib.data.fer2013"], cwd=tmp_path, env=env,
                           capture_output=True, text=True)
    assert quiet.returncode == 0 and quiet.stdout == quiet.stderr == "" and list(tmp_path.iterdir()) == []
    bad = subprocess.run([sys.executable, "-m", "fer_lib.data.fer2013", "pack", "missing.csv.xz", "out"],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "missing.csv.xz: no such file" in bad.stderr
    usage = subprocess.run([sys.executable, "-m", "fer_lib.data.fer2013", "csv"], cwd=tmp_path, env=env,
                           capture_output=True, text=True)
    assert usage.returncode == 2 and usage.stderr.count("\n") == 1 and "invalid choice: 'csv'" in usage.stderr


def test_real_fer2013_packs_into_parts_and_loads_back_identical(shared_data_dir, tmp_path):
    """The real CSV: 3 parts under 30 MiB, read back identical (about 45 s, most of it the CSV load)."""
    source = shared_data_dir / "fer2013" / "fer2013.csv.xz"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    csv = load_fer2013(source)
    folder = pack_fer2013(csv, tmp_path, max_part_mib=30)
    manifest = manifest_of(folder)
    assert manifest["n_rows"] == 35887 and len(manifest["parts"]) == 3
    assert manifest["split_counts"] == {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}
    assert manifest["source"]["name"] == "fer2013.csv.xz" and manifest["source"]["bytes"] == source.stat().st_size
    assert all(p["bytes"] <= 30 * 2**20 for p in manifest["parts"])
    assert_same(load_fer2013(folder), csv)


def test_csv_is_parsed_once_then_read_from_the_cache(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))
    csv = find_fer2013(data_dir)
    first = load_fer2013(csv)
    entries = list((tmp_path / "cache" / "fer2013").glob("*/fer2013.packed"))
    assert len(entries) == 1 and first.source == str(csv)
    calls = []
    monkeypatch.setattr("fer_lib.data.fer2013.read_fer2013_csv", lambda p: calls.append(p))  # must not be called
    again = load_fer2013(csv)
    assert calls == [] and again.source == str(csv)
    assert_same(first, again)
    # a damaged entry is reported, parsed again and replaced
    monkeypatch.undo()
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))
    part = sorted(entries[0].glob("part-*.npz"))[0]
    part.write_bytes(part.read_bytes()[:-10])
    with pytest.warns(UserWarning, match="FER-2013 cache .* is damaged"):
        repaired = load_fer2013(csv)
    assert_same(first, repaired)
    assert_same(first, load_fer2013(csv))


def test_cache_false_neither_reads_nor_writes(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))
    csv = find_fer2013(data_dir)
    uncached = load_fer2013(csv, cache=False)
    assert not (tmp_path / "cache").exists()
    # the rows written by the data_dir fixture, rebuilt from its seed
    rng = np.random.default_rng(1)
    np.testing.assert_array_equal(uncached.images, np.stack([rng.integers(0, 256, 2304) for _ in range(40)])
                                  .reshape(40, 48, 48))
    assert uncached.labels.tolist() == [k % 7 for k in range(40)]
    assert uncached.usage.tolist() == ["Training"] * 28 + ["PublicTest"] * 6 + ["PrivateTest"] * 6
    # with a filled cache, cache=False still parses the CSV and leaves the cache as it was
    load_fer2013(csv)
    before = {q: q.read_bytes() for q in (tmp_path / "cache").rglob("*") if q.is_file()}
    parsed = []
    real_read = read_fer2013_csv
    monkeypatch.setattr("fer_lib.data.fer2013.read_fer2013_csv", lambda path: parsed.append(path) or real_read(path))
    again = load_fer2013(csv, cache=False)
    assert parsed == [csv]
    assert_same(again, uncached)
    assert {q: q.read_bytes() for q in (tmp_path / "cache").rglob("*") if q.is_file()} == before
