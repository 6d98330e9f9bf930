"""Faces of whole data sets: every CK+ sequence and media file aligned, cached, audited.

This is the glue between the loaders (:mod:`fer_lib.data.ckplus`) and the per-frame
machinery (:mod:`fer_lib.faces.detection`, :mod:`fer_lib.faces.alignment`) that notebook 02
and the later sequence notebooks share:

* :func:`align_ckplus_sequences` aligns every frame of every CK+ sequence, with
  the data set's landmarks when it has them and MTCNN otherwise, and caches
  each sequence with :func:`fer_lib.faces.alignment.cached_align` (key: the bytes of
  the frame and landmark files and every parameter). A second call with the
  same arguments reads the crops back instead of aligning twice.
* :func:`align_video` does the same for a video file.
* :func:`status_counts` and :func:`eye_drift` turn the per-frame records into
  the numbers the notebook reports (detection rates, eye drift in the crops).
* A few figure helpers (:func:`detections_figure`, :func:`before_after_figure`,
  :func:`sequence_figure`, :func:`normalization_figure`, :func:`drift_figure`)
  keep the notebook free of plotting code.

Frames are never dropped: a frame where no face is found keeps its row (status
``"none"``, NaN points) and an all-zero crop, so crops and records stay in
frame order and aligned with the data set's frame files.
"""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fer_lib.core.plots import grid_figure
from fer_lib.core.validation import check_option, check_positive_int
from fer_lib.data.constants import CKPLUS_CLASSES
from fer_lib.faces.alignment import (
    ALIGN_COLORS,
    ALIGN_SIZES,
    MATRIX_COLUMNS,
    NORMALIZATIONS,
    RAW_POINT_COLUMNS,
    SEQUENCE_COLUMNS,
    align_sequence,
    cached_align,
    crop_points,
    landmark_drift,
    measure_throughput,
    normalize,
    resample_sequence,
    template_points,
)
from fer_lib.faces.detection import (
    BOX_COLUMNS,
    FACE_STATUSES,
    POINT_COLUMNS,
    read_video_frames,
)

__all__ = [
    "METHODS",
    "FRAME_ID_COLUMNS",
    "FRAME_COLUMNS",
    "SEQUENCE_TABLE_COLUMNS",
    "COUNT_COLUMNS",
    "EYE_COLUMNS",
    "SequenceAlignment",
    "mtcnn_available",
    "resolve_method",
    "alignment_cache_dir",
    "align_ckplus_sequences",
    "align_video",
    "status_counts",
    "status_summary",
    "eye_drift",
    "drift_summary",
    "point_error",
    "available_devices",
    "throughput_table",
    "draw_face",
    "detections_figure",
    "before_after_figure",
    "sequence_figure",
    "normalization_figure",
    "drift_figure",
    "template_eyes",
]

#: ``method=`` options of :func:`align_ckplus_sequences`. ``"auto"``: the data
#: set's landmarks when the sequence has them, else MTCNN (or the Haar cascade
#: when facenet-pytorch is not installed).
METHODS = ("auto", "landmarks", "mtcnn", "haar")

#: Columns that say which frame a record belongs to (``frame_file`` is the file
#: name only, never a path).
FRAME_ID_COLUMNS = ("sequence_id", "subject", "label", "frame_file")

#: Columns of :attr:`SequenceAlignment.records`, in order.
FRAME_COLUMNS = (*FRAME_ID_COLUMNS, *SEQUENCE_COLUMNS)

#: Status counts of :func:`status_counts`, after ``n_frames``.
COUNT_COLUMNS = (*FACE_STATUSES, "tracked", "multi_face", "found_rate")

#: Columns of :meth:`SequenceAlignment.table`, in order.
SEQUENCE_TABLE_COLUMNS = ("sequence_id", "subject", "label", "method", "n_frames", *COUNT_COLUMNS, "cache_hit")

#: Record columns of the two eyes as detected (the evidence used by :func:`eye_drift`).
EYE_COLUMNS = RAW_POINT_COLUMNS[:4]


# ------------------------------------------------------------------ choices


def mtcnn_available():
    """True when facenet-pytorch (MTCNN) is installed (checked without importing it)."""
    return importlib.util.find_spec("facenet_pytorch") is not None


def resolve_method(method, has_landmarks):
    """The detector to use for one sequence.

    Parameters
    ----------
    method : {"auto", "landmarks", "mtcnn", "haar"}
        ``"auto"``: ``"landmarks"`` when ``has_landmarks``, else ``"mtcnn"``
        when facenet-pytorch is installed, else ``"haar"`` (the fallback).
    has_landmarks : bool
        Whether the sequence comes with 68-point landmarks.

    Returns
    -------
    str
        One of ``"landmarks"``, ``"mtcnn"``, ``"haar"``.

    Raises
    ------
    ValueError
        Unknown ``method``, or ``"landmarks"`` for a sequence without them.
    """
    check_option("method", method, METHODS)
    if method == "auto":
        if has_landmarks:
            return "landmarks"
        return "mtcnn" if mtcnn_available() else "haar"
    if method == "landmarks" and not has_landmarks:
        raise ValueError("method='landmarks' but the sequence has no Landmarks files; use method='auto' or 'mtcnn'")
    return method


def alignment_cache_dir():
    """The alignment cache: ``<cache root>/alignment`` (:func:`fer_lib.core.paths.cache_root`).

    Every notebook passes this to :func:`align_ckplus_sequences` and
    :func:`align_video`, so a sequence aligned once is read back afterwards,
    by any run (entries are keyed by the files' bytes and the parameters).
    """
    from fer_lib.core.paths import cache_root

    return cache_root() / "alignment"


# ------------------------------------------------------------------ results


@dataclass(frozen=True)
class SequenceAlignment:
    """Aligned crops and per-frame records of a set of CK+ sequences.

    Attributes
    ----------
    sequences : tuple of fer_lib.data.ckplus.CKPlusSequence
        The sequences, in the order of the other attributes.
    crops : tuple of ndarray
        Per sequence, shape ``(T_i, size, size)`` (or ``(T_i, size, size, 3)``
        for RGB), uint8, in frame order; all zeros where status is ``"none"``.
    records : pandas.DataFrame
        One row per frame of every sequence, columns :data:`FRAME_COLUMNS`:
        the sequence's ids, the frame's file name, then the columns of
        :func:`fer_lib.faces.alignment.align_sequence` (status, tracked, box,
        smoothed points, score, n_faces, image-to-crop matrix, raw points).
    methods : tuple of str
        Detector used per sequence (``"landmarks"``, ``"mtcnn"`` or ``"haar"``).
    cache_hits : tuple of bool
        Per sequence, True when the result was read from the cache.
    seconds : float
        Wall time of the call (alignment or cache reads).
    params : dict
        The arguments that produced it (``method``, ``detect_every``, ``size``,
        ``color``, ``device``, ``max_sequences``, ``include_unlabelled`` and any
        extra ``align_sequence`` options): ``align_ckplus_sequences(seqs,
        cache_dir=..., **params)`` reproduces it from the cache.
    """

    sequences: tuple
    crops: tuple
    records: pd.DataFrame
    methods: tuple
    cache_hits: tuple
    seconds: float
    params: dict

    def __len__(self):
        return len(self.sequences)

    @property
    def sequence_ids(self):
        """ndarray of str, ``"S052_004"``, one per sequence."""
        return np.array([s.sequence_id for s in self.sequences], dtype=object)

    @property
    def subjects(self):
        """ndarray of str, ``"S052"``, one per sequence (split by these)."""
        return np.array([s.subject for s in self.sequences], dtype=object)

    @property
    def label_names(self):
        """ndarray of class names (None for an unlabelled sequence)."""
        return np.array([s.label for s in self.sequences], dtype=object)

    @property
    def labels(self):
        """ndarray of int64: index into :data:`~fer_lib.data.constants.CKPLUS_CLASSES`, -1 when unlabelled."""
        return np.array([CKPLUS_CLASSES.index(s.label) if s.label else -1 for s in self.sequences], dtype=np.int64)

    @property
    def n_frames(self):
        """Total number of frames."""
        return int(sum(len(c) for c in self.crops))

    def table(self):
        """One row per sequence: ids, method, status counts and whether it came from the cache.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`SEQUENCE_TABLE_COLUMNS` (counts as in :func:`status_counts`).
        """
        counts = status_counts(self.records, by="sequence_id").reindex(self.sequence_ids)
        table = pd.DataFrame({
            "sequence_id": self.sequence_ids,
            "subject": self.subjects,
            "label": self.label_names,
            "method": list(self.methods),
        })
        for col in ("n_frames", *COUNT_COLUMNS):
            table[col] = counts[col].to_numpy()
        table["cache_hit"] = list(self.cache_hits)
        return table[list(SEQUENCE_TABLE_COLUMNS)].reset_index(drop=True)

    def frame_image(self, sequence_id, frame):
        """Read one raw frame: ``frame`` (0-based) of the sequence ``sequence_id``.

        Returns
        -------
        ndarray of shape (H, W) or (H, W, 3), uint8
        """
        by_id = {s.sequence_id: s for s in self.sequences}
        if sequence_id not in by_id:
            raise ValueError(f"sequence_id {sequence_id!r} is not among the {len(self)} aligned sequences")
        from fer_lib.faces.detection import read_image

        return read_image(by_id[sequence_id].frame_paths[int(frame)])

    def sequence_records(self, i):
        """Records of sequence ``i`` (position, not id), in frame order."""
        sid = self.sequences[i].sequence_id
        return self.records[self.records["sequence_id"] == sid].reset_index(drop=True)

    def clips(self, length=16, resampling="interpolate", normalization="none"):
        """Every sequence resampled to ``length`` frames, optionally normalised.

        Parameters
        ----------
        length : int, default 16
            Frames per clip (:func:`fer_lib.faces.alignment.resample_sequence`; the
            first and last frame, onset and apex, are always kept).
        resampling : {"interpolate", "uniform"}, default "interpolate"
        normalization : {"none", "zscore", "histeq", "clahe", "quantile"}, default "none"
            Per-frame intensity normalisation (:func:`fer_lib.faces.alignment.normalize`);
            anything but ``"none"`` needs gray crops.

        Returns
        -------
        ndarray of shape (n_sequences, length, size, size) (or ``(..., 3)`` for RGB)
            float32 (uint8 for ``"uniform"`` with ``"none"``, ``"histeq"`` or
            ``"clahe"``). Frames with status ``"none"`` are zero crops and are
            resampled as they are: check :meth:`table` for them.
        """
        check_option("normalization", normalization, NORMALIZATIONS)
        if not self.sequences:
            raise ValueError("no sequences to resample")
        out = []
        for crops in self.crops:
            clip = resample_sequence(crops, length, resampling)
            if normalization != "none":
                if clip.ndim != 3:
                    raise ValueError(f"normalization={normalization!r} needs gray crops; these have shape {clip.shape[1:]}")
                if normalization in ("histeq", "clahe") and clip.dtype != np.uint8:
                    clip = np.clip(np.rint(clip), 0, 255).astype(np.uint8)
                clip = normalize(clip, normalization)
            out.append(clip)
        return np.stack(out)


# ------------------------------------------------------------------ aligning


def _as_sequence_list(seqs, include_unlabelled):
    if hasattr(seqs, "labelled") and hasattr(seqs, "unlabelled"):
        items = list(seqs.labelled) + (list(seqs.unlabelled) if include_unlabelled else [])
    elif isinstance(seqs, (list, tuple)):
        items = list(seqs)
    else:
        raise ValueError(
            "seqs must be a CKPlusSequences (fer_lib.data.ckplus.load_ckplus_sequences) or a list of CKPlusSequence; "
            f"got {type(seqs).__name__}"
        )
    for s in items:
        if not hasattr(s, "frame_paths") or not hasattr(s, "sequence_id"):
            raise ValueError(f"seqs must hold CKPlusSequence items; got {type(s).__name__}")
    return items


def _device_key(method, device):
    """Device in the cache key: the device type for MTCNN (results may differ), else ``"cpu"``."""
    if method != "mtcnn":
        return "cpu", None
    from fer_lib.core.device import resolve_device

    dev = resolve_device(device)
    return dev.type, str(dev)


def _read_frames(seq, color):
    frames = seq.frames()
    if color == "rgb":
        import cv2

        frames = np.stack([cv2.cvtColor(f, cv2.COLOR_GRAY2RGB) for f in frames])
    return frames


def align_ckplus_sequences(
    seqs,
    method="auto",
    detect_every=1,
    size=48,
    cache_dir=None,
    progress=False,
    *,
    color="gray",
    device=None,
    max_sequences=None,
    include_unlabelled=False,
    **align_kwargs,
):
    """Align every frame of every CK+ sequence, with a content-addressed cache.

    Each sequence goes through :func:`fer_lib.faces.alignment.align_sequence`: with
    its 68-point ``Landmarks`` files when it has them (``method="auto"``), else
    MTCNN, detecting every ``detect_every`` frames and tracking in between.
    Frames are read in order and none is dropped.

    Parameters
    ----------
    seqs : fer_lib.data.ckplus.CKPlusSequences or list of CKPlusSequence
        The sequences (``CKPlusSequences``: its labelled ones, plus the
        unlabelled ones with ``include_unlabelled``).
    method : {"auto", "landmarks", "mtcnn", "haar"}, default "auto"
        See :func:`resolve_method` (chosen per sequence).
    detect_every : int, default 1
        Run the detector every ``k`` frames and track in between (ignored for
        landmarks, which every frame has).
    size : {48, 64, 112, 224}, default 48
        Side of the crops.
    cache_dir : str, Path or None, default None
        Cache root (e.g. :func:`alignment_cache_dir`, outside the project); one
        entry per sequence, keyed by the bytes of its frame (and landmark)
        files and every parameter here. ``None``: no cache.
    progress : bool, default False
        Show a tqdm progress bar over the sequences.
    color : {"gray", "rgb"}, default "gray"
    device : str or None
        MTCNN device (``None``: CUDA when available, else CPU). Its type is
        part of the cache key.
    max_sequences : int or None
        Only the first ``max_sequences`` sequences (quick runs).
    include_unlabelled : bool, default False
        With a ``CKPlusSequences``: also align the unlabelled sequences.
    **align_kwargs
        Other options of :func:`fer_lib.faces.alignment.align_sequence` (``template``,
        ``margin``, ``smoothing``, ``tracker``, ``fallback``, ``min_score``,
        ...); JSON-serialisable values only (they go into the cache key).

    Returns
    -------
    SequenceAlignment

    Raises
    ------
    ValueError
        Bad options, an empty selection, or ``method="landmarks"`` for a
        sequence without landmarks.
    fer_lib.core.errors.DataError
        An unreadable frame or landmarks file (the message names it).
    """
    check_option("method", method, METHODS)
    check_option("size", size, ALIGN_SIZES)
    check_option("color", color, ALIGN_COLORS)
    detect_every = check_positive_int("detect_every", detect_every)
    items = _as_sequence_list(seqs, include_unlabelled)
    if max_sequences is not None:
        items = items[: check_positive_int("max_sequences", max_sequences)]
    if not items:
        raise ValueError("seqs holds no sequence to align")
    for bad in ("landmarks", "frames"):
        if bad in align_kwargs:
            raise ValueError(f"{bad} is read from each sequence; do not pass it to align_ckplus_sequences")
    params = {"method": method, "detect_every": detect_every, "size": size, "color": color, "device": device,
              "max_sequences": max_sequences, "include_unlabelled": include_unlabelled, **align_kwargs}
    t0 = time.perf_counter()
    all_crops, all_records, methods, hits = [], [], [], []
    iterator = items
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(items, desc="aligning CK+ sequences", unit="seq")
    for seq in iterator:
        used = resolve_method(method, seq.landmark_paths is not None)
        dev_key, dev = _device_key(used, device)
        every = 1 if used == "landmarks" else detect_every
        key_params = {"what": "ckplus_sequence", "method": used, "detect_every": every, "size": size,
                      "color": color, "device": dev_key, **align_kwargs}
        key_inputs = [list(map(str, seq.frame_paths))]
        if used == "landmarks":
            key_inputs.append(list(map(str, seq.landmark_paths)))

        def compute(seq=seq, used=used, every=every, dev=dev):
            frames = _read_frames(seq, color)
            landmarks = seq.landmarks() if used == "landmarks" else None
            return align_sequence(frames, used, every, size, color, device=dev, landmarks=landmarks, **align_kwargs)

        if cache_dir is None:
            (crops, records), hit = compute(), False
        else:
            (crops, records), hit = cached_align(cache_dir, key_inputs, key_params, compute)
        if len(records) != seq.n_frames:
            raise RuntimeError(f"{seq.sequence_id}: {len(records)} records for {seq.n_frames} frames")
        ids = pd.DataFrame({
            "sequence_id": seq.sequence_id,
            "subject": seq.subject,
            "label": seq.label,
            "frame_file": [Path(p).name for p in seq.frame_paths],
        })
        all_records.append(pd.concat([ids, records.reset_index(drop=True)], axis=1))
        all_crops.append(crops)
        methods.append(used)
        hits.append(bool(hit))
    records = pd.concat(all_records, ignore_index=True)[list(FRAME_COLUMNS)]
    return SequenceAlignment(tuple(items), tuple(all_crops), records, tuple(methods), tuple(hits),
                            time.perf_counter() - t0, params)


def align_video(
    path,
    method="mtcnn",
    detect_every=1,
    size=48,
    cache_dir=None,
    *,
    step=1,
    max_frames=None,
    color="gray",
    device=None,
    **align_kwargs,
):
    """Decode a video and align one face per frame, with the same cache as the sequences.

    Parameters
    ----------
    path : str or Path
        Video file.
    method : {"mtcnn", "haar"}, default "mtcnn"
    detect_every : int, default 1
    size : {48, 64, 112, 224}, default 48
    cache_dir : str, Path or None
        Cache root; the key is the file's bytes and the parameters.
    step, max_frames
        Decode every ``step``-th frame, at most ``max_frames`` of them
        (:func:`fer_lib.faces.detection.read_video_frames`).
    color : {"gray", "rgb"}, default "gray"
    device : str or None
    **align_kwargs
        Other options of :func:`fer_lib.faces.alignment.align_sequence` (e.g.
        ``fallback="haar"``).

    Returns
    -------
    frames : ndarray of shape (n, H, W, 3), uint8
        The decoded RGB frames (for figures).
    crops : ndarray of shape (n, size, size) or (n, size, size, 3), uint8
    records : pandas.DataFrame
        :data:`~fer_lib.faces.alignment.SEQUENCE_COLUMNS`; ``frame`` is the index of
        the decoded frame in the file (``0, step, 2 * step, ...``).
    hit : bool
        True when crops and records came from the cache.
    """
    check_option("method", method, ("mtcnn", "haar"))
    frames = read_video_frames(path, max_frames=max_frames, step=step, color="rgb")
    dev_key, dev = _device_key(method, device)
    key_params = {"what": "video", "method": method, "detect_every": detect_every, "size": size, "color": color,
                  "device": dev_key, "step": step, "max_frames": max_frames, **align_kwargs}

    def compute():
        return align_sequence(frames, method, detect_every, size, color, device=dev, **align_kwargs)

    if cache_dir is None:
        (crops, records), hit = compute(), False
    else:
        (crops, records), hit = cached_align(cache_dir, [str(path)], key_params, compute)
    records = records.copy()
    records["frame"] = np.arange(len(records)) * int(step)
    return frames, crops, records, bool(hit)


# ------------------------------------------------------------------ measures


def status_counts(records, by=None):
    """Frames per status, per group.

    Parameters
    ----------
    records : pandas.DataFrame
        Per-frame records with a ``status`` column (and ``tracked``,
        ``n_faces`` when present).
    by : str, list of str or None
        Grouping column(s); ``None``: one row, ``"all"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``n_frames``, one per status of
        :data:`~fer_lib.faces.detection.FACE_STATUSES`, ``tracked`` (frames whose
        points were tracked, not detected), ``multi_face`` (frames where more
        than one face was seen) and ``found_rate`` (fraction of frames with a
        face: any status but ``"none"``).
    """
    if "status" not in records.columns:
        raise ValueError("records needs a 'status' column")
    unknown = sorted(set(records["status"]) - set(FACE_STATUSES))
    if unknown:
        raise ValueError(f"unknown statuses {unknown}; allowed {list(FACE_STATUSES)}")
    df = records.copy()
    key = by
    if by is None:
        df["_group"], key = "all", "_group"
    grouped = df.groupby(key, sort=False)
    out = pd.DataFrame({"n_frames": grouped.size()})
    for status in FACE_STATUSES:
        out[status] = grouped["status"].apply(lambda s, st=status: int((s == st).sum()))
    out["tracked"] = grouped["tracked"].sum().astype(int) if "tracked" in df else 0
    out["multi_face"] = grouped["n_faces"].apply(lambda s: int((s > 1).sum())) if "n_faces" in df else 0
    out["found_rate"] = 1.0 - out["none"] / out["n_frames"]
    if by is None:
        out.index = ["all"]
    return out[["n_frames", *COUNT_COLUMNS]]


def status_summary(records):
    """:func:`status_counts` of all the records as a plain dict (ints, and ``found_rate`` a float)."""
    row = status_counts(records).iloc[0]
    return {k: (float(v) if k == "found_rate" else int(v)) for k, v in row.items()}


def eye_drift(records, reference=None, group="sequence_id"):
    """Frame-to-frame motion of the eyes inside the aligned crops.

    The evidence is the eyes *as detected* on each frame (the ``raw_`` columns
    of the records, or of ``reference``), mapped into the crops by each
    frame's image-to-crop matrix. A perfectly stable alignment keeps them at
    the same crop pixel; the drift is ``mean over the two eyes of
    ||p[t] - p[t-1]||`` (:func:`fer_lib.faces.alignment.landmark_drift`). It
    includes the detector's own jitter, so it is an upper bound on the
    alignment's drift.

    Parameters
    ----------
    records : pandas.DataFrame
        Per-frame records with ``frame``, :data:`~fer_lib.faces.alignment.MATRIX_COLUMNS`
        and (without ``reference``) :data:`EYE_COLUMNS`.
    reference : pandas.DataFrame or None
        Records of the same frames whose raw eyes to use (e.g. a run that
        detected every frame, to measure a tracked run); matched on
        ``group`` and ``frame``.
    group : str or None, default "sequence_id"
        Column separating sequences (``None``: one sequence).

    Returns
    -------
    pandas.DataFrame
        One row per frame after the first of each sequence: ``group`` (when
        given), ``frame``, ``drift_px`` (NaN where either frame has no
        detected eyes, e.g. tracked or ``"none"`` frames), and ``eye_x``,
        ``eye_y`` (mean crop position of the two eyes on that frame).
    """
    keys = ([group] if group else []) + ["frame"]
    rec = records.reset_index(drop=True)
    if reference is not None:
        ref = reference[keys + list(EYE_COLUMNS)]
        rec = rec.drop(columns=[c for c in EYE_COLUMNS if c in rec.columns]).merge(ref, on=keys, how="left")
    missing = [c for c in (*keys, *MATRIX_COLUMNS, *EYE_COLUMNS) if c not in rec.columns]
    if missing:
        raise ValueError(f"records lacks the columns {missing}")
    parts = [("", rec)] if not group else list(rec.groupby(group, sort=False))
    rows = []
    for name, part in parts:
        part = part.sort_values("frame")
        if len(part) < 2:
            continue
        eyes = part[list(EYE_COLUMNS)].to_numpy(np.float64).reshape(-1, 2, 2)
        in_crop = crop_points(eyes, part[list(MATRIX_COLUMNS)].to_numpy(np.float64).reshape(-1, 2, 3))
        frame = pd.DataFrame({"frame": part["frame"].to_numpy()[1:], "drift_px": landmark_drift(in_crop),
                              "eye_x": in_crop[1:, :, 0].mean(axis=1), "eye_y": in_crop[1:, :, 1].mean(axis=1)})
        if group:
            frame.insert(0, group, name)
        rows.append(frame)
    cols = keys + ["drift_px", "eye_x", "eye_y"]
    return pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(columns=cols)


def drift_summary(drift, threshold=2.0):
    """Summary numbers of :func:`eye_drift`'s output.

    Parameters
    ----------
    drift : pandas.DataFrame
        With a ``drift_px`` column.
    threshold : float, default 2.0
        Frames moving more than this many crop pixels are counted.

    Returns
    -------
    dict
        ``n_pairs`` (consecutive frame pairs measured), ``median_px``,
        ``mean_px``, ``p95_px``, ``max_px`` and ``n_over_threshold``,
        ``threshold_px``.
    """
    d = pd.to_numeric(drift["drift_px"], errors="coerce").dropna().to_numpy()
    if len(d) == 0:
        return {"n_pairs": 0, "median_px": None, "mean_px": None, "p95_px": None, "max_px": None,
                "n_over_threshold": 0, "threshold_px": float(threshold)}
    return {"n_pairs": int(len(d)), "median_px": float(np.median(d)), "mean_px": float(d.mean()),
            "p95_px": float(np.percentile(d, 95)), "max_px": float(d.max()),
            "n_over_threshold": int((d > threshold).sum()), "threshold_px": float(threshold)}


def point_error(records, reference, group="sequence_id"):
    """Distance between the points two detectors found on the same frames.

    Parameters
    ----------
    records, reference : pandas.DataFrame
        Per-frame records with ``frame``, ``group`` and
        :data:`~fer_lib.faces.alignment.RAW_POINT_COLUMNS` (e.g. an MTCNN run and a
        landmarks run of the same sequences).
    group : str, default "sequence_id"

    Returns
    -------
    pandas.DataFrame
        One row per frame of ``records`` (same order): ``group``, ``frame``,
        ``eye_error_px`` (mean over the two eyes of the distance, in image
        pixels), ``eye_error_iod`` (the same divided by the reference's
        inter-ocular distance) and ``points_error_px`` (mean over the 5
        points); NaN where either run has no detected points.
    """
    keys = [group, "frame"]
    cols = list(RAW_POINT_COLUMNS)
    for name, df in (("records", records), ("reference", reference)):
        missing = [c for c in (*keys, *cols) if c not in df.columns]
        if missing:
            raise ValueError(f"{name} lacks the columns {missing}")
    merged = records[keys + cols].merge(reference[keys + cols], on=keys, how="left", suffixes=("", "_ref"))
    a = merged[cols].to_numpy(np.float64).reshape(-1, 5, 2)
    b = merged[[f"{c}_ref" for c in cols]].to_numpy(np.float64).reshape(-1, 5, 2)
    dist = np.linalg.norm(a - b, axis=-1)
    iod = np.linalg.norm(b[:, 1] - b[:, 0], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        eye = dist[:, :2].mean(axis=1)
        return pd.DataFrame({group: merged[group], "frame": merged["frame"], "eye_error_px": eye,
                             "eye_error_iod": eye / iod, "points_error_px": dist.mean(axis=1)})


def available_devices():
    """Devices to time MTCNN on: ``["cpu"]``, plus ``"cuda"`` when torch sees a GPU."""
    import torch

    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def throughput_table(sources, detect_every=5, devices=None, method="mtcnn", size=48, repeats=1):
    """Frames per second, detecting every frame vs every ``detect_every`` frames, per source and device.

    Each row is one call of :func:`fer_lib.faces.alignment.measure_throughput`:
    both modes are timed in the same run, on the same frames, after a warm-up,
    so their ratio is a fair comparison even on a busy machine.

    Parameters
    ----------
    sources : dict
        Name -> frames (ndarray of shape (T, H, W) or (T, H, W, 3), uint8).
    detect_every : int, default 5
    devices : list of str or None
        ``None``: :func:`available_devices`.
    method : str, default "mtcnn"
    size : int, default 48
    repeats : int, default 1

    Returns
    -------
    pandas.DataFrame
        Columns ``source``, ``device``, ``frame_size`` (``"WxH"``),
        ``n_frames``, ``detect_every``, ``fps_every_frame``, ``fps_tracked``,
        ``speedup`` (tracked / every frame).
    """
    devices = available_devices() if devices is None else list(devices)
    rows = []
    for name, frames in sources.items():
        for dev in devices:
            res = measure_throughput(frames, method, detect_every, device=dev, size=size, repeats=repeats)
            h, w = np.asarray(frames[0]).shape[:2]
            rows.append({"source": name, "device": res["device"], "frame_size": f"{w}x{h}",
                         "n_frames": res["n_frames"], "detect_every": res["detect_every"],
                         "fps_every_frame": res["fps_every_frame"], "fps_tracked": res["fps_tracked"],
                         "speedup": res["speedup"]})
    return pd.DataFrame(rows, columns=["source", "device", "frame_size", "n_frames", "detect_every",
                                       "fps_every_frame", "fps_tracked", "speedup"])


# ------------------------------------------------------------------ figures


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _row_arrays(row):
    """Box (4,) and points (5, 2) of a record row (NaN when absent)."""
    box = np.array([row.get(c, np.nan) for c in BOX_COLUMNS], dtype=np.float64)
    pts = np.array([row.get(c, np.nan) for c in POINT_COLUMNS], dtype=np.float64).reshape(5, 2)
    return box, pts


def draw_face(ax, image, box=None, points=None, other_boxes=(), title=None, color="lime"):
    """Show an image with the kept face's box and 5 points, and other faces' boxes.

    Parameters
    ----------
    ax : matplotlib Axes
    image : ndarray of shape (H, W) or (H, W, 3), uint8
    box : array-like of shape (4,) or None
        Kept face ``(x1, y1, x2, y2)``; not drawn when None or NaN.
    points : array-like of shape (5, 2) or None
        Kept face's points (red dots); not drawn when None or NaN.
    other_boxes : array-like of shape (k, 4)
        Other faces seen (dashed yellow); the kept box is skipped if repeated.
    title : str, optional
    color : str, default "lime"
        Colour of the kept box.
    """
    from matplotlib.patches import Rectangle

    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=255)
    lw = max(1.0, 0.004 * max(image.shape[:2]) / 2)
    kept = None if box is None else np.asarray(box, dtype=np.float64)
    for b in np.asarray(other_boxes, dtype=np.float64).reshape(-1, 4):
        if kept is not None and np.allclose(b, kept):
            continue
        ax.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec="yellow", lw=lw, ls="--"))
    if kept is not None and np.isfinite(kept).all():
        ax.add_patch(Rectangle((kept[0], kept[1]), kept[2] - kept[0], kept[3] - kept[1], fill=False, ec=color,
                               lw=1.5 * lw))
    if points is not None:
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if np.isfinite(pts).all():
            ax.scatter(pts[:, 0], pts[:, 1], s=8, c="red", edgecolors="white", linewidths=0.4, zorder=3)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def detections_figure(images, boxes=None, points=None, titles=None, other_boxes=None, ncols=4, size=2.4,
                      suptitle=None):
    """Grid of images with their kept face (box and points) and every other face seen.

    Parameters
    ----------
    images : sequence of ndarray
        Gray or RGB uint8 images (sizes may differ).
    boxes, points : sequence or None
        Per image, the kept box (4,) and points (5, 2), or None / NaN.
    titles : sequence of str, optional
    other_boxes : sequence of array-like of shape (k, 4), optional
        Per image, every face seen.
    ncols : int, default 4
    size : float, default 2.4
        Inches per panel (width).

    Returns
    -------
    matplotlib.figure.Figure
    """
    aspect = max((im.shape[0] / im.shape[1] for im in images), default=1.0)

    def draw(ax, k):
        draw_face(ax, images[k], None if boxes is None else boxes[k], None if points is None else points[k],
                  () if other_boxes is None else other_boxes[k], None if titles is None else titles[k])

    return grid_figure(len(images), draw, ncols, (size, size * aspect), extra_height=0.5, suptitle=suptitle)


def _read_frame(seq, t):
    from fer_lib.faces.detection import read_image

    return read_image(seq.frame_paths[t])


def before_after_figure(aligned, per_class=3, seed=0, frame=-1, size=1.5, suptitle=None):
    """Per class, raw frames with box and points next to their aligned crops.

    Parameters
    ----------
    aligned : SequenceAlignment
    per_class : int, default 3
        Sequences per class (a seeded random draw; fewer when a class is small).
    seed : int, default 0
    frame : int, default -1
        Which frame of each sequence (``-1``: the apex, ``0``: the onset).
    size : float, default 1.5
        Inches per panel.

    Returns
    -------
    matplotlib.figure.Figure
        One row per labelled class present; columns alternate raw (before) and
        aligned (after).
    """
    plt = _plt()
    rng = np.random.default_rng(seed)
    names = aligned.label_names
    classes = [c for c in CKPLUS_CLASSES if (names == c).any()]
    if not classes:
        raise ValueError("no labelled sequence to show")
    fig, axes = plt.subplots(len(classes), 2 * per_class, figsize=(2 * per_class * size, len(classes) * size * 1.05),
                             squeeze=False)
    for r, name in enumerate(classes):
        idx = np.flatnonzero(names == name)
        pick = np.sort(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
        for c in range(per_class):
            ax_raw, ax_crop = axes[r, 2 * c], axes[r, 2 * c + 1]
            for ax in (ax_raw, ax_crop):
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
            if c >= len(pick):
                continue
            i = int(pick[c])
            t = frame % len(aligned.crops[i])
            row = aligned.sequence_records(i).iloc[t]
            box, pts = _row_arrays(row)
            draw_face(ax_raw, _read_frame(aligned.sequences[i], t), box, pts)
            crop = aligned.crops[i][t]
            ax_crop.imshow(crop, cmap="gray" if crop.ndim == 2 else None, vmin=0, vmax=255)
            ax_raw.set_title(f"{aligned.sequences[i].sequence_id} ({row['status']})", fontsize=7)
            ax_crop.set_title("aligned", fontsize=7)
        axes[r, 0].set_ylabel(f"{name}\n(n={len(idx)})", rotation=0, ha="right", va="center", fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def sequence_figure(frames, crops, records, n=8, size=1.6, suptitle=None):
    """Raw frames with box and points (top row) and their aligned crops (bottom row).

    Parameters
    ----------
    frames : ndarray of shape (T, H, W) or (T, H, W, 3)
    crops : ndarray of shape (T, size, size) or (T, size, size, 3)
    records : pandas.DataFrame
        One row per frame (box, points, status, tracked, frame).
    n : int, default 8
        Frames shown, evenly spaced from the first to the last.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    T = len(frames)
    idx = np.unique(np.rint(np.linspace(0, T - 1, min(n, T))).astype(int))
    h, w = frames[0].shape[:2]
    fig, axes = plt.subplots(2, len(idx), figsize=(len(idx) * size, size * (h / w + 1) + 0.6), squeeze=False)
    recs = records.reset_index(drop=True)
    for c, t in enumerate(idx):
        row = recs.iloc[t]
        box, pts = _row_arrays(row)
        how = "tracked" if bool(row.get("tracked", False)) else row["status"]
        draw_face(axes[0, c], frames[t], box, pts, title=f"frame {int(row['frame'])}\n{how}")
        axes[1, c].imshow(crops[t], cmap="gray" if crops[t].ndim == 2 else None, vmin=0, vmax=255)
        axes[1, c].axis("off")
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def normalization_figure(crops, methods=NORMALIZATIONS, titles=None, size=1.2, suptitle=None):
    """The same crops under each intensity normalisation (one row per method).

    Float outputs (``"zscore"``, ``"quantile"``) are shown on a fixed range of
    -2.5 to 2.5 so that rows can be compared; uint8 outputs on 0-255.

    Parameters
    ----------
    crops : ndarray of shape (n, H, W), uint8
    methods : sequence of str, default :data:`~fer_lib.faces.alignment.NORMALIZATIONS`
    titles : sequence of str, optional
        Column titles (one per crop).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    crops = np.asarray(crops)
    fig, axes = plt.subplots(len(methods), len(crops), figsize=(len(crops) * size, len(methods) * size),
                             squeeze=False)
    for r, method in enumerate(methods):
        out = normalize(crops, method)
        lo, hi = (0, 255) if out.dtype == np.uint8 else (-2.5, 2.5)
        for c in range(len(crops)):
            ax = axes[r, c]
            ax.imshow(out[c], cmap="gray", vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and titles is not None:
                ax.set_title(titles[c], fontsize=8)
        axes[r, 0].set_ylabel(method, rotation=0, ha="right", va="center", fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def drift_figure(drift, example=None, group="sequence_id", threshold=2.0, title=None):
    """Eye drift in the crops: one sequence over time, and all frame pairs.

    Parameters
    ----------
    drift : pandas.DataFrame
        Output of :func:`eye_drift`.
    example : str or None
        Sequence (value of ``group``) drawn over time on the left; None: the
        sequence with the largest drift.
    threshold : float, default 2.0
        Dashed reference line (pixels).

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _plt()
    d = drift.dropna(subset=["drift_px"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.2))
    if len(d):
        if example is None and group in d:
            example = d.loc[d["drift_px"].idxmax(), group]
        part = d[d[group] == example] if group in d else d
        ax1.plot(part["frame"], part["drift_px"], marker="o", ms=3)
        ax1.set_title(f"{example}: eye drift per frame" if example is not None else "eye drift per frame", fontsize=10)
        bins = np.linspace(0, 1.05 * max(float(d["drift_px"].max()), threshold), 60)
        ax2.hist(d["drift_px"], bins=bins, color="tab:blue", edgecolor="white")
        ax2.set_title(f"all {len(d)} consecutive frame pairs", fontsize=10)
    ax1.axhline(threshold, color="gray", ls="--", lw=1)
    ax2.axvline(threshold, color="gray", ls="--", lw=1)
    ax1.set_xlabel("frame")
    ax1.set_ylabel("eye motion in crop (px)")
    ax2.set_xlabel("eye motion in crop between consecutive frames (px)")
    ax2.set_ylabel("frame pairs")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def template_eyes(size=48, template="fer2013", margin=0.0):
    """Where the two eyes should sit in a crop: ``template_points(...)[:2]``."""
    return template_points(size, template, margin)[:2]
