"""The spatial-baseline glue: FER-2013 seeds and selection, CK+ transfer, cross-data-set mapping."""

import numpy as np
import pandas as pd
import pytest
import torch

from fer_lib.core.errors import DataError
from fer_lib.data.ckplus import CKPlus48Data
from fer_lib.data.constants import (
    CKPLUS_CLASSES,
    CKPLUS_CLASSES_6,
    CKPLUS_TO_FER2013,
    FER2013_CLASSES,
)
from fer_lib.data.fer2013 import FER2013Data, fer2013_split_arrays
from fer_lib.data.splits import sample_folds
from fer_lib.evaluate.predictions import fold_table, metrics_table, predictions_frame
from fer_lib.experiments import spatial
from fer_lib.faces.preprocessing import FER2013_FACES
from fer_lib.models.checkpoint import load_checkpoint
from fer_lib.models.init import transfer_model
from fer_lib.train.config import get_recipe
from fer_lib.train.loop import HISTORY_COLUMNS

SIZE = 16


def toy_images(n, n_classes=7, seed=0):
    """uint8 (n, SIZE, SIZE): class k has a bright bar in row band k (learnable in a few steps)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % n_classes
    X = rng.integers(0, 60, size=(n, SIZE, SIZE)).astype(np.uint8)
    band = SIZE // n_classes
    for i, c in enumerate(y):
        X[i, c * band:(c + 1) * band] += 180
    return X, y.astype(np.int64)


def toy_fer(n_train=140, n_test=28):
    parts = [toy_images(n_train, seed=0), toy_images(n_test, seed=1), toy_images(n_test, seed=2)]
    usage = np.array(["Training"] * n_train + ["PublicTest"] * n_test + ["PrivateTest"] * n_test, dtype=object)
    return FER2013Data(np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), usage, "toy")


def toy_ck48(n_subjects=6, per_subject=7):
    """Clips of 3 frames; label k = CK+ class k, drawn like the FER class of the same name (or band 6 for contempt)."""
    rng = np.random.default_rng(3)
    band = SIZE // 7
    clips, labels, subjects, sids = [], [], [], []
    for s in range(n_subjects):
        for k in range(per_subject):
            label = k % len(CKPLUS_CLASSES)
            name = CKPLUS_CLASSES[label]
            row = FER2013_CLASSES.index(CKPLUS_TO_FER2013[name]) if name in CKPLUS_TO_FER2013 else 6
            clip = rng.integers(0, 60, size=(3, SIZE, SIZE)).astype(np.uint8)
            clip[:, row * band:(row + 1) * band] += 180
            clips.append(clip)
            labels.append(label)
            subjects.append(f"S{s:03d}")
            sids.append(f"S{s:03d}_{k:03d}")
    return CKPlus48Data(np.stack(clips), np.array(labels, dtype=np.int64), np.array(subjects, dtype=object),
                        np.array(sids, dtype=object), np.zeros((len(clips), 3), dtype=np.int64),
                        pd.DataFrame(columns=["sequence_id", "label", "n_frames", "reason"]), "toy")


@pytest.fixture(scope="module")
def fer_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("fer")
    config = get_recipe("smoke", epochs=2, lr=0.01, augment="none", tta="flip", max_train_samples=None)
    runs = spatial.train_fer2013_seeds(toy_fer(), "small", config, [0, 1], out, recipe_name="smoke",
                                       model_kwargs={"width": 4, "fc_dim": 16})
    return runs, out


def test_fer_seeds_predict_both_test_splits_with_row_ids(fer_runs):
    runs, out = fer_runs
    preds = runs.predictions
    assert sorted(preds["split"].unique()) == ["PrivateTest", "PublicTest"]
    assert sorted(preds["seed"].unique()) == [0, 1]
    assert set(preds["variant"]) == {"small-smoke"} and set(preds["model"]) == {"spatial"}
    assert (preds["fold"] == -1).all() and (preds["protocol"] == "canonical").all()
    # sample ids are the rows of the loaded data: PublicTest rows 140..167, PrivateTest 168..195
    pub = preds[(preds["split"] == "PublicTest") & (preds["seed"] == 0)]["sample_id"].astype(int)
    assert pub.tolist() == list(range(140, 168))
    assert list(runs.runs.columns[:3]) == ["variant", "seed", "checkpoint"]
    assert len(runs.histories) == 4 and set(runs.histories["seed"]) == {0, 1}
    for path in runs.runs["checkpoint"]:
        model, meta = load_checkpoint(path, device="cpu")
        assert meta["class_names"] == list(FER2013_CLASSES)
        assert meta["face_preprocessing"] == FER2013_FACES.to_dict()
        assert meta["upstream_preprocessing"] == FER2013_FACES.describe()
    # each seed's history is written in its own run folder, and is the one the runs report
    written = pd.read_csv(out / "small-smoke" / "seed1" / "history.csv")
    reported = runs.histories[runs.histories["seed"] == 1][list(HISTORY_COLUMNS)].reset_index(drop=True)
    assert written["epoch"].tolist() == [1, 2]
    pd.testing.assert_frame_equal(written, reported, check_dtype=False)


def test_resumed_fer_run_reports_the_training_time_of_every_epoch(fer_runs):
    runs, out = fer_runs
    first = runs.runs.set_index("seed")["train_seconds"]
    assert first.loc[0] == pytest.approx(runs.histories.query("seed == 0")["seconds"].sum(), abs=0.01)
    config = get_recipe("smoke", epochs=2, lr=0.01, augment="none", tta="flip", max_train_samples=None)
    again = spatial.train_fer2013_seeds(toy_fer(), "small", config, [0], out, recipe_name="smoke",
                                        model_kwargs={"width": 4, "fc_dim": 16}, resume=True)
    row = again.runs.iloc[0]
    assert bool(row["reused"]) and row["train_seconds"] == pytest.approx(first.loc[0], abs=0.01)


def test_tta_comparison_scores_each_mode_like_predict(fer_runs):
    from fer_lib.train.predict import evaluate, predict

    runs, _ = fer_runs
    model, _ = load_checkpoint(runs.runs["checkpoint"].iloc[0], device="cpu")
    X, y, _ = fer2013_split_arrays(toy_fer())["PublicTest"]
    table = spatial.tta_comparison(model, X, y, ["none", "shift"])
    assert table["tta"].tolist() == ["none", "shift"] and table["views"].tolist() == [1, 10]
    expected = evaluate(predict(model, X, tta="shift"), y)["accuracy"]
    assert table.set_index("tta").loc["shift", "accuracy"] == pytest.approx(expected)
    with pytest.raises(ValueError, match=r"modes must be one of \['none', 'flip', 'tencrop', 'shift'\]; got 'crop'"):
        spatial.tta_comparison(model, X, y, ["none", "crop"])
    with pytest.raises(ValueError, match="modes must name at least one"):
        spatial.tta_comparison(model, X, y, [])


def test_select_seed_uses_public_test_only():
    rows = [("v", 0, "PublicTest", 0.6), ("v", 1, "PublicTest", 0.7), ("v", 0, "PrivateTest", 0.9),
            ("v", 1, "PrivateTest", 0.5), ("w", 2, "PublicTest", 0.99)]
    metrics = pd.DataFrame(rows, columns=["variant", "seed", "split", "accuracy"])
    assert spatial.select_seed(metrics, "v") == 1  # PublicTest decides, whatever PrivateTest says
    ties = pd.DataFrame([("v", 3, "PublicTest", 0.5), ("v", 1, "PublicTest", 0.5)],
                        columns=["variant", "seed", "split", "accuracy"])
    assert spatial.select_seed(ties, "v") == 1
    with pytest.raises(ValueError, match=r"split must be one of \['PublicTest'\]; got 'PrivateTest'"):
        spatial.select_seed(metrics, "v", split="PrivateTest")
    with pytest.raises(ValueError, match="no PublicTest metrics for variant 'x'"):
        spatial.select_seed(metrics, "x")


def test_seed_summary_and_mean_sd():
    metrics = pd.DataFrame({"variant": ["v"] * 3, "split": ["PrivateTest"] * 3, "accuracy": [0.5, 0.6, 0.7],
                            "macro_f1": [0.4, 0.4, 0.4]})
    row = spatial.seed_summary(metrics).loc["v"]
    assert row["accuracy_mean"] == pytest.approx(0.6) and row["accuracy_sd"] == pytest.approx(0.1)
    assert row["seeds"] == 3 and row["accuracy_min"] == 0.5 and row["macro_f1_sd"] == pytest.approx(0.0, abs=1e-12)
    assert spatial.mean_sd([0.3]) == (0.3, 0.0, 1)
    mean, sd, n = spatial.mean_sd([])
    assert np.isnan(mean) and np.isnan(sd) and n == 0


def test_metrics_table_scores_each_test_set_on_its_own_classes():
    # one table mixing a 3-class and a 2-class test set: macro-F1 must ignore the other set's classes
    a = predictions_frame(np.eye(3)[[0, 1, 2, 0]], np.array([0, 1, 2, 0]), list("abcd"), ("x", "y", "z"),
                          dataset="d1", protocol="p", model="spatial", variant="v", seed=0, split="test")
    b = predictions_frame(np.eye(2)[[0, 1]], np.array([0, 1]), list("ef"), ("u", "w"), dataset="d2",
                          protocol="p", model="spatial", variant="v", seed=0, split="test")
    metrics = metrics_table(pd.concat([a, b], ignore_index=True)).set_index("dataset")
    assert metrics.loc["d1", "macro_f1"] == 1.0 and metrics.loc["d2", "macro_f1"] == 1.0


def test_fer2013_split_arrays_needs_the_canonical_splits():
    fer = toy_fer(14, 7)
    splits = fer2013_split_arrays(fer)
    assert [len(splits[s][1]) for s in splits] == [14, 7, 7]
    folders = FER2013Data(fer.images, fer.labels, np.where(fer.usage == "Training", "Training", "Test"), "dir")
    with pytest.raises(DataError, match=r"splits \['PublicTest', 'PrivateTest'\] are missing"):
        fer2013_split_arrays(folders)


def test_transfer_model_copies_features_and_makes_a_new_head(tiny_checkpoint):
    path = tiny_checkpoint(size=SIZE, width=4, fc_dim=16)
    source, _ = load_checkpoint(path, device="cpu")
    model = transfer_model(path, 6, dropout=0.3)
    assert model.n_classes == 6 and model.dropout == 0.3
    assert model.model_spec["kwargs"]["width"] == 4 and model.model_spec["init"].startswith("fer2013:")
    src = source.state_dict()
    for key, value in model.state_dict().items():
        if key.startswith("classifier."):
            assert value.shape[0] == 6 or value.dim() == 0 or key.endswith("num_batches_tracked")
        else:
            assert torch.equal(value, src[key]), key
    make = spatial.ckplus_model_factory("scratch", model_name="small", model_kwargs={"width": 4, "fc_dim": 16})
    assert not torch.equal(make(6).state_dict()["conv.0.weight"], src["conv.0.weight"])
    with pytest.raises(ValueError, match="init='transfer' needs the FER-2013 checkpoint"):
        spatial.ckplus_model_factory("transfer", model_name="small")
    with pytest.raises(ValueError, match=r"init must be one of \['transfer', 'scratch'\]; got 'imagenet'"):
        spatial.ckplus_model_factory("imagenet", model_name="small")


def test_restrict_to_shared_classes_maps_and_renormalises():
    probs = np.zeros((2, 7))
    probs[0, FER2013_CLASSES.index("neutral")] = 0.5
    probs[0, FER2013_CLASSES.index("sad")] = 0.3
    probs[0, FER2013_CLASSES.index("happy")] = 0.2
    probs[1, FER2013_CLASSES.index("neutral")] = 1.0  # nothing on the shared classes: uniform
    out = spatial.restrict_to_shared_classes(probs)
    assert out.shape == (2, 6)
    targets = tuple(CKPLUS_TO_FER2013)
    assert targets == CKPLUS_CLASSES_6
    assert out[0, targets.index("sadness")] == pytest.approx(0.6)
    assert out[0, targets.index("happy")] == pytest.approx(0.4)
    np.testing.assert_allclose(out[1], np.full(6, 1 / 6))
    with pytest.raises(ValueError, match=r"target classes \['contempt'\] have no counterpart"):
        spatial.restrict_to_shared_classes(probs, target_classes=("contempt",))
    with pytest.raises(ValueError, match="probs must have 7 columns"):
        spatial.restrict_to_shared_classes(np.ones((2, 6)))


def test_class_prior_counts_and_validates():
    np.testing.assert_allclose(spatial.class_prior([0, 0, 2, 1], 4), [0.5, 0.25, 0.25, 0.0])
    with pytest.raises(ValueError, match=r"labels must be integers in \[0, 3\); got values in \[0, 3\]"):
        spatial.class_prior([0, 3], 3)
    with pytest.raises(ValueError, match="labels must be a non-empty 1-d array"):
        spatial.class_prior([], 3)


def test_restrict_to_shared_classes_removes_the_source_prior():
    targets = tuple(CKPLUS_TO_FER2013)
    probs = np.zeros((1, 7))
    probs[0, FER2013_CLASSES.index("angry")] = 0.6
    probs[0, FER2013_CLASSES.index("disgust")] = 0.2
    probs[0, FER2013_CLASSES.index("neutral")] = 0.2
    prior = np.full(7, 0.16)
    prior[FER2013_CLASSES.index("disgust")] = 0.04  # a rare source class: 4x less likely a priori
    out = spatial.restrict_to_shared_classes(probs, source_prior=prior)
    # 0.6 / 0.16 = 3.75 against 0.2 / 0.04 = 5: disgust wins once its rarity is undone
    assert out[0, targets.index("disgust")] == pytest.approx(5 / 8.75)
    assert out[0, targets.index("anger")] == pytest.approx(3.75 / 8.75)
    same = spatial.restrict_to_shared_classes(probs, source_prior=np.full(7, 1 / 7))
    np.testing.assert_allclose(same, spatial.restrict_to_shared_classes(probs))
    with pytest.raises(ValueError, match=r"source_prior must have shape \(7,\)"):
        spatial.restrict_to_shared_classes(probs, source_prior=np.ones(6))
    zero = prior.copy()
    zero[FER2013_CLASSES.index("fear")] = 0.0
    with pytest.raises(ValueError, match="source_prior must be positive and finite on the shared classes"):
        spatial.restrict_to_shared_classes(probs, source_prior=zero)
    neutral_only = prior.copy()
    neutral_only[FER2013_CLASSES.index("neutral")] = 0.0  # neutral is not shared: its frequency is not used
    spatial.restrict_to_shared_classes(probs, source_prior=neutral_only)


def test_cross_dataset_predictions_leave_out_contempt(fer_runs):
    model, _ = load_checkpoint(fer_runs[0].runs["checkpoint"].iloc[0], device="cpu")
    ck = toy_ck48()
    frame = spatial.cross_dataset_predictions(model, ck, seed=0, variant="small-smoke")
    assert len(frame) == int((ck.labels != CKPLUS_CLASSES.index("contempt")).sum())
    assert [c for c in frame.columns if c.startswith("prob_")] == [f"prob_{c}" for c in CKPLUS_CLASSES_6]
    assert set(frame["protocol"]) == {"cross:fer2013"} and set(frame["split"]) == {"all"}
    assert (frame["fold"] == -1).all() and set(frame["dataset"]) == {"ckplus48"}
    probs = frame[[f"prob_{c}" for c in CKPLUS_CLASSES_6]].to_numpy()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    truth = [CKPLUS_CLASSES_6[k] for k in frame["y_true"]]
    expected = [CKPLUS_CLASSES[ck.labels[list(ck.sequence_ids).index(s)]] for s in frame["sample_id"]]
    assert truth == expected
    prior = np.linspace(1.0, 7.0, 7) / 28.0
    corrected = spatial.cross_dataset_predictions(model, ck, seed=0, variant="small-smoke", source_prior=prior)
    assert set(corrected["variant"]) == {"small-smoke" + spatial.PRIOR_CORRECTED_SUFFIX}
    assert corrected["sample_id"].tolist() == frame["sample_id"].tolist()
    fixed = corrected[[f"prob_{c}" for c in CKPLUS_CLASSES_6]].to_numpy()
    np.testing.assert_allclose(fixed.sum(axis=1), 1.0, rtol=1e-6)
    assert not np.allclose(fixed, probs)


def test_sample_folds_join_on_sequence_ids_then_subjects():
    table = pd.DataFrame({"subject": ["S1", "S1", "S2"], "sequence_id": ["S1_1", "S1_2", "S2_1"], "fold": [0, 0, 1]})
    assert sample_folds(table, ["S2_1", "S1_1"]).tolist() == [1, 0]
    with pytest.raises(ValueError, match=r"no fold for sequence S3_1 \(subject None\)"):
        sample_folds(table, ["S3_1"])
    assert sample_folds(table, ["S1_9"], subjects=["S1"]).tolist() == [0]  # by subject
    with pytest.raises(ValueError, match="subjects must have one entry per sample"):
        sample_folds(table, ["S1_9"], subjects=[])
    bad = table.assign(fold=[0, 1, 1])
    with pytest.raises(ValueError, match="puts subjects in several folds"):
        sample_folds(bad, ["S1_1"])


def test_run_ckplus_spatial_per_protocol_and_init(fer_runs):
    ck = toy_ck48()
    folds = np.array([int(s[1:]) % 3 for s in ck.subjects])
    config = get_recipe("smoke", epochs=1, lr=0.01, augment="none", tta="none")
    res = spatial.run_ckplus_spatial(ck, folds, config, model_name="small", model_kwargs={"width": 4, "fc_dim": 16},
                                     checkpoint=fer_runs[0].runs["checkpoint"].iloc[0], seeds=[0])
    assert set(res.predictions["protocol"]) == {"7class", "6class"}
    assert set(res.predictions["variant"]) == {"transfer", "scratch"}
    assert len(res.metrics) == 2 * 2 * 3  # protocols x inits x folds
    six = res.predictions[res.predictions["protocol"] == "6class"]
    assert six["prob_contempt"].isna().all() and len(six) == 2 * int((ck.labels != 1).sum())
    table = fold_table(res.metrics)
    assert list(table.index) == [0, 1, 2, "mean", "sd"]
    assert table.shape[1] == 4
    with pytest.raises(ValueError, match="inits must be drawn from"):
        spatial.run_ckplus_spatial(ck, folds, config, model_name="small", inits=["imagenet"])


def test_run_ckplus_spatial_calls_prepare_on_each_fold_model(fer_runs):
    ck = toy_ck48()
    folds = np.array([int(s[1:]) % 3 for s in ck.subjects])
    config = get_recipe("smoke", epochs=1, lr=0.01, augment="none", tta="none")
    calls = []

    def prepare(model, train_xy, cfg):
        calls.append((type(model).__name__, train_xy[0].shape[1:], len(train_xy[0]) == len(train_xy[1]), cfg))

    spatial.run_ckplus_spatial(ck, folds, config, model_name="small", model_kwargs={"width": 4, "fc_dim": 16},
                               checkpoint=fer_runs[0].runs["checkpoint"].iloc[0], protocols=["6class"],
                               inits=["transfer"], seeds=[0], prepare=prepare)
    assert len(calls) == 3  # one per test fold
    # the fold's frames (toy clips are 16x16) with one label each, and the run's config
    assert all(c[:3] == ("SmallCNN", ck.clips.shape[2:], True) and c[3].epochs == 1 for c in calls), calls


def test_literature_table_is_labelled_as_not_measured():
    table = spatial.literature_table()
    assert set(table["kind"]) == {"seed-paper claim", "public anchor", "off-the-shelf"}
    assert {"80.0", "85"} <= set(table["accuracy"])
    assert spatial.CKPLUS_ANCHORS["face-api.js expression net"] == 88.6


def test_plot_learning_curves(fer_runs):
    import matplotlib

    matplotlib.use("Agg")
    fig = spatial.plot_learning_curves(fer_runs[0].histories, title="t")
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 4


def test_fold_table_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    metrics = pd.DataFrame({"protocol": ["7class"] * 4, "variant": ["transfer", "transfer", "scratch", "scratch"],
                            "fold": [0, 1, 0, 1], "seed": 0, "accuracy": [0.5, 0.7, 0.2, 0.4]})
    table = fold_table(metrics)
    assert table.loc["mean", ("7class", "transfer")] == pytest.approx(0.6)
    assert table.loc["sd", ("7class", "scratch")] == pytest.approx(np.std([0.2, 0.4], ddof=1))
    fig = spatial.plot_fold_scores(table, ["7class"], ["transfer", "scratch"])
    assert len(fig.axes) == 1


def test_without_training_duplicates():
    import pandas as pd

    from fer_lib.experiments.spatial import without_training_duplicates

    preds = pd.DataFrame({"sample_id": ["0", "5", "6", "7", "8"],
                          "split": ["Training", "PrivateTest", "PrivateTest", "PublicTest", "PrivateTest"]})
    pairs = pd.DataFrame({"i": [0, 5, 6, 1], "j": [5, 9, 7, 2],
                          "group_i": ["Training", "PrivateTest", "PrivateTest", "Training"],
                          "group_j": ["PrivateTest", "PrivateTest", "PublicTest", "Training"]})
    kept = without_training_duplicates(preds, pairs)
    # 5 has a Training duplicate (0); 6-7 are duplicates of each other, not of Training
    assert list(kept["sample_id"]) == ["0", "6", "7", "8"]
    with pytest.raises(ValueError, match=r"missing \['group_j'\]"):
        without_training_duplicates(preds, pairs.drop(columns="group_j"))
