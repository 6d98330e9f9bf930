"""The training loop, prediction, evaluation and checkpoints, on a tiny toy problem.

A ~23k-parameter SmallCNN (width 8) learns 4 classes of 24x24 images that
differ by which region is bright; a few epochs on 64 images take about a
second on one CPU core.
"""

import re

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from fer_lib.core.reproducibility import seed_everything
from fer_lib.models.checkpoint import CHECKPOINT_KEYS, load_checkpoint
from fer_lib.models.cnn import build_model
from fer_lib.train.config import RECIPES, TrainConfig, get_recipe
from fer_lib.train.data import DeviceDataset, normalization_stats
from fer_lib.train.loop import HISTORY_COLUMNS, train_model
from fer_lib.train.predict import evaluate, predict

CLASSES = ("top", "bottom", "centre", "dark")
#: History columns that do not depend on timing.
DETERMINISTIC_COLUMNS = [c for c in HISTORY_COLUMNS if c not in ("seconds", "images_per_s")]


def toy(n, size=24, seed=0):
    """uint8 images (n, size, size): class 0/1/2 = bright top/bottom/centre, class 3 = dark only."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    X = rng.integers(0, 70, size=(n, size, size)).astype(np.uint8)
    h, q = size // 2, size // 4
    for i, c in enumerate(y):
        if c == 0:
            X[i, :h] += 150
        elif c == 1:
            X[i, h:] += 150
        elif c == 2:
            X[i, q:q + h, q:q + h] += 150
    return X, y


@pytest.fixture(scope="module")
def data():
    return toy(64, seed=0), toy(32, seed=1)


def tiny_model(seed=0):
    seed_everything(seed)
    return build_model("small", 4, dropout=0.0, width=8)


def config(**kw):
    base = dict(epochs=4, batch_size=16, lr=3e-3, optimizer="adamw", schedule="cosine", dropout=0.0, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    model = tiny_model()
    result = train_model(model, data[0], data[1], config(epochs=5), out_dir=out, progress=False, class_names=CLASSES,
                         preprocessing="synthetic toy images")
    return model, result, out


def test_learns_toy_problem_and_restores_best_epoch(data, trained):
    model, result, _ = trained
    assert result.completed and result.stop_reason == "epochs" and result.epochs_run == 5
    hist = result.history
    assert list(hist.columns) == list(HISTORY_COLUMNS) and list(hist.epoch) == [1, 2, 3, 4, 5]
    assert result.best_val_acc >= 0.9
    best = hist.val_acc.idxmax()
    assert result.best_epoch == hist.epoch[best] and result.best_val_acc == hist.val_acc[best]
    # The model holds the best epoch's weights: its validation accuracy is the best one.
    X_val, y_val = data[1]
    probs = predict(model, X_val, 8)
    assert probs.shape == (32, 4)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    assert (probs.argmax(1) == y_val).mean() == pytest.approx(result.best_val_acc)


def test_outputs_written_with_metadata(trained):
    _, result, out = trained
    hist = pd.read_csv(out / "history.csv")
    assert list(hist.columns) == list(HISTORY_COLUMNS) and len(hist) == 5
    pd.testing.assert_frame_equal(hist[DETERMINISTIC_COLUMNS], result.history[DETERMINISTIC_COLUMNS], check_dtype=False)
    ckpt = torch.load(out / "best.pt", weights_only=True)
    meta = ckpt["metadata"]
    for key in CHECKPOINT_KEYS:
        assert key in meta
    assert meta["class_names"] == list(CLASSES)
    assert meta["input_shape"] == [24, 24]
    assert meta["epoch"] == result.best_epoch
    assert meta["val_metrics"]["val_acc"] == result.best_val_acc
    assert meta["normalization"]["method"] == "standardize" and 0 < meta["normalization"]["std"]
    assert "synthetic toy images" in meta["preprocessing"] and "/ 255" in meta["preprocessing"]
    assert meta["model_spec"]["kwargs"] == {"name": "small", "n_classes": 4, "dropout": 0.0, "width": 8}
    assert meta["recipe"]["optimizer"] == "adamw" and meta["recipe"]["augment_params"]["crop"] == "none"
    assert (out / "last.pt").is_file() and result.checkpoint_path == out / "best.pt"


def test_load_checkpoint_round_trip(data, trained):
    model, _, out = trained
    X_val = data[1][0]
    loaded, meta = load_checkpoint(out / "best.pt", device="cpu")
    assert not loaded.training and meta["class_names"] == list(CLASSES)
    for tta in ("none", "flip", "tencrop"):
        np.testing.assert_array_equal(predict(loaded, X_val, 16, tta=tta), predict(model, X_val, 16, tta=tta))
    # The checkpoint refuses inputs of another size (other preprocessing).
    with pytest.raises(ValueError, match=re.escape("X must have samples of shape (24, 24)")):
        predict(loaded, toy(4, size=32)[0])


def test_checkpoints_of_the_flat_package_still_load_and_resume(data, tmp_path):
    # checkpoints written before fer_lib's subpackages record "fer_lib.models:build_model"
    cfg = config(epochs=2)
    train_model(tiny_model(), data[0], data[1], cfg, out_dir=tmp_path, progress=False)
    for name in ("best.pt", "last.pt"):
        ckpt = torch.load(tmp_path / name, map_location="cpu", weights_only=True)
        assert ckpt["metadata"]["model_spec"]["factory"] == "fer_lib.models.cnn:build_model"
        ckpt["metadata"]["model_spec"]["factory"] = "fer_lib.models:build_model"
        torch.save(ckpt, tmp_path / name)
    model, meta = load_checkpoint(tmp_path / "best.pt", device="cpu")
    assert meta["model_spec"]["factory"] == "fer_lib.models.cnn:build_model"
    assert model.model_spec["factory"] == "fer_lib.models.cnn:build_model"
    again = train_model(tiny_model(), data[0], data[1], cfg, out_dir=tmp_path, progress=False, resume=True)
    assert again.completed and again.epochs_run == 2


def test_same_seed_same_history(data):
    cfg = config(epochs=2, augment="light", schedule="onecycle")
    runs = [train_model(tiny_model(), data[0], data[1], cfg, progress=False).history for _ in range(2)]
    pd.testing.assert_frame_equal(runs[0][DETERMINISTIC_COLUMNS], runs[1][DETERMINISTIC_COLUMNS])


@pytest.mark.parametrize("schedule", ["cosine", "plateau"])
def test_resume_matches_uninterrupted_run(data, tmp_path, schedule):
    cfg = config(epochs=4, augment="standard", optimizer="sgd", lr=0.02, schedule=schedule, plateau_patience=0,
                 dropout=0.3, label_smoothing=0.1)
    seed_everything(0)
    full_model = build_model("small", 4, dropout=0.3, width=8)
    full = train_model(full_model, data[0], data[1], cfg, out_dir=tmp_path / "full", progress=False)

    seed_everything(0)
    part = train_model(build_model("small", 4, dropout=0.3, width=8), data[0], data[1], cfg,
                       out_dir=tmp_path / "split", progress=False, max_epochs_this_run=2)
    assert not part.completed and part.stop_reason == "epoch_budget" and part.epochs_run == 2
    # A new session: a freshly built (differently initialised) model picks up last.pt.
    seed_everything(123)
    resumed_model = build_model("small", 4, dropout=0.3, width=8)
    resumed = train_model(resumed_model, data[0], data[1], cfg, out_dir=tmp_path / "split", progress=False,
                          resume=True)
    assert resumed.completed and resumed.epochs_run == 4
    pd.testing.assert_frame_equal(resumed.history[DETERMINISTIC_COLUMNS], full.history[DETERMINISTIC_COLUMNS])
    for k, v in full_model.state_dict().items():
        assert torch.equal(v, resumed_model.state_dict()[k]), k
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "split" / "history.csv")[DETERMINISTIC_COLUMNS],
                                  pd.read_csv(tmp_path / "full" / "history.csv")[DETERMINISTIC_COLUMNS])
    # Resuming a finished run does not train again.
    again = train_model(build_model("small", 4, dropout=0.3, width=8), data[0], data[1], cfg,
                        out_dir=tmp_path / "split", progress=False, resume=True)
    assert again.completed and len(again.history) == 4 and again.best_epoch == resumed.best_epoch


def test_time_budget_and_resume_guards(data, tmp_path):
    cfg = config(epochs=3)
    r = train_model(tiny_model(), data[0], data[1], cfg, out_dir=tmp_path, progress=False, max_minutes=0)
    assert not r.completed and r.stop_reason == "time_budget" and r.epochs_run == 1
    with pytest.raises(ValueError, match=r"cannot resume .* recipe differs .*\['lr'\]"):
        train_model(tiny_model(), data[0], data[1], config(epochs=3, lr=1e-2), out_dir=tmp_path, progress=False,
                    resume=True)
    with pytest.raises(ValueError, match="cannot resume .* data_fingerprint differs"):
        train_model(tiny_model(), toy(64, seed=5), data[1], cfg, out_dir=tmp_path, progress=False, resume=True)
    r = train_model(tiny_model(), data[0], data[1], cfg, out_dir=tmp_path, progress=False, resume=True)
    assert r.completed and r.epochs_run == 3 and len(r.history) == 3
    # the test-time augmentation plays no part in training: a finished run is reused under another tta
    other_tta = "shift" if cfg.tta != "shift" else "flip"
    again = train_model(tiny_model(), data[0], data[1], config(epochs=3, tta=other_tta), out_dir=tmp_path,
                        progress=False, resume=True)
    assert again.completed and again.epochs_run == 3 and again.best_epoch == r.best_epoch


def test_early_stopping(data):
    # lr=1e-9: nothing improves after epoch 1, so patience 2 stops after epoch 3.
    r = train_model(tiny_model(), data[0], data[1], config(epochs=10, lr=1e-9, early_stopping_patience=2),
                    progress=False)
    assert r.stop_reason == "early_stopping" and r.completed and r.epochs_run == 3 and r.best_epoch == 1


def test_max_train_samples_and_sequences(data):
    (X, y), (Xv, yv) = data
    r = train_model(tiny_model(), (X, y), (Xv, yv), config(epochs=1, max_train_samples=32), progress=False)
    assert r.metadata["n_train"] == 32 and r.history.images_per_s[0] > 0

    class ClipAverage(torch.nn.Module):
        """Stand-in for the hybrid: runs the CNN on every frame of (n, T, 1, H, W) and averages features."""

        def __init__(self):
            super().__init__()
            self.cnn = build_model("small", 4, dropout=0.0, width=8)
            self.n_classes = 4

        def forward(self, x):
            n, t = x.shape[:2]
            f = self.cnn.features(x.flatten(0, 1)).view(n, t, -1).mean(1)
            return self.cnn.classifier(f)

    clips = np.stack([X, X[::-1].copy(), X], axis=1)  # (64, 3, 24, 24)
    seed_everything(0)
    model = ClipAverage()
    r = train_model(model, (clips, y), (np.stack([Xv] * 3, 1), yv), config(epochs=2, augment="standard"),
                    progress=False)
    assert r.metadata["input_shape"] == [3, 24, 24] and r.metadata["is_sequence"]
    assert predict(model, np.stack([Xv] * 3, 1), tta="flip").shape == (32, 4)


def test_device_dataset(data):
    X, y = data[0]
    ds = DeviceDataset(X, y)
    stats = normalization_stats(X)
    assert stats["mean"] == pytest.approx(X.mean() / 255) and stats["std"] == pytest.approx(X.std() / 255)
    batches = list(ds.iter_batches(20, shuffle=True, generator=torch.Generator().manual_seed(0), drop_last=True))
    assert len(batches) == 3 and batches[0][0].shape == (20, 1, 24, 24)
    xs = torch.cat([b for b, _ in ds.iter_batches(64)])
    assert xs.mean().item() == pytest.approx(0, abs=1e-5) and xs.std().item() == pytest.approx(1, abs=1e-3)
    clips = DeviceDataset(np.stack([X, X], 1), y, normalization=stats)
    assert clips.is_sequence and clips.batch(torch.arange(4))[0].shape == (4, 2, 1, 24, 24)
    scaled, _ = DeviceDataset(X, normalization=normalization_stats(X, "scale")).batch(torch.arange(2))
    torch.testing.assert_close(scaled[:, 0], torch.from_numpy(X[:2]).float() / 255)


def test_evaluate_matches_sklearn():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4), size=50)
    y = rng.integers(0, 4, size=50)
    y[:3] = 3
    res = evaluate(probs, y, CLASSES)
    pred = probs.argmax(1)
    assert res["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert res["macro_f1"] == pytest.approx(f1_score(y, pred, average="macro", labels=range(4), zero_division=0))
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=range(4), zero_division=0)
    np.testing.assert_allclose(res["per_class"][["precision", "recall", "f1"]].to_numpy(), np.c_[p, r, f])
    assert list(res["per_class"].index) == list(CLASSES) and res["per_class"]["support"].sum() == 50
    assert res["confusion_matrix"].shape == (4, 4) and res["confusion_matrix"].sum() == 50
    assert np.trace(res["confusion_matrix"]) == (pred == y).sum()


def test_recipes():
    assert set(RECIPES) == {"paper", "ours", "short", "cpu", "smoke"}
    cpu = get_recipe("cpu")
    assert (cpu.optimizer, cpu.nesterov, cpu.schedule, cpu.label_smoothing, cpu.augment) == (
        "sgd", True, "cosine", 0.1, "light")
    paper = get_recipe("paper")
    assert (paper.optimizer, paper.lr, paper.batch_size, paper.dropout) == ("adam", 1e-4, 32, 0.5)
    ours = get_recipe("ours", epochs=5)
    assert ours.epochs == 5 and ours.label_smoothing == 0.1 and ours.augment == "standard" and ours.tta == "tencrop"
    smoke = get_recipe("smoke")  # tiny: 3 epochs on 512 images
    assert (smoke.epochs, smoke.max_train_samples, smoke.optimizer, smoke.tta) == (3, 512, "adamw", "flip")


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: TrainConfig(optimizer="rmsprop"), "optimizer must be one of ['adam', 'adamw', 'sgd']; got 'rmsprop'"),
        (lambda: TrainConfig(schedule="step"), "schedule must be one of ['cosine', 'plateau', 'onecycle', 'none']"),
        (lambda: TrainConfig(augment="heavy"), "augment must be one of ['none', 'light', 'standard']; got 'heavy'"),
        (lambda: TrainConfig(device="tpu"), "device must be one of ['auto', 'cpu', 'cuda']; got 'tpu'"),
        (lambda: TrainConfig(tta="fivecrop"), "tta must be one of ['none', 'flip', 'tencrop', 'shift']; got 'fivecrop'"),
        (lambda: TrainConfig(epochs=0), "epochs must be an integer >= 1; got 0"),
        (lambda: TrainConfig(lr=-1.0), "lr must be a number in (0.0, inf]; got -1.0"),
        (lambda: get_recipe("fast"), "name must be one of ['paper', 'ours', 'short', 'cpu', 'smoke']; got 'fast'"),
        (lambda: get_recipe("ours", epoch=3), "got unknown ['epoch']"),
        (lambda: evaluate(np.ones((3, 2)), np.array([0, 1, 2])), "y must be in 0..1"),
        (lambda: normalization_stats(np.zeros((2, 4, 4), np.uint8), "zscore"), "normalization must be one of"),
    ],
)
def test_validation_messages(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_train_model_input_errors(data, tmp_path):
    (X, y), val = data
    model = tiny_model()
    with pytest.raises(ValueError, match=re.escape("train[0] (X) must be a uint8 array of shape (n, H, W)")):
        train_model(model, (X.astype(np.float32), y), val, config(), progress=False)
    with pytest.raises(ValueError, match=re.escape("train labels must be in 0..3")):
        train_model(model, (X, y + 1), val, config(), progress=False)
    with pytest.raises(ValueError, match="class_names must have 4 entries"):
        train_model(model, (X, y), val, config(), progress=False, class_names=("a", "b"))
    with pytest.raises(ValueError, match="need out_dir"):
        train_model(model, (X, y), val, config(), progress=False, resume=True)
    with pytest.raises(ValueError, match="model has no model_spec"):
        train_model(torch.nn.Linear(2, 2), (X, y), val, config(), out_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="model has no recorded preprocessing"):
        predict(tiny_model(), X)


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")
    torch.save(tiny_model().state_dict(), tmp_path / "bare.pt")
    with pytest.raises(ValueError, match="not a fer_lib checkpoint"):
        load_checkpoint(tmp_path / "bare.pt")
    torch.save({"state_dict": {}, "metadata": {"class_names": ["a"]}}, tmp_path / "partial.pt")
    with pytest.raises(ValueError, match="lacks the metadata"):
        load_checkpoint(tmp_path / "partial.pt")


# --------------------------------------------------------------------------- CPU runtime


def test_cpu_runtime_follows_native_bf16(monkeypatch):
    """bf16 autocast on a CPU with native bf16, float32 elsewhere; channels-last on CPU either way."""
    from fer_lib.train import runtime

    cfg = get_recipe("cpu", device="cpu")
    monkeypatch.setattr(runtime, "cpu_bf16_supported", lambda: True)
    rt = runtime.Runtime.from_config(cfg)
    assert rt.amp_dtype == torch.bfloat16 and rt.channels_last and rt.precision == "bf16-autocast"
    monkeypatch.setenv(runtime.CPU_BF16_ENV, "0")
    assert runtime.Runtime.from_config(cfg).precision == "fp32"
    monkeypatch.delenv(runtime.CPU_BF16_ENV)
    assert runtime.Runtime.from_config(replace_cfg(cfg, amp=False)).precision == "fp32"
    monkeypatch.setattr(runtime, "cpu_bf16_supported", lambda: False)
    rt = runtime.Runtime.from_config(cfg)
    assert rt.amp_dtype is None and rt.channels_last and rt.precision == "fp32"
    info = rt.describe()
    assert info["device"] == "cpu" and info["cpu_bf16"] is False and info["threads"] == torch.get_num_threads()
    text = runtime.runtime_text(info)
    assert text.startswith("cpu, fp32 (no native bf16: ") and "channels-last" in text
    assert runtime.Runtime.from_config(replace_cfg(cfg, channels_last=False)).channels_last is False


def replace_cfg(cfg, **changes):
    from dataclasses import replace

    return replace(cfg, **changes)


def test_bf16_training_step_keeps_float32_weights_and_loss(data, monkeypatch):
    """The CPU bf16 path trains (forced on, emulated where the CPU lacks bf16) and records its precision."""
    from fer_lib.train import runtime

    monkeypatch.setattr(runtime, "cpu_bf16_supported", lambda: True)
    (X, y), (Xv, yv) = data
    model = tiny_model()
    r = train_model(model, (X, y), (Xv, yv), config(epochs=1), progress=False)
    assert r.metadata["runtime"]["precision"] == "bf16-autocast" and r.metadata["runtime"]["channels_last"]
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert np.isfinite(r.history["train_loss"]).all()


def test_cpu_threads(monkeypatch):
    from fer_lib.train import runtime

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv(runtime.THREADS_ENV, "1")
        assert runtime.cpu_threads() == 1 == torch.get_num_threads()
        monkeypatch.setenv(runtime.THREADS_ENV, "two")
        with pytest.raises(ValueError, match="FER_NUM_THREADS must be a positive integer; got 'two'"):
            runtime.cpu_threads()
        monkeypatch.delenv(runtime.THREADS_ENV)
        with pytest.raises(ValueError, match="n_threads must be an integer >= 1; got 0"):
            runtime.cpu_threads(0)
        assert runtime.cpu_threads(before) == before
    finally:
        torch.set_num_threads(before)


def test_runtime_is_in_checkpoint_and_log(data, tmp_path, capsys):
    (X, y), (Xv, yv) = data
    r = train_model(tiny_model(), (X, y), (Xv, yv), config(epochs=1), out_dir=tmp_path, progress=True)
    _, meta = load_checkpoint(tmp_path / "best.pt", device="cpu")
    assert meta["runtime"] == r.metadata["runtime"] and meta["runtime"]["device"] == "cpu"
    assert "train_model: cpu, " in capsys.readouterr().out
