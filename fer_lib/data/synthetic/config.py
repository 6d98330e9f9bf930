"""The generator's name and version, its random streams, and :class:`SyntheticConfig`.

Determinism
-----------
Every item (a FER image, a CK+ subject, a sequence) draws from its own
``numpy.random.default_rng([seed, tag, ...indices])``, so the output for a seed
is byte-identical between runs and does not depend on generation order;
adding images (a larger ``fer_per_class_train``) leaves the existing ones
unchanged.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from fer_lib.core.validation import check_fraction, check_positive_int

#: Written into ``manifest.json``; only data sets carrying it may be overwritten.
GENERATOR_NAME = "fer_lib.synthetic"  # an id in manifests, fixed: data sets outlive module moves
#: Bump when the drawing changes, so that :func:`ensure_synthetic_dataset` regenerates.
GENERATOR_VERSION = "1.1.0"

# Tags of the per-item random streams (never reuse a tag for another purpose).
TAG_FER_IMAGE = 1
TAG_FER_IDENTITY = 2
TAG_CK_IDENTITY = 3
TAG_CK_SEQUENCE = 4
TAG_FER_ORDER = 5
TAG_CK_UNLABELLED = 6
TAG_CK_ORDER = 7


@dataclass(frozen=True)
class SyntheticConfig:
    """Sizes, seed and nuisance strengths of the synthetic data set.

    The defaults make a data set (about 2,000 FER-2013 images and 126 CK+
    sequences, 2,600 frames) that generates in about 20 s of CPU time on one
    core.

    Parameters
    ----------
    seed : int, default=0
        Seed of every random stream (non-negative).
    fer_per_class_train, fer_per_class_public, fer_per_class_private : int
        Base number of FER-2013 images per class in the Training, PublicTest
        and PrivateTest splits, multiplied by :data:`FER2013_CLASS_WEIGHTS`
        (disgust gets about a sixth, happy 1.75 times).
    fer_identities : int, default=300
        Size of the identity pool the FER-2013 images draw from.
    fer_intensity_min, fer_intensity_max : float, default=0.6, 1.3
        Range of the expression intensity of the (static) FER-2013 images.
    fer_occlusion_prob : float, default=0.15
        Fraction of FER-2013 images with a partial occlusion (bar or patch).
        CK+ (posed, in a lab) has none.
    ck_subjects : int, default=40
        Number of CK+ subjects (ids S501, S502, ...; at most 499).
    ck_sequences_per_subject : int, default=3
        Labelled sequences per subject, of different classes when <= 7.
    ck_unlabelled_fraction : float, default=0.05
        Extra sequences without an Emotion file, as a fraction of the labelled
        ones, rounded up (at least 1 unless the fraction is 0).
    ck_min_frames, ck_max_frames : int, default=8, 32
        Range of sequence lengths (inclusive). At least 7, so that the last
        three frames of a fear sequence lie after its overshoot.
    ck_canvas : tuple of int, default=(144, 192)
        ``(height, width)`` of the CK+ frames (the real ones are 490 x 640).
    ck_apex_jitter : float, default=0.2
        Apex amplitude of a sequence ``~ U(1 - j, 1 + j)``.
    pose_strength : float, default=1.0
        Multiplier of the pose nuisance (in-plane rotation, yaw, scale and
        shift jitter, head motion within a sequence); 0 = frontal, centred.
    illumination_strength : float, default=1.0
        Multiplier of the illumination gradient and brightness/contrast jitter.
    noise_strength : float, default=1.0
        Multiplier of the gaussian pixel noise and blur.
    """

    seed: int = 0
    fer_per_class_train: int = 200
    fer_per_class_public: int = 40
    fer_per_class_private: int = 40
    fer_identities: int = 300
    fer_intensity_min: float = 0.6
    fer_intensity_max: float = 1.3
    fer_occlusion_prob: float = 0.15
    ck_subjects: int = 40
    ck_sequences_per_subject: int = 3
    ck_unlabelled_fraction: float = 0.05
    ck_min_frames: int = 8
    ck_max_frames: int = 32
    ck_canvas: tuple = (144, 192)
    ck_apex_jitter: float = 0.2
    pose_strength: float = 1.0
    illumination_strength: float = 1.0
    noise_strength: float = 1.0

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("seed", check_positive_int("seed", self.seed, minimum=0))
        for name in ("fer_per_class_train", "fer_per_class_public", "fer_per_class_private", "fer_identities"):
            put(name, check_positive_int(name, getattr(self, name), minimum=1))
        put("fer_intensity_min", check_fraction("fer_intensity_min", self.fer_intensity_min, 0.0, 2.0))
        put("fer_intensity_max", check_fraction("fer_intensity_max", self.fer_intensity_max, 0.0, 2.0))
        if self.fer_intensity_max < self.fer_intensity_min:
            raise ValueError(
                "fer_intensity_max must be >= fer_intensity_min; "
                f"got fer_intensity_min={self.fer_intensity_min!r}, fer_intensity_max={self.fer_intensity_max!r}"
            )
        put("fer_occlusion_prob", check_fraction("fer_occlusion_prob", self.fer_occlusion_prob, 0.0, 1.0))
        put("ck_subjects", check_positive_int("ck_subjects", self.ck_subjects, minimum=1))
        if self.ck_subjects > 499:
            raise ValueError(f"ck_subjects must be an integer in [1, 499] (ids S501..S999); got {self.ck_subjects!r}")
        n_seq = check_positive_int("ck_sequences_per_subject", self.ck_sequences_per_subject, minimum=1)
        if n_seq > 99:
            raise ValueError(f"ck_sequences_per_subject must be an integer in [1, 99]; got {n_seq!r}")
        put("ck_sequences_per_subject", n_seq)
        put(
            "ck_unlabelled_fraction",
            check_fraction("ck_unlabelled_fraction", self.ck_unlabelled_fraction, 0.0, 1.0),
        )
        lo = check_positive_int("ck_min_frames", self.ck_min_frames, minimum=7)
        hi = check_positive_int("ck_max_frames", self.ck_max_frames, minimum=7)
        if hi < lo:
            raise ValueError(f"ck_max_frames must be >= ck_min_frames={lo}; got {hi!r}")
        if hi > 999:
            raise ValueError(f"ck_max_frames must be an integer in [7, 999]; got {hi!r}")
        put("ck_min_frames", lo)
        put("ck_max_frames", hi)
        canvas = self.ck_canvas
        if isinstance(canvas, (str, bytes)) or not hasattr(canvas, "__len__") or len(canvas) != 2:
            raise ValueError(f"ck_canvas must be a (height, width) pair of integers in [48, 2048]; got {canvas!r}")
        h = check_positive_int("ck_canvas", canvas[0], minimum=48)
        w = check_positive_int("ck_canvas", canvas[1], minimum=48)
        if h > 2048 or w > 2048:
            raise ValueError(f"ck_canvas must be a (height, width) pair of integers in [48, 2048]; got {canvas!r}")
        put("ck_canvas", (h, w))
        put("ck_apex_jitter", check_fraction("ck_apex_jitter", self.ck_apex_jitter, 0.0, 0.5))
        for name in ("pose_strength", "illumination_strength", "noise_strength"):
            put(name, check_fraction(name, getattr(self, name), 0.0, 3.0))

    def to_dict(self):
        """Return the config as a JSON-compatible ``dict`` (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d):
        """Build a config from a ``dict`` such as :meth:`to_dict` returns (unknown keys raise)."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"config must only have keys from {sorted(names)}; got unknown {unknown!r}")
        return cls(**d)


def as_config(config):
    """``config`` as a :class:`SyntheticConfig` (None: the default; a dict: :meth:`SyntheticConfig.from_dict`)."""
    if config is None:
        return SyntheticConfig()
    if isinstance(config, SyntheticConfig):
        return config
    if isinstance(config, dict):
        return SyntheticConfig.from_dict(config)
    raise ValueError(f"config must be a SyntheticConfig, a dict or None; got {config!r}")
