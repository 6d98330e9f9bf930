"""Warming up a new head on frozen CNN features, and checking those features first.

:func:`fit_head` trains everything after the CNN (a hybrid's RNN, pooling,
fusion and FC layers; a CNN's classifier) on the CNN's frame embeddings,
computed once, before joint fine-tuning; :func:`head_warmup` makes it a
``prepare`` hook of :func:`fer_lib.train.folds.run_subject_folds`.
:func:`embedding_health` says whether a CNN initialisation gives usable
embeddings (few dead or constant units) before anything is trained on them.
"""

import time

import numpy as np
import torch
from torch.nn import functional as F

from fer_lib.core.validation import check_positive_int
from fer_lib.models.temporal import HybridCNNRNN, TemporalRNN, build_frame_cnn
from fer_lib.train.data import normalization_stats

#: Share of constant embedding units above which :func:`embedding_health`
#: calls a pretrained CNN degenerate (nothing to transfer).
DEGENERATE_UNITS = 0.5


def embedding_health(cnn_init, X, normalization="standardize", tolerance=1e-6, chunk=256):
    """How many units of a pretrained CNN's embedding vary over some frames.

    A model that collapsed during pretraining (e.g. one that predicts the
    same class for every image) has an embedding whose units are constant
    (typically dead ReLUs); such weights carry nothing to transfer.

    Parameters
    ----------
    cnn_init : CNNInit
    X : ndarray of shape (n, H, W) or (n, T, H, W), uint8
        Frames of the target data (e.g. the CK+ training clips).
    normalization : {"standardize", "scale"}, default="standardize"
        As in training (statistics of ``X``).
    tolerance : float, default=1e-6
        A unit whose standard deviation over the frames is at most this is constant.
    chunk : int, default=256

    Returns
    -------
    dict
        ``n_units``, ``n_constant``, ``fraction_constant`` and ``degenerate``
        (``fraction_constant > DEGENERATE_UNITS``).
    """

    X = np.asarray(X)
    frames = X.reshape(-1, *X.shape[-2:])
    cnn = build_frame_cnn(2, cnn_init=cnn_init)
    norm = normalization_stats(frames, normalization)
    feats = _frozen_features(cnn, cnn.features, frames, norm, torch.device("cpu"), chunk=chunk)
    std = feats.std(dim=0)
    n_const = int((std <= tolerance).sum())
    frac = n_const / feats.shape[1]
    return {"n_units": int(feats.shape[1]), "n_constant": n_const, "fraction_constant": frac,
            "degenerate": bool(frac > DEGENERATE_UNITS)}


def _frozen_parts(model):
    """``(cnn, head_modules, features_fn, head_fn, per_frame)`` of a hybrid or a build_model CNN."""
    if isinstance(model, HybridCNNRNN):
        head = [m for name, m in model.named_children() if name != "cnn"]
        return model.cnn, head, model.frame_features, model.head, False
    if hasattr(model, "features") and hasattr(model, "classifier") and not isinstance(model, TemporalRNN):
        return model, [model.classifier], model.features, model.classifier, True
    raise ValueError(f"fit_head needs a HybridCNNRNN or a fer_lib.models.cnn CNN; got {type(model).__name__}")


@torch.no_grad()
def _frozen_features(cnn, features_fn, X, normalization, device, chunk=256):
    """CNN features of uint8 inputs with batch statistics (train-mode BN), BN buffers left unchanged."""
    buffers = {k: v.clone() for k, v in cnn.state_dict().items() if "running_" in k or "num_batches" in k}
    was_training = cnn.training
    cnn.train()
    out = []
    try:
        for i in range(0, len(X), chunk):
            x = torch.from_numpy(np.ascontiguousarray(X[i:i + chunk])).to(device).float().div_(255.0).unsqueeze(-3)
            if normalization["method"] != "scale":
                x = (x - normalization["mean"]) / normalization["std"]
            out.append(features_fn(x))
    finally:
        cnn.load_state_dict({**cnn.state_dict(), **buffers})
        cnn.train(was_training)
    return torch.cat(out)


def fit_head(model, X, y, config, epochs, *, lr=None, progress=False):
    """Warm up everything after the CNN on frozen CNN features, before joint fine-tuning.

    The CNN embeds every training frame once (batch-norm with batch
    statistics, as in training; its running statistics are left unchanged);
    then the layers after it (hybrid: RNN, pooling, fusion, FC layers; a
    :mod:`fer_lib.models.cnn` CNN: its classifier) are trained on these fixed
    embeddings with Adam and cross-entropy, which costs a small fraction of
    an epoch through the CNN. :func:`fer_lib.train.loop.train_model` then
    fine-tunes the whole model (and picks its epoch on the validation fold).

    Parameters
    ----------
    model : HybridCNNRNN or a :func:`fer_lib.models.cnn.build_model` CNN
    X : ndarray of shape (n, T, H, W) (hybrid) or (n, H, W) (CNN), uint8
        The training inputs, exactly as passed to ``train_model``.
    y : ndarray of shape (n,)
    config : fer_lib.train.config.TrainConfig
        ``normalization``, ``batch_size``, ``lr`` (unless ``lr`` is given),
        ``label_smoothing``, ``seed`` and ``device`` are used.
    epochs : int
        Passes over the embeddings (0: nothing is done).
    lr : float, optional
        Learning rate of the warm-up (default ``config.lr``).
    progress : bool, default=False

    Returns
    -------
    dict
        ``epochs``, ``train_acc`` (accuracy on the embeddings after the
        warm-up, dropout off), ``seconds``.
    """

    from fer_lib.core.device import resolve_device

    epochs = check_positive_int("epochs", epochs, minimum=0)
    if epochs == 0:
        return {"epochs": 0, "train_acc": float("nan"), "seconds": 0.0}
    t0 = time.perf_counter()
    cnn, head_modules, features_fn, head_fn, per_frame = _frozen_parts(model)
    X = np.asarray(X)
    y_t = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    expected = 3 if per_frame else 4
    if X.dtype != np.uint8 or X.ndim != expected or len(X) != len(y_t):
        raise ValueError(f"X must be a uint8 array of {expected} dimensions with one label per sample; "
                         f"got {X.dtype} {X.shape} and {len(y_t)} labels")
    device = resolve_device(config.device)
    model.to(device)
    norm = normalization_stats(X, config.normalization)
    feats = _frozen_features(cnn, features_fn, X, norm, device)
    y_t = y_t.to(device)
    params = [p for m in head_modules for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=config.lr if lr is None else float(lr))
    gen = torch.Generator(device="cpu").manual_seed(int(config.seed) + 7)
    for m in head_modules:
        m.train()
    for _ in range(epochs):
        order = torch.randperm(len(y_t), generator=gen).to(device)
        for i in range(0, len(order), config.batch_size):
            idx = order[i:i + config.batch_size]
            if len(idx) < 2:
                continue
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(head_fn(feats[idx]), y_t[idx], label_smoothing=config.label_smoothing)
            loss.backward()
            opt.step()
    with torch.no_grad():
        for m in head_modules:
            m.eval()
        acc = float((head_fn(feats).argmax(1) == y_t).float().mean())
        for m in head_modules:
            m.train()
    return {"epochs": epochs, "train_acc": acc, "seconds": time.perf_counter() - t0}


def head_warmup(epochs, lr=None):
    """A ``prepare`` hook for :func:`fer_lib.train.folds.run_subject_folds` that calls :func:`fit_head`.

    Parameters
    ----------
    epochs : int
        Warm-up epochs on the frozen CNN features (0: no warm-up).
    lr : float, optional

    Returns
    -------
    callable
        ``prepare(model, (X_train, y_train), config)``.
    """
    epochs = check_positive_int("head_epochs", epochs, minimum=0)

    def prepare(model, train_xy, config):
        return fit_head(model, *train_xy, config, epochs, lr=lr)

    return prepare
