"""The landmark comparison's arms, trainer and fold design (book/protocol.md), on synthetic and hand-made data only."""

import numpy as np
import pandas as pd
import pytest
import torch

from fer_lib.data.ckplus import load_ckplus_landmark_sequences
from fer_lib.data.constants import CKPLUS_CLASSES
from fer_lib.experiments import landmark_arms
from fer_lib.experiments.landmark_arms import (
    ARM_INPUTS,
    REVERSED_CLASSES,
    LandmarkRecipe,
    arm_inputs,
    arm_variant,
    landmark_trajectories,
    reversed_task_data,
    run_arms,
    train_arm,
    training_check,
)
from fer_lib.faces.landmarks import EYE_TARGETS, eye_centres

# --------------------------------------------------------------------------- hand-made data


def trajectories(n=3, t=4, d=136, seed=0):
    return np.random.default_rng(seed).normal(size=(n, t, d)).astype(np.float32)


def toy_set(n_subjects=6, seed=0, t=4):
    """Every subject shows each of the 7 CK+ classes once; random frames (distinct rows)."""
    rng = np.random.default_rng(seed)
    n = 7 * n_subjects
    X = rng.normal(size=(n, t, 136)).astype(np.float32)
    labels = np.tile(np.arange(7), n_subjects)
    subjects = np.repeat([f"S{100 + s:03d}" for s in range(n_subjects)], 7)
    ids = np.array([f"{s}_{k + 1:03d}" for s, k in zip(subjects, np.tile(np.arange(7), n_subjects))])
    return X, labels, subjects, ids


def order_only_set(n_subjects=12, per_subject=2, t=8, d=136, seed=0):
    """Sequences that ramp from a subject's neutral face along one shared expression direction.

    As recorded vs reversed, a sequence holds the same frames: only their order tells the classes apart.
    """
    rng = np.random.default_rng(seed)
    base, direction = rng.normal(0, 1, d), rng.normal(0, 1, d)
    X, subjects, ids = [], [], []
    for s in range(n_subjects):
        face = base + rng.normal(0, 0.1, d)
        for j in range(per_subject):
            ramp = np.linspace(0, 1, t)[:, None] * rng.uniform(0.5, 1.5)
            X.append(face + ramp * direction + rng.normal(0, 0.05, (t, d)))
            subjects.append(f"S{s:03d}")
            ids.append(f"S{s:03d}_{j + 1:03d}")
    n = len(X)
    return np.array(X, np.float32), np.arange(n) % 7, np.array(subjects), np.array(ids)


# --------------------------------------------------------------------------- arm inputs


def test_arm_inputs_equal_hand_computations():
    x = trajectories(n=2, t=4)
    np.testing.assert_array_equal(arm_inputs(x, "trajectory"), x)
    apex = arm_inputs(x, "apex")
    mean = arm_inputs(x, "mean")
    two = arm_inputs(x, "two-frame")
    for i in range(2):
        np.testing.assert_array_equal(apex[i], np.stack([x[i, 3]] * 4))
        m = (x[i, 0].astype(np.float64) + x[i, 1] + x[i, 2] + x[i, 3]) / 4
        np.testing.assert_allclose(mean[i], np.stack([m] * 4), rtol=1e-6, atol=1e-6)
        np.testing.assert_array_equal(two[i], np.stack([x[i, 0], x[i, 0], x[i, 3], x[i, 3]]))
    for arm in ARM_INPUTS:
        out = arm_inputs(x, arm)
        assert out.shape == x.shape and out.dtype == np.float32  # the same network for every arm
    # the mean arm is blind to the order of the frames, bit for bit (the positive control relies on it)
    np.testing.assert_array_equal(arm_inputs(x[:, ::-1], "mean"), mean)
    np.testing.assert_array_equal(arm_inputs(x[:, [2, 0, 3, 1]], "mean"), mean)
    out = arm_inputs(x, "trajectory")
    out[0, 0, 0] = 1e6
    assert x[0, 0, 0] != 1e6  # a copy, never a view of the caller's array


def test_arm_inputs_refuse_bad_arguments():
    with pytest.raises(ValueError, match=r"arm must be one of \['trajectory', 'apex', 'mean', 'two-frame'\]; "
                                         r"got 'displacement'"):
        arm_inputs(trajectories(), "displacement")
    with pytest.raises(ValueError, match="even number of frames T .* got T=5"):
        arm_inputs(trajectories(t=5), "two-frame")
    with pytest.raises(ValueError, match=r"shape \(n, T, 136\) with n >= 1 and T >= 2; got \(3, 136\)"):
        arm_inputs(np.zeros((3, 136)), "apex")
    bad = trajectories()
    bad[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        arm_inputs(bad, "mean")


def test_trajectories_of_the_synthetic_release(tiny_release):
    seqs = load_ckplus_landmark_sequences(tiny_release.root, progress=False)
    x = landmark_trajectories(seqs)
    assert x.shape == (len(seqs), 16, 136) and x.dtype == np.float32
    onset = x[:, 0].reshape(-1, 68, 2)
    np.testing.assert_allclose(eye_centres(onset), np.broadcast_to(EYE_TARGETS, (len(seqs), 2, 2)), atol=1e-5)
    np.testing.assert_array_equal(landmark_trajectories(seqs.points, length=8).shape, (len(seqs), 8, 136))
    for arm in ARM_INPUTS:
        assert arm_inputs(x, arm).shape == x.shape


def test_reversed_task_data_doubles_every_sequence():
    x = trajectories(n=3, t=4)
    X, y, subjects, sample_ids, origin = reversed_task_data(x, ["S1", "S1", "S2"], ["S1_1", "S1_2", "S2_1"])
    assert X.shape == (6, 4, 136)
    np.testing.assert_array_equal(X[:3], x)
    np.testing.assert_array_equal(X[3:], x[:, ::-1])
    assert y.tolist() == [0, 0, 0, 1, 1, 1]
    assert subjects.tolist() == ["S1", "S1", "S2"] * 2 and origin.tolist() == [0, 1, 2] * 2
    assert sample_ids.tolist() == ["S1_1:onset-to-apex", "S1_2:onset-to-apex", "S2_1:onset-to-apex",
                                   "S1_1:apex-to-onset", "S1_2:apex-to-onset", "S2_1:apex-to-onset"]


def test_arm_variant_names():
    assert arm_variant("trajectory") == "trajectory"
    assert arm_variant("apex", appearance=True) == "apex+appearance"
    assert arm_variant("trajectory", cell="lstm") == "trajectory/lstm"
    with pytest.raises(ValueError, match="cell must be one of"):
        arm_variant("trajectory", cell="rnn")


# --------------------------------------------------------------------------- trainer


def split(n_train=40, n_val=12, n_test=10, n_classes=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_train + n_val + n_test, 4, 136)).astype(np.float32)
    y = rng.integers(0, n_classes, len(X))
    a, b = n_train, n_train + n_val
    return X[:a], y[:a], X[a:b], y[a:b], X[b:]


def test_train_arm_is_deterministic_given_a_seed_and_leaves_the_global_rng_alone():
    data = split()
    recipe = LandmarkRecipe(epochs=3)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = train_arm(*data, n_classes=3, seed=0, recipe=recipe)
    assert torch.equal(torch.get_rng_state(), state)
    b = train_arm(*data, n_classes=3, seed=0, recipe=recipe)
    c = train_arm(*data, n_classes=3, seed=1, recipe=recipe)
    np.testing.assert_array_equal(a.probs, b.probs)
    np.testing.assert_array_equal(a.val_history, b.val_history)
    assert not np.array_equal(a.probs, c.probs)
    assert a.probs.shape == (10, 3) and a.probs.dtype == np.float64
    np.testing.assert_allclose(a.probs.sum(axis=1), 1.0)
    assert a.n_updates == recipe.updates(40) == 3 * 2  # ceil(40 / 32) batches per epoch
    assert a.val_accuracy == a.val_history.max() and 1 <= a.best_epoch <= 3
    assert a.val_history[a.best_epoch - 1] == a.val_accuracy
    assert (a.val_history[:a.best_epoch - 1] < a.val_accuracy).all()  # the earliest of the best epochs


def test_train_arm_selects_the_earliest_of_tied_epochs():
    # a learning rate too small to change a prediction: every epoch ties, the first is kept
    run = train_arm(*split(), n_classes=3, seed=0, recipe=LandmarkRecipe(epochs=4, lr=1e-12))
    assert len(set(run.val_history.tolist())) == 1 and run.best_epoch == 1


def test_train_arm_with_appearance_and_other_cells():
    X_tr, y_tr, X_va, y_va, X_te = split()
    app = tuple(np.random.default_rng(1).normal(size=(len(x), 8)) for x in (X_tr, X_va, X_te))
    run = train_arm(X_tr, y_tr, X_va, y_va, X_te, n_classes=3, seed=0, recipe=LandmarkRecipe(epochs=1),
                    appearance=app, cell="attention")
    assert run.probs.shape == (10, 3)
    with pytest.raises(ValueError, match=r"appearance\[val\] must be finite, of shape \(12, appearance_dim\)"):
        train_arm(X_tr, y_tr, X_va, y_va, X_te, n_classes=3, seed=0, appearance=(app[0], app[0], app[2]))


def test_train_arm_refuses_bad_arguments():
    X_tr, y_tr, X_va, y_va, X_te = split()
    with pytest.raises(ValueError, match=r"labels of X_train must lie in 0..1 \(n_classes=2\)"):
        train_arm(X_tr, y_tr, X_va, y_va, X_te, n_classes=2, seed=0)
    with pytest.raises(ValueError, match="must share"):
        train_arm(X_tr, y_tr, X_va[:, :2], y_va, X_te, n_classes=3, seed=0)
    with pytest.raises(ValueError, match="seed must be a non-negative integer; got -1"):
        train_arm(X_tr, y_tr, X_va, y_va, X_te, n_classes=3, seed=-1)
    with pytest.raises(ValueError, match="epochs must be an integer >= 1; got 0"):
        LandmarkRecipe(epochs=0)
    assert LandmarkRecipe() == landmark_arms.PROTOCOL_RECIPE
    assert (LandmarkRecipe().lr, LandmarkRecipe().weight_decay, LandmarkRecipe().batch_size,
            LandmarkRecipe().epochs, LandmarkRecipe().label_smoothing) == (1e-3, 1e-4, 32, 60, 0.0)


# --------------------------------------------------------------------------- the fold design


TINY = dict(repeats=1, seeds=[0, 1], n_folds=3, epochs=2, progress=False)


@pytest.fixture(scope="module")
def tiny_runs():
    X, labels, subjects, ids = toy_set()
    return run_arms(X, labels, subjects, ARM_INPUTS, sequence_ids=ids, protocol="7class", **TINY)


def test_every_sequence_is_tested_once_per_repeat_seed_and_arm(tiny_runs):
    p = tiny_runs.predictions
    _, _, _, ids = toy_set()
    assert set(p["dataset"]) == {"ckplus_landmarks"} and set(p["model"]) == {"landmarks"}
    assert set(p["protocol"]) == {"7class"} and set(p["split"]) == {"test"}
    assert set(p["variant"]) == set(ARM_INPUTS)
    counts = p.groupby(["repeat", "seed", "variant"])["sample_id"].agg(["size", "nunique"])
    assert (counts["size"] == len(ids)).all() and (counts["nunique"] == len(ids)).all()
    assert len(counts) == 1 * 2 * 4
    assert set(p["sample_id"]) == set(ids)
    # labels intact: y_true is each sequence's class
    truth = dict(zip(ids, np.tile(np.arange(7), 6)))
    assert (p["y_true"] == p["sample_id"].map(truth)).all()


def test_no_subject_is_in_a_test_fold_and_its_training_folds(tiny_runs):
    folds, m = tiny_runs.folds, tiny_runs.metrics
    assert len(folds) == 42 and set(folds["fold"]) == {0, 1, 2}
    assert folds.groupby("subject")["fold"].nunique().max() == 1  # whole subjects per fold
    for _, run in m.iterrows():
        assert run["val_fold"] == (run["fold"] + 1) % 3
        f = folds[folds["repeat"] == run["repeat"]]
        test = set(f.loc[f["fold"] == run["fold"], "subject"])
        val = set(f.loc[f["fold"] == run["val_fold"], "subject"])
        train = set(f.loc[~f["fold"].isin([run["fold"], run["val_fold"]]), "subject"])
        assert test and val and train and not (test & train) and not (val & train) and not (test & val)
        assert run["n_train"] == f["fold"].isin([run["fold"], run["val_fold"]]).__invert__().sum()
    # the predictions of a run are exactly its test fold
    p = tiny_runs.predictions.merge(folds[["repeat", "sample_id", "fold"]], on=["repeat", "sample_id"],
                                    suffixes=("", "_drawn"))
    assert (p["fold"] == p["fold_drawn"]).all()


def test_every_arm_gets_the_same_folds_seeds_and_updates(tiny_runs):
    p, m = tiny_runs.predictions, tiny_runs.metrics
    per_arm = {arm: part.sort_values(["repeat", "seed", "sample_id"])[["repeat", "seed", "sample_id", "fold"]]
               .reset_index(drop=True) for arm, part in p.groupby("variant")}
    for arm in ARM_INPUTS[1:]:
        pd.testing.assert_frame_equal(per_arm[arm], per_arm["trajectory"])
    assert len(m) == 1 * 3 * 2 * 4
    same = m.groupby(["repeat", "fold", "seed"])[["n_updates", "n_train", "n_val", "n_test", "val_fold"]].nunique()
    assert (same == 1).all().all()
    assert (m["n_updates"] == 2 * np.ceil(m["n_train"] / 32)).all()
    assert np.isclose(m["accuracy"], m["accuracy"].clip(0, 1)).all() and (m["n"] == m["n_test"]).all()


def test_training_check_flags_arms_below_the_majority_rate(tiny_runs):
    check = training_check(tiny_runs.metrics)
    assert check["variant"].tolist() == sorted(ARM_INPUTS) and (check["runs"] == 6).all()
    m = pd.DataFrame({"protocol": "7class", "variant": ["a", "a", "b", "b"], "val_accuracy": [0.2, 0.3, 0.5, 0.6],
                      "val_majority_rate": [0.25, 0.3, 0.25, 0.25]})
    check = training_check(m)
    assert check["failed"].tolist() == [True, False]
    np.testing.assert_allclose(check["val_accuracy"], [0.25, 0.55])
    with pytest.raises(ValueError, match=r"missing the columns \['val_majority_rate'\]"):
        training_check(m.drop(columns="val_majority_rate"))


def test_run_arms_is_deterministic(tiny_runs):
    X, labels, subjects, ids = toy_set()
    again = run_arms(X, labels, subjects, ARM_INPUTS, sequence_ids=ids, protocol="7class", **TINY)
    pd.testing.assert_frame_equal(again.predictions, tiny_runs.predictions)
    cols = [c for c in tiny_runs.metrics.columns if c != "seconds"]
    pd.testing.assert_frame_equal(again.metrics[cols], tiny_runs.metrics[cols])


def test_the_6class_protocol_leaves_contempt_out():
    X, labels, subjects, ids = toy_set()
    runs = run_arms(X, labels, subjects, ["apex"], sequence_ids=ids, protocol="6class",
                    **{**TINY, "seeds": [0], "epochs": 1})
    p = runs.predictions
    contempt = set(ids[labels == CKPLUS_CLASSES.index("contempt")])
    assert len(p) == 36 and not contempt & set(p["sample_id"])
    assert p["class_names"].iloc[0].split("|") == [c for c in CKPLUS_CLASSES if c != "contempt"]
    assert [c for c in p.columns if c.startswith("prob_")] == [f"prob_{c}" for c in CKPLUS_CLASSES if c != "contempt"]


def recording(monkeypatch):
    """Replace run_arms's trainer by one that records its arguments (and still trains)."""
    calls = []

    def spy(X_train, y_train, X_val, y_val, X_test, **kwargs):
        calls.append({"X_train": np.asarray(X_train), "y_train": np.asarray(y_train).copy(),
                      "X_val": np.asarray(X_val), "y_val": np.asarray(y_val).copy(), "X_test": np.asarray(X_test),
                      **kwargs})
        return train_arm(X_train, y_train, X_val, y_val, X_test, **kwargs)

    monkeypatch.setattr(landmark_arms, "train_arm", spy)
    return calls


def rows_of(X_part, X):
    """Index in ``X`` of each sequence of an arm's input ``X_part``, by its last (apex) frame (distinct rows)."""
    lookup = {row.tobytes(): i for i, row in enumerate(X[:, -1])}
    return np.array([lookup[row.tobytes()] for row in X_part[:, -1]])


def test_the_trainer_sees_only_training_subjects(monkeypatch):
    calls = recording(monkeypatch)
    X, labels, subjects, ids = toy_set()
    run_arms(X, labels, subjects, ["trajectory"], sequence_ids=ids, protocol="7class",
             **{**TINY, "seeds": [0], "epochs": 1})
    assert len(calls) == 3
    seen = np.zeros(len(X), int)
    for call in calls:
        tr, va, te = (rows_of(call[k], X) for k in ("X_train", "X_val", "X_test"))
        assert not set(subjects[tr]) & set(subjects[te]) and not set(subjects[tr]) & set(subjects[va])
        assert not set(subjects[va]) & set(subjects[te])
        np.testing.assert_array_equal(call["y_train"], labels[tr])
        np.testing.assert_array_equal(call["y_val"], labels[va])
        seen[te] += 1
    assert (seen == 1).all()


def test_the_negative_control_shuffles_training_labels_only(monkeypatch):
    calls = recording(monkeypatch)
    X, labels, subjects, ids = toy_set()
    runs = run_arms(X, labels, subjects, ["trajectory", "apex"], sequence_ids=ids, protocol="7class",
                    labels_shuffled=True, **{**TINY, "epochs": 1})
    p = runs.predictions
    assert set(p["protocol"]) == {"7class:labels-shuffled"}
    truth = dict(zip(ids, labels))
    assert (p["y_true"] == p["sample_id"].map(truth)).all()  # test labels intact
    by_run = {}
    for call in calls:
        tr, va = rows_of(call["X_train"], X), rows_of(call["X_val"], X)
        np.testing.assert_array_equal(call["y_val"], labels[va])  # validation labels intact
        assert sorted(call["y_train"]) == sorted(labels[tr])  # a permutation of the training labels
        assert (call["y_train"] != labels[tr]).mean() > 0.5
        by_run.setdefault(call["seed"], []).append(call["y_train"])
    # every arm gets the same shuffled labels for one seed and fold; seeds shuffle differently
    assert len(calls) == 3 * 2 * 2
    first_fold = {seed: runs_[:2] for seed, runs_ in by_run.items()}  # (trajectory, apex) of fold 0
    for seed in (0, 1):
        np.testing.assert_array_equal(first_fold[seed][0], first_fold[seed][1])
    assert not np.array_equal(first_fold[0][0], first_fold[1][0])


def test_the_positive_control_doubles_the_samples_and_only_order_solves_it():
    X, labels, subjects, ids = order_only_set()
    runs = run_arms(X, labels, subjects, ["trajectory", "mean"], sequence_ids=ids, protocol="7class",
                    reversed_task=True, repeats=1, seeds=[0], n_folds=3, epochs=20, progress=False)
    p, folds, m = runs.predictions, runs.folds, runs.metrics
    assert set(p["protocol"]) == {"7class:reversed"}
    assert p["class_names"].iloc[0].split("|") == list(REVERSED_CLASSES)
    assert len(folds) == 2 * len(X) and p.groupby("variant").size().tolist() == [2 * len(X)] * 2
    both = folds.groupby("sequence_id")["fold"].agg(["size", "nunique"])
    assert (both["size"] == 2).all() and (both["nunique"] == 1).all()  # both copies in one fold
    assert (p["y_true"] == p["sample_id"].str.endswith(":apex-to-onset")).all()
    acc = m.groupby("variant")["accuracy"].mean()
    assert acc["trajectory"] > 0.75  # the protocol's bar for the positive control
    assert (m.loc[m["variant"] == "mean", "accuracy"] == 0.5).all()  # both copies look alike to the mean arm
    assert (m["n_train"] % 2 == 0).all()


def test_appearance_runs_are_named_for_h2():
    X, labels, subjects, ids = toy_set()
    app = np.random.default_rng(0).normal(size=(len(X), 16))
    runs = run_arms(X, labels, subjects, ["trajectory", "apex"], sequence_ids=ids, protocol="7class",
                    appearance=app, **{**TINY, "seeds": [0], "epochs": 1})
    assert set(runs.predictions["variant"]) == {"trajectory+appearance", "apex+appearance"}
    assert set(runs.histories["epoch"]) == {1} and len(runs.histories) == 3 * 2


def test_run_arms_shows_a_progress_bar(capsys):
    X, labels, subjects, ids = toy_set()
    run_arms(X, labels, subjects, ["apex"], sequence_ids=ids, protocol="7class",
             **{**TINY, "seeds": [0], "epochs": 1, "progress": True})
    err = capsys.readouterr().err
    assert "landmark arms 7class" in err and "3/3" in err


def test_run_arms_refuses_bad_arguments():
    X, labels, subjects, ids = toy_set()
    args = (X, labels, subjects)
    kw = dict(sequence_ids=ids, protocol="7class", **TINY)
    with pytest.raises(ValueError, match=r"arms must be drawn from \['trajectory', 'apex', 'mean', 'two-frame'\]; "
                                         r"got unknown \['motion'\]"):
        run_arms(*args, ["trajectory", "motion"], **kw)
    with pytest.raises(ValueError, match="each of .* at most once"):
        run_arms(*args, ["apex", "apex"], **kw)
    with pytest.raises(ValueError, match=r"n_folds=10 needs at least 10 subjects; the 7class sequences \(42\) "
                                         r"come from 6"):
        run_arms(*args, ["apex"], **{**kw, "n_folds": 10})
    with pytest.raises(ValueError, match="n_folds must be an integer >= 3; got 2"):
        run_arms(*args, ["apex"], **{**kw, "n_folds": 2})
    with pytest.raises(ValueError, match=r"protocol must be one of \['7class', '6class'\]; got '8class'"):
        run_arms(*args, ["apex"], **{**kw, "protocol": "8class"})
    with pytest.raises(ValueError, match="two different controls"):
        run_arms(*args, ["apex"], labels_shuffled=True, reversed_task=True, **kw)
    with pytest.raises(ValueError, match=r"subjects must have shape \(42,\)"):
        run_arms(X, labels, subjects[:-1], ["apex"], **kw)
    with pytest.raises(ValueError, match="sequence_ids must be unique"):
        run_arms(*args, ["apex"], **{**kw, "sequence_ids": np.repeat(ids[:21], 2)})
    with pytest.raises(ValueError, match=r"seeds must be a count or a non-empty list of non-negative integers"):
        run_arms(*args, ["apex"], **{**kw, "seeds": []})
    with pytest.raises(ValueError, match=r"labels must be integers in 0..6"):
        run_arms(X, labels + 1, subjects, ["apex"], **kw)
