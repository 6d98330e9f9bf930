"""The hybrid experiment of notebook 05: the seed papers' variants, their training options, the artefacts.

The models themselves are in :mod:`fer_lib.models.temporal`; the head
warm-up in :mod:`fer_lib.train.head`.
"""

from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import torch

from fer_lib.core.validation import check_option, check_positive_int
from fer_lib.models.checkpoint import atomic_torch_save

#: The seed papers' hybrid variants: model options (keyword arguments of
#: :func:`build_hybrid`) and training options (``augment``: whether the
#: variant trains with augmentation; ``fer_images``: whether static FER-2013
#: images join the training set).
HYBRID_CONFIGURATIONS = MappingProxyType(
    {
        "cnn-rnn": MappingProxyType(
            {"model": MappingProxyType({"pooling": "last", "fusion": "concat"}), "augment": False,
             "fer_images": False}
        ),
        "attention": MappingProxyType(
            {"model": MappingProxyType({"pooling": "attention", "fusion": "attention"}), "augment": False,
             "fer_images": False}
        ),
        "augment": MappingProxyType(
            {"model": MappingProxyType({"pooling": "last", "fusion": "concat"}), "augment": True,
             "fer_images": False}
        ),
        "unified": MappingProxyType(
            {"model": MappingProxyType({"pooling": "last", "fusion": "concat"}), "augment": False,
             "fer_images": True}
        ),
    }
)


#: Names of :data:`HYBRID_CONFIGURATIONS`, in the order the notebooks report them.
HYBRID_VARIANTS = tuple(HYBRID_CONFIGURATIONS)


#: Where the hybrid's CNN starts: notebook 03's FER-2013 model (when it exists), or random weights.
CNN_INITS = ("fer2013", "scratch")


#: File name of notebook 03's FER-2013 checkpoint (``fer_lib.experiments.spatial.CHECKPOINT_NAME``).
FER_CHECKPOINT = "spatial_fer2013.pt"


#: File name of notebook 05's hybrid checkpoint for the video command.
HYBRID_CHECKPOINT = "hybrid_ckplus.pt"


#: When notebook 05 trains the matched spatial control (the hybrid's CNN per
#: frame, frames averaged): ``"auto"`` when notebook 03's CK+ predictions are
#: absent, ``"always"`` or ``"never"``.
SPATIAL_CONTROLS = ("auto", "always", "never")


#: Seed paper A's claimed CK+ accuracy of its hybrid CNN-LSTM (quoted, never
#: measured here; its train/test split is not stated in a checkable form).
CLAIMED_CKPLUS_HYBRID_ACCURACY = 0.884


def hybrid_configuration(name):
    """Options of a named hybrid variant.

    Parameters
    ----------
    name : {"cnn-rnn", "attention", "augment", "unified"}

    Returns
    -------
    dict
        ``{"model": {...}, "augment": bool, "fer_images": bool}`` (a copy).
    """
    check_option("variant", name, HYBRID_VARIANTS)
    cfg = HYBRID_CONFIGURATIONS[name]
    return {"model": dict(cfg["model"]), "augment": bool(cfg["augment"]), "fer_images": bool(cfg["fer_images"])}


def variant_config(config, variant, augment_preset="light"):
    """The training recipe of a hybrid variant.

    Only variants with ``augment`` (:data:`HYBRID_CONFIGURATIONS`) train with
    augmentation (``augment_preset``) and predict with the recipe's test-time
    augmentation; the others use neither, whatever the recipe says.

    Parameters
    ----------
    config : fer_lib.train.config.TrainConfig
    variant : str
        One of :data:`HYBRID_VARIANTS`.
    augment_preset : str, default="light"
        A key of :data:`fer_lib.train.augment.AUGMENT_PRESETS`.

    Returns
    -------
    fer_lib.train.config.TrainConfig
    """
    from dataclasses import replace

    from fer_lib.train.augment import AUGMENT_PRESETS

    check_option("augment_preset", augment_preset, tuple(AUGMENT_PRESETS))
    if hybrid_configuration(variant)["augment"]:
        return replace(config, augment=augment_preset)
    return replace(config, augment="none", tta="none")


def export_checkpoint(source, destination, **metadata):
    """Copy a ``train_model`` checkpoint, adding metadata (what data it saw, T, ...).

    Parameters
    ----------
    source : str or path-like
        ``best.pt`` written by :func:`fer_lib.train.loop.train_model`.
    destination : str or path-like
        Where to write the copy (e.g. ``<artefacts>/hybrid_ckplus.pt``).
    **metadata
        JSON-compatible values added to the checkpoint's metadata (existing
        keys of :data:`fer_lib.models.checkpoint.CHECKPOINT_KEYS` cannot be replaced).

    Returns
    -------
    pathlib.Path
        ``destination``; :func:`fer_lib.models.checkpoint.load_checkpoint` reads it.
    """
    from fer_lib.models.checkpoint import CHECKPOINT_KEYS

    clash = sorted(set(metadata) & set(CHECKPOINT_KEYS))
    if clash:
        raise ValueError(f"metadata must not replace the checkpoint keys {list(CHECKPOINT_KEYS)}; got {clash}")
    ckpt = torch.load(source, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or "metadata" not in ckpt:
        raise ValueError(f"{source} is not a fer_lib checkpoint (no metadata)")
    out = {"state_dict": ckpt["state_dict"], "metadata": {**ckpt["metadata"], **metadata}}
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    atomic_torch_save(out, destination)
    return destination


def training_throughput(histories, frames_per_clip, skip_first=True):
    """Training throughput of clip models, from ``train_model`` histories.

    Parameters
    ----------
    histories : DataFrame
        Rows of :data:`fer_lib.train.loop.HISTORY_COLUMNS` (e.g.
        ``FoldRunResult.histories``); ``images_per_s`` counts training
        samples, i.e. clips for clip models.
    frames_per_clip : int
        ``T``.
    skip_first : bool, default=True
        Leave out each run's first epoch (warm-up) when a run has more than one.

    Returns
    -------
    dict
        ``clips_per_s`` and ``frames_per_s`` (medians over epochs),
        ``epochs`` (number of epochs counted), ``seconds_per_epoch`` (median,
        training plus validation).
    """
    frames_per_clip = check_positive_int("frames_per_clip", frames_per_clip)
    h = pd.DataFrame(histories)
    if h.empty:
        raise ValueError("histories is empty")
    if skip_first and "epoch" in h and (h["epoch"] > 1).any():
        h = h[h["epoch"] > 1]
    clips = float(np.median(h["images_per_s"]))
    return {"clips_per_s": clips, "frames_per_s": clips * frames_per_clip, "epochs": int(len(h)),
            "seconds_per_epoch": float(np.median(h["seconds"]))}
