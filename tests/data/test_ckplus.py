"""CK+ loaders: the official release layout and CK+48, with their error messages."""

import numpy as np
import pytest
from PIL import Image

from fer_lib.core.errors import DataError
from fer_lib.data.ckplus import (
    load_ckplus48,
    load_ckplus_sequences,
    protocol_subset,
    read_emotion_file,
    read_landmarks_file,
)
from fer_lib.data.constants import CKPLUS_CLASSES


def _png(path, value=100, size=(20, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size, value, dtype=np.uint8)).save(path)


def make_release(root, sequences, landmarks=False):
    """sequences: {(subject, seq): (n_frames, code or None)}"""
    for (subject, seq), (n, code) in sequences.items():
        for k in range(1, n + 1):
            name = f"{subject}_{seq}_{k:08d}"
            _png(root / "cohn-kanade-images" / subject / seq / f"{name}.png", value=k)
            if landmarks:
                path = root / "Landmarks" / subject / seq / f"{name}_landmarks.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("".join(f"   {x:.7e}   {x + 1:.7e}\n" for x in range(68)))
        if code is not None:
            path = root / "Emotion" / subject / seq / f"{subject}_{seq}_{n:08d}_emotion.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"   {code:.7e}\n")
    return root


def test_release_layout(tmp_path):
    root = make_release(tmp_path, {("S010", "001"): (4, 5), ("S010", "002"): (3, None), ("S011", "001"): (5, 7)},
                        landmarks=True)
    seqs = load_ckplus_sequences(root)
    assert [s.sequence_id for s in seqs.labelled] == ["S010_001", "S011_001"]
    assert [s.label for s in seqs.labelled] == ["happy", "surprise"]
    assert [s.sequence_id for s in seqs.unlabelled] == ["S010_002"]
    frames = seqs.labelled[0].frames()
    assert frames.shape == (4, 20, 30) and frames[:, 0, 0].tolist() == [1, 2, 3, 4]  # in order
    assert seqs.labelled[1].landmarks().shape == (5, 68, 2)
    table = seqs.table()
    assert table["label"].isna().sum() == 1 and table["n_frames"].sum() == 12


def test_release_errors(tmp_path):
    with pytest.raises(DataError, match="cohn-kanade-images: no such folder"):
        load_ckplus_sequences(tmp_path)
    root = make_release(tmp_path / "a", {("S010", "001"): (3, 5)})
    (root / "Emotion" / "S010" / "001" / "S010_001_00000003_emotion.txt").write_text("9.0\n")
    with pytest.raises(DataError, match=r"S010_001_00000003_emotion.txt: unknown emotion code 9.0; allowed"):
        load_ckplus_sequences(root)
    root = make_release(tmp_path / "b", {("S010", "001"): (3, 5)})
    path = root / "Emotion" / "S010" / "002" / "S010_002_00000003_emotion.txt"
    path.parent.mkdir(parents=True)
    path.write_text("1.0\n")
    with pytest.raises(DataError, match="emotion file for S010_002, which has no frames"):
        load_ckplus_sequences(root)
    root = make_release(tmp_path / "c", {("S010", "001"): (3, 5)})
    (root / "cohn-kanade-images" / "S010" / "002").mkdir()
    with pytest.raises(DataError, match="002: sequence folder holds no"):
        load_ckplus_sequences(root)
    root = make_release(tmp_path / "d", {("S010", "001"): (3, 5)}, landmarks=True)
    (root / "Landmarks" / "S010" / "001" / "S010_001_00000002_landmarks.txt").unlink()
    with pytest.raises(DataError, match="S010_001_00000002_landmarks.txt: missing landmarks file"):
        load_ckplus_sequences(root)


def test_emotion_and_landmark_files(tmp_path):
    path = tmp_path / "e.txt"
    path.write_text("   3.0000000e+00\n")
    assert read_emotion_file(path) == "disgust"
    path.write_text("abc")
    with pytest.raises(DataError, match="'abc' is not a number"):
        read_emotion_file(path)
    path.write_text("2.5")
    with pytest.raises(DataError, match="unknown emotion code 2.5"):
        read_emotion_file(path)
    path.write_text("1 2 3\n4 5 6\n")
    with pytest.raises(DataError, match=r"expected 68 rows of x y, found shape \(2, 3\)"):
        read_landmarks_file(path)


def make_ck48(root, clips):
    """clips: {sequence_id: (label, n_frames)}"""
    for sid, (label, n) in clips.items():
        for k in range(n):
            _png(root / "CK+48" / label / f"{sid}_{k + 10:08d}.png", value=k, size=(48, 48))
    return root / "CK+48"


def test_ck48_groups_clips_by_sequence(tmp_path):
    root = make_ck48(tmp_path, {"S010_004": ("anger", 3), "S011_001": ("happy", 3), "S010_002": ("fear", 2)})
    data = load_ckplus48(root)
    assert data.clips.shape == (2, 3, 48, 48)
    assert data.sequence_ids.tolist() == ["S010_004", "S011_001"]
    assert data.subjects.tolist() == ["S010", "S011"]
    assert [data.class_names[i] for i in data.labels] == ["anger", "happy"]
    assert data.frame_numbers[0].tolist() == [10, 11, 12]
    assert data.clips[0, :, 0, 0].tolist() == [0, 1, 2]  # temporal order
    # the 2-frame sequence is excluded, with its reason, never dropped silently
    assert data.excluded.to_dict(orient="records") == [
        {"sequence_id": "S010_002", "label": "fear", "n_frames": 2, "reason": "2 frames, expected 3"}
    ]
    assert len(load_ckplus48(tmp_path)) == 2  # a data folder holding ckplus/CK+48 also works


def test_ck48_errors(tmp_path):
    root = make_ck48(tmp_path / "a", {"S010_004": ("anger", 3)})
    _png(root / "joy" / "S010_005_00000001.png", size=(48, 48))
    with pytest.raises(DataError, match="unknown label folder 'joy'"):
        load_ckplus48(root)
    root = make_ck48(tmp_path / "b", {"S010_004": ("anger", 3)})
    _png(root / "happy" / "S010_004_00000020.png", size=(48, 48))
    with pytest.raises(DataError, match="sequence S010_004 also has frames under 'anger'"):
        load_ckplus48(root)
    root = make_ck48(tmp_path / "c", {"S010_004": ("anger", 3)})
    _png(root / "anger" / "face.png", size=(48, 48))
    with pytest.raises(DataError, match="face.png: not a CK\\+48 frame name"):
        load_ckplus48(root)
    root = make_ck48(tmp_path / "d", {"S010_004": ("anger", 3)})
    _png(root / "anger" / "S010_004_00000099.png", size=(40, 48))
    with pytest.raises(DataError, match="image is 48x40, expected 48x48"):
        load_ckplus48(root)
    (tmp_path / "e").mkdir()
    with pytest.raises(DataError, match="empty folder"):
        load_ckplus48(tmp_path / "e")


def test_protocol_subset_drops_contempt_and_reindexes():
    labels = np.array([0, 1, 2, 6])  # anger, contempt, disgust, surprise
    mask, new, names = protocol_subset(labels, "6class")
    assert mask.tolist() == [True, False, True, True]
    assert [names[i] for i in new] == ["anger", "disgust", "surprise"]
    mask, new, names = protocol_subset(labels, "7class")
    assert mask.all() and names == CKPLUS_CLASSES and new.tolist() == labels.tolist()
    with pytest.raises(ValueError, match=r"protocol must be one of \['7class', '6class'\]; got '5class'"):
        protocol_subset(labels, "5class")
