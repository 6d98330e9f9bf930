"""Sequence data for the temporal and hybrid models (notebooks 04 and 05), and their scores.

Inputs are ``uint8`` arrays of shape ``(n, T, H, W)`` (frames in temporal
order), ready for :func:`fer_lib.train.loop.train_model`:

* **CK+48 clips** (:func:`ckplus48_clips`): the 3-frame clips of CK+48 (the
  last three frames of each sequence, ending at the apex) with the
  subject-independent folds of notebook 01, for a protocol of
  :data:`fer_lib.data.ckplus.CKPLUS_PROTOCOLS`;
* **full sequences**: the official-layout CK+ sequences from neutral onset
  to apex, as notebook 02 aligned them (the release's landmarks where it has
  them, else MTCNN) and saved them (:func:`save_aligned_sequences`, read back
  by :func:`load_aligned_sequences`; :func:`align_sequences` aligns directly). The **onset-to-apex
  analysis** cuts every sequence after its first ``fraction`` of frames
  (``ceil(fraction * n_frames)``, at least one; :func:`prefix_length`), as if
  it had been observed only that far, and turns the prefix into a clip of
  ``T`` frames (:func:`sequence_views`): its last ``T`` frames (``"window"``,
  what a model with a ``T``-frame window sees at that moment; for ``T = 3``
  the prefix of fraction 1 ends with the frames CK+48 keeps), or the whole
  prefix resampled to ``T`` frames (``"resample"``);
* **static FER-2013 images as motionless clips** (:func:`fer_static_clips`),
  for the hybrid's "unified" variant.

:func:`load_study_clips` loads what notebooks 04 and 05 start from (CK+48,
the folds of notebook 01, the clips of each protocol, notebook 02's aligned
full sequences when it had some). Both notebooks cross-validate with
:func:`fer_lib.train.folds.run_subject_folds`, which also trains on extra
samples that belong to no fold (FER-2013 images) and tests the views of a
:class:`ViewSet` (e.g. the prefixes of the full sequences) with the model of
each sequence's own test fold. Each view is saved with its own ``split`` name
(:func:`prefix_split`: ``"first25pct"``, ..., ``"first100pct"``).

Scores (every one from :func:`fer_lib.evaluate.predictions.metrics_table`):
:func:`fold_metrics` (per fold, with how its model was trained), :func:`class_recall`, :func:`prefix_accuracy` and
:func:`side_by_side` (per-fold accuracy of several models in one table).
"""

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fer_lib.core.validation import (
    check_fraction,
    check_option,
    check_positive_int,
    check_subset,
)
from fer_lib.data.ckplus import CKPLUS_PROTOCOLS, find_ckplus48, load_ckplus48, protocol_subset
from fer_lib.data.constants import CKPLUS_CLASSES, CKPLUS_TO_FER2013
from fer_lib.data.splits import ViewSet, sample_folds
from fer_lib.evaluate.predictions import fold_table, metrics_table
from fer_lib.faces.alignment import RESAMPLING, resample_sequence
from fer_lib.faces.datasets import METHODS, align_ckplus_sequences

#: Fractions of each sequence (from onset) seen in the onset-to-apex analysis.
PREFIX_FRACTIONS = (0.25, 0.5, 0.75, 1.0)

#: How a prefix becomes a model input: its last ``T`` frames, or all of it resampled to ``T``.
PREFIX_SAMPLINGS = ("window", "resample")

#: ``dataset`` value of predictions on full sequences.
SEQUENCES_DATASET = "ckplus_sequences"


# --------------------------------------------------------------------------- CK+48 clips


@dataclass(frozen=True)
class ClipData:
    """Clips, labels and folds of one CK+ protocol.

    Attributes
    ----------
    X : ndarray of shape (n, T, H, W), uint8
    y : ndarray of shape (n,), int64
        Indices into ``class_names``.
    sample_ids : ndarray of shape (n,), str
        Sequence ids.
    subjects : ndarray of shape (n,), str
    folds : ndarray of shape (n,), int64
        Subject-independent fold of each clip (notebook 01).
    class_names : tuple of str
    protocol : str
    """

    X: np.ndarray
    y: np.ndarray
    sample_ids: np.ndarray
    subjects: np.ndarray
    folds: np.ndarray
    class_names: tuple
    protocol: str

    def __len__(self):
        return len(self.y)

    def counts(self):
        """Clips per class, as a Series indexed by class name."""
        return pd.Series(np.bincount(self.y, minlength=len(self.class_names)), index=list(self.class_names))


def ckplus48_clips(data, folds_table, protocol="7class"):
    """CK+48 clips of one protocol with their folds.

    Parameters
    ----------
    data : fer_lib.data.ckplus.CKPlus48Data
        From :func:`fer_lib.data.ckplus.load_ckplus48`.
    folds_table : DataFrame
        ``ckplus48_folds.csv`` of notebook 01 (columns subject, sequence_id,
        label, fold); joined on ``sequence_id``.
    protocol : {"7class", "6class"}, default="7class"

    Returns
    -------
    ClipData
        Clips of shape (n, 3, 48, 48); ``"6class"`` leaves out contempt.
    """
    check_option("protocol", protocol, CKPLUS_PROTOCOLS)
    folds = sample_folds(folds_table, data.sequence_ids, data.subjects)
    mask, y, names = protocol_subset(data.labels, protocol, data.class_names)
    return ClipData(
        X=np.ascontiguousarray(data.clips[mask]),
        y=y,
        sample_ids=np.asarray(data.sequence_ids)[mask].astype(str),
        subjects=np.asarray(data.subjects)[mask].astype(str),
        folds=folds[mask],
        class_names=tuple(names),
        protocol=protocol,
    )


@dataclass(frozen=True)
class StudyClips:
    """The CK+ data notebooks 04 and 05 start from (:func:`load_study_clips`).

    Attributes
    ----------
    ck48 : fer_lib.data.ckplus.CKPlus48Data
    folds_table : DataFrame
        ``ckplus48_folds.csv`` of notebook 01.
    clips : dict of str to ClipData
        Protocol -> its CK+48 clips and folds, in the order of ``protocols``.
    aligned : AlignedSequences or None
        The labelled full CK+ sequences as notebook 02 aligned them; None when
        notebook 02 had none.
    aligned_line : str
        What was read (or why there is nothing), from :func:`load_aligned_sequences`.
    """

    ck48: object
    folds_table: pd.DataFrame
    clips: dict
    aligned: object
    aligned_line: str


def load_study_clips(ctx, protocols):
    """Load CK+48, the folds of notebook 01, the clips of each protocol and notebook 02's aligned sequences.

    Parameters
    ----------
    ctx : fer_lib.run.notebook.NotebookContext
        The notebook's context, whose ``upstream`` holds ``"folds"``
        (notebook 01's ``ckplus48_folds.csv``) and ``"aligned"`` (notebook
        02's :data:`ALIGNED_SEQUENCES_FILE`).
    protocols : sequence of {"7class", "6class"}

    Returns
    -------
    StudyClips
        Full sequences are optional (the onset-to-apex analysis is skipped
        without them): ``aligned=None`` and the reason in ``aligned_line``.

    Raises
    ------
    ValueError
        If ``protocols`` names an unknown protocol, or ``ctx.upstream`` lacks
        ``"folds"`` or ``"aligned"``.
    fer_lib.core.errors.DataError
        If CK+48 is missing or malformed.
    """
    protocols = check_subset("protocols", protocols, CKPLUS_PROTOCOLS)
    missing = [k for k in ("folds", "aligned") if k not in ctx.upstream]
    if missing:
        raise ValueError(f"the notebook must declare upstream {missing} (notebook 01's ckplus48_folds.csv, notebook "
                         f"02's {ALIGNED_SEQUENCES_FILE}); its upstream is {sorted(ctx.upstream)}")
    ck48 = load_ckplus48(find_ckplus48(ctx.data_dir))
    folds_table = pd.read_csv(ctx.upstream["folds"])
    clips = {p: ckplus48_clips(ck48, folds_table, p) for p in protocols}
    size = next(iter(clips.values())).X.shape[-1]
    aligned, line = load_aligned_sequences(ctx.upstream["aligned"], size=size)
    return StudyClips(ck48, folds_table, clips, aligned, line)


# --------------------------------------------------------------------------- full sequences


@dataclass(frozen=True)
class AlignedSequences:
    """Aligned faces of labelled CK+ sequences (variable length).

    Attributes
    ----------
    crops : tuple of ndarray of shape (n_frames_i, size, size), uint8
        One array per sequence, onset to apex. Frames where no face was found
        are filled with the nearest frame that has one (counted in
        ``frames_filled``).
    labels : ndarray of shape (n,), int64
        Indices into :data:`~fer_lib.data.constants.CKPLUS_CLASSES`.
    sample_ids, subjects : ndarray of shape (n,), str
    methods : ndarray of shape (n,), str
        Alignment method of each sequence (``"landmarks"`` or ``"mtcnn"``).
    frames_filled : ndarray of shape (n,), int64
    excluded : DataFrame
        Sequences left out (no face in any frame): ``sequence_id``, ``reason``.
    seconds : float
        Wall time of the alignment.
    """

    crops: tuple
    labels: np.ndarray
    sample_ids: np.ndarray
    subjects: np.ndarray
    methods: np.ndarray
    frames_filled: np.ndarray
    excluded: pd.DataFrame
    seconds: float

    def __len__(self):
        return len(self.labels)

    @property
    def n_frames(self):
        """ndarray of shape (n,): frames per sequence."""
        return np.array([len(c) for c in self.crops], dtype=np.int64)

    def table(self):
        """One row per sequence: subject, sequence_id, label, n_frames, method, frames_filled."""
        return pd.DataFrame({
            "subject": self.subjects, "sequence_id": self.sample_ids,
            "label": [CKPLUS_CLASSES[k] for k in self.labels], "n_frames": self.n_frames,
            "method": self.methods, "frames_filled": self.frames_filled,
        })

    def summary(self):
        """What the alignment did, for a run's metrics.

        Returns
        -------
        dict
            ``n`` (sequences kept), ``frames`` (their frames), ``frames_filled``
            (frames without a face, filled from the nearest frame),
            ``excluded`` (list of ``{"sequence_id", "reason"}``),
            ``align_seconds`` (wall time, 0.1 s) and ``methods`` (method ->
            number of sequences, most frequent first).
        """
        return {"n": len(self), "frames": int(self.n_frames.sum()), "frames_filled": int(self.frames_filled.sum()),
                "excluded": self.excluded.to_dict(orient="records"), "align_seconds": round(self.seconds, 1),
                "methods": pd.Series(self.methods).value_counts().to_dict()}


def _fill_missing(crops, found):
    """Replace frames without a face by the nearest frame with one (earlier frame on ties)."""
    idx = np.flatnonzero(found)
    out = crops.copy()
    for t in np.flatnonzero(~found):
        out[t] = crops[idx[np.argmin(np.abs(idx - t) * 2 + (idx > t))]]
    return out


def _labelled_aligned(sequence_ids, subjects, labels, methods, crops, found, seconds):
    """:class:`AlignedSequences` of the labelled sequences among per-sequence arrays (labels: names or None)."""
    kept = {"crops": [], "labels": [], "ids": [], "subjects": [], "methods": [], "filled": []}
    excluded = []
    for sid, subject, label, how, c, f in zip(sequence_ids, subjects, labels, methods, crops, found):
        if not label:
            continue
        if not f.any():
            excluded.append({"sequence_id": sid, "reason": f"no face found by {how}"})
            continue
        kept["crops"].append(_fill_missing(c, f))
        kept["labels"].append(CKPLUS_CLASSES.index(label))
        kept["ids"].append(sid)
        kept["subjects"].append(subject)
        kept["methods"].append(how)
        kept["filled"].append(int((~f).sum()))
    return AlignedSequences(
        crops=tuple(kept["crops"]), labels=np.asarray(kept["labels"], dtype=np.int64),
        sample_ids=np.asarray(kept["ids"], dtype=str), subjects=np.asarray(kept["subjects"], dtype=str),
        methods=np.asarray(kept["methods"], dtype=str), frames_filled=np.asarray(kept["filled"], dtype=np.int64),
        excluded=pd.DataFrame(excluded, columns=["sequence_id", "reason"]), seconds=seconds,
    )


def _found_per_sequence(alignment):
    """Per sequence of a SequenceAlignment, bool ndarray of shape (n_frames_i,): a face was found."""
    status = alignment.records.groupby("sequence_id", sort=False)["status"]
    return [(status.get_group(seq.sequence_id) != "none").to_numpy() for seq in alignment.sequences]


def align_sequences(sequences, method="auto", size=48, detect_every=1, device=None, cache_dir=None,
                    progress=False):
    """Align the faces of labelled CK+ sequences (notebook 02's alignment, its cache when given).

    Uses :func:`fer_lib.faces.datasets.align_ckplus_sequences` (the alignment of
    notebook 02, with its content-addressed cache). Frames where no face was found (zero crops) are replaced by the
    nearest frame of the sequence that has one; a sequence without any face
    is left out and listed in ``excluded``.

    Parameters
    ----------
    sequences : fer_lib.data.ckplus.CKPlusSequences or sequence of CKPlusSequence
        Only labelled sequences are used.
    method : {"auto", "landmarks", "mtcnn", "haar"}, default="auto"
        ``"auto"``: the release's landmarks (68 points per frame) where a
        sequence has them, MTCNN otherwise.
    size : int, default=48
        Side of the aligned crops (:data:`fer_lib.faces.alignment.ALIGN_SIZES`).
    detect_every : int, default=1
        The detector runs every ``k`` frames, optical flow tracks in between.
    device : str, optional
        MTCNN device.
    cache_dir : str or path-like, optional
        Alignment cache (e.g. :func:`fer_lib.faces.datasets.alignment_cache_dir`,
        outside the project); ``None``: no cache.
    progress : bool, default=False

    Returns
    -------
    AlignedSequences
        Aligned with the ``"fer2013"`` template of :mod:`fer_lib.faces.alignment`.
    """
    check_option("method", method, METHODS)
    seqs = getattr(sequences, "labelled", sequences)
    seqs = [s for s in seqs if s.label is not None]
    if not seqs:
        raise ValueError("sequences holds no labelled sequence")
    t0 = time.perf_counter()
    result = align_ckplus_sequences(seqs, method, detect_every, size, cache_dir, progress, device=device)
    return _labelled_aligned([s.sequence_id for s in result.sequences], [s.subject for s in result.sequences],
                             [s.label for s in result.sequences], result.methods, result.crops,
                             _found_per_sequence(result), time.perf_counter() - t0)


# --------------------------------------------------------------------------- notebook 02's product

#: Notebook 02's product holding the aligned CK+ sequences, which notebooks 04 and 05 read.
ALIGNED_SEQUENCES_FILE = "ckplus_aligned.npz"


def save_aligned_sequences(path, alignment=None, missing=None):
    """Write notebook 02's aligned CK+ sequences to one ``.npz`` file (every sequence, labelled or not).

    Parameters
    ----------
    path : path-like
    alignment : fer_lib.faces.datasets.SequenceAlignment or None
        ``None`` when the data folder has no full sequences: the file then
        holds no sequence and says why (``missing``), so that the product
        always exists.
    missing : str, optional
        Why there is no alignment (required when ``alignment`` is None).

    Returns
    -------
    Path
    """
    if (alignment is None) == (missing is None):
        raise ValueError("give exactly one of alignment (a SequenceAlignment) and missing (why there is none); "
                         f"got alignment={type(alignment).__name__}, missing={missing!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if alignment is None:
        np.savez_compressed(path, missing=np.asarray(missing), params=np.asarray("{}"))
        return path
    seqs = alignment.sequences
    np.savez_compressed(
        path, crops=np.concatenate(alignment.crops), lengths=np.array([len(c) for c in alignment.crops]),
        found=np.concatenate(_found_per_sequence(alignment)),
        sequence_id=np.array([s.sequence_id for s in seqs], dtype=str),
        subject=np.array([s.subject for s in seqs], dtype=str),
        label=np.array([s.label or "" for s in seqs], dtype=str), method=np.asarray(alignment.methods, dtype=str),
        params=np.asarray(json.dumps(alignment.params, sort_keys=True, default=str)), missing=np.asarray(""),
    )
    return path


def load_aligned_sequences(path, size=48):
    """Read notebook 02's aligned sequences (:func:`save_aligned_sequences`): the labelled ones.

    Parameters
    ----------
    path : path-like
        ``<run_dir>/artifacts/02_alignment/ckplus_aligned.npz``.
    size : int, default=48
        The crop side the caller's models take (CK+48 clips: 48); gray crops.

    Returns
    -------
    aligned : AlignedSequences or None
        None when notebook 02 had no full sequences.
    line : str
        What was read, e.g. ``"40 labelled sequences (784 frames) from notebook 02's
        ckplus_aligned.npz; params {...}; methods {'landmarks': 40}; frames
        without a face (filled from the nearest frame): 0; excluded: 0"``, or why
        there are none.

    Raises
    ------
    ValueError
        When the crops are not ``size x size`` gray (notebook 02 ran with
        another ``size`` or ``color``).
    """
    t0 = time.perf_counter()
    with np.load(path, allow_pickle=False) as data:
        stored = {k: data[k] for k in data.files}
    if str(stored["missing"]):
        return None, f"no full CK+ sequences in notebook 02's {Path(path).name}: {stored['missing']}"
    crops, params = stored["crops"], json.loads(str(stored["params"]))
    if crops.shape[1:] != (size, size):
        raise ValueError(
            f"notebook 02 aligned the sequences to crops of shape {crops.shape[1:]} (size={params.get('size')}, "
            f"color={params.get('color')!r}); this notebook needs {size}x{size} gray crops: run notebook 02 "
            f"with size={size} and color='gray'")
    bounds = np.cumsum(stored["lengths"])[:-1]
    aligned = _labelled_aligned(stored["sequence_id"], stored["subject"], stored["label"], stored["method"],
                                np.split(crops, bounds), np.split(stored["found"], bounds),
                                time.perf_counter() - t0)
    if not len(aligned):
        return None, f"notebook 02's {Path(path).name} holds no labelled sequence with a face"
    info = aligned.summary()
    shown = {k: params[k] for k in ("method", "detect_every", "size", "color") if k in params}
    line = (f"{info['n']} labelled sequences ({info['frames']} frames) from notebook 02's {Path(path).name} "
            f"(alignment {shown}); methods {info['methods']}; frames without a face (filled from the nearest "
            f"frame): {info['frames_filled']}; excluded: {len(info['excluded'])}")
    return aligned, line


def prefix_length(n_frames, fraction):
    """Number of frames in the first ``fraction`` of a sequence: ``max(1, ceil(fraction * n_frames))``.

    Parameters
    ----------
    n_frames : int
    fraction : float in (0, 1]

    Returns
    -------
    int
    """
    n_frames = check_positive_int("n_frames", n_frames)
    fraction = check_fraction("fraction", fraction, 0.0, 1.0)
    if fraction <= 0:
        raise ValueError(f"fraction must be a number in (0, 1]; got {fraction!r}")
    return max(1, min(n_frames, math.ceil(round(fraction * n_frames, 9))))


def resample_clip(frames, length, method="uniform"):
    """Resample one sequence of frames to ``length`` frames, as uint8.

    Parameters
    ----------
    frames : ndarray of shape (n, H, W), uint8
    length : int
    method : {"interpolate", "uniform"}, default="uniform"
        See :func:`fer_lib.faces.alignment.resample_sequence`; ``"uniform"`` picks
        the nearest frames (real frames, repeated when ``n < length``),
        ``"interpolate"`` blends neighbours (rounded back to uint8).

    Returns
    -------
    ndarray of shape (length, H, W), uint8
    """
    check_option("method", method, RESAMPLING)
    out = resample_sequence(np.asarray(frames), length, method)
    if out.dtype != np.uint8:
        out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out


def prefix_split(fraction):
    """``split`` name of the predictions on the first ``fraction`` of each sequence, e.g. ``"first25pct"``."""
    fraction = check_fraction("fraction", fraction, 0.0, 1.0)
    return f"first{int(round(100 * fraction))}pct"


def split_fraction(split):
    """Inverse of :func:`prefix_split`: ``"first25pct"`` -> 0.25 (None for other split names)."""
    s = str(split)
    if s.startswith("first") and s.endswith("pct") and s[5:-3].isdigit():
        return int(s[5:-3]) / 100
    return None


def window_clip(frames, length):
    """The last ``length`` frames of a sequence (the first frame repeated in front when it is shorter).

    Parameters
    ----------
    frames : ndarray of shape (n, H, W), uint8
    length : int

    Returns
    -------
    ndarray of shape (length, H, W), uint8
    """
    frames = np.asarray(frames)
    length = check_positive_int("length", length)
    if frames.ndim != 3 or len(frames) == 0:
        raise ValueError(f"frames must have shape (n, H, W) with n >= 1; got {frames.shape}")
    if len(frames) >= length:
        return frames[len(frames) - length:].copy()
    return np.concatenate([np.repeat(frames[:1], length - len(frames), axis=0), frames])


def sequence_views(crops, length, fractions=PREFIX_FRACTIONS, sampling="window", method="uniform"):
    """Prefixes of every sequence, as clips of ``length`` frames.

    Parameters
    ----------
    crops : sequence of ndarray of shape (n_frames_i, H, W), uint8
        E.g. :attr:`AlignedSequences.crops`.
    length : int
        ``T`` of the model.
    fractions : sequence of float in (0, 1], default=PREFIX_FRACTIONS
    sampling : {"window", "resample"}, default="window"
        ``"window"``: the last ``length`` frames of the prefix (what a model
        with a ``length``-frame window sees when the sequence is cut off
        there; :func:`window_clip`); ``"resample"``: the whole prefix
        resampled to ``length`` frames (:func:`resample_clip`).
    method : {"interpolate", "uniform"}, default="uniform"
        Resampling method for ``sampling="resample"``.

    Returns
    -------
    dict of str to ndarray of shape (n, length, H, W), uint8
        ``{prefix_split(f): clips}`` in the order of ``fractions``.
    """
    check_option("sampling", sampling, PREFIX_SAMPLINGS)
    length = check_positive_int("length", length)
    fractions = [check_fraction("fractions", f, 0.0, 1.0) for f in fractions]
    if not fractions or min(fractions) <= 0:
        raise ValueError(f"fractions must be numbers in (0, 1]; got {fractions!r}")
    views = {}
    for f in fractions:
        clips = []
        for c in crops:
            prefix = np.asarray(c)[: prefix_length(len(c), f)]
            clips.append(window_clip(prefix, length) if sampling == "window" else resample_clip(prefix, length, method))
        views[prefix_split(f)] = np.stack(clips)
    return views


def sequence_view_set(aligned, folds_table, protocol="7class", length=3, fractions=PREFIX_FRACTIONS,
                      sampling="window", method="uniform"):
    """The onset-to-apex test views of aligned sequences, with their folds and a protocol's labels.

    Parameters
    ----------
    aligned : AlignedSequences
    folds_table : DataFrame
        ``ckplus48_folds.csv`` of notebook 01 (by sequence id, else by subject).
    protocol : {"7class", "6class"}, default="7class"
        ``"6class"`` leaves out contempt sequences.
    length, fractions, sampling, method
        See :func:`sequence_views`.

    Returns
    -------
    ViewSet
        ``dataset`` is :data:`SEQUENCES_DATASET`.
    """
    check_option("protocol", protocol, CKPLUS_PROTOCOLS)
    folds = sample_folds(folds_table, aligned.sample_ids, aligned.subjects)
    mask, y, _ = protocol_subset(aligned.labels, protocol)
    crops = [c for c, keep in zip(aligned.crops, mask) if keep]
    views = sequence_views(crops, length, fractions, sampling, method) if crops else {}
    return ViewSet(SEQUENCES_DATASET, views, y, np.asarray(aligned.sample_ids)[mask], folds[mask])


# --------------------------------------------------------------------------- FER-2013 as clips


def fer_static_clips(images, fer_labels, class_names, length, per_class=None, seed=0, fer_class_names=None):
    """Static FER-2013 faces as motionless clips, labelled with CK+ classes.

    A FER-2013 class is mapped to the CK+ class of
    :data:`fer_lib.data.constants.CKPLUS_TO_FER2013`; FER-2013's neutral (no CK+
    counterpart) and classes not in ``class_names`` are dropped. Each image
    becomes a clip of ``length`` identical frames: for a model with a fixed
    ``T`` this is the single-frame sequence of the "unified" training (no
    motion; the mean of the frame features is the image's).

    Parameters
    ----------
    images : ndarray of shape (m, 48, 48), uint8
        FER-2013 images (use the Training split only).
    fer_labels : ndarray of shape (m,)
        Indices into ``fer_class_names``.
    class_names : sequence of str
        The CK+ protocol's classes (labels of the output).
    length : int
        ``T``.
    per_class : int, optional
        Keep at most this many images per class (a seeded random subset).
    seed : int, default=0
    fer_class_names : sequence of str, optional
        Default :data:`fer_lib.data.constants.FER2013_CLASSES`.

    Returns
    -------
    X : ndarray of shape (k, length, 48, 48), uint8
    y : ndarray of shape (k,), int64
        Indices into ``class_names``.
    """
    from fer_lib.data.constants import FER2013_CLASSES

    fer_names = tuple(FER2013_CLASSES if fer_class_names is None else fer_class_names)
    images, fer_labels = np.asarray(images), np.asarray(fer_labels)
    if images.ndim != 3 or images.dtype != np.uint8 or len(images) != len(fer_labels):
        raise ValueError(
            f"images must be a uint8 array of shape (m, H, W) with one label each; got {images.dtype} "
            f"{images.shape} and {len(fer_labels)} labels"
        )
    length = check_positive_int("length", length)
    fer_to_ck = {fer: ck for ck, fer in CKPLUS_TO_FER2013.items() if ck in class_names}
    rng = np.random.default_rng(seed)
    keep, y = [], []
    for k, fer in enumerate(fer_names):
        if fer not in fer_to_ck:
            continue
        idx = np.flatnonzero(fer_labels == k)
        if per_class is not None and len(idx) > check_positive_int("per_class", per_class):
            idx = np.sort(rng.choice(idx, per_class, replace=False))
        keep.append(idx)
        y.append(np.full(len(idx), list(class_names).index(fer_to_ck[fer]), dtype=np.int64))
    keep, y = np.concatenate(keep), np.concatenate(y)
    X = np.repeat(images[keep][:, None], length, axis=1)
    return X, y


# --------------------------------------------------------------------------- scores


def _filled_class_names(frame):
    """Class names of a predictions table from its filled ``prob_<class>`` columns, in label order.

    Tables of several notebooks concatenated hold the union of their class
    columns (NaN where a row's class set lacks one), in an order that need
    not be any class list's; the study's known class lists restore it.
    """
    from fer_lib.data.constants import CKPLUS_CLASSES_6, FER2013_CLASSES

    filled = tuple(c[len("prob_"):] for c in frame.columns if c.startswith("prob_") and frame[c].notna().all())
    for known in (CKPLUS_CLASSES, CKPLUS_CLASSES_6, FER2013_CLASSES):
        if set(known) == set(filled):
            return tuple(known)
    return filled


def select_predictions(frames, dataset, protocol):
    """The predictions of one CK+ test set from several notebooks, with its class columns in label order.

    Parameters
    ----------
    frames : sequence of DataFrame
        Prediction tables (e.g. the values of
        :func:`fer_lib.evaluate.predictions.load_run_predictions`), possibly with the
        class columns of other data sets too.
    dataset : str
        ``"ckplus48"`` or :data:`SEQUENCES_DATASET`.
    protocol : {"7class", "6class"}

    Returns
    -------
    DataFrame
        The rows of ``dataset`` and ``protocol``, the non-probability
        columns, then ``prob_<class>`` for the test set's classes in label
        order, as the tables record them
        (:func:`fer_lib.evaluate.predictions.class_lists`). Empty (with the columns of
        :data:`~fer_lib.data.constants.CKPLUS_CLASSES` or
        :data:`~fer_lib.data.constants.CKPLUS_CLASSES_6`) when no table holds them.

    Raises
    ------
    ValueError
        When two tables disagree on the class list, or a table lacks the
        probabilities of one of its classes.
    """
    from fer_lib.data.constants import CKPLUS_CLASSES_6
    from fer_lib.evaluate.predictions import class_lists

    check_option("protocol", protocol, CKPLUS_PROTOCOLS)
    parts, names = [], None
    for frame in frames:
        part = frame[(frame["dataset"] == dataset) & (frame["protocol"] == protocol)]
        if part.empty:
            continue
        own = class_lists(part)[(dataset, protocol)]
        if names is not None and own != names:
            raise ValueError(f"predictions of {dataset} {protocol} disagree on the class list: {list(names)} in "
                             f"one table, {list(own)} in another")
        names = own
        prob = [f"prob_{c}" for c in names]
        missing = [c for c in prob if c not in part.columns or part[c].isna().any()]
        if missing:
            raise ValueError(f"predictions of {dataset} {protocol} lack the class columns {missing}")
        parts.append(part[[c for c in part.columns if not c.startswith("prob_")] + prob])
    if not parts:
        default = CKPLUS_CLASSES if protocol == "7class" else CKPLUS_CLASSES_6
        return pd.DataFrame(columns=["dataset", "protocol", "model", "variant", "seed", "fold", "split", "sample_id",
                                     "y_true", "y_pred", *[f"prob_{c}" for c in default]])
    return pd.concat(parts, ignore_index=True)


#: Columns of a fold run's metrics (:attr:`fer_lib.train.folds.FoldRunResult.metrics`) kept beside the scores.
RUN_INFO_COLUMNS = ("val_fold", "best_epoch", "n_train", "n_test", "seconds")


def fold_metrics(predictions, run_metrics):
    """The scores of every fold (:func:`fer_lib.evaluate.predictions.metrics_table`) with how its model was trained.

    Parameters
    ----------
    predictions : DataFrame
        Predictions of fold runs (:mod:`fer_lib.evaluate.predictions`).
    run_metrics : DataFrame
        Their :attr:`~fer_lib.train.folds.FoldRunResult.metrics`, concatenated.

    Returns
    -------
    DataFrame
        :func:`~fer_lib.evaluate.predictions.metrics_table` by dataset, protocol, model, variant, seed, fold
        and split, then :data:`RUN_INFO_COLUMNS` (NaN where no run matches).
    """
    keys = ["dataset", "protocol", "model", "variant", "seed", "fold", "split"]
    missing = sorted(set(keys + list(RUN_INFO_COLUMNS)) - set(run_metrics.columns))
    if missing:
        raise ValueError(f"run_metrics must have the columns {keys + list(RUN_INFO_COLUMNS)}; missing {missing}")
    return metrics_table(predictions).merge(run_metrics[keys + list(RUN_INFO_COLUMNS)], on=keys, how="left")


def onset_summary(onset, sampling, by=("protocol", "model", "variant")):
    """The onset-to-apex accuracies for a notebook's ``summary.json``.

    Parameters
    ----------
    onset : DataFrame
        :func:`prefix_accuracy`'s table.
    sampling : {"window", "resample"}
    by : sequence of str, default=("protocol", "model", "variant")
        The columns that name a curve; joined by ``/`` in the keys.

    Returns
    -------
    dict
        ``{"sampling": sampling, "accuracy": {"7class/hybrid/cnn-rnn": {"0.25": 0.5, ...}}}``,
        accuracies rounded to 4 decimals.
    """
    check_option("sampling", sampling, PREFIX_SAMPLINGS)
    by = list(by)
    return {"sampling": sampling, "accuracy": {
        "/".join(map(str, key if isinstance(key, tuple) else (key,))): dict(
            zip(g["fraction"].astype(str), g["accuracy"].round(4)))
        for key, g in onset.groupby(by if len(by) > 1 else by[0])}}


def class_recall(predictions, classes=None, by=("model", "variant")):
    """Recall of some classes per model, pooled over folds and seeds.

    Parameters
    ----------
    predictions : DataFrame
        Format of :mod:`fer_lib.evaluate.predictions`, one class set (e.g. from
        :func:`select_predictions`).
    classes : sequence of str, optional
        Class names (default: all of the table's classes).
    by : sequence of str, default=("model", "variant")

    Returns
    -------
    DataFrame
        One row per group, one column per class (recall), plus ``n_<class>``
        (number of test samples of that class).
    """
    names = _filled_class_names(predictions)
    classes = list(names if classes is None else classes)
    for c in classes:
        check_option("classes", c, names)
    rows = []
    for key, g in predictions.groupby(list(by), sort=True):
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by, key))
        for c in classes:
            k = names.index(c)
            sel = g["y_true"] == k
            row[c] = float((g.loc[sel, "y_pred"] == k).mean()) if sel.any() else float("nan")
            row[f"n_{c}"] = int(sel.sum())
        rows.append(row)
    return pd.DataFrame(rows)


def pair_accuracy(predictions, a, b, by=("model", "variant")):
    """How well a model tells two classes apart: the share of their test samples ranked the right way.

    For every test sample whose true class is ``a`` or ``b``, the model is
    right when its probability of the true class exceeds that of the other
    one (ties count half), whatever it gives the remaining classes. A model
    that cannot tell the two apart scores about 0.5. On the synthetic data,
    fear and surprise clips hold the same frames in opposite order, so a
    frame-averaging spatial model is near 0.5 there by construction.

    Parameters
    ----------
    predictions : DataFrame
        Format of :mod:`fer_lib.evaluate.predictions`, one class set.
    a, b : str
        Class names.
    by : sequence of str, default=("model", "variant")

    Returns
    -------
    DataFrame
        ``by`` columns, ``pair_accuracy`` and ``n`` (test samples of ``a`` or ``b``).
    """
    names = _filled_class_names(predictions)
    check_option("a", a, names)
    check_option("b", b, names)
    ia, ib = names.index(a), names.index(b)
    sel = predictions[predictions["y_true"].isin([ia, ib])]
    margin = sel[f"prob_{a}"] - sel[f"prob_{b}"]
    score = np.where(margin == 0, 0.5, (margin > 0) == (sel["y_true"] == ia)).astype(float)
    out = sel.assign(_score=score).groupby(list(by), sort=True)["_score"].agg(pair_accuracy="mean", n="size")
    return out.reset_index()


def positive_control(predictions, classes=("fear", "surprise")):
    """The positive-control scores of every model: recall of the two classes and their pair accuracy.

    Parameters
    ----------
    predictions : DataFrame
        Test predictions of one class set (e.g. CK+48 7-class, all models).
    classes : (str, str), default=("fear", "surprise")
        :data:`fer_lib.data.synthetic.POSITIVE_CONTROL_CLASSES`.

    Returns
    -------
    DataFrame
        Index ``"<model>/<variant>"``; columns ``model``, ``variant``, the
        recall of each class (:func:`class_recall`), ``pair_accuracy``
        (:func:`pair_accuracy`) and ``n_<class>``.
    """
    a, b = classes
    recall = class_recall(predictions, [a, b])
    pair = pair_accuracy(predictions, a, b)
    table = recall.merge(pair.drop(columns="n"), on=["model", "variant"])
    table.index = table["model"] + "/" + table["variant"]
    return table[["model", "variant", a, b, "pair_accuracy", f"n_{a}", f"n_{b}"]]


def control_verdict(table, model="hybrid", reference="spatial"):
    """Whether each variant of ``model`` beats every ``reference`` variant on the positive control.

    Parameters
    ----------
    table : DataFrame
        Output of :func:`positive_control`.
    model, reference : str
        Model families.

    Returns
    -------
    dict
        ``{"<model>/<variant>": {"<class a>": bool, "<class b>": bool,
        "pair_accuracy": bool, "beats": bool}}``: each score above the best
        (highest) of the reference variants; ``beats`` when all three are.
        Empty when either family is absent.
    """
    scores = [c for c in table.columns if c not in ("model", "variant") and not c.startswith("n_")]
    ref = table[table["model"] == reference]
    if ref.empty:
        return {}
    best = ref[scores].max()
    out = {}
    for label, row in table[table["model"] == model].iterrows():
        v = {c: bool(row[c] > best[c]) for c in scores}
        v["beats"] = all(v.values())
        out[label] = v
    return out


def prefix_accuracy(predictions, by=("model", "variant")):
    """Accuracy per fraction of the sequence seen (onset-to-apex analysis).

    Parameters
    ----------
    predictions : DataFrame
        Predictions whose ``split`` names come from :func:`prefix_split`.

    Returns
    -------
    DataFrame
        ``by`` columns, ``fraction``, ``accuracy`` (pooled over folds and
        seeds), ``accuracy_sd_seeds`` (standard deviation of the per-seed
        accuracies; 0 with one seed), ``n``; sorted by group and fraction.
    """
    frame = predictions.assign(fraction=predictions["split"].map(split_fraction))
    frame = frame[frame["fraction"].notna()]
    if frame.empty:
        raise ValueError("predictions hold no prefix splits (names like 'first25pct', see prefix_split)")
    frame = frame.assign(correct=frame["y_true"] == frame["y_pred"])
    keys = list(by) + ["fraction"]
    pooled = frame.groupby(keys)["correct"].agg(accuracy="mean", n="size").reset_index()
    per_seed = frame.groupby(keys + ["seed"])["correct"].mean().groupby(keys).std(ddof=0).rename(
        "accuracy_sd_seeds").reset_index()
    out = pooled.merge(per_seed, on=keys)
    return out[keys + ["accuracy", "accuracy_sd_seeds", "n"]].sort_values(keys).reset_index(drop=True)


def side_by_side(predictions, protocol, dataset="ckplus48", split="test"):
    """Per-fold accuracy of several models on the same folds, one column per model.

    Parameters
    ----------
    predictions : DataFrame
        Predictions of several notebooks (e.g. the values of
        :func:`fer_lib.evaluate.predictions.load_run_predictions` concatenated).
    protocol : str
    dataset : str, default="ckplus48"
    split : str, default="test"

    Returns
    -------
    DataFrame
        Index: fold, then the rows ``"mean"`` and ``"sd"`` (over folds);
        columns ``"<model>/<variant>"``; values: accuracy averaged over
        seeds. Folds a model was not run on are NaN.
    """
    sel = predictions[(predictions["dataset"] == dataset) & (predictions["protocol"] == protocol)
                      & (predictions["split"] == split)]
    if sel.empty:
        raise ValueError(f"no predictions for dataset={dataset!r}, protocol={protocol!r}, split={split!r}")
    return fold_table(metrics_table(sel, by=("model", "variant", "seed", "fold")), columns=("model", "variant"),
                      flatten=True)


__all__ = [
    "AlignedSequences",
    "ClipData",
    "PREFIX_FRACTIONS",
    "PREFIX_SAMPLINGS",
    "SEQUENCES_DATASET",
    "StudyClips",
    "ALIGNED_SEQUENCES_FILE",
    "RUN_INFO_COLUMNS",
    "fold_metrics",
    "onset_summary",
    "align_sequences",
    "load_aligned_sequences",
    "save_aligned_sequences",
    "ckplus48_clips",
    "class_recall",
    "control_verdict",
    "fer_static_clips",
    "load_study_clips",
    "pair_accuracy",
    "positive_control",
    "prefix_accuracy",
    "prefix_length",
    "prefix_split",
    "resample_clip",
    "select_predictions",
    "sequence_views",
    "side_by_side",
    "sequence_view_set",
    "split_fraction",
    "window_clip",
]
