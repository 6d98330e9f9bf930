"""The classifier of ``fer-video``: a checkpoint, the face preprocessing it was trained with, and batched prediction.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from fer_lib.core.errors import DataError
from fer_lib.core.validation import check_fraction, check_option

#: Intensity normalisations of the aligned crop that keep uint8 pixels (see
#: :func:`fer_lib.faces.alignment.normalize`); the model's own normalisation comes after.
FACE_INTENSITIES = ("none", "histeq", "clahe")


#: Keys of the face preprocessing record (see :func:`face_preprocessing_text`).
FACE_PREPROCESSING_KEYS = ("template", "size", "color", "margin", "intensity")


_DEFAULT_PREPROCESSING = MappingProxyType(
    {"template": "fer2013", "color": "gray", "margin": 0.0, "intensity": "none"}
)


_TOKEN = re.compile(r"\b(template|size|color|margin|intensity)\s*=\s*([A-Za-z0-9_.+-]+)")


def face_preprocessing_text(size=48, template="fer2013", margin=0.0, intensity="none", color="gray"):
    """The face preprocessing description to store in a checkpoint.

    Pass it as ``train_model(..., preprocessing=face_preprocessing_text(...))``
    when training on faces aligned with :func:`fer_lib.faces.alignment.align_face`
    (or on FER-2013's own crops, which the ``"fer2013"`` template reproduces),
    so that :func:`load_video_model` aligns video faces the same way and
    refuses a checkpoint whose record contradicts its input shape.

    Parameters
    ----------
    size : int, default 48
        Crop side (one of :data:`fer_lib.faces.alignment.ALIGN_SIZES`).
    template : {"fer2013", "arcface"}, default "fer2013"
    margin : float, default 0.0
    intensity : {"none", "histeq", "clahe"}, default "none"
        Intensity normalisation of the uint8 crop (:data:`FACE_INTENSITIES`).
    color : {"gray"}, default "gray"
        The models take one channel.

    Returns
    -------
    str
        E.g. ``"aligned faces (fer_lib.faces.alignment.align_face): template=fer2013
        size=48 color=gray margin=0 intensity=none"``.
    """
    rec = _check_face_preprocessing(
        {"size": size, "template": template, "margin": margin, "intensity": intensity, "color": color}, "arguments"
    )
    return (
        f"aligned faces (fer_lib.faces.alignment.align_face): template={rec['template']} size={rec['size']} "
        f"color={rec['color']} margin={rec['margin']:g} intensity={rec['intensity']}"
    )


def _check_face_preprocessing(rec, where):
    from fer_lib.faces.alignment import ALIGN_SIZES, TEMPLATES

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
            "preprocessing=fer_lib.video.model.face_preprocessing_text(...) to record it.",
            stacklevel=2,
        )
    return VideoModel(
        model=model, metadata=meta, path=path, device=dev, class_names=tuple(str(c) for c in names),
        mode="window" if is_seq else "spatial", window=int(shape[0]) if is_seq else 1, preprocessing=prep,
    )
