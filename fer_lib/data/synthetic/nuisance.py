"""Nuisance of one image: pose, placement, illumination, blur, noise and occlusion.

:class:`Nuisance` holds it, :func:`sample_nuisance` draws it for a FER-2013 image or the
start of a CK+ sequence, :func:`drift_nuisance` and :func:`lerp_nuisance` move the head
a little over a sequence.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from fer_lib.core.validation import check_fraction, check_option


@dataclass(frozen=True)
class Nuisance:
    """Pose, placement, illumination and image-quality nuisance of one image.

    The default is a clean, frontal, centred face filling a 48 x 48 crop.

    Attributes
    ----------
    cx, cy : float
        Where the face centre goes, as fractions of the canvas width and height.
    scale : float
        Face half-width in pixels, as a fraction of the canvas height.
    angle_deg : float
        In-plane rotation (degrees, counter-clockwise on screen is negative).
    yaw : float
        Out-of-plane head turn (radians, small): squashes the face
        horizontally and shifts the features by their depth.
    illum_angle, illum_strength : float
        Direction (radians) and strength (relative gain at the canvas edge)
        of a linear illumination gradient.
    brightness, contrast : float
        Global gain and contrast about mid-gray.
    background, background_gradient, background_texture : float
        Background gray level, gradient and low-frequency texture amplitude.
    clothing : float
        Gray level of the shoulders.
    noise_std : float
        Gaussian pixel noise, in gray levels (0-255).
    blur : float
        Gaussian blur sigma in face units (fraction of the face half-width).
    occlusion : tuple or None
        ``(x0, y0, x1, y1, tone)``: a rectangle in canonical face coordinates
        (rotated with the head) filled with ``tone``; None for no occlusion.
    texture_seed, noise_seed : int
        Seeds of the background texture and of the pixel noise.
    """

    cx: float = 0.5
    cy: float = 0.5
    scale: float = 0.42
    angle_deg: float = 0.0
    yaw: float = 0.0
    illum_angle: float = 0.0
    illum_strength: float = 0.0
    brightness: float = 1.0
    contrast: float = 1.0
    background: float = 0.45
    background_gradient: float = 0.0
    background_texture: float = 0.0
    clothing: float = 0.3
    noise_std: float = 0.0
    blur: float = 0.0
    occlusion: tuple | None = None
    texture_seed: int = 0
    noise_seed: int = 0


_NUISANCE_KINDS = ("fer2013", "ckplus")


def sample_nuisance(
    rng, kind="fer2013", pose_strength=1.0, illumination_strength=1.0, noise_strength=1.0, occlusion_prob=0.0
):
    """Draw random nuisance for one image (or the start of one sequence).

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.
    kind : {"fer2013", "ckplus"}, default="fer2013"
        ``"fer2013"``: a roughly centred face filling a 48 x 48 crop.
        ``"ckplus"``: a smaller face at a random place on a larger canvas,
        with a textured background and milder pose variation.
    pose_strength, illumination_strength, noise_strength : float, default=1.0
        Multipliers of the pose, illumination and noise/blur variation.
    occlusion_prob : float, default=0.0
        Probability of a partial occlusion (a bar over the eyes, a patch over
        the mouth, a band over one side, or a random rectangle).

    Returns
    -------
    Nuisance
    """
    check_option("kind", kind, _NUISANCE_KINDS)
    ps = check_fraction("pose_strength", pose_strength, 0.0, 3.0)
    il = check_fraction("illumination_strength", illumination_strength, 0.0, 3.0)
    ns = check_fraction("noise_strength", noise_strength, 0.0, 3.0)
    occ_p = check_fraction("occlusion_prob", occlusion_prob, 0.0, 1.0)
    u = rng.uniform
    if kind == "fer2013":
        cx = 0.5 + 0.05 * ps * u(-1, 1)
        cy = 0.5 + 0.05 * ps * u(-1, 1)
        scale = 0.42 * (1.0 + 0.09 * ps * u(-1, 1))
        angle = float(np.clip(rng.normal(0.0, 5.0 * ps), -14.0, 14.0))
        yaw = 0.25 * ps * u(-1, 1)
        texture = u(0.0, 0.15)
        noise = u(1.0, 7.0) * ns
        blur = u(0.0, 0.04) * ns
    else:
        cx = u(0.32, 0.68)
        cy = u(0.47, 0.55)
        scale = u(0.19, 0.235)
        angle = float(np.clip(rng.normal(0.0, 3.0 * ps), -9.0, 9.0))
        yaw = 0.12 * ps * u(-1, 1)
        texture = u(0.04, 0.15)
        noise = u(1.0, 4.0) * ns
        blur = u(0.0, 0.03) * ns
    occlusion = None
    if rng.random() < occ_p:
        what = rng.integers(4)
        tone = u(0.03, 0.95)
        if what == 0:  # bar over the eyes (sunglasses-like)
            yc, hh = u(-0.1, 0.05), u(0.1, 0.2)
            occlusion = (-1.3, yc - hh, 1.3, yc + hh, tone)
        elif what == 1:  # patch over the mouth / chin (a hand)
            xc, yc = u(-0.3, 0.3), u(0.75, 1.05)
            occlusion = (xc - u(0.3, 0.6), yc - u(0.15, 0.35), xc + u(0.3, 0.6), yc + u(0.2, 0.4), tone)
        elif what == 2:  # band over one side of the face
            side = rng.choice([-1.0, 1.0])
            edge = side * u(0.15, 0.5)
            occlusion = (min(edge, side * 1.5), -1.6, max(edge, side * 1.5), 1.6, tone)
        else:  # random rectangle somewhere on the face
            xc, yc = u(-0.7, 0.7), u(-0.6, 1.1)
            hw, hh = u(0.15, 0.45), u(0.12, 0.35)
            occlusion = (xc - hw, yc - hh, xc + hw, yc + hh, tone)
        occlusion = tuple(float(v) for v in occlusion)
    return Nuisance(
        cx=float(cx),
        cy=float(cy),
        scale=float(scale),
        angle_deg=angle,
        yaw=float(yaw),
        illum_angle=float(u(0, 2 * np.pi)),
        illum_strength=float(u(0.0, 0.35) * il),
        brightness=float(1.0 + il * u(-0.2, 0.15)),
        contrast=float(1.0 + il * u(-0.25, 0.2)),
        background=float(u(0.1, 0.9)),
        background_gradient=float(u(-0.2, 0.2)),
        background_texture=float(texture),
        clothing=float(u(0.05, 0.9)),
        noise_std=float(noise),
        blur=float(blur),
        occlusion=occlusion,
        texture_seed=int(rng.integers(2**31)),
        noise_seed=int(rng.integers(2**31)),
    )


def drift_nuisance(n0, rng, pose_strength, illumination_strength):
    """End-of-sequence nuisance: the start one with a small head motion."""
    ps, il = pose_strength, illumination_strength
    u = rng.uniform
    return dataclasses.replace(
        n0,
        cx=n0.cx + 0.012 * ps * u(-1, 1),
        cy=n0.cy + 0.012 * ps * u(-1, 1),
        scale=n0.scale * (1.0 + 0.02 * ps * u(-1, 1)),
        angle_deg=n0.angle_deg + 1.5 * ps * u(-1, 1),
        yaw=n0.yaw + 0.03 * ps * u(-1, 1),
        illum_strength=max(0.0, n0.illum_strength + 0.03 * il * u(-1, 1)),
        brightness=n0.brightness * (1.0 + 0.02 * il * u(-1, 1)),
    )


_DRIFTING = ("cx", "cy", "scale", "angle_deg", "yaw", "illum_strength", "brightness")


def lerp_nuisance(n0, n1, w, noise_seed):
    """Nuisance of a frame ``w`` of the way (0 to 1) from ``n0`` to ``n1``, with its own noise seed."""
    return dataclasses.replace(
        n0, noise_seed=int(noise_seed), **{k: (1 - w) * getattr(n0, k) + w * getattr(n1, k) for k in _DRIFTING}
    )
