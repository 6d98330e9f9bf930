"""Emotion recognition on images, folders of images, video files and webcams.

:func:`run_video_inference` is the library side of the ``fer-video`` command
(:mod:`fer_lib.video_cli`). For every frame it

1. **decodes** the frame (streamed: a video is never held in memory whole);
2. **detects and tracks faces** (:class:`FaceTracker`): the detector
   (:func:`fer_lib.detection.detect_faces`, MTCNN or Haar) runs on frames
   ``0, k, 2k, ...`` (``k = detect_every``) and on any frame where optical
   flow loses a face; in between, each face's 5 points are moved by
   Lucas-Kanade optical flow (the tracker of
   :func:`fer_lib.alignment.align_sequence`). Several faces per frame are
   followed, each with a stable integer id (association rule below);
3. **aligns** each face onto the template the checkpoint was trained with
   (:func:`fer_lib.alignment.align_face`);
4. **classifies** each face with a checkpoint written by
   :func:`fer_lib.training.train_model` (see :func:`load_video_model`):
   ``mode="spatial"`` classifies every crop on its own; ``mode="window"``
   (hybrid CNN-LSTM checkpoints, ``metadata["is_sequence"]``) classifies the
   last ``T`` aligned crops of the face's track. Until a track has ``T``
   crops, the window is padded at the front by repeating its first crop, so a
   new face gets a prediction from its first frame on;
5. **writes** ``predictions.csv`` / ``predictions.parquet``, an annotated
   video, ``timeline.png`` and ``summary.json`` (see
   :func:`run_video_inference`).

Track association rule
----------------------
On a detection frame, every current track (its box moved by optical flow) and
every recently lost track (its last box, lost at most ``max_lost_frames``
frames ago) is compared with every detected face by box IoU
(:func:`fer_lib.detection.box_iou`). Pairs are taken greedily by decreasing
IoU (ties: current tracks before lost ones, then lower id); a pair is
accepted when its IoU is at least ``iou_threshold`` and neither member is
taken yet. A matched current track is blended with its detection,
``(1 - smoothing) * detected + smoothing * predicted`` (points and box), a
matched lost track resumes at the detected position with its old id. A
current track left without a detection ends (it becomes "lost": no face is
invented for it); a detected face left without a track starts a new track,
new ids being given in order of the faces' left edges and never reused. When
the frame size changes (a folder of images of different sizes), all tracks
end.

Nothing heavy is imported at module import: OpenCV, torch and matplotlib are
loaded on first use; nothing is written until a function is called.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from fer_lib.errors import DataError
from fer_lib.validation import check_fraction, check_option, check_positive_int

__all__ = [
    "VIDEO_DETECTORS",
    "MODES",
    "SOURCE_KINDS",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "FACE_INTENSITIES",
    "FACE_PREPROCESSING_KEYS",
    "PREDICTION_COLUMNS",
    "DEFAULT_CHECKPOINT",
    "TrackedFace",
    "FaceTracker",
    "VideoModel",
    "VideoResult",
    "face_preprocessing_text",
    "face_preprocessing_from_metadata",
    "load_video_model",
    "default_checkpoint",
    "default_out_dir",
    "probability_columns",
    "label_changes_per_second",
    "track_summary",
    "plot_timeline",
    "run_video_inference",
    "benchmark_video",
    "SYNTHETIC_VIDEO_PHASES",
    "render_synthetic_video",
    "main_face",
    "flicker_table",
    "truth_agreement",
    "confident_frames",
    "plot_model_timelines",
    "video_frames_at",
    "annotated_frames_figure",
    "plot_throughput",
]

#: Detectors usable on video (``"landmarks"`` needs annotated landmarks, so it is not offered).
VIDEO_DETECTORS = ("mtcnn", "haar")

#: How a checkpoint is applied: per frame (``"spatial"``) or over a sliding window of ``T`` frames (``"window"``).
MODES = ("spatial", "window")

#: Kinds of input :func:`run_video_inference` accepts.
SOURCE_KINDS = ("image", "folder", "video", "webcam")

#: File name endings read as images (case-insensitive).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")

#: File name endings read as videos (case-insensitive), with OpenCV's FFmpeg back end.
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")

#: Intensity normalisations of the aligned crop that keep uint8 pixels (see
#: :func:`fer_lib.alignment.normalize`); the model's own normalisation comes after.
FACE_INTENSITIES = ("none", "histeq", "clahe")

#: Keys of the face preprocessing record (see :func:`face_preprocessing_text`).
FACE_PREPROCESSING_KEYS = ("template", "size", "color", "margin", "intensity")

#: Columns of ``predictions.csv`` before the probability columns (one ``p_<class>`` per class follows).
PREDICTION_COLUMNS = (
    "frame",
    "time_s",
    "file",
    "track_id",
    "status",
    "tracked",
    "x1",
    "y1",
    "x2",
    "y2",
    "score",
    "n_faces",
    "label",
)

#: Where the study's spatial FER-2013 checkpoint lives, relative to ``<runs root>/<preset>``.
DEFAULT_CHECKPOINT = ("artifacts", "03_spatial_baseline", "spatial_fer2013.pt")

_DEFAULT_PREPROCESSING = MappingProxyType(
    {"template": "fer2013", "color": "gray", "margin": 0.0, "intensity": "none"}
)
_TOKEN = re.compile(r"\b(template|size|color|margin|intensity)\s*=\s*([A-Za-z0-9_.+-]+)")
# BGR colours of the tracks (tab10-like), cycled by track id.
_PALETTE = (
    (180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148),
    (75, 86, 140), (194, 119, 227), (127, 127, 127), (34, 189, 188), (207, 190, 23),
)
_BAR_WIDTH = 60


# ------------------------------------------------------------------- metrics


def _is_missing(value):
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value == ""


def label_changes_per_second(labels, times):
    """Flicker of a label sequence: how often the predicted label changes, per second.

    Parameters
    ----------
    labels : array-like of shape (n,)
        Predicted label of one face in consecutive frames (strings or ints).
        Missing entries (``None``, NaN, ``""``: frames where the face was not
        seen) are skipped; a change is counted between consecutive present
        labels that differ.
    times : array-like of shape (n,)
        Time of each frame in seconds, non-decreasing (finite where the label
        is present).

    Returns
    -------
    float
        ``changes / (t_last - t_first)`` over the present labels; NaN when
        fewer than two labels are present or they span no time.

    Examples
    --------
    >>> label_changes_per_second(["a", "a", "b", "b", "a"], [0.0, 0.1, 0.2, 0.3, 0.4])
    5.0
    """
    lab = np.asarray(labels, dtype=object)
    t = np.asarray(times, dtype=np.float64)
    if lab.ndim != 1 or t.shape != lab.shape:
        raise ValueError(
            f"labels and times must be 1-D of the same length; got shapes {lab.shape} and {t.shape}"
        )
    keep = np.array([not _is_missing(v) for v in lab], dtype=bool)
    lab, t = lab[keep], t[keep]
    if not np.isfinite(t).all():
        raise ValueError("times must be finite where a label is present; got NaN or inf")
    if (np.diff(t) < 0).any():
        raise ValueError("times must be non-decreasing (frames in temporal order)")
    if len(lab) < 2:
        return float("nan")
    duration = float(t[-1] - t[0])
    if duration <= 0:
        return float("nan")
    changes = int(sum(a != b for a, b in zip(lab[:-1], lab[1:])))
    return changes / duration


def track_summary(predictions):
    """Per-track counts and flicker from a predictions table.

    Parameters
    ----------
    predictions : pandas.DataFrame
        As written by :func:`run_video_inference` (columns ``frame``,
        ``time_s``, ``track_id``, ``label``).

    Returns
    -------
    pandas.DataFrame
        One row per track id, columns ``track_id``, ``frames`` (rows of the
        track), ``first_frame``, ``last_frame``, ``duration_s``,
        ``label_changes`` (between consecutive rows), ``label_changes_per_second``
        (:func:`label_changes_per_second`; NaN without times) and
        ``dominant_label`` (most frequent label).
    """
    missing = [c for c in ("frame", "time_s", "track_id", "label") if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions lacks the columns {missing}")
    cols = ["track_id", "frames", "first_frame", "last_frame", "duration_s", "label_changes",
            "label_changes_per_second", "dominant_label"]
    faces = predictions[predictions["track_id"].notna()]
    out = []
    for tid, g in faces.groupby("track_id", sort=True):
        g = g.sort_values("frame")
        labels = g["label"].to_numpy(dtype=object)
        times = g["time_s"].to_numpy(dtype=np.float64)
        changes = int(sum(a != b for a, b in zip(labels[:-1], labels[1:])))
        if np.isfinite(times).all():
            rate = label_changes_per_second(labels, times)
            duration = float(times[-1] - times[0])
        else:
            rate, duration = float("nan"), float("nan")
        counts = g["label"].value_counts()
        out.append({
            "track_id": int(tid), "frames": int(len(g)), "first_frame": int(g["frame"].iloc[0]),
            "last_frame": int(g["frame"].iloc[-1]), "duration_s": duration, "label_changes": changes,
            "label_changes_per_second": rate, "dominant_label": str(counts.index[0]) if len(counts) else None,
        })
    return pd.DataFrame(out, columns=cols)


# ------------------------------------------------------------------ tracking


@dataclass(frozen=True)
class TrackedFace:
    """One face in one frame, as returned by :meth:`FaceTracker.update`.

    Attributes
    ----------
    track_id : int
        Stable id of the face's track (0, 1, 2, ... in order of appearance).
    status : str
        ``"detected"`` (MTCNN) or ``"fallback"`` (Haar): the status of the
        detection the track was last updated with.
    tracked : bool
        True when the points were moved by optical flow in this frame rather
        than detected in it.
    box : ndarray of shape (4,)
        ``(x1, y1, x2, y2)`` in pixels.
    points : ndarray of shape (5, 2)
        The 5 points (:data:`fer_lib.detection.POINT_NAMES` order).
    score : float
        Detector probability of the last detection (NaN for Haar).
    """

    track_id: int
    status: str
    tracked: bool
    box: np.ndarray
    points: np.ndarray
    score: float


@dataclass
class _Track:
    box: np.ndarray
    points: np.ndarray
    status: str
    score: float
    lost_at: int = -1
    flow_ok: bool = True


class FaceTracker:
    """Detect every ``k`` frames, track in between, keep stable ids for several faces.

    See the module docstring for the association rule.

    Parameters
    ----------
    detector : {"mtcnn", "haar"}, default "mtcnn"
    detect_every : int, default 5
        ``k``: run the detector on frames ``0, k, 2k, ...`` (counted from the
        first :meth:`update`) and on every frame where optical flow loses a
        face. ``1`` detects on every frame. A face that enters between two
        detections is picked up at the next one.
    device : str or None
        MTCNN device (``None``: CUDA when available, else CPU).
    iou_threshold : float, default 0.3
        Minimum IoU between a track's box and a detection to associate them.
    smoothing : float in [0, 1), default 0.5
        Weight of the optical-flow prediction when blending in a detection.
    max_lost_frames : int or None
        A lost track can be resumed (same id) by a detection up to this many
        frames after it was lost; ``None``: ``max(10, 2 * detect_every)``.
    min_face_size, min_score
        Passed to :func:`fer_lib.detection.detect_faces`.

    Attributes
    ----------
    n_detections : int
        Detector calls so far.
    detect_seconds : float
        Time spent in the detector so far.
    """

    def __init__(self, detector="mtcnn", detect_every=5, *, device=None, iou_threshold=0.3, smoothing=0.5,
                 max_lost_frames=None, min_face_size=None, min_score=0.9):
        self.detector = check_option("detector", detector, VIDEO_DETECTORS)
        self.detect_every = check_positive_int("detect_every", detect_every)
        self.device = device
        self.iou_threshold = check_fraction("iou_threshold", iou_threshold)
        self.smoothing = check_fraction("smoothing", smoothing, 0.0, 0.999)
        if max_lost_frames is None:
            max_lost_frames = max(10, 2 * self.detect_every)
        self.max_lost_frames = check_positive_int("max_lost_frames", max_lost_frames, minimum=0)
        self.detect_kwargs = {"min_score": check_fraction("min_score", min_score)}
        if min_face_size is not None:
            self.detect_kwargs["min_face_size"] = check_positive_int("min_face_size", min_face_size)
        self.n_detections = 0
        self.detect_seconds = 0.0
        self._active = {}
        self._lost = {}
        self._next_id = 0
        self._t = -1
        self._prev_gray = None

    def reset(self):
        """End all tracks (ids keep counting up)."""
        self._active.clear()
        self._lost.clear()
        self._prev_gray = None

    def update(self, frame):
        """Process the next frame.

        Parameters
        ----------
        frame : ndarray of shape (H, W, 3) or (H, W), dtype uint8
            RGB or grayscale frame, in temporal order.

        Returns
        -------
        list of TrackedFace
            The faces present in this frame, by increasing ``track_id``
            (empty when there is none).
        """
        from fer_lib.alignment import _propagate
        from fer_lib.detection import _to_gray

        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or not (
            frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 3)
        ):
            shape = getattr(frame, "shape", None)
            raise ValueError(f"frame must be a uint8 array of shape (H, W) or (H, W, 3); got shape {shape}")
        self._t += 1
        t = self._t
        gray = _to_gray(frame)
        if self._prev_gray is not None and self._prev_gray.shape != gray.shape:
            self.reset()
        flow_lost = False
        h, w = gray.shape
        for tr in self._active.values():
            pts, box, ok = _propagate(self._prev_gray, gray, tr.points, tr.box, "flow")
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            ok = ok and 0 <= cx < w and 0 <= cy < h
            tr.points, tr.box, tr.flow_ok = pts, box, ok
            flow_lost |= not ok
        for tid in [i for i, tr in self._lost.items() if t - tr.lost_at > self.max_lost_frames]:
            del self._lost[tid]
        detected_now = t % self.detect_every == 0 or flow_lost
        if detected_now:
            self._detect_and_associate(frame, t)
        self._prev_gray = gray
        return [
            TrackedFace(tid, tr.status, not detected_now, tr.box.copy(), tr.points.copy(), float(tr.score))
            for tid, tr in sorted(self._active.items())
        ]

    def _detect_and_associate(self, frame, t):
        from fer_lib.detection import STATUS_BY_METHOD, box_iou, detect_faces

        start = time.perf_counter()
        det = detect_faces([frame], self.detector, self.device, **self.detect_kwargs)
        self.detect_seconds += time.perf_counter() - start
        self.n_detections += 1
        boxes, points, scores = det.all_boxes[0], det.all_points[0], det.all_scores[0]
        status = STATUS_BY_METHOD[self.detector]
        candidates = [(0, tid, tr) for tid, tr in self._active.items()] + [
            (1, tid, tr) for tid, tr in self._lost.items()
        ]
        pairs = []
        for rank, tid, tr in candidates:
            if len(boxes):
                for j, iou in enumerate(box_iou(tr.box, boxes)):
                    if iou >= self.iou_threshold:
                        pairs.append((-iou, rank, tid, j))
        pairs.sort()
        used_tracks, used_dets = set(), set()
        s = self.smoothing
        for _, rank, tid, j in pairs:
            if tid in used_tracks or j in used_dets:
                continue
            used_tracks.add(tid)
            used_dets.add(j)
            if rank == 0:
                tr = self._active[tid]
                if tr.flow_ok:
                    tr.points = (1 - s) * points[j] + s * tr.points
                    tr.box = (1 - s) * boxes[j] + s * tr.box
                else:
                    tr.points, tr.box = points[j].copy(), boxes[j].copy()
            else:
                tr = self._lost.pop(tid)
                tr.points, tr.box = points[j].copy(), boxes[j].copy()
                self._active[tid] = tr
            tr.status, tr.score, tr.flow_ok, tr.lost_at = status, float(scores[j]), True, -1
        for tid in [i for i in self._active if i not in used_tracks]:
            tr = self._active.pop(tid)
            tr.lost_at = t
            self._lost[tid] = tr
        new = sorted((j for j in range(len(boxes)) if j not in used_dets), key=lambda j: (boxes[j][0], boxes[j][1]))
        for j in new:
            self._active[self._next_id] = _Track(boxes[j].copy(), points[j].copy(), status, float(scores[j]))
            self._next_id += 1


# -------------------------------------------------------------------- model


def face_preprocessing_text(size=48, template="fer2013", margin=0.0, intensity="none", color="gray"):
    """The face preprocessing description to store in a checkpoint.

    Pass it as ``train_model(..., preprocessing=face_preprocessing_text(...))``
    when training on faces aligned with :func:`fer_lib.alignment.align_face`
    (or on FER-2013's own crops, which the ``"fer2013"`` template reproduces),
    so that :func:`load_video_model` aligns video faces the same way and
    refuses a checkpoint whose record contradicts its input shape.

    Parameters
    ----------
    size : int, default 48
        Crop side (one of :data:`fer_lib.alignment.ALIGN_SIZES`).
    template : {"fer2013", "arcface"}, default "fer2013"
    margin : float, default 0.0
    intensity : {"none", "histeq", "clahe"}, default "none"
        Intensity normalisation of the uint8 crop (:data:`FACE_INTENSITIES`).
    color : {"gray"}, default "gray"
        The models take one channel.

    Returns
    -------
    str
        E.g. ``"aligned faces (fer_lib.alignment.align_face): template=fer2013
        size=48 color=gray margin=0 intensity=none"``.
    """
    rec = _check_face_preprocessing(
        {"size": size, "template": template, "margin": margin, "intensity": intensity, "color": color}, "arguments"
    )
    return (
        f"aligned faces (fer_lib.alignment.align_face): template={rec['template']} size={rec['size']} "
        f"color={rec['color']} margin={rec['margin']:g} intensity={rec['intensity']}"
    )


def _check_face_preprocessing(rec, where):
    from fer_lib.alignment import ALIGN_SIZES, TEMPLATES

    out = {}
    for key, value in rec.items():
        try:
            if key == "size":
                out[key] = check_option(f"size ({where})", int(value), ALIGN_SIZES)
            elif key == "margin":
                out[key] = check_fraction(f"margin ({where})", value, -0.25, 1.0)
            elif key == "template":
                out[key] = check_option(f"template ({where})", value, TEMPLATES)
            elif key == "color":
                out[key] = check_option(f"color ({where})", value, ("gray",))
            elif key == "intensity":
                out[key] = check_option(f"intensity ({where})", value, FACE_INTENSITIES)
            else:
                raise ValueError(
                    f"unknown face preprocessing key {key!r} ({where}); known: {list(FACE_PREPROCESSING_KEYS)}"
                )
        except (TypeError, ValueError) as err:
            if isinstance(err, ValueError) and str(err).startswith(key):
                raise
            raise ValueError(f"{key} ({where}) has the invalid value {value!r}") from None
    return out


def face_preprocessing_from_metadata(metadata, where="checkpoint"):
    """How video faces must be aligned for a checkpoint.

    Reads ``key=value`` tokens (:data:`FACE_PREPROCESSING_KEYS`, as written by
    :func:`face_preprocessing_text`) from ``metadata["upstream_preprocessing"]``
    (a string, or a dict with those keys) and ``metadata["preprocessing"]``.
    Keys not recorded take the defaults of :func:`face_preprocessing_text`
    (``size`` from ``metadata["input_shape"]``).

    Parameters
    ----------
    metadata : dict
        Checkpoint metadata (:func:`fer_lib.training.load_checkpoint`).
    where : str
        Names the checkpoint in error messages.

    Returns
    -------
    dict
        ``template``, ``size``, ``color``, ``margin``, ``intensity`` and
        ``recorded`` (the keys that were found in the metadata; empty when
        the checkpoint records no face preprocessing).

    Raises
    ------
    ValueError
        Contradictory or invalid records (e.g. ``size=64`` for a model
        trained on 48x48 inputs, an unknown template, two different values
        for one key).
    """
    shape = metadata.get("input_shape")
    if not isinstance(shape, (list, tuple)) or len(shape) not in (2, 3):
        raise ValueError(f"{where}: metadata input_shape must be [H, W] or [T, H, W]; got {shape!r}")
    found = {}
    sources = []
    up = metadata.get("upstream_preprocessing")
    if isinstance(up, dict):
        for key in FACE_PREPROCESSING_KEYS:
            if key in up:
                found[key] = str(up[key])
    elif isinstance(up, str):
        sources.append(up)
    if isinstance(metadata.get("preprocessing"), str):
        sources.append(metadata["preprocessing"])
    for text in sources:
        for key, value in _TOKEN.findall(text):
            value = value.rstrip(".,;")
            if key in found and found[key] != value:
                raise ValueError(
                    f"{where}: its preprocessing records two values for {key} ({found[key]!r} and {value!r}); "
                    "cannot tell how its faces were aligned"
                )
            found[key] = value
    h, w = int(shape[-2]), int(shape[-1])
    rec = dict(_DEFAULT_PREPROCESSING, size=h)
    rec.update(found)
    rec = _check_face_preprocessing(rec, f"{where} preprocessing")
    if h != w or rec["size"] != h:
        raise ValueError(
            f"{where}: its face preprocessing says size={rec['size']} but the model was trained on inputs of "
            f"shape {h}x{w}; the checkpoint is inconsistent and cannot be used"
        )
    rec["recorded"] = sorted(found)
    return rec


@dataclass(frozen=True)
class VideoModel:
    """A checkpoint ready for video: the model, its classes and its face preprocessing.

    Attributes
    ----------
    model : torch.nn.Module
        In eval mode on ``device``.
    metadata : dict
        The checkpoint metadata.
    path : Path
        The checkpoint file.
    device : str
        Torch device the model runs on.
    class_names : tuple of str
    mode : {"spatial", "window"}
        ``"window"`` for sequence checkpoints (``metadata["is_sequence"]``).
    window : int
        ``T``, frames per window (1 for spatial models).
    preprocessing : dict
        ``template``, ``size``, ``color``, ``margin``, ``intensity``,
        ``recorded`` (:func:`face_preprocessing_from_metadata`).
    """

    model: object
    metadata: dict = field(repr=False)
    path: Path
    device: str
    class_names: tuple
    mode: str
    window: int
    preprocessing: dict

    @property
    def size(self):
        """Side of the aligned crops."""
        return self.preprocessing["size"]

    def crop(self, image, points5):
        """Aligned, intensity-normalised crop of one face.

        Parameters
        ----------
        image : ndarray of shape (H, W) or (H, W, 3), dtype uint8
            Grayscale or RGB frame.
        points5 : array-like of shape (5, 2)

        Returns
        -------
        ndarray of shape (size, size), dtype uint8
        """
        from fer_lib.alignment import align_face, normalize

        p = self.preprocessing
        crop = align_face(image, points5, p["size"], "gray", template=p["template"], margin=p["margin"])
        if p["intensity"] != "none":
            crop = normalize(crop[None], p["intensity"])[0]
        return crop

    def predict(self, X, batch_size=256):
        """Class probabilities.

        Parameters
        ----------
        X : ndarray of shape (n, size, size) or (n, T, size, size), dtype uint8
            Crops (spatial) or windows of crops (window mode).
        batch_size : int, default 256

        Returns
        -------
        ndarray of shape (n, n_classes), float32
        """
        from fer_lib.training import predict

        probs = predict(self.model, X, batch_size=batch_size, device=self.device)
        if probs.shape[1] != len(self.class_names):
            raise ValueError(
                f"checkpoint '{self.path}': the model outputs {probs.shape[1]} classes but its metadata names "
                f"{len(self.class_names)}"
            )
        return probs


def _compare_preprocessing(prep, wanted, where):
    """Refuse a caller's expected face preprocessing that differs from the checkpoint's."""
    if not isinstance(wanted, dict):
        raise ValueError(f"preprocessing must be a dict with keys from {list(FACE_PREPROCESSING_KEYS)}; "
                         f"got {type(wanted).__name__}")
    want = _check_face_preprocessing(dict(wanted), "preprocessing argument")
    diff = {k: (prep[k], v) for k, v in want.items() if prep[k] != v}
    if diff:
        text = ", ".join(f"{k}={a!r} (asked {b!r})" for k, (a, b) in diff.items())
        raise ValueError(
            f"{where} was trained on faces preprocessed with {text}; it cannot be used with another "
            "preprocessing: use a checkpoint trained that way, or drop the preprocessing argument"
        )


def load_video_model(checkpoint, device="auto", preprocessing=None):
    """Load a checkpoint for video inference and check its metadata.

    Parameters
    ----------
    checkpoint : str or Path
        A ``.pt`` file written by :func:`fer_lib.training.train_model`
        (``best.pt`` or a copy such as ``spatial_fer2013.pt``), or the folder
        holding ``best.pt``.
    device : {"auto", "cpu", "cuda"}, default "auto"
    preprocessing : dict, optional
        What the caller expects (keys of :data:`FACE_PREPROCESSING_KEYS`);
        a value that differs from the checkpoint's record is refused.

    Returns
    -------
    VideoModel

    Raises
    ------
    FileNotFoundError
        No such checkpoint file (or no ``best.pt`` in the folder).
    fer_lib.errors.DataError
        The file is not a readable PyTorch checkpoint.
    ValueError
        The checkpoint lacks the metadata needed (class names, input shape,
        normalisation, model spec), its face preprocessing is inconsistent,
        or it contradicts ``preprocessing``.
    """
    import pickle

    from fer_lib.training import load_checkpoint, resolve_device

    if not isinstance(checkpoint, (str, os.PathLike)):
        raise ValueError(f"checkpoint must be a file path (str or Path); got {type(checkpoint).__name__}")
    path = Path(checkpoint)
    if path.is_dir():
        if not (path / "best.pt").is_file():
            raise FileNotFoundError(f"checkpoint: the folder '{path}' holds no best.pt")
        path = path / "best.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint: no such file '{path}' (train a model first, or pass the path of a best.pt written "
            "by fer_lib.training.train_model)"
        )
    dev = str(resolve_device(device))
    try:
        model, meta = load_checkpoint(path, dev)
    except (pickle.UnpicklingError, EOFError, RuntimeError, OSError, AttributeError, ImportError) as err:
        first = (str(err).strip().splitlines() or [""])[0][:200]
        raise DataError(
            f"checkpoint: cannot read '{path}' as a PyTorch checkpoint ({type(err).__name__}: {first})"
        ) from None
    except (KeyError, TypeError) as err:
        raise ValueError(
            f"checkpoint '{path}': its metadata cannot rebuild the model ({type(err).__name__}: {err})"
        ) from None
    except ValueError as err:
        raise ValueError(f"checkpoint: {err}") from None
    where = f"checkpoint '{path}'"
    names = meta.get("class_names")
    if not isinstance(names, (list, tuple)) or len(names) < 2 or len(set(map(str, names))) != len(names):
        raise ValueError(f"{where}: metadata class_names must list 2 or more distinct names; got {names!r}")
    n_classes = meta.get("n_classes")
    if n_classes is not None and int(n_classes) != len(names):
        raise ValueError(f"{where}: metadata n_classes={n_classes} but class_names has {len(names)} entries")
    norm = meta.get("normalization")
    if not (isinstance(norm, dict) and {"method", "mean", "std"} <= set(norm)):
        raise ValueError(f"{where}: metadata normalization must hold method, mean and std; got {norm!r}")
    prep = face_preprocessing_from_metadata(meta, where)
    shape = list(meta["input_shape"])
    is_seq = bool(meta.get("is_sequence", len(shape) == 3))
    if is_seq != (len(shape) == 3):
        raise ValueError(f"{where}: metadata is_sequence={is_seq} contradicts input_shape={shape}")
    if preprocessing is not None:
        _compare_preprocessing(prep, preprocessing, where)
    if not prep["recorded"]:
        warnings.warn(
            f"{where} records no face alignment in its preprocessing; assuming template='fer2013', "
            f"size={prep['size']}, margin=0, intensity='none' (FER-2013-like crops). Train with "
            "preprocessing=fer_lib.video.face_preprocessing_text(...) to record it.",
            stacklevel=2,
        )
    return VideoModel(
        model=model, metadata=meta, path=path, device=dev, class_names=tuple(str(c) for c in names),
        mode="window" if is_seq else "spatial", window=int(shape[0]) if is_seq else 1, preprocessing=prep,
    )


# ------------------------------------------------------------------- sources


def default_checkpoint(preset="smoke"):
    """The study's spatial FER-2013 checkpoint of a preset.

    Parameters
    ----------
    preset : str, default "smoke"

    Returns
    -------
    Path
        ``<runs root>/<preset>/artifacts/03_spatial_baseline/spatial_fer2013.pt``
        (:func:`fer_lib.paths.runs_root`); it may not exist yet.
    """
    from fer_lib.paths import runs_root

    if not isinstance(preset, str) or not preset or any(c in preset for c in "/\\"):
        raise ValueError(f"preset must be a plain name such as 'smoke' or 'full'; got {preset!r}")
    return runs_root().joinpath(preset, *DEFAULT_CHECKPOINT)


def default_out_dir(source):
    """Default output folder of a source: ``<runs root>/video/<input stem>/`` (``webcam<i>`` for a webcam)."""
    from fer_lib.paths import runs_root

    kind, value = _classify_source(source)
    name = f"webcam{value}" if kind == "webcam" else (value.name if kind == "folder" else value.stem)
    return runs_root() / "video" / (name or "input")


def _classify_source(source):
    if isinstance(source, bool):
        raise ValueError(f"source must be a file, a folder or a webcam index; got {source!r}")
    if isinstance(source, (int, np.integer)):
        if int(source) < 0:
            raise ValueError(f"source: a webcam index must be >= 0; got {source}")
        return "webcam", int(source)
    if isinstance(source, str) and source.strip().isdigit():
        return "webcam", int(source.strip())
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(
            f"source must be an image, video or folder path, or a webcam index; got {type(source).__name__}"
        )
    p = Path(source)
    if not p.exists():
        raise DataError(f"source: no such file or folder: '{p}'")
    if p.is_dir():
        return "folder", p
    ext = p.suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return "image", p
    if ext in VIDEO_EXTENSIONS:
        return "video", p
    raise DataError(
        f"source: unsupported file type '{ext or '(no extension)'}' of '{p}'; expected an image "
        f"({' '.join(IMAGE_EXTENSIONS)}), a video ({' '.join(VIDEO_EXTENSIONS)}), a folder of images "
        "or a webcam index"
    )


def _natural_key(path):
    return [int(s) if s.isdigit() else s.lower() for s in re.split(r"(\d+)", path.name)]


class _quiet_opencv:
    """Silence OpenCV's own log lines (e.g. while probing a missing camera)."""

    def __enter__(self):
        import cv2

        self._log = getattr(getattr(cv2, "utils", None), "logging", None)
        self._old = None
        if self._log is not None and hasattr(self._log, "getLogLevel"):
            self._old = self._log.getLogLevel()
            self._log.setLogLevel(self._log.LOG_LEVEL_SILENT)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            self._log.setLogLevel(self._old)
        return False


def _read_source_image(path):
    from fer_lib.detection import read_image

    try:
        return read_image(path, color="rgb")
    except DataError as err:
        raise DataError(re.sub(r"^path( must be|:)", r"source\1", str(err))) from None


@dataclass
class _Source:
    kind: str
    name: str
    fps: float
    total: int | None
    frames: object  # iterator of (bgr, time_s, file)
    close: object


def _open_source(source, max_frames):
    """Open a source and decode its first frame (so errors surface before anything is written)."""
    import cv2

    kind, value = _classify_source(source)
    if kind == "image":
        rgb = _read_source_image(value)

        def gen():
            yield cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), float("nan"), value.name

        return _Source(kind, value.stem, float("nan"), 1, gen(), lambda: None)
    if kind == "folder":
        files = sorted((f for f in value.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS),
                       key=_natural_key)
        if not files:
            raise DataError(
                f"source: the folder '{value}' holds no image files ({' '.join(IMAGE_EXTENSIONS)})"
            )
        if max_frames is not None:
            files = files[:max_frames]
        first = _read_source_image(files[0])

        def gen():
            for i, f in enumerate(files):
                rgb = first if i == 0 else _read_source_image(f)
                yield cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), float("nan"), f.name

        return _Source(kind, value.name, float("nan"), len(files), gen(), lambda: None)

    with _quiet_opencv():
        cap = cv2.VideoCapture(value) if kind == "webcam" else cv2.VideoCapture(str(value))
        opened = cap.isOpened()
        ok, frame = cap.read() if opened else (False, None)
    if not ok or frame is None:
        cap.release()
        if kind == "webcam":
            what = "could not be opened (absent, busy or not permitted)" if not opened else "returned no frame"
            raise DataError(f"source: webcam {value} {what}")
        if not opened:
            raise DataError(f"source: cannot open '{value}' as a video (corrupt or unsupported format)")
        raise DataError(f"source: no frame could be decoded from '{value}' (corrupt, empty or unsupported video)")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or float("nan"))
    if not (math.isfinite(fps) and fps > 0):
        fps = float("nan")
    total = None
    if kind == "video":
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        total = count if count > 0 else None
        if max_frames is not None:
            total = max_frames if total is None else min(total, max_frames)
    elif max_frames is not None:
        total = max_frames

    def as_bgr(f):
        return cv2.cvtColor(f, cv2.COLOR_GRAY2BGR) if f.ndim == 2 else f

    def gen():
        start = time.perf_counter()
        n = 0
        current = frame
        while current is not None:
            if kind == "webcam":
                t = time.perf_counter() - start
            else:
                t = n / fps if math.isfinite(fps) else float("nan")
            yield as_bgr(current), t, ""
            n += 1
            if max_frames is not None and n >= max_frames:
                return
            ok, current = cap.read()
            if not ok:
                return

    return _Source(kind, f"webcam{value}" if kind == "webcam" else value.stem, fps, total, gen(), cap.release)


# ------------------------------------------------------------------ drawing


def _draw(bgr, faces, class_names, info):
    """Annotate a BGR frame in place: boxes, labels, probability bars."""
    import cv2

    font = cv2.FONT_HERSHEY_SIMPLEX
    h, w = bgr.shape[:2]
    short = [c[:3] for c in class_names]
    for face in faces:
        color = _PALETTE[face["track_id"] % len(_PALETTE)]
        x1, y1, x2, y2 = (int(round(v)) for v in face["box"])
        cv2.rectangle(bgr, (x1, y1), (x2, y2), color, 2)
        probs = face["probs"]
        k = int(np.argmax(probs))
        text = f"#{face['track_id']} {class_names[k]} {probs[k]:.2f}"
        (tw, th), _ = cv2.getTextSize(text, font, 0.5, 1)
        ty = y1 - 4 if y1 - th - 6 >= 0 else min(y2 + th + 4, h - 2)
        cv2.rectangle(bgr, (x1, ty - th - 3), (x1 + tw + 4, ty + 3), color, -1)
        cv2.putText(bgr, text, (x1 + 2, ty), font, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        # Probability bars beside the box (right if it fits, else left), one row per class.
        row_h = 11
        panel_w = 24 + _BAR_WIDTH
        px = x2 + 4 if x2 + 4 + panel_w <= w else max(x1 - 4 - panel_w, 0)
        py = max(min(y1, h - row_h * len(probs) - 2), 0)
        panel = bgr[py : py + row_h * len(probs) + 1, px : px + panel_w]
        panel[:] = (panel * 0.4).astype(np.uint8)  # darken behind the bars so the text reads on any background
        for i, (name, p) in enumerate(zip(short, probs)):
            yy = py + i * row_h
            cv2.putText(bgr, name, (px, yy + 8), font, 0.3, (255, 255, 255), 1, cv2.LINE_AA)
            cv2.rectangle(bgr, (px + 22, yy + 1), (px + 22 + _BAR_WIDTH, yy + 8), (60, 60, 60), -1)
            bar = int(round(float(p) * _BAR_WIDTH))
            if bar > 0:
                cv2.rectangle(bgr, (px + 22, yy + 1), (px + 22 + bar, yy + 8), color if i == k else (200, 200, 200), -1)
    if not faces:
        cv2.putText(bgr, "no face", (8, 22), font, 0.6, (0, 0, 255), 2, cv2.LINE_AA)
    (iw, ih), _ = cv2.getTextSize(info, font, 0.4, 1)
    cv2.rectangle(bgr, (4, h - 12 - ih), (12 + iw, h - 3), (0, 0, 0), -1)
    cv2.putText(bgr, info, (8, h - 8), font, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return bgr


def _gui_available():
    """True when a screen is there and OpenCV was built with a GUI back end."""
    import cv2

    if os.name == "posix" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        import sys

        if sys.platform != "darwin":
            return False
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip().upper() not in ("NONE", "")
    return True


class _Sink:
    """Annotated output: an mp4 for videos/webcams, PNGs for images, optional live window."""

    def __init__(self, kind, out_dir, fps, save, show):
        self.kind, self.out_dir, self.save, self.show = kind, Path(out_dir), save, show
        self.fps = fps if math.isfinite(fps) else 25.0
        self.writer = None
        self.path = None
        self.stop = False
        self.failed = None

    def write(self, bgr, index, file):
        import cv2

        if self.save:
            if self.kind in ("video", "webcam"):
                if self.writer is None and self.failed is None:
                    self.path = self.out_dir / "annotated.mp4"
                    h, w = bgr.shape[:2]
                    self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
                    if not self.writer.isOpened():
                        self.failed = f"cv2.VideoWriter could not open '{self.path}' (codec mp4v)"
                        warnings.warn(f"annotated video not written: {self.failed}", stacklevel=2)
                        self.writer, self.path = None, None
                if self.writer is not None:
                    self.writer.write(bgr)
            elif self.kind == "image":
                self.path = self.out_dir / "annotated.png"
                cv2.imwrite(str(self.path), bgr)
            else:
                self.path = self.out_dir / "annotated"
                self.path.mkdir(exist_ok=True)
                cv2.imwrite(str(self.path / f"{index:05d}_{Path(file).stem}.png"), bgr)
        if self.show:
            cv2.imshow("fer-video (q to quit)", bgr)
            if (cv2.waitKey(1) & 0xFF) in (ord("q"), 27):
                self.stop = True

    def close(self):
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        if self.show:
            import cv2

            cv2.destroyAllWindows()


# ----------------------------------------------------------------- timeline


def probability_columns(class_names):
    """Names of the probability columns: ``p_<class>`` for each class, in order."""
    cols = [f"p_{c}" for c in class_names]
    if len(set(cols)) != len(cols):
        raise ValueError(f"class_names must be distinct; got {list(class_names)}")
    return cols


def plot_timeline(predictions, class_names, path=None, max_tracks=6):
    """Probability of each class over time, one panel per track.

    Parameters
    ----------
    predictions : pandas.DataFrame
        As written by :func:`run_video_inference`.
    class_names : sequence of str
    path : str or Path, optional
        Save the figure there (PNG, 120 dpi).
    max_tracks : int, default 6
        Panels for at most this many tracks (the longest ones).

    Returns
    -------
    matplotlib.figure.Figure
        Built without pyplot (no global state, works headless).
    """
    from matplotlib.figure import Figure

    cols = probability_columns(class_names)
    faces = predictions[predictions["track_id"].notna()]
    use_time = bool(len(predictions)) and bool(np.isfinite(predictions["time_s"].to_numpy(dtype=float)).all())
    xcol, xlabel = ("time_s", "time (s)") if use_time else ("frame", "frame")
    counts = faces["track_id"].value_counts()
    tracks = sorted(int(t) for t in counts.index[:max_tracks])
    n = max(len(tracks), 1)
    fig = Figure(figsize=(9, 1.9 * n + 0.8), constrained_layout=True)
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    if not tracks:
        n_frames = predictions["frame"].nunique() if len(predictions) else 0
        axes[0].text(0.5, 0.5, f"no face found in {n_frames} frames", ha="center", va="center",
                     transform=axes[0].transAxes)
        axes[0].set_yticks([])
    none_x = predictions.loc[predictions["status"] == "none", xcol].to_numpy(dtype=float)
    for ax, tid in zip(axes, tracks):
        g = faces[faces["track_id"] == tid].sort_values("frame")
        x = g[xcol].to_numpy(dtype=float)
        for c, name in zip(cols, class_names):
            ax.plot(x, g[c].to_numpy(dtype=float), lw=1.2, marker="." if len(g) < 30 else None, label=name)
        if len(none_x):
            ax.plot(none_x, np.full(len(none_x), -0.04), "|", color="0.5", ms=4)
        ax.set_ylim(-0.08, 1.02)
        ax.set_ylabel("probability", fontsize=8)
        ax.set_title(f"track {tid} ({len(g)} frames)", fontsize=8, loc="left")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel(xlabel)
    if tracks:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(class_names), 7), fontsize=8,
                   frameon=False)
    extra = len(counts) - len(tracks)
    title = "class probabilities per tracked face" + (f" ({extra} shorter tracks not shown)" if extra > 0 else "")
    fig.suptitle(title + ("; grey ticks: frames without a face" if tracks and len(none_x) else ""), fontsize=9)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


# --------------------------------------------------------------------- main


class _torch_threads:
    """Torch's CPU thread count for a block: set by :meth:`apply` (``None``: left), restored on exit.

    Setting it is deferred so that a bad input fails before torch is imported.
    """

    def __init__(self, n):
        self.n = n
        self.before = None

    def __enter__(self):
        return self

    def apply(self):
        import torch

        if self.before is None:
            self.before = torch.get_num_threads()
            if self.n is not None:
                torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        if self.before is not None:
            import torch

            torch.set_num_threads(self.before)
        return False


@dataclass(frozen=True)
class VideoResult:
    """What :func:`run_video_inference` returns.

    Attributes
    ----------
    predictions : pandas.DataFrame
        One row per (frame, face), or one ``"none"`` row per frame without a
        face; columns :data:`PREDICTION_COLUMNS` then ``p_<class>``.
    summary : dict
        The content of ``summary.json``.
    out_dir : Path
    paths : dict
        ``csv``, ``parquet``, ``annotated`` (``annotated.mp4``,
        ``annotated.png`` or the ``annotated/`` folder; None when not
        written), ``timeline``, ``summary``.
    """

    predictions: pd.DataFrame = field(repr=False)
    summary: dict = field(repr=False)
    out_dir: Path
    paths: dict


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def run_video_inference(
    source,
    checkpoint,
    out_dir,
    *,
    detector="mtcnn",
    detect_every=5,
    device="auto",
    max_frames=None,
    save_video=True,
    show=False,
    progress=True,
    preprocessing=None,
    iou_threshold=0.3,
    smoothing=0.5,
    max_lost_frames=None,
    min_face_size=None,
    min_score=0.9,
    classify_batch=16,
    threads=1,
):
    """Detect, track, align and classify every face of an image, folder, video or webcam.

    Parameters
    ----------
    source : str, Path or int
        An image file (:data:`IMAGE_EXTENSIONS`), a folder of images (read in
        natural name order as a sequence; other files are ignored), a video
        file (:data:`VIDEO_EXTENSIONS`), or a webcam index (an int or a
        string of digits, e.g. ``"0"``).
    checkpoint : str, Path or VideoModel
        Checkpoint from :func:`fer_lib.training.train_model` (see
        :func:`load_video_model`), or a model already loaded with it (to run
        several inputs without reloading); spatial checkpoints classify each
        frame, sequence checkpoints a window of the last ``T`` frames of each
        track.
    out_dir : str or Path
        Output folder (created; files of an earlier run are overwritten).
    detector : {"mtcnn", "haar"}, default "mtcnn"
    detect_every : int, default 5
        Detect every ``k`` frames and track in between (:class:`FaceTracker`).
        Images of a folder and single images are all detected (``k = 1``).
    device : {"auto", "cpu", "cuda"}, default "auto"
        For the classifier and MTCNN.
    max_frames : int, optional
        Stop after this many frames (images of a folder). A webcam runs
        until this count, ``q``/Esc in the live window, or Ctrl-C.
    save_video : bool, default True
        Write the annotated output: ``annotated.mp4`` (``mp4v``, the
        source's frame rate) for a video or webcam, ``annotated.png`` for an
        image, ``annotated/<nnnnn>_<name>.png`` for a folder.
    show : bool, default False
        Show the annotated frames live (``cv2.imshow``) -- only when a screen
        is there and OpenCV has GUI support; otherwise a note is printed and
        the run is headless.
    progress : bool, default True
        Show a progress bar (``tqdm.auto``).
    preprocessing : dict, optional
        Face preprocessing the caller expects; refused if the checkpoint's
        differs (see :func:`load_video_model`).
    iou_threshold, smoothing, max_lost_frames, min_face_size, min_score
        Tracking and detection settings (:class:`FaceTracker`).
    classify_batch : int, default 16
        Frames whose faces are classified in one forward pass (1 when
        showing live).
    threads : int or None, default 1
        Torch CPU threads during the run (restored afterwards; ``None``
        leaves torch's setting). One is the default because the tensors are
        small: on this project's 2-core machine, busy with other jobs, MTCNN
        took 48 ms per 640x360 frame with 1 thread and 545 ms with 2.

    Returns
    -------
    VideoResult
        With ``predictions`` (also ``predictions.csv`` and
        ``predictions.parquet``): one row per (frame, face): ``frame``
        (0-based index of the processed frame), ``time_s`` (``frame / fps``
        for videos; seconds since the start for a webcam; NaN for images),
        ``file`` (image name; empty for videos), ``track_id``, ``status``
        (``"detected"``/``"fallback"``, or ``"none"``), ``tracked``, box
        ``x1, y1, x2, y2`` (pixels), ``score``, ``n_faces`` (faces in the
        frame), ``label`` (arg-max class) and ``p_<class>`` per class. A frame
        without a face gets one row with status ``"none"``, no track id, no
        label and NaN probabilities. ``timeline.png`` plots the
        probabilities over time per track; ``summary.json`` holds the counts
        (frames, source fps, faces (tracks) found, frames without a face),
        per-track label changes per second (:func:`track_summary`) and the
        timing split: ``decode_s``, ``detect_align_s`` (detection, tracking,
        alignment; of which ``detect_s`` in the detector), ``classify_s``,
        ``write_s`` (drawing and writing the annotated output),
        ``loop_s`` (all four) and ``fps_end_to_end = frames / loop_s``
        (loading the model and writing the tables and plot are excluded);
        ``cpu_s``, the CPU time this process used during the loop (all its
        threads), and ``fps_cpu = frames / cpu_s``: on a machine busy with
        other jobs the wall-clock rate drops with the share of the CPU this
        process gets, ``fps_cpu`` much less (it estimates the rate on an idle
        machine when the loop runs on one thread).

    Raises
    ------
    FileNotFoundError
        Missing checkpoint.
    fer_lib.errors.DataError
        (a ``ValueError``) Missing, unreadable or unsupported source file, a
        video with no decodable frame, a folder without images, an absent
        webcam, an unreadable checkpoint file.
    ValueError
        Bad options, or a checkpoint without the metadata needed.

    Notes
    -----
    No face at all is not an error: every row then says ``"none"``.
    """
    import cv2

    check_option("detector", detector, VIDEO_DETECTORS)
    detect_every = check_positive_int("detect_every", detect_every)
    if max_frames is not None:
        max_frames = check_positive_int("max_frames", max_frames)
    for name, value in (("save_video", save_video), ("show", show), ("progress", progress)):
        check_option(name, value, (True, False))
    classify_batch = check_positive_int("classify_batch", classify_batch)
    if threads is not None:
        threads = check_positive_int("threads", threads)
    if not isinstance(out_dir, (str, os.PathLike)):
        raise ValueError(f"out_dir must be a folder path (str or Path); got {type(out_dir).__name__}")

    with _torch_threads(threads) as torch_threads:
        t_setup = time.perf_counter()
        src = _open_source(source, max_frames)  # first: a bad input fails fast, before torch is imported
        try:
            torch_threads.apply()
            if isinstance(checkpoint, VideoModel):
                vm = checkpoint
                if preprocessing is not None:
                    _compare_preprocessing(vm.preprocessing, preprocessing, f"checkpoint '{vm.path}'")
            else:
                vm = load_video_model(checkpoint, device, preprocessing)
            out = Path(out_dir)
            out.mkdir(parents=True, exist_ok=True)
            if show and not _gui_available():
                print("fer-video: no screen or no GUI support in this OpenCV build: running headless "
                      f"(outputs go to {out})")
                show = False
            if src.kind == "folder" and save_video and (out / "annotated").is_dir():
                for old in (out / "annotated").glob("*.png"):
                    old.unlink()
            tracker = FaceTracker(
                detector, 1 if src.kind in ("image", "folder") else detect_every,
                device=vm.device, iou_threshold=iou_threshold, smoothing=smoothing,
                max_lost_frames=max_lost_frames, min_face_size=min_face_size, min_score=min_score,
            )
            sink = _Sink(src.kind, out, src.fps, save_video, show)
            flush_every = 1 if show else classify_batch
            prob_cols = probability_columns(vm.class_names)
            windows = {}
            pending, rows = [], []
            timing = dict(decode_s=0.0, detect_align_s=0.0, classify_s=0.0, write_s=0.0)
            setup_s = time.perf_counter() - t_setup

            def flush():
                crops = [c for entry in pending for c in entry["crops"]]
                t0 = time.perf_counter()
                probs = vm.predict(np.stack(crops)) if crops else np.zeros((0, len(prob_cols)), np.float32)
                t1 = time.perf_counter()
                timing["classify_s"] += t1 - t0
                j = 0
                for entry in pending:
                    base = {"frame": entry["frame"], "time_s": entry["time_s"], "file": entry["file"]}
                    drawn = []
                    if not entry["faces"]:
                        rows.append(dict(base, track_id=pd.NA, status="none", tracked=False, x1=np.nan, y1=np.nan,
                                         x2=np.nan, y2=np.nan, score=np.nan, n_faces=0, label=None,
                                         **dict.fromkeys(prob_cols, np.nan)))
                    for face in entry["faces"]:
                        p = probs[j]
                        j += 1
                        rows.append(dict(
                            base, track_id=face.track_id, status=face.status, tracked=face.tracked,
                            x1=face.box[0], y1=face.box[1], x2=face.box[2], y2=face.box[3], score=face.score,
                            n_faces=len(entry["faces"]), label=vm.class_names[int(np.argmax(p))],
                            **{c: float(v) for c, v in zip(prob_cols, p)},
                        ))
                        drawn.append({"track_id": face.track_id, "box": face.box, "probs": p})
                    if entry["bgr"] is not None:
                        t_w = time.perf_counter()
                        stamp = f"frame {entry['frame']}" + (
                            f"  {entry['time_s']:.2f} s" if math.isfinite(entry["time_s"]) else f"  {entry['file']}"
                        )
                        sink.write(_draw(entry["bgr"], drawn, vm.class_names, stamp), entry["frame"], entry["file"])
                        timing["write_s"] += time.perf_counter() - t_w
                pending.clear()

            from tqdm.auto import tqdm

            bar = tqdm(total=src.total, disable=not progress, unit="frame", desc=f"fer-video {src.name}",
                       dynamic_ncols=True, leave=False)
            frames_seen = 0
            t_loop, c_loop = time.perf_counter(), time.process_time()
            try:
                while not sink.stop:
                    t0 = time.perf_counter()
                    try:
                        item = next(src.frames, None)
                    except KeyboardInterrupt:
                        if src.kind != "webcam":
                            raise
                        break
                    if item is None:
                        break
                    bgr, time_s, file = item
                    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
                    t1 = time.perf_counter()
                    timing["decode_s"] += t1 - t0
                    faces = tracker.update(rgb)
                    crops = []
                    for face in faces:
                        crop = vm.crop(gray, face.points)
                        if vm.mode == "window":
                            win = windows.setdefault(face.track_id, deque(maxlen=vm.window))
                            win.append(crop)
                            seq = [win[0]] * (vm.window - len(win)) + list(win)
                            crop = np.stack(seq)
                        crops.append(crop)
                    timing["detect_align_s"] += time.perf_counter() - t1
                    pending.append({"frame": frames_seen, "time_s": float(time_s), "file": file, "faces": faces,
                                    "crops": crops, "bgr": bgr if (save_video or show) else None})
                    frames_seen += 1
                    bar.update(1)
                    if len(pending) >= flush_every:
                        flush()
                if pending:
                    flush()
            except KeyboardInterrupt:
                if src.kind != "webcam":
                    raise
                if pending:
                    flush()
            finally:
                loop_s, cpu_s = time.perf_counter() - t_loop, time.process_time() - c_loop
                bar.close()
                sink.close()
        finally:
            src.close()

        t_out = time.perf_counter()
        df = pd.DataFrame(rows, columns=[*PREDICTION_COLUMNS, *prob_cols])
        df["track_id"] = df["track_id"].astype("Int64")
        df["tracked"] = df["tracked"].astype(bool)
        df["n_faces"] = df["n_faces"].astype(np.int64)
        paths = {"csv": out / "predictions.csv", "parquet": out / "predictions.parquet",
                 "annotated": sink.path if save_video else None, "timeline": out / "timeline.png",
                 "summary": out / "summary.json"}
        df.to_csv(paths["csv"], index=False)
        df.to_parquet(paths["parquet"], index=False)
        plot_timeline(df, vm.class_names, paths["timeline"])
        tracks = track_summary(df)
        none_frames = int((df["status"] == "none").sum())
        height, width = (bgr.shape[:2] if frames_seen else (0, 0))
        timing.update(
            detect_s=tracker.detect_seconds, n_detections=tracker.n_detections, loop_s=loop_s, setup_s=setup_s,
            fps_end_to_end=frames_seen / loop_s if loop_s > 0 else float("nan"), cpu_s=cpu_s,
            fps_cpu=frames_seen / cpu_s if cpu_s > 0 else float("nan"),
            fps_without_write=(frames_seen / (loop_s - timing["write_s"]) if loop_s > timing["write_s"]
                               else float("nan")),
        )
        import torch

        summary = {
            "source": str(source),
            "source_kind": src.kind,
            "frames": frames_seen,
            "frame_size": [int(width), int(height)],
            "fps_source": src.fps,
            "checkpoint": str(vm.path),
            "mode": vm.mode,
            "window": vm.window,
            "class_names": list(vm.class_names),
            "preprocessing": dict(vm.preprocessing),
            "detector": detector,
            "detect_every": tracker.detect_every,
            "device": vm.device,
            "torch_threads": torch.get_num_threads(),
            "faces_found": int(len(tracks)),
            "face_rows": int(len(df) - none_frames),
            "frames_with_face": int(frames_seen - none_frames),
            "frames_no_face": none_frames,
            "max_faces_per_frame": int(df["n_faces"].max()) if len(df) else 0,
            "tracks": tracks.to_dict(orient="records"),
            "timing": timing,
            "outputs": {k: (str(v) if v is not None else None) for k, v in paths.items()},
        }
        summary["timing"]["outputs_s"] = time.perf_counter() - t_out
        paths["summary"].write_text(json.dumps(_jsonable(summary), indent=1))
        return VideoResult(predictions=df, summary=_jsonable(summary), out_dir=out, paths=paths)


def benchmark_video(source, checkpoint, detect_every=(1, 5), device="auto", max_frames=200, *, detector="mtcnn",
                    save_video=True, threads=1):
    """End-to-end frames per second of :func:`run_video_inference`, per ``detect_every``.

    Each setting runs the whole pipeline on the same frames into a temporary
    folder, after one warm-up run on 3 frames (model loading, detector
    construction and first-call costs are excluded). Report the figures; the
    numbers depend on the machine and its load.

    Parameters
    ----------
    source : str, Path or int
        Video file (or any source :func:`run_video_inference` takes).
    checkpoint : str or Path
    detect_every : sequence of int, default (1, 5)
    device : {"auto", "cpu", "cuda"}, default "auto"
    max_frames : int or None, default 200
    detector : {"mtcnn", "haar"}, default "mtcnn"
    save_video : bool, default True
        Include drawing and writing the annotated video (as the command does).
    threads : int, sequence of int or None, default 1
        Torch CPU threads (see :func:`run_video_inference`); a sequence runs
        every ``detect_every`` with each thread count.

    Returns
    -------
    pandas.DataFrame
        One row per ``detect_every``: ``detect_every``, ``detector``,
        ``device``, ``torch_threads``, ``frames``, ``frame_size``,
        ``n_detections``, seconds ``decode_s``, ``detect_align_s``,
        ``detect_s``, ``classify_s``, ``write_s``, ``loop_s``, milliseconds
        per frame ``ms_decode``, ``ms_detect_align``, ``ms_classify``,
        ``ms_write``, ``fps_end_to_end``, ``fps_without_write``, ``cpu_s``
        and ``fps_cpu`` (see :func:`run_video_inference`).
    """
    import tempfile

    if isinstance(detect_every, (int, np.integer)):
        detect_every = (int(detect_every),)
    ks = [check_positive_int("detect_every", k) for k in detect_every]
    if not ks:
        raise ValueError("detect_every must list at least one value; got an empty sequence")
    if threads is None or isinstance(threads, (int, np.integer)):
        threads = (threads,)
    ths = [None if n is None else check_positive_int("threads", n) for n in threads]
    rows = []
    with tempfile.TemporaryDirectory(prefix="fer-video-bench-") as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run_video_inference(source, checkpoint, Path(tmp) / "warmup", detector=detector, detect_every=ks[0],
                                device=device, max_frames=3, save_video=False, progress=False, threads=ths[0])
            for th, k in ((th, k) for th in ths for k in ks):
                res = run_video_inference(source, checkpoint, Path(tmp) / f"k{k}", detector=detector, detect_every=k,
                                          device=device, max_frames=max_frames, save_video=save_video,
                                          progress=False, threads=th)
                s, tm = res.summary, res.summary["timing"]
                n = max(s["frames"], 1)
                rows.append({
                    "detect_every": k, "detector": detector, "device": s["device"],
                    "torch_threads": s["torch_threads"], "frames": s["frames"],
                    "frame_size": "x".join(map(str, s["frame_size"])), "n_detections": tm["n_detections"],
                    **{key: tm[key] for key in ("decode_s", "detect_align_s", "detect_s", "classify_s", "write_s",
                                                "loop_s")},
                    "ms_decode": 1000 * tm["decode_s"] / n, "ms_detect_align": 1000 * tm["detect_align_s"] / n,
                    "ms_classify": 1000 * tm["classify_s"] / n, "ms_write": 1000 * tm["write_s"] / n,
                    "fps_end_to_end": tm["fps_end_to_end"], "fps_without_write": tm["fps_without_write"],
                    "cpu_s": tm["cpu_s"], "fps_cpu": tm["fps_cpu"],
                })
    return pd.DataFrame(rows)


# ------------------------------------------------------- notebook 08 helpers

#: Phases of a frame of :func:`render_synthetic_video`: rising towards the apex, or at the apex (held).
SYNTHETIC_VIDEO_PHASES = ("rising", "apex")


def render_synthetic_video(path, seed=1, n_sequences=7, fps=15.0, hold_frames=5, scale=2.0):
    """Render synthetic CK+ sequences of one new subject as one video file, with the truth of every frame.

    The sequences come from :func:`fer_lib.synthetic.iter_sequences` with
    ``SyntheticConfig(seed=seed, ck_subjects=1, ck_sequences_per_subject=n_sequences,
    ck_unlabelled_fraction=0)``: one subject (identity drawn from ``seed``; the
    default data set uses seed 0, so any other seed gives a face no model of
    the study was trained on) shows ``n_sequences`` expressions, each from
    neutral to its apex (classes assigned cyclically: 7 sequences show every
    CK+ class once, in a seeded order). Each apex is held for ``hold_frames``
    more frames, then the next sequence starts (a cut: pose and lighting
    change a little between sequences).

    Parameters
    ----------
    path : str or Path
        Output video (``.mp4``, codec ``mp4v``; the folder is created).
    seed : int, default 1
    n_sequences : int, default 7
    fps : float, default 15.0
        Frame rate stored in the file (sets ``time_s``).
    hold_frames : int, default 5
        Copies of each apex frame appended after it (0: none).
    scale : float, default 2.0
        Resize factor of the frames (bicubic; the synthetic CK+ canvas is
        192x144, so 2 gives 384x288 with a face of about 110x130 pixels).

    Returns
    -------
    pandas.DataFrame
        One row per frame of the video: ``frame``, ``time_s`` (``frame / fps``),
        ``sequence`` (``S501_001`` ...), ``label`` (CK+ class name of the
        sequence), ``intensity`` (expression intensity of the frame, 0 =
        neutral, about 1 = apex), ``phase`` (:data:`SYNTHETIC_VIDEO_PHASES`:
        ``"apex"`` for the last frame of a sequence and its held copies,
        ``"rising"`` before it).

    Raises
    ------
    RuntimeError
        When OpenCV cannot open a writer for ``path``.
    """
    import cv2

    from fer_lib.synthetic import SyntheticConfig, iter_sequences

    seed = check_positive_int("seed", seed, minimum=0)
    n_sequences = check_positive_int("n_sequences", n_sequences)
    hold_frames = check_positive_int("hold_frames", hold_frames, minimum=0)
    for name, value in (("fps", fps), ("scale", scale)):
        if isinstance(value, bool) or not (isinstance(value, (int, float, np.integer, np.floating))
                                           and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number; got {value!r}")
    cfg = SyntheticConfig(seed=seed, ck_subjects=1, ck_sequences_per_subject=n_sequences, ck_unlabelled_fraction=0.0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm.auto in a kernel without ipywidgets
        sequences = list(iter_sequences(cfg))
    writer, rows = None, []
    try:
        for seq in sequences:
            frames = seq["frames"]
            n = len(frames)
            order = list(range(n)) + [n - 1] * hold_frames
            if scale != 1:
                frames = np.stack([cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
                                   for f in frames])
            for k, i in enumerate(order):
                if writer is None:
                    h, w = frames.shape[1:3]
                    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
                    if not writer.isOpened():
                        raise RuntimeError(f"cv2.VideoWriter could not open '{path}' (codec mp4v)")
                writer.write(cv2.cvtColor(frames[i], cv2.COLOR_GRAY2BGR))
                rows.append({"sequence": f"{seq['subject']}_{seq['sequence']}", "label": seq["expression"],
                             "intensity": float(seq["intensity"][i]),
                             "phase": SYNTHETIC_VIDEO_PHASES[int(k >= n - 1)]})
    finally:
        if writer is not None:
            writer.release()
    truth = pd.DataFrame(rows)
    truth.insert(0, "frame", np.arange(len(truth)))
    truth.insert(1, "time_s", truth["frame"] / float(fps))
    return truth


def _predictions_of(run):
    df = run.predictions if isinstance(run, VideoResult) else run
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"expected a VideoResult or a predictions DataFrame; got {type(run).__name__}")
    return df


def main_face(predictions):
    """The rows of the video's main face, in frame order, and what they are.

    When no frame holds more than one face, the main face is every face row
    (a single person: the rows of successive tracks, e.g. after a cut or a
    missed detection, are one face); otherwise it is the track with the most
    rows (ties: the lowest id).

    Parameters
    ----------
    predictions : pandas.DataFrame or VideoResult
        As written by :func:`run_video_inference`.

    Returns
    -------
    rows : pandas.DataFrame
        The face rows, sorted by frame (empty when no face was found).
    what : str
        ``"the only face (tracks 0, 1)"``, ``"track 3 of 5"`` or ``"no face"``.
    """
    df = _predictions_of(predictions)
    faces = df[df["track_id"].notna()].sort_values("frame", kind="stable")
    if faces.empty:
        return faces, "no face"
    ids = faces["track_id"].astype(int)
    if not faces["frame"].duplicated().any():
        tracks = sorted(set(ids))
        return faces, "the only face (track" + ("s " if len(tracks) > 1 else " ") + ", ".join(map(str, tracks)) + ")"
    counts = ids.value_counts()
    tid = int(counts[counts == counts.max()].index.min())
    return faces[ids == tid], f"track {tid} of {len(counts)}"


def _changes(labels):
    return int(sum(x != y for x, y in zip(labels[:-1], labels[1:])))


def flicker_table(runs, truth=None):
    """Label changes per second of the main face (:func:`main_face`), one row per (video, model) run.

    Parameters
    ----------
    runs : mapping of (video, model) to VideoResult or predictions DataFrame
    truth : mapping of video to pandas.DataFrame, optional
        Columns ``time_s`` and ``label`` (e.g. :func:`render_synthetic_video`'s
        table): adds a row with model ``"truth"`` per video, the changes of
        the true label (what a perfect model would show).

    Returns
    -------
    pandas.DataFrame
        Columns ``video``, ``model``, ``frames``, ``faces_found`` (tracks),
        ``main_face`` (what the next columns are measured on),
        ``face_frames`` (its rows), ``duration_s`` (first to last of them),
        ``label_changes`` (between consecutive rows), ``label_changes_per_second``
        (:func:`label_changes_per_second`), ``dominant_label``,
        ``mean_top_probability`` (mean probability of the arg-max class: near
        ``1 / n_classes``, the arg-max flips on small changes) and
        ``mean_probability_change`` (mean total-variation distance between
        the probability vectors of consecutive rows, ``0.5 * sum |p_t -
        p_{t-1}|``: flicker of the probabilities, whatever the arg-max does);
        NaN/None where no face was found (and for the truth's probabilities).
    """
    cols = ["video", "model", "frames", "faces_found", "main_face", "face_frames", "duration_s", "label_changes",
            "label_changes_per_second", "dominant_label", "mean_top_probability", "mean_probability_change"]
    out = []

    def measure(labels, times, probs=None):
        counts = pd.Series(labels, dtype=object).value_counts()
        finite = len(times) and np.isfinite(times).all()
        top = float(probs.max(axis=1).mean()) if probs is not None and len(probs) else float("nan")
        change = (float(0.5 * np.abs(np.diff(probs, axis=0)).sum(axis=1).mean())
                  if probs is not None and len(probs) > 1 else float("nan"))
        return {"face_frames": int(len(labels)), "mean_top_probability": top, "mean_probability_change": change,
                "duration_s": float(times[-1] - times[0]) if finite else float("nan"),
                "label_changes": _changes(labels) if len(labels) else pd.NA,
                "label_changes_per_second": label_changes_per_second(labels, times) if finite else float("nan"),
                "dominant_label": str(counts.index[0]) if len(counts) else None}

    for key, run in runs.items():
        if not (isinstance(key, tuple) and len(key) == 2):
            raise ValueError(f"runs must be keyed by (video, model) pairs; got the key {key!r}")
        df = _predictions_of(run)
        rows, what = main_face(df)
        probs = rows[[c for c in rows.columns if str(c).startswith("p_")]].to_numpy(dtype=float)
        out.append({"video": str(key[0]), "model": str(key[1]), "frames": int(df["frame"].nunique()),
                    "faces_found": int(df["track_id"].dropna().nunique()), "main_face": what,
                    **measure(rows["label"].to_numpy(dtype=object), rows["time_s"].to_numpy(dtype=float),
                              probs if probs.shape[1] else None)})
    for video, tr in (truth or {}).items():
        out.append({"video": str(video), "model": "truth", "frames": int(len(tr)), "faces_found": pd.NA,
                    "main_face": "true label of every frame",
                    **measure(tr["label"].to_numpy(dtype=object), tr["time_s"].to_numpy(dtype=float))})
    table = pd.DataFrame(out, columns=cols)
    for c in ("faces_found", "label_changes"):
        table[c] = table[c].astype("Int64")
    return table


def confident_frames(predictions, threshold=0.7, events=None, within=1):
    """Frames of the main face (:func:`main_face`) where the top class probability reaches ``threshold``.

    Parameters
    ----------
    predictions : pandas.DataFrame or VideoResult
    threshold : float in [0, 1], default 0.7
    events : sequence of int, optional
        Frames where something happens in the video (e.g. the cuts between
        the sequences of :func:`render_synthetic_video`).
    within : int, default 1
        A frame is ``after_event`` when it is 0 to ``within - 1`` frames after
        an event (e.g. ``T`` for a window model: its window still holds a
        frame from before the event).

    Returns
    -------
    pandas.DataFrame
        Columns ``frame``, ``time_s``, ``label``, ``top_probability``,
        ``tracked`` (False: a detection frame) and ``after_event`` (False
        without events).
    """
    threshold = check_fraction("threshold", threshold)
    within = check_positive_int("within", within)
    rows, _ = main_face(predictions)
    probs = rows[[c for c in rows.columns if str(c).startswith("p_")]].to_numpy(dtype=float)
    top = probs.max(axis=1) if probs.size else np.zeros(len(rows))
    out = rows.loc[top >= threshold, ["frame", "time_s", "label", "tracked"]].copy()
    out.insert(3, "top_probability", top[top >= threshold])
    ev = np.asarray(sorted(int(e) for e in (events or ())), dtype=np.int64)
    since = out["frame"].to_numpy(dtype=np.int64)[:, None] - ev[None, :]
    out["after_event"] = ((since >= 0) & (since < within)).any(axis=1) if len(ev) else False
    return out.reset_index(drop=True)


def truth_agreement(predictions, truth, class_map=None):
    """Per-frame accuracy of a run on a video whose truth is known (:func:`render_synthetic_video`).

    The main face (:func:`main_face`) is compared with the truth frame by
    frame, per phase.

    Parameters
    ----------
    predictions : pandas.DataFrame or VideoResult
    truth : pandas.DataFrame
        Columns ``frame``, ``label`` and ``phase``.
    class_map : mapping, optional
        True label -> the model's class name (e.g.
        :data:`fer_lib.constants.CKPLUS_TO_FER2013` for a FER-2013 model);
        frames whose true label is not in it are not compared. None: the
        model's classes are the truth's.

    Returns
    -------
    pandas.DataFrame
        One row per phase (in :data:`SYNTHETIC_VIDEO_PHASES` order) then
        ``"all"``: ``phase``, ``frames``, ``with_face`` (frames where the main
        face has a prediction), ``compared`` (of those, frames whose true
        label has a counterpart), ``correct``, ``accuracy`` (``correct /
        compared``; NaN when none is compared).
    """
    missing = [c for c in ("frame", "label", "phase") if c not in truth.columns]
    if missing:
        raise ValueError(f"truth lacks the columns {missing}")
    rows, _ = main_face(predictions)
    merged = truth[["frame", "label", "phase"]].merge(
        rows[["frame", "label"]].rename(columns={"label": "predicted"}), on="frame", how="left")
    wanted = merged["label"] if class_map is None else merged["label"].map(lambda v: class_map.get(v))
    merged["with_face"] = merged["predicted"].notna()
    merged["compared"] = merged["with_face"] & wanted.notna()
    merged["correct"] = merged["compared"] & (merged["predicted"] == wanted)
    out = []
    for phase in [*SYNTHETIC_VIDEO_PHASES, "all"]:
        g = merged if phase == "all" else merged[merged["phase"] == phase]
        compared, correct = int(g["compared"].sum()), int(g["correct"].sum())
        out.append({"phase": phase, "frames": int(len(g)), "with_face": int(g["with_face"].sum()),
                    "compared": compared, "correct": correct,
                    "accuracy": correct / compared if compared else float("nan")})
    return pd.DataFrame(out)


def plot_model_timelines(runs, truth=None, path=None, title=None):
    """Class probabilities of the main face over time, one panel per model, on the same video.

    Parameters
    ----------
    runs : mapping of model name to (predictions, class_names)
        ``predictions`` a VideoResult or DataFrame of :func:`run_video_inference`.
    truth : pandas.DataFrame, optional
        Columns ``time_s``, ``label`` (and ``sequence``): shaded spans with
        the true label, in every panel.
    path : str or Path, optional
        Save the figure there (PNG, 120 dpi).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Built without pyplot. Each panel: the main face (:func:`main_face`),
        one line per class, and along the top a strip with the arg-max label
        of every frame (its colour), so flicker shows as a broken strip; the
        panel title gives the label changes per second
        (:func:`label_changes_per_second`).
    """
    from matplotlib.figure import Figure

    if not runs:
        raise ValueError("runs must name at least one model")
    n = len(runs)
    fig = Figure(figsize=(10, 2.3 * n + 0.6), constrained_layout=True)
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    palette = [f"C{i}" for i in range(10)]
    for ax, (name, (run, class_names)) in zip(axes, runs.items()):
        df = _predictions_of(run)
        cols = probability_columns(class_names)
        g, what = main_face(df)
        if truth is not None and len(truth):
            key = truth["sequence"] if "sequence" in truth.columns else truth["label"]
            starts = np.flatnonzero(np.r_[True, key.to_numpy()[1:] != key.to_numpy()[:-1]])
            ends = np.r_[starts[1:], len(truth)]
            dt = float(np.median(np.diff(truth["time_s"]))) if len(truth) > 1 else 1.0
            for j, (a, b) in enumerate(zip(starts, ends)):
                t0, t1 = truth["time_s"].iloc[a], truth["time_s"].iloc[b - 1] + dt
                ax.axvspan(t0, t1, color="0.5", alpha=0.10 if j % 2 else 0.0, lw=0)
                ax.text((t0 + t1) / 2, -0.2, f"true: {truth['label'].iloc[a]}", ha="center", va="center",
                        fontsize=7, color="0.25")
        if g.empty:
            ax.text(0.5, 0.5, f"{name}: no face found", ha="center", va="center", transform=ax.transAxes)
            ax.set_yticks([])
            continue
        x = g["time_s"].to_numpy(dtype=float)
        if not np.isfinite(x).all():
            x = g["frame"].to_numpy(dtype=float)
        for i, (c, cname) in enumerate(zip(cols, class_names)):
            ax.plot(x, g[c].to_numpy(dtype=float), lw=1.1, color=palette[i % 10], label=cname)
        top = [palette[list(class_names).index(v) % 10] for v in g["label"]]
        ax.scatter(x, np.full(len(x), 1.08), c=top, marker="s", s=9, lw=0)
        rate = label_changes_per_second(g["label"].to_numpy(dtype=object), x)
        changes = _changes(g["label"].to_numpy(dtype=object))
        ax.set_title(f"{name}: {what}, {len(g)} frames; arg-max label changes {changes} times "
                     f"({rate:.2f} per second); top strip: arg-max label", fontsize=8, loc="left")
        ax.set_ylim(-0.28 if truth is not None else -0.03, 1.14)
        ax.set_ylabel("probability", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    axes[-1].set_xlabel("time (s)")
    if title:
        fig.suptitle(title, fontsize=9)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def video_frames_at(path, indices):
    """Decode the frames of a video at the given indices (e.g. of an ``annotated.mp4``).

    Parameters
    ----------
    path : str or Path
    indices : sequence of int
        0-based frame indices; frames past the end are left out.

    Returns
    -------
    ndarray of shape (n, H, W, 3), dtype uint8
        RGB frames in the order of ``indices`` (``n`` may be smaller than
        ``len(indices)``; 0 when the file has no frame).
    """
    import cv2

    wanted = sorted({int(i) for i in indices if int(i) >= 0})
    got = {}
    cap = cv2.VideoCapture(str(path))
    try:
        k = 0
        while wanted and k <= wanted[-1]:
            ok, bgr = cap.read()
            if not ok:
                break
            if k in wanted:
                got[k] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            k += 1
    finally:
        cap.release()
    frames = [got[int(i)] for i in indices if int(i) in got]
    return np.stack(frames) if frames else np.zeros((0, 0, 0, 3), np.uint8)


def annotated_frames_figure(annotated, indices, titles=None, suptitle=None, path=None, width=2.6):
    """Frames of annotated videos in a grid: one row per video (e.g. per model), one column per frame.

    Parameters
    ----------
    annotated : mapping of row name to str or Path
        ``annotated.mp4`` files (:func:`run_video_inference`), e.g. one per
        model on the same input.
    indices : sequence of int
        Frames to show (0-based), the same in every row.
    titles : sequence of str, optional
        One per index; each panel's title is ``"<row name>: <title>"``.
    suptitle : str, optional
    path : str or Path, optional
        Save the figure there (PNG, 100 dpi).
    width : float, default 2.6
        Inches per frame; the height follows the frames' aspect ratio.

    Returns
    -------
    matplotlib.figure.Figure or None
        Built without pyplot; None when no frame could be read.
    """
    from matplotlib.figure import Figure

    indices = [int(i) for i in indices]
    if titles is not None and len(titles) != len(indices):
        raise ValueError(f"titles must have one entry per index ({len(indices)}); got {len(titles)}")
    rows = {name: video_frames_at(file, indices) for name, file in annotated.items() if file is not None}
    rows = {name: frames for name, frames in rows.items() if len(frames) == len(indices) and len(frames)}
    if not rows:
        return None
    h, w = next(iter(rows.values())).shape[1:3]
    ncols, nrows = len(indices), len(rows)
    fig = Figure(figsize=(ncols * width, nrows * (width * h / w + 0.3) + (0.4 if suptitle else 0.0)),
                 constrained_layout=True)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for r, (name, frames) in enumerate(rows.items()):
        for c, frame in enumerate(frames):
            ax = axes[r, c]
            ax.imshow(frame)
            ax.axis("off")
            label = titles[c] if titles is not None else f"frame {indices[c]}"
            ax.set_title(f"{name}: {label}", fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def plot_throughput(table, goal_fps=25.0, path=None):
    """Milliseconds per frame by stage, per setting of :func:`benchmark_video`, with the frame budget of a goal.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows of :func:`benchmark_video` (several devices may be concatenated).
    goal_fps : float, default 25.0
        Drawn as the budget ``1000 / goal_fps`` ms per frame.
    path : str or Path, optional
        Save the figure there (PNG, 120 dpi).

    Returns
    -------
    matplotlib.figure.Figure
        Built without pyplot: one horizontal stacked bar per row (decode,
        detect, track + align, classify, write) of wall-clock time, labelled
        with its end-to-end fps (and frames per CPU second, ``fps_cpu``, when
        the table has it).
    """
    from matplotlib.figure import Figure

    if not (isinstance(goal_fps, (int, float)) and goal_fps > 0):
        raise ValueError(f"goal_fps must be a positive number; got {goal_fps!r}")
    n = np.maximum(table["frames"].to_numpy(dtype=float), 1)
    stages = {
        "decode": table["decode_s"].to_numpy(dtype=float),
        "detect": table["detect_s"].to_numpy(dtype=float),
        "track + align": (table["detect_align_s"] - table["detect_s"]).to_numpy(dtype=float),
        "classify": table["classify_s"].to_numpy(dtype=float),
        "write": table["write_s"].to_numpy(dtype=float),
    }
    labels = [f"{r.device}, detect every {r.detect_every}" for r in table.itertuples()]
    fig = Figure(figsize=(9, 0.55 * len(table) + 1.4), constrained_layout=True)
    ax = fig.subplots()
    y = np.arange(len(table))[::-1]
    left = np.zeros(len(table))
    for i, (name, sec) in enumerate(stages.items()):
        ms = 1000 * np.maximum(sec, 0) / n
        ax.barh(y, ms, left=left, color=f"C{i}", label=name, height=0.6)
        left += ms
    budget = 1000.0 / goal_fps
    ax.axvline(budget, color="k", ls="--", lw=1)
    ax.text(budget, y.max() + 0.45, f" {goal_fps:g} fps = {budget:.0f} ms", fontsize=8, va="bottom")
    cpu = table["fps_cpu"].to_numpy(dtype=float) if "fps_cpu" in table.columns else np.full(len(table), np.nan)
    for yy, total, fps, fc in zip(y, left, table["fps_end_to_end"].to_numpy(dtype=float), cpu):
        ax.text(total, yy, f" {fps:.1f} fps" + (f" ({fc:.1f} per CPU second)" if np.isfinite(fc) else ""),
                va="center", fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("milliseconds per frame")
    ax.set_xlim(0, max(left.max(), budget) * 1.35)
    ax.set_ylim(-0.6, y.max() + 1.0)
    ax.legend(loc="lower right", fontsize=7, ncol=5, frameon=False)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


if __name__ == "__main__":  # python -m fer_lib.video [--benchmark] INPUT --checkpoint PATH ...
    import sys

    from fer_lib.video_cli import main

    sys.exit(main())
