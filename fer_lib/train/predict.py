"""Class probabilities of a trained model (with its recorded preprocessing and test-time augmentation), and their scores."""

from dataclasses import replace

import numpy as np
import pandas as pd
import torch

from fer_lib.core.validation import check_option, check_positive_int
from fer_lib.train.augment import (
    TTA_MODES,
    tta_views,
)
from fer_lib.train.config import TrainConfig
from fer_lib.train.data import DeviceDataset, check_images
from fer_lib.train.runtime import Runtime


@torch.no_grad()
def predict_probabilities(model, dataset, batch_size, runtime, tta="none"):
    """Probabilities of shape (n, k), float32, averaged over the TTA views (softmax mean)."""
    was_training = model.training
    model.eval()
    out = []
    try:
        for x, _ in dataset.iter_batches(batch_size, channels_last=runtime.channels_last):
            views = tta_views(x, tta)
            probs = None
            for v in views:
                if runtime.channels_last and v.dim() == 4:
                    v = v.contiguous(memory_format=torch.channels_last)
                with runtime.autocast():
                    p = torch.softmax(model(v).float(), dim=1)
                probs = p if probs is None else probs + p
            out.append(probs / views.shape[0])
    finally:
        model.train(was_training)
    return torch.cat(out)


def predict(model, X, config=None, tta=None, device=None, *, batch_size=None, preprocessing=None):
    """Class probabilities, with the model's own preprocessing and optional TTA.

    Parameters
    ----------
    model : torch.nn.Module
        A model returned by :func:`train_model` or :func:`load_checkpoint`
        (it carries ``model.fer_preprocessing``: normalisation and input shape).
    X : ndarray of shape (n, H, W) or (n, T, H, W), uint8
        Images or clips, preprocessed upstream like the training data.
    config : TrainConfig or int, optional
        A config (its ``eval_batch_size``, ``tta``, ``device``, ``amp`` and
        ``channels_last`` are used) or a batch size. Default: batch 512,
        no TTA, device "auto".
    tta : {"none", "flip", "tencrop", "shift"}, optional
        Overrides ``config.tta``. Softmax outputs are averaged over the views.
    device : {"auto", "cpu", "cuda"} or torch.device, optional
        Overrides ``config.device``; the model is moved there (and to channels-last on CUDA).
    batch_size : int, optional
        Overrides the batch size.
    preprocessing : dict, optional
        ``{"normalization": {...}, "input_shape": [...]}`` for a model without
        ``fer_preprocessing`` (e.g. ``metadata`` from :func:`load_checkpoint`).

    Returns
    -------
    ndarray of shape (n, n_classes), float32
        Probabilities (rows sum to 1).

    Raises
    ------
    ValueError
        If the model has no recorded preprocessing, or ``X`` does not have the
        input shape the model was trained on.
    """
    if isinstance(config, TrainConfig):
        cfg = config
    elif config is None:
        cfg = TrainConfig()
    else:
        cfg = replace(TrainConfig(), eval_batch_size=check_positive_int("config (batch size)", config))
    if batch_size is not None:
        cfg = replace(cfg, eval_batch_size=check_positive_int("batch_size", batch_size))
    tta = cfg.tta if tta is None else check_option("tta", tta, TTA_MODES)
    prep = preprocessing if preprocessing is not None else getattr(model, "fer_preprocessing", None)
    if prep is None:
        raise ValueError(
            "model has no recorded preprocessing (model.fer_preprocessing); use a model from train_model or "
            "load_checkpoint, or pass preprocessing=metadata from the checkpoint"
        )
    X = check_images("X", X)
    expected = list(prep["input_shape"])
    if len(expected) != X.ndim - 1 or list(X.shape[-2:]) != expected[-2:]:
        raise ValueError(
            f"X must have samples of shape {tuple(expected)} (the model's training input; T may differ for "
            f"clips); got {tuple(X.shape[1:])}. Preprocess the images as recorded in the checkpoint metadata."
        )
    runtime = Runtime.from_config(cfg, device)
    model.to(runtime.device)
    if runtime.channels_last:
        model.to(memory_format=torch.channels_last)
    ds = DeviceDataset(X, None, runtime.device, prep["normalization"])
    probs = predict_probabilities(model, ds, cfg.eval_batch_size, runtime, tta)
    return probs.cpu().numpy().astype(np.float32)


def evaluate(probs, y, class_names=None):
    """Accuracy, macro F1, per-class scores and confusion matrix.

    Parameters
    ----------
    probs : ndarray of shape (n, n_classes)
        Class probabilities (or any scores; the arg-max is the prediction).
    y : ndarray of shape (n,), int
        True labels in ``0..n_classes-1``.
    class_names : sequence of str, optional
        Names in label order (default ``"0"``, ``"1"``, ...).

    Returns
    -------
    dict
        ``accuracy`` (float), ``macro_f1`` (float), ``n`` (int),
        ``per_class`` (DataFrame indexed by class name with columns
        ``precision``, ``recall``, ``f1``, ``support``), ``confusion_matrix``
        (ndarray of shape (n_classes, n_classes), rows = true class, columns =
        predicted class) and ``class_names`` (list).
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    probs = np.asarray(probs)
    y = np.asarray(y)
    if probs.ndim != 2 or probs.shape[0] == 0:
        raise ValueError(f"probs must be an array of shape (n, n_classes) with n >= 1; got shape {probs.shape}")
    k = probs.shape[1]
    if y.shape != (probs.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be an integer array of shape ({probs.shape[0]},); got dtype {y.dtype} and shape {y.shape}")
    if y.min() < 0 or y.max() >= k:
        raise ValueError(f"y must be in 0..{k - 1} (probs has {k} columns); got {y.min()}..{y.max()}")
    names = [str(i) for i in range(k)] if class_names is None else [str(c) for c in class_names]
    if len(names) != k:
        raise ValueError(f"class_names must have {k} entries (one per column of probs); got {len(names)}")
    pred = probs.argmax(1)
    labels = np.arange(k)
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    per_class = pd.DataFrame({"precision": p, "recall": r, "f1": f, "support": s}, index=pd.Index(names, name="class"))
    return {
        "accuracy": float((pred == y).mean()),
        "macro_f1": float(np.mean(f)),
        "n": int(y.shape[0]),
        "per_class": per_class,
        "confusion_matrix": confusion_matrix(y, pred, labels=labels),
        "class_names": names,
    }
