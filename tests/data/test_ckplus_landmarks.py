"""CK+ landmark sequences: the folder finder, the loader (tmp_path, synthetic and real releases), the CK+48 join."""

import time
from dataclasses import replace

import numpy as np
import pytest

from fer_lib.core.errors import DataError
from fer_lib.data import synthetic
from fer_lib.data.ckplus import (
    CKPlus48Data,
    find_ckplus48,
    find_ckplus_landmarks,
    find_ckplus_sequences,
    join_ckplus48,
    load_ckplus48,
    load_ckplus_landmark_sequences,
    load_ckplus_sequences,
    read_landmarks_file,
)
from fer_lib.data.constants import CKPLUS_CLASSES


def frame_points(frame, offset=0.0):
    """(68, 2): x = point index + 100 * frame + offset, y = x + 0.5, so every value tells its frame and point."""
    x = np.arange(68) + 100.0 * frame + offset
    return np.stack([x, x + 0.5], axis=1)


def write_points(path, points):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"   {x:.7e}   {y:.7e}\n" for x, y in points))


def make_landmark_release(root, sequences):
    """sequences: {(subject, seq): (n_frames, code or None)} -> the official Landmarks/ and Emotion/ layout."""
    for (subject, seq), (n, code) in sequences.items():
        for k in range(1, n + 1):
            name = f"{subject}_{seq}_{k:08d}_landmarks.txt"
            write_points(root / "Landmarks" / subject / seq / name, frame_points(k, offset=int(subject[1:])))
        if code is not None:
            path = root / "Emotion" / subject / seq / f"{subject}_{seq}_{n:08d}_emotion.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"   {code:.7e}\n")
    (root / "Emotion").mkdir(parents=True, exist_ok=True)
    return root


RELEASE = {("S010", "001"): (4, 5), ("S010", "002"): (3, None), ("S011", "001"): (5, 7), ("S011", "003"): (6, 1)}


def test_loads_labelled_sequences_in_order(tmp_path):
    root = make_landmark_release(tmp_path, RELEASE)
    (root / "Landmarks" / "S010" / "001" / ".DS_Store").write_text("x")
    data = load_ckplus_landmark_sequences(root, progress=False)
    assert len(data) == 3
    assert data.sequence_ids.tolist() == ["S010_001", "S011_001", "S011_003"]
    assert data.subjects.tolist() == ["S010", "S011", "S011"]
    assert data.label_names == ("happy", "surprise", "anger")
    assert data.labels.tolist() == [CKPLUS_CLASSES.index(c) for c in ("happy", "surprise", "anger")]
    assert data.n_frames.tolist() == [4, 5, 6]
    for p, sid, offset in zip(data.points, data.sequence_ids, (10, 11, 11)):
        assert p.dtype == np.float32 and p.shape == (len(p), 68, 2)
        expected = np.stack([frame_points(k, offset) for k in range(1, len(p) + 1)])
        np.testing.assert_array_equal(p, expected.astype(np.float32))  # frames in order, points in order
    first = root / "Landmarks" / "S011" / "003" / "S011_003_00000001_landmarks.txt"
    np.testing.assert_allclose(data.points[2][0], read_landmarks_file(first), rtol=1e-6)
    # nothing dropped silently: the unlabelled sequence and the stray file are in the notes
    assert "1 unlabelled sequences left out (labelled_only=True)" in data.notes
    assert any("1 entries that are not landmark files ignored" in n for n in data.notes)
    table = data.table()
    assert table.columns.tolist() == ["subject", "sequence_id", "label", "n_frames"]
    assert table["n_frames"].sum() == 15 and table["label"].tolist() == ["happy", "surprise", "anger"]


def test_unlabelled_sequences_kept_with_label_minus_one(tmp_path):
    root = make_landmark_release(tmp_path, RELEASE)
    data = load_ckplus_landmark_sequences(root, labelled_only=False, progress=False)
    assert data.sequence_ids.tolist() == ["S010_001", "S010_002", "S011_001", "S011_003"]
    assert data.labels[1] == -1 and data.label_names[1] is None
    assert data.labelled.tolist() == [True, False, True, True]
    assert data.n_frames.tolist() == [4, 3, 5, 6]
    assert data.table()["label"].isna().tolist() == [False, True, False, False]
    # without Emotion/ every sequence is unlabelled, and said so
    (root / "Emotion").rename(root / "Emotion_gone")
    data = load_ckplus_landmark_sequences(root, labelled_only=False, progress=False)
    assert (data.labels == -1).all() and any("missing: every sequence is unlabelled" in n for n in data.notes)
    with pytest.raises(DataError, match="Emotion: no such folder, so no sequence is labelled"):
        load_ckplus_landmark_sequences(root, progress=False)


def test_progress_bar_does_not_change_the_result(tmp_path, capsys):
    root = make_landmark_release(tmp_path, RELEASE)
    quiet = load_ckplus_landmark_sequences(root, progress=False)
    shown = load_ckplus_landmark_sequences(root, progress=True)
    assert "CK+ landmarks" in capsys.readouterr().err
    for a, b in zip(quiet.points, shown.points):
        np.testing.assert_array_equal(a, b)


def test_find_prefers_the_landmarks_release(tmp_path):
    with pytest.raises(DataError, match=r"CK\+ landmarks not found: neither .*ckplus/landmarks/Landmarks nor "
                                        r".*ckplus/sequences/Landmarks exists"):
        find_ckplus_landmarks(tmp_path)
    (tmp_path / "ckplus" / "sequences" / "cohn-kanade-images").mkdir(parents=True)
    with pytest.raises(DataError, match="CK\\+ landmarks not found"):  # an image release without Landmarks/
        find_ckplus_landmarks(tmp_path)
    (tmp_path / "ckplus" / "sequences" / "Landmarks").mkdir()
    assert find_ckplus_landmarks(tmp_path) == tmp_path / "ckplus" / "sequences"
    (tmp_path / "ckplus" / "landmarks" / "Landmarks").mkdir(parents=True)
    assert find_ckplus_landmarks(str(tmp_path)) == tmp_path / "ckplus" / "landmarks"


def test_errors_name_the_file(tmp_path):
    with pytest.raises(DataError, match=r"Landmarks: no such folder \(expected the official CK\+ layout"):
        load_ckplus_landmark_sequences(tmp_path / "nothing", progress=False)

    root = make_landmark_release(tmp_path / "a", {("S010", "001"): (4, 5)})
    write_points(root / "Landmarks" / "S010" / "001" / "S010_001_00000003_landmarks.txt", frame_points(3)[:67])
    with pytest.raises(DataError, match=r"S010_001_00000003_landmarks.txt: expected 68 rows of x y, "
                                        r"found shape \(67, 2\)"):
        load_ckplus_landmark_sequences(root, progress=False)

    root = make_landmark_release(tmp_path / "b", {("S010", "001"): (6, 5)})
    for k in (3, 4):
        (root / "Landmarks" / "S010" / "001" / f"S010_001_{k:08d}_landmarks.txt").unlink()
    with pytest.raises(DataError, match=r"S010_001_00000005_landmarks.txt: frame 5 of S010_001 follows frame 2: "
                                        r"frames must be numbered 1, 2, ... without gaps \(missing 2: 3, 4\)"):
        load_ckplus_landmark_sequences(root, progress=False)

    root = make_landmark_release(tmp_path / "c", {("S010", "001"): (3, 5)})
    (root / "Landmarks" / "S010" / "001" / "S010_001_00000001_landmarks.txt").unlink()
    with pytest.raises(DataError, match=r"S010_001_00000002_landmarks.txt: frame 2 of S010_001 is the first"):
        load_ckplus_landmark_sequences(root, progress=False)

    root = make_landmark_release(tmp_path / "d", {("S010", "001"): (3, 5)})
    (root / "Emotion" / "S010" / "001" / "S010_001_00000003_emotion.txt").write_text("   9.0000000e+00\n")
    with pytest.raises(DataError, match=r"S010_001_00000003_emotion.txt: unknown emotion code 9.0; allowed"):
        load_ckplus_landmark_sequences(root, progress=False)


def test_more_errors(tmp_path):
    root = make_landmark_release(tmp_path / "a", {("S010", "001"): (3, 5)})
    path = root / "Landmarks" / "S010" / "001" / "S010_001_00000002_landmarks.txt"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(["   abc   1.0\n", *lines[1:]]))
    with pytest.raises(DataError, match="S010_001_00000002_landmarks.txt: landmarks are not numbers"):
        load_ckplus_landmark_sequences(root, progress=False)
    path.write_text(path.read_text().replace("abc", "nan"))
    with pytest.raises(DataError, match="S010_001_00000002_landmarks.txt: landmarks hold non-finite values"):
        load_ckplus_landmark_sequences(root, progress=False)

    root = make_landmark_release(tmp_path / "b", {("S010", "001"): (3, 5)})
    write_points(root / "Landmarks" / "S010" / "001" / "S010_002_00000004_landmarks.txt", frame_points(4))
    with pytest.raises(DataError, match="S010_002_00000004_landmarks.txt: landmarks of S010_002 inside the folder "
                                        "of S010_001"):
        load_ckplus_landmark_sequences(root, progress=False)

    root = make_landmark_release(tmp_path / "c", {("S010", "001"): (3, 5)})
    path = root / "Emotion" / "S010" / "002" / "S010_002_00000003_emotion.txt"
    path.parent.mkdir()
    path.write_text("1.0\n")
    with pytest.raises(DataError, match="S010_002_00000003_emotion.txt: emotion file for S010_002, which has no "
                                        "landmarks folder"):
        load_ckplus_landmark_sequences(root, progress=False)

    root = make_landmark_release(tmp_path / "d", {("S010", "001"): (3, 5)})
    (root / "Emotion" / "S010" / "001" / "S010_001_00000003_emotion.txt").rename(
        root / "Emotion" / "S010" / "001" / "S010_001_00000009_emotion.txt")
    with pytest.raises(DataError, match="S010_001_00000009_emotion.txt: names frame 00000009, which .* does not hold"):
        load_ckplus_landmark_sequences(root, progress=False)

    root = make_landmark_release(tmp_path / "e", {("S010", "001"): (3, 5)})
    (root / "Landmarks" / "S010" / "002").mkdir()
    with pytest.raises(DataError, match="002: sequence folder holds no S###_###_########_landmarks.txt files"):
        load_ckplus_landmark_sequences(root, progress=False)

    root = make_landmark_release(tmp_path / "f", {("S010", "001"): (3, None)})
    with pytest.raises(DataError, match="no emotion file, so no labelled sequence"):
        load_ckplus_landmark_sequences(root, progress=False)


def _ck48_like(sequences, frames=None):
    """A CKPlus48Data holding only the ids, labels and frame numbers of ``sequences``' labelled ones."""
    keep = np.flatnonzero(sequences.labels >= 0)
    n = sequences.n_frames[keep]
    numbers = np.stack([np.arange(t - 2, t + 1) for t in n]) if frames is None else frames
    return CKPlus48Data(
        clips=np.zeros((len(keep), 3, 48, 48), np.uint8), labels=sequences.labels[keep],
        subjects=sequences.subjects[keep], sequence_ids=sequences.sequence_ids[keep], frame_numbers=numbers,
        excluded=None, root="ck48",
    )


def test_join_ckplus48(tmp_path):
    data = load_ckplus_landmark_sequences(make_landmark_release(tmp_path, RELEASE), labelled_only=False,
                                          progress=False)
    ck48 = _ck48_like(data)
    assert join_ckplus48(data, ck48).tolist() == [0, 2, 3]
    reordered = replace(ck48, sequence_ids=ck48.sequence_ids[::-1], labels=ck48.labels[::-1],
                        frame_numbers=ck48.frame_numbers[::-1])
    assert join_ckplus48(data, reordered).tolist() == [3, 2, 0]
    assert join_ckplus48(data, ["S011_003", "S010_001", "S011_001"]).tolist() == [3, 0, 2]  # ids only
    with pytest.raises(DataError, match=r"differ: 2 vs 3 ids; only in CK\+48: S099_001; only in the landmarks: "
                                        r"S010_001, S011_001"):
        join_ckplus48(data, ["S011_003", "S099_001"])
    with pytest.raises(DataError, match="CK\\+48 repeats sequence ids: S010_001"):
        join_ckplus48(data, ["S010_001", "S010_001"])
    with pytest.raises(DataError, match=r"disagree on 1 labels: S010_001 \(anger vs happy\)"):
        join_ckplus48(data, replace(ck48, labels=np.array([0, *ck48.labels[1:]])))
    frames = ck48.frame_numbers.copy()
    frames[1] -= 1
    with pytest.raises(DataError, match=r"not the last frames of 1 landmark sequences: S011_001 \(CK\+48 frames "
                                        r"\[2, 3, 4\], last frames \[3, 4, 5\]\)"):
        join_ckplus48(data, replace(ck48, frame_numbers=frames))


# --------------------------------------------------------------------------- synthetic release

SMALL = dict(fer_per_class_train=1, fer_per_class_public=1, fer_per_class_private=1, fer_identities=2,
             ck_subjects=4, ck_sequences_per_subject=2, ck_min_frames=7, ck_max_frames=9,
             ck_unlabelled_fraction=0.4)  # 8 labelled sequences (every class: CK+48 needs them all), 4 unlabelled


@pytest.fixture(scope="module")
def small_synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic") / "data"
    synthetic.write_synthetic_dataset(root, synthetic.SyntheticConfig(**SMALL), progress=False)
    return root


def test_synthetic_release_through_the_same_loader(small_synthetic):
    root = find_ckplus_landmarks(small_synthetic)
    assert root == small_synthetic / "ckplus" / "sequences"  # the synthetic default is an image release
    everything = load_ckplus_landmark_sequences(root, labelled_only=False, progress=False)
    labelled = load_ckplus_landmark_sequences(root, progress=False)
    images = load_ckplus_sequences(find_ckplus_sequences(small_synthetic))
    assert len(labelled) == len(images.labelled) == 8
    assert len(everything) == 8 + len(images.unlabelled) and len(images.unlabelled) == 4
    assert f"{len(images.unlabelled)} unlabelled sequences left out (labelled_only=True)" in labelled.notes
    for seq, points, name in zip(images.labelled, labelled.points, labelled.label_names):
        assert name == seq.label
        np.testing.assert_allclose(points, seq.landmarks(), rtol=1e-6)  # same files, same frames, same order
    ck48 = load_ckplus48(find_ckplus48(small_synthetic))
    index = join_ckplus48(labelled, ck48)
    assert labelled.sequence_ids[index].tolist() == ck48.sequence_ids.tolist()
    assert everything.sequence_ids[join_ckplus48(everything, ck48)].tolist() == ck48.sequence_ids.tolist()


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real_landmarks(shared_data_dir):
    root = shared_data_dir / "ckplus" / "landmarks"
    if not (root / "Landmarks").is_dir():
        pytest.skip(f"CK+ landmarks not found at {root}")
    start = time.perf_counter()
    data = load_ckplus_landmark_sequences(root, labelled_only=False, progress=False)
    return data, time.perf_counter() - start


def test_real_landmarks_counts(real_landmarks, shared_data_dir):
    data, seconds = real_landmarks
    print(f"loaded {len(data)} sequences, {data.n_frames.sum()} frames in {seconds:.2f} s")
    assert find_ckplus_landmarks(shared_data_dir) == shared_data_dir / "ckplus" / "landmarks"
    assert len(data) == 593 and len(set(data.subjects)) == 123
    assert data.n_frames.sum() == 10_709 and data.n_frames.min() == 4 and data.n_frames.max() == 71
    assert np.median(data.n_frames) == 16
    labelled = data.labels >= 0
    assert labelled.sum() == 327 and len(set(data.subjects[labelled])) == 118
    counts = dict(zip(*np.unique([n for n in data.label_names if n is not None], return_counts=True)))
    assert counts == {"anger": 45, "contempt": 18, "disgust": 59, "fear": 25, "happy": 69, "sadness": 28,
                      "surprise": 83}
    assert all(p.shape[1:] == (68, 2) and p.dtype == np.float32 and np.isfinite(p).all() for p in data.points)
    # pixel coordinates inside the 640x490 frames
    allpoints = np.concatenate(data.points)
    assert 0 <= allpoints[..., 0].min() and allpoints[..., 0].max() < 640
    assert 0 <= allpoints[..., 1].min() and allpoints[..., 1].max() < 490


def test_real_labelled_only_equals_ckplus48(real_landmarks, shared_data_dir):
    data, _ = real_landmarks
    labelled = load_ckplus_landmark_sequences(shared_data_dir / "ckplus" / "landmarks", progress=False)
    assert len(labelled) == 327 and labelled.notes == ("266 unlabelled sequences left out (labelled_only=True)",)
    keep = np.flatnonzero(data.labels >= 0)
    assert labelled.sequence_ids.tolist() == data.sequence_ids[keep].tolist()
    ck48 = load_ckplus48(find_ckplus48(shared_data_dir))
    assert len(ck48) == 327
    index = join_ckplus48(labelled, ck48)  # ids, labels, and CK+48's frames = the last three of each sequence
    assert sorted(labelled.sequence_ids[index]) == sorted(ck48.sequence_ids)
    assert set(labelled.sequence_ids) == set(ck48.sequence_ids)


def test_real_image_sequences_have_their_landmarks(real_landmarks, shared_data_dir):
    data, _ = real_landmarks
    try:
        images = load_ckplus_sequences(find_ckplus_sequences(shared_data_dir))
    except DataError as exc:
        pytest.skip(str(exc))
    position = {s: i for i, s in enumerate(data.sequence_ids)}
    seqs = (*images.labelled, *images.unlabelled)
    assert sum(s.n_frames for s in seqs) == 684
    assert all(data.n_frames[position[s.sequence_id]] == s.n_frames for s in seqs)
    assert all(data.label_names[position[s.sequence_id]] == s.label for s in seqs)
