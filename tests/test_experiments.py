"""The subject-fold protocol and the predictions format."""

import numpy as np
import pandas as pd
import pytest
import torch

from fer_lib.data.ckplus import protocol_subset
from fer_lib.data.constants import CKPLUS_CLASSES
from fer_lib.evaluate.predictions import (
    class_names_of,
    load_run_predictions,
    metrics_table,
    paired_correctness,
    predictions_frame,
    save_predictions,
)
from fer_lib.models.cnn import build_model
from fer_lib.train.config import get_recipe
from fer_lib.train.folds import run_subject_folds


def test_protocol_subset_drops_contempt_and_reindexes():
    labels = np.array([0, 1, 2, 6])  # anger, contempt, disgust, surprise
    mask, new, names = protocol_subset(labels, "6class")
    assert mask.tolist() == [True, False, True, True]
    assert [names[i] for i in new] == ["anger", "disgust", "surprise"]
    mask, new, names = protocol_subset(labels, "7class")
    assert mask.all() and names == CKPLUS_CLASSES and new.tolist() == labels.tolist()
    with pytest.raises(ValueError, match=r"protocol must be one of \['7class', '6class'\]; got '5class'"):
        protocol_subset(labels, "5class")


def _frame(model, correct, seed=0):
    y = np.array([0, 1, 2, 0])
    probs = np.full((4, 3), 0.1)
    pred = np.where(correct, y, (y + 1) % 3)
    probs[np.arange(4), pred] = 0.8
    return predictions_frame(probs, y, ["a", "b", "c", "d"], ("x", "y", "z"), dataset="ckplus48",
                             protocol="7class", model=model, variant="v", seed=seed, split="test", fold=0)


def test_predictions_roundtrip_metrics_and_pairing(tmp_path):
    a = _frame("spatial", [True, True, False, False])
    b = _frame("hybrid", [True, False, True, True])
    save_predictions([a, b], tmp_path / "artifacts" / "05_hybrid")
    loaded = load_run_predictions(tmp_path)["05_hybrid"]
    assert class_names_of(loaded) == ("x", "y", "z")
    metrics = metrics_table(loaded).set_index("model")
    assert metrics.loc["spatial", "accuracy"] == 0.5 and metrics.loc["hybrid", "accuracy"] == 0.75
    # a table mixing two class sets: macro-F1 is over each group's own classes
    other = predictions_frame(np.eye(2)[[0, 1]], np.array([0, 1]), ["e", "f"], ("p", "q"), dataset="fer2013",
                              protocol="canonical", model="spatial", variant="v", seed=0, split="PrivateTest")
    mixed = metrics_table(pd.concat([a, other], ignore_index=True)).set_index("dataset")
    assert mixed.loc["fer2013", "macro_f1"] == 1.0
    assert mixed.loc["ckplus48", "macro_f1"] == metrics_table(a).loc[0, "macro_f1"]
    pairs = paired_correctness(loaded, {"model": "spatial"}, {"model": "hybrid"})
    assert pairs["correct_a"].tolist() == [True, True, False, False]
    assert pairs["correct_b"].tolist() == [True, False, True, True]
    with pytest.raises(ValueError, match="predicted by only one"):
        paired_correctness(pd.concat([a, b.iloc[:3]]), {"model": "spatial"}, {"model": "hybrid"})
    with pytest.raises(ValueError, match=r"probs must have shape \(n, n_classes\) = \(4, 2\)"):
        predictions_frame(np.ones((4, 3)) / 3, np.zeros(4), list("abcd"), ("x", "y"), dataset="d",
                          protocol="p", model="spatial", variant="v", seed=0, split="test")


@pytest.mark.parametrize("mode", ["frames", "clips"])
def test_run_subject_folds_is_subject_independent_and_learns(mode, moving_blob_clips):
    X, y, subjects = moving_blob_clips()
    folds = subjects % 4  # 4 folds of 2 subjects
    ids = [f"S{s}_{k}" for k, s in enumerate(subjects)]
    config = get_recipe("smoke", epochs=4, max_train_samples=None, batch_size=16, augment="none", tta="none")

    if mode == "frames":
        def make(n):
            return build_model("small", n, width=8)
    else:
        class ClipNet(torch.nn.Module):
            def __init__(self, n):
                super().__init__()
                self.net = build_model("small", n, width=8)

            def forward(self, x):  # (n, T, 1, H, W): frame difference carries the motion
                return self.net(x[:, -1] - x[:, 0])

        def make(n):
            return ClipNet(n)

    result = run_subject_folds(make, X, y, ids, folds, ("right", "left"), config, mode=mode, seeds=(0,),
                               dataset="toy", protocol="7class", model="spatial", variant=mode, progress=False)
    preds = result.predictions
    assert len(preds) == len(X)  # every clip tested exactly once per seed
    assert sorted(preds["sample_id"]) == sorted(ids)
    assert set(result.metrics["fold"]) == {0, 1, 2, 3}
    assert (result.metrics["val_fold"] == (result.metrics["fold"] + 1) % 4).all()
    assert (result.metrics["n_train"] == 16).all()  # 2 folds of 8 clips: test and validation held out
    assert result.metrics["accuracy"].mean() >= 0.75


def test_run_subject_folds_validates_input(moving_blob_clips):
    X, y, subjects = moving_blob_clips(n_subjects=4)
    with pytest.raises(ValueError, match=r"mode must be one of \['frames', 'clips'\]; got 'video'"):
        run_subject_folds(None, X, y, subjects, subjects, ("a", "b"), get_recipe("smoke"), mode="video",
                          dataset="d", protocol="p", model="spatial", variant="v")
    with pytest.raises(ValueError, match="at least 3 folds"):
        run_subject_folds(None, X, y, subjects, subjects % 2, ("a", "b"), get_recipe("smoke"), mode="clips",
                          dataset="d", protocol="p", model="spatial", variant="v")


def test_metrics_table_is_the_one_scorer_and_fold_table_puts_folds_side_by_side():
    from fer_lib.evaluate.predictions import SCORE_COLUMNS, fold_table

    a = _frame("spatial", [True, True, False, False])
    scores = metrics_table(a)
    assert list(scores.columns) == ["dataset", "protocol", "model", "variant", "seed", "fold", "split",
                                    *SCORE_COLUMNS]
    mixed = a.assign(class_names=["x|y|z", "x|y|z", "x|y", "x|y"])
    with pytest.raises(ValueError, match=r"mixes the class lists \['x\|y\|z', 'x\|y'\]"):
        metrics_table(mixed)
    rows = pd.DataFrame({"model": ["m"] * 4, "variant": ["a", "a", "b", "b"], "seed": [0, 1, 0, 0],
                         "fold": [3, 3, 3, 5], "accuracy": [0.5, 0.7, 0.2, 0.4]})
    table = fold_table(rows, columns=("model", "variant"), flatten=True)
    assert list(table.columns) == ["m/a", "m/b"] and list(table.index) == [3, 5, "mean", "sd"]
    assert table.loc[3, "m/a"] == pytest.approx(0.6) and np.isnan(table.loc[5, "m/a"])
    assert table.loc["mean", "m/b"] == pytest.approx(0.3)
    assert table.loc["sd", "m/b"] == pytest.approx(np.std([0.2, 0.4], ddof=1))
    with pytest.raises(ValueError, match=r"value must be one of .*; got 'auc'"):
        fold_table(rows, "auc")
    with pytest.raises(ValueError, match=r"missing \['protocol'\]"):
        fold_table(rows)
