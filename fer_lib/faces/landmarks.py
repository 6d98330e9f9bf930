"""Landmark sequences as features: per-sequence normalisation and fixed-length trajectories.

Input are 68-point landmark sequences (iBUG order, ``(x, y)`` image
coordinates, y pointing down), e.g. the ``points`` of
:func:`fer_lib.data.ckplus.load_ckplus_landmark_sequences`: one array of
shape (T, 68, 2) per sequence, frames from neutral onset to apex.

**Normalisation** (:func:`normalize_landmarks`). Position, scale and in-plane
rotation differ between subjects and sessions and say nothing about the
expression; the motion within a sequence does. So one similarity transform
per sequence (rotation, uniform scale, translation; no reflection) is fitted
on a *reference* frame and applied unchanged to every frame: it maps the
reference frame's eye centres (mean of points 36-41, the eye on the image's
left, and of points 42-47, 0-based) exactly to :data:`EYE_TARGETS`,
``(-0.5, 0)`` and ``(0.5, 0)``. The unit is then the inter-ocular distance,
the origin the point between the eyes, and y still points down (mouth at
y > 0). The reference is the onset frame by default (``"first"``: the
neutral face, so the apex's movement is measured in the neutral face's
frame); ``"last"`` (apex) and ``"mean"`` (eye centres averaged over the
sequence) are the alternatives (:data:`NORMALIZE_REFERENCES`). Because the
transform is fixed per sequence, every point's motion relative to the
reference frame is kept (head motion within the sequence too). A transform
fitted per frame would remove small head motion, but would also turn the eye
points' own expression-driven motion (squinting, widening) into a change of
scale and rotation of every other point.

**Features** (:func:`trajectory_features`). Each normalised sequence is first
resampled to ``length`` frames by linear interpolation at positions
``linspace(0, T - 1, length)`` (:func:`fer_lib.faces.alignment.resample_sequence`),
so onset and apex are kept exactly and sequences of 4 to 71 frames become
comparable. The arms of the comparison (:data:`FEATURE_MODES`) then see:

* ``"trajectory"``: every resampled frame, shape (n, length, 136);
* ``"apex"``: the last frame only, shape (n, 136);
* ``"mean"``: the mean of the resampled frames, shape (n, 136): the same
  frames as the trajectory with their order discarded;
* ``"displacement"``: apex minus onset, shape (n, 136).

A frame's 136 values are its 68 points flattened row-major:
``x0, y0, x1, y1, ..., x67, y67``. Apex and displacement do not depend on
``length``; the mean does (slightly), through the resampling.
"""

import numpy as np

from fer_lib.core.validation import check_option, check_positive_int
from fer_lib.data.constants import CKPLUS_N_LANDMARKS
from fer_lib.faces.alignment import resample_sequence, similarity_matrix, transform_points

#: 0-based indices of the eye points in the iBUG 68-point layout: the eye on
#: the image's left (the subject's right eye) and the one on the image's right.
EYE_POINTS = (tuple(range(36, 42)), tuple(range(42, 48)))

#: Where :func:`normalize_landmarks` puts the reference frame's two eye centres (in :data:`EYE_POINTS` order).
EYE_TARGETS = ((-0.5, 0.0), (0.5, 0.0))

#: Frame(s) whose eye centres fix a sequence's normalising transform: onset, apex, or the mean over all frames.
NORMALIZE_REFERENCES = ("first", "last", "mean")

#: Feature arms of :func:`trajectory_features`.
FEATURE_MODES = ("trajectory", "apex", "mean", "displacement")

#: Values per frame: 68 points times (x, y).
FEATURE_DIM = 2 * CKPLUS_N_LANDMARKS


def _check_sequence(name, points):
    """``points`` as float64 of shape (T, 68, 2), T >= 1, finite; else ValueError naming ``name``."""
    try:
        arr = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers of shape (T, {CKPLUS_N_LANDMARKS}, 2)") from None
    if arr.ndim != 3 or arr.shape[1:] != (CKPLUS_N_LANDMARKS, 2) or len(arr) == 0:
        raise ValueError(f"{name} must have shape (T, {CKPLUS_N_LANDMARKS}, 2) with T >= 1; got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds non-finite values (nan or inf)")
    return arr


def _sequences(name, points):
    """A list/tuple of (T_i, 68, 2) arrays, or an ndarray of shape (n, T, 68, 2), as a list of float64 arrays."""
    if isinstance(points, np.ndarray):
        if points.ndim != 4:
            raise ValueError(
                f"{name} must be a list of arrays of shape (T_i, {CKPLUS_N_LANDMARKS}, 2) or an array of shape "
                f"(n, T, {CKPLUS_N_LANDMARKS}, 2); got an array of shape {points.shape} (wrap one sequence in a list)"
            )
        points = list(points)
    elif not isinstance(points, (list, tuple)):
        raise ValueError(f"{name} must be a list of arrays of shape (T_i, {CKPLUS_N_LANDMARKS}, 2); "
                         f"got {type(points).__name__}")
    if len(points) == 0:
        raise ValueError(f"{name} is empty: no sequence")
    return [_check_sequence(f"{name}[{i}]", p) for i, p in enumerate(points)]


def eye_centres(points):
    """Centres of the two eyes.

    Parameters
    ----------
    points : array-like of shape (..., 68, 2)

    Returns
    -------
    ndarray of shape (..., 2, 2), float64
        ``[..., 0, :]`` the mean of points 36-41, ``[..., 1, :]`` of points 42-47.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim < 2 or pts.shape[-2:] != (CKPLUS_N_LANDMARKS, 2):
        raise ValueError(f"points must have shape (..., {CKPLUS_N_LANDMARKS}, 2); got shape {pts.shape}")
    return np.stack([pts[..., list(idx), :].mean(axis=-2) for idx in EYE_POINTS], axis=-2)


def normalization_matrix(points, reference="first"):
    """The similarity transform :func:`normalize_landmarks` applies to one sequence.

    Parameters
    ----------
    points : array-like of shape (T, 68, 2)
        One sequence, frames in order.
    reference : {"first", "last", "mean"}, default="first"
        Frame whose eye centres are mapped to :data:`EYE_TARGETS`: onset,
        apex, or the eye centres averaged over all frames.

    Returns
    -------
    ndarray of shape (2, 3), float64
        ``M`` with ``normalised = points @ M[:, :2].T + M[:, 2]``.

    Raises
    ------
    ValueError
        Unknown ``reference``, a wrong shape, non-finite values, or eye
        centres that coincide in the reference.
    """
    check_option("reference", reference, NORMALIZE_REFERENCES)
    pts = _check_sequence("points", points)
    eyes = eye_centres(pts)
    ref = {"first": eyes[0], "last": eyes[-1], "mean": eyes.mean(axis=0)}[reference]
    if np.linalg.norm(ref[1] - ref[0]) <= 1e-9:
        raise ValueError(f"the eye centres of the reference ({reference!r}) coincide at {ref[0].tolist()}: "
                         "cannot fix scale and rotation")
    return similarity_matrix(ref, np.asarray(EYE_TARGETS))


def normalize_landmarks(points, reference="first"):
    """Remove position, scale and in-plane rotation of landmark sequences, keeping their motion.

    One similarity transform per sequence, fitted so that the reference
    frame's eye centres land on :data:`EYE_TARGETS` (``(-0.5, 0)`` and
    ``(0.5, 0)``), is applied to every frame of that sequence (see the module
    docstring for why).

    Parameters
    ----------
    points : ndarray of shape (T, 68, 2), or list/tuple of such arrays
        One sequence, or several of different lengths ``T_i``; ``(x, y)``
        image coordinates, iBUG 68-point order.
    reference : {"first", "last", "mean"}, default="first"
        See :func:`normalization_matrix`.

    Returns
    -------
    ndarray of shape (T, 68, 2), float32, or tuple of them
        Same structure as ``points``: an array for an array, a tuple of
        arrays (one per sequence) for a list or tuple.

    Raises
    ------
    ValueError
        Unknown ``reference``, wrong shapes, non-finite values, or coinciding
        eye centres; the message names the sequence.
    """
    check_option("reference", reference, NORMALIZE_REFERENCES)
    if isinstance(points, (list, tuple)):
        seqs = _sequences("points", points)
        return tuple(
            transform_points(s, normalization_matrix(s, reference)).astype(np.float32) for s in seqs
        )
    seq = _check_sequence("points", points)
    return transform_points(seq, normalization_matrix(seq, reference)).astype(np.float32)


def trajectory_features(points, length=16, mode="trajectory"):
    """Fixed-size features of normalised landmark sequences, for one arm of the comparison.

    Every sequence is resampled to ``length`` frames (linear interpolation at
    ``linspace(0, T - 1, length)``: the onset and apex frames are kept
    exactly), then reduced as ``mode`` says.

    Parameters
    ----------
    points : list/tuple of ndarray of shape (T_i, 68, 2), or ndarray of shape (n, T, 68, 2)
        Sequences normalised by :func:`normalize_landmarks`, frames in order.
    length : int, default=16
        Frames after resampling, at least 2 (so that onset and apex are both kept).
    mode : {"trajectory", "apex", "mean", "displacement"}, default="trajectory"
        ``"trajectory"``: every resampled frame; ``"apex"``: the last frame;
        ``"mean"``: the mean of the resampled frames (order discarded);
        ``"displacement"``: last frame minus first frame.

    Returns
    -------
    ndarray, float32
        Shape (n, length, 136) for ``"trajectory"``, (n, 136) otherwise; a
        frame's 136 values are ``x0, y0, x1, y1, ..., x67, y67``.

    Raises
    ------
    ValueError
        Unknown ``mode``, ``length`` < 2, no sequence, a sequence of another
        shape than (T, 68, 2) or with non-finite values (named by index).
    """
    check_option("mode", mode, FEATURE_MODES)
    length = check_positive_int("length", length, minimum=2)
    seqs = _sequences("points", points)
    resampled = np.stack([resample_sequence(s, length, "interpolate") for s in seqs]).reshape(
        len(seqs), length, FEATURE_DIM
    )
    if mode == "trajectory":
        out = resampled
    elif mode == "apex":
        out = resampled[:, -1]
    elif mode == "mean":
        out = resampled.mean(axis=1)
    else:  # "displacement"
        out = resampled[:, -1] - resampled[:, 0]
    return np.ascontiguousarray(out, dtype=np.float32)
