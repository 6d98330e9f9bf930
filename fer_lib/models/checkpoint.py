"""Checkpoints written by :func:`fer_lib.train.loop.train_model`: their keys and how a model is rebuilt from one."""

import copy
import importlib
import os
from pathlib import Path

import torch

from fer_lib.core.device import resolve_device

#: Metadata keys every checkpoint written by :func:`train_model` carries.
CHECKPOINT_KEYS = (
    "format_version",
    "model_spec",
    "class_names",
    "input_shape",
    "normalization",
    "preprocessing",
    "recipe",
    "epoch",
    "val_metrics",
)


CHECKPOINT_FORMAT_VERSION = 1


#: Factories recorded by checkpoints written before ``fer_lib`` was split into
#: subpackages, and where they live now: such checkpoints still load and resume.
FACTORY_MOVES = {
    "fer_lib.models:build_model": "fer_lib.models.cnn:build_model",
    "fer_lib.temporal:build_temporal": "fer_lib.models.temporal:build_temporal",
    "fer_lib.temporal:build_hybrid": "fer_lib.models.temporal:build_hybrid",
}


def current_model_spec(spec):
    """``spec`` (a checkpoint's ``model_spec``) with its factory at its current location (:data:`FACTORY_MOVES`)."""
    if isinstance(spec, dict) and spec.get("factory") in FACTORY_MOVES:
        return {**spec, "factory": FACTORY_MOVES[spec["factory"]]}
    return spec


def preprocessing_from_metadata(meta):
    """What :func:`fer_lib.train.predict.predict` needs from a checkpoint's metadata: normalisation, input shape, classes."""
    return {
        "normalization": dict(meta["normalization"]),
        "input_shape": list(meta["input_shape"]),
        "class_names": list(meta["class_names"]),
    }


def _resolve_factory(path):
    if not isinstance(path, str) or ":" not in path or not path.startswith("fer_lib."):
        raise ValueError(f"model_spec factory must be 'fer_lib.<module>:<function>'; got {path!r}")
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def load_checkpoint(path, device="auto"):
    """Rebuild a model from a checkpoint written by :func:`train_model`.

    Parameters
    ----------
    path : str or path-like
        ``best.pt`` (best epoch) or ``last.pt`` (latest epoch).
    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"

    Returns
    -------
    model : torch.nn.Module
        In eval mode on ``device``, with ``model.fer_preprocessing`` set so
        that :func:`fer_lib.train.predict.predict` normalises inputs as in training.
    metadata : dict
        See :data:`CHECKPOINT_KEYS` (plus ``recipe``, data sizes, versions).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file lacks the metadata needed to rebuild and preprocess.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    dev = resolve_device(device)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or not isinstance(ckpt.get("metadata"), dict):
        raise ValueError(
            f"{path} is not a fer_lib checkpoint (expected a dict with 'state_dict' and 'metadata'); "
            "checkpoints without metadata cannot be used, because their preprocessing is unknown"
        )
    meta = {**ckpt["metadata"], "model_spec": current_model_spec(ckpt["metadata"].get("model_spec"))}
    missing = [k for k in CHECKPOINT_KEYS if k not in meta]
    spec = meta.get("model_spec")
    if missing or not (isinstance(spec, dict) and "factory" in spec and "kwargs" in spec):
        raise ValueError(
            f"{path} lacks the metadata {missing or ['model_spec']} needed to rebuild the model and its "
            "preprocessing; it was not written by fer_lib.train.loop.train_model"
        )
    factory = _resolve_factory(spec["factory"])
    model = factory(**spec["kwargs"])
    model.load_state_dict(ckpt["state_dict"])
    model.model_spec = copy.deepcopy(spec)
    model.fer_preprocessing = preprocessing_from_metadata(meta)
    model.to(dev).eval()
    return model, meta


def atomic_torch_save(obj, path):
    """``torch.save`` to a temporary file, then rename: a reader never sees half a checkpoint."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
