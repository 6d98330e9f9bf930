"""Models (shapes, sizes, pretrained weights never downloaded) and on-device augmentation."""

import dataclasses
import re

import pytest
import torch

from fer_lib.models.cnn import (
    MODEL_NAMES,
    RESNET18_IMAGENET_FILE,
    ResNet18Gray,
    SmallCNN,
    VGGFace48,
    build_model,
    count_parameters,
)
from fer_lib.train.augment import (
    AUGMENT_PRESETS,
    TTA_MODES,
    AugmentConfig,
    augment,
    default_tencrop_size,
    default_tta_shift,
    get_augment_config,
    tta_views,
)

#: Expected parameter ranges (7 classes).
PARAM_RANGES = {"small": (0.2e6, 0.4e6), "vgg": (4.0e6, 5.5e6), "resnet18": (10.5e6, 11.5e6),
                "fastvgg": (1.1e6, 1.3e6)}


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {name: build_model(name, 7).eval() for name in MODEL_NAMES}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_shapes_and_interface(models, name):
    model = models[name]
    x = torch.randn(2, 1, 48, 48)
    with torch.no_grad():
        logits = model(x)
        feats = model.features(x)
        assert logits.shape == (2, 7)
        assert feats.shape == (2, model.feature_dim)
        torch.testing.assert_close(model.classifier(feats), logits)
        # Global pooling: ten-crop sized inputs work too.
        assert model(torch.randn(2, 1, 44, 44)).shape == (2, 7)
    assert model.n_classes == 7 and model.dropout == 0.5
    assert model.model_spec["kwargs"]["name"] == name


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_parameter_counts(models, name):
    low, high = PARAM_RANGES[name]
    assert low <= count_parameters(models[name]) <= high


def test_channels_last_keeps_outputs(models):
    model = models["small"]
    x = torch.randn(2, 1, 48, 48)
    with torch.no_grad():
        ref = model(x)
        m = build_model("small", 7)
        m.load_state_dict(model.state_dict())
        m.eval().to(memory_format=torch.channels_last)
        out = m(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)


def test_fastvgg_shape_and_cost():
    """FastVGG48: one full-resolution conv, wide convs at 24x24 and below, about SmallCNN's cost."""
    from torch.utils.flop_counter import FlopCounterMode

    fast, small = build_model("fastvgg", 7).eval(), build_model("small", 7).eval()
    x = torch.zeros(1, 1, 48, 48)
    flops = {}
    for name, m in (("fast", fast), ("small", small)):
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            m(x)
        flops[name] = counter.get_total_flops()
    assert 1.6e8 < flops["fast"] < 2.2e8 and flops["fast"] < 1.25 * flops["small"]
    full_res = [m for m in fast.conv if isinstance(m, torch.nn.Conv2d)][:1]
    assert full_res[0].out_channels == 32 and isinstance(fast.conv[3], torch.nn.MaxPool2d)
    assert fast.feature_dim == 256 and fast.features(x).shape == (1, 256)
    with pytest.raises(ValueError, match="widths must name at least one stage"):
        build_model("fastvgg", 7, widths=())


def test_model_classes_and_small_width():
    vgg, resnet = build_model("vgg", 3).eval(), build_model("resnet18", 3).eval()
    # the exact class (SmallCNN is a VGGFace48 too), with the requested number of classes
    assert type(vgg) is VGGFace48 and type(resnet) is ResNet18Gray
    with torch.no_grad():
        assert vgg(torch.zeros(1, 1, 48, 48)).shape == resnet(torch.zeros(1, 1, 48, 48)).shape == (1, 3)
    tiny = build_model("small", 4, dropout=0.1, width=8)
    # counted by hand: bias-free 3x3 convs + BatchNorm (weight, bias) in blocks of 8-16-32 channels,
    # then Linear(32, 128) as the embedding and Linear(128, 4) as the head
    convs = [(1, 8), (8, 8), (8, 16), (16, 16), (16, 32), (32, 32)]
    expected = sum(9 * c_in * c_out + 2 * c_out for c_in, c_out in convs) + (32 * 128 + 128) + (128 * 4 + 4)
    assert type(tiny) is SmallCNN and count_parameters(tiny) == expected == 22_892
    assert tiny.model_spec["kwargs"] == {"name": "small", "n_classes": 4, "dropout": 0.1, "width": 8}
    with pytest.raises(ValueError, match="expects a tensor of shape"):
        tiny(torch.randn(2, 3, 1, 24, 24))


def test_build_model_unknown_name():
    with pytest.raises(ValueError) as err:
        build_model("alexnet", 7)
    msg = str(err.value)
    assert "name" in msg and "'alexnet'" in msg
    for name in MODEL_NAMES:
        assert name in msg


@pytest.mark.parametrize("kwargs, param", [({"n_classes": 1}, "n_classes"), ({"n_classes": 7, "dropout": 1.5}, "dropout")])
def test_build_model_bad_arguments(kwargs, param):
    with pytest.raises(ValueError, match=param):
        build_model("small", **kwargs)


def _forbid_downloads(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", boom)
    monkeypatch.setattr(torch.hub, "download_url_to_file", boom)


def test_pretrained_resnet_without_local_weights_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    _forbid_downloads(monkeypatch)
    with pytest.raises(FileNotFoundError) as err:
        build_model("resnet18", 7, pretrained=True)
    msg = str(err.value)
    assert str(tmp_path / "checkpoints" / RESNET18_IMAGENET_FILE) in msg
    assert "never downloads" in msg and "pretrained=False" in msg


def test_pretrained_resnet_loads_from_hub_cache(monkeypatch, tmp_path):
    from torchvision.models import resnet18

    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path))
    _forbid_downloads(monkeypatch)
    torch.manual_seed(1)
    fake = resnet18(weights=None).state_dict()  # stands in for the ImageNet file
    (tmp_path / "checkpoints").mkdir()
    torch.save(fake, tmp_path / "checkpoints" / RESNET18_IMAGENET_FILE)
    model = build_model("resnet18", 7, pretrained=True)
    torch.testing.assert_close(model.layer4[1].conv2.weight, fake["layer4.1.conv2.weight"])
    assert model.stem[0].weight.shape == (64, 1, 3, 3)
    rgb_sum = fake["conv1.weight"].sum(dim=(1, 2, 3))
    torch.testing.assert_close(model.stem[0].weight.sum(dim=(1, 2, 3)), rgb_sum, rtol=1e-4, atol=1e-5)
    # The rebuild recipe never asks for pretrained weights (the checkpoint has them).
    assert "pretrained" not in model.model_spec["kwargs"] and model.model_spec["init"] == "imagenet"


# --------------------------------------------------------------------------- augmentation


def _images(n=4, size=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, generator=g)


@pytest.mark.parametrize("preset", list(AUGMENT_PRESETS))
def test_augment_shapes_range_and_determinism(preset):
    x = _images()
    a = augment(x, preset, torch.Generator().manual_seed(3))
    b = augment(x, preset, torch.Generator().manual_seed(3))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    if preset != "none":
        assert not torch.equal(a, augment(x, preset, torch.Generator().manual_seed(4)))


def test_augment_none_is_identity():
    x = _images()
    assert torch.equal(augment(x, "none", torch.Generator().manual_seed(0)), x)
    assert get_augment_config("none").is_identity


def test_pad_crop_is_an_integer_shift():
    x = _images(n=1, size=16)
    cfg = AugmentConfig(crop="pad", crop_padding=2)
    out = augment(x, cfg, torch.Generator().manual_seed(5))[0, 0]
    padded = torch.nn.functional.pad(x[0, 0], (2, 2, 2, 2))
    shifts = [(dy, dx) for dy in range(5) for dx in range(5)
              if torch.allclose(padded[dy:dy + 16, dx:dx + 16], out, atol=1e-4)]
    assert len(shifts) == 1


def test_flip_only():
    x = _images(n=8)
    out = augment(x, AugmentConfig(hflip_prob=1.0), torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, x.flip(-1), atol=1e-5, rtol=0)


def test_clip_frames_get_the_same_transform():
    frame = _images(n=3)
    clips = frame.unsqueeze(1).expand(3, 4, 1, 24, 24).contiguous()  # (n, T, 1, H, W), identical frames
    out = augment(clips, "standard", torch.Generator().manual_seed(0))
    assert out.shape == clips.shape
    for t in range(1, 4):
        assert torch.equal(out[:, t], out[:, 0])
    assert not torch.equal(out[0, 0], out[1, 0])  # but clips differ from each other


def test_augment_config_validation():
    with pytest.raises(ValueError, match=r"crop must be one of \['none', 'pad', 'resized'\]; got 'random'"):
        AugmentConfig(crop="random")
    with pytest.raises(ValueError, match="hflip_prob"):
        AugmentConfig(hflip_prob=2)
    with pytest.raises(ValueError, match="augment must be one of"):
        augment(_images(), "heavy")
    with pytest.raises(dataclasses.FrozenInstanceError):
        AUGMENT_PRESETS["standard"].hflip_prob = 0.0
    with pytest.raises(ValueError, match="x must be a float tensor"):
        augment(torch.zeros(2, 24, 24), "light")


def test_tta_views():
    x = _images(n=2)
    assert tta_views(x, "none").shape == (1, 2, 1, 24, 24)
    flip = tta_views(x, "flip")
    assert flip.shape == (2, 2, 1, 24, 24) and torch.equal(flip[1], x.flip(-1))
    ten = tta_views(x, "tencrop")
    assert ten.shape == (10, 2, 1, 24, 24)
    assert torch.equal(ten[5:], ten[:5].flip(-1))
    assert default_tencrop_size(48) == 44
    full = tta_views(x, "tencrop", crop_size=24)  # crops of the whole image: 5 copies
    assert torch.equal(full[0], x) and torch.equal(full[4], x)
    clips = x.unsqueeze(1).expand(2, 3, 1, 24, 24)
    assert tta_views(clips, "tencrop").shape == (10, 2, 3, 1, 24, 24)
    shift = tta_views(x, "shift")
    k = default_tta_shift(24)
    assert shift.shape == (10, 2, 1, 24, 24) and k == 1 and default_tta_shift(48) == 2
    assert torch.equal(shift[0], x) and torch.equal(shift[5:], shift[:5].flip(-1))
    # view 1 is x moved down by k rows (zeros enter at the top), view 4 moved right by k columns
    assert torch.equal(shift[1][..., k:, :], x[..., :-k, :]) and not shift[1][..., :k, :].any()
    assert torch.equal(shift[3][..., :, k:], x[..., :, :-k]) and not shift[3][..., :, :k].any()
    assert torch.equal(shift[2][..., :-k, :], x[..., k:, :]) and torch.equal(shift[4][..., :, :-k], x[..., :, k:])
    assert tta_views(clips, "shift").shape == (10, 2, 3, 1, 24, 24)
    with pytest.raises(ValueError, match=re.escape(f"tta must be one of {list(TTA_MODES)}; got 'fivecrop'")):
        tta_views(x, "fivecrop")
