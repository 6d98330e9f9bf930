"""Sequence data (CK+48 clips, aligned sequences, prefixes, FER-2013 clips), the fold runner and the scores."""

from dataclasses import replace
from types import MappingProxyType

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fer_lib.data.ckplus import CKPlus48Data, load_ckplus_sequences
from fer_lib.data.constants import CKPLUS_CLASSES, FER2013_CLASSES
from fer_lib.data.splits import ViewSet
from fer_lib.evaluate.predictions import metrics_table, predictions_frame
from fer_lib.faces.sequences import (
    ALIGNED_SEQUENCES_FILE,
    align_sequences,
    ckplus48_clips,
    class_recall,
    control_verdict,
    fer_static_clips,
    load_aligned_sequences,
    load_study_clips,
    pair_accuracy,
    positive_control,
    prefix_accuracy,
    prefix_length,
    prefix_split,
    resample_clip,
    save_aligned_sequences,
    select_predictions,
    sequence_view_set,
    sequence_views,
    side_by_side,
    split_fraction,
    window_clip,
)
from fer_lib.models.cnn import build_model
from fer_lib.train.config import get_recipe
from fer_lib.train.folds import fold_masks, run_subject_folds


def fake_ck48(n_subjects=6):
    labels, subjects, ids = [], [], []
    for s in range(n_subjects):
        for k in range(3):
            labels.append((s + 2 * k) % 7)
            subjects.append(f"S{100 + s}")
            ids.append(f"S{100 + s}_{k + 1:03d}")
    n = len(labels)
    clips = np.arange(n * 3 * 48 * 48, dtype=np.int64).reshape(n, 3, 48, 48).astype(np.uint8)
    data = CKPlus48Data(clips, np.array(labels), np.array(subjects, dtype=object), np.array(ids, dtype=object),
                        np.zeros((n, 3), dtype=np.int64), pd.DataFrame(), "x")
    table = data.table().assign(fold=[int(s[1:]) % 3 for s in subjects])
    return data, table


def test_ckplus48_clips_join_folds_and_protocols():
    data, table = fake_ck48()
    clips = ckplus48_clips(data, table.sample(frac=1, random_state=0), "7class")  # join by id, not by row order
    assert len(clips) == 18 and clips.class_names == CKPLUS_CLASSES
    assert clips.folds.tolist() == [int(s[1:]) % 3 for s in data.subjects]
    six = ckplus48_clips(data, table, "6class")
    assert "contempt" not in six.class_names and len(six) == 18 - (np.array(data.labels) == 1).sum()
    assert six.counts().sum() == len(six)
    with pytest.raises(ValueError, match=r"no fold for sequence S105_001 \(subject S105\)"):
        ckplus48_clips(data, table[table["subject"] != "S105"], "7class")
    bad = table.copy()
    bad.loc[0, "fold"] = 2
    with pytest.raises(ValueError, match="puts subjects in several folds"):
        ckplus48_clips(data, bad)
    with pytest.raises(ValueError, match=r"protocol must be one of \['7class', '6class'\]; got '8class'"):
        ckplus48_clips(data, table, "8class")


def test_load_study_clips_reads_ck48_folds_and_optional_sequences(tmp_path):
    from fer_lib.run.notebook import NotebookContext

    data_dir, run_dir = tmp_path / "data", tmp_path / "run"
    rows = []
    for s in range(3):
        for k, label in enumerate(["anger", "contempt", "happy"]):
            sid = f"S{100 + s}_{k + 1:03d}"
            for t in range(3):
                path = data_dir / "ckplus" / "CK+48" / label / f"{sid}_{t + 1:08d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(np.full((48, 48), 10 * t, dtype=np.uint8)).save(path)
            rows.append({"subject": f"S{100 + s}", "sequence_id": sid, "label": label, "fold": s})
    (run_dir / "artifacts" / "01_data_audit").mkdir(parents=True)
    pd.DataFrame(rows).to_csv(run_dir / "artifacts" / "01_data_audit" / "ckplus48_folds.csv", index=False)
    aligned_file = save_aligned_sequences(run_dir / "artifacts" / "02_alignment" / ALIGNED_SEQUENCES_FILE,
                                          missing="CK+ sequences not found in the data folder")
    upstream = MappingProxyType({"folds": run_dir / "artifacts" / "01_data_audit" / "ckplus48_folds.csv",
                                 "aligned": aligned_file})
    ctx = NotebookContext("04_temporal", "test", data_dir, False, run_dir, run_dir / "artifacts" / "04_temporal", 0,
                          upstream)
    study = load_study_clips(ctx, ["6class", "7class"])
    assert list(study.clips) == ["6class", "7class"] and len(study.ck48) == 9
    assert len(study.clips["7class"]) == 9 and len(study.clips["6class"]) == 6  # contempt left out
    assert study.clips["7class"].folds.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert len(study.folds_table) == 9
    assert study.aligned is None and study.aligned_line == (
        "no full CK+ sequences in notebook 02's ckplus_aligned.npz: CK+ sequences not found in the data folder")
    with pytest.raises(ValueError, match=r"protocols must be drawn from \['7class', '6class'\]; got unknown \['8class'\]"):
        load_study_clips(ctx, ["8class"])
    bare = NotebookContext("04_temporal", "test", data_dir, False, run_dir, run_dir / "artifacts" / "04_temporal", 0)
    with pytest.raises(ValueError, match=r"must declare upstream \['folds', 'aligned'\]"):
        load_study_clips(bare, ["7class"])


def test_prefixes_windows_and_resampling():
    assert [prefix_length(8, f) for f in (0.25, 0.5, 0.75, 1.0)] == [2, 4, 6, 8]
    assert [prefix_length(10, f) for f in (0.25, 0.5, 0.75, 1.0)] == [3, 5, 8, 10]
    assert prefix_length(3, 0.1) == 1
    with pytest.raises(ValueError, match=r"fraction must be a number in \(0, 1\]; got 0"):
        prefix_length(5, 0)
    frames = np.arange(6, dtype=np.uint8)[:, None, None].repeat(2, 1).repeat(2, 2)
    assert window_clip(frames, 3)[:, 0, 0].tolist() == [3, 4, 5]
    assert window_clip(frames[:2], 3)[:, 0, 0].tolist() == [0, 0, 1]  # first frame repeated in front
    assert resample_clip(frames, 3)[:, 0, 0].tolist() == [0, 2, 5] or resample_clip(frames, 3)[:, 0, 0].tolist() == [0, 3, 5]
    interp = resample_clip(frames, 11, method="interpolate")
    assert interp.dtype == np.uint8 and interp[:, 0, 0].tolist()[::2] == [0, 1, 2, 3, 4, 5]
    views = sequence_views([frames, frames[:4]], 3, fractions=(0.5, 1.0))
    assert list(views) == ["first50pct", "first100pct"]
    assert views["first50pct"][:, :, 0, 0].tolist() == [[0, 1, 2], [0, 0, 1]]
    assert views["first100pct"][:, :, 0, 0].tolist() == [[3, 4, 5], [1, 2, 3]]
    resampled = sequence_views([frames], 3, fractions=(1.0,), sampling="resample")["first100pct"]
    assert resampled[0, [0, -1], 0, 0].tolist() == [0, 5]
    with pytest.raises(ValueError, match=r"sampling must be one of \['window', 'resample'\]; got 'all'"):
        sequence_views([frames], 3, sampling="all")
    assert prefix_split(0.25) == "first25pct" and split_fraction("first25pct") == 0.25
    assert split_fraction("test") is None


def test_fer_static_clips_map_classes_and_drop_neutral():
    images = (np.arange(14, dtype=np.uint8) * 10)[:, None, None].repeat(48, 1).repeat(48, 2)  # distinct images
    labels = np.arange(14) % 7  # two images of each FER-2013 class
    X, y = fer_static_clips(images, labels, CKPLUS_CLASSES, length=3)
    assert X.shape == (12, 3, 48, 48) and (X[:, 0] == X[:, 2]).all()  # neutral dropped; motionless clips
    names = [CKPLUS_CLASSES[k] for k in y]
    assert "contempt" not in names and names.count("sadness") == 2
    fer_of = {ck: fer for ck, fer in [("anger", "angry"), ("sadness", "sad"), ("happy", "happy")]}
    for clip, name in zip(X, names):
        if name in fer_of:
            k = int(np.flatnonzero((images == clip[0]).all(axis=(1, 2)))[0])
            assert FER2013_CLASSES[labels[k]] == fer_of[name]
    X1, y1 = fer_static_clips(images, labels, CKPLUS_CLASSES, length=1, per_class=1, seed=0)
    assert X1.shape == (6, 1, 48, 48) and sorted(np.bincount(y1, minlength=7).tolist()) == [0, 1, 1, 1, 1, 1, 1]


def test_fold_masks_follow_run_subject_folds():
    folds = np.array([0, 0, 1, 1, 2, 2, 5, 5])
    test, val, train, val_k = fold_masks(folds, 5)
    assert val_k == 0 and test.tolist() == [False] * 6 + [True] * 2 and train.sum() == 4
    assert fold_masks(folds, 1)[3] == 2
    with pytest.raises(ValueError, match=r"test_fold must be one of \[0, 1, 2, 5\]; got 3"):
        fold_masks(folds, 3)


def test_run_subject_folds_adds_views_and_extra_training(moving_blob_clips):
    X, y, subjects = moving_blob_clips(n_subjects=6)
    folds = subjects % 3
    ids = [f"S{s}_{k}" for k, s in enumerate(subjects)]
    config = get_recipe("smoke", epochs=1, max_train_samples=None, batch_size=8, augment="none", tta="none",
                        device="cpu")

    def make(n):
        return build_model("small", n, width=4, fc_dim=8)

    kw = dict(mode="frames", seeds=(0,), dataset="toy", protocol="7class", model="spatial", variant="v",
              progress=False)
    ref = run_subject_folds(make, X, y, ids, folds, ("r", "l"), config, **kw)
    views = ViewSet("toy_seq", {"first50pct": X[:, :2][:, [0, 0, 1]], "first100pct": X}, y, np.array(ids), folds)
    viewed = run_subject_folds(make, X, y, ids, folds, ("r", "l"), config, test_sets=[views], **kw)
    # test-only views change nothing about the folds' own test predictions
    viewed_test = viewed.predictions[viewed.predictions["split"] == "test"].reset_index(drop=True)
    pd.testing.assert_frame_equal(viewed_test, ref.predictions)
    seen = []
    out = run_subject_folds(make, X, y, ids, folds, ("r", "l"), config, test_sets=[views],
                            extra_train=(X[:4], y[:4]), on_fold=lambda s, k, net, res: seen.append(k), **kw)
    assert seen == [0, 1, 2]
    test = out.predictions[out.predictions["split"] == "test"]
    assert len(test) == len(X) and (test["dataset"] == "toy").all()
    for split in ("first50pct", "first100pct"):
        part = out.predictions[out.predictions["split"] == split]
        assert len(part) == len(X) and (part["dataset"] == "toy_seq").all()
        got = part.set_index("sample_id")["fold"].sort_index()
        assert (got == pd.Series(folds, index=ids).sort_index()).all()  # predicted by its own fold's model
    m = out.metrics[out.metrics["split"] == "test"]
    assert (m["n_train"] == 8 + 4).all() and (m["val_fold"] == (m["fold"] + 1) % 3).all()
    assert len(out.metrics) == 3 * 3  # folds x (test + 2 views)
    with pytest.raises(ValueError, match="extra_train must be"):
        run_subject_folds(make, X, y, ids, folds, ("r", "l"), config, extra_train=(X[:, :2], y), **kw)
    with pytest.raises(ValueError, match="test_sets must hold ViewSet objects; got dict"):
        run_subject_folds(make, X, y, ids, folds, ("r", "l"), config, test_sets=[{}], **kw)


def _preds(y_true, y_pred, model="hybrid", variant="v", fold=0, seed=0, split="test", classes=("a", "b", "c")):
    probs = np.eye(len(classes))[np.asarray(y_pred)]
    return predictions_frame(probs, np.asarray(y_true), [f"s{k}" for k in range(len(y_true))], classes,
                             dataset="ckplus48", protocol="7class", model=model, variant=variant, seed=seed,
                             split=split, fold=fold)


def test_scores():
    a = _preds([0, 0, 1, 2], [0, 1, 1, 2])
    scores = metrics_table(a).iloc[0]
    assert scores["accuracy"] == 0.75 and scores["n"] == 4
    assert scores["macro_precision"] == pytest.approx((1 + 0.5 + 1) / 3)
    assert scores["macro_recall"] == pytest.approx((0.5 + 1 + 1) / 3)
    assert scores["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    b = _preds([0, 0, 1, 2], [1, 1, 1, 1], model="spatial", variant="w", fold=1)
    both = pd.concat([a, b, _preds([0, 0], [0, 0], fold=1)])
    recall = class_recall(both, ["a", "b"]).set_index("model")
    assert recall.loc["spatial", "a"] == 0.0 and recall.loc["spatial", "b"] == 1.0
    assert recall.loc["hybrid", "a"] == 0.75 and recall.loc["hybrid", "n_a"] == 4
    table = side_by_side(both, "7class")
    assert list(table.columns) == ["hybrid/v", "spatial/w"]
    assert table.loc[0, "hybrid/v"] == 0.75 and table.loc[1, "hybrid/v"] == 1.0
    assert np.isnan(table.loc[0, "spatial/w"]) and table.loc["mean", "hybrid/v"] == 0.875
    prefixes = pd.concat([_preds([0, 1], [0, 0], split="first50pct"), _preds([0, 1], [0, 1], split="first100pct"),
                          _preds([0, 1], [0, 1], split="first50pct", seed=1)])
    acc = prefix_accuracy(prefixes)
    assert acc["fraction"].tolist() == [0.5, 1.0] and acc["accuracy"].tolist() == [0.75, 1.0]
    assert acc["accuracy_sd_seeds"].tolist() == [0.25, 0.0]
    with pytest.raises(ValueError, match="no prefix splits"):
        prefix_accuracy(a)
    with pytest.raises(ValueError, match="classes must be one of"):
        class_recall(a, ["fear"])


def _write_release(root):
    """Two labelled sequences with landmarks: a bright square face moving right, on a dark frame."""
    from PIL import Image

    template = np.array([[x, y] for x, y in zip(np.linspace(20, 44, 68), np.linspace(20, 44, 68))])
    for number, (n, code) in {"001": (5, 5), "002": (4, 7)}.items():
        d = root / "cohn-kanade-images" / "S010" / number
        d.mkdir(parents=True)
        (root / "Landmarks" / "S010" / number).mkdir(parents=True)
        for k in range(1, n + 1):
            img = np.full((64, 80), 20, np.uint8)
            img[18 + k:46 + k, 18:46] = 200
            name = f"S010_{number}_{k:08d}"
            Image.fromarray(img).save(d / f"{name}.png")
            pts = template + [0, k]
            (root / "Landmarks" / "S010" / number / f"{name}_landmarks.txt").write_text(
                "".join(f"   {x:.7e}   {y:.7e}\n" for x, y in pts))
        e = root / "Emotion" / "S010" / number
        e.mkdir(parents=True)
        (e / f"S010_{number}_{n:08d}_emotion.txt").write_text(f"   {code:.7e}\n")


def test_align_sequences_with_landmarks_and_view_sets(tmp_path):
    _write_release(tmp_path)
    seqs = load_ckplus_sequences(tmp_path)
    aligned = align_sequences(seqs)
    assert aligned.sample_ids.tolist() == ["S010_001", "S010_002"]
    assert aligned.n_frames.tolist() == [5, 4] and aligned.crops[0].shape == (5, 48, 48)
    assert aligned.methods.tolist() == ["landmarks", "landmarks"] and aligned.frames_filled.tolist() == [0, 0]
    assert [CKPLUS_CLASSES[k] for k in aligned.labels] == ["happy", "surprise"]
    assert aligned.table()["label"].tolist() == ["happy", "surprise"]
    info = aligned.summary()
    assert {k: info[k] for k in ("n", "frames", "frames_filled", "excluded", "methods")} == {
        "n": 2, "frames": 9, "frames_filled": 0, "excluded": [], "methods": {"landmarks": 2}}
    folds_table = pd.DataFrame({"subject": ["S010", "S010"], "sequence_id": ["S010_001", "S010_002"],
                                "label": ["happy", "surprise"], "fold": [4, 4]})
    vs = sequence_view_set(aligned, folds_table, "6class", length=3, fractions=(0.5, 1.0))
    assert vs.dataset == "ckplus_sequences" and vs.folds.tolist() == [4, 4]
    assert vs.views["first100pct"].shape == (2, 3, 48, 48)
    assert vs.y.tolist() == [3, 5]  # happy, surprise among the 6 classes
    with pytest.raises(ValueError, match="views\\['x'\\] must be a uint8 array of shape \\(2, T, H, W\\)"):
        ViewSet("d", {"x": np.zeros((1, 3, 4, 4), np.uint8)}, vs.y, vs.sample_ids, vs.folds)


def test_notebook_02_product_gives_back_what_align_sequences_gives(tmp_path):
    from fer_lib.faces.datasets import align_ckplus_sequences

    _write_release(tmp_path / "release")
    seqs = load_ckplus_sequences(tmp_path / "release")
    alignment = align_ckplus_sequences(seqs.labelled, "auto", 1, 48, None)
    path = save_aligned_sequences(tmp_path / "run" / ALIGNED_SEQUENCES_FILE, alignment)
    aligned, line = load_aligned_sequences(path)
    direct = align_sequences(seqs)
    assert aligned.sample_ids.tolist() == direct.sample_ids.tolist() == ["S010_001", "S010_002"]
    assert all(np.array_equal(a, b) for a, b in zip(aligned.crops, direct.crops))
    assert aligned.labels.tolist() == direct.labels.tolist() and aligned.subjects.tolist() == ["S010", "S010"]
    assert aligned.methods.tolist() == ["landmarks", "landmarks"] and aligned.frames_filled.tolist() == [0, 0]
    assert line == ("2 labelled sequences (9 frames) from notebook 02's ckplus_aligned.npz (alignment {'method': "
                    "'auto', 'detect_every': 1, 'size': 48, 'color': 'gray'}); methods {'landmarks': 2}; frames "
                    "without a face (filled from the nearest frame): 0; excluded: 0")
    with pytest.raises(ValueError, match=r"crops of shape \(48, 48\) \(size=48, color='gray'\); this notebook "
                                         r"needs 64x64 gray crops: run notebook 02 with size=64"):
        load_aligned_sequences(path, size=64)


def test_aligned_sequences_fill_missing_frames_and_exclude_faceless_sequences(tmp_path):
    from fer_lib.faces.datasets import align_ckplus_sequences

    _write_release(tmp_path / "release")
    alignment = align_ckplus_sequences(load_ckplus_sequences(tmp_path / "release").labelled, "auto", 1, 48, None)
    records = alignment.records.copy()
    first = records["sequence_id"] == "S010_001"
    records.loc[first & records["frame"].isin([0, 1]), "status"] = "none"  # no face in the first two frames
    records.loc[records["sequence_id"] == "S010_002", "status"] = "none"  # no face at all
    crops = list(alignment.crops)
    crops[0] = crops[0].copy()
    crops[0][:2] = 0
    path = save_aligned_sequences(tmp_path / ALIGNED_SEQUENCES_FILE,
                                  replace(alignment, records=records, crops=tuple(crops)))
    aligned, line = load_aligned_sequences(path)
    assert aligned.sample_ids.tolist() == ["S010_001"] and aligned.frames_filled.tolist() == [2]
    assert np.array_equal(aligned.crops[0][0], alignment.crops[0][2])  # filled from the nearest frame with a face
    assert aligned.excluded.to_dict(orient="records") == [
        {"sequence_id": "S010_002", "reason": "no face found by landmarks"}]
    assert line.endswith("frames without a face (filled from the nearest frame): 2; excluded: 1")
    with pytest.raises(ValueError, match="give exactly one of alignment"):
        save_aligned_sequences(tmp_path / "x.npz")


def test_select_predictions_restores_the_protocol_class_order():
    from fer_lib.data.constants import CKPLUS_CLASSES_6

    fer = predictions_frame(np.eye(7)[[0, 1]], np.array([0, 1]), ["0", "1"], FER2013_CLASSES, dataset="fer2013",
                            protocol="canonical", model="spatial", variant="s", seed=0, split="PrivateTest")
    ck = predictions_frame(np.eye(7)[[3, 5]], np.array([3, 6]), ["S1_001", "S1_002"], CKPLUS_CLASSES,
                           dataset="ckplus48", protocol="7class", model="spatial", variant="s", seed=0, split="test",
                           fold=1)
    six = predictions_frame(np.eye(6)[[2]], np.array([2]), ["S1_003"], CKPLUS_CLASSES_6, dataset="ckplus48",
                            protocol="6class", model="hybrid", variant="h", seed=0, split="test", fold=1)
    union = pd.concat([fer, ck, six], ignore_index=True)  # one notebook's table: union of the class columns
    assert [c for c in union.columns if c.startswith("prob_")][:3] == ["prob_angry", "prob_disgust", "prob_fear"]
    seven = select_predictions([union], "ckplus48", "7class")
    assert [c[5:] for c in seven.columns if c.startswith("prob_")] == list(CKPLUS_CLASSES)
    assert seven["prob_fear"].tolist() == [1.0, 0.0] and seven["y_pred"].tolist() == [3, 5]
    assert metrics_table(seven)["macro_recall"].iloc[0] == pytest.approx(1 / 7)  # 7 labels, not 13
    assert class_recall(seven, ["fear", "surprise"]).iloc[0][["fear", "surprise"]].tolist() == [1.0, 0.0]
    assert len(select_predictions([union], "ckplus48", "6class")) == 1
    assert select_predictions([union], "ckplus_sequences", "7class").empty


def test_pair_accuracy_ranks_the_two_classes():
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.1, 0.7], [0.4, 0.4, 0.2], [0.1, 0.2, 0.7]])
    frame = predictions_frame(probs, np.array([0, 0, 1, 2]), list("abcd"), ("x", "y", "z"), dataset="d",
                              protocol="7class", model="hybrid", variant="v", seed=0, split="test", fold=0)
    out = pair_accuracy(frame, "x", "y").iloc[0]
    # sample a: x > y right; b: x 0.2 > y 0.1 right although z wins; c: tie, half; d: not of x or y
    assert out["pair_accuracy"] == pytest.approx(2.5 / 3) and out["n"] == 3
    with pytest.raises(ValueError, match=r"b must be one of \['x', 'y', 'z'\]; got 'w'"):
        pair_accuracy(frame, "x", "w")


def test_positive_control_and_verdict():
    def frame(model, variant, probs):
        return predictions_frame(np.array(probs), np.array([0, 0, 1, 1]), list("abcd"), ("fear", "surprise", "x"),
                                 dataset="d", protocol="7class", model=model, variant=variant, seed=0, split="test")
    spatial = frame("spatial", "s", [[.5, .4, .1], [.4, .5, .1], [.5, .4, .1], [.4, .5, .1]])  # blind to order
    hybrid = frame("hybrid", "h", [[.8, .1, .1], [.6, .3, .1], [.2, .7, .1], [.5, .4, .1]])
    table = positive_control(pd.concat([spatial, hybrid]))
    assert list(table.index) == ["hybrid/h", "spatial/s"]
    assert table.loc["spatial/s", "pair_accuracy"] == 0.5 and table.loc["hybrid/h", "pair_accuracy"] == 0.75
    assert table.loc["hybrid/h", "fear"] == 1.0 and table.loc["hybrid/h", "surprise"] == 0.5
    verdict = control_verdict(table)
    assert verdict == {"hybrid/h": {"fear": True, "surprise": False, "pair_accuracy": True, "beats": False}}
    assert control_verdict(table[table["model"] == "hybrid"]) == {}


def test_select_predictions_follows_the_recorded_class_list_and_refuses_two():
    renamed = ("a", "b", "c")
    first = predictions_frame(np.eye(3)[[0, 2]], np.array([0, 2]), ["S1_001", "S1_002"], renamed,
                              dataset="ckplus48", protocol="7class", model="spatial", variant="s", seed=0,
                              split="test", fold=1)
    picked = select_predictions([first], "ckplus48", "7class")
    assert [c for c in picked.columns if c.startswith("prob_")] == ["prob_a", "prob_b", "prob_c"]
    other = predictions_frame(np.eye(3)[[1]], np.array([1]), ["S1_003"], ("a", "c", "b"), dataset="ckplus48",
                              protocol="7class", model="hybrid", variant="h", seed=0, split="test", fold=1)
    with pytest.raises(ValueError, match=r"disagree on the class list: \['a', 'b', 'c'\] in one table, "
                                         r"\['a', 'c', 'b'\] in another"):
        select_predictions([first, other], "ckplus48", "7class")
