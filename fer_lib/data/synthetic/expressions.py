"""The eight synthetic expressions: parameter vectors, apex values and intensity profiles.

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
"""

from __future__ import annotations

from types import MappingProxyType

import numpy as np

from fer_lib.core.validation import check_option, check_positive_int

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
#: Index of each parameter in an expression parameter vector.
PARAMETER_INDEX = {name: i for i, name in enumerate(EXPRESSION_PARAMETERS)}

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

_N_PARAMS = len(EXPRESSION_PARAMETERS)


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
        return smoothstep(np.linspace(0.0, 1.0, n))
    n = check_positive_int("n_frames", n_frames, minimum=4)
    d = POSITIVE_CONTROL_STEP
    u = np.linspace(0.0, 1.0, n - 2)  # frames 0 .. T-3; the clip starts at u = 1
    if expression == "surprise":
        return np.concatenate([(1.0 - d) * u**2.5, [1.0, 1.0 + d]])
    rise = 1.5 * smoothstep(np.clip(u / 0.6, 0.0, 1.0))
    fall = 1.5 - (0.5 - d) * (np.clip((u - 0.6) / 0.4, 0.0, 1.0) ** 2)
    return np.concatenate([np.where(u <= 0.6, rise, fall), [1.0, 1.0 - d]])


def smoothstep(u):
    """``3u^2 - 2u^3``: a smooth ramp from 0 at ``u = 0`` to 1 at ``u = 1`` (elementwise)."""
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
        v[PARAMETER_INDEX[name]] = value
    return v * float(intensity)


def jittered_apex(expression, rng):
    """Apex vector with per-parameter gain U(0.8, 1.2) plus N(0, 0.06) noise."""
    v = expression_vector(expression, 1.0)
    return v * rng.uniform(0.8, 1.2, _N_PARAMS) + rng.normal(0.0, 0.06, _N_PARAMS)
