"""Load CK+: the official release layout (full sequences) and the CK+48 crops (3-frame clips).

Official layout (``<root>`` is e.g. ``<data_dir>/ckplus/sequences``, or
``<data_dir>/ckplus/landmarks`` for the landmarks-only release without images)::

    cohn-kanade-images/S052/004/S052_004_00000001.png ...   frames, in order
    Emotion/S052/004/S052_004_00000019_emotion.txt          one float code, named after the apex frame
    Landmarks/S052/004/S052_004_00000001_landmarks.txt      optional, 68 points per frame

CK+48 layout (``<root>`` is e.g. ``<data_dir>/ckplus``)::

    CK+48/<emotion>/S052_004_00000017.png                   last 3 frames of each labelled sequence

Sequences without an emotion file are reported in ``unlabelled``, never mixed in.
The landmark sequences of every frame (:func:`find_ckplus_landmarks`,
:func:`load_ckplus_landmark_sequences`) join CK+48 by sequence id
(:func:`join_ckplus48`).
Malformed files raise :class:`~fer_lib.core.errors.DataError` naming the file.
"""

import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fer_lib.core.errors import DataError
from fer_lib.core.validation import check_option
from fer_lib.data.constants import (
    CKPLUS48_FRAMES_PER_CLIP,
    CKPLUS48_SIZE,
    CKPLUS_CLASSES,
    CKPLUS_CODES,
    CKPLUS_N_LANDMARKS,
)

#: Frame file names of the official release and of CK+48: ``S###_###_########.png``.
FRAME_NAME = re.compile(r"^(S\d{3})_(\d{3})_(\d{8})\.png$")

#: Emotion label files: ``S###_###_########_emotion.txt``.
EMOTION_NAME = re.compile(r"^(S\d{3})_(\d{3})_(\d{8})_emotion\.txt$")

#: Landmark files: ``S###_###_########_landmarks.txt``.
LANDMARKS_NAME = re.compile(r"^(S\d{3})_(\d{3})_(\d{8})_landmarks\.txt$")


def _read_gray(path, expected_shape=None):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("L"))
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"{path}: unreadable image ({exc})") from exc
    if expected_shape is not None and arr.shape != tuple(expected_shape):
        raise DataError(
            f"{path}: image is {arr.shape[1]}x{arr.shape[0]}, expected "
            f"{expected_shape[1]}x{expected_shape[0]}"
        )
    return arr


def read_emotion_file(path):
    """Read one ``*_emotion.txt`` file and return the CK+ class name.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    str
        One of :data:`~fer_lib.data.constants.CKPLUS_CLASSES`.

    Raises
    ------
    DataError
        If the file does not hold exactly one number that is a CK+ code 1-7.
    """
    text = Path(path).read_text().split()
    if len(text) != 1:
        raise DataError(f"{path}: expected one emotion code, found {len(text)} values")
    try:
        value = float(text[0])
    except ValueError:
        raise DataError(f"{path}: emotion code {text[0]!r} is not a number") from None
    code = int(round(value))
    if code != value or code not in CKPLUS_CODES:
        raise DataError(
            f"{path}: unknown emotion code {value!r}; allowed {dict(CKPLUS_CODES)}"
        )
    return CKPLUS_CODES[code]


def read_landmarks_file(path):
    """Read one ``*_landmarks.txt`` file.

    Returns
    -------
    ndarray of shape (68, 2), float64
        (x, y) pixel coordinates in the iBUG 68-point order.
    """
    try:
        points = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as exc:
        raise DataError(f"{path}: landmarks are not numbers ({exc})") from exc
    if points.shape != (CKPLUS_N_LANDMARKS, 2):
        raise DataError(
            f"{path}: expected {CKPLUS_N_LANDMARKS} rows of x y, found shape {points.shape}"
        )
    return points


@dataclass(frozen=True)
class CKPlusSequence:
    """One CK+ sequence of the official release (frames are read on demand).

    Attributes
    ----------
    subject : str
        Subject id, e.g. ``"S052"``.
    sequence_id : str
        ``"S052_004"``.
    label : str or None
        CK+ class name, or None for an unlabelled sequence.
    frame_paths : tuple of Path
        Frames from neutral onset to apex, in order.
    landmark_paths : tuple of Path or None
        One landmarks file per frame, when the release has ``Landmarks/``.
    """

    subject: str
    sequence_id: str
    label: object
    frame_paths: tuple
    landmark_paths: object = None

    @property
    def n_frames(self):
        return len(self.frame_paths)

    def frames(self):
        """Read the frames.

        Returns
        -------
        ndarray of shape (T, H, W), uint8
        """
        first = _read_gray(self.frame_paths[0])
        rest = [_read_gray(p, first.shape) for p in self.frame_paths[1:]]
        return np.stack([first, *rest])

    def landmarks(self):
        """Read the landmarks.

        Returns
        -------
        ndarray of shape (T, 68, 2) or None
            None when the release has no ``Landmarks/`` for this sequence.
        """
        if self.landmark_paths is None:
            return None
        return np.stack([read_landmarks_file(p) for p in self.landmark_paths])


@dataclass(frozen=True)
class CKPlusSequences:
    """The sequences of an official-layout CK+ folder.

    Attributes
    ----------
    labelled : tuple of CKPlusSequence
    unlabelled : tuple of CKPlusSequence
        Sequences without an ``Emotion`` file (reported by the audit, not used).
    root : str
    notes : tuple of str
        Anything unusual that was found and how it was handled.
    """

    labelled: tuple
    unlabelled: tuple
    root: str
    notes: tuple = field(default_factory=tuple)

    def table(self):
        """One row per sequence (labelled and unlabelled), as a DataFrame."""
        rows = [
            {
                "subject": s.subject,
                "sequence_id": s.sequence_id,
                "label": s.label,
                "n_frames": s.n_frames,
                "has_landmarks": s.landmark_paths is not None,
            }
            for s in (*self.labelled, *self.unlabelled)
        ]
        return pd.DataFrame(rows, columns=["subject", "sequence_id", "label", "n_frames", "has_landmarks"])


def load_ckplus_sequences(root):
    """Index the official CK+ release layout.

    Parameters
    ----------
    root : str or Path
        Folder holding ``cohn-kanade-images/`` and ``Emotion/`` (and optionally
        ``Landmarks/``).

    Returns
    -------
    CKPlusSequences
        Labelled sequences sorted by sequence id; frames are read on demand.

    Raises
    ------
    DataError
        Missing ``cohn-kanade-images/``, a sequence folder without frames, frame
        files that do not follow ``S###_###_########.png`` or belong to another
        folder, an emotion file that is malformed, holds an unknown code, has no
        matching sequence or is not named after a frame of it, or a landmarks
        folder that lacks a frame's file.
    """
    root = Path(root)
    images_dir = root / "cohn-kanade-images"
    if not images_dir.is_dir():
        raise DataError(f"{images_dir}: no such folder (expected the official CK+ layout, see data/README.md)")
    emotion_dir, landmarks_dir = root / "Emotion", root / "Landmarks"
    notes = []
    if not emotion_dir.is_dir():
        notes.append(f"{emotion_dir} missing: every sequence is unlabelled")
    labelled, unlabelled = [], []
    seen = set()
    seq_dirs = sorted(p for p in images_dir.glob("S*/*") if p.is_dir())
    if not seq_dirs:
        raise DataError(f"{images_dir}: empty folder (expected S###/###/ sequence folders)")
    ignored = 0
    for seq_dir in seq_dirs:
        subject, number = seq_dir.parent.name, seq_dir.name
        sequence_id = f"{subject}_{number}"
        frames = []
        for file in sorted(seq_dir.iterdir()):
            match = FRAME_NAME.match(file.name)
            if match is None:
                ignored += 1  # e.g. .DS_Store in some copies of the release; counted in notes
                continue
            if f"{match[1]}_{match[2]}" != sequence_id:
                raise DataError(f"{file}: frame of {match[1]}_{match[2]} inside the folder of {sequence_id}")
            frames.append(file)
        if not frames:
            raise DataError(f"{seq_dir}: sequence folder holds no S###_###_########.png frames")
        seen.add(sequence_id)
        landmark_paths = None
        if (landmarks_dir / subject / number).is_dir():
            landmark_paths = tuple(
                landmarks_dir / subject / number / f"{f.stem}_landmarks.txt" for f in frames
            )
            missing = [p for p in landmark_paths if not p.is_file()]
            if missing:
                raise DataError(f"{missing[0]}: missing landmarks file ({len(missing)} missing in {sequence_id})")
        label = None
        label_files = sorted((emotion_dir / subject / number).glob("*_emotion.txt"))
        if len(label_files) > 1:
            raise DataError(f"{emotion_dir / subject / number}: {len(label_files)} emotion files, expected one")
        if label_files:
            label = read_emotion_file(label_files[0])
            apex = label_files[0].name.replace("_emotion.txt", ".png")
            if apex not in {f.name for f in frames}:
                raise DataError(f"{label_files[0]}: names frame {apex}, which {seq_dir} does not hold")
            if apex != frames[-1].name:
                notes.append(f"{sequence_id}: emotion file names {apex}, not the last frame {frames[-1].name}")
        seq = CKPlusSequence(subject, sequence_id, label, tuple(frames), landmark_paths)
        (labelled if label is not None else unlabelled).append(seq)
    if emotion_dir.is_dir():
        for label_file in sorted(emotion_dir.glob("S*/*/*_emotion.txt")):
            sid = f"{label_file.parent.parent.name}_{label_file.parent.name}"
            if sid not in seen:
                raise DataError(f"{label_file}: emotion file for {sid}, which has no frames in {images_dir}")
    if ignored:
        notes.append(f"{ignored} non-frame files ignored in {images_dir}")
    return CKPlusSequences(tuple(labelled), tuple(unlabelled), str(root), tuple(notes))


@dataclass(frozen=True)
class CKPlus48Data:
    """CK+48 grouped into 3-frame clips, one per labelled sequence.

    Attributes
    ----------
    clips : ndarray of shape (n_clips, 3, 48, 48), uint8
        Frames in temporal order; the last one is the apex.
    labels : ndarray of shape (n_clips,), int64
        Indices into :data:`~fer_lib.data.constants.CKPLUS_CLASSES`.
    subjects : ndarray of shape (n_clips,), object
        Subject ids (``S###``): split by these, never by frame or clip.
    sequence_ids : ndarray of shape (n_clips,), object
    frame_numbers : ndarray of shape (n_clips, 3), int64
    excluded : DataFrame
        Clips that could not be used (columns ``sequence_id, label, n_frames, reason``).
    """

    clips: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    sequence_ids: np.ndarray
    frame_numbers: np.ndarray
    excluded: pd.DataFrame
    root: str
    class_names: tuple = CKPLUS_CLASSES

    def __len__(self):
        return len(self.labels)

    def table(self):
        """One row per clip: subject, sequence_id, label name."""
        return pd.DataFrame(
            {
                "subject": self.subjects,
                "sequence_id": self.sequence_ids,
                "label": [self.class_names[i] for i in self.labels],
            }
        )


def find_ckplus48(data_dir):
    """Return ``<data_dir>/ckplus/CK+48`` or raise :class:`DataError`."""
    path = Path(data_dir) / "ckplus" / "CK+48"
    if not path.is_dir():
        raise DataError(f"CK+48 not found at {path}. See data/README.md for where to put it.")
    return path


def find_ckplus_sequences(data_dir):
    """Return ``<data_dir>/ckplus/sequences`` (official layout) or raise :class:`DataError`."""
    path = Path(data_dir) / "ckplus" / "sequences"
    if not (path / "cohn-kanade-images").is_dir():
        raise DataError(
            f"CK+ sequences not found at {path}/cohn-kanade-images. See data/README.md for where to put them."
        )
    return path


def load_ckplus48(root, frames_per_clip=CKPLUS48_FRAMES_PER_CLIP):
    """Load CK+48 and group its frames into clips per sequence.

    Parameters
    ----------
    root : str or Path
        The ``CK+48`` folder (``<emotion>/S###_###_########.png``), or a folder
        holding ``CK+48/`` or ``ckplus/CK+48/``.
    frames_per_clip : int, default=3
        Frames expected per sequence. A sequence with another count is not used
        and is listed in :attr:`CKPlus48Data.excluded` with the reason.

    Returns
    -------
    CKPlus48Data

    Raises
    ------
    DataError
        Missing or empty folder, an unknown emotion folder, a file not named
        ``S###_###_########.png``, an unreadable or non-48x48 image, or one
        sequence whose frames sit in two emotion folders.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder")
    for inner in (root / "ckplus" / "CK+48", root / "CK+48"):
        if inner.is_dir():
            root = inner
            break
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if not class_dirs:
        raise DataError(f"{root}: empty folder (expected one folder per emotion: {list(CKPLUS_CLASSES)})")
    by_sequence = {}
    for class_dir in class_dirs:
        if class_dir.name not in CKPLUS_CLASSES:
            raise DataError(f"{class_dir}: unknown label folder {class_dir.name!r}; allowed {list(CKPLUS_CLASSES)}")
        files = sorted(class_dir.iterdir())
        if not files:
            raise DataError(f"{class_dir}: empty folder")
        for file in files:
            match = FRAME_NAME.match(file.name)
            if match is None:
                raise DataError(f"{file}: not a CK+48 frame name (expected S###_###_########.png)")
            sid = f"{match[1]}_{match[2]}"
            entry = by_sequence.setdefault(sid, {"label": class_dir.name, "subject": match[1], "frames": []})
            if entry["label"] != class_dir.name:
                raise DataError(f"{file}: sequence {sid} also has frames under {entry['label']!r}")
            entry["frames"].append((int(match[3]), _read_gray(file, (CKPLUS48_SIZE, CKPLUS48_SIZE))))
    clips, labels, subjects, sids, numbers, excluded = [], [], [], [], [], []
    for sid in sorted(by_sequence):
        entry = by_sequence[sid]
        frames = sorted(entry["frames"])
        if len(frames) != frames_per_clip:
            excluded.append(
                {
                    "sequence_id": sid,
                    "label": entry["label"],
                    "n_frames": len(frames),
                    "reason": f"{len(frames)} frames, expected {frames_per_clip}",
                }
            )
            continue
        clips.append(np.stack([image for _, image in frames]))
        labels.append(CKPLUS_CLASSES.index(entry["label"]))
        subjects.append(entry["subject"])
        sids.append(sid)
        numbers.append([n for n, _ in frames])
    if not clips:
        raise DataError(f"{root}: no complete {frames_per_clip}-frame clips")
    return CKPlus48Data(
        clips=np.stack(clips),
        labels=np.array(labels, dtype=np.int64),
        subjects=np.array(subjects, dtype=object),
        sequence_ids=np.array(sids, dtype=object),
        frame_numbers=np.array(numbers, dtype=np.int64),
        excluded=pd.DataFrame(excluded, columns=["sequence_id", "label", "n_frames", "reason"]),
        root=str(root),
    )


#: CK+ protocols: all 7 classes, or the 6 basic emotions (contempt removed).
CKPLUS_PROTOCOLS = ("7class", "6class")



def protocol_subset(labels, protocol, class_names=CKPLUS_CLASSES):
    """Select the samples and re-index the labels of a CK+ protocol.

    Parameters
    ----------
    labels : ndarray of shape (n,)
        Indices into ``class_names``.
    protocol : {"7class", "6class"}
        ``"6class"`` drops contempt.
    class_names : sequence of str

    Returns
    -------
    mask : ndarray of shape (n,), bool
        Samples kept.
    labels : ndarray of shape (n_kept,), int64
        Labels re-indexed into the protocol's classes.
    class_names : tuple of str
    """
    check_option("protocol", protocol, CKPLUS_PROTOCOLS)
    labels = np.asarray(labels)
    names = tuple(class_names)
    kept = names if protocol == "7class" else tuple(c for c in names if c != "contempt")
    lookup = np.array([kept.index(c) if c in kept else -1 for c in names])
    new = lookup[labels]
    mask = new >= 0
    return mask, new[mask].astype(np.int64), kept


# --------------------------------------------------------------------------- landmark sequences


def find_ckplus_landmarks(data_dir):
    """Return the CK+ folder that holds ``Landmarks/`` (and ``Emotion/``).

    Order: ``<data_dir>/ckplus/landmarks`` (the landmarks-only release: every
    frame of all 593 sequences) first, then ``<data_dir>/ckplus/sequences``
    (the official image release, which has ``Landmarks/`` when it is the full
    release or the synthetic default). The landmarks-only folder wins because
    it is complete where an image folder may hold only some sequences, and
    holds the same files where both have a sequence.

    Parameters
    ----------
    data_dir : str or Path

    Returns
    -------
    Path
        The first of the two folders that has a ``Landmarks/`` folder.

    Raises
    ------
    DataError
        If neither folder has ``Landmarks/``.
    """
    candidates = [Path(data_dir) / "ckplus" / name for name in ("landmarks", "sequences")]
    for path in candidates:
        if (path / "Landmarks").is_dir():
            return path
    raise DataError(
        "CK+ landmarks not found: neither " + " nor ".join(str(p / "Landmarks") for p in candidates)
        + " exists. See data/README.md for where to put the official Landmarks/ and Emotion/ folders."
    )


@dataclass(frozen=True, eq=False)
class CKPlusLandmarkSequences:
    """68-point landmarks of every frame of CK+ sequences (:func:`load_ckplus_landmark_sequences`).

    Attributes
    ----------
    points : tuple of ndarray, each of shape (T_i, 68, 2), float32
        ``(x, y)`` pixel coordinates (iBUG 68-point order) of every frame of
        sequence ``i``, from neutral onset (frame 1) to apex (frame ``T_i``).
    sequence_ids : ndarray of shape (n,), object
        ``"S###_###"``, sorted.
    subjects : ndarray of shape (n,), object
        ``"S###"``: split by these, never by sequence or frame.
    labels : ndarray of shape (n,), int64
        Indices into ``class_names``; -1 for an unlabelled sequence (only with
        ``labelled_only=False``).
    root : str
        The folder read.
    notes : tuple of str
        Anything unusual that was found and how it was handled (files
        ignored, sequences left out), so that nothing is dropped silently.
    class_names : tuple of str, default :data:`~fer_lib.data.constants.CKPLUS_CLASSES`
    """

    points: tuple
    sequence_ids: np.ndarray
    subjects: np.ndarray
    labels: np.ndarray
    root: str
    notes: tuple = field(default_factory=tuple)
    class_names: tuple = CKPLUS_CLASSES

    def __len__(self):
        return len(self.points)

    @property
    def n_frames(self):
        """ndarray of shape (n,), int64: frames per sequence."""
        return np.array([len(p) for p in self.points], dtype=np.int64)

    @property
    def label_names(self):
        """tuple of str or None, length n: class name per sequence (None when unlabelled)."""
        return tuple(self.class_names[i] if i >= 0 else None for i in self.labels)

    @property
    def labelled(self):
        """ndarray of shape (n,), bool: sequences with a label."""
        return self.labels >= 0

    def table(self):
        """One row per sequence: subject, sequence_id, label (name or None), n_frames."""
        return pd.DataFrame(
            {
                "subject": self.subjects,
                "sequence_id": self.sequence_ids,
                "label": list(self.label_names),
                "n_frames": self.n_frames,
            },
            columns=["subject", "sequence_id", "label", "n_frames"],
        )


def _scan_landmark_sequences(landmarks_dir):
    """``({sequence_id: (seq_dir, [(frame number, path), ...])}, n ignored entries)``; names and gaps checked."""
    found, ignored = {}, 0
    subject_dirs = sorted((e for e in os.scandir(landmarks_dir) if e.is_dir()), key=lambda e: e.name)
    ignored += sum(1 for e in os.scandir(landmarks_dir) if not e.is_dir())
    for subject_entry in subject_dirs:
        entries = sorted(os.scandir(subject_entry.path), key=lambda e: e.name)
        ignored += sum(1 for e in entries if not e.is_dir())
        for seq_entry in (e for e in entries if e.is_dir()):
            seq_dir = Path(seq_entry.path)
            sequence_id = f"{subject_entry.name}_{seq_entry.name}"
            frames = []
            for file in sorted(os.scandir(seq_dir), key=lambda e: e.name):
                match = LANDMARKS_NAME.match(file.name)
                if match is None or not file.is_file():
                    ignored += 1  # e.g. .DS_Store; counted in notes
                    continue
                if f"{match[1]}_{match[2]}" != sequence_id:
                    raise DataError(
                        f"{seq_dir / file.name}: landmarks of {match[1]}_{match[2]} inside the folder of {sequence_id}"
                    )
                frames.append((int(match[3]), seq_dir / file.name))
            if not frames:
                raise DataError(f"{seq_dir}: sequence folder holds no S###_###_########_landmarks.txt files")
            numbers = [n for n, _ in frames]
            for k, (number, path) in enumerate(frames, start=1):
                if number != k:
                    missing = sorted(set(range(1, numbers[-1] + 1)) - set(numbers))
                    shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
                    where = f"follows frame {k - 1}" if k > 1 else "is the first"
                    raise DataError(
                        f"{path}: frame {number} of {sequence_id} {where}: frames must be numbered "
                        f"1, 2, ... without gaps (missing {len(missing)}: {shown})"
                    )
            found[sequence_id] = (seq_dir, [p for _, p in frames])
    return found, ignored


def _read_sequence_labels(emotion_dir, found):
    """``({sequence_id: class name}, notes)`` from ``Emotion/``; every file checked against ``found``."""
    labels, notes = {}, []
    by_sequence = {}
    for file in sorted(emotion_dir.glob("*/*/*_emotion.txt")):
        by_sequence.setdefault(f"{file.parent.parent.name}_{file.parent.name}", []).append(file)
    for sequence_id, files in by_sequence.items():
        if len(files) > 1:
            raise DataError(f"{files[0].parent}: {len(files)} emotion files, expected one")
        file = files[0]
        match = EMOTION_NAME.match(file.name)
        if match is None or f"{match[1]}_{match[2]}" != sequence_id:
            raise DataError(f"{file}: not an emotion file of {sequence_id} (expected {sequence_id}_########_emotion.txt)")
        if sequence_id not in found:
            raise DataError(f"{file}: emotion file for {sequence_id}, which has no landmarks folder")
        labels[sequence_id] = read_emotion_file(file)
        frame_paths = found[sequence_id][1]
        apex = file.name.replace("_emotion.txt", "_landmarks.txt")
        if apex not in {p.name for p in frame_paths}:
            raise DataError(f"{file}: names frame {match[3]}, which {found[sequence_id][0]} does not hold")
        if apex != frame_paths[-1].name:
            notes.append(f"{sequence_id}: emotion file names {apex}, not the last frame {frame_paths[-1].name}")
    return labels, notes


def _parse_landmark_files(paths, progress):
    """Read ``paths`` and return one float64 array of shape (len(paths), 68, 2); errors name the file."""
    n_values = 2 * CKPLUS_N_LANDMARKS
    texts = []
    iterator = paths
    if progress:  # imported only when wanted (tqdm.auto warns in notebooks without ipywidgets)
        from tqdm.auto import tqdm

        iterator = tqdm(paths, desc="CK+ landmarks", unit="file")
    for path in iterator:
        with open(path, "rb") as fh:
            text = fh.read()
        if len(text.split()) != n_values:
            read_landmarks_file(path)  # raises the message that says what is wrong
            raise DataError(f"{path}: expected {CKPLUS_N_LANDMARKS} rows of x y")
        texts.append(text)
    if not texts:
        return np.zeros((0, CKPLUS_N_LANDMARKS, 2))
    # One C-level parse of all files (rows never span files: each ends with a newline); 136 values per
    # file and 2 columns per row mean 68 rows of x y per file.
    try:
        values = np.loadtxt(io.BytesIO(b"\n".join(texts)), dtype=np.float64, ndmin=2, comments=None)
    except ValueError:
        values = None
    if values is None or values.shape != (len(texts) * CKPLUS_N_LANDMARKS, 2):
        for path in paths:  # slow path, only to name the file
            read_landmarks_file(path)
        raise DataError(f"{paths[0].parent.parent.parent}: landmark files could not be parsed together")
    values = values.reshape(len(texts), CKPLUS_N_LANDMARKS, 2)
    bad = ~np.isfinite(values).all(axis=(1, 2))
    if bad.any():
        raise DataError(f"{paths[int(np.argmax(bad))]}: landmarks hold non-finite values (nan or inf)")
    return values


def load_ckplus_landmark_sequences(root, labelled_only=True, progress=True):
    """Load the 68-point landmarks of every frame of CK+ sequences.

    Parameters
    ----------
    root : str or Path
        Folder holding ``Landmarks/S###/###/S###_###_########_landmarks.txt``
        and ``Emotion/S###/###/S###_###_########_emotion.txt``
        (:func:`find_ckplus_landmarks`): the landmarks-only release, the
        official image release or the synthetic default.
    labelled_only : bool, default=True
        Keep only the sequences with an emotion file. The others are still
        checked (names, frame numbering) but not read, and their number is
        in ``notes``. With False they are kept with label -1.
    progress : bool, default=True
        Show a tqdm bar over the landmark files.

    Returns
    -------
    CKPlusLandmarkSequences
        Sorted by sequence id; points of shape (T_i, 68, 2), float32.

    Raises
    ------
    DataError
        Missing ``Landmarks/`` (or ``Emotion/`` with ``labelled_only``); a
        sequence folder without landmark files, or whose files belong to
        another sequence or are not numbered 1, 2, ... without gaps; a
        landmarks file without exactly 68 rows of ``x y`` numbers, or with
        non-finite values; an emotion file that is malformed, holds an unknown
        code, has no landmark sequence, is not named after one of its frames,
        or is one of several in a folder; no labelled sequence with
        ``labelled_only``. Each message names the file or folder.
    """
    root = Path(root)
    landmarks_dir, emotion_dir = root / "Landmarks", root / "Emotion"
    if not landmarks_dir.is_dir():
        raise DataError(f"{landmarks_dir}: no such folder (expected the official CK+ layout, see data/README.md)")
    notes = []
    found, ignored = _scan_landmark_sequences(landmarks_dir)
    if not found:
        raise DataError(f"{landmarks_dir}: empty folder (expected S###/###/ sequence folders)")
    if emotion_dir.is_dir():
        labels, label_notes = _read_sequence_labels(emotion_dir, found)
        notes.extend(label_notes)
    elif labelled_only:
        raise DataError(f"{emotion_dir}: no such folder, so no sequence is labelled (use labelled_only=False)")
    else:
        labels = {}
        notes.append(f"{emotion_dir} missing: every sequence is unlabelled")
    kept = sorted(sid for sid in found if sid in labels or not labelled_only)
    if not kept:
        raise DataError(f"{emotion_dir}: no emotion file, so no labelled sequence in {landmarks_dir}")
    if labelled_only and len(kept) < len(found):
        notes.append(f"{len(found) - len(kept)} unlabelled sequences left out (labelled_only=True)")
    if ignored:
        notes.append(f"{ignored} entries that are not landmark files ignored in {landmarks_dir}")
    paths = [p for sid in kept for p in found[sid][1]]
    values = _parse_landmark_files(paths, progress).astype(np.float32)
    bounds = np.cumsum([0] + [len(found[sid][1]) for sid in kept])
    return CKPlusLandmarkSequences(
        points=tuple(values[a:b] for a, b in zip(bounds[:-1], bounds[1:])),
        sequence_ids=np.array(kept, dtype=object),
        subjects=np.array([sid.split("_")[0] for sid in kept], dtype=object),
        labels=np.array([CKPLUS_CLASSES.index(labels[s]) if s in labels else -1 for s in kept], dtype=np.int64),
        root=str(root),
        notes=tuple(notes),
    )


def _list_ids(ids, limit=10):
    ids = sorted(ids)
    return ", ".join(ids[:limit]) + (f", ... ({len(ids)} in all)" if len(ids) > limit else "")


def join_ckplus48(sequences, ck48):
    """Match CK+48's clips to the labelled landmark sequences, by sequence id.

    CK+48 holds the last three frames of each labelled CK+ sequence, so both
    must hold the same labelled sequence ids, with the same labels.

    Parameters
    ----------
    sequences : CKPlusLandmarkSequences
        From :func:`load_ckplus_landmark_sequences`.
    ck48 : CKPlus48Data or sequence of str
        From :func:`load_ckplus48` (ids, labels and frame numbers are
        checked), or just CK+48's sequence ids (ids only).

    Returns
    -------
    ndarray of shape (n_clips,), int64
        For each CK+48 clip ``i`` (in CK+48's order), the index ``j`` of its
        sequence: ``ck48.clips[i]`` shows the last frames of
        ``sequences.points[j]``.

    Raises
    ------
    DataError
        If the labelled ids differ (both differences are listed), CK+48 repeats
        an id, a label differs, or CK+48's frame numbers are not the last
        frames of the landmark sequence.
    """
    ck_ids = [str(s) for s in getattr(ck48, "sequence_ids", ck48)]
    if len(set(ck_ids)) != len(ck_ids):
        repeated = {s for s in ck_ids if ck_ids.count(s) > 1}
        raise DataError(f"CK+48 repeats sequence ids: {_list_ids(repeated)}")
    position = {str(s): j for j, s in enumerate(sequences.sequence_ids)}
    lm_ids = {str(s) for s, lab in zip(sequences.sequence_ids, sequences.labels) if lab >= 0}
    only_ck, only_lm = set(ck_ids) - lm_ids, lm_ids - set(ck_ids)
    if only_ck or only_lm:
        raise DataError(
            f"CK+48 and the labelled landmark sequences of {sequences.root} differ: {len(ck_ids)} vs {len(lm_ids)} "
            f"ids; only in CK+48: {_list_ids(only_ck) or 'none'}; only in the landmarks: {_list_ids(only_lm) or 'none'}"
        )
    index = np.array([position[s] for s in ck_ids], dtype=np.int64)
    if hasattr(ck48, "labels"):
        ck_names = [ck48.class_names[i] for i in ck48.labels]
        lm_names = [sequences.class_names[sequences.labels[j]] for j in index]
        wrong = [f"{s} ({a} vs {b})" for s, a, b in zip(ck_ids, ck_names, lm_names) if a != b]
        if wrong:
            raise DataError(f"CK+48 and {sequences.root} disagree on {len(wrong)} labels: {_list_ids(wrong)}")
    if getattr(ck48, "frame_numbers", None) is not None:
        n = np.asarray(ck48.frame_numbers)
        wrong = []
        for s, j, numbers in zip(ck_ids, index, n):
            last = np.arange(len(sequences.points[j]) - len(numbers) + 1, len(sequences.points[j]) + 1)
            if not np.array_equal(numbers, last):
                wrong.append(f"{s} (CK+48 frames {numbers.tolist()}, last frames {last.tolist()})")
        if wrong:
            raise DataError(
                f"CK+48's frames are not the last frames of {len(wrong)} landmark sequences: {_list_ids(wrong, 5)}"
            )
    return index
