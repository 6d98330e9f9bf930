"""The synthetic FER-2013 images: class counts, identities and rendering (:func:`make_fer_images`).

FER-2013 class imbalance
------------------------
The number of images of a class in a split is
``max(1, round(per_class * FER2013_CLASS_WEIGHTS[class]))`` where ``per_class``
is ``fer_per_class_train``, ``fer_per_class_public`` or
``fer_per_class_private``. The weights follow the real FER-2013 training set
loosely: happy 1.75, sad 1.2, neutral 1.2, angry 1.0, fear 1.0, surprise 0.8,
disgust 1/6. Every class is present in every split. FER images are apex-like
static faces at an intensity drawn from ``U(fer_intensity_min,
fer_intensity_max)``; identities are drawn from a pool of ``fer_identities``
faces shared by all splits (FER-2013 has no subject ids).
"""

from __future__ import annotations

import functools
from types import MappingProxyType

import numpy as np

from fer_lib.data.constants import FER2013_CLASSES, FER2013_SIZE, FER2013_SPLITS
from fer_lib.data.synthetic.config import TAG_FER_IDENTITY, TAG_FER_IMAGE, TAG_FER_ORDER, as_config
from fer_lib.data.synthetic.expressions import jittered_apex
from fer_lib.data.synthetic.identity import sample_identity
from fer_lib.data.synthetic.nuisance import sample_nuisance
from fer_lib.data.synthetic.render import render_face

#: Synthetic expression -> FER-2013 class name (FER-2013 has no contempt).
SYNTHETIC_TO_FER2013 = MappingProxyType(
    {
        "anger": "angry",
        "disgust": "disgust",
        "fear": "fear",
        "happy": "happy",
        "sadness": "sad",
        "surprise": "surprise",
        "neutral": "neutral",
    }
)
_FER2013_TO_SYNTHETIC = MappingProxyType({v: k for k, v in SYNTHETIC_TO_FER2013.items()})

#: Relative size of each FER-2013 class (x ``fer_per_class_*``), like the real imbalance.
FER2013_CLASS_WEIGHTS = MappingProxyType(
    {"angry": 1.0, "disgust": 1.0 / 6.0, "fear": 1.0, "happy": 1.75, "sad": 1.2, "surprise": 0.8, "neutral": 1.2}
)


@functools.lru_cache(maxsize=4096)
def _fer_identity(seed, index):
    return sample_identity(np.random.default_rng([seed, TAG_FER_IDENTITY, index]))


def fer_class_counts(config=None):
    """Number of FER-2013 images per split and class.

    Parameters
    ----------
    config : SyntheticConfig or dict, optional
        Default :class:`SyntheticConfig`.

    Returns
    -------
    dict
        ``{split: {class: n}}`` for the splits of
        :data:`~fer_lib.data.constants.FER2013_SPLITS` and the classes of
        :data:`~fer_lib.data.constants.FER2013_CLASSES`; every ``n >= 1``.
    """
    cfg = as_config(config)
    base = dict(
        zip(FER2013_SPLITS, (cfg.fer_per_class_train, cfg.fer_per_class_public, cfg.fer_per_class_private))
    )
    return {
        split: {c: max(1, int(round(base[split] * FER2013_CLASS_WEIGHTS[c]))) for c in FER2013_CLASSES}
        for split in FER2013_SPLITS
    }


def _fer_image(cfg, split_idx, class_idx, j):
    rng = np.random.default_rng([cfg.seed, TAG_FER_IMAGE, split_idx, class_idx, j])
    identity = _fer_identity(cfg.seed, int(rng.integers(cfg.fer_identities)))
    expression = _FER2013_TO_SYNTHETIC[FER2013_CLASSES[class_idx]]
    vec = jittered_apex(expression, rng)
    intensity = rng.uniform(cfg.fer_intensity_min, cfg.fer_intensity_max)
    nuis = sample_nuisance(
        rng,
        "fer2013",
        cfg.pose_strength,
        cfg.illumination_strength,
        cfg.noise_strength,
        cfg.fer_occlusion_prob,
    )
    image, _ = render_face(identity, vec, intensity, nuis, (FER2013_SIZE, FER2013_SIZE))
    return image


def _fer_plan(cfg):
    """List of (split_idx, class_idx, j) in CSV order (splits in order, shuffled within)."""
    counts = fer_class_counts(cfg)
    plan = []
    for s, split in enumerate(FER2013_SPLITS):
        items = [(s, c, j) for c, name in enumerate(FER2013_CLASSES) for j in range(counts[split][name])]
        order = np.random.default_rng([cfg.seed, TAG_FER_ORDER, s]).permutation(len(items))
        plan.extend(items[i] for i in order)
    return plan


def make_fer_images(config=None, progress=False):
    """Render the synthetic FER-2013 images.

    Parameters
    ----------
    config : SyntheticConfig or dict, optional
        Default :class:`SyntheticConfig`.
    progress : bool, default=False
        Show a tqdm progress bar.

    Returns
    -------
    images : ndarray of shape (n, 48, 48), dtype uint8
        Faces, in CSV order (Training, then PublicTest, then PrivateTest,
        shuffled within each split).
    labels : ndarray of shape (n,), dtype int64
        FER-2013 codes, indices into :data:`~fer_lib.data.constants.FER2013_CLASSES`.
    usage : ndarray of shape (n,), dtype str
        The split of each image, as in the ``Usage`` column.
    """
    cfg = as_config(config)
    from tqdm.auto import tqdm

    plan = _fer_plan(cfg)
    images = np.empty((len(plan), FER2013_SIZE, FER2013_SIZE), np.uint8)
    for k, (s, c, j) in enumerate(tqdm(plan, desc="synthetic FER-2013", unit="img", disable=not progress)):
        images[k] = _fer_image(cfg, s, c, j)
    labels = np.array([c for _, c, _ in plan], dtype=np.int64)
    usage = np.array([FER2013_SPLITS[s] for s, _, _ in plan])
    return images, labels, usage
