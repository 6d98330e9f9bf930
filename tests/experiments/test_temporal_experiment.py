"""Notebook 04's steps (fer_lib.experiments.temporal) and the fold bookkeeping shared with notebook 05."""

import numpy as np
import pandas as pd
import pytest

from fer_lib.experiments import hybrid
from fer_lib.experiments import temporal as study
from fer_lib.faces.sequences import ClipData, fold_metrics, onset_summary
from fer_lib.train.config import TrainConfig

CONFIG = TrainConfig(epochs=1, batch_size=4, dropout=0.0, device="cpu", tta="none")


def scores():
    rows = []
    for protocol, variant, accs in (("7class", "lstm", [0.5, 1.0, 0.75]), ("7class", "gru", [0.25, 0.5, 0.75])):
        for fold, acc in enumerate(accs):
            for seed, shift in ((0, -0.05), (1, 0.05)):
                rows.append({"protocol": protocol, "variant": variant, "fold": fold, "seed": seed,
                             "accuracy": acc + shift, "macro_precision": acc, "macro_recall": acc, "macro_f1": acc / 2})
    return pd.DataFrame(rows)


def test_fold_table_averages_seeds_within_folds_then_folds():
    per_fold, macro = study.fold_table(scores())
    assert list(per_fold.index) == [0, 1, 2, "mean", "sd"]
    assert per_fold[("7class", "lstm")].round(6).tolist()[:4] == [0.5, 1.0, 0.75, 0.75]
    assert per_fold.loc["sd", ("7class", "lstm")] == pytest.approx(0.25)
    assert macro.loc[("7class", "gru"), ("macro_f1", "mean")] == pytest.approx(0.25)


def test_notebook_summary_of_the_temporal_runs():
    per_fold, macro = study.fold_table(scores())
    run_metrics = pd.DataFrame({"protocol": ["7class"] * 3, "variant": ["lstm", "lstm", "gru"],
                                "split": ["test", "first50pct", "test"], "seconds": [2.0, 9.0, 3.0]})
    onset = pd.DataFrame({"protocol": ["7class"] * 2, "variant": ["lstm"] * 2, "fraction": [0.5, 1.0],
                          "accuracy": [0.41234, 0.9]})
    out = study.notebook_summary(CONFIG, {"hidden_size": 8}, [0, 1], per_fold, macro, run_metrics, onset=onset)
    assert out["model"] == {"family": "temporal", "hidden_size": 8} and out["seeds"] == [0, 1]
    assert out["ckplus48"]["7class/lstm"] == {"mean": pytest.approx(0.75), "sd": pytest.approx(0.25),
                                              "per_fold": [0.5, 1.0, 0.75], "macro_f1_mean": pytest.approx(0.375),
                                              "train_seconds": 2.0}
    assert out["onset_to_apex"] == {"sampling": "window", "accuracy": {"7class/lstm": {"0.5": 0.4123, "1.0": 0.9}}}
    assert "onset_to_apex" not in study.notebook_summary(CONFIG, {}, [0], per_fold, macro, run_metrics)


def test_onset_summary_keys_and_sampling_check():
    onset = pd.DataFrame({"protocol": ["6class", "7class"], "model": ["hybrid", "spatial"],
                          "variant": ["cnn-rnn", "hybrid-cnn-frames"], "fraction": [0.25, 0.25],
                          "accuracy": [0.5, 0.6]})
    assert onset_summary(onset, "resample") == {"sampling": "resample", "accuracy": {
        "6class/hybrid/cnn-rnn": {"0.25": 0.5}, "7class/spatial/hybrid-cnn-frames": {"0.25": 0.6}}}
    with pytest.raises(ValueError, match=r"sampling must be one of \['window', 'resample'\]; got 'all'"):
        onset_summary(onset, "all")


def test_fold_metrics_joins_the_run_info_and_names_missing_columns():
    from fer_lib.evaluate.predictions import predictions_frame

    pred = predictions_frame(np.eye(2)[[0, 1, 1]], np.array([0, 1, 0]), ["a", "b", "c"], ("x", "y"),
                             dataset="ckplus48", protocol="7class", model="temporal", variant="lstm", seed=0,
                             split="test", fold=3)
    runs = pd.DataFrame([{"dataset": "ckplus48", "protocol": "7class", "model": "temporal", "variant": "lstm",
                          "seed": 0, "fold": 3, "split": "test", "val_fold": 4, "best_epoch": 2, "n_train": 10,
                          "n_test": 3, "seconds": 1.5}])
    out = fold_metrics(pred, runs)
    assert out[["fold", "accuracy", "val_fold", "best_epoch", "seconds"]].to_dict(orient="records") == [
        {"fold": 3, "accuracy": pytest.approx(2 / 3), "val_fold": 4, "best_epoch": 2, "seconds": 1.5}]
    with pytest.raises(ValueError, match=r"missing \['best_epoch'\]"):
        fold_metrics(pred, runs.drop(columns="best_epoch"))


def test_train_temporal_folds_on_tiny_clips():
    rng = np.random.default_rng(0)
    clips = ClipData(X=rng.integers(0, 256, (12, 3, 48, 48), dtype=np.uint8), y=np.arange(12) % 2,
                     sample_ids=np.array([f"S{i:03d}_001" for i in range(12)]),
                     subjects=np.array([f"S{i:03d}" for i in range(12)]), folds=np.repeat([0, 1, 2], 4),
                     class_names=("anger", "happy"), protocol="7class")
    runs, lines = study.train_temporal_folds({"7class": clips}, ["gru"], CONFIG,
                                             {"hidden_size": 4, "pool_size": 6, "dropout": 0.0}, seeds=[0],
                                             view_sets={})
    assert list(runs) == [("7class", "gru")] and lines[0].startswith("7class gru: 3 fold runs in ")
    assert runs[("7class", "gru")].predictions["sample_id"].nunique() == 12
    with pytest.raises(ValueError, match="rnns must be drawn from"):
        study.train_temporal_folds({"7class": clips}, ["rnn"], CONFIG, {}, seeds=[0], view_sets={})


def test_hybrid_notebook_summary():
    side = {"7class": pd.DataFrame({"hybrid/cnn-rnn": [0.8, 0.9, 0.85, 0.05]}, index=[0, 1, "mean", "sd"])}
    runs = hybrid.HybridRuns({}, {}, {("7class", "cnn-rnn"): 12.345}, ())
    out = hybrid.notebook_summary(CONFIG, {"rnn": "lstm", "cnn_init": object()}, [0], side, pd.DataFrame([{"a": 1}]),
                                  runs, {"file": "hybrid_ckplus.pt"})
    assert out["model"] == {"rnn": "lstm"} and out["wall_seconds_per_run"] == {"7class/cnn-rnn": 12.3}
    assert out["ckplus48"] == {"7class": {"hybrid/cnn-rnn": {"mean": 0.85, "sd": 0.05, "per_fold": [0.8, 0.9]}}}
    assert out["throughput"] == [{"a": 1}] and out["checkpoint"] == {"file": "hybrid_ckplus.pt"}
    assert out["claimed_ckplus_hybrid_accuracy"] == hybrid.CLAIMED_CKPLUS_HYBRID_ACCURACY
