"""Faces followed across frames: detection every ``k`` frames, optical flow in between, stable ids.

The association rule is in :mod:`fer_lib.video.inference`'s docstring.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from fer_lib.core.validation import check_fraction, check_option, check_positive_int

#: Detectors usable on video (``"landmarks"`` needs annotated landmarks, so it is not offered).
VIDEO_DETECTORS = ("mtcnn", "haar")


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
        The 5 points (:data:`fer_lib.faces.detection.POINT_NAMES` order).
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
        Passed to :func:`fer_lib.faces.detection.detect_faces`.

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
        from fer_lib.faces.alignment import propagate_points
        from fer_lib.faces.detection import to_gray

        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or not (
            frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 3)
        ):
            shape = getattr(frame, "shape", None)
            raise ValueError(f"frame must be a uint8 array of shape (H, W) or (H, W, 3); got shape {shape}")
        self._t += 1
        t = self._t
        gray = to_gray(frame)
        if self._prev_gray is not None and self._prev_gray.shape != gray.shape:
            self.reset()
        flow_lost = False
        h, w = gray.shape
        for tr in self._active.values():
            pts, box, ok = propagate_points(self._prev_gray, gray, tr.points, tr.box, "flow")
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
        from fer_lib.faces.detection import STATUS_BY_METHOD, box_iou, detect_faces

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
