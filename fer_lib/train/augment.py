"""Batched data augmentation on the training device, and test-time augmentation.

:func:`augment` transforms a whole batch at once with tensor ops on whatever
device the batch lives on (no per-sample Python loop, no CPU round trip):

1. geometry -- the random crop (``"pad"``: shift by up to ``crop_padding``
   pixels with zero fill, as torchvision's ``RandomCrop(size, padding)``;
   ``"resized"``: random-resized crop of ``crop_scale`` of the area with aspect
   ratio in ``crop_ratio``, resized back), the horizontal flip and a small
   rotation + translation + scale are composed into ONE affine matrix per
   sample and applied by a single ``affine_grid`` / ``grid_sample`` (bilinear)
   call;
2. brightness / contrast jitter (multiply by ``b``; blend with the image mean
   by ``c``), clamped back to [0, 1];
3. random erasing of one rectangle (filled with uniform noise or a constant).

Inputs are floats **in [0, 1]** (the training loop augments after dividing by
255 and before normalising), shape ``(n, 1, H, W)`` for images or
``(n, T, 1, H, W)`` for clips. For clips every random parameter is drawn once
per clip and repeated for its ``T`` frames (the frames are folded into the
batch), so all frames of a clip get the same transform; the contrast blend
uses the mean of the whole clip, so it is the same intensity map for all
frames.

Randomness comes from a ``torch.Generator`` (on any device): the same
generator state gives the same output.

Test-time augmentation (:func:`tta_views`) returns the views whose softmax
outputs :func:`fer_lib.train.predict.predict` averages.
"""

import math
from dataclasses import dataclass
from types import MappingProxyType

import torch
from torch.nn import functional as F

from fer_lib.core.validation import check_fraction, check_option, check_positive_int

#: Random-crop modes of :class:`AugmentConfig`.
CROP_MODES = ("none", "pad", "resized")
#: ``grid_sample`` padding modes (what fills pixels that come from outside the image).
PADDING_MODES = ("zeros", "border", "reflection")
#: Test-time augmentation modes of :func:`tta_views`.
TTA_MODES = ("none", "flip", "tencrop", "shift")


def _range(name, value, low, high):
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) with {low} <= low <= high <= {high}; got {value!r}") from None
    if not low <= lo <= hi <= high:
        raise ValueError(f"{name} must be a pair (low, high) with {low} <= low <= high <= {high}; got {value!r}")
    return (lo, hi)


@dataclass(frozen=True)
class AugmentConfig:
    """Parameters of :func:`augment` (all off by default: the identity).

    Parameters
    ----------
    crop : {"none", "pad", "resized"}, default="none"
        ``"pad"``: random crop after zero padding by ``crop_padding`` pixels
        (an integer shift); ``"resized"``: random-resized crop.
    crop_padding : int, default=4
        Maximum shift in pixels for ``crop="pad"``.
    crop_scale : (float, float), default=(0.8, 1.0)
        Range of the crop's area as a fraction of the image, ``crop="resized"``.
    crop_ratio : (float, float), default=(0.9, 1.1111)
        Range of the crop's aspect ratio (width / height, log-uniform), ``crop="resized"``.
    hflip_prob : float, default=0.0
        Probability of a horizontal flip.
    affine_prob : float, default=0.0
        Probability of applying the rotation/translation/scale below.
    rotation : float, default=0.0
        Maximum rotation in degrees (uniform in ``[-rotation, rotation]``).
    translate : float, default=0.0
        Maximum shift as a fraction of the side (uniform per axis).
    scale : (float, float), default=(1.0, 1.0)
        Range of the zoom factor (> 1 zooms in).
    padding_mode : {"zeros", "border", "reflection"}, default="zeros"
        How pixels from outside the image are filled.
    brightness : float, default=0.0
        Brightness factor uniform in ``[1 - brightness, 1 + brightness]``.
    contrast : float, default=0.0
        Contrast factor uniform in ``[1 - contrast, 1 + contrast]``.
    erase_prob : float, default=0.0
        Probability of erasing one rectangle.
    erase_scale : (float, float), default=(0.02, 0.2)
        Range of the erased area as a fraction of the image.
    erase_ratio : (float, float), default=(0.3, 3.3)
        Range of the erased rectangle's aspect ratio (log-uniform).
    erase_value : float or None, default=None
        Fill value in [0, 1]; ``None`` fills with uniform noise in [0, 1].
    """

    crop: str = "none"
    crop_padding: int = 4
    crop_scale: tuple = (0.8, 1.0)
    crop_ratio: tuple = (0.9, 1.1111)
    hflip_prob: float = 0.0
    affine_prob: float = 0.0
    rotation: float = 0.0
    translate: float = 0.0
    scale: tuple = (1.0, 1.0)
    padding_mode: str = "zeros"
    brightness: float = 0.0
    contrast: float = 0.0
    erase_prob: float = 0.0
    erase_scale: tuple = (0.02, 0.2)
    erase_ratio: tuple = (0.3, 3.3)
    erase_value: float = None

    def __post_init__(self):
        check_option("crop", self.crop, CROP_MODES)
        check_positive_int("crop_padding", self.crop_padding, minimum=0)
        set_ = object.__setattr__
        set_(self, "crop_scale", _range("crop_scale", self.crop_scale, 1e-3, 1.0))
        set_(self, "crop_ratio", _range("crop_ratio", self.crop_ratio, 1e-2, 1e2))
        set_(self, "scale", _range("scale", self.scale, 1e-2, 1e2))
        set_(self, "erase_scale", _range("erase_scale", self.erase_scale, 0.0, 1.0))
        set_(self, "erase_ratio", _range("erase_ratio", self.erase_ratio, 1e-2, 1e2))
        for name in ("hflip_prob", "affine_prob", "translate", "brightness", "contrast", "erase_prob"):
            set_(self, name, check_fraction(name, getattr(self, name)))
        set_(self, "rotation", check_fraction("rotation", self.rotation, 0.0, 180.0))
        check_option("padding_mode", self.padding_mode, PADDING_MODES)
        if self.erase_value is not None:
            set_(self, "erase_value", check_fraction("erase_value", self.erase_value))

    @property
    def has_geometry(self):
        """True if the config moves pixels (crop, flip or affine)."""
        affine = self.affine_prob > 0 and (self.rotation > 0 or self.translate > 0 or self.scale != (1.0, 1.0))
        return self.crop != "none" or self.hflip_prob > 0 or affine

    @property
    def is_identity(self):
        """True if :func:`augment` returns its input unchanged."""
        return not (self.has_geometry or self.brightness > 0 or self.contrast > 0 or self.erase_prob > 0)


#: Named augmentation settings. ``"light"`` is torchvision's classic
#: ``RandomCrop(48, padding=4) + RandomHorizontalFlip``. ``"standard"`` follows
#: the augmentations that work for FER-2013 in the literature (random-resized
#: crop, flips, +-10 degrees rotation, +-10% shift and zoom, brightness/contrast
#: jitter, random erasing; cf. Khaireddin & Chen 2021, arXiv:2105.03588).
AUGMENT_PRESETS = MappingProxyType(
    {
        "none": AugmentConfig(),
        "light": AugmentConfig(crop="pad", crop_padding=4, hflip_prob=0.5),
        "standard": AugmentConfig(
            crop="resized",
            crop_scale=(0.8, 1.0),
            crop_ratio=(0.9, 1.1111),
            hflip_prob=0.5,
            affine_prob=0.8,
            rotation=10.0,
            translate=0.1,
            scale=(0.9, 1.1),
            brightness=0.2,
            contrast=0.2,
            erase_prob=0.5,
            erase_scale=(0.02, 0.15),
        ),
    }
)


def get_augment_config(augment):
    """Resolve a preset name or an :class:`AugmentConfig`.

    Parameters
    ----------
    augment : str or AugmentConfig
        A key of :data:`AUGMENT_PRESETS` or a config.

    Returns
    -------
    AugmentConfig
    """
    if isinstance(augment, AugmentConfig):
        return augment
    check_option("augment", augment, tuple(AUGMENT_PRESETS))
    return AUGMENT_PRESETS[augment]


def _rand(n, generator, device):
    """Uniform [0, 1) of shape (n,), drawn on the generator's device, returned on ``device``."""
    gdev = generator.device if generator is not None else device
    return torch.rand(n, generator=generator, device=gdev).to(device)


def _uniform(n, low, high, generator, device):
    return low + (high - low) * _rand(n, generator, device)


def _sample_params(n, H, W, cfg, generator, device):
    """Draw the per-sample random parameters for ``n`` images (or clips)."""
    p = {}
    one = torch.ones(n, device=device)
    zero = torch.zeros(n, device=device)
    if cfg.has_geometry:
        # Crop: input coordinates = C @ output coordinates (normalised, align_corners=False).
        sx, sy, cx, cy = one, one, zero, zero
        if cfg.crop == "resized":
            area = _uniform(n, *cfg.crop_scale, generator, device)
            ratio = torch.exp(_uniform(n, math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1]), generator, device))
            sx = torch.sqrt(area * ratio).clamp(max=1.0)
            sy = torch.sqrt(area / ratio).clamp(max=1.0)
            cx = (2 * _rand(n, generator, device) - 1) * (1 - sx)
            cy = (2 * _rand(n, generator, device) - 1) * (1 - sy)
        elif cfg.crop == "pad":
            k = cfg.crop_padding
            dx = torch.floor(_rand(n, generator, device) * (2 * k + 1)) - k
            dy = torch.floor(_rand(n, generator, device) * (2 * k + 1)) - k
            cx, cy = 2 * dx / W, 2 * dy / H
        flip = torch.where(_rand(n, generator, device) < cfg.hflip_prob, -one, one)
        apply = _rand(n, generator, device) < cfg.affine_prob
        angle = torch.deg2rad(_uniform(n, -cfg.rotation, cfg.rotation, generator, device))
        zoom = _uniform(n, *cfg.scale, generator, device)
        tx = _uniform(n, -cfg.translate, cfg.translate, generator, device) * 2
        ty = _uniform(n, -cfg.translate, cfg.translate, generator, device) * 2
        angle, zoom = torch.where(apply, angle, zero), torch.where(apply, zoom, one)
        tx, ty = torch.where(apply, tx, zero), torch.where(apply, ty, zero)
        # Rotation in pixel space, expressed in normalised coordinates: D^-1 R D / zoom.
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        A = torch.zeros(n, 3, 3, device=device)
        A[:, 0, 0], A[:, 0, 1], A[:, 0, 2] = cos, -sin * (H / W), tx
        A[:, 1, 0], A[:, 1, 1], A[:, 1, 2] = sin * (W / H), cos, ty
        A[:, 2, 2] = 1
        C = torch.zeros(n, 3, 3, device=device)
        C[:, 0, 0], C[:, 0, 2] = sx * flip, cx  # flip folded into the crop (F = diag(flip, 1, 1))
        C[:, 1, 1], C[:, 1, 2] = sy, cy
        C[:, 2, 2] = 1
        p["theta"] = (C @ A)[:, :2, :]
    if cfg.brightness > 0:
        p["brightness"] = _uniform(n, 1 - cfg.brightness, 1 + cfg.brightness, generator, device)
    if cfg.contrast > 0:
        p["contrast"] = _uniform(n, 1 - cfg.contrast, 1 + cfg.contrast, generator, device)
    if cfg.erase_prob > 0:
        apply = _rand(n, generator, device) < cfg.erase_prob
        area = _uniform(n, *cfg.erase_scale, generator, device) * (H * W)
        ratio = torch.exp(_uniform(n, math.log(cfg.erase_ratio[0]), math.log(cfg.erase_ratio[1]), generator, device))
        h = torch.round(torch.sqrt(area * ratio)).clamp(1, H)
        w = torch.round(torch.sqrt(area / ratio)).clamp(1, W)
        top = torch.floor(_rand(n, generator, device) * (H - h + 1))
        left = torch.floor(_rand(n, generator, device) * (W - w + 1))
        p["erase_box"] = torch.stack([top, h, left, w], dim=1)
        p["erase_apply"] = apply
        if cfg.erase_value is None:
            gdev = generator.device if generator is not None else device
            p["erase_fill"] = torch.rand(n, 1, H, W, generator=generator, device=gdev).to(device)
    return p


def augment(x, config, generator=None):
    """Randomly augment a batch of images or clips on their device.

    Parameters
    ----------
    x : Tensor of shape (n, 1, H, W) or (n, T, 1, H, W)
        Float images in [0, 1] (before normalisation). Clips get one transform
        per clip, identical for all ``T`` frames.
    config : AugmentConfig or str
        The parameters, or a key of :data:`AUGMENT_PRESETS`.
    generator : torch.Generator, optional
        Source of randomness (any device); ``None`` uses torch's global RNG.

    Returns
    -------
    Tensor of the same shape and dtype as ``x``
        The augmented batch (``x`` itself when the config is the identity).
    """
    cfg = get_augment_config(config)
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.dim() not in (4, 5) or x.shape[-3] != 1:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a float tensor of shape (n, 1, H, W) or (n, T, 1, H, W); got {shape}")
    if cfg.is_identity or x.shape[0] == 0:
        return x
    n, H, W = x.shape[0], x.shape[-2], x.shape[-1]
    T = x.shape[1] if x.dim() == 5 else 1
    device = x.device
    params = _sample_params(n, H, W, cfg, generator, device)
    if cfg.contrast > 0:  # mean of each image, or of each whole clip
        params["mean"] = x.reshape(n, -1).float().mean(dim=1)
    if T > 1:
        params = {k: v.repeat_interleave(T, dim=0) for k, v in params.items()}
    out = x.reshape(n * T, 1, H, W)
    if "theta" in params:
        theta = params["theta"].to(out.dtype)
        grid = F.affine_grid(theta, (n * T, 1, H, W), align_corners=False)
        out = F.grid_sample(out, grid, mode="bilinear", padding_mode=cfg.padding_mode, align_corners=False)
    if "brightness" in params or "contrast" in params:
        view = (-1, 1, 1, 1)
        if "brightness" in params:
            out = out * params["brightness"].view(view)
        if "contrast" in params:
            m = params["mean"].view(view)
            if "brightness" in params:
                m = m * params["brightness"].view(view)
            c = params["contrast"].view(view)
            out = (out - m) * c + m
        out = out.clamp(0.0, 1.0)
    if "erase_box" in params:
        top, h, left, w = params["erase_box"].unbind(1)
        rows = torch.arange(H, device=device).view(1, H, 1)
        cols = torch.arange(W, device=device).view(1, 1, W)
        mask = (
            (rows >= top.view(-1, 1, 1))
            & (rows < (top + h).view(-1, 1, 1))
            & (cols >= left.view(-1, 1, 1))
            & (cols < (left + w).view(-1, 1, 1))
            & params["erase_apply"].view(-1, 1, 1)
        ).unsqueeze(1)
        fill = params["erase_fill"].to(out.dtype) if "erase_fill" in params else torch.full_like(out, cfg.erase_value)
        out = torch.where(mask, fill, out)
    return out.reshape(x.shape).to(x.dtype)


def default_tta_shift(size):
    """Pixels of the ``"shift"`` TTA translations for an image side ``size``: ``round(size / 24)`` (2 for 48).

    Half the ``"light"`` augmentation's 4-pixel pad-crop at 48x48: well inside
    the translations the model saw in training.
    """
    return max(1, round(size / 24))


def default_tencrop_size(size):
    """Side of the ten-crop crops for an image side ``size``: ``size - 2 * round(size / 24)`` (44 for 48)."""
    return size - 2 * max(1, round(size / 24))


def tta_views(x, mode="none", crop_size=None):
    """Test-time augmentation views of a batch.

    Parameters
    ----------
    x : Tensor of shape (n, 1, H, W) or (n, T, 1, H, W)
        Normalised images or clips (the views work on the last two axes, so
        all frames of a clip are treated alike).
    mode : {"none", "flip", "tencrop", "shift"}, default="none"
        ``"none"``: 1 view (``x``); ``"flip"``: 2 views (``x``, mirrored);
        ``"tencrop"``: 10 views -- five ``crop_size`` crops (centre, top-left,
        top-right, bottom-left, bottom-right), each resized back to ``H x W``
        (bilinear) so that the model sees its training size, then the same
        five mirrored; ``"shift"``: 10 views -- ``x`` and ``x`` translated by
        :func:`default_tta_shift` pixels up, down, left and right (the
        uncovered border filled with 0, i.e. the mean pixel of normalised
        images, as the ``"light"`` augmentation's pad-crop fills it), then
        the same five mirrored. Ten-crop zooms in, which suits models trained
        with random resized crops; shift translates at the training scale,
        which suits pad-crop training.
    crop_size : int, optional
        Side of the ten-crop crops; default :func:`default_tencrop_size`
        (44 for 48x48, i.e. 84% of the area, inside the ``"standard"``
        random-resized-crop range). Ignored by the other modes.

    Returns
    -------
    Tensor of shape (V, *x.shape)
        ``V`` = 1, 2 or 10 views. Average the models' softmax over axis 0.
    """
    check_option("tta", mode, TTA_MODES)
    if not isinstance(x, torch.Tensor) or x.dim() not in (4, 5):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a tensor of shape (n, 1, H, W) or (n, T, 1, H, W); got {shape}")
    if mode == "none":
        return x.unsqueeze(0)
    if mode == "flip":
        return torch.stack([x, x.flip(-1)])
    H, W = x.shape[-2], x.shape[-1]
    if mode == "shift":
        k = default_tta_shift(min(H, W))
        padded = F.pad(x, (k, k, k, k))  # zeros on the last two axes
        offsets = [(k, k), (0, k), (2 * k, k), (k, 0), (k, 2 * k)]  # none, down, up, right, left
        views = torch.stack([padded[..., i : i + H, j : j + W] for i, j in offsets])
        return torch.cat([views, views.flip(-1)])
    c = default_tencrop_size(min(H, W)) if crop_size is None else check_positive_int("crop_size", crop_size)
    if c > min(H, W):
        raise ValueError(f"crop_size must be <= the image side {min(H, W)}; got {crop_size!r}")
    top, left = (H - c) // 2, (W - c) // 2
    origins = [(top, left), (0, 0), (0, W - c), (H - c, 0), (H - c, W - c)]
    crops = torch.stack([x[..., i : i + c, j : j + c] for i, j in origins])  # (5, *lead, c, c)
    flat = crops.reshape(-1, 1, c, c)
    if c != H or c != W:
        flat = F.interpolate(flat, size=(H, W), mode="bilinear", align_corners=False)
    crops = flat.reshape(5, *x.shape)
    return torch.cat([crops, crops.flip(-1)])


__all__ = [
    "AUGMENT_PRESETS",
    "AugmentConfig",
    "CROP_MODES",
    "PADDING_MODES",
    "TTA_MODES",
    "augment",
    "default_tencrop_size",
    "get_augment_config",
    "tta_views",
]
