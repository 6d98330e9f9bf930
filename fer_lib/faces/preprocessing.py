"""The face preprocessing a model was trained with, as one record that checkpoints carry.

A model trained on aligned face crops only works on faces aligned the same
way. :class:`FacePreprocessing` is that contract: the alignment template,
crop size, colour, margin and intensity normalisation, plus a sentence on
where the crops came from. :func:`fer_lib.train.loop.train_model` stores
:meth:`FacePreprocessing.to_dict` in the checkpoint's metadata
(``face_preprocessing``), and the video command reads it back with
:meth:`FacePreprocessing.from_dict` to align video faces as in training.

The study's two records are :data:`FER2013_FACES` (FER-2013's released crops)
and :data:`CKPLUS48_FACES` (CK+48's released crops); the ``"fer2013"``
template of :mod:`fer_lib.faces.alignment` reproduces the geometry of both.
"""

from dataclasses import asdict, dataclass, fields

from fer_lib.core.validation import check_fraction, check_option

__all__ = ["CKPLUS48_FACES", "FACE_INTENSITIES", "FER2013_FACES", "FacePreprocessing"]

#: Intensity normalisations of the aligned crop that keep uint8 pixels (see
#: :func:`fer_lib.faces.alignment.normalize`); the model's own normalisation comes after.
FACE_INTENSITIES = ("none", "histeq", "clahe")

#: Colours the models take (one channel).
FACE_COLORS = ("gray",)


@dataclass(frozen=True)
class FacePreprocessing:
    """How the face crops a model was trained on were made.

    Parameters
    ----------
    template : {"fer2013", "arcface"}, default="fer2013"
        Alignment template (:data:`fer_lib.faces.alignment.TEMPLATES`).
    size : int, default=48
        Crop side (:data:`fer_lib.faces.alignment.ALIGN_SIZES`).
    color : {"gray"}, default="gray"
    margin : float in [-0.25, 1], default=0.0
    intensity : {"none", "histeq", "clahe"}, default="none"
    source : str, default=""
        Where the crops came from, for people (e.g. "FER-2013 face crops as released").

    Raises
    ------
    ValueError
        On a value outside the allowed ones (the message names the field).
    """

    template: str = "fer2013"
    size: int = 48
    color: str = "gray"
    margin: float = 0.0
    intensity: str = "none"
    source: str = ""

    def __post_init__(self):
        from fer_lib.faces.alignment import ALIGN_SIZES, TEMPLATES

        check_option("template", self.template, TEMPLATES)
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise ValueError(f"size must be an int, one of {list(ALIGN_SIZES)}; got {self.size!r}")
        check_option("size", self.size, ALIGN_SIZES)
        check_option("color", self.color, FACE_COLORS)
        object.__setattr__(self, "margin", float(check_fraction("margin", self.margin, -0.25, 1.0)))
        check_option("intensity", self.intensity, FACE_INTENSITIES)
        if not isinstance(self.source, str):
            raise ValueError(f"source must be a str; got {type(self.source).__name__}")

    def to_dict(self):
        """The record as a JSON-ready dict (what checkpoints store)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, record, where="face_preprocessing"):
        """Read a record written by :meth:`to_dict`.

        Parameters
        ----------
        record : dict
        where : str, default="face_preprocessing"
            Names the record in error messages (e.g. the checkpoint).

        Raises
        ------
        ValueError
            When ``record`` is not a dict, has unknown keys, or holds an invalid value.
        """
        known = [f.name for f in fields(cls)]
        if not isinstance(record, dict):
            raise ValueError(f"{where} must be a dict with keys from {known}; got {type(record).__name__}")
        unknown = sorted(set(record) - set(known))
        if unknown:
            raise ValueError(f"{where} has unknown keys {unknown}; known: {known}")
        try:
            return cls(**record)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None

    def alignment(self):
        """The fields that decide how a face is aligned (all but ``source``), as a dict."""
        return {k: v for k, v in self.to_dict().items() if k != "source"}

    def describe(self):
        """One line for people, e.g. ``"FER-2013 face crops as released: template fer2013, 48x48 gray, margin 0,
        intensity none"``."""
        text = (f"template {self.template}, {self.size}x{self.size} {self.color}, margin {self.margin:g}, "
                f"intensity {self.intensity}")
        return f"{self.source}: {text}" if self.source else text


#: FER-2013's crops as released (48x48 grayscale; the ``"fer2013"`` template reproduces them).
FER2013_FACES = FacePreprocessing(source="FER-2013 face crops as released (48x48 grayscale, no further alignment)")

#: CK+48's crops as released (48x48 grayscale; clips of 3 consecutive frames ending at the apex).
CKPLUS48_FACES = FacePreprocessing(
    source="CK+48 face crops as released (48x48 grayscale; clips of 3 consecutive frames ending at the apex)")
