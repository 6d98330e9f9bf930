"""The classifier of ``fer-video``: a checkpoint, the face preprocessing it was trained with, and batched prediction.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from fer_lib.core.errors import DataError
from fer_lib.faces.preprocessing import FacePreprocessing

#: Keys of the face preprocessing that decide how a face is aligned
#: (:meth:`fer_lib.faces.preprocessing.FacePreprocessing.alignment`).
FACE_PREPROCESSING_KEYS = ("template", "size", "color", "margin", "intensity")


# Checkpoints written before the structured ``face_preprocessing`` record
# (e.g. the published runs up to 2026-12-08) carry the same fields only as
# ``key=value`` words in their ``upstream_preprocessing`` sentence; this reads
# those words, and nothing newer is written that way.
_LEGACY_TOKEN = re.compile(r"\b(template|size|color|margin|intensity)\s*=\s*([A-Za-z0-9_.+-]+)")


def _legacy_record(metadata, where):
    """The face preprocessing of a checkpoint that predates ``face_preprocessing``: its ``key=value`` words."""
    found = {}
    up = metadata.get("upstream_preprocessing")
    texts = [up] if isinstance(up, str) else []
    if isinstance(metadata.get("preprocessing"), str):
        texts.append(metadata["preprocessing"])
    for text in texts:
        for key, value in _LEGACY_TOKEN.findall(text):
            value = value.rstrip(".,;")
            if key in found and found[key] != value:
                raise ValueError(
                    f"{where}: its preprocessing records two values for {key} ({found[key]!r} and {value!r}); "
                    "cannot tell how its faces were aligned"
                )
            found[key] = value
    try:
        return {k: int(v) if k == "size" else float(v) if k == "margin" else v for k, v in found.items()}
    except ValueError:
        raise ValueError(f"{where}: its preprocessing records an invalid value among {found}") from None


def face_preprocessing_from_metadata(metadata, where="checkpoint"):
    """How video faces must be aligned for a checkpoint.

    Reads the checkpoint's ``face_preprocessing`` record
    (:class:`fer_lib.faces.preprocessing.FacePreprocessing`, written by
    :func:`fer_lib.train.loop.train_model`). A checkpoint without one (written
    before the record existed, or trained on arrays of unknown origin) gets
    FER-2013-like defaults with ``size`` from its ``input_shape``.

    Parameters
    ----------
    metadata : dict
        Checkpoint metadata (:func:`fer_lib.models.checkpoint.load_checkpoint`).
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
        trained on 48x48 inputs, an unknown template).
    """
    shape = metadata.get("input_shape")
    if not isinstance(shape, (list, tuple)) or len(shape) not in (2, 3):
        raise ValueError(f"{where}: metadata input_shape must be [H, W] or [T, H, W]; got {shape!r}")
    h, w = int(shape[-2]), int(shape[-1])
    record = metadata.get("face_preprocessing")
    if record is not None:
        faces = FacePreprocessing.from_dict(record, f"{where} face_preprocessing")
        recorded = FACE_PREPROCESSING_KEYS
    else:
        found = _legacy_record(metadata, where)
        try:
            faces = FacePreprocessing(**{"size": h, **found})
        except ValueError as exc:
            raise ValueError(f"{where} preprocessing: {exc}") from None
        recorded = tuple(sorted(found))
    if h != w or faces.size != h:
        raise ValueError(
            f"{where}: its face preprocessing says size={faces.size} but the model was trained on inputs of "
            f"shape {h}x{w}; the checkpoint is inconsistent and cannot be used"
        )
    return {**faces.alignment(), "recorded": sorted(recorded)}


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
        from fer_lib.faces.alignment import align_face, normalize

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
        from fer_lib.train.predict import predict

        probs = predict(self.model, X, batch_size=batch_size, device=self.device)
        if probs.shape[1] != len(self.class_names):
            raise ValueError(
                f"checkpoint '{self.path}': the model outputs {probs.shape[1]} classes but its metadata names "
                f"{len(self.class_names)}"
            )
        return probs


def check_same_preprocessing(prep, wanted, where):
    """Refuse a caller's expected face preprocessing that differs from the checkpoint's.

    Parameters
    ----------
    prep : dict
        The checkpoint's (:func:`face_preprocessing_from_metadata`).
    wanted : dict
        Some of :data:`FACE_PREPROCESSING_KEYS` with the values the caller expects.
    where : str
        Names the checkpoint in the message.
    """
    if not isinstance(wanted, dict):
        raise ValueError(f"preprocessing must be a dict with keys from {list(FACE_PREPROCESSING_KEYS)}; "
                         f"got {type(wanted).__name__}")
    unknown = sorted(set(wanted) - set(FACE_PREPROCESSING_KEYS))
    if unknown:
        raise ValueError(f"preprocessing has unknown keys {unknown}; known: {list(FACE_PREPROCESSING_KEYS)}")
    want = FacePreprocessing.from_dict({**{k: prep[k] for k in FACE_PREPROCESSING_KEYS}, **wanted},
                                       "preprocessing argument").alignment()
    diff = {k: (prep[k], want[k]) for k in wanted if prep[k] != want[k]}
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
        A ``.pt`` file written by :func:`fer_lib.train.loop.train_model`
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
    fer_lib.core.errors.DataError
        The file is not a readable PyTorch checkpoint.
    ValueError
        The checkpoint lacks the metadata needed (class names, input shape,
        normalisation, model spec), its face preprocessing is inconsistent,
        or it contradicts ``preprocessing``.
    """
    import pickle

    from fer_lib.core.device import resolve_device
    from fer_lib.models.checkpoint import load_checkpoint

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
            "by fer_lib.train.loop.train_model)"
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
        check_same_preprocessing(prep, preprocessing, where)
    if not prep["recorded"]:
        warnings.warn(
            f"{where} records no face alignment in its preprocessing; assuming template='fer2013', "
            f"size={prep['size']}, margin=0, intensity='none' (FER-2013-like crops). Train with "
            "preprocessing=fer_lib.faces.preprocessing.FacePreprocessing(...) to record it.",
            stacklevel=2,
        )
    return VideoModel(
        model=model, metadata=meta, path=path, device=dev, class_names=tuple(str(c) for c in names),
        mode="window" if is_seq else "spatial", window=int(shape[0]) if is_seq else 1, preprocessing=prep,
    )
