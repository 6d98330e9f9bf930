"""Temporal-only and hybrid CNN-RNN models: shapes, options, order sensitivity, checkpoints, CNN initialisation."""

import numpy as np
import pandas as pd
import pytest
import torch

from fer_lib.core.reproducibility import seed_everything
from fer_lib.experiments.hybrid import (
    HYBRID_VARIANTS,
    export_checkpoint,
    hybrid_configuration,
    training_throughput,
    variant_config,
)
from fer_lib.models.checkpoint import load_checkpoint
from fer_lib.models.init import load_cnn_init
from fer_lib.models.temporal import (
    HybridCNNRNN,
    build_frame_cnn,
    build_hybrid,
    build_temporal,
    motion_features,
)
from fer_lib.train.config import get_recipe
from fer_lib.train.head import embedding_health, fit_head, head_warmup
from fer_lib.train.loop import train_model
from fer_lib.train.predict import predict

TINY_CNN = {"width": 4, "fc_dim": 16}


def order_clips(n=48, size=16, seed=0):
    """Two classes with the same frames in opposite order: a blob brightening (0) or dimming (1)."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for k in range(n):
        label = k % 2
        levels = [90, 160, 230] if label == 0 else [230, 160, 90]
        clip = rng.integers(0, 30, (3, size, size)).astype(np.uint8)
        r, c = rng.integers(2, size - 8, 2)
        for t in range(3):
            clip[t, r:r + 6, c:c + 6] = levels[t]
        X.append(clip)
        y.append(label)
    return np.stack(X), np.array(y)


def test_motion_features_are_pooled_pixels_and_differences():
    x = torch.arange(2 * 3 * 1 * 8 * 8, dtype=torch.float32).reshape(2, 3, 1, 8, 8)
    f = motion_features(x, pool_size=4)
    assert f.shape == (2, 3, 32)
    assert torch.allclose(f[:, 0, 16:], torch.zeros(2, 16))  # no motion at t = 0
    assert torch.allclose(f[:, 2, 16:], f[:, 2, :16] - f[:, 0, :16])
    assert motion_features(x, pool_size=4, inputs="diff").shape == (2, 3, 16)
    with pytest.raises(ValueError, match=r"inputs must be one of \['pixels\+diff', 'diff'\]; got 'flow'"):
        motion_features(x, inputs="flow")


@pytest.mark.parametrize("rnn", ["lstm", "gru"])
@pytest.mark.parametrize("pooling", ["last", "mean", "attention"])
def test_temporal_model_shapes_and_interface(rnn, pooling):
    model = build_temporal(5, rnn=rnn, hidden_size=8, pool_size=4, pooling=pooling,
                           bidirectional=pooling == "mean").eval()
    x = torch.randn(6, 4, 1, 16, 16)
    out = model(x)
    assert out.shape == (6, 5)
    assert model.features(x).shape == (6, model.feature_dim)
    assert torch.allclose(model.classifier(model.features(x)), out)
    assert model.model_spec["factory"] == "fer_lib.models.temporal:build_temporal"
    assert not any(isinstance(m, torch.nn.Conv2d) for m in model.modules()), "temporal-only: no learned convolution"


def test_models_reject_images_and_bad_options():
    with pytest.raises(ValueError, match=r"expects clips of shape \(n, T, 1, H, W\); got shape \(2, 1, 16, 16\)"):
        build_temporal(3)(torch.randn(2, 1, 16, 16))
    with pytest.raises(ValueError, match=r"rnn must be one of \['lstm', 'gru'\]; got 'rnn'"):
        build_temporal(3, rnn="rnn")
    with pytest.raises(ValueError, match=r"pooling must be one of \['last', 'mean', 'attention'\]; got 'max'"):
        build_hybrid(3, cnn_kwargs=TINY_CNN, pooling="max")
    with pytest.raises(ValueError, match=r"fusion must be one of \['concat', 'attention'\]; got 'sum'"):
        build_hybrid(3, cnn_kwargs=TINY_CNN, fusion="sum")
    with pytest.raises(ValueError, match=r"rnn_inputs must be one of \['features', 'features\+diff'\]; got 'x'"):
        build_hybrid(3, cnn_kwargs=TINY_CNN, rnn_inputs="x")
    with pytest.raises(ValueError, match=r"cnn must be one of \['small', 'vgg', 'resnet18', 'fastvgg'\]; got 'big'"):
        build_hybrid(3, cnn="big")
    with pytest.raises(ValueError, match=r"variant must be one of \['cnn-rnn', 'attention', 'augment', 'unified'\]"):
        hybrid_configuration("lstm")


@pytest.mark.parametrize("fusion,pooling,rnn_inputs", [("concat", "last", "features"),
                                                       ("attention", "attention", "features+diff"),
                                                       ("concat", "mean", "features+diff")])
def test_hybrid_shapes_fusion_and_order_sensitivity(fusion, pooling, rnn_inputs):
    seed_everything(0)
    model = build_hybrid(4, cnn_kwargs=TINY_CNN, hidden_size=8, fc_dim=8, fusion_dim=8, fusion=fusion,
                         pooling=pooling, rnn="gru" if fusion == "attention" else "lstm", rnn_inputs=rnn_inputs).eval()
    assert model.rnn.input_size == (32 if rnn_inputs == "features+diff" else 16)
    assert isinstance(model, HybridCNNRNN)
    x = torch.randn(5, 3, 1, 16, 16)
    out = model(x)
    assert out.shape == (5, 4) and model.features(x).shape == (5, 8)
    assert torch.allclose(model.classifier(model.features(x)), out)
    f = model.frame_features(x)
    assert f.shape == (5, 3, 16)
    reversed_x = x.flip(1)
    assert torch.allclose(model.frame_features(reversed_x).mean(1), f.mean(1), atol=1e-6)  # f_s ignores order
    assert not torch.allclose(model(reversed_x), out, atol=1e-6)  # f_t sees it
    if fusion == "attention":
        w = model.last_fusion_weights
        assert w.shape == (5, 2) and torch.allclose(w.sum(1), torch.ones(5))
    assert "classifier.1.weight" not in {k.replace("cnn.", "", 1) for k in model.state_dict() if k.startswith("cnn.")}


def test_named_configurations():
    assert HYBRID_VARIANTS == ("cnn-rnn", "attention", "augment", "unified")
    ours = get_recipe("ours")
    assert variant_config(ours, "augment", "standard").augment == "standard"
    assert variant_config(ours, "augment", "standard").tta == "tencrop"
    plain = variant_config(ours, "cnn-rnn", "standard")
    assert plain.augment == "none" and plain.tta == "none" and plain.lr == ours.lr
    with pytest.raises(ValueError, match=r"augment_preset must be one of \['none', 'light', 'standard'\]"):
        variant_config(ours, "augment", "heavy")
    assert hybrid_configuration("attention")["model"] == {"pooling": "attention", "fusion": "attention"}
    assert hybrid_configuration("augment")["augment"] and not hybrid_configuration("cnn-rnn")["augment"]
    assert hybrid_configuration("unified")["fer_images"]


def test_temporal_model_learns_frame_order_that_frame_averaging_cannot_see():
    X, y = order_clips()
    config = get_recipe("paper", epochs=12, lr=3e-3, batch_size=8, early_stopping_patience=None, device="cpu")
    seed_everything(0)
    model = build_temporal(2, hidden_size=16, pool_size=4, dropout=config.dropout)
    train_model(model, (X[:32], y[:32]), (X[32:], y[32:]), config, progress=False)
    acc = (predict(model, X[32:]).argmax(1) == y[32:]).mean()
    assert acc >= 0.9
    # a frame-averaging model sees the same frames for both classes
    frames_mean = X.reshape(len(X), 3, -1).astype(float).mean(1)
    assert np.allclose(np.sort(frames_mean[y == 0].mean(0)), np.sort(frames_mean[y == 1].mean(0)), atol=30)


def test_checkpoints_rebuild_both_models(tmp_path):
    X, y = order_clips(n=16)
    config = get_recipe("smoke", epochs=1, max_train_samples=None, batch_size=8, augment="none", tta="none",
                        device="cpu")
    for name, model in [("temporal", build_temporal(2, hidden_size=8, pool_size=4)),
                        ("hybrid", build_hybrid(2, cnn_kwargs=TINY_CNN, hidden_size=8, fc_dim=8, fusion="attention",
                                                pooling="attention"))]:
        train_model(model, (X[:8], y[:8]), (X[8:], y[8:]), config, out_dir=tmp_path / name, progress=False,
                    class_names=("up", "down"))
        loaded, meta = load_checkpoint(tmp_path / name / "best.pt", device="cpu")
        assert type(loaded) is type(model) and meta["class_names"] == ["up", "down"]
        assert meta["input_shape"] == [3, 16, 16] and meta["is_sequence"]
        np.testing.assert_allclose(predict(loaded, X), predict(model, X), atol=1e-6)
    path = export_checkpoint(tmp_path / "hybrid" / "best.pt", tmp_path / "hybrid.pt", frames_per_clip=3,
                             trained_on="toy")
    loaded, meta = load_checkpoint(path, device="cpu")
    assert meta["frames_per_clip"] == 3 and meta["trained_on"] == "toy"
    with pytest.raises(ValueError, match="must not replace the checkpoint keys"):
        export_checkpoint(tmp_path / "hybrid" / "best.pt", tmp_path / "x.pt", class_names=["a"])


def test_cnn_initialisation_from_a_spatial_checkpoint(tiny_checkpoint):
    images = np.random.default_rng(0).integers(0, 255, (16, 16, 16)).astype(np.uint8)
    init = load_cnn_init(tiny_checkpoint(size=16, **TINY_CNN))
    assert init.cnn == "small" and init.cnn_kwargs == TINY_CNN and init.source == "best.pt"
    assert not any(k.startswith("classifier.") for k in init.state_dict)
    hybrid = build_hybrid(4, hidden_size=8, fc_dim=8, cnn_init=init)
    assert hybrid.model_spec["init"] == "cnn:best.pt" and hybrid.model_spec["kwargs"]["cnn_kwargs"] == TINY_CNN
    for key, value in init.state_dict.items():
        assert torch.equal(hybrid.cnn.state_dict()[key], value)
    frame_cnn = build_frame_cnn(4, cnn_init=init)
    assert frame_cnn.classifier[1].out_features == 4 and frame_cnn.model_spec["init"] == "cnn:best.pt"
    assert torch.equal(frame_cnn.state_dict()["conv.0.weight"], init.state_dict["conv.0.weight"])
    with pytest.raises(ValueError, match="differ from the architecture of cnn_init"):
        build_hybrid(4, cnn="small", cnn_kwargs={"width": 8}, cnn_init=init)
    health = embedding_health(init, images)
    assert health["n_units"] == 16 and not health["degenerate"]
    dead = dict(init.state_dict)
    dead["embed.0.bias"] = torch.full_like(dead["embed.0.bias"], -1e3)  # every ReLU of the embedding dead
    collapsed = embedding_health(type(init)(init.cnn, init.cnn_kwargs, dead, "dead.pt", {}), images)
    assert collapsed["n_constant"] == 16 and collapsed["degenerate"]


def test_training_throughput():
    history = pd.DataFrame({"epoch": [1, 2, 3, 1, 2, 3], "images_per_s": [10.0, 20, 30, 10, 40, 50],
                            "seconds": [1.0, 2, 3, 1, 2, 3]})
    out = training_throughput(history, frames_per_clip=3)
    assert out == {"clips_per_s": 35.0, "frames_per_s": 105.0, "epochs": 4, "seconds_per_epoch": 2.5}
    assert training_throughput(history, 3, skip_first=False)["epochs"] == 6


def test_fit_head_trains_only_the_layers_after_the_cnn():
    X, y = order_clips(n=32)
    config = get_recipe("paper", lr=3e-3, batch_size=8, device="cpu")
    seed_everything(0)
    model = build_hybrid(2, cnn_kwargs=TINY_CNN, hidden_size=16, fc_dim=16)
    cnn_before = {k: v.clone() for k, v in model.cnn.state_dict().items()}
    rnn_before = model.rnn.weight_ih_l0.clone()
    info = fit_head(model, X, y, config, epochs=40)
    assert info["epochs"] == 40 and info["train_acc"] >= 0.9  # frame order learnt on frozen random features
    for k, v in model.cnn.state_dict().items():
        assert torch.equal(v, cnn_before[k]), k  # weights and batch-norm statistics untouched
    assert not torch.equal(model.rnn.weight_ih_l0, rnn_before)
    frame_cnn = build_frame_cnn(2, cnn_kwargs=TINY_CNN)
    conv_before = frame_cnn.conv[0].weight.clone()
    assert fit_head(frame_cnn, X.reshape(-1, 16, 16), np.repeat(y, 3), config, epochs=2)["epochs"] == 2
    assert torch.equal(frame_cnn.conv[0].weight, conv_before)
    assert fit_head(model, X, y, config, epochs=0)["epochs"] == 0
    with pytest.raises(ValueError, match="fit_head needs a HybridCNNRNN or a fer_lib.models.cnn CNN"):
        fit_head(build_temporal(2), X, y, config, epochs=1)
    with pytest.raises(ValueError, match="X must be a uint8 array of 4 dimensions"):
        fit_head(model, X[:, 0], y, config, epochs=1)
    prepare = head_warmup(3)
    assert prepare(model, (X, y), config)["epochs"] == 3
