"""Notebook 05's steps in fer_lib.experiments.hybrid: CNN start, fold runs with the matched control, checkpoint."""

import numpy as np
import pandas as pd
import pytest

from fer_lib.experiments import hybrid
from fer_lib.faces.sequences import ClipData
from fer_lib.models.checkpoint import load_checkpoint
from fer_lib.train.config import TrainConfig
from fer_lib.train.head import head_warmup

TINY = {"cnn": "small", "cnn_kwargs": {"width": 4, "fc_dim": 16}}
MODEL_ARGS = {"rnn": "lstm", "rnn_inputs": "features", "hidden_size": 8, "fc_dim": 8, "fusion_dim": 8,
              "dropout": 0.0, **TINY}
CONFIG = TrainConfig(epochs=1, batch_size=4, dropout=0.0, device="cpu", tta="none")


@pytest.fixture(scope="module")
def clips():
    """12 clips of 3 frames (48x48), 2 classes, 3 folds of 2 subjects each."""
    rng = np.random.default_rng(0)
    n = 12
    return ClipData(X=rng.integers(0, 256, (n, 3, 48, 48), dtype=np.uint8), y=np.arange(n) % 2,
                    sample_ids=np.array([f"S{i // 2:03d}_{i % 2 + 1:03d}" for i in range(n)]),
                    subjects=np.array([f"S{i // 2:03d}" for i in range(n)]),
                    folds=np.repeat([0, 1, 2], 4).astype(np.int64), class_names=("anger", "happy"), protocol="7class")


def test_choose_cnn_start_from_scratch_and_from_a_checkpoint(tiny_checkpoint, clips):
    start = hybrid.choose_cnn_start("scratch", None, clips.X, "small", {"width": 4})
    assert start.arch == {"cnn": "small", "cnn_kwargs": {"width": 4}} and start.warning is None
    assert start.text == "**trained from scratch** (small {'width': 4}, random weights): `cnn_init='scratch'`"
    assert start.summary == {"requested": "scratch", "used": "scratch", "fer2013_embedding_health": None,
                             "architecture": ("small", {"width": 4})}
    ckpt = tiny_checkpoint(width=8)
    start = hybrid.choose_cnn_start("fer2013", ckpt, clips.X, "small", {"width": 4})
    health = start.summary["fer2013_embedding_health"]
    assert health["n_units"] == 128 and 0 <= health["n_constant"] <= 128  # SmallCNN's default fc_dim=128 embedding
    if health["degenerate"]:  # a one-epoch model on noise may collapse: then it is not used, and says why
        assert start.summary["used"] == "scratch" and "degenerate" in start.warning
    else:
        assert start.summary["used"] == ckpt.name and set(start.arch) == {"cnn_init"}
        assert start.text.startswith(f"initialised from notebook 03's `{ckpt.name}` (small {{'width': 8")
    with pytest.raises(ValueError, match=r"cnn_init must be one of \['fer2013', 'scratch'\]; got 'imagenet'"):
        hybrid.choose_cnn_start("imagenet", None, clips.X, "small", {})


def test_train_hybrid_folds_runs_every_variant_and_the_matched_control(clips):
    runs = hybrid.train_hybrid_folds({"7class": clips}, ["cnn-rnn"], CONFIG, MODEL_ARGS, augment_preset="light",
                                     seeds=[0], view_sets={"7class": []}, fer_clips={}, prepare=head_warmup(1),
                                     spatial_control="always")
    assert list(runs.runs) == [("7class", "cnn-rnn")] and list(runs.controls) == ["7class"]
    assert set(runs.wall) == {("7class", "cnn-rnn"), ("7class", "hybrid-cnn-frames")}
    assert runs.lines[0].startswith("7class cnn-rnn: 3 fold runs in ")
    assert runs.lines[1].startswith("7class spatial control: trained in ")
    pred = runs.predictions
    assert pred.groupby("model")["sample_id"].nunique().to_dict() == {"hybrid": 12, "spatial": 12}
    assert set(runs.histories["variant"]) == {"cnn-rnn", "hybrid-cnn-frames"}
    assert len(runs.metrics) == 6  # 3 folds x (hybrid, control)
    cost = hybrid.training_cost(runs, frames_per_clip=3)
    assert cost[["protocol", "variant", "fold runs"]].to_dict(orient="records") == [
        {"protocol": "7class", "variant": "cnn-rnn", "fold runs": 3}]
    assert cost.loc[0, "frames/s"] == pytest.approx(3 * cost.loc[0, "clips/s"], rel=0.01)
    never = hybrid.train_hybrid_folds({"7class": clips}, [], CONFIG, MODEL_ARGS, augment_preset="light", seeds=[0],
                                      view_sets={"7class": []}, fer_clips={}, prepare=None, spatial_control="never")
    assert never.lines == ("7class: spatial control not trained (spatial_control='never')",) and not never.controls
    with pytest.raises(ValueError, match=r"spatial_control must be one of \['always', 'never'\]; got 'auto'"):
        hybrid.train_hybrid_folds({"7class": clips}, [], CONFIG, MODEL_ARGS, augment_preset="light", seeds=[0],
                                  view_sets={}, fer_clips={}, prepare=None, spatial_control="auto")


def test_claims_table_puts_the_measured_beside_the_claimed():
    side = {"7class": pd.DataFrame({"hybrid/cnn-rnn": [0.8, 0.9, 0.85, 0.05]}, index=[0, 1, "mean", "sd"])}
    table = hybrid.claims_table(side)
    assert table.to_dict(orient="records") == [
        {"protocol": "7class", "model": "hybrid/cnn-rnn", "accuracy (%)": "85.0 ± 5.0",
         "protocol used": "2 subject-independent folds, mean ± sd over folds", "kind": "measured here"},
        {"protocol": "CK+", "model": "hybrid CNN-LSTM (seed paper A)", "accuracy (%)": "88.4",
         "protocol used": "the paper's own train/test split (classes and subject separation not stated)",
         "kind": "claimed, not measured here"}]


def test_train_video_checkpoint_holds_out_the_validation_fold(clips, tmp_path):
    path, meta, seconds = hybrid.train_video_checkpoint(
        clips, "cnn-rnn", 2, CONFIG, MODEL_ARGS, tmp_path / "hybrid_ckplus.pt", augment_preset="light",
        head_epochs=1, head_lr=1e-3, seed=0, data_set="synthetic CK+48")
    assert path == tmp_path / "hybrid_ckplus.pt" and seconds > 0
    model, saved = load_checkpoint(path, device="cpu")  # the file holds the model and the metadata returned
    assert saved == meta and saved["class_names"] == ["anger", "happy"]
    assert type(model).__name__ == "HybridCNNRNN" and model.n_classes == 2 and model.rnn.hidden_size == 8
    assert meta["trained_on"] == "CK+48 7class clips of folds [0, 1] (8 clips)"
    assert meta["selected_on"] == "CK+48 fold 2 (4 clips): epoch with the best accuracy"
    assert meta["frames_per_clip"] == 3 and meta["variant"] == "cnn-rnn" and meta["cnn_init"] == "scratch"
    assert not (tmp_path / "hybrid_ckplus_training" / "last.pt").exists()
    with pytest.raises(ValueError, match=r"checkpoint_val_fold must be one of \[0, 1, 2\]; got 7"):
        hybrid.train_video_checkpoint(clips, "cnn-rnn", 7, CONFIG, MODEL_ARGS, tmp_path / "x.pt",
                                      augment_preset="light", head_epochs=0, head_lr=1e-3, seed=0)
