"""Face alignment, intensity normalisation, sequences, throughput and caching.

Alignment maps the 5 points of a face (from :mod:`fer_lib.faces.detection`) onto a
canonical template with the weighted least-squares similarity transform
(rotation, uniform scale, translation; no shear, no reflection; weights
:data:`POINT_WEIGHTS` favour the eyes over the expression-driven mouth) and
resamples the image into a square crop. Downscaling is anti-aliased (warp at an
integer multiple of the size, then area-average).

Templates (:data:`TEMPLATES`):

``"fer2013"`` (default)
    Where the 5 points sit in FER-2013's own 48x48 crops: the median of MTCNN's
    points on 2,581 FER-2013 Training faces (first 3,000 rows, upscaled x3 for
    detection), made left-right symmetric. CK+48's crops gave the same
    geometry (inter-ocular distance 18.6 px of 48 in both). Aligning with it
    makes crops from raw frames look like the crops a FER-2013-trained model
    has seen: the whole face, eyes at 39 % of the height. (It is about 20 %
    tighter than the ArcFace template.)
``"arcface"``
    The ArcFace / InsightFace 112x112 5-point template, scaled to the size.

``margin`` widens (``> 0``) or narrows (``< 0``) the crop around the template:
with margin ``m`` the template's square is extended by ``m`` times its side on
every side before being resized to ``size`` (``m = 0.1`` shows 20 % more face
width in total, at a smaller scale).

Coordinates are OpenCV pixel coordinates: pixel ``(i, j)`` has its centre at
``x = j, y = i``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from fer_lib.core.jsonio import to_jsonable
from fer_lib.core.validation import check_fraction, check_option, check_positive_int
from fer_lib.faces.detection import (
    BOX_COLUMNS,
    DETECTORS,
    POINT_COLUMNS,
    RECORD_COLUMNS,
    as_frames,
    box_iou,
    detect_faces,
    to_gray,
)

__all__ = [
    "ALIGN_SIZES",
    "ALIGN_COLORS",
    "TEMPLATES",
    "BORDERS",
    "NORMALIZATIONS",
    "RESAMPLING",
    "TRACKERS",
    "FILE_KEYS",
    "MATRIX_COLUMNS",
    "RAW_POINT_COLUMNS",
    "SEQUENCE_COLUMNS",
    "CACHE_VERSION",
    "POINT_WEIGHTS",
    "template_points",
    "similarity_matrix",
    "alignment_matrix",
    "transform_points",
    "align_face",
    "align_faces",
    "normalize",
    "align_sequence",
    "crop_points",
    "landmark_drift",
    "resample_sequence",
    "measure_throughput",
    "cache_key",
    "cached_align",
]

#: Output side lengths accepted by :func:`align_face` (``size=``).
ALIGN_SIZES = (48, 64, 112, 224)

#: Output colour layouts: ``"gray"`` gives (size, size), ``"rgb"`` (size, size, 3).
ALIGN_COLORS = ("gray", "rgb")

#: Canonical 5-point templates (see the module docstring).
TEMPLATES = ("fer2013", "arcface")

#: How pixels outside the image are filled (OpenCV border modes).
BORDERS = ("replicate", "constant", "reflect")

#: Intensity normalisations of :func:`normalize`.
NORMALIZATIONS = ("none", "zscore", "histeq", "clahe", "quantile")

#: Temporal resampling methods of :func:`resample_sequence`.
RESAMPLING = ("interpolate", "uniform")

#: How :func:`align_sequence` moves the points between detections:
#: ``"flow"`` (pyramidal Lucas-Kanade optical flow of the 5 points) or
#: ``"carry"`` (keep the last smoothed points).
TRACKERS = ("flow", "carry")

#: How :func:`cache_key` keys a file path: its bytes (``"content"``) or its
#: resolved path, size and modification time (``"stat"``, faster, not portable).
FILE_KEYS = ("content", "stat")

#: Default weights of the 5 points (:data:`~fer_lib.faces.detection.POINT_NAMES` order) in
#: the least-squares fit: eyes count most, the mouth corners least, because the
#: mouth moves with the expression and should show in the crop, not be aligned
#: away. On the 40 CK+ sequences (MTCNN points, 48x48 crops) equal weights
#: moved the eyes 0.52 px between onset and apex frame and the mouth corners
#: 1.09 px; these weights 0.30 px and 1.30 px, with the eyes 0.27 px (mean)
#: from the template instead of 0.41 px.
POINT_WEIGHTS = (1.0, 1.0, 0.5, 0.25, 0.25)

#: Bump when an algorithm here changes in a way that changes cached results.
#: (2: :func:`align_sequence` records gained :data:`RAW_POINT_COLUMNS`.)
CACHE_VERSION = 2

# Template points in pixel coordinates of their reference square.
_TEMPLATE_PIXELS = MappingProxyType(
    {
        # Median MTCNN points on FER-2013 (see module docstring), symmetric about x = 23.5.
        "fer2013": (
            48,
            np.array(
                [[14.34, 18.51], [32.66, 18.51], [23.50, 28.77], [15.90, 37.92], [31.10, 37.92]]
            ),
        ),
        # InsightFace's arcface_dst for 112x112 crops.
        "arcface": (
            112,
            np.array(
                [
                    [38.2946, 51.6963],
                    [73.5318, 51.5014],
                    [56.0252, 71.7366],
                    [41.5493, 92.3655],
                    [70.7299, 92.2041],
                ]
            ),
        ),
    }
)

_BORDER_NAMES = MappingProxyType(
    {"replicate": "BORDER_REPLICATE", "constant": "BORDER_CONSTANT", "reflect": "BORDER_REFLECT_101"}
)

#: Record columns holding the 2x3 alignment matrix (image -> crop), row-major.
MATRIX_COLUMNS = ("m00", "m01", "m02", "m10", "m11", "m12")

#: Record columns holding the 5 points *as detected* on the frame (before
#: smoothing), ``raw_<name>_<axis>``; NaN on tracked frames and where no face was
#: found. They are the independent evidence :func:`crop_points` maps into the
#: crops to measure drift.
RAW_POINT_COLUMNS = tuple(f"raw_{c}" for c in POINT_COLUMNS)

#: Columns of the record DataFrame of :func:`align_sequence`, in order.
SEQUENCE_COLUMNS = ("frame", "status", "tracked", *RECORD_COLUMNS[2:], *MATRIX_COLUMNS, *RAW_POINT_COLUMNS)


# ----------------------------------------------------------------- geometry


def template_points(size=48, template="fer2013", margin=0.0):
    """The 5 canonical points in a ``size`` x ``size`` crop.

    Parameters
    ----------
    size : int, default 48
        Side of the crop; one of :data:`ALIGN_SIZES`.
    template : {"fer2013", "arcface"}, default "fer2013"
    margin : float, default 0.0
        Extra border per side as a fraction of the template's square, in
        [-0.25, 1]; see the module docstring.

    Returns
    -------
    ndarray of shape (5, 2)
        ``(x, y)`` pixel coordinates in the crop, :data:`~fer_lib.faces.detection.POINT_NAMES` order.
    """
    check_option("size", size, ALIGN_SIZES)
    check_option("template", template, TEMPLATES)
    margin = check_fraction("margin", margin, -0.25, 1.0)
    ref, pix = _TEMPLATE_PIXELS[template]
    unit = (pix + 0.5) / ref  # continuous coordinates in [0, 1]
    unit = (unit + margin) / (1 + 2 * margin)
    return unit * size - 0.5


def similarity_matrix(src, dst, weights=None):
    """Least-squares similarity transform mapping ``src`` points onto ``dst``.

    Closed form of Umeyama (1991), weighted: rotation, uniform scale and
    translation minimising ``sum_i w_i ||M src_i - dst_i||^2``; reflections
    are excluded. Exact (no RANSAC/LMEDS).

    Parameters
    ----------
    src, dst : array-like of shape (k, 2)
        Corresponding points, ``k >= 2``, not all equal.
    weights : array-like of shape (k,) or None
        Non-negative weights (``None``: all 1).

    Returns
    -------
    ndarray of shape (2, 3)
        ``M`` with ``dst ~= src @ M[:, :2].T + M[:, 2]``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"src and dst must both have shape (k, 2), k >= 2; got {src.shape} and {dst.shape}")
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise ValueError("src and dst must be finite (no NaN): no face points to align")
    w = np.ones(len(src)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(src),) or not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights must be {len(src)} non-negative numbers, not all 0; got {weights!r}")
    w = w / w.sum()
    mu_s, mu_d = w @ src, w @ dst
    s, d = src - mu_s, dst - mu_d
    var_s = float(w @ (s**2).sum(axis=1))
    if var_s <= 1e-12:
        raise ValueError("src points (with non-zero weight) all coincide: cannot estimate a similarity transform")
    cov = (d * w[:, None]).T @ s
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    rot = u @ np.diag(sign) @ vt
    scale = (sig * sign).sum() / var_s
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def alignment_matrix(points5, size=48, template="fer2013", margin=0.0, weights=POINT_WEIGHTS):
    """Matrix mapping image coordinates to crop coordinates for one face.

    Parameters
    ----------
    points5 : array-like of shape (5, 2)
        The face's 5 points in the image.
    size, template, margin
        As in :func:`template_points`.
    weights : array-like of shape (5,), default :data:`POINT_WEIGHTS`
        Weight of each point in the fit.

    Returns
    -------
    ndarray of shape (2, 3)
    """
    pts = np.asarray(points5, dtype=np.float64)
    if pts.shape != (5, 2):
        raise ValueError(f"points5 must have shape (5, 2); got shape {pts.shape}")
    return similarity_matrix(pts, template_points(size, template, margin), weights)


def transform_points(points, matrix):
    """Apply a 2x3 affine matrix to points.

    Parameters
    ----------
    points : array-like of shape (..., 2)
    matrix : array-like of shape (2, 3)

    Returns
    -------
    ndarray of shape (..., 2)
    """
    pts = np.asarray(points, dtype=np.float64)
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (2, 3):
        raise ValueError(f"matrix must have shape (2, 3); got shape {m.shape}")
    return pts @ m[:, :2].T + m[:, 2]


def _check_image(name, image):
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name} must be an ndarray; got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must have dtype uint8; got {image.dtype}")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)) or min(image.shape[:2]) < 1:
        raise ValueError(f"{name} must have shape (H, W) or (H, W, 3); got shape {image.shape}")
    return image


for _ref, _pix in _TEMPLATE_PIXELS.values():
    _pix.setflags(write=False)


def _warp(image, matrix, size, color, border):
    """Warp with anti-aliasing: warp at an integer multiple of ``size`` then area-average."""
    import cv2

    if color == "gray" and image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    f = int(np.clip(np.floor(1.0 / max(scale, 1e-9)), 1, 8))
    m = matrix * f
    m[:, 2] += (f - 1) / 2.0  # output pixel x <-> intermediate pixel f*x + (f-1)/2
    out = cv2.warpAffine(
        image, m, (size * f, size * f), flags=cv2.INTER_LINEAR, borderMode=getattr(cv2, _BORDER_NAMES[border])
    )
    if f > 1:
        out = cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)
    if color == "rgb" and out.ndim == 2:
        out = cv2.cvtColor(out, cv2.COLOR_GRAY2RGB)
    return out


def align_face(
    image, points5, size=48, color="gray", *, template="fer2013", margin=0.0, border="replicate",
    weights=POINT_WEIGHTS, return_matrix=False,
):
    """Crop one face so that its 5 points land on the canonical template.

    Parameters
    ----------
    image : ndarray of shape (H, W) or (H, W, 3), dtype uint8
        Grayscale or RGB image.
    points5 : array-like of shape (5, 2)
        The face's points (``FaceDetections.points[i]``).
    size : {48, 64, 112, 224}, default 48
    color : {"gray", "rgb"}, default "gray"
    template : {"fer2013", "arcface"}, default "fer2013"
    margin : float, default 0.0
        See :func:`template_points`.
    border : {"replicate", "constant", "reflect"}, default "replicate"
        Fill for parts of the crop outside the image.
    weights : array-like of shape (5,), default :data:`POINT_WEIGHTS`
        Weight of each point in the least-squares fit.
    return_matrix : bool, default False
        Also return the 2x3 image-to-crop matrix.

    Returns
    -------
    crop : ndarray of shape (size, size) or (size, size, 3), dtype uint8
    matrix : ndarray of shape (2, 3)
        Only if ``return_matrix``.

    Raises
    ------
    ValueError
        Bad image, points with NaN (no face), or an option not allowed.
    """
    _check_image("image", image)
    check_option("color", color, ALIGN_COLORS)
    check_option("border", border, BORDERS)
    m = alignment_matrix(points5, size, template, margin, weights)
    crop = _warp(image, m, size, color, border)
    return (crop, m) if return_matrix else crop


def align_faces(
    images, points, size=48, color="gray", *, template="fer2013", margin=0.0, border="replicate",
    weights=POINT_WEIGHTS,
):
    """Align one face per frame.

    Parameters
    ----------
    images : ndarray of shape (n, H, W) or (n, H, W, 3), or list of frames
        uint8 frames.
    points : array-like of shape (n, 5, 2)
        Per-frame 5 points; a frame whose points contain NaN (status
        ``"none"``) gets an all-zero crop and a NaN matrix.
    size, color, template, margin, border, weights
        As in :func:`align_face`.

    Returns
    -------
    crops : ndarray of shape (n, size, size) or (n, size, size, 3), dtype uint8
    matrices : ndarray of shape (n, 2, 3)
    """
    frames = as_frames(images)
    pts = np.asarray(points, dtype=np.float64)
    if pts.shape != (len(frames), 5, 2):
        raise ValueError(f"points must have shape ({len(frames)}, 5, 2); got shape {pts.shape}")
    check_option("color", color, ALIGN_COLORS)
    check_option("border", border, BORDERS)
    dst = template_points(size, template, margin)
    shape = (len(frames), size, size) + ((3,) if color == "rgb" else ())
    crops = np.zeros(shape, dtype=np.uint8)
    mats = np.full((len(frames), 2, 3), np.nan)
    for i, (f, p) in enumerate(zip(frames, pts)):
        if not np.isfinite(p).all():
            continue
        mats[i] = similarity_matrix(p, dst, weights)
        crops[i] = _warp(f, mats[i], size, color, border)
    return crops, mats


# ------------------------------------------------------------ normalisation


def normalize(images, method="zscore", *, eps=1e-6, clahe_clip=2.0, clahe_grid=8):
    """Per-image intensity normalisation.

    Parameters
    ----------
    images : ndarray of shape (n, H, W)
        Grayscale crops. ``"histeq"`` and ``"clahe"`` need dtype uint8; the
        others take any real dtype.
    method : {"none", "zscore", "histeq", "clahe", "quantile"}, default "zscore"
        - ``"none"``: a copy, unchanged.
        - ``"zscore"``: ``(x - mean) / std`` per image (mean 0, std 1); a
          constant image becomes all zeros.
        - ``"histeq"``: global histogram equalisation (``cv2.equalizeHist``).
        - ``"clahe"``: contrast-limited adaptive equalisation
          (``cv2.createCLAHE(clahe_clip, (clahe_grid, clahe_grid))``; the
          defaults are OpenCV's).
        - ``"quantile"``: robust "Q-based score" ``(x - q50) / (q75 - q25)``
          per image (median 0, interquartile range 1); if the IQR is 0 the
          standard deviation is used instead, and if that is 0 too, 1.
    eps : float, default 1e-6
        Spreads at or below ``eps`` count as 0.
    clahe_clip : float, default 2.0
    clahe_grid : int, default 8

    Returns
    -------
    ndarray of shape (n, H, W)
        float32 for ``"zscore"`` and ``"quantile"``; uint8 for ``"histeq"``
        and ``"clahe"``; the input dtype for ``"none"``.

    Raises
    ------
    ValueError
        Unknown ``method`` (the message lists :data:`NORMALIZATIONS`), a
        shape other than (n, H, W), an empty batch, or a non-uint8 input to
        ``"histeq"``/``"clahe"``.
    """
    import cv2

    check_option("method", method, NORMALIZATIONS)
    if not isinstance(images, np.ndarray):
        images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (n, H, W); got shape {images.shape}")
    if images.size == 0:
        raise ValueError(f"images is empty: shape {images.shape}")
    if images.dtype.kind not in "uif" or images.dtype == bool:
        raise ValueError(f"images must hold real numbers; got dtype {images.dtype}")
    if method == "none":
        return images.copy()
    if method in ("histeq", "clahe"):
        if images.dtype != np.uint8:
            raise ValueError(f"images must have dtype uint8 for method={method!r}; got {images.dtype}")
        if method == "histeq":
            return np.stack([cv2.equalizeHist(np.ascontiguousarray(im)) for im in images])
        grid = check_positive_int("clahe_grid", clahe_grid)
        clahe = cv2.createCLAHE(clipLimit=float(clahe_clip), tileGridSize=(grid, grid))
        return np.stack([clahe.apply(np.ascontiguousarray(im)) for im in images])
    x = images.astype(np.float64)
    flat = x.reshape(len(x), -1)
    if method == "zscore":
        centre = flat.mean(axis=1)
        spread = flat.std(axis=1)
    else:  # quantile
        q25, centre, q75 = np.percentile(flat, [25, 50, 75], axis=1)
        spread = q75 - q25
        std = flat.std(axis=1)
        spread = np.where(spread > eps, spread, np.where(std > eps, std, 1.0))
    spread = np.where(spread > eps, spread, 1.0)
    out = (x - centre[:, None, None]) / spread[:, None, None]
    return out.astype(np.float32)


# ---------------------------------------------------------------- sequences


def propagate_points(prev_gray, gray, pts, box, tracker):
    """Move points and box from the previous frame to this one.

    Returns ``(points, box, ok)``; ``ok`` is False when optical flow lost the
    face (fewer than 3 of the 5 points pass the forward-backward check).
    """
    import cv2

    if tracker == "carry":
        return pts.copy(), box.copy(), True
    width = max(float(box[2] - box[0]), 1.0)
    win = int(np.clip(round(0.15 * width), 11, 41)) | 1
    p0 = pts.astype(np.float32).reshape(-1, 1, 2)
    lk = dict(winSize=(win, win), maxLevel=3,
              criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 30, 0.01))
    p1, st1, _ = cv2.calcOpticalFlowPyrLK(prev_gray, gray, p0, None, **lk)
    if p1 is None:
        return pts.copy(), box.copy(), False
    back, st2, _ = cv2.calcOpticalFlowPyrLK(gray, prev_gray, p1, None, **lk)
    fb = np.linalg.norm((back - p0).reshape(-1, 2), axis=1)
    good = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb < max(1.0, 0.02 * width))
    if good.sum() < 3:
        return pts.copy(), box.copy(), False
    disp = (p1 - p0).reshape(-1, 2).astype(np.float64)
    shift = np.median(disp[good], axis=0)
    disp[~good] = shift
    return pts + disp, box + np.tile(shift, 2), True


def align_sequence(
    frames,
    method="mtcnn",
    detect_every=1,
    size=48,
    color="gray",
    *,
    template="fer2013",
    margin=0.0,
    border="replicate",
    weights=POINT_WEIGHTS,
    smoothing=0.5,
    tracker="flow",
    iou_threshold=0.3,
    device=None,
    landmarks=None,
    **detect_kwargs,
):
    """Detect, track and align one face through a sequence of frames.

    Detection runs on frames ``0, k, 2k, ...`` (``k = detect_every``; these are
    batched) and, while the face is lost (no face at the last detection, or
    optical flow lost it), on every frame until it is found again. In between, the points are moved by ``tracker``. On a detection
    frame the detected face is associated with the tracked one by box IoU
    (the face of highest IoU with the predicted box, if that IoU is at least
    ``iou_threshold``; otherwise the track restarts on the face chosen by
    :func:`~fer_lib.faces.detection.select_face`). An associated detection is
    blended with the prediction, ``(1 - smoothing) * detected + smoothing *
    predicted``, for points and box (an exponential moving average;
    ``smoothing=0`` uses raw detections). A detection frame with no face gets
    status ``"none"`` and a zero crop; a face is never invented.

    Parameters
    ----------
    frames : ndarray of shape (T, H, W) or (T, H, W, 3), or list of frames
        uint8 frames of one size, in temporal order.
    method : {"mtcnn", "haar", "landmarks"}, default "mtcnn"
        Detector (:data:`~fer_lib.faces.detection.DETECTORS`). With
        ``"landmarks"`` every frame has its points, so ``detect_every`` is
        ignored (treated as 1).
    detect_every : int, default 1
        Run the detector every ``k`` frames and track in between.
    size, color, template, margin, border, weights
        As in :func:`align_face`.
    smoothing : float in [0, 1), default 0.5
        Weight of the prediction when blending in a new detection.
    tracker : {"flow", "carry"}, default "flow"
        ``"flow"``: Lucas-Kanade optical flow of the 5 points with a
        forward-backward check (points that fail it move by the median shift;
        the box moves by the median shift; if fewer than 3 points pass, the
        face counts as lost and the detector runs on that frame);
        ``"carry"``: points stay put.
    iou_threshold : float, default 0.3
        Minimum IoU to associate a detection with the tracked face.
    device : str or None
        MTCNN device (``None``: CUDA if available, else CPU).
    landmarks : ndarray of shape (T, 68, 2), optional
        Required for ``method="landmarks"``.
    **detect_kwargs
        Passed to :func:`~fer_lib.faces.detection.detect_faces` (``min_face_size``,
        ``min_score``, ...).

    Returns
    -------
    crops : ndarray of shape (T, size, size) or (T, size, size, 3), dtype uint8
        Aligned faces in frame order; all zeros where status is ``"none"``.
    records : pandas.DataFrame
        One row per frame, columns :data:`SEQUENCE_COLUMNS`: ``frame``,
        ``status``, ``tracked`` (True when the points were propagated from an
        earlier detection instead of detected in this frame; such frames keep
        the status, ``score`` and ``n_faces`` of that detection), ``method``,
        box ``x1..y2`` and points ``left_eye_x..mouth_right_y`` (the smoothed
        values the crop was aligned with), ``score``, ``n_faces``, and the
        image-to-crop matrix ``m00..m12``, and the points as detected on the
        frame, ``raw_left_eye_x..raw_mouth_right_y`` (:data:`RAW_POINT_COLUMNS`;
        NaN on tracked frames and frames without a face).
    """
    check_option("method", method, DETECTORS)
    check_option("tracker", tracker, TRACKERS)
    check_option("color", color, ALIGN_COLORS)
    check_option("size", size, ALIGN_SIZES)
    k = check_positive_int("detect_every", detect_every)
    smoothing = check_fraction("smoothing", smoothing, 0.0, 0.999)
    iou_threshold = check_fraction("iou_threshold", iou_threshold)
    frames = as_frames(frames, "frames")
    shapes = {f.shape[:2] for f in frames}
    if len(shapes) != 1:
        raise ValueError(f"frames must all have the same height and width; got sizes {sorted(shapes)}")
    n = len(frames)
    if method == "landmarks":
        k = 1
        if landmarks is None or len(landmarks) != n:
            got = None if landmarks is None else len(landmarks)
            raise ValueError(f"landmarks must hold one (68, 2) array per frame ({n}) for method='landmarks'; got {got}")

    def detect(idx):
        lm = None if method != "landmarks" else [landmarks[i] for i in idx]
        return detect_faces([frames[i] for i in idx], method, device, landmarks=lm, **detect_kwargs)

    scheduled = list(range(0, n, k))
    pre = detect(scheduled)
    pre_index = {t: j for j, t in enumerate(scheduled)}

    out_status = np.empty(n, dtype=object)
    out_tracked = np.zeros(n, dtype=bool)
    out_boxes = np.full((n, 4), np.nan)
    out_points = np.full((n, 5, 2), np.nan)
    out_scores = np.full(n, np.nan)
    out_nfaces = np.zeros(n, dtype=np.int64)
    out_raw = np.full((n, 5, 2), np.nan)

    alive = False
    pts = box = None
    status, score, nf = "none", np.nan, 0
    prev_gray = None
    for t in range(n):
        gray = to_gray(frames[t])
        if alive:
            pred_pts, pred_box, ok = propagate_points(prev_gray, gray, pts, box, tracker)
            alive = ok  # lost by the tracker: detect on this frame
        if t in pre_index or not alive:
            if t in pre_index:
                det, j = pre, pre_index[t]
            else:
                det, j = detect([t]), 0
            nf = int(det.n_faces[j])
            if nf == 0:
                alive = False
                out_status[t] = "none"
            else:
                cand_b, cand_p = det.all_boxes[j], det.all_points[j]
                if alive:
                    ious = box_iou(pred_box, cand_b)
                    m = int(np.argmax(ious))
                    if ious[m] >= iou_threshold:
                        out_raw[t] = cand_p[m]
                        pts = (1 - smoothing) * cand_p[m] + smoothing * pred_pts
                        box = (1 - smoothing) * cand_b[m] + smoothing * pred_box
                        score = float(det.all_scores[j][m])
                    else:
                        alive = False
                if not alive:  # new track on the face chosen by the selection rule
                    pts, box, score = det.points[j].copy(), det.boxes[j].copy(), float(det.scores[j])
                    out_raw[t] = det.points[j]
                    alive = True
                status = det.status[j]
                out_status[t] = status
        else:
            pts, box = pred_pts, pred_box
            out_tracked[t] = True
            out_status[t] = status
        if alive:
            out_points[t], out_boxes[t] = pts, box
            out_scores[t], out_nfaces[t] = score, nf
        prev_gray = gray

    crops, mats = align_faces(
        frames, out_points, size, color, template=template, margin=margin, border=border, weights=weights
    )
    data = {"frame": np.arange(n), "status": out_status.astype(str), "tracked": out_tracked,
            "method": [method] * n}
    for j, c in enumerate(BOX_COLUMNS):
        data[c] = out_boxes[:, j]
    flat = out_points.reshape(n, 10)
    for j, c in enumerate(POINT_COLUMNS):
        data[c] = flat[:, j]
    data["score"] = out_scores
    data["n_faces"] = out_nfaces
    flat_m = mats.reshape(n, 6)
    for j, c in enumerate(MATRIX_COLUMNS):
        data[c] = flat_m[:, j]
    flat_raw = out_raw.reshape(n, 10)
    for j, c in enumerate(RAW_POINT_COLUMNS):
        data[c] = flat_raw[:, j]
    return crops, pd.DataFrame(data, columns=list(SEQUENCE_COLUMNS))


def crop_points(points, matrices):
    """Map per-frame image points into the aligned crops.

    Parameters
    ----------
    points : array-like of shape (T, k, 2)
        Image coordinates per frame (e.g. raw detections, or ground truth).
    matrices : array-like of shape (T, 2, 3), or a DataFrame with :data:`MATRIX_COLUMNS`
        Image-to-crop matrices (``align_faces``' second output, or the
        records of :func:`align_sequence`).

    Returns
    -------
    ndarray of shape (T, k, 2)
        Crop coordinates (NaN where a matrix or point is NaN).
    """
    if isinstance(matrices, pd.DataFrame):
        matrices = matrices[list(MATRIX_COLUMNS)].to_numpy(dtype=np.float64).reshape(-1, 2, 3)
    m = np.asarray(matrices, dtype=np.float64)
    p = np.asarray(points, dtype=np.float64)
    if m.ndim != 3 or m.shape[1:] != (2, 3) or p.ndim != 3 or p.shape[-1] != 2 or len(p) != len(m):
        raise ValueError(f"points must have shape (T, k, 2) and matrices (T, 2, 3); got {p.shape} and {m.shape}")
    return np.einsum("tkj,tij->tki", p, m[:, :, :2]) + m[:, None, :, 2]


def landmark_drift(points_seq):
    """Frame-to-frame displacement of landmarks (e.g. eyes in aligned crops).

    Parameters
    ----------
    points_seq : array-like of shape (T, 2) or (T, k, 2)
        One point or ``k`` points per frame (e.g. ``crop_points(...)[:, :2]``
        for the two eyes).

    Returns
    -------
    ndarray of shape (T-1,)
        ``mean_k ||p[t+1, k] - p[t, k]||`` in pixels; NaN where a frame has NaN.
    """
    p = np.asarray(points_seq, dtype=np.float64)
    if p.ndim == 2:
        p = p[:, None, :]
    if p.ndim != 3 or p.shape[-1] != 2 or len(p) < 2:
        raise ValueError(f"points_seq must have shape (T, 2) or (T, k, 2) with T >= 2; got shape {p.shape}")
    return np.linalg.norm(np.diff(p, axis=0), axis=-1).mean(axis=-1)


def resample_sequence(frames, length=16, method="interpolate"):
    """Resample a sequence to a fixed number of frames.

    Source positions are ``linspace(0, T-1, length)``, so the first and last
    output frames are the first and last input frames.

    Parameters
    ----------
    frames : ndarray of shape (T, ...)
        Any per-frame shape (e.g. (T, 48, 48) crops or (T, 5, 2) points).
    length : int, default 16
        Number of output frames (shorter or longer than ``T``).
    method : {"interpolate", "uniform"}, default "interpolate"
        ``"interpolate"``: linear interpolation between the two nearest
        frames; ``"uniform"``: the nearest frame (uniform index sampling,
        repeating frames when ``length > T``).

    Returns
    -------
    ndarray of shape (length, ...)
        ``"uniform"`` keeps the dtype; ``"interpolate"`` returns float32
        for integer input and keeps float dtypes.
    """
    check_option("method", method, RESAMPLING)
    length = check_positive_int("length", length)
    x = np.asarray(frames)
    if x.ndim < 1 or len(x) == 0:
        raise ValueError(f"frames is empty: shape {x.shape}")
    if x.dtype.kind not in "uifb":
        raise ValueError(f"frames must hold numbers; got dtype {x.dtype}")
    pos = np.linspace(0, len(x) - 1, length)
    if method == "uniform":
        return x[np.rint(pos).astype(int)].copy()
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, len(x) - 1)
    w = (pos - lo).reshape((-1,) + (1,) * (x.ndim - 1))
    dtype = x.dtype if x.dtype.kind == "f" else np.float32
    xf = x.astype(np.float64)
    return ((1 - w) * xf[lo] + w * xf[hi]).astype(dtype)


# --------------------------------------------------------------- throughput


def measure_throughput(frames, method="mtcnn", detect_every=5, *, device=None, size=48, repeats=1, **kwargs):
    """Frames per second of :func:`align_sequence`, detecting every frame vs every k.

    Both runs go through the whole pipeline (detection, tracking, alignment)
    on the same frames, in one call, after a warm-up (two detections on the
    first frame, so model construction and first-call costs are excluded).

    Parameters
    ----------
    frames : ndarray of shape (T, H, W) or (T, H, W, 3), or list
        uint8 frames of one sequence.
    method : str, default "mtcnn"
    detect_every : int, default 5
        ``k`` of the tracked run (must be >= 2).
    device : str or None
    size : int, default 48
    repeats : int, default 1
        Time each mode this many times and keep the fastest.
    **kwargs
        Passed to :func:`align_sequence`.

    Returns
    -------
    dict
        ``fps_every_frame``, ``fps_tracked``, ``speedup`` (= tracked /
        every-frame), ``seconds_every_frame``, ``seconds_tracked``,
        ``n_frames``, ``detect_every``, ``method``, ``device``.
    """
    from fer_lib.core.device import resolve_device

    frames = as_frames(frames, "frames")
    k = check_positive_int("detect_every", detect_every, minimum=2)
    repeats = check_positive_int("repeats", repeats)
    dev = str(resolve_device(device)) if method == "mtcnn" else "cpu"
    det_kw = {key: kwargs[key] for key in ("min_face_size", "min_score", "thresholds", "factor") if key in kwargs}
    if method != "landmarks":
        for _ in range(2):
            detect_faces(frames[:1], method, dev, **det_kw)
    times = {}
    for label, every in (("every_frame", 1), ("tracked", k)):
        best = np.inf
        for _ in range(repeats):
            start = time.perf_counter()
            align_sequence(frames, method, every, size, device=dev, **kwargs)
            best = min(best, time.perf_counter() - start)
        times[label] = best
    n = len(frames)
    return {
        "fps_every_frame": n / times["every_frame"],
        "fps_tracked": n / times["tracked"],
        "speedup": times["every_frame"] / times["tracked"],
        "seconds_every_frame": times["every_frame"],
        "seconds_tracked": times["tracked"],
        "n_frames": n,
        "detect_every": k,
        "method": method,
        "device": dev,
    }


# -------------------------------------------------------------------- cache


def _hash_inputs(h, item, file_key):
    if isinstance(item, np.ndarray):
        arr = np.ascontiguousarray(item)
        h.update(f"ndarray|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    elif isinstance(item, (str, os.PathLike)):
        p = Path(item)
        if not p.is_file():
            raise ValueError(f"key_inputs: no such file '{p}' (paths in key_inputs must be existing files)")
        if file_key == "stat":
            st = p.stat()
            h.update(f"file-stat|{p.resolve()}|{st.st_size}|{st.st_mtime_ns}|".encode())
        else:
            h.update(f"file|{p.stat().st_size}|".encode())
            with open(p, "rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    h.update(chunk)
    elif isinstance(item, (list, tuple)):
        h.update(f"seq|{len(item)}|".encode())
        for x in item:
            _hash_inputs(h, x, file_key)
    else:
        raise ValueError(
            f"key_inputs must be ndarrays, file paths or lists of them; got {type(item).__name__}"
        )


def cache_key(key_inputs, params, file_key="content"):
    """SHA-256 key of some inputs and the parameters that process them.

    Parameters
    ----------
    key_inputs : ndarray, str, Path, or list/tuple of them
        Arrays are keyed by dtype, shape and bytes. Files are keyed by their
        bytes (``file_key="content"``: portable, the same file anywhere hits)
        or by resolved path, size and modification time (``"stat"``: no
        reading, but a copy or a touched file misses).
    params : dict
        JSON-serialisable parameters (numpy scalars, arrays and paths are
        converted); serialised with sorted keys, so order does not matter.
    file_key : {"content", "stat"}, default "content"

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    check_option("file_key", file_key, FILE_KEYS)
    if not isinstance(params, dict):
        raise ValueError(f"params must be a dict; got {type(params).__name__}")
    try:
        blob = json.dumps(to_jsonable(params), sort_keys=True, separators=(",", ":"))
    except TypeError as err:
        raise ValueError(f"params must be JSON-serialisable: {err}") from None
    h = hashlib.sha256()
    h.update(f"fer_lib.alignment-cache-v{CACHE_VERSION}|".encode())  # a fixed salt: keys outlive module moves
    h.update(blob.encode())
    _hash_inputs(h, key_inputs, file_key)
    return h.hexdigest()


def _load_entry(entry):
    with np.load(entry / "crops.npz", allow_pickle=False) as z:
        crops = z["crops"]
    return crops, pd.read_parquet(entry / "records.parquet")


def cached_align(cache_dir, key_inputs, params, compute_fn, file_key="content"):
    """Return a cached ``(crops, records)`` result, computing and storing it on a miss.

    The entry lives in ``cache_dir/<key>/`` (``key`` from :func:`cache_key`):
    ``crops.npz``, ``records.parquet`` and ``key.json`` (the parameters and
    when it was written). It is written to a temporary folder and renamed, so
    an interrupted run leaves no half entry. Results are always returned as
    read back from disk, so a hit and a miss return identical objects.

    Parameters
    ----------
    cache_dir : str or Path
        Cache root (created if missing). Give an absolute path or one built
        from the project root; nothing here depends on the working directory
        beyond what ``cache_dir`` itself says.
    key_inputs : ndarray, str, Path, or list/tuple of them
        What the result is computed from (see :func:`cache_key`).
    params : dict
        Every parameter that changes the result.
    compute_fn : callable
        ``compute_fn() -> (crops, records)`` with ``crops`` an ndarray and
        ``records`` a DataFrame (e.g. ``lambda: align_sequence(frames, **params)``).
    file_key : {"content", "stat"}, default "content"

    Returns
    -------
    result : tuple of (ndarray, pandas.DataFrame)
    hit : bool
        True when the result was read from the cache.
    """
    if not callable(compute_fn):
        raise ValueError(f"compute_fn must be callable; got {type(compute_fn).__name__}")
    if not isinstance(cache_dir, (str, os.PathLike)):
        raise ValueError(f"cache_dir must be a folder path; got {type(cache_dir).__name__}")
    key = cache_key(key_inputs, params, file_key)
    root = Path(cache_dir)
    entry = root / key
    if (entry / "records.parquet").is_file() and (entry / "crops.npz").is_file():
        return _load_entry(entry), True
    result = compute_fn()
    if not (isinstance(result, tuple) and len(result) == 2):
        raise ValueError(f"compute_fn must return (crops, records); got {type(result).__name__}")
    crops, records = result
    if not isinstance(crops, np.ndarray) or not isinstance(records, pd.DataFrame):
        raise ValueError(
            f"compute_fn must return (ndarray, DataFrame); got ({type(crops).__name__}, {type(records).__name__})"
        )
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key[:16]}-{uuid.uuid4().hex[:8]}-", dir=root))
    try:
        np.savez_compressed(tmp / "crops.npz", crops=crops)
        records.to_parquet(tmp / "records.parquet", index=False)
        meta = {"key": key, "cache_version": CACHE_VERSION, "file_key": file_key, "params": params,
                "written": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        (tmp / "key.json").write_text(json.dumps(to_jsonable(meta), sort_keys=True, indent=1))
        try:
            os.rename(tmp, entry)
        except OSError:  # another process wrote the same entry meanwhile
            if not (entry / "records.parquet").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return _load_entry(entry), False
