"""Deterministic procedural faces with expressions: the embedded default data set.

This module draws grayscale cartoon faces (head, hair, ears, brows, eyes, nose,
mouth, wrinkles) from a per-subject *identity* and an *expression* parameter
vector, applies nuisance variation (pose, scale, translation, illumination,
blur, noise, occlusion) and writes the result to disk in the formats of the
real data sets, so that the whole study (loaders included) runs end to end on
a CPU in minutes without downloading anything.

Layout written by :func:`write_synthetic_dataset` under ``root``::

    root/fer2013/fer2013.csv.gz                      Kaggle FER-2013 CSV (emotion,pixels,Usage)
    root/ckplus/sequences/cohn-kanade-images/S###/###/S###_###_########.png
    root/ckplus/sequences/Emotion/S###/###/S###_###_########_emotion.txt   (labelled only)
    root/ckplus/sequences/Landmarks/S###/###/S###_###_########_landmarks.txt  (every frame)
    root/ckplus/CK+48/<class>/S###_###_########.png  last 3 frames of each labelled sequence
    root/manifest.json                               version, config, seed, counts

Expressions
-----------
Eight expressions (:data:`SYNTHETIC_EXPRESSIONS`) are deformations of the
neutral face, described by :data:`EXPRESSION_PARAMETERS` (brow raise, inner-brow
raise or lowering, brow squeeze, eye openness, lid tightening, nose wrinkle,
upper-lip raise, mouth opening, mouth stretch, corner raise or lowering,
asymmetric corner, lip press). The apex vectors are in :data:`EXPRESSION_APEX`;
an intensity ``s`` scales the apex vector (``s = 0`` is neutral, ``s = 1`` the
apex, ``s > 1`` exaggerated). Confusions are built in on purpose:

* fear and surprise are near-identical at the apex; fear differs only by a
  slightly stretched (wider) mouth, slightly raised inner brows and a little
  brow squeeze, which identity variation and noise mostly hide;
* sadness is a weak deformation, close to neutral;
* anger and disgust both lower and squeeze the brows.

Each image also gets small random perturbations of its parameter vector, and
every identity has its own expressiveness, so no class is a single template.

Intensity profiles (CK+ sequences)
----------------------------------
For a sequence of ``T`` frames let ``t = k / (T - 1)`` for frame ``k``
(``t = 0`` onset, ``t = 1`` last frame) and ``smoothstep(u) = 3u^2 - 2u^3``.
:func:`intensity_profile` returns:

* **surprise** and **fear** share their last three frames' intensities,
  ``(1 - d, 1, 1 + d)`` for surprise and ``(1 + d, 1, 1 - d)`` for fear, with
  ``d =`` :data:`POSITIVE_CONTROL_STEP` (0.25): the *set* of intensities in a
  3-frame clip is the same for both classes, only its *order* differs.
  Before the clip (frames ``0 .. T-3``, ``u`` running from 0 to 1 over them),
  surprise rises as ``(1 - d) * u ** 2.5`` (a late, fast onset) and fear rises
  to an overshoot of 1.5 at ``u = 0.6`` (``1.5 * smoothstep(u / 0.6)``) and
  relaxes to ``1 + d`` (``1.5 - (0.5 - d) * ((u - 0.6) / 0.4) ** 2``);
* **every other class**: ``s(t) = smoothstep(t)``, a smooth monotonic ramp from
  neutral (0) to the apex (1).

Each CK+ sequence multiplies its profile by a random apex amplitude
``A ~ U(1 - ck_apex_jitter, 1 + ck_apex_jitter)``, so the absolute intensity of
one frame says little about the class. Fear and surprise therefore have
(almost) the same apex *appearance*, and their CK+48 clips hold the same frames
up to order: features expanding for surprise, contracting for fear. This is
the positive control (:data:`POSITIVE_CONTROL_CLASSES`): a spatial model that
averages its frame predictions cannot tell the two apart from the clip (it sees
the same frames), a temporal model can.

FER-2013 class imbalance
------------------------
The number of images of a class in a split is
``max(1, round(per_class * FER2013_CLASS_WEIGHTS[class]))`` where ``per_class``
is ``fer_per_class_train``, ``fer_per_class_public`` or
``fer_per_class_private``. The weights follow the real FER-2013 training set
loosely: happy 1.75, sad 1.2, neutral 1.2, angry 1.0, fear 1.0, surprise 0.8,
disgust 1/6. Every class is present in every split. FER images are apex-like
static faces at an intensity drawn from ``U(fer_intensity_min,
fer_intensity_max)``; identities are drawn from a pool of ``fer_identities``
faces shared by all splits (FER-2013 has no subject ids).

Determinism
-----------
Every item (a FER image, a CK+ subject, a sequence) draws from its own
``numpy.random.default_rng([seed, tag, ...indices])``, so the output for a seed
is byte-identical between runs and does not depend on generation order;
adding images (a larger ``fer_per_class_train``) leaves the existing ones
unchanged.

Coordinates: landmarks are float ``(x, y)`` pixel coordinates, 0-based, with
integer values at pixel centres (x to the right, y down), in the iBUG 68-point
layout (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67; "left" is
the image left, i.e. the subject's right).
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import cv2
import numpy as np

from fer_lib.core.paths import display_path
from fer_lib.core.validation import check_fraction, check_option, check_positive_int
from fer_lib.data.constants import (
    CKPLUS48_FRAMES_PER_CLIP,
    CKPLUS48_SIZE,
    CKPLUS_CLASSES,
    CKPLUS_CODES,
    CKPLUS_N_LANDMARKS,
    FER2013_CLASSES,
    FER2013_COLUMNS,
    FER2013_SIZE,
    FER2013_SPLITS,
)

__all__ = [
    "GENERATOR_NAME",
    "GENERATOR_VERSION",
    "SYNTHETIC_EXPRESSIONS",
    "POSITIVE_CONTROL_CLASSES",
    "EXPRESSION_PARAMETERS",
    "EXPRESSION_APEX",
    "SYNTHETIC_TO_FER2013",
    "FER2013_CLASS_WEIGHTS",
    "SyntheticConfig",
    "Identity",
    "Nuisance",
    "intensity_profile",
    "expression_vector",
    "sample_identity",
    "sample_nuisance",
    "render_face",
    "fer_class_counts",
    "make_fer_images",
    "make_sequences",
    "iter_sequences",
    "ckplus48_crop",
    "write_synthetic_dataset",
    "ensure_synthetic_dataset",
]

#: Written into ``manifest.json``; only data sets carrying it may be overwritten.
GENERATOR_NAME = "fer_lib.synthetic"  # an id in manifests, fixed: data sets outlive module moves
#: Bump when the drawing changes, so that :func:`ensure_synthetic_dataset` regenerates.
GENERATOR_VERSION = "1.1.0"

#: The eight synthetic expressions (the union of the FER-2013 and CK+ classes).
SYNTHETIC_EXPRESSIONS = ("neutral", "anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")

#: Classes whose apex looks alike but whose onset-to-apex motion differs.
POSITIVE_CONTROL_CLASSES = ("fear", "surprise")

#: Intensity step between the last three frames of the positive-control classes.
POSITIVE_CONTROL_STEP = 0.25

#: Names of the entries of an expression parameter vector.
EXPRESSION_PARAMETERS = (
    "brow_raise",  # + both brows up, - down
    "brow_inner",  # + inner ends up (fear, sadness), - inner ends down (anger)
    "brow_squeeze",  # + brows pulled together
    "eye_open",  # + upper lid raised (wide eyes), - lids lowered
    "lid_tighten",  # + lower lid raised, eyes narrowed (squint)
    "nose_wrinkle",  # + wrinkles on the nose bridge, nostrils lifted
    "upper_lip_raise",  # + upper lip raised
    "mouth_open",  # + jaw drop / lips parted
    "mouth_stretch",  # + mouth wider (stretched), - narrower (rounded)
    "corner_raise",  # + mouth corners up (smile), - down
    "corner_asym",  # + one corner raised and pulled sideways (contempt)
    "lip_press",  # + lips pressed thin
)
_P = {name: i for i, name in enumerate(EXPRESSION_PARAMETERS)}

#: Apex (intensity 1) parameter values of each expression; missing entries are 0.
EXPRESSION_APEX = MappingProxyType(
    {
        "neutral": MappingProxyType({}),
        "anger": MappingProxyType(
            {
                "brow_raise": -0.55,
                "brow_inner": -0.75,
                "brow_squeeze": 0.7,
                "eye_open": 0.25,
                "lid_tighten": 0.45,
                "nose_wrinkle": 0.1,
                "mouth_stretch": -0.1,
                "corner_raise": -0.15,
                "lip_press": 0.85,
            }
        ),
        "contempt": MappingProxyType({"corner_asym": 1.0, "lid_tighten": 0.1, "lip_press": 0.2}),
        "disgust": MappingProxyType(
            {
                "brow_raise": -0.35,
                "brow_inner": -0.45,
                "brow_squeeze": 0.45,
                "eye_open": -0.2,
                "lid_tighten": 0.6,
                "nose_wrinkle": 1.0,
                "upper_lip_raise": 1.0,
                "mouth_open": 0.12,
                "mouth_stretch": 0.05,
                "corner_raise": -0.35,
            }
        ),
        "fear": MappingProxyType(
            {
                "brow_raise": 0.85,
                "brow_inner": 0.35,
                "brow_squeeze": 0.2,
                "eye_open": 0.95,
                "mouth_open": 0.85,
                "mouth_stretch": 0.15,
                "corner_raise": -0.1,
            }
        ),
        "happy": MappingProxyType(
            {
                "brow_raise": 0.05,
                "lid_tighten": 0.5,
                "mouth_open": 0.3,
                "mouth_stretch": 0.4,
                "corner_raise": 1.0,
            }
        ),
        "sadness": MappingProxyType(
            {
                "brow_raise": -0.1,
                "brow_inner": 0.5,
                "eye_open": -0.2,
                "mouth_stretch": -0.05,
                "corner_raise": -0.4,
                "lip_press": 0.15,
            }
        ),
        "surprise": MappingProxyType(
            {
                "brow_raise": 0.9,
                "brow_inner": 0.1,
                "eye_open": 0.9,
                "mouth_open": 0.9,
                "mouth_stretch": -0.2,
            }
        ),
    }
)

#: Synthetic expression -> FER-2013 class name (FER-2013 has no contempt).
SYNTHETIC_TO_FER2013 = MappingProxyType(
    {
        "anger": "angry",
        "disgust": "disgust",
        "fear": "fear",
        "happy": "happy",
        "sadness": "sad",
        "surprise": "surprise",
        "neutral": "neutral",
    }
)
_FER2013_TO_SYNTHETIC = MappingProxyType({v: k for k, v in SYNTHETIC_TO_FER2013.items()})

#: Relative size of each FER-2013 class (x ``fer_per_class_*``), like the real imbalance.
FER2013_CLASS_WEIGHTS = MappingProxyType(
    {"angry": 1.0, "disgust": 1.0 / 6.0, "fear": 1.0, "happy": 1.75, "sad": 1.2, "surprise": 0.8, "neutral": 1.2}
)

_CKPLUS_CODE_OF = MappingProxyType({name: code for code, name in CKPLUS_CODES.items()})

# Tags of the per-item random streams (never reuse a tag for another purpose).
_TAG_FER_IMAGE = 1
_TAG_FER_IDENTITY = 2
_TAG_CK_IDENTITY = 3
_TAG_CK_SEQUENCE = 4
_TAG_FER_ORDER = 5
_TAG_CK_UNLABELLED = 6
_TAG_CK_ORDER = 7

# Canonical face frame: head ellipse centred at (0, 0), half-width ~1, y down,
# eyes near y = 0. The point (0, _FACE_CENTRE_Y) is placed at the nuisance centre.
_FACE_CENTRE_Y = 0.25
_FACE_DEPTH = 0.55  # depth of the face surface at x = 0 (for yaw)
_N_PARAMS = len(EXPRESSION_PARAMETERS)


def _mouth_samples():
    """Positions r in [-1, 1] (corner to corner) where the mouth curves are evaluated."""
    segs = {
        "corners": [-1.0, 1.0, -0.9, 0.9],
        "lm5": [-0.7, -0.35, 0.0, 0.35, 0.7],
        "lm3": [-0.45, 0.0, 0.45],
        "dense": np.linspace(-1.0, 1.0, 25),
        "inner": np.linspace(-0.9, 0.9, 21),
        "chin": np.linspace(-0.45, 0.45, 9),
    }
    r, idx, start = [], {}, 0
    for name, values in segs.items():
        values = np.asarray(values, dtype=np.float64)
        r.append(values)
        idx[name] = slice(start, start + len(values))
        start += len(values)
    inner = idx["inner"]
    idx["teeth"] = slice(inner.start + 3, inner.stop - 3)
    idx["centre"] = slice(inner.start + 8, inner.start + 13)
    r = np.concatenate(r)
    r.setflags(write=False)
    return r, MappingProxyType(idx)


_MOUTH_R, _MOUTH_SEG = _mouth_samples()


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes, seed and nuisance strengths of the synthetic data set.

    The defaults make a data set (about 2,000 FER-2013 images and 126 CK+
    sequences, 2,600 frames) that generates in about 20 s of CPU time on one
    core.

    Parameters
    ----------
    seed : int, default=0
        Seed of every random stream (non-negative).
    fer_per_class_train, fer_per_class_public, fer_per_class_private : int
        Base number of FER-2013 images per class in the Training, PublicTest
        and PrivateTest splits, multiplied by :data:`FER2013_CLASS_WEIGHTS`
        (disgust gets about a sixth, happy 1.75 times).
    fer_identities : int, default=300
        Size of the identity pool the FER-2013 images draw from.
    fer_intensity_min, fer_intensity_max : float, default=0.6, 1.3
        Range of the expression intensity of the (static) FER-2013 images.
    fer_occlusion_prob : float, default=0.15
        Fraction of FER-2013 images with a partial occlusion (bar or patch).
        CK+ (posed, in a lab) has none.
    ck_subjects : int, default=40
        Number of CK+ subjects (ids S501, S502, ...; at most 499).
    ck_sequences_per_subject : int, default=3
        Labelled sequences per subject, of different classes when <= 7.
    ck_unlabelled_fraction : float, default=0.05
        Extra sequences without an Emotion file, as a fraction of the labelled
        ones, rounded up (at least 1 unless the fraction is 0).
    ck_min_frames, ck_max_frames : int, default=8, 32
        Range of sequence lengths (inclusive). At least 7, so that the last
        three frames of a fear sequence lie after its overshoot.
    ck_canvas : tuple of int, default=(144, 192)
        ``(height, width)`` of the CK+ frames (the real ones are 490 x 640).
    ck_apex_jitter : float, default=0.2
        Apex amplitude of a sequence ``~ U(1 - j, 1 + j)``.
    pose_strength : float, default=1.0
        Multiplier of the pose nuisance (in-plane rotation, yaw, scale and
        shift jitter, head motion within a sequence); 0 = frontal, centred.
    illumination_strength : float, default=1.0
        Multiplier of the illumination gradient and brightness/contrast jitter.
    noise_strength : float, default=1.0
        Multiplier of the gaussian pixel noise and blur.
    """

    seed: int = 0
    fer_per_class_train: int = 200
    fer_per_class_public: int = 40
    fer_per_class_private: int = 40
    fer_identities: int = 300
    fer_intensity_min: float = 0.6
    fer_intensity_max: float = 1.3
    fer_occlusion_prob: float = 0.15
    ck_subjects: int = 40
    ck_sequences_per_subject: int = 3
    ck_unlabelled_fraction: float = 0.05
    ck_min_frames: int = 8
    ck_max_frames: int = 32
    ck_canvas: tuple = (144, 192)
    ck_apex_jitter: float = 0.2
    pose_strength: float = 1.0
    illumination_strength: float = 1.0
    noise_strength: float = 1.0

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("seed", check_positive_int("seed", self.seed, minimum=0))
        for name in ("fer_per_class_train", "fer_per_class_public", "fer_per_class_private", "fer_identities"):
            put(name, check_positive_int(name, getattr(self, name), minimum=1))
        put("fer_intensity_min", check_fraction("fer_intensity_min", self.fer_intensity_min, 0.0, 2.0))
        put("fer_intensity_max", check_fraction("fer_intensity_max", self.fer_intensity_max, 0.0, 2.0))
        if self.fer_intensity_max < self.fer_intensity_min:
            raise ValueError(
                "fer_intensity_max must be >= fer_intensity_min; "
                f"got fer_intensity_min={self.fer_intensity_min!r}, fer_intensity_max={self.fer_intensity_max!r}"
            )
        put("fer_occlusion_prob", check_fraction("fer_occlusion_prob", self.fer_occlusion_prob, 0.0, 1.0))
        put("ck_subjects", check_positive_int("ck_subjects", self.ck_subjects, minimum=1))
        if self.ck_subjects > 499:
            raise ValueError(f"ck_subjects must be an integer in [1, 499] (ids S501..S999); got {self.ck_subjects!r}")
        n_seq = check_positive_int("ck_sequences_per_subject", self.ck_sequences_per_subject, minimum=1)
        if n_seq > 99:
            raise ValueError(f"ck_sequences_per_subject must be an integer in [1, 99]; got {n_seq!r}")
        put("ck_sequences_per_subject", n_seq)
        put(
            "ck_unlabelled_fraction",
            check_fraction("ck_unlabelled_fraction", self.ck_unlabelled_fraction, 0.0, 1.0),
        )
        lo = check_positive_int("ck_min_frames", self.ck_min_frames, minimum=7)
        hi = check_positive_int("ck_max_frames", self.ck_max_frames, minimum=7)
        if hi < lo:
            raise ValueError(f"ck_max_frames must be >= ck_min_frames={lo}; got {hi!r}")
        if hi > 999:
            raise ValueError(f"ck_max_frames must be an integer in [7, 999]; got {hi!r}")
        put("ck_min_frames", lo)
        put("ck_max_frames", hi)
        canvas = self.ck_canvas
        if isinstance(canvas, (str, bytes)) or not hasattr(canvas, "__len__") or len(canvas) != 2:
            raise ValueError(f"ck_canvas must be a (height, width) pair of integers in [48, 2048]; got {canvas!r}")
        h = check_positive_int("ck_canvas", canvas[0], minimum=48)
        w = check_positive_int("ck_canvas", canvas[1], minimum=48)
        if h > 2048 or w > 2048:
            raise ValueError(f"ck_canvas must be a (height, width) pair of integers in [48, 2048]; got {canvas!r}")
        put("ck_canvas", (h, w))
        put("ck_apex_jitter", check_fraction("ck_apex_jitter", self.ck_apex_jitter, 0.0, 0.5))
        for name in ("pose_strength", "illumination_strength", "noise_strength"):
            put(name, check_fraction(name, getattr(self, name), 0.0, 3.0))

    def to_dict(self):
        """Return the config as a JSON-compatible ``dict`` (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d):
        """Build a config from a ``dict`` such as :meth:`to_dict` returns (unknown keys raise)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"config must only have keys from {sorted(names)}; got unknown {unknown!r}")
        return cls(**d)


def _as_config(config):
    if config is None:
        return SyntheticConfig()
    if isinstance(config, SyntheticConfig):
        return config
    if isinstance(config, dict):
        return SyntheticConfig.from_dict(config)
    raise ValueError(f"config must be a SyntheticConfig, a dict or None; got {config!r}")


# --------------------------------------------------------------------------- identity & nuisance


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


def _drift_nuisance(n0, rng, pose_strength, illumination_strength):
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


def _lerp_nuisance(n0, n1, w, noise_seed):
    return dataclasses.replace(
        n0, noise_seed=int(noise_seed), **{k: (1 - w) * getattr(n0, k) + w * getattr(n1, k) for k in _DRIFTING}
    )


# --------------------------------------------------------------------------- expressions


def intensity_profile(expression, n_frames):
    """Expression intensity over a sequence, from neutral onset to apex.

    Parameters
    ----------
    expression : str
        One of :data:`SYNTHETIC_EXPRESSIONS`.
    n_frames : int
        Number of frames (>= 2; >= 4 for the positive-control classes).

    Returns
    -------
    ndarray of shape (n_frames,)
        Intensity per frame, 0 at the first frame. The last three frames are
        ``(1 - d, 1, 1 + d)`` for surprise and ``(1 + d, 1, 1 - d)`` for fear
        (``d =`` :data:`POSITIVE_CONTROL_STEP`); the other classes follow
        ``smoothstep(t)`` and end at 1. See the module docstring.
    """
    check_option("expression", expression, SYNTHETIC_EXPRESSIONS)
    if expression not in POSITIVE_CONTROL_CLASSES:
        n = check_positive_int("n_frames", n_frames, minimum=2)
        return _smoothstep(np.linspace(0.0, 1.0, n))
    n = check_positive_int("n_frames", n_frames, minimum=4)
    d = POSITIVE_CONTROL_STEP
    u = np.linspace(0.0, 1.0, n - 2)  # frames 0 .. T-3; the clip starts at u = 1
    if expression == "surprise":
        return np.concatenate([(1.0 - d) * u**2.5, [1.0, 1.0 + d]])
    rise = 1.5 * _smoothstep(np.clip(u / 0.6, 0.0, 1.0))
    fall = 1.5 - (0.5 - d) * (np.clip((u - 0.6) / 0.4, 0.0, 1.0) ** 2)
    return np.concatenate([np.where(u <= 0.6, rise, fall), [1.0, 1.0 - d]])


def _smoothstep(u):
    return u * u * (3.0 - 2.0 * u)


def expression_vector(expression, intensity=1.0):
    """Parameter vector of an expression at an intensity.

    Parameters
    ----------
    expression : str
        One of :data:`SYNTHETIC_EXPRESSIONS`.
    intensity : float, default=1.0
        0 = neutral, 1 = apex; values above 1 exaggerate.

    Returns
    -------
    ndarray of shape (len(EXPRESSION_PARAMETERS),)
        ``intensity`` times the apex values of :data:`EXPRESSION_APEX`.
    """
    check_option("expression", expression, SYNTHETIC_EXPRESSIONS)
    v = np.zeros(_N_PARAMS)
    for name, value in EXPRESSION_APEX[expression].items():
        v[_P[name]] = value
    return v * float(intensity)


def _jittered_apex(expression, rng):
    """Apex vector with per-parameter gain U(0.8, 1.2) plus N(0, 0.06) noise."""
    v = expression_vector(expression, 1.0)
    return v * rng.uniform(0.8, 1.2, _N_PARAMS) + rng.normal(0.0, 0.06, _N_PARAMS)


# --------------------------------------------------------------------------- geometry


def _outline(idt, alpha, jaw_drop):
    """Head contour at parameter angles ``alpha`` (bottom at pi/2), canonical coords."""
    s, c = np.sin(alpha), np.cos(alpha)
    y = idt.face_h * s
    taper = 1.0 - idt.chin_taper * np.clip(s, 0.0, 1.0) ** 2
    x = idt.face_w * c * taper
    y = y + jaw_drop * np.clip(s, 0.0, 1.0) ** 3
    return np.stack([x, y], axis=-1)


def _geometry(idt, p):
    """Canonical shapes and 68 landmarks of a face with parameter vector ``p``."""
    g = {}
    br, bi, bq = p[_P["brow_raise"]], p[_P["brow_inner"]], p[_P["brow_squeeze"]]
    eo, lt = p[_P["eye_open"]], p[_P["lid_tighten"]]
    nw_, ulr = max(p[_P["nose_wrinkle"]], 0.0), max(p[_P["upper_lip_raise"]], 0.0)
    mo, ms = max(p[_P["mouth_open"]], 0.0), p[_P["mouth_stretch"]]
    cr, ca, lp = p[_P["corner_raise"]], max(p[_P["corner_asym"]], 0.0), max(p[_P["lip_press"]], 0.0)

    lm = np.zeros((CKPLUS_N_LANDMARKS, 2))
    lmz = np.zeros(CKPLUS_N_LANDMARKS)

    # mouth opening: gap between the lips, mostly a jaw drop
    gap = 0.3 * mo
    jaw_drop = 0.75 * gap
    g["jaw_drop"] = jaw_drop

    # --- jaw (0-16) on the head contour
    a0 = math.asin(float(np.clip((idt.eye_y + 0.1) / idt.face_h, -0.9, 0.9)))
    lm[0:17] = _outline(idt, np.linspace(np.pi - a0, a0, 17), jaw_drop)
    g["head"] = _outline(idt, np.linspace(0, 2 * np.pi, 72, endpoint=False), jaw_drop)

    # --- eyes (36-47)
    hu = idt.eye_h * max(0.2, 1.0 + 0.85 * eo - 0.35 * lt)
    hl = idt.eye_h * 0.7 * max(0.15, 1.0 + 0.25 * eo - 0.7 * lt)
    eyes = []
    r_dense = np.linspace(-1.0, 1.0, 15)
    r_lm = np.array([-1.0, -1 / 3, 1 / 3, 1.0, 1 / 3, -1 / 3])
    for k, side in enumerate((-1.0, 1.0)):
        cx = side * idt.eye_dx

        def y0(r, side=side):
            return idt.eye_y - idt.eye_tilt * (1.0 + side * r) / 2.0

        def upper(r, y0=y0):
            return y0(r) - hu * (1.0 - r**2) ** 0.75

        def lower(r, y0=y0):
            return y0(r) + hl * (1.0 - r**2) ** 0.75

        xs = cx + idt.eye_w * r_lm
        ys = np.array([y0(-1.0), upper(-1 / 3), upper(1 / 3), y0(1.0), lower(1 / 3), lower(-1 / 3)])
        lm[36 + 6 * k : 42 + 6 * k] = np.stack([xs, ys], -1)
        up = np.stack([cx + idt.eye_w * r_dense, upper(r_dense)], -1)
        lo = np.stack([cx + idt.eye_w * r_dense[::-1], lower(r_dense[::-1])], -1)
        eyes.append(
            {
                "poly": np.concatenate([up, lo[1:-1]]),
                "upper": up,
                "lower": lo,
                "iris": (cx, y0(0.0) - 0.15 * (hu - hl), 0.42 * idt.eye_w),
                "top": float(upper(0.0)),
                "crease": np.stack([up[:, 0], up[:, 1] - 0.035 - 0.25 * hu], -1)[2:-2],
            }
        )
    g["eyes"] = eyes

    # --- brows (17-26): centre lines, outer -> inner for the image-left brow
    t = np.linspace(0.0, 1.0, 5)  # 0 = outer end, 1 = inner end
    t_dense = np.linspace(0.0, 1.0, 11)
    brows = []
    for k, side in enumerate((-1.0, 1.0)):
        top_of_eye = idt.eye_y - hu - 0.045 - idt.brow_thick / 2

        def centre(tt, side=side, top_of_eye=top_of_eye):
            x_out = side * (idt.eye_dx + idt.eye_w * 1.3)
            x_in = side * (idt.eye_dx - idt.eye_w * 1.05)
            x = x_out + (x_in - x_out) * tt - side * 0.07 * max(bq, 0.0) * tt
            arch = 1.0 - ((tt - 0.4) / 0.6) ** 2
            y = (
                idt.eye_y
                - idt.brow_gap
                - idt.brow_arch * arch
                + 0.03 * (1.0 - tt) ** 2
                - 0.14 * br
                - 0.13 * bi * tt**1.5
            )
            return np.stack([x, np.minimum(y, top_of_eye)], -1)

        pts = centre(t)
        lm[17 + 5 * k : 22 + 5 * k] = pts if side < 0 else pts[::-1]
        c = centre(t_dense)
        d = np.gradient(c, axis=0)
        nrm = np.stack([-d[:, 1], d[:, 0]], -1)
        nrm /= np.linalg.norm(nrm, axis=1, keepdims=True) + 1e-12
        half = (idt.brow_thick * (0.55 + 0.45 * t_dense) / 2)[:, None]
        brows.append({"poly": np.concatenate([c + nrm * half, (c - nrm * half)[::-1]]), "centre": c})
    g["brows"] = brows
    brow_inner_y = float(min(lm[21, 1], lm[22, 1]))
    brow_mean_y = float(lm[17:27, 1].mean())

    # --- nose (27-35)
    lift = 0.04 * nw_ + 0.03 * ulr
    nwid = idt.nose_w * (1.0 + 0.1 * nw_)
    top = idt.eye_y - 0.02
    tip = idt.nose_y - 0.05 - lift
    lm[27:31] = np.stack([np.zeros(4), np.linspace(top, tip, 4)], -1)
    lmz[27:31] = [0.1, 0.18, 0.26, 0.33]
    nb = idt.nose_y - lift
    lm[31:36] = np.stack([np.array([-1, -0.5, 0, 0.5, 1]) * nwid, nb + np.array([-0.02, 0.01, 0.025, 0.01, -0.02])], -1)
    lmz[31:36] = [0.12, 0.2, 0.24, 0.2, 0.12]
    g["nose"] = {"w": nwid, "base_y": nb, "tip_y": tip, "top_y": top}

    # --- mouth (48-67)
    my = idt.mouth_y - 0.07 * ulr * 0.4
    mw = idt.mouth_w * (1.0 + 0.25 * ms + 0.12 * max(cr, 0.0) - 0.08 * lp)
    dy_corner = -0.09 * cr
    mwl = mwr = mw
    dyl = dyr = dy_corner
    if idt.contempt_side > 0:
        mwr, dyr = mw + 0.06 * ca, dy_corner - 0.085 * ca
    else:
        mwl, dyl = mw + 0.06 * ca, dy_corner - 0.085 * ca
    ut = idt.upper_lip * (1.0 - 0.55 * lp) * (1.0 - 0.15 * max(ms, 0.0))
    lt_ = idt.lower_lip * (1.0 - 0.55 * lp) * (1.0 - 0.15 * max(ms, 0.0))
    up_gap = 0.25 * gap + 0.05 * ulr
    low_gap = jaw_drop

    # every mouth curve evaluated once on all sample positions (_MOUTH_R), then sliced
    r = _MOUTH_R
    r2 = r * r
    left = r < 0
    x = r * np.where(left, mwl, mwr)
    mid = my + np.where(left, dyl, dyr) * r2
    opening = np.sqrt(np.maximum(1.0 - r2 / 0.81, 0.0))
    iu = mid - up_gap * opening
    il = mid + low_gap * opening
    round_ = np.sqrt(np.maximum(1.0 - r2, 0.0))
    ou = iu - ut * (0.25 + 0.75 * round_) * (1.0 - 0.25 * np.exp(-r2 / 0.0144))  # cupid's bow dip
    ol = il + lt_ * (0.2 + 0.8 * round_)

    def at(y, seg):
        return np.stack([x[seg], y[seg]], -1)

    m = _MOUTH_SEG
    corners4 = at(mid, m["corners"])  # r = -1, 1, -0.9, 0.9
    lm[48], lm[54], lm[60], lm[64] = corners4
    lm[49:54] = at(ou, m["lm5"])
    lm[55:60] = at(ol, m["lm5"])[::-1]
    lm[61:64] = at(iu, m["lm3"])
    lm[65:68] = at(il, m["lm3"])[::-1]
    lmz[48:68] = 0.08
    teeth = at(iu, m["teeth"])
    g["mouth"] = {
        "outer": np.concatenate([at(ou, m["dense"]), at(ol, m["dense"])[::-1][1:-1]]),
        "inner": np.concatenate([at(iu, m["inner"]), at(il, m["inner"])[::-1][1:-1]]),
        "line": at(mid, m["inner"]),
        "gap": float(np.mean((il - iu)[m["centre"]])),
        "teeth": np.concatenate([teeth, (teeth + (0.0, min(0.075, 0.45 * gap)))[::-1]]),
        "chin_crease": at(ol + 0.07 + 0.04 * (1.0 - r2), m["chin"]),
        "corners": (np.array([-mwl, my + dyl]), np.array([mwr, my + dyr])),
    }

    # --- wrinkles and folds: groups of polylines sharing (alpha, width)
    lines = []
    w_fore = 0.4 * float(np.clip(br - 0.2, 0.0, 1.0)) + 0.15 * idt.wrinkles * max(br, 0.0)
    if w_fore > 0.01:
        group = []
        for j, dy in enumerate((0.12, 0.2, 0.28)):
            xs = np.linspace(-0.38 + 0.05 * j, 0.38 - 0.05 * j, 9)
            ys = brow_mean_y - dy - 0.04 * (1 - (xs / 0.4) ** 2)
            group.append(np.stack([xs, ys], -1))
        lines.append((group, w_fore, 0.018))
    w_furrow = 0.5 * max(bq, 0.0) + 0.3 * max(-bi, 0.0)
    if w_furrow > 0.01:
        group = [
            np.stack([side * np.array([0.035, 0.05, 0.055]), brow_inner_y + np.array([0.02, -0.06, -0.13])], -1)
            for side in (-1, 1)
        ]
        lines.append((group, min(w_furrow, 0.7), 0.016))
    if nw_ > 0.01:
        group = []
        for side in (-1, 1):
            for j in range(3):
                y = idt.eye_y + 0.06 + 0.055 * j
                group.append(np.array([[side * 0.02, y - 0.01], [side * 0.09, y + 0.015]]))
        lines.append((group, 0.55 * min(nw_, 1.3), 0.015))
    w_nl = 0.12 + 0.45 * max(cr, 0.0) + 0.35 * ulr + 0.25 * nw_ + 0.25 * idt.wrinkles
    corners = g["mouth"]["corners"]
    tt = np.linspace(0, 1, 9)[:, None]
    folds = {}
    for k, side in enumerate((-1, 1)):
        start = np.array([side * (nwid + 0.05), nb - 0.05])
        end = corners[k] + np.array([side * 0.07, 0.06])
        ctrl = np.array([side * max(abs(end[0]) + 0.04, nwid + 0.13), (start[1] + end[1]) / 2])
        curve = (1 - tt) ** 2 * start + 2 * (1 - tt) * tt * ctrl + tt**2 * end
        a = round(min(w_nl + (0.3 * ca if side == idt.contempt_side else 0.0), 0.8), 6)
        folds.setdefault(a, []).append(curve)
    lines.extend((group, a, 0.02) for a, group in folds.items())
    g["lines"] = lines
    g["cheek_glow"] = 0.15 * max(cr, 0.0)
    return g, lm, lmz


# --------------------------------------------------------------------------- drawing


class _Transform:
    """Canonical face coordinates -> pixel coordinates (yaw, rotation, scale, shift)."""

    def __init__(self, idt, nuis, size):
        self.H, self.W = size
        self.unit = nuis.scale * self.H
        a = math.radians(nuis.angle_deg)
        self.ca, self.sa = math.cos(a), math.sin(a)
        self.cy_, self.sy_ = math.cos(nuis.yaw), math.sin(nuis.yaw)
        self.px0, self.py0 = nuis.cx * self.W, nuis.cy * self.H
        self.inv_fw2 = 1.0 / idt.face_w**2

    def __call__(self, pts, z_extra=0.0):
        pts = np.asarray(pts, dtype=np.float64)
        x, y = pts[..., 0], pts[..., 1]
        z = np.sqrt(np.maximum(1.0 - x * x * self.inv_fw2, 0.0))
        z *= _FACE_DEPTH
        z += z_extra
        u = (x * self.cy_ + z * self.sy_) * self.unit
        v = (y - _FACE_CENTRE_Y) * self.unit
        out = np.empty(pts.shape)
        out[..., 0] = self.px0 + self.ca * u - self.sa * v
        out[..., 1] = self.py0 + self.sa * u + self.ca * v
        return out

    def canonical_grid(self, y0, y1, x0, x1):
        """Approximate canonical (x, y) of the pixel centres of a box (for shading)."""
        xx, yy = _pixel_grid(self.H, self.W)
        dx, dy = xx[y0:y1, x0:x1] - self.px0, yy[y0:y1, x0:x1] - self.py0
        u = (self.ca * dx + self.sa * dy) / self.unit
        v = (-self.sa * dx + self.ca * dy) / self.unit
        x = (u - 0.8 * _FACE_DEPTH * self.sy_) / self.cy_
        return x, v + _FACE_CENTRE_Y


@functools.lru_cache(maxsize=8)
def _pixel_grid(H, W):
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    xx.setflags(write=False)
    yy.setflags(write=False)
    return xx, yy


@functools.lru_cache(maxsize=16)
def _unit_circle(n):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    c = np.stack([np.cos(t), np.sin(t)], -1)
    c.setflags(write=False)
    return c


def _bbox(polys, H, W, pad):
    allp = polys[0] if len(polys) == 1 else np.concatenate(polys)
    xs, ys = allp[..., 0], allp[..., 1]
    x0 = max(int(math.floor(xs.min() - pad)), 0)
    y0 = max(int(math.floor(ys.min() - pad)), 0)
    x1 = min(int(math.ceil(xs.max() + pad)) + 1, W)
    y1 = min(int(math.ceil(ys.max() + pad)) + 1, H)
    return x0, y0, x1, y1


def _coverage(polys, H, W, closed=True, thickness=0, pad=2.0, box=None):
    """Anti-aliased coverage in [0, 1] of pixel polygons, on their bounding box (or ``box``)."""
    x0, y0, x1, y1 = _bbox(polys, H, W, pad + thickness) if box is None else box
    if x1 <= x0 or y1 <= y0:
        return None
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    off = np.array([x0, y0], np.float64)
    ipts = [np.rint((p - off) * 16.0).astype(np.int32).reshape(-1, 1, 2) for p in polys]
    if thickness:
        cv2.polylines(mask, ipts, closed, 255, thickness=int(thickness), lineType=cv2.LINE_AA, shift=4)
    else:
        cv2.fillPoly(mask, ipts, 255, lineType=cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) * (1.0 / 255.0), (y0, y1, x0, x1)


def _blend(img, cov, tone, alpha=1.0):
    if cov is None or alpha <= 0:
        return
    m, (y0, y1, x0, x1) = cov
    sub = img[y0:y1, x0:x1]
    sub += (m * alpha) * (tone - sub)


def _fill(img, polys, tone, alpha=1.0):
    _blend(img, _coverage(polys, img.shape[0], img.shape[1]), tone, alpha)


def _stroke(img, polys, tone, width_px, alpha=1.0, closed=False):
    """Draw polylines ``polys`` (a list of pixel arrays) of width ``width_px``."""
    th = max(1, int(round(width_px)))
    a = alpha * width_px if width_px < 1 else alpha
    _blend(img, _coverage(polys, img.shape[0], img.shape[1], closed=closed, thickness=th), tone, a)


def _ellipse(cx, cy, ax, ay, n=24):
    return _unit_circle(n) * (ax, ay) + (cx, cy)


@functools.lru_cache(maxsize=64)
def _texture(seed, H, W):
    """Low-frequency background texture in [-1, 1] (cached: constant within a sequence)."""
    small = np.random.default_rng(seed).uniform(-1.0, 1.0, (5, 6)).astype(np.float32)
    tex = cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC)
    tex.setflags(write=False)
    return tex


def _background(nuis, H, W):
    yy = np.linspace(-0.5, 0.5, H, dtype=np.float32)[:, None]
    img = np.full((H, W), nuis.background, np.float32) + nuis.background_gradient * yy
    if nuis.background_texture > 0:
        img += nuis.background_texture * _texture(nuis.texture_seed, H, W)
    return img


class _Shapes:
    """Collects canonical point arrays, then transforms them all in one call."""

    def __init__(self):
        self._pts, self._z, self._out = [], [], None

    def add(self, pts, z=0.0):
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        self._pts.append(pts)
        self._z.append(np.full(len(pts), z) if np.isscalar(z) else np.asarray(z, dtype=np.float64))
        return len(self._pts) - 1

    def run(self, tf):
        sizes = np.cumsum([len(p) for p in self._pts])[:-1]
        px = tf(np.concatenate(self._pts), np.concatenate(self._z))
        self._out = np.split(px, sizes)

    def __getitem__(self, handle):
        return self._out[handle]

    def many(self, handles):
        return [self._out[h] for h in handles]


def render_face(identity, expression="neutral", intensity=1.0, nuisance=None, size=(FER2013_SIZE, FER2013_SIZE)):
    """Draw one grayscale face and its 68 landmarks.

    Parameters
    ----------
    identity : Identity
        The subject (see :func:`sample_identity`).
    expression : str or array-like of shape (len(EXPRESSION_PARAMETERS),), default="neutral"
        A name from :data:`SYNTHETIC_EXPRESSIONS`, or an explicit apex
        parameter vector.
    intensity : float, default=1.0
        Scales the deformation (0 = neutral, 1 = apex). The subject's
        ``expressiveness`` multiplies it.
    nuisance : Nuisance, optional
        Pose, placement, illumination and image quality; default a clean,
        frontal, centred face.
    size : tuple of int, default=(48, 48)
        ``(height, width)`` of the canvas.

    Returns
    -------
    image : ndarray of shape (height, width), dtype uint8
        The rendered face.
    landmarks : ndarray of shape (68, 2), dtype float64
        iBUG 68-point ``(x, y)`` pixel coordinates of the drawn geometry,
        after the pose transform (may fall outside the canvas).
    """
    if isinstance(expression, str):
        p = expression_vector(expression, 1.0)
    else:
        p = np.asarray(expression, dtype=np.float64)
        if p.shape != (_N_PARAMS,):
            raise ValueError(
                f"expression must be a name from {list(SYNTHETIC_EXPRESSIONS)} or a vector of shape "
                f"({_N_PARAMS},); got shape {p.shape}"
            )
    p = p * float(intensity) * identity.expressiveness
    nuis = Nuisance() if nuisance is None else nuisance
    H, W = (int(size[0]), int(size[1]))
    idt = identity
    g, lm, lmz = _geometry(idt, p)
    tf = _Transform(idt, nuis, (H, W))
    unit = tf.unit
    img = _background(nuis, H, W)
    skin = idt.skin

    # --- register every shape in canonical coordinates, then transform them at once
    sh = _Shapes()
    h_landmarks = sh.add(lm, lmz)
    h_shoulders = sh.add(_ellipse(0.0, 2.95, 2.2, 1.0, 32))
    h_neck = sh.add([[-0.4, 0.7], [0.4, 0.7], [0.46, 2.3], [-0.46, 2.3]])
    h_back = None
    if idt.hair_length > -0.35:
        back = _ellipse(0.0, -0.2, idt.face_w * 1.13 + idt.hair_volume * 0.5, idt.face_h * 1.02 + idt.hair_volume)
        back[:, 1] = np.minimum(back[:, 1], idt.hair_length)
        h_back = sh.add(back)
    h_ears = [sh.add(_ellipse(sd * idt.face_w * 0.97, 0.12, 0.12, 0.22, 16)) for sd in (-1, 1)]
    h_head = sh.add(g["head"])
    arc = _outline(idt, np.linspace(np.pi, 2 * np.pi, 33), 0.0)  # hair cap above the hairline
    hl_y = idt.hairline + 0.55 * (arc[:, 0] / idt.face_w) ** 4
    cap = np.concatenate([arc, np.stack([arc[:, 0], np.maximum(arc[:, 1], hl_y)], -1)[::-1]])
    cap[:, 1] -= np.where(cap[:, 1] < idt.hairline, idt.hair_volume * 0.3, 0.0)
    h_cap = sh.add(cap)
    h_cheeks = [sh.add(_ellipse(sd * (idt.eye_dx + 0.03), idt.eye_y + 0.33, 0.2, 0.12)) for sd in (-1, 1)]
    eyes = g["eyes"]
    h_sockets = [sh.add(_ellipse(e["iris"][0], e["iris"][1] - 0.02, idt.eye_w * 1.35, idt.eye_h * 2.2)) for e in eyes]
    h_sclera = [sh.add(e["poly"]) for e in eyes]
    h_irises = [sh.add(_ellipse(cx, cy, r, r, 20)) for cx, cy, r in (e["iris"] for e in eyes)]
    h_pupils = [sh.add(_ellipse(cx, cy, 0.45 * r, 0.45 * r, 12)) for cx, cy, r in (e["iris"] for e in eyes)]
    h_upper = [sh.add(e["upper"]) for e in eyes]
    h_lower = [sh.add(e["lower"]) for e in eyes]
    h_crease = [sh.add(e["crease"]) for e in eyes]
    h_brows = [sh.add(brow["poly"]) for brow in g["brows"]]
    nose = g["nose"]
    nwid, nb, top = nose["w"], nose["base_y"], nose["top_y"]
    h_nose_sides = [
        sh.add([[sd * 0.07, top + 0.1], [sd * 0.085, nb - 0.2], [sd * nwid * 0.8, nb - 0.07]], 0.15) for sd in (-1, 1)
    ]
    h_wings = [sh.add(_ellipse(sd * nwid * 0.82, nb - 0.03, nwid * 0.28, 0.06, 12)[6:], 0.15) for sd in (-1, 1)]
    h_nostrils = [sh.add(_ellipse(sd * nwid * 0.45, nb - 0.005, 0.055, 0.024, 12), 0.2) for sd in (-1, 1)]
    h_tip = sh.add(_ellipse(0.0, nose["tip_y"] - 0.02, 0.06, 0.05, 12), 0.33)
    h_nose_shadow = sh.add(_ellipse(0.0, nb + 0.06, nwid * 0.7, 0.03, 16), 0.15)
    h_lines = [([sh.add(pts) for pts in group], a, width) for group, a, width in g["lines"]]
    mouth = g["mouth"]
    h_lips = sh.add(mouth["outer"])
    h_inner = sh.add(mouth["inner"])
    h_teeth = sh.add(mouth["teeth"])
    h_lip_line = sh.add(mouth["line"])
    h_chin = sh.add(mouth["chin_crease"])
    h_occ = None
    if nuis.occlusion is not None:
        x0, y0, x1, y1, _ = nuis.occlusion
        rect = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)
        h_occ = sh.add(np.concatenate([np.linspace(rect[i], rect[(i + 1) % 4], 8, endpoint=False) for i in range(4)]))
    sh.run(tf)

    # --- draw, back to front
    _fill(img, [sh[h_shoulders]], nuis.clothing)
    _fill(img, [sh[h_neck]], skin * 0.82)
    if h_back is not None:
        _fill(img, [sh[h_back]], idt.hair_tone)
    _fill(img, sh.many(h_ears), skin * 0.9)
    head_cov = _coverage([sh[h_head]], H, W)
    _blend(img, head_cov, skin)
    if head_cov is not None:  # shading: darker towards the face contour, only on the head
        m, (y0, y1, x0, x1) = head_cov
        gx, gy = tf.canonical_grid(y0, y1, x0, x1)
        r2 = (gx / idt.face_w) ** 2 + (gy / idt.face_h) ** 2
        img[y0:y1, x0:x1] *= 1.0 - m * 0.22 * np.clip(r2, 0.0, 1.0) ** 2
    _fill(img, [sh[h_cap]], idt.hair_tone)
    if g["cheek_glow"] > 0:
        _fill(img, sh.many(h_cheeks), min(1.0, skin * 1.15), g["cheek_glow"])

    # eyes: socket shadow, sclera, iris and pupil (clipped to the eye), lids
    _fill(img, sh.many(h_sockets), skin * 0.8, 0.35)
    sclera = sh.many(h_sclera)
    box = _bbox(sclera, H, W, 3.0)
    eye_cov = _coverage(sclera, H, W, box=box)
    _blend(img, eye_cov, min(0.92, skin + 0.22))
    if eye_cov is not None:
        m = eye_cov[0]
        _blend(img, (_coverage(sh.many(h_irises), H, W, box=box)[0] * m, eye_cov[1]), idt.iris_tone)
        _blend(img, (_coverage(sh.many(h_pupils), H, W, box=box)[0] * m, eye_cov[1]), 0.04)
    _stroke(img, sh.many(h_upper), 0.08, 0.035 * unit, 0.9)
    _stroke(img, sh.many(h_lower), skin * 0.6, 0.02 * unit, 0.5)
    _stroke(img, sh.many(h_crease), skin * 0.7, 0.018 * unit, 0.35)

    _fill(img, sh.many(h_brows), idt.brow_tone, 0.9)

    # nose: side shading, wings, nostrils, tip highlight, shadow below
    _stroke(img, sh.many(h_nose_sides), skin * 0.65, 0.02 * unit, 0.35)
    _stroke(img, sh.many(h_wings), skin * 0.6, 0.02 * unit, 0.45)
    _fill(img, sh.many(h_nostrils), skin * 0.3, 0.85)
    _fill(img, [sh[h_tip]], min(1.0, skin * 1.15), 0.35)
    _fill(img, [sh[h_nose_shadow]], skin * 0.7, 0.2)

    # wrinkles and folds
    for handles, a, width in h_lines:
        _stroke(img, sh.many(handles), skin * 0.62, width * unit, a)

    # mouth: lips, dark inside, upper teeth (clipped to the inside), lip line, chin crease
    _fill(img, [sh[h_lips]], skin * idt.lip_tone)
    if mouth["gap"] > 0.004:
        inner = [sh[h_inner]]
        box = _bbox(inner, H, W, 2.0)
        inner_cov = _coverage(inner, H, W, box=box)
        _blend(img, inner_cov, 0.08)
        if mouth["gap"] > 0.03 and inner_cov is not None:
            teeth = _coverage([sh[h_teeth]], H, W, box=box)[0]
            _blend(img, (teeth * inner_cov[0], inner_cov[1]), 0.85, 0.9)
    _stroke(img, [sh[h_lip_line]], skin * 0.35, 0.022 * unit, 0.8)
    _stroke(img, [sh[h_chin]], skin * 0.7, 0.02 * unit, 0.2)

    # occlusion (rotates with the head)
    if h_occ is not None:
        _fill(img, [sh[h_occ]], nuis.occlusion[4])

    # illumination gradient, brightness and contrast
    if nuis.illum_strength > 0:
        xx, yy = _pixel_grid(H, W)
        proj = ((xx / W - 0.5) * math.cos(nuis.illum_angle) + (yy / H - 0.5) * math.sin(nuis.illum_angle)) * 2.0
        img *= 1.0 + nuis.illum_strength * proj
    img = 0.5 + nuis.contrast * (img * nuis.brightness - 0.5)

    # blur and noise
    sigma = nuis.blur * unit
    if sigma > 0.1:
        img = cv2.GaussianBlur(img, (0, 0), sigmaX=sigma)
    if nuis.noise_std > 0:
        img = img + np.random.default_rng(nuis.noise_seed).normal(0.0, nuis.noise_std / 255.0, img.shape).astype(
            np.float32
        )
    image = np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
    return image, sh[h_landmarks].copy()


# --------------------------------------------------------------------------- FER-2013


@functools.lru_cache(maxsize=4096)
def _fer_identity(seed, index):
    return sample_identity(np.random.default_rng([seed, _TAG_FER_IDENTITY, index]))


def fer_class_counts(config=None):
    """Number of FER-2013 images per split and class.

    Parameters
    ----------
    config : SyntheticConfig or dict, optional
        Default :class:`SyntheticConfig`.

    Returns
    -------
    dict
        ``{split: {class: n}}`` for the splits of
        :data:`~fer_lib.data.constants.FER2013_SPLITS` and the classes of
        :data:`~fer_lib.data.constants.FER2013_CLASSES`; every ``n >= 1``.
    """
    cfg = _as_config(config)
    base = dict(
        zip(FER2013_SPLITS, (cfg.fer_per_class_train, cfg.fer_per_class_public, cfg.fer_per_class_private))
    )
    return {
        split: {c: max(1, int(round(base[split] * FER2013_CLASS_WEIGHTS[c]))) for c in FER2013_CLASSES}
        for split in FER2013_SPLITS
    }


def _fer_image(cfg, split_idx, class_idx, j):
    rng = np.random.default_rng([cfg.seed, _TAG_FER_IMAGE, split_idx, class_idx, j])
    identity = _fer_identity(cfg.seed, int(rng.integers(cfg.fer_identities)))
    expression = _FER2013_TO_SYNTHETIC[FER2013_CLASSES[class_idx]]
    vec = _jittered_apex(expression, rng)
    intensity = rng.uniform(cfg.fer_intensity_min, cfg.fer_intensity_max)
    nuis = sample_nuisance(
        rng,
        "fer2013",
        cfg.pose_strength,
        cfg.illumination_strength,
        cfg.noise_strength,
        cfg.fer_occlusion_prob,
    )
    image, _ = render_face(identity, vec, intensity, nuis, (FER2013_SIZE, FER2013_SIZE))
    return image


def _fer_plan(cfg):
    """List of (split_idx, class_idx, j) in CSV order (splits in order, shuffled within)."""
    counts = fer_class_counts(cfg)
    plan = []
    for s, split in enumerate(FER2013_SPLITS):
        items = [(s, c, j) for c, name in enumerate(FER2013_CLASSES) for j in range(counts[split][name])]
        order = np.random.default_rng([cfg.seed, _TAG_FER_ORDER, s]).permutation(len(items))
        plan.extend(items[i] for i in order)
    return plan


def make_fer_images(config=None, progress=False):
    """Render the synthetic FER-2013 images.

    Parameters
    ----------
    config : SyntheticConfig or dict, optional
        Default :class:`SyntheticConfig`.
    progress : bool, default=False
        Show a tqdm progress bar.

    Returns
    -------
    images : ndarray of shape (n, 48, 48), dtype uint8
        Faces, in CSV order (Training, then PublicTest, then PrivateTest,
        shuffled within each split).
    labels : ndarray of shape (n,), dtype int64
        FER-2013 codes, indices into :data:`~fer_lib.data.constants.FER2013_CLASSES`.
    usage : ndarray of shape (n,), dtype str
        The split of each image, as in the ``Usage`` column.
    """
    cfg = _as_config(config)
    from tqdm.auto import tqdm

    plan = _fer_plan(cfg)
    images = np.empty((len(plan), FER2013_SIZE, FER2013_SIZE), np.uint8)
    for k, (s, c, j) in enumerate(tqdm(plan, desc="synthetic FER-2013", unit="img", disable=not progress)):
        images[k] = _fer_image(cfg, s, c, j)
    labels = np.array([c for _, c, _ in plan], dtype=np.int64)
    usage = np.array([FER2013_SPLITS[s] for s, _, _ in plan])
    return images, labels, usage


# --------------------------------------------------------------------------- CK+


def _ck_plan(cfg):
    """Per subject, the ordered list of ("labelled", j) / ("unlabelled", u) items."""
    n_sub, k = cfg.ck_subjects, cfg.ck_sequences_per_subject
    n_lab = n_sub * k
    frac = cfg.ck_unlabelled_fraction
    n_unlab = 0 if frac == 0 else max(1, math.ceil(frac * n_lab - 1e-9))
    rng = np.random.default_rng([cfg.seed, _TAG_CK_UNLABELLED])
    owners = rng.choice(n_sub, size=n_unlab, replace=n_unlab > n_sub) if n_unlab else np.array([], int)
    plan = []
    for i in range(n_sub):
        items = [("labelled", j) for j in range(k)] + [("unlabelled", u) for u in np.flatnonzero(owners == i)]
        order = np.random.default_rng([cfg.seed, _TAG_CK_ORDER, i]).permutation(len(items))
        plan.append([items[o] for o in order])
    return plan


def _ck_sequence(cfg, i, kind, idx):
    H, W = cfg.ck_canvas
    identity = sample_identity(np.random.default_rng([cfg.seed, _TAG_CK_IDENTITY, i]))
    rng = np.random.default_rng([cfg.seed, _TAG_CK_SEQUENCE, i, 0 if kind == "labelled" else 1, int(idx)])
    if kind == "labelled":
        # cyclic assignment: balanced over classes, distinct within a subject
        name = CKPLUS_CLASSES[(i * cfg.ck_sequences_per_subject + idx) % len(CKPLUS_CLASSES)]
        code = _CKPLUS_CODE_OF[name]
    else:
        name = SYNTHETIC_EXPRESSIONS[int(rng.integers(len(SYNTHETIC_EXPRESSIONS)))]
        code = None
    n_frames = int(rng.integers(cfg.ck_min_frames, cfg.ck_max_frames + 1))
    amplitude = 1.0 + cfg.ck_apex_jitter * rng.uniform(-1.0, 1.0)
    vec = _jittered_apex(name, rng)
    intens = intensity_profile(name, n_frames) * amplitude
    n0 = sample_nuisance(rng, "ckplus", cfg.pose_strength, cfg.illumination_strength, cfg.noise_strength, 0.0)
    n1 = _drift_nuisance(n0, rng, cfg.pose_strength, cfg.illumination_strength)
    seeds = rng.integers(2**31, size=n_frames)
    frames = np.empty((n_frames, H, W), np.uint8)
    lms = np.empty((n_frames, CKPLUS_N_LANDMARKS, 2))
    w = _smoothstep(np.linspace(0.0, 1.0, n_frames))
    for f in range(n_frames):
        frames[f], lms[f] = render_face(identity, vec, intens[f], _lerp_nuisance(n0, n1, w[f], seeds[f]), (H, W))
    return {"expression": name, "label": code, "frames": frames, "landmarks": lms, "intensity": intens}


def iter_sequences(config=None, progress=False):
    """Yield the synthetic CK+ sequences one at a time (see :func:`make_sequences`)."""
    cfg = _as_config(config)
    from tqdm.auto import tqdm

    plan = _ck_plan(cfg)
    total = sum(len(p) for p in plan)
    with tqdm(total=total, desc="synthetic CK+", unit="seq", disable=not progress) as bar:
        for i, items in enumerate(plan):
            for s, (kind, idx) in enumerate(items):
                seq = _ck_sequence(cfg, i, kind, idx)
                seq = {"subject": f"S{501 + i:03d}", "sequence": f"{s + 1:03d}", **seq}
                bar.update(1)
                yield seq


def make_sequences(config=None, progress=False):
    """Render all synthetic CK+ sequences.

    Parameters
    ----------
    config : SyntheticConfig or dict, optional
        Default :class:`SyntheticConfig`.
    progress : bool, default=False
        Show a tqdm progress bar.

    Returns
    -------
    list of dict
        One dict per sequence, ordered by subject then sequence, with keys

        - ``subject`` (str, e.g. ``"S501"``) and ``sequence`` (str, ``"001"``);
        - ``frames``: ndarray of shape (T, H, W), dtype uint8 (``H, W = ck_canvas``);
        - ``landmarks``: ndarray of shape (T, 68, 2), float ``(x, y)`` pixels;
        - ``label``: CK+ code (int, 1..7) or None for an unlabelled sequence;
        - ``expression``: the generating expression (also for unlabelled ones);
        - ``intensity``: ndarray of shape (T,), the intensity of each frame.
    """
    return list(iter_sequences(config, progress))


def ckplus48_crop(frames, landmarks, size=CKPLUS48_SIZE):
    """Crop faces like the CK+48 release: a square box around the landmarks.

    One box (the union of the landmarks of all given frames, squared, with a
    10 % margin and shifted up a little to keep the forehead) is used for all
    frames, so the crop does not jitter within a clip.

    Parameters
    ----------
    frames : ndarray of shape (T, H, W), dtype uint8
    landmarks : ndarray of shape (T, 68, 2)
    size : int, default=48

    Returns
    -------
    ndarray of shape (T, size, size), dtype uint8
    """
    frames = np.asarray(frames)
    pts = np.asarray(landmarks).reshape(-1, 2)
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    side = 1.1 * max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - 0.06 * side
    bx0, by0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    n = max(int(round(side)), 2)
    out = np.empty((len(frames), size, size), np.uint8)
    H, W = frames.shape[1:3]
    for k, fr in enumerate(frames):
        pad = max(0, -bx0, -by0, bx0 + n - W, by0 + n - H)
        src = cv2.copyMakeBorder(fr, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else fr
        crop = src[by0 + pad : by0 + pad + n, bx0 + pad : bx0 + pad + n]
        out[k] = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return out


# --------------------------------------------------------------------------- writing

_DESCRIPTION = (
    "Procedurally drawn grayscale faces (fer_lib.data.synthetic): 8 expressions as deformations of per-subject "
    "identities with pose, illumination, blur, noise and occlusion nuisance, written in the formats of "
    "FER-2013 (Kaggle CSV) and CK+ (official release layout and CK+48). Fear and surprise look alike at the "
    "apex but differ in motion (surprise still rising, fear relaxing after an overshoot): a positive control "
    "for temporal models."
)

_GENERATED = ("fer2013/fer2013.csv.gz", "ckplus/sequences", "ckplus/CK+48")


def _png_bytes(image):
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover - cv2 failure
        raise RuntimeError("cv2.imencode failed to encode a PNG")
    return buf.tobytes()


def _clear_previous(root):
    """Remove a previous synthetic data set; refuse to touch anything else."""
    present = [root / rel for rel in _GENERATED if (root / rel).exists()]
    manifest = root / "manifest.json"
    if not present:
        if manifest.exists():
            manifest.unlink()
        return
    owner = None
    if manifest.is_file():
        try:
            owner = json.loads(manifest.read_text()).get("generator")
        except (OSError, ValueError):
            owner = None
    if owner != GENERATOR_NAME:
        raise FileExistsError(
            f"{root} already holds data not written by {GENERATOR_NAME} ({', '.join(map(str, present))}); "
            "refusing to overwrite it. Choose an empty folder for the synthetic data set."
        )
    manifest.unlink()
    for path in present:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()


def write_synthetic_dataset(root, config=None, progress=True):
    """Generate the synthetic data set and write it under ``root``.

    Parameters
    ----------
    root : str or path-like
        Output folder (created if needed). A previous synthetic data set there
        is replaced; data not written by this module is never overwritten
        (``FileExistsError``).
    config : SyntheticConfig or dict, optional
        Default :class:`SyntheticConfig`.
    progress : bool, default=True
        Show tqdm progress bars.

    Returns
    -------
    dict
        The manifest, also written to ``root/manifest.json`` (last, so that a
        half-written data set has none): generator name and version, seed,
        config, counts, positive-control classes, description and layout.
    """
    cfg = _as_config(config)
    root = Path(root).expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    _clear_previous(root)

    # --- FER-2013 CSV (gzip with mtime 0 and no file name: byte-identical between runs)
    images, labels, usage = make_fer_images(cfg, progress=progress)
    fer_dir = root / "fer2013"
    fer_dir.mkdir(parents=True, exist_ok=True)
    strs = [str(v) for v in range(256)]
    rows = [",".join(FER2013_COLUMNS) + "\n"]
    for img, lab, use in zip(images, labels, usage):
        rows.append(f"{int(lab)},{' '.join([strs[v] for v in img.ravel().tolist()])},{use}\n")
    (fer_dir / "fer2013.csv.gz").write_bytes(gzip.compress("".join(rows).encode("ascii"), compresslevel=4, mtime=0))
    counts = fer_class_counts(cfg)

    # --- CK+ sequences, Emotion, Landmarks, CK+48
    seq_root = root / "ckplus" / "sequences"
    ck48_root = root / "ckplus" / "CK+48"
    for name in CKPLUS_CLASSES:
        (ck48_root / name).mkdir(parents=True, exist_ok=True)
    n_seq = n_lab = n_frames = n_ck48 = 0
    subjects = set()
    per_class = {name: 0 for name in CKPLUS_CLASSES}
    for seq in iter_sequences(cfg, progress=progress):
        subj, sid = seq["subject"], seq["sequence"]
        subjects.add(subj)
        img_dir = seq_root / "cohn-kanade-images" / subj / sid
        lm_dir = seq_root / "Landmarks" / subj / sid
        img_dir.mkdir(parents=True, exist_ok=True)
        lm_dir.mkdir(parents=True, exist_ok=True)
        T = len(seq["frames"])
        stems = [f"{subj}_{sid}_{f + 1:08d}" for f in range(T)]
        for stem, frame, lm in zip(stems, seq["frames"], seq["landmarks"]):
            (img_dir / f"{stem}.png").write_bytes(_png_bytes(frame))
            (lm_dir / f"{stem}_landmarks.txt").write_text(
                "".join(f"   {x:.7e}   {y:.7e}\n" for x, y in lm), encoding="ascii"
            )
        n_seq += 1
        n_frames += T
        if seq["label"] is not None:
            n_lab += 1
            name = CKPLUS_CODES[seq["label"]]
            per_class[name] += 1
            emo_dir = seq_root / "Emotion" / subj / sid
            emo_dir.mkdir(parents=True, exist_ok=True)
            (emo_dir / f"{stems[-1]}_emotion.txt").write_text(f"   {float(seq['label']):.7e}\n", encoding="ascii")
            last = slice(T - CKPLUS48_FRAMES_PER_CLIP, T)
            crops = ckplus48_crop(seq["frames"][last], seq["landmarks"][last])
            for stem, crop in zip(stems[last], crops):
                (ck48_root / name / f"{stem}.png").write_bytes(_png_bytes(crop))
                n_ck48 += 1

    manifest = {
        "generator": GENERATOR_NAME,
        "generator_version": GENERATOR_VERSION,
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "description": _DESCRIPTION,
        "positive_control_classes": list(POSITIVE_CONTROL_CLASSES),
        "counts": {
            "fer2013": {
                "per_split": {split: sum(c.values()) for split, c in counts.items()},
                "per_split_class": counts,
                "total": int(len(labels)),
            },
            "ckplus": {
                "subjects": len(subjects),
                "sequences": n_seq,
                "labelled": n_lab,
                "unlabelled": n_seq - n_lab,
                "frames": n_frames,
                "labelled_per_class": per_class,
                "ck48_images": n_ck48,
            },
        },
        "layout": {
            "fer2013_csv": "fer2013/fer2013.csv.gz",
            "ckplus_sequences": "ckplus/sequences",
            "ckplus48": "ckplus/CK+48",
        },
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def ensure_synthetic_dataset(root, config=None, force=False, progress=True):
    """Generate the synthetic data set under ``root`` unless the same one is there.

    Parameters
    ----------
    root : str or path-like
        Output folder.
    config : SyntheticConfig or dict, optional
        Default :class:`SyntheticConfig`.
    force : bool, default=False
        Regenerate even if an identical data set is present.
    progress : bool, default=True
        Show tqdm progress bars while generating.

    Returns
    -------
    dict
        The manifest (read from ``root/manifest.json`` when reused).

    Notes
    -----
    The data set is reused when ``root/manifest.json`` exists, was written by
    this generator version with the same config, and the generated files are
    present; otherwise it is (re)generated. Prints which of the two happened.
    """
    cfg = _as_config(config)
    root = Path(root).expanduser().resolve()
    path = root / "manifest.json"
    if not force and path.is_file():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = None
        if (
            isinstance(old, dict)
            and old.get("generator") == GENERATOR_NAME
            and old.get("generator_version") == GENERATOR_VERSION
            and old.get("config") == cfg.to_dict()
            and all((root / rel).exists() for rel in _GENERATED)
        ):
            print(f"reused existing synthetic data at {display_path(root)} (same config)")
            return old
    t0 = time.perf_counter()
    manifest = write_synthetic_dataset(root, cfg, progress=progress)
    c = manifest["counts"]
    print(
        f"generated synthetic data at {display_path(root)} in {time.perf_counter() - t0:.1f} s: "
        f"{c['fer2013']['total']} FER-2013 images, {c['ckplus']['sequences']} CK+ sequences "
        f"({c['ckplus']['labelled']} labelled, {c['ckplus']['frames']} frames) (seed={cfg.seed})"
    )
    return manifest
