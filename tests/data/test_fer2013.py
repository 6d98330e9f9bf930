"""FER-2013 loaders: the CSV and the image-folder release, and their error messages."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fer_lib.core.errors import DataError
from fer_lib.data.constants import FER2013_CLASSES
from fer_lib.data.fer2013 import find_fer2013, load_fer2013, read_fer2013_csv


def _row(value, n=2304):
    return " ".join([str(value)] * n)


def write_csv(path, rows, columns=("emotion", "pixels", "Usage"), compression=None):
    pd.DataFrame(rows, columns=list(columns)).to_csv(path, index=False, compression=compression)
    return path


@pytest.fixture
def good_rows():
    rng = np.random.default_rng(0)
    rows = []
    for k, usage in enumerate(["Training"] * 4 + ["PublicTest", "PrivateTest"]):
        pix = rng.integers(0, 256, 2304)
        rows.append((k % 7, " ".join(map(str, pix)), usage))
    return rows


@pytest.mark.parametrize("suffix,compression", [(".csv", None), (".csv.gz", "gzip"), (".csv.xz", "xz")])
def test_csv_roundtrip(tmp_path, good_rows, suffix, compression):
    path = write_csv(tmp_path / f"fer2013{suffix}", good_rows, compression=compression)
    data = load_fer2013(path)
    assert data.images.shape == (6, 48, 48) and data.images.dtype == np.uint8
    expected = np.array(good_rows[0][1].split(), dtype=np.uint8).reshape(48, 48)
    np.testing.assert_array_equal(data.images[0], expected)
    assert data.labels.tolist() == [0, 1, 2, 3, 4, 5]
    assert data.splits == ("Training", "PublicTest", "PrivateTest")
    x, y = data.split("PublicTest")
    assert x.shape == (1, 48, 48) and y.tolist() == [4]
    assert data.counts().loc["angry", "Training"] == 1


def test_find_in_data_folder(tmp_path, good_rows):
    (tmp_path / "fer2013").mkdir()
    write_csv(tmp_path / "fer2013" / "fer2013.csv.gz", good_rows, compression="gzip")
    assert find_fer2013(tmp_path).name == "fer2013.csv.gz"
    assert len(load_fer2013(tmp_path)) == 6


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_fer2013(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="FER-2013 not found; tried: .*fer2013.csv"):
        find_fer2013(tmp_path)


def test_wrong_columns(tmp_path):
    path = write_csv(tmp_path / "f.csv", [(0, _row(1), "Training")], columns=("label", "pixels", "Usage"))
    with pytest.raises(DataError, match=r"f.csv: wrong columns: .*missing \['emotion'\]"):
        read_fer2013_csv(path)


def test_wrong_pixel_count_names_the_line(tmp_path):
    rows = [(0, _row(1), "Training"), (1, _row(1, 2300), "Training")]
    path = write_csv(tmp_path / "f.csv", rows)
    with pytest.raises(DataError, match=r"wrong pixel count in 1 rows .*line 3 with 2300 values"):
        read_fer2013_csv(path)


def test_non_integer_and_out_of_range_pixels(tmp_path):
    path = write_csv(tmp_path / "a.csv", [(0, _row(1, 2303) + " x", "Training")])
    with pytest.raises(DataError, match="non-integer pixel values"):
        read_fer2013_csv(path)
    path = write_csv(tmp_path / "b.csv", [(0, _row(300), "Training")])
    with pytest.raises(DataError, match="outside 0-255 in 1 rows; first at line 2"):
        read_fer2013_csv(path)


def test_unknown_label_and_usage(tmp_path):
    path = write_csv(tmp_path / "a.csv", [(0, _row(1), "Training"), (9, _row(1), "Training")])
    with pytest.raises(DataError, match=r"unknown emotion code in 1 rows \(allowed 0-6\); first at line 3: 9"):
        read_fer2013_csv(path)
    path = write_csv(tmp_path / "b.csv", [(0, _row(1), "Validation")])
    with pytest.raises(DataError, match="unknown Usage .*'Validation'"):
        read_fer2013_csv(path)


def test_corrupt_compressed_file(tmp_path):
    path = tmp_path / "fer2013.csv.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(DataError, match="cannot be read as CSV"):
        read_fer2013_csv(path)


def test_unknown_split_is_rejected_by_split(tmp_path, good_rows):
    data = load_fer2013(write_csv(tmp_path / "f.csv", good_rows))
    with pytest.raises(ValueError, match=r"split must be one of \['Training', 'PublicTest', 'PrivateTest'\]; got 'Test'"):
        data.split("Test")


def _write_png(path, size=(48, 48), value=128):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size, value, dtype=np.uint8)).save(path)


def test_image_folders(tmp_path):
    root = tmp_path / "fer2013"
    for split in ("train", "test"):
        for k, name in enumerate(FER2013_CLASSES):
            _write_png(root / split / name / f"{k}.png", value=k * 10)
    data = load_fer2013(tmp_path)
    assert len(data) == 14
    assert data.splits == ("Training", "Test")
    assert "merged" in data.notes[0]
    assert data.images[data.labels == 3][0, 0, 0] == 30


def test_image_folders_errors(tmp_path):
    root = tmp_path / "fer2013"
    _write_png(root / "train" / "happy" / "a.png")
    (root / "train" / "angry").mkdir()
    with pytest.raises(DataError, match="angry: empty folder"):
        load_fer2013(root)
    (root / "train" / "angry").rmdir()
    _write_png(root / "train" / "joy" / "a.png")
    with pytest.raises(DataError, match="unknown label folder 'joy'"):
        load_fer2013(root)
    (root / "train" / "joy" / "a.png").unlink()
    (root / "train" / "joy").rmdir()
    (root / "train" / "happy" / "b.jpg").write_bytes(b"not an image")
    with pytest.raises(DataError, match="b.jpg: unreadable image"):
        load_fer2013(root)
    (root / "train" / "happy" / "b.jpg").unlink()
    _write_png(root / "train" / "happy" / "c.png", size=(64, 64))
    with pytest.raises(DataError, match="c.png: image is 64x64, expected 48x48"):
        load_fer2013(root)


def test_fmt_validation(tmp_path):
    with pytest.raises(ValueError, match=r"fmt must be one of \['auto', 'csv', 'folders'\]; got 'json'"):
        load_fer2013(tmp_path, fmt="json")
