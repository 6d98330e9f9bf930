"""The predictions format and the one scorer (fer_lib.evaluate.predictions)."""

import numpy as np
import pandas as pd
import pytest

from fer_lib.evaluate.predictions import (
    class_names_of,
    load_run_predictions,
    metrics_table,
    paired_correctness,
    predictions_frame,
    save_predictions,
)


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
