"""Per-subject face identities: geometry and tones of a face (:class:`Identity`, :func:`sample_identity`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Identity:
    """Per-subject face geometry and tones (canonical units: head half-width ~1).

    Tones are gray levels in [0, 1]; ``lip_tone`` is a multiplier of ``skin``.
    ``contempt_side`` (+1 or -1) is the image side whose mouth corner rises in
    contempt. ``expressiveness`` scales every expression of this subject.
    """

    face_w: float = 1.0
    face_h: float = 1.35
    chin_taper: float = 0.25
    eye_y: float = 0.0
    eye_dx: float = 0.4
    eye_w: float = 0.18
    eye_h: float = 0.075
    eye_tilt: float = 0.01
    brow_gap: float = 0.26
    brow_thick: float = 0.07
    brow_arch: float = 0.04
    nose_y: float = 0.5
    nose_w: float = 0.2
    mouth_y: float = 0.85
    mouth_w: float = 0.32
    upper_lip: float = 0.06
    lower_lip: float = 0.08
    skin: float = 0.62
    lip_tone: float = 0.78
    brow_tone: float = 0.2
    iris_tone: float = 0.22
    hair_tone: float = 0.15
    hairline: float = -0.8
    hair_length: float = 0.3
    hair_volume: float = 0.1
    wrinkles: float = 0.1
    expressiveness: float = 1.0
    contempt_side: int = 1


def sample_identity(rng):
    """Draw a random face identity.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness.

    Returns
    -------
    Identity
        Face shape and width, feature spacing (eye distance and height, mouth
        width, nose), tones (skin, hair, brows, iris), brow thickness and
        arch, hairline, wrinkle level and expressiveness.
    """
    u = rng.uniform
    skin = u(0.38, 0.82)
    return Identity(
        face_w=u(0.9, 1.08),
        face_h=u(1.25, 1.45),
        chin_taper=u(0.12, 0.38),
        eye_y=u(-0.05, 0.06),
        eye_dx=u(0.35, 0.45),
        eye_w=u(0.155, 0.205),
        eye_h=u(0.06, 0.088),
        eye_tilt=u(-0.015, 0.035),
        brow_gap=u(0.21, 0.3),
        brow_thick=u(0.04, 0.095),
        brow_arch=u(0.0, 0.07),
        nose_y=u(0.44, 0.56),
        nose_w=u(0.15, 0.23),
        mouth_y=u(0.78, 0.9),
        mouth_w=u(0.27, 0.37),
        upper_lip=u(0.04, 0.075),
        lower_lip=u(0.055, 0.1),
        skin=skin,
        lip_tone=u(0.68, 0.88),
        brow_tone=u(0.08, min(0.45, skin - 0.15)),
        iris_tone=u(0.08, 0.35),
        hair_tone=u(0.04, 0.55) if rng.random() < 0.85 else u(0.55, 0.85),
        hairline=u(-0.95, -0.68),
        hair_length=u(-0.4, 1.3),
        hair_volume=u(0.02, 0.25),
        wrinkles=u(0.0, 0.35),
        expressiveness=u(0.8, 1.2),
        contempt_side=int(rng.choice([-1, 1])),
    )
