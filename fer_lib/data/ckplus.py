"""Load CK+: the official release layout (full sequences) and the CK+48 crops (3-frame clips).

Official layout (``<root>`` is e.g. ``<data_dir>/ckplus/sequences``)::

    cohn-kanade-images/S052/004/S052_004_00000001.png ...   frames, in order
    Emotion/S052/004/S052_004_00000019_emotion.txt          one float code, named after the apex frame
    Landmarks/S052/004/S052_004_00000001_landmarks.txt      optional, 68 points per frame

CK+48 layout (``<root>`` is e.g. ``<data_dir>/ckplus``)::

    CK+48/<emotion>/S052_004_00000017.png                   last 3 frames of each labelled sequence

Sequences without an emotion file are reported in ``unlabelled``, never mixed in.
Malformed files raise :class:`~fer_lib.core.errors.DataError` naming the file.
"""

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
