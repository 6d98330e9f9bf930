"""The training loop every notebook uses.

Its parts live beside it: the recipe (:mod:`fer_lib.train.config`), the
runtime (:mod:`fer_lib.train.runtime`), the data on the device
(:mod:`fer_lib.train.data`), prediction and scores (:mod:`fer_lib.train.predict`)
and checkpoints (:mod:`fer_lib.models.checkpoint`).

Design
------
- **Data on the device.** :class:`~fer_lib.train.data.DeviceDataset` copies the whole ``uint8``
  array (FER-2013's 28,709 training images are 66 MB) to the device once and
  makes batches by indexing it with a permutation drawn on the device; each
  batch is converted to float, augmented on the device
  (:func:`fer_lib.train.augment.augment`) and normalised there. No ``DataLoader``,
  no worker processes, no host-to-device copy per step.
- **Images or clips.** Arrays of shape ``(n, H, W)`` give batches of shape
  ``(n, 1, H, W)``; arrays of shape ``(n, T, H, W)`` give ``(n, T, 1, H, W)``
  (augmented identically across frames), so the hybrid CNN-LSTM trains with
  the same loop.
- **Honest model selection.** Early stopping and the choice of the best epoch
  use only the ``val`` split passed in (PublicTest for FER-2013); the test
  split must never be passed to :func:`train_model`. Validation during
  training uses no test-time augmentation.
- **Checkpoints that know their preprocessing.** ``best.pt`` holds the weights
  and a metadata dict (how to rebuild the model, class names, input shape,
  normalisation statistics, a preprocessing description, the recipe, epoch,
  validation metrics); :func:`~fer_lib.models.checkpoint.load_checkpoint` rebuilds the model and
  :func:`~fer_lib.train.predict.predict` applies the recorded normalisation and refuses inputs of
  another size.
- **Resumable.** ``last.pt`` (written after every epoch) holds everything
  needed to continue bit for bit: weights, optimiser, scheduler, AMP scaler,
  all RNG states, history and best-so-far. ``train_model(..., resume=True)``
  continues from it; ``max_minutes`` / ``max_epochs_this_run`` split a long
  GPU run into short calls.
- **Mixed precision and channels-last on every device that has them.** CUDA:
  bf16 autocast by default. CPU: bf16 autocast where the CPU has native bf16
  (AVX512_BF16 / AMX, :func:`~fer_lib.core.device.cpu_bf16_supported`), float32 elsewhere;
  channels-last on both; threads set once to the free cores
  (:func:`~fer_lib.train.runtime.cpu_threads`, ``FER_NUM_THREADS``). The loss is always computed in
  float32. Which precision ran is printed and stored in the checkpoint
  (``metadata["runtime"]``).
"""

import math
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from fer_lib import __version__
from fer_lib.core.jsonio import to_jsonable
from fer_lib.core.reproducibility import seed_everything
from fer_lib.core.validation import check_number, check_option, check_positive_int
from fer_lib.faces.preprocessing import FacePreprocessing
from fer_lib.models.checkpoint import (
    CHECKPOINT_FORMAT_VERSION,
    atomic_torch_save,
    current_model_spec,
    preprocessing_from_metadata,
)
from fer_lib.train.augment import (
    get_augment_config,
)
from fer_lib.train.config import resolve_config
from fer_lib.train.data import DeviceDataset, check_images_labels, count_batches, data_fingerprint, normalization_stats
from fer_lib.train.predict import predict_probabilities
from fer_lib.train.runtime import Runtime, runtime_text

#: Columns of ``history.csv`` and :attr:`TrainResult.history`.
HISTORY_COLUMNS = (
    "epoch",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "val_macro_f1",
    "lr",
    "seconds",
    "images_per_s",
)
# --------------------------------------------------------------------------- config


# --------------------------------------------------------------------------- runtime


# --------------------------------------------------------------------------- data


# --------------------------------------------------------------------------- optimisation


def make_optimizer(model, config):
    """The recipe's optimiser over the model's trainable parameters."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        params,
        lr=config.lr,
        momentum=config.momentum,
        nesterov=bool(config.nesterov and config.momentum > 0),
        weight_decay=config.weight_decay,
    )


class _WarmupCosine:
    """Picklable LR multiplier: linear warm-up, then cosine to 0 (or constant)."""

    def __init__(self, warmup_steps, total_steps, cosine):
        self.warmup_steps, self.total_steps, self.cosine = warmup_steps, total_steps, cosine

    def __call__(self, step):
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if not self.cosine:
            return 1.0
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return 0.5 * (1.0 + math.cos(math.pi * progress))


def _make_scheduler(optimizer, config, steps_per_epoch):
    """Return ``(scheduler, per_step)``; ``per_step`` False means step once per epoch on val acc."""
    total = config.epochs * steps_per_epoch
    if config.schedule == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=config.plateau_factor, patience=config.plateau_patience
        )
        return sched, False
    if config.schedule == "onecycle":
        cycle_momentum = config.optimizer != "sgd" or config.momentum > 0
        sched = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=config.lr, total_steps=total, cycle_momentum=cycle_momentum
        )
        return sched, True
    warmup = int(round(config.warmup_epochs * steps_per_epoch))
    fn = _WarmupCosine(warmup, total, cosine=config.schedule == "cosine")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, fn), True


def train_step(model, x, y, optimizer, scaler, runtime, label_smoothing=0.0, grad_clip=None):
    """One optimisation step; returns ``(loss_sum, n_correct)`` as device tensors (no sync)."""
    optimizer.zero_grad(set_to_none=True)
    with runtime.autocast():
        logits = model(x)
    loss = F.cross_entropy(logits.float(), y, label_smoothing=label_smoothing)
    if scaler is not None:
        scaler.scale(loss).backward()
        if grad_clip is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
    else:
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
    with torch.no_grad():
        correct = (logits.argmax(1) == y).sum()
    return loss.detach() * y.shape[0], correct


#: Recipe fields that only change predictions after training (validation
#: during training uses no TTA), so a run may be resumed or reused with
#: another value.
_INFERENCE_ONLY_FIELDS = ("tta",)


def _val_metrics(model, dataset, batch_size, runtime):
    probs = predict_probabilities(model, dataset, batch_size, runtime)
    y = dataset.y
    loss = F.nll_loss(torch.log(probs.clamp_min(1e-12)), y).item()
    pred = probs.argmax(1).cpu().numpy()
    y_np = y.cpu().numpy()
    from sklearn.metrics import f1_score

    acc = float((pred == y_np).mean())
    labels = np.arange(probs.shape[1])
    f1 = float(f1_score(y_np, pred, labels=labels, average="macro", zero_division=0))
    return {"val_loss": loss, "val_acc": acc, "val_macro_f1": f1}


# --------------------------------------------------------------------------- state


def _cpu_state(model):
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _rng_state(generators):
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "generators": {k: g.get_state() for k, g in generators.items()},
    }


def _set_rng_state(state, generators):
    random.setstate(state["python"])
    np_state = state["numpy"]
    np.random.set_state((np_state[0], np_state[1].numpy().astype(np.uint32), *np_state[2:]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for k, g in generators.items():
        g.set_state(state["generators"][k])


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_model` returns.

    Attributes
    ----------
    history : pandas.DataFrame
        One row per epoch (all calls of a resumed run), columns :data:`HISTORY_COLUMNS`.
    best_epoch : int
        Epoch (1-based) with the highest validation accuracy; its weights are in the model.
    best_val_metrics : dict
        ``val_loss``, ``val_acc``, ``val_macro_f1`` of the best epoch.
    completed : bool
        False when the run stopped early because of ``max_minutes`` or
        ``max_epochs_this_run``; call again with ``resume=True`` to continue.
    stop_reason : str
        ``"epochs"``, ``"early_stopping"``, ``"time_budget"`` or ``"epoch_budget"``.
    epochs_run : int
        Epochs completed in total.
    seconds : float
        Wall time of this call.
    metadata : dict
        The checkpoint metadata (see :data:`CHECKPOINT_KEYS`).
    out_dir : pathlib.Path or None
    """

    history: pd.DataFrame
    best_epoch: int
    best_val_metrics: dict
    completed: bool
    stop_reason: str
    epochs_run: int
    seconds: float
    metadata: dict = field(repr=False)
    out_dir: object = None

    @property
    def best_val_acc(self):
        """Validation accuracy of the best epoch."""
        return self.best_val_metrics["val_acc"]

    @property
    def checkpoint_path(self):
        """``out_dir / "best.pt"``, or None without ``out_dir``."""
        return None if self.out_dir is None else Path(self.out_dir) / "best.pt"


# --------------------------------------------------------------------------- train


def _metadata_jsonable(obj):
    """Checkpoint metadata as JSON types (anything else written as its ``item()`` or ``str``)."""
    return to_jsonable(obj, fallback=lambda o: o.item() if hasattr(o, "item") else str(o))


def _model_spec(model):
    spec = getattr(model, "model_spec", None)
    if not (isinstance(spec, dict) and "factory" in spec and "kwargs" in spec):
        return None
    return _metadata_jsonable(spec)


def _preprocessing_text(norm, sample_shape, upstream):
    shape = "(n, " + ", ".join(str(s) for s in sample_shape) + ")"
    text = f"uint8 {shape} grayscale 0..255 -> float / 255"
    if norm["method"] == "standardize":
        text += f" -> (x - {norm['mean']:.6f}) / {norm['std']:.6f} (training-set pixel mean/std)"
    text += " -> channel axis added"
    if upstream:
        text = f"{upstream}; then {text}"
    return text


def _check_inputs(model, train, val, class_names, out_dir, *, resume, progress, max_minutes, max_epochs_this_run):
    """Validate :func:`train_model`'s arguments; return the arrays, the class names and the model spec."""
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    X_tr, y_tr = check_images_labels("train", train)
    X_va, y_va = check_images_labels("val", val)
    if X_tr.shape[1:] != X_va.shape[1:]:
        raise ValueError(f"train and val samples must have the same shape; got {X_tr.shape[1:]} and {X_va.shape[1:]}")
    n_classes = getattr(model, "n_classes", None) or int(max(y_tr.max(), y_va.max())) + 1
    for name, y in (("train", y_tr), ("val", y_va)):
        if y.min() < 0 or y.max() >= n_classes:
            raise ValueError(f"{name} labels must be in 0..{n_classes - 1} (model.n_classes={n_classes}); "
                             f"got {y.min()}..{y.max()}")
    if class_names is None:
        class_names = tuple(str(i) for i in range(n_classes))
    class_names = [str(c) for c in class_names]
    if len(class_names) != n_classes:
        raise ValueError(f"class_names must have {n_classes} entries (one per class); got {len(class_names)}")
    for name, value in (("resume", resume), ("progress", progress)):
        check_option(name, value, (True, False))
    if max_minutes is not None:
        check_number("max_minutes", max_minutes, 0.0)
    if max_epochs_this_run is not None:
        check_positive_int("max_epochs_this_run", max_epochs_this_run)
    if out_dir is None and (resume or max_minutes is not None or max_epochs_this_run is not None):
        raise ValueError("resume, max_minutes and max_epochs_this_run need out_dir (where last.pt is saved); "
                         "got out_dir=None")
    spec = _model_spec(model)
    if out_dir is not None and spec is None:
        raise ValueError(
            "model has no model_spec, so its checkpoint could not be rebuilt; build it with "
            "fer_lib.models.cnn.build_model or set model.model_spec = {'factory': 'fer_lib.<module>:<function>', "
            "'kwargs': {...}}"
        )
    return X_tr, y_tr, X_va, y_va, class_names, spec


def _checkpoint_metadata(model, spec, class_names, config, runtime, norm, train, val, preprocessing):
    """The metadata every checkpoint of a :func:`train_model` run carries (``epoch`` and ``val_metrics`` unset)."""
    (X_tr, y_tr), (X_va, y_va) = train, val
    if isinstance(preprocessing, FacePreprocessing):
        upstream_text, face_record = preprocessing.describe(), preprocessing.to_dict()
    elif preprocessing is None or isinstance(preprocessing, str):
        upstream_text, face_record = preprocessing, None
    else:
        raise ValueError("preprocessing must be a fer_lib.faces.preprocessing.FacePreprocessing, a str or None; "
                         f"got {type(preprocessing).__name__}")
    metadata = {
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "model_spec": spec,
        "model_class": type(model).__name__,
        "class_names": class_names,
        "n_classes": len(class_names),
        "input_shape": list(X_tr.shape[1:]),
        "is_sequence": X_tr.ndim == 4,
        "normalization": norm,
        "preprocessing": _preprocessing_text(norm, X_tr.shape[1:], upstream_text),
        "upstream_preprocessing": upstream_text,
        "face_preprocessing": face_record,
        "recipe": config.to_dict(),
        "n_train": int(X_tr.shape[0]),
        "n_val": int(X_va.shape[0]),
        "data_fingerprint": {"train": data_fingerprint(X_tr, y_tr), "val": data_fingerprint(X_va, y_va)},
        "fer_lib_version": __version__,
        "torch_version": str(torch.__version__),
        "runtime": runtime.describe(),
        "epoch": None,
        "val_metrics": None,
    }
    return _metadata_jsonable(metadata)


def train_model(
    model,
    train,
    val,
    config=None,
    out_dir=None,
    progress=True,
    *,
    resume=False,
    max_minutes=None,
    max_epochs_this_run=None,
    class_names=None,
    preprocessing=None,
):
    """Train ``model`` with early stopping on the validation split; keep the best epoch.

    Parameters
    ----------
    model : torch.nn.Module
        Takes ``(b, 1, H, W)`` (or ``(b, T, 1, H, W)`` for clips) and returns
        logits ``(b, n_classes)``. To write checkpoints it must carry
        ``model.model_spec`` (set by :func:`fer_lib.models.cnn.build_model`).
    train : (ndarray of shape (n, H, W) or (n, T, H, W), uint8; ndarray of shape (n,), int)
        Training images and labels.
    val : (ndarray of shape (m, H, W) or (m, T, H, W), uint8; ndarray of shape (m,), int)
        Validation images and labels (PublicTest for FER-2013). Used to pick
        the best epoch and for early stopping. Never pass the test split.
    config : TrainConfig or str, optional
        Config or recipe name (:data:`RECIPES`); default ``TrainConfig()``.
    out_dir : str or path-like, optional
        Folder for ``best.pt``, ``last.pt`` and ``history.csv`` (created).
    progress : bool, default=True
        Show a tqdm bar over epochs (and a transient one over steps).
    resume : bool, default=False
        Continue from ``out_dir/last.pt`` if it exists (same config and data
        required, except the test-time augmentation ``tta``, which training
        does not use). A finished run is not retrained: its best weights are loaded
        and its result returned.
    max_minutes : float, optional
        Time budget for this call: after each epoch, stop (saving ``last.pt``)
        if another epoch of the average length so far would exceed it. At least
        one epoch runs per call. Needs ``out_dir``.
    max_epochs_this_run : int, optional
        Run at most this many epochs in this call, then stop (saving ``last.pt``).
        Needs ``out_dir``.
    class_names : sequence of str, optional
        Class names in label order (default ``"0"``, ``"1"``, ...).
    preprocessing : FacePreprocessing or str, optional
        The preprocessing upstream of the arrays: a
        :class:`fer_lib.faces.preprocessing.FacePreprocessing` for face
        crops (stored as the checkpoint's ``face_preprocessing`` record, which
        the video command reads to align faces the same way, and described
        in ``upstream_preprocessing``), or a free description.

    Returns
    -------
    TrainResult
        The model holds the best epoch's weights on return (also when the run
        is incomplete; the latest weights are in ``last.pt``), and carries
        ``model.fer_preprocessing`` for :func:`predict`.

    Notes
    -----
    Call ``seed_everything(config.seed)`` before building the model so that
    its initial weights are reproducible; ``train_model`` seeds again itself,
    and draws the batch order and the augmentation from generators seeded
    with ``config.seed``. Same seed, same hardware and thread count: same
    history, bit for bit (on CUDA with ``torch.backends.cudnn.deterministic``,
    which :func:`~fer_lib.core.reproducibility.seed_everything` sets).

    ``history.csv``: ``train_loss`` / ``train_acc`` are running averages over
    the epoch's (augmented) batches, with label smoothing in the loss;
    ``val_loss`` is the plain cross-entropy; ``lr`` is the learning rate at the
    start of the epoch; ``seconds`` covers training and validation;
    ``images_per_s`` the training part only.
    """
    t_call = time.perf_counter()
    config = resolve_config(config)
    X_tr, y_tr, X_va, y_va, class_names, spec = _check_inputs(
        model, train, val, class_names, out_dir, resume=resume, progress=progress, max_minutes=max_minutes,
        max_epochs_this_run=max_epochs_this_run)
    model_dropout = getattr(model, "dropout", None)
    if model_dropout is not None and abs(float(model_dropout) - config.dropout) > 1e-12:
        warnings.warn(
            f"model dropout {model_dropout} differs from config.dropout {config.dropout}; the recipe "
            "expects build_model(..., dropout=config.dropout)",
            stacklevel=2,
        )

    seed_everything(int(config.seed))
    if config.max_train_samples is not None and config.max_train_samples < X_tr.shape[0]:
        keep = np.sort(np.random.default_rng(config.seed).permutation(X_tr.shape[0])[: config.max_train_samples])
        X_tr, y_tr = X_tr[keep], y_tr[keep]
    runtime = Runtime.from_config(config)
    device = runtime.device
    if progress:
        print(f"train_model: {runtime_text(runtime.describe())}")
    norm = normalization_stats(X_tr, config.normalization)
    train_ds = DeviceDataset(X_tr, y_tr, device, norm)
    val_ds = DeviceDataset(X_va, y_va, device, norm)
    aug_cfg = get_augment_config(config.augment)
    aug_cfg = None if aug_cfg.is_identity else aug_cfg

    model.to(device)
    if runtime.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, config)
    steps_per_epoch = count_batches(len(train_ds), config.batch_size, drop_last=True)
    scheduler, per_step = _make_scheduler(optimizer, config, steps_per_epoch)
    scaler = torch.amp.GradScaler("cuda") if runtime.amp_dtype == torch.float16 else None
    data_gen = torch.Generator(device=device).manual_seed(config.seed)
    aug_gen = torch.Generator(device=device).manual_seed(config.seed + 1)
    generators = {"data": data_gen, "augment": aug_gen}

    metadata = _checkpoint_metadata(model, spec, class_names, config, runtime, norm, (X_tr, y_tr), (X_va, y_va),
                                    preprocessing)

    history, best_state, best_epoch, best_metrics, since_best, start_epoch = [], None, 0, None, 0, 0
    finished_reason = None
    out = Path(out_dir) if out_dir is not None else None
    last_path = None if out is None else out / "last.pt"
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        if last_path.exists() and not resume:
            warnings.warn(f"{last_path} exists and resume=False: starting afresh and overwriting it", stacklevel=2)
    if resume and last_path.exists():
        ckpt = torch.load(last_path, map_location="cpu", weights_only=True)
        state = ckpt.get("training_state")
        if state is None:
            raise ValueError(f"{last_path} has no training_state; it was not written by train_model")
        old = {**ckpt["metadata"], "model_spec": current_model_spec(ckpt["metadata"].get("model_spec"))}
        for key in ("recipe", "model_spec", "data_fingerprint", "input_shape", "normalization"):
            if old.get(key) != metadata[key]:
                diff = key
                if key == "recipe":
                    diff = [k for k in metadata["recipe"]
                            if k not in _INFERENCE_ONLY_FIELDS and old["recipe"].get(k) != metadata["recipe"][k]]
                    if not diff:  # only the test-time augmentation changed: training is the same
                        continue
                raise ValueError(
                    f"cannot resume from {last_path}: {key} differs from this call ({diff}); "
                    "use the same config, model and data, or another out_dir, or resume=False"
                )
        model.load_state_dict(ckpt["state_dict"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        _set_rng_state(state["rng"], generators)
        history = list(state["history"])
        best_state, best_epoch = state["best_state"], state["best_epoch"]
        best_metrics, since_best = state["best_metrics"], state["since_best"]
        start_epoch = state["epoch"]
        finished_reason = state.get("finished")
        print(f"train_model: resuming from {last_path} after epoch {start_epoch}")

    def save_last(epoch, finished):
        if last_path is None:
            return
        meta = dict(metadata, epoch=epoch, val_metrics=history[-1] if history else None)
        training_state = {
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else None,
            "rng": _rng_state(generators),
            "history": history,
            "best_state": best_state,
            "best_epoch": best_epoch,
            "best_metrics": best_metrics,
            "since_best": since_best,
            "epoch": epoch,
            "finished": finished,
        }
        atomic_torch_save({"state_dict": _cpu_state(model), "metadata": meta, "training_state": training_state}, last_path)

    def save_best():
        if out is None:
            return
        meta = dict(metadata, epoch=best_epoch, val_metrics=best_metrics)
        atomic_torch_save({"state_dict": best_state, "metadata": meta}, out / "best.pt")

    def write_history():
        if out is not None:
            pd.DataFrame(history, columns=list(HISTORY_COLUMNS)).to_csv(out / "history.csv", index=False)

    epoch = start_epoch
    stop_reason = finished_reason
    epoch_seconds = []
    bar = None
    if progress and finished_reason is None:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.epochs, initial=start_epoch, desc="epochs", unit="epoch")
    model.train()
    while finished_reason is None and epoch < config.epochs:
        t0 = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        seen = 0
        batches = train_ds.iter_batches(
            config.batch_size, shuffle=True, generator=data_gen, drop_last=True, augment_config=aug_cfg,
            augment_generator=aug_gen, channels_last=runtime.channels_last,
        )
        if bar is not None:
            from tqdm.auto import tqdm

            batches = tqdm(batches, total=steps_per_epoch, desc=f"epoch {epoch + 1}", leave=False, unit="step")
        model.train()
        for x, y in batches:
            l_sum, c = train_step(model, x, y, optimizer, scaler, runtime, config.label_smoothing, config.grad_clip)
            loss_sum += l_sum
            correct += c
            seen += y.shape[0]
            if per_step:
                scheduler.step()
        runtime.sync()
        train_seconds = time.perf_counter() - t0
        val = _val_metrics(model, val_ds, config.eval_batch_size, runtime)
        if not per_step:
            scheduler.step(val["val_acc"])
        epoch += 1
        row = {
            "epoch": epoch,
            "train_loss": loss_sum.item() / seen,
            "train_acc": correct.item() / seen,
            **val,
            "lr": lr,
            "seconds": time.perf_counter() - t0,
            "images_per_s": seen / train_seconds if train_seconds > 0 else float("nan"),
        }
        history.append(row)
        epoch_seconds.append(row["seconds"])
        if best_metrics is None or val["val_acc"] > best_metrics["val_acc"]:
            best_state, best_epoch, since_best = _cpu_state(model), epoch, 0
            best_metrics = {k: float(val[k]) for k in ("val_loss", "val_acc", "val_macro_f1")}
            save_best()
        else:
            since_best += 1
        write_history()
        if bar is not None:
            bar.set_postfix(loss=f"{row['train_loss']:.3f}", acc=f"{row['train_acc']:.3f}",
                            val_acc=f"{val['val_acc']:.3f}", best=f"{best_metrics['val_acc']:.3f}@{best_epoch}",
                            refresh=False)
            bar.update(1)
        if config.early_stopping_patience is not None and since_best >= config.early_stopping_patience:
            finished_reason = "early_stopping"
        elif epoch >= config.epochs:
            finished_reason = "epochs"
        if finished_reason is not None:
            stop_reason = finished_reason
            save_last(epoch, finished_reason)
            break
        elapsed = time.perf_counter() - t_call
        if max_epochs_this_run is not None and epoch - start_epoch >= max_epochs_this_run:
            stop_reason = "epoch_budget"
        elif max_minutes is not None and elapsed + float(np.mean(epoch_seconds)) > max_minutes * 60:
            stop_reason = "time_budget"
        save_last(epoch, None)
        if stop_reason is not None:
            break
    if bar is not None:
        bar.close()
    if stop_reason is None:  # resumed a finished run with epochs already done
        stop_reason = finished_reason or "epochs"

    if best_state is not None:
        model.load_state_dict(best_state)
    model.to(device)
    final_meta = dict(metadata, epoch=best_epoch, val_metrics=best_metrics)
    model.fer_preprocessing = preprocessing_from_metadata(final_meta)
    completed = stop_reason in ("epochs", "early_stopping")
    result = TrainResult(
        history=pd.DataFrame(history, columns=list(HISTORY_COLUMNS)),
        best_epoch=int(best_epoch),
        best_val_metrics=dict(best_metrics or {}),
        completed=completed,
        stop_reason=stop_reason,
        epochs_run=int(epoch),
        seconds=time.perf_counter() - t_call,
        metadata=final_meta,
        out_dir=out,
    )
    if not completed:
        print(f"train_model: stopped after epoch {epoch}/{config.epochs} ({stop_reason}); "
              "call again with resume=True to continue")
    return result


# --------------------------------------------------------------------------- predict / evaluate


# --------------------------------------------------------------------------- checkpoints


__all__ = [
    "HISTORY_COLUMNS",
    "TrainResult",
    "train_model",
]


def throughput(history, skip_first=True):
    """Median training images/s of a history (the first epoch, which pays one-off costs, left out)."""
    ips = pd.Series(history["images_per_s"], dtype=float).dropna()
    if skip_first and len(ips) > 1:
        ips = ips.iloc[1:]
    return float(ips.median()) if len(ips) else float("nan")
