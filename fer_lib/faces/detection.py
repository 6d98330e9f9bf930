"""Reading images and videos, and finding one face per frame.

Three detectors share one per-frame record (:class:`FaceDetections`):

``"mtcnn"``
    MTCNN from ``facenet-pytorch`` (its weights ship inside the package, so it
    runs offline). Batched over frames; CPU or GPU. Status ``"detected"``.
``"haar"``
    OpenCV's frontal-face Haar cascade (``cv2.data.haarcascades``): a fast
    fallback without landmarks. The 5 points are placed in the box by the fixed
    template :data:`HAAR_POINT_TEMPLATE`. Status ``"fallback"``. More prone to
    false positives than MTCNN (1 of 95 frames of a face-free clip in our check).
``"landmarks"``
    For data sets that ship 68-point iBUG landmarks (CK+ ``Landmarks/``, read
    by :func:`fer_lib.data.ckplus.read_landmarks_file`): no detector runs; the 5
    points come from :func:`landmarks68_to_5` and the box is the bounding box
    of the 68 points. Status ``"landmarks"``.

A frame where no face is found gets status ``"none"`` and NaN box, points and
score: a face is never invented.

``detect_faces(..., method="mtcnn", fallback="haar")`` runs the Haar cascade on
the frames where MTCNN found no face (status ``"fallback"`` where it finds
one). It is off by default: it recovers faces MTCNN misses (profile views,
heavy blur) at the price of Haar's false positives on frames without a face.

Points are in image pixel coordinates ``(x, y)`` in the order of
:data:`POINT_NAMES`; "left" and "right" are as seen in the image (the person's
right eye is the image-left eye), as MTCNN returns them.

Nothing is loaded at import: torch, facenet-pytorch and the cascade file are
opened on first use and cached (per device for MTCNN).
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from fer_lib.core.errors import DataError
from fer_lib.core.validation import check_fraction, check_option, check_positive_int

__all__ = [
    "DETECTORS",
    "FALLBACKS",
    "FACE_STATUSES",
    "STATUS_BY_METHOD",
    "POINT_NAMES",
    "BOX_COLUMNS",
    "POINT_COLUMNS",
    "RECORD_COLUMNS",
    "HAAR_POINT_TEMPLATE",
    "IMAGE_COLORS",
    "VIDEO_COLORS",
    "FaceDetections",
    "read_image",
    "read_video_frames",
    "as_frames",
    "detect_faces",
    "select_face",
    "box_iou",
    "landmarks68_to_5",
    "records_to_arrays",
]

#: Face detectors accepted by :func:`detect_faces` (``method=``).
DETECTORS = ("mtcnn", "haar", "landmarks")

#: Per-frame status of a face record. ``"detected"``: MTCNN found the face;
#: ``"landmarks"``: points come from the data set's 68-point landmarks;
#: ``"fallback"``: Haar box with template points; ``"none"``: no face.
FACE_STATUSES = ("detected", "landmarks", "fallback", "none")

#: Status written for a found face, by detector.
STATUS_BY_METHOD = MappingProxyType({"mtcnn": "detected", "landmarks": "landmarks", "haar": "fallback"})

#: Names of the 5 points, in array order (image-left first, as MTCNN returns them).
POINT_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")

#: Record columns holding the box ``(x1, y1, x2, y2)`` in pixels.
BOX_COLUMNS = ("x1", "y1", "x2", "y2")

#: Record columns holding the 5 points, ``<name>_x, <name>_y`` in :data:`POINT_NAMES` order.
POINT_COLUMNS = tuple(f"{name}_{axis}" for name in POINT_NAMES for axis in ("x", "y"))

#: Columns of :meth:`FaceDetections.to_frame`, in order.
RECORD_COLUMNS = ("frame", "status", "method", *BOX_COLUMNS, *POINT_COLUMNS, "score", "n_faces")

#: Where the Haar fallback puts the 5 points, as fractions ``(fx, fy)`` of the box:
#: ``x = x1 + fx * (x2 - x1)``, ``y = y1 + fy * (y2 - y1)``, rows in
#: :data:`POINT_NAMES` order. Calibrated once (then symmetrised and rounded) as
#: the median of MTCNN's points relative to the Haar box on 94 frames (first and
#: last frames of the 40 CK+ sequences, 14 video frames, astronaut); the
#: spread around it was 1-3 % of the box side.
HAAR_POINT_TEMPLATE = np.array(
    [[0.325, 0.40], [0.675, 0.40], [0.50, 0.58], [0.35, 0.77], [0.65, 0.77]], dtype=np.float64
)
HAAR_POINT_TEMPLATE.setflags(write=False)

#: ``fallback=`` options of :func:`detect_faces`: ``None`` (off) or ``"haar"``.
FALLBACKS = (None, "haar")

#: ``color=`` options of :func:`read_image` (``"keep"``: grayscale files stay 2-D).
IMAGE_COLORS = ("keep", "gray", "rgb")

#: ``color=`` options of :func:`read_video_frames`.
VIDEO_COLORS = ("rgb", "gray")

#: iBUG-68 indices used for the 5 points (eye centres are means of 6 points).
_IBUG_LEFT_EYE = slice(36, 42)   # person's right eye, image-left
_IBUG_RIGHT_EYE = slice(42, 48)  # person's left eye, image-right
_IBUG_NOSE_TIP = 30
_IBUG_MOUTH_LEFT = 48
_IBUG_MOUTH_RIGHT = 54

_HAAR_FILE = "haarcascade_frontalface_default.xml"


# --------------------------------------------------------------------------- I/O


def _check_path(name, path):
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"{name} must be a file path (str or Path); got {type(path).__name__} {path!r}")
    p = Path(path)
    if not p.exists():
        raise DataError(f"{name}: no such file: '{p}'")
    if not p.is_file():
        raise DataError(f"{name} must be a file; got the directory '{p}'")
    return p


def read_image(path, color="keep"):
    """Read an image file as uint8 pixels.

    Parameters
    ----------
    path : str or Path
        Image file (any format OpenCV decodes: PNG, JPEG, BMP, TIFF, ...).
    color : {"keep", "gray", "rgb"}, default "keep"
        ``"keep"`` returns grayscale files as 2-D and colour files as RGB;
        ``"gray"`` and ``"rgb"`` convert. An alpha channel is dropped; 16-bit
        images are scaled to 8 bits.

    Returns
    -------
    ndarray of shape (H, W) or (H, W, 3), dtype uint8
        RGB channel order (not OpenCV's BGR).

    Raises
    ------
    fer_lib.core.errors.DataError
        (a ``ValueError``) ``path`` does not exist, is not a file, or its
        bytes cannot be decoded as an image; the message names the file.
    """
    import cv2

    check_option("color", color, IMAGE_COLORS)
    p = _check_path("path", path)
    # np.fromfile + imdecode also works for non-ASCII paths (cv2.imread does not on Windows).
    buf = np.fromfile(p, dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
    if img is None:
        raise DataError(
            f"path: cannot decode '{p}' as an image ({buf.size} bytes; corrupt or unsupported format)"
        )
    if img.dtype == np.uint16:
        img = (img.astype(np.float64) / 257.0).round().astype(np.uint8)
    elif img.dtype != np.uint8:
        raise DataError(f"path: '{p}' decodes to unsupported pixel type {img.dtype}; expected 8 or 16 bit")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3:
        img = img[:, :, :3]  # drop alpha
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if color == "gray" and img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    elif color == "rgb" and img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    return np.ascontiguousarray(img)


def read_video_frames(path, max_frames=None, step=1, color="rgb", return_fps=False):
    """Decode the frames of a video file with ``cv2.VideoCapture``.

    Parameters
    ----------
    path : str or Path
        Video file (any container/codec the installed OpenCV build decodes).
    max_frames : int or None, default None
        Stop after this many *returned* frames; ``None`` reads to the end.
    step : int, default 1
        Keep every ``step``-th frame (frames 0, step, 2*step, ...).
    color : {"rgb", "gray"}, default "rgb"
        Channel layout of the returned frames.
    return_fps : bool, default False
        Also return the frame rate stored in the file (NaN if unknown).

    Returns
    -------
    frames : ndarray of shape (n, H, W, 3) or (n, H, W), dtype uint8
        The decoded frames, in order. ``n >= 1``.
    fps : float
        Only if ``return_fps``: frames per second of the file (of the
        original stream, not divided by ``step``).

    Raises
    ------
    fer_lib.core.errors.DataError
        (a ``ValueError``) ``path`` does not exist, cannot be opened as a
        video, or not one frame can be decoded. (A video whose frames show no
        face is fine: detection reports it.)
    """
    import cv2

    check_option("color", color, VIDEO_COLORS)
    step = check_positive_int("step", step)
    if max_frames is not None:
        max_frames = check_positive_int("max_frames", max_frames)
    p = _check_path("path", path)
    cap = cv2.VideoCapture(str(p))
    try:
        if not cap.isOpened():
            raise DataError(f"path: cannot open '{p}' as a video (corrupt or unsupported format)")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or np.nan)
        frames = []
        index = 0
        while max_frames is None or len(frames) < max_frames:
            if index % step == 0:
                ok, frame = cap.read()
                if not ok or frame is None:
                    break
                if frame.ndim == 2:
                    frame = frame if color == "gray" else cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
                else:
                    code = cv2.COLOR_BGR2GRAY if color == "gray" else cv2.COLOR_BGR2RGB
                    frame = cv2.cvtColor(frame, code)
                frames.append(frame)
            elif not cap.grab():
                break
            index += 1
    finally:
        cap.release()
    if not frames:
        raise DataError(f"path: no frame could be decoded from '{p}' (corrupt, empty or unsupported video)")
    out = np.stack(frames)
    return (out, fps) if return_fps else out


# ----------------------------------------------------------------- validation


def as_frames(images, name="images"):
    """Validate a batch of frames and return it as a list of uint8 arrays.

    Parameters
    ----------
    images : ndarray of shape (n, H, W) or (n, H, W, 3), or list of such frames
        uint8 grayscale or RGB frames. A list may mix sizes and gray/RGB.
        A single image must be wrapped (``[image]`` or ``image[None]``).
    name : str, default "images"
        Parameter name used in error messages.

    Returns
    -------
    list of ndarray of shape (H, W) or (H, W, 3), dtype uint8

    Raises
    ------
    ValueError
        Empty input, wrong dtype, wrong number of dimensions or channels.
    """
    if isinstance(images, np.ndarray):
        if images.ndim == 3 and images.shape[-1] in (3, 4) and min(images.shape[:2]) > 4:
            raise ValueError(
                f"{name} must be a batch of shape (n, H, W) or (n, H, W, 3); got shape {images.shape}, "
                f"which looks like a single RGB image: pass [image] or image[None]"
            )
        if images.ndim not in (3, 4):
            raise ValueError(
                f"{name} must have shape (n, H, W) or (n, H, W, 3); got shape {images.shape}"
            )
        frames = list(images)
    elif isinstance(images, (list, tuple)):
        frames = list(images)
    else:
        raise ValueError(
            f"{name} must be an ndarray of shape (n, H, W) or (n, H, W, 3) or a list of frames; "
            f"got {type(images).__name__}"
        )
    if not frames:
        raise ValueError(f"{name} is empty: need at least one frame")
    for i, f in enumerate(frames):
        if not isinstance(f, np.ndarray):
            raise ValueError(f"{name}[{i}] must be an ndarray; got {type(f).__name__}")
        if f.dtype != np.uint8:
            raise ValueError(f"{name} must have dtype uint8; got {f.dtype} (frame {i})")
        if f.ndim == 3 and f.shape[2] == 1:
            f = frames[i] = f[:, :, 0]
        if not (f.ndim == 2 or (f.ndim == 3 and f.shape[2] == 3)):
            raise ValueError(
                f"{name}[{i}] must have shape (H, W) or (H, W, 3); got shape {f.shape}"
            )
        if min(f.shape[:2]) < 1:
            raise ValueError(f"{name}[{i}] is empty: shape {f.shape}")
    return frames


# ----------------------------------------------------------------- detectors


@functools.lru_cache(maxsize=None)
def _mtcnn(device, min_face_size, thresholds, factor):
    """One MTCNN per (device, settings), built on first use."""
    import torch

    with warnings.catch_warnings():
        # facenet-pytorch imports tqdm.auto, which warns in a Jupyter kernel without ipywidgets
        warnings.filterwarnings("ignore", message="IProgress not found")
        from facenet_pytorch import MTCNN

    model = MTCNN(
        min_face_size=int(min_face_size),
        thresholds=list(thresholds),
        factor=float(factor),
        keep_all=True,
        select_largest=False,
        post_process=False,
        device=torch.device(device),
    )
    return model.eval()


@functools.lru_cache(maxsize=None)
def _haar_cascade():
    import cv2

    path = os.path.join(cv2.data.haarcascades, _HAAR_FILE)
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV could not load its Haar cascade '{path}'")
    return cascade


def _default_min_face(shape):
    """``max(20, min(H, W) / 10)``: the default smallest face searched for."""
    return max(20, int(round(min(shape[:2]) / 10)))


def _to_rgb(frame):
    import cv2

    return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB) if frame.ndim == 2 else frame


def to_gray(frame):
    """A frame in grayscale: ``(H, W)`` as it is, ``(H, W, 3)`` RGB converted."""
    import cv2

    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame


def box_iou(box, boxes):
    """Intersection over union of one box with several.

    Parameters
    ----------
    box : array-like of shape (4,)
        ``(x1, y1, x2, y2)``.
    boxes : array-like of shape (k, 4)

    Returns
    -------
    ndarray of shape (k,)
        IoU in [0, 1]; 0 where either box is empty or NaN.
    """
    box = np.asarray(box, dtype=np.float64)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = max(box[2] - box[0], 0) * max(box[3] - box[1], 0)
    areas = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    union = area + areas - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return np.nan_to_num(iou, nan=0.0)


def select_face(boxes, image_shape, scores=None):
    """Index of the face to keep when several are seen.

    Rule: keep the face maximising ``area * (1 - d / r)``, where ``area`` is the
    box area, ``d`` the distance from the box centre to the image centre and
    ``r`` half the image diagonal (so a face at the centre counts fully and one
    in a corner not at all). Exact ties go to the higher score, then to the
    lower index. This keeps the main subject of a portrait or video: large and
    central beats large at the edge or small in the middle.

    Parameters
    ----------
    boxes : array-like of shape (k, 4)
        ``(x1, y1, x2, y2)``, ``k >= 1``.
    image_shape : tuple
        ``(H, W, ...)`` of the image.
    scores : array-like of shape (k,) or None
        Detector scores (NaN allowed).

    Returns
    -------
    int
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        raise ValueError("boxes is empty: no face to select")
    h, w = image_shape[:2]
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    cx = (boxes[:, 0] + boxes[:, 2]) / 2
    cy = (boxes[:, 1] + boxes[:, 3]) / 2
    d = np.hypot(cx - w / 2, cy - h / 2)
    r = np.hypot(w, h) / 2
    priority = area * np.clip(1 - d / r, 0, 1)
    s = np.zeros(len(boxes)) if scores is None else np.nan_to_num(np.asarray(scores, float), nan=-1.0)
    # lexsort: last key is primary; negate for descending; index ascending breaks remaining ties.
    order = np.lexsort((np.arange(len(boxes)), -s, -priority))
    return int(order[0])


def landmarks68_to_5(points68):
    """Convert iBUG 68-point landmarks to the 5 points used for alignment.

    Eye centres are the means of points 36-41 and 42-47 (0-based), the nose tip
    is point 30, the mouth corners are points 48 and 54.

    Parameters
    ----------
    points68 : array-like of shape (68, 2) or (n, 68, 2)

    Returns
    -------
    ndarray of shape (5, 2) or (n, 5, 2)
        In :data:`POINT_NAMES` order.
    """
    pts = np.asarray(points68, dtype=np.float64)
    if pts.shape[-2:] != (68, 2):
        raise ValueError(f"points68 must have shape (68, 2) or (n, 68, 2); got shape {pts.shape}")
    out = np.stack(
        [
            pts[..., _IBUG_LEFT_EYE, :].mean(axis=-2),
            pts[..., _IBUG_RIGHT_EYE, :].mean(axis=-2),
            pts[..., _IBUG_NOSE_TIP, :],
            pts[..., _IBUG_MOUTH_LEFT, :],
            pts[..., _IBUG_MOUTH_RIGHT, :],
        ],
        axis=-2,
    )
    return out


# ------------------------------------------------------------------ records


@dataclass(frozen=True)
class FaceDetections:
    """One face record per frame (plus every face seen), from :func:`detect_faces`.

    Attributes
    ----------
    status : ndarray of shape (n,), dtype object
        One of :data:`FACE_STATUSES` per frame.
    boxes : ndarray of shape (n, 4)
        Kept face ``(x1, y1, x2, y2)`` in pixels; NaN where status is ``"none"``.
    points : ndarray of shape (n, 5, 2)
        Kept face's 5 points (:data:`POINT_NAMES` order); NaN where ``"none"``.
    scores : ndarray of shape (n,)
        MTCNN probability of the kept face; NaN for Haar, landmarks and ``"none"``.
    n_faces : ndarray of shape (n,), dtype int64
        Faces seen in the frame (0 where ``"none"``).
    all_boxes, all_points, all_scores : tuple of ndarray
        Per frame, every face seen: shapes (k, 4), (k, 5, 2), (k,).
    method : str
        The detector used.
    """

    status: np.ndarray
    boxes: np.ndarray
    points: np.ndarray
    scores: np.ndarray
    n_faces: np.ndarray
    all_boxes: tuple
    all_points: tuple
    all_scores: tuple
    method: str

    def __len__(self):
        return len(self.status)

    def to_frame(self, frame_index=None):
        """Return the records as a DataFrame with :data:`RECORD_COLUMNS`.

        Parameters
        ----------
        frame_index : array-like of shape (n,) or None
            Values of the ``frame`` column; default ``0..n-1``.

        Returns
        -------
        pandas.DataFrame
            One row per frame; box and points in flat float columns.
        """
        n = len(self)
        idx = np.arange(n) if frame_index is None else np.asarray(frame_index)
        data = {"frame": idx, "status": self.status.astype(str), "method": [self.method] * n}
        for j, c in enumerate(BOX_COLUMNS):
            data[c] = self.boxes[:, j]
        flat = self.points.reshape(n, 10)
        for j, c in enumerate(POINT_COLUMNS):
            data[c] = flat[:, j]
        data["score"] = self.scores
        data["n_faces"] = self.n_faces.astype(np.int64)
        return pd.DataFrame(data, columns=list(RECORD_COLUMNS))


def records_to_arrays(records):
    """Boxes and points back from a record DataFrame.

    Parameters
    ----------
    records : pandas.DataFrame
        With :data:`BOX_COLUMNS` and :data:`POINT_COLUMNS`.

    Returns
    -------
    boxes : ndarray of shape (n, 4)
    points : ndarray of shape (n, 5, 2)
    """
    missing = [c for c in (*BOX_COLUMNS, *POINT_COLUMNS) if c not in records.columns]
    if missing:
        raise ValueError(f"records lacks the columns {missing}")
    boxes = records[list(BOX_COLUMNS)].to_numpy(dtype=np.float64)
    points = records[list(POINT_COLUMNS)].to_numpy(dtype=np.float64).reshape(-1, 5, 2)
    return boxes, points


def _frame_result(method, shape, boxes, points, scores):
    """Pick one face among those seen: (status, box, points, score, n, all...)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    points = np.asarray(points, dtype=np.float64).reshape(-1, 5, 2)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(boxes) == 0:
        nan = np.full(4, np.nan)
        return "none", nan, np.full((5, 2), np.nan), np.nan, 0, boxes, points, scores
    k = select_face(boxes, shape, scores)
    return STATUS_BY_METHOD[method], boxes[k], points[k], scores[k], len(boxes), boxes, points, scores


def _detect_mtcnn(frames, device, min_face_size, thresholds, factor, min_score, batch_size):
    import torch

    from fer_lib.core.device import resolve_device

    device = resolve_device(device)
    results = [None] * len(frames)
    # Group equal shapes: MTCNN batches only equal-size images.
    groups = {}
    for i, f in enumerate(frames):
        groups.setdefault(f.shape[:2], []).append(i)
    for shape, idx in groups.items():
        mfs = _default_min_face(shape) if min_face_size is None else min_face_size
        model = _mtcnn(device, int(mfs), tuple(float(t) for t in thresholds), float(factor))
        for start in range(0, len(idx), batch_size):
            chunk = idx[start : start + batch_size]
            batch = np.stack([_to_rgb(frames[i]) for i in chunk])
            with torch.inference_mode():
                b_boxes, b_probs, b_points = model.detect(batch, landmarks=True)
            for j, i in enumerate(chunk):
                bx, pr, pt = b_boxes[j], b_probs[j], b_points[j]
                if bx is None:
                    bx, pr, pt = np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))
                else:
                    bx = np.asarray(bx, dtype=np.float64).reshape(-1, 4)
                    pr = np.asarray(pr, dtype=np.float64).reshape(-1)
                    pt = np.asarray(pt, dtype=np.float64).reshape(-1, 5, 2)
                    keep = pr >= min_score
                    bx, pr, pt = bx[keep], pr[keep], pt[keep]
                results[i] = _frame_result("mtcnn", shape, bx, pt, pr)
    return results


def _detect_haar(frames, min_face_size, scale_factor, min_neighbors):
    cascade = _haar_cascade()
    results = []
    for f in frames:
        gray = to_gray(f)
        mfs = _default_min_face(gray.shape) if min_face_size is None else min_face_size
        rects = cascade.detectMultiScale(
            gray, scaleFactor=scale_factor, minNeighbors=min_neighbors, minSize=(int(mfs), int(mfs))
        )
        rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
        boxes = np.column_stack([rects[:, 0], rects[:, 1], rects[:, 0] + rects[:, 2], rects[:, 1] + rects[:, 3]])
        points = boxes[:, None, :2] + HAAR_POINT_TEMPLATE[None] * rects[:, None, 2:4]
        results.append(_frame_result("haar", gray.shape, boxes, points, np.full(len(boxes), np.nan)))
    return results


def _detect_landmarks(frames, landmarks):
    if landmarks is None:
        raise ValueError("landmarks must be given (shape (n, 68, 2)) when method='landmarks'; got None")
    if isinstance(landmarks, np.ndarray) and landmarks.ndim == 3:
        rows = list(landmarks)
    elif isinstance(landmarks, (list, tuple)):
        rows = list(landmarks)
    else:
        shape = getattr(landmarks, "shape", None)
        raise ValueError(f"landmarks must have shape (n, 68, 2); got {type(landmarks).__name__} of shape {shape}")
    if len(rows) != len(frames):
        raise ValueError(f"landmarks must have one (68, 2) array per frame ({len(frames)}); got {len(rows)}")
    results = []
    for f, lm in zip(frames, rows):
        if lm is None:
            results.append(_frame_result("landmarks", f.shape, [], [], []))
            continue
        lm = np.asarray(lm, dtype=np.float64)
        if lm.shape != (68, 2):
            raise ValueError(f"landmarks must have shape (n, 68, 2); got a frame of shape {lm.shape}")
        if not np.isfinite(lm).all():
            results.append(_frame_result("landmarks", f.shape, [], [], []))
            continue
        box = np.array([lm[:, 0].min(), lm[:, 1].min(), lm[:, 0].max(), lm[:, 1].max()])
        results.append(_frame_result("landmarks", f.shape, box, landmarks68_to_5(lm), [np.nan]))
    return results


def detect_faces(
    images,
    method="mtcnn",
    device=None,
    *,
    landmarks=None,
    min_face_size=None,
    min_score=0.9,
    thresholds=(0.6, 0.7, 0.7),
    factor=0.709,
    batch_size=16,
    haar_scale_factor=1.1,
    haar_min_neighbors=5,
    fallback=None,
):
    """Find one face, its box and 5 points in every frame.

    Parameters
    ----------
    images : ndarray of shape (n, H, W) or (n, H, W, 3), or list of frames
        uint8 grayscale or RGB frames (see :func:`as_frames`).
    method : {"mtcnn", "haar", "landmarks"}, default "mtcnn"
        Detector (:data:`DETECTORS`); see the module docstring.
    device : str, torch.device or None
        For MTCNN: ``None`` uses CUDA when available, else CPU.
    landmarks : ndarray of shape (n, 68, 2) or list, optional
        Required for ``method="landmarks"``: per-frame iBUG-68 points (a
        ``None`` or NaN entry means no face in that frame).
    min_face_size : int or None
        Smallest face side searched for, in pixels. ``None``:
        ``max(20, min(H, W) / 10)`` per frame size (faces smaller than this
        are neither kept nor counted in ``n_faces``; it keeps MTCNN's image
        pyramid short: about 3x faster than 20 px on 640x490 CK+ frames).
    min_score : float, default 0.9
        MTCNN faces with a lower probability are discarded (MTCNN's own last
        stage already requires 0.7).
    thresholds, factor : MTCNN settings
        Per-stage thresholds and the pyramid scale factor (facenet-pytorch defaults).
    batch_size : int, default 16
        Frames per MTCNN forward pass (equal-size frames only are batched).
    haar_scale_factor, haar_min_neighbors : Haar settings
        Passed to ``cv2.CascadeClassifier.detectMultiScale``.
    fallback : {None, "haar"}, default None
        With ``method="mtcnn"``: run the Haar cascade on the frames where
        MTCNN kept no face; a face found there gets status ``"fallback"``
        (its ``n_faces`` counts Haar's faces). Ignored by the other methods.
        Off by default because Haar invents faces more often than MTCNN.

    Returns
    -------
    FaceDetections
        One record per frame; ``.to_frame()`` gives a DataFrame. When several
        faces are seen, one is kept by :func:`select_face`'s rule and
        ``n_faces`` counts all of them.

    Raises
    ------
    ValueError
        Unknown ``method``, bad ``images`` or ``landmarks``.
    """
    check_option("method", method, DETECTORS)
    check_option("fallback", fallback, FALLBACKS)
    frames = as_frames(images)
    min_score = check_fraction("min_score", min_score)
    batch_size = check_positive_int("batch_size", batch_size)
    if min_face_size is not None:
        min_face_size = check_positive_int("min_face_size", min_face_size)
    if method == "mtcnn":
        results = _detect_mtcnn(frames, device, min_face_size, thresholds, factor, min_score, batch_size)
        missed = [i for i, r in enumerate(results) if r[0] == "none"]
        if fallback == "haar" and missed:
            rescued = _detect_haar([frames[i] for i in missed], min_face_size, haar_scale_factor, haar_min_neighbors)
            for i, r in zip(missed, rescued):
                results[i] = r
    elif method == "haar":
        results = _detect_haar(frames, min_face_size, haar_scale_factor, haar_min_neighbors)
    else:
        results = _detect_landmarks(frames, landmarks)
    status, box, pts, score, n, all_b, all_p, all_s = zip(*results)
    return FaceDetections(
        status=np.array(status, dtype=object),
        boxes=np.stack(box).astype(np.float64),
        points=np.stack(pts).astype(np.float64),
        scores=np.array(score, dtype=np.float64),
        n_faces=np.array(n, dtype=np.int64),
        all_boxes=tuple(all_b),
        all_points=tuple(all_p),
        all_scores=tuple(all_s),
        method=method,
    )
