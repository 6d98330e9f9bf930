"""The training loop every notebook uses, prediction, evaluation and checkpoints.

Design
------
- **Data on the device.** :class:`DeviceDataset` copies the whole ``uint8``
  array (FER-2013's 28,709 training images are 66 MB) to the device once and
  makes batches by indexing it with a permutation drawn on the device; each
  batch is converted to float, augmented on the device
  (:func:`fer_lib.augment.augment`) and normalised there. No ``DataLoader``,
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
  validation metrics); :func:`load_checkpoint` rebuilds the model and
  :func:`predict` applies the recorded normalisation and refuses inputs of
  another size.
- **Resumable.** ``last.pt`` (written after every epoch) holds everything
  needed to continue bit for bit: weights, optimiser, scheduler, AMP scaler,
  all RNG states, history and best-so-far. ``train_model(..., resume=True)``
  continues from it; ``max_minutes`` / ``max_epochs_this_run`` split a long
  GPU run into short calls.
- **Mixed precision and channels-last on every device that has them.** CUDA:
  bf16 autocast by default. CPU: bf16 autocast where the CPU has native bf16
  (AVX512_BF16 / AMX, :func:`cpu_bf16_supported`), float32 elsewhere;
  channels-last on both; threads set once to the free cores
  (:func:`cpu_threads`, ``FER_NUM_THREADS``). The loss is always computed in
  float32. Which precision ran is printed and stored in the checkpoint
  (``metadata["runtime"]``).
"""

import copy
import hashlib
import importlib
import json
import math
import os
import random
import time
import warnings
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from . import __version__
from .augment import AUGMENT_PRESETS, TTA_MODES, AugmentConfig, augment, get_augment_config, tta_views
from .reproducibility import seed_everything
from .validation import check_fraction, check_option, check_positive_int

#: Optimisers of :class:`TrainConfig`.
OPTIMIZERS = ("adam", "adamw", "sgd")
#: Learning-rate schedules of :class:`TrainConfig`.
SCHEDULES = ("cosine", "plateau", "onecycle", "none")
#: Devices of :class:`TrainConfig` (``"auto"``: CUDA when available, else CPU).
DEVICES = ("auto", "cpu", "cuda")
#: Mixed-precision dtypes (CUDA only).
AMP_DTYPES = ("bfloat16", "float16")
#: Input normalisations: ``"standardize"`` = ``(x / 255 - mean) / std`` with the
#: training set's pixel mean and std; ``"scale"`` = ``x / 255`` only.
NORMALIZATIONS = ("standardize", "scale")
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


# --------------------------------------------------------------------------- config


def _check_number(name, value, low=None, high=None, low_open=False, allow_none=False):
    if value is None and allow_none:
        return None
    bounds = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'}]"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number in {bounds}; got {value!r}")
    if (low is not None and (value < low or (low_open and value == low))) or (high is not None and value > high):
        raise ValueError(f"{name} must be a number in {bounds}; got {value!r}")
    return float(value)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (one frozen, serialisable object).

    Parameters
    ----------
    epochs : int, default=30
        Maximum number of epochs.
    batch_size : int, default=64
        Training batch size. The last incomplete batch of each epoch is dropped
        (its images appear in other epochs; batch norm never sees a batch of 1).
    lr : float, default=1e-3
        Peak learning rate.
    weight_decay : float, default=0.0
        L2 penalty (``adam``, ``sgd``) or decoupled weight decay (``adamw``).
    optimizer : {"adam", "adamw", "sgd"}, default="adam"
    momentum : float, default=0.9
        SGD momentum.
    nesterov : bool, default=True
        SGD Nesterov momentum (needs ``momentum > 0``).
    schedule : {"cosine", "plateau", "onecycle", "none"}, default="cosine"
        ``cosine``: per-step cosine decay to 0 after ``warmup_epochs`` of linear
        warm-up; ``plateau``: multiply by ``plateau_factor`` when validation
        accuracy has not improved for ``plateau_patience`` epochs; ``onecycle``:
        torch's ``OneCycleLR`` with ``max_lr=lr``; ``none``: constant (after
        warm-up).
    warmup_epochs : float, default=0.0
        Linear warm-up length (``cosine`` and ``none``).
    plateau_factor : float, default=0.5
    plateau_patience : int, default=3
    label_smoothing : float, default=0.0
        Label smoothing of the training loss (validation loss never uses it).
    grad_clip : float or None, default=None
        Clip the global gradient norm to this value.
    early_stopping_patience : int or None, default=None
        Stop when validation accuracy has not improved for this many epochs;
        ``None`` trains all ``epochs``. The best epoch is restored either way.
    augment : str or AugmentConfig, default="none"
        A key of :data:`fer_lib.augment.AUGMENT_PRESETS` or a config.
    normalization : {"standardize", "scale"}, default="standardize"
        ``"standardize"``: ``(x / 255 - mean) / std`` with the pixel mean/std of
        the (possibly subsampled) training set; ``"scale"``: ``x / 255``.
    amp : bool, default=True
        Autocast to ``amp_dtype`` on CUDA; on a CPU, bf16 autocast where the
        CPU supports bf16 natively (:func:`cpu_bf16_supported`), else float32.
    amp_dtype : {"bfloat16", "float16"}, default="bfloat16"
        ``float16`` also enables a gradient scaler.
    channels_last : bool, default=True
        Channels-last memory format for the model and image batches (CUDA and CPU).
    tta : {"none", "flip", "tencrop", "shift"}, default="none"
        Test-time augmentation used by :func:`predict` when given this config.
    eval_batch_size : int, default=512
        Batch size for validation and prediction.
    seed : int, default=0
        Seed for :func:`fer_lib.reproducibility.seed_everything`, the batch
        order, the augmentation and the ``max_train_samples`` subset.
    max_train_samples : int or None, default=None
        Train on a seeded random subset of this many images (``None``: all).
    device : {"auto", "cpu", "cuda"}, default="auto"
    dropout : float, default=0.5
        Head dropout this recipe prescribes; pass it to
        ``build_model(..., dropout=config.dropout)``. :func:`train_model` warns
        when the model's dropout differs.
    """

    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    momentum: float = 0.9
    nesterov: bool = True
    schedule: str = "cosine"
    warmup_epochs: float = 0.0
    plateau_factor: float = 0.5
    plateau_patience: int = 3
    label_smoothing: float = 0.0
    grad_clip: float = None
    early_stopping_patience: int = None
    augment: object = "none"
    normalization: str = "standardize"
    amp: bool = True
    amp_dtype: str = "bfloat16"
    channels_last: bool = True
    tta: str = "none"
    eval_batch_size: int = 512
    seed: int = 0
    max_train_samples: int = None
    device: str = "auto"
    dropout: float = 0.5

    def __post_init__(self):
        check_positive_int("epochs", self.epochs)
        check_positive_int("batch_size", self.batch_size)
        _check_number("lr", self.lr, 0.0, low_open=True)
        _check_number("weight_decay", self.weight_decay, 0.0)
        check_option("optimizer", self.optimizer, OPTIMIZERS)
        _check_number("momentum", self.momentum, 0.0, 1.0)
        check_option("nesterov", self.nesterov, (True, False))
        if self.optimizer == "sgd" and self.nesterov and self.momentum == 0:
            raise ValueError("nesterov=True needs momentum > 0 with optimizer='sgd'; got momentum=0")
        check_option("schedule", self.schedule, SCHEDULES)
        _check_number("warmup_epochs", self.warmup_epochs, 0.0, float(self.epochs))
        _check_number("plateau_factor", self.plateau_factor, 0.0, 1.0, low_open=True)
        check_positive_int("plateau_patience", self.plateau_patience, minimum=0)
        _check_number("label_smoothing", self.label_smoothing, 0.0, 0.99)
        _check_number("grad_clip", self.grad_clip, 0.0, low_open=True, allow_none=True)
        if self.early_stopping_patience is not None:
            check_positive_int("early_stopping_patience", self.early_stopping_patience)
        if not isinstance(self.augment, AugmentConfig):
            check_option("augment", self.augment, tuple(AUGMENT_PRESETS))
        check_option("normalization", self.normalization, NORMALIZATIONS)
        check_option("amp", self.amp, (True, False))
        check_option("amp_dtype", self.amp_dtype, AMP_DTYPES)
        check_option("channels_last", self.channels_last, (True, False))
        check_option("tta", self.tta, TTA_MODES)
        check_positive_int("eval_batch_size", self.eval_batch_size)
        check_positive_int("seed", self.seed, minimum=0)
        if self.max_train_samples is not None:
            check_positive_int("max_train_samples", self.max_train_samples)
        check_option("device", self.device, DEVICES)
        check_fraction("dropout", self.dropout)

    def to_dict(self):
        """JSON-compatible dict (the augmentation preset expanded to its parameters)."""
        d = asdict(self)
        aug = get_augment_config(self.augment)
        d["augment"] = self.augment if isinstance(self.augment, str) else "custom"
        d["augment_params"] = asdict(aug)
        return json.loads(json.dumps(d))


#: Named recipes (see :func:`get_recipe`).
#:
#: - ``"paper"``: the seed papers' setting -- Adam, lr 1e-4, batch 32, dropout
#:   0.5, constant learning rate, no augmentation, early stopping after 10
#:   epochs without improvement (max 50).
#: - ``"ours"``: a tuned recipe for FER-2013 -- SGD with Nesterov momentum 0.9,
#:   lr 0.01, weight decay 5e-4, batch 128, 60 epochs of cosine decay after 2
#:   warm-up epochs, label smoothing 0.1, ``"standard"`` augmentation, ten-crop
#:   TTA at test time (cf. Khaireddin & Chen 2021, arXiv:2105.03588).
#: - ``"short"``: a short-schedule recipe for CPU budgets (preset
#:   ``real-cpu``) -- AdamW, lr 3e-3 with a one-cycle schedule, weight decay
#:   1e-4, batch 128, 10 epochs, ``"light"`` augmentation (pad-crop and flip),
#:   flip TTA, no label smoothing, dropout 0.3, no early stopping. Chosen on
#:   FER-2013 PublicTest only: after 3 epochs it reached 53.6% where ``"ours"``
#:   cut to the same length was at 36%.
#: - ``"cpu"``: the compute-efficient recipe for a 2-core CPU budget (preset
#:   ``real-cpu``, model ``"fastvgg"``) -- SGD with Nesterov momentum 0.9, lr
#:   0.05 after one warm-up epoch then cosine decay to 0, weight decay 5e-4,
#:   batch 128, label smoothing 0.1, ``"light"`` augmentation (pad-crop and
#:   flip), flip TTA, dropout 0.3, no early stopping; the epoch count is the
#:   budget (18 by default). Taken from published anchors (airbench, Jordan
#:   2024; Khaireddin & Chen 2021), not from a search: at a 3-epoch budget on
#:   PublicTest (:mod:`fer_lib.recipe_search`) ``"short"`` scored 2.1 points
#:   higher with the ``"fastvgg"`` model, so the two still need comparing at
#:   the full budget.
#: - ``"smoke"``: a tiny CPU recipe (3 epochs on 512 images) to check that
#:   everything runs.
RECIPES = MappingProxyType(
    {
        "paper": TrainConfig(
            epochs=50,
            batch_size=32,
            lr=1e-4,
            optimizer="adam",
            schedule="none",
            early_stopping_patience=10,
            augment="none",
            tta="none",
            dropout=0.5,
        ),
        "ours": TrainConfig(
            epochs=60,
            batch_size=128,
            lr=0.01,
            weight_decay=5e-4,
            optimizer="sgd",
            momentum=0.9,
            nesterov=True,
            schedule="cosine",
            warmup_epochs=2.0,
            label_smoothing=0.1,
            early_stopping_patience=20,
            augment="standard",
            tta="tencrop",
            dropout=0.5,
        ),
        "short": TrainConfig(
            epochs=10,
            batch_size=128,
            lr=3e-3,
            weight_decay=1e-4,
            optimizer="adamw",
            schedule="onecycle",
            label_smoothing=0.0,
            early_stopping_patience=None,
            augment="light",
            tta="flip",
            dropout=0.3,
        ),
        "cpu": TrainConfig(
            epochs=18,
            batch_size=128,
            lr=0.05,
            weight_decay=5e-4,
            optimizer="sgd",
            momentum=0.9,
            nesterov=True,
            schedule="cosine",
            warmup_epochs=1.0,
            label_smoothing=0.1,
            early_stopping_patience=None,
            augment="light",
            tta="flip",
            dropout=0.3,
        ),
        "smoke": TrainConfig(
            epochs=3,
            batch_size=32,
            lr=1e-3,
            optimizer="adamw",
            weight_decay=1e-4,
            schedule="cosine",
            augment="light",
            tta="flip",
            max_train_samples=512,
            eval_batch_size=256,
            dropout=0.5,
        ),
    }
)


def get_recipe(name, **overrides):
    """A named recipe, optionally with some fields changed.

    Parameters
    ----------
    name : {"paper", "ours", "short", "cpu", "smoke"}
        A key of :data:`RECIPES`.
    **overrides
        :class:`TrainConfig` fields to change, e.g. ``epochs=5``.

    Returns
    -------
    TrainConfig

    Raises
    ------
    ValueError
        For an unknown recipe or field name, or an invalid value.
    """
    check_option("name", name, tuple(RECIPES))
    allowed = [f.name for f in fields(TrainConfig)]
    unknown = sorted(set(overrides) - set(allowed))
    if unknown:
        raise ValueError(f"overrides must be TrainConfig fields {allowed}; got unknown {unknown}")
    return replace(RECIPES[name], **overrides)


def _resolve_config(config):
    if config is None:
        return TrainConfig()
    if isinstance(config, str):
        return get_recipe(config)
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig or one of {list(RECIPES)}; got {type(config).__name__}")
    return config


# --------------------------------------------------------------------------- runtime


def resolve_device(device="auto"):
    """``torch.device`` for ``"auto"`` (CUDA if available, else CPU), ``"cpu"`` or ``"cuda"``.

    Raises
    ------
    ValueError
        For another value, or ``"cuda"`` on a machine without CUDA.
    """
    if isinstance(device, torch.device):
        device = device.type if device.index is None else str(device)
    if isinstance(device, str) and device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but CUDA is not available; use device='cpu' or 'auto'")
        return torch.device(device)
    check_option("device", device, DEVICES)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but CUDA is not available; use device='cpu' or 'auto'")
    return torch.device(device)


#: Environment variable that sets the CPU threads of training and prediction
#: (e.g. ``FER_NUM_THREADS=1`` for each of two processes run side by side).
THREADS_ENV = "FER_NUM_THREADS"
#: Environment variable that turns bf16 autocast on the CPU off (``0``) even
#: where the CPU has native bf16, e.g. to compare with fp32.
CPU_BF16_ENV = "FER_CPU_BF16"

_THREADS_SET = []  # the thread count this process has set, once (see cpu_threads)


def cpu_bf16_supported():
    """Whether this CPU runs bf16 convolutions and matrix products natively.

    True where oneDNN reports bf16 support (AVX512_BF16 or AMX-BF16, e.g.
    Intel Sapphire Rapids or AMD Zen 4 and newer). Elsewhere bf16 would be
    emulated and slower than float32, so training falls back to float32.

    Returns
    -------
    bool
    """
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_threads(n_threads=None):
    """Set PyTorch's CPU threads to the free cores, once per process, and return the count.

    Parameters
    ----------
    n_threads : int, optional
        Threads to use. Default: ``$FER_NUM_THREADS`` if set, else the cores
        this process may run on (``os.sched_getaffinity``), at most
        ``torch.get_num_threads()``'s default. More threads than free cores
        cut throughput several times, so two trainings side by side should
        each get ``FER_NUM_THREADS=1``.

    Returns
    -------
    int
        The thread count in force.

    Raises
    ------
    ValueError
        For a non-positive count or a ``FER_NUM_THREADS`` that is not an integer.
    """
    if n_threads is None:
        env = os.environ.get(THREADS_ENV)
        if env is not None:
            try:
                n_threads = int(env)
            except ValueError:
                raise ValueError(f"{THREADS_ENV} must be a positive integer; got {env!r}") from None
        elif _THREADS_SET:
            return torch.get_num_threads()
        else:
            free = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            n_threads = min(free, torch.get_num_threads())
    n_threads = check_positive_int("n_threads", n_threads)
    if torch.get_num_threads() != n_threads:
        torch.set_num_threads(n_threads)
    _THREADS_SET[:] = [n_threads]
    return n_threads


def runtime_text(info):
    """One line for a log: e.g. ``"cpu, fp32 (no native bf16: AVX2), channels-last, 2 threads"``.

    Parameters
    ----------
    info : dict
        ``metadata["runtime"]`` of a checkpoint (what ``_Runtime.describe`` returns).

    Returns
    -------
    str
    """
    parts = [info["device"]]
    precision = info["precision"]
    if info.get("cpu_bf16") is False:
        precision += f" (no native bf16: {info.get('cpu_capability', 'unknown')})"
    parts.append(precision)
    if info.get("channels_last"):
        parts.append("channels-last")
    if info.get("threads") is not None:
        parts.append(f"{info['threads']} thread{'s' if info['threads'] != 1 else ''}")
    return ", ".join(parts)


@dataclass
class _Runtime:
    """Where and how a model runs: device, autocast dtype, memory format, threads.

    On CUDA: autocast to ``config.amp_dtype`` and channels-last as configured.
    On a CPU with native bf16: bf16 autocast (``amp``) and channels-last as
    configured (float16 is not used on a CPU). On other CPUs: float32, and
    channels-last as configured (it also helps float32 convolutions on CPU).
    """

    device: torch.device
    amp_dtype: object  # torch.dtype or None
    channels_last: bool
    threads: int = None

    @classmethod
    def from_config(cls, config, device=None):
        dev = resolve_device(config.device if device is None else device)
        amp_dtype, threads = None, None
        if dev.type == "cuda":
            if config.amp:
                amp_dtype = torch.bfloat16 if config.amp_dtype == "bfloat16" else torch.float16
        else:
            threads = cpu_threads()
            if config.amp and os.environ.get(CPU_BF16_ENV, "1") != "0" and cpu_bf16_supported():
                amp_dtype = torch.bfloat16
        return cls(dev, amp_dtype, bool(config.channels_last), threads)

    @property
    def precision(self):
        """``"bf16-autocast"``, ``"fp16-autocast"`` or ``"fp32"``."""
        if self.amp_dtype is None:
            return "fp32"
        return "bf16-autocast" if self.amp_dtype == torch.bfloat16 else "fp16-autocast"

    def describe(self):
        """JSON-ready summary for logs, checkpoints and metrics."""
        info = {"device": str(self.device), "precision": self.precision, "channels_last": self.channels_last}
        if self.device.type == "cpu":
            info.update(threads=self.threads, cpu_bf16=cpu_bf16_supported(),
                        cpu_capability=torch.backends.cpu.get_cpu_capability())
        else:
            info["gpu"] = torch.cuda.get_device_name(self.device)
        return info

    def autocast(self):
        if self.amp_dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


# --------------------------------------------------------------------------- data


def _check_xy(name, data):
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ValueError(f"{name} must be a pair (X, y); got {type(data).__name__}")
    X, y = data
    X = _check_X(f"{name}[0] (X)", X)
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != X.shape[0] or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"{name}[1] (y) must be an integer array of shape ({X.shape[0]},); "
            f"got dtype {y.dtype} and shape {y.shape}"
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} must not be empty")
    return X, y.astype(np.int64)


def _check_X(name, X):
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    X = np.asarray(X)
    if X.dtype != np.uint8 or X.ndim not in (3, 4):
        raise ValueError(
            f"{name} must be a uint8 array of shape (n, H, W) (images) or (n, T, H, W) (clips) "
            f"with values 0..255; got dtype {X.dtype} and shape {X.shape}"
        )
    return X


def normalization_stats(X, method="standardize", chunk=4096):
    """Pixel statistics for normalisation, on the [0, 1] scale.

    Parameters
    ----------
    X : ndarray of shape (n, H, W) or (n, T, H, W), uint8
        The training images (never the validation or test set).
    method : {"standardize", "scale"}, default="standardize"
        ``"scale"`` returns mean 0 and std 1 (divide by 255 only).
    chunk : int, default=4096
        Images per chunk (bounded memory).

    Returns
    -------
    dict
        ``{"method": str, "mean": float, "std": float}``; a batch is normalised
        as ``(x / 255 - mean) / std``.
    """
    check_option("normalization", method, NORMALIZATIONS)
    X = _check_X("X", X)
    if method == "scale":
        return {"method": "scale", "mean": 0.0, "std": 1.0}
    total, total_sq, count = 0.0, 0.0, 0
    for i in range(0, X.shape[0], chunk):
        block = X[i : i + chunk].astype(np.float64) / 255.0
        total += float(block.sum())
        total_sq += float(np.square(block).sum())
        count += block.size
    mean = total / count
    std = math.sqrt(max(total_sq / count - mean * mean, 0.0))
    return {"method": "standardize", "mean": mean, "std": std if std > 1e-8 else 1.0}


class DeviceDataset:
    """A whole ``uint8`` data set resident on the training device.

    Parameters
    ----------
    X : ndarray of shape (n, H, W) or (n, T, H, W), uint8
        Images or clips (0..255).
    y : ndarray of shape (n,), int, optional
        Labels.
    device : str or torch.device, default="cpu"
    normalization : dict, optional
        ``{"method", "mean", "std"}`` as returned by :func:`normalization_stats`;
        default: computed from ``X`` with ``"standardize"`` (only right for the
        training set -- pass the training set's statistics for the others).

    Attributes
    ----------
    X : Tensor of shape (n, H, W) or (n, T, H, W), uint8, on ``device``
    y : Tensor of shape (n,), int64, on ``device``, or None
    is_sequence : bool
        True for clips.
    sample_shape : tuple
        ``(H, W)`` or ``(T, H, W)``.
    """

    def __init__(self, X, y=None, device="cpu", normalization=None):
        X = _check_X("X", X)
        self.device = torch.device(device)
        self.normalization = dict(normalization) if normalization is not None else normalization_stats(X)
        self.mean = float(self.normalization["mean"])
        self.std = float(self.normalization["std"])
        self.X = torch.from_numpy(np.ascontiguousarray(X)).to(self.device)
        self.y = None if y is None else torch.as_tensor(np.asarray(y), dtype=torch.int64).to(self.device)
        self.is_sequence = X.ndim == 4
        self.sample_shape = tuple(X.shape[1:])

    def __len__(self):
        return self.X.shape[0]

    def batch(self, idx, augment_config=None, generator=None, channels_last=False):
        """One batch: gather, convert, augment, normalise -- all on the device.

        Parameters
        ----------
        idx : Tensor of shape (b,), int64, on the device
            Indices into the data set.
        augment_config : AugmentConfig or str, optional
            Augmentation applied to the [0, 1] images before normalisation.
        generator : torch.Generator, optional
            Randomness of the augmentation.
        channels_last : bool, default=False
            Return image batches in channels-last memory format.

        Returns
        -------
        x : Tensor of shape (b, 1, H, W) or (b, T, 1, H, W), float32
        y : Tensor of shape (b,), int64, or None
        """
        x = self.X[idx].float().div_(255.0).unsqueeze(-3)
        if augment_config is not None:
            x = augment(x, augment_config, generator)
        if self.normalization["method"] != "scale":
            x = (x - self.mean) / self.std
        if channels_last and x.dim() == 4:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, (None if self.y is None else self.y[idx])

    def iter_batches(self, batch_size, shuffle=False, generator=None, drop_last=False, augment_config=None,
                     augment_generator=None, channels_last=False):
        """Yield ``(x, y)`` batches in order or in a random permutation drawn on the device.

        Parameters
        ----------
        batch_size : int
        shuffle : bool, default=False
        generator : torch.Generator, optional
            Randomness of the permutation (on the data set's device).
        drop_last : bool, default=False
            Drop the last incomplete batch (never when it is the only batch).
        augment_config, augment_generator, channels_last
            As in :meth:`batch`.

        Yields
        ------
        x : Tensor of shape (b, 1, H, W) or (b, T, 1, H, W)
        y : Tensor of shape (b,) or None
        """
        n = len(self)
        if shuffle:
            gdev = generator.device if generator is not None else self.device
            order = torch.randperm(n, generator=generator, device=gdev).to(self.device)
        else:
            order = torch.arange(n, device=self.device)
        n_batches = _n_batches(n, batch_size, drop_last)
        for b in range(n_batches):
            idx = order[b * batch_size : (b + 1) * batch_size]
            yield self.batch(idx, augment_config, augment_generator, channels_last)


def _n_batches(n, batch_size, drop_last):
    if drop_last and n >= batch_size:
        return n // batch_size
    return math.ceil(n / batch_size)


def _fingerprint(X, y):
    """Cheap identity check of a data set (shape, labels, a strided sample of pixels)."""
    h = hashlib.sha256()
    h.update(str(X.shape).encode())
    h.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    step = max(1, X.shape[0] // 1000)
    h.update(np.ascontiguousarray(X[::step]).tobytes())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- optimisation


def _make_optimizer(model, config):
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


def _train_step(model, x, y, optimizer, scaler, runtime, label_smoothing=0.0, grad_clip=None):
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


@torch.no_grad()
def _probabilities(model, dataset, batch_size, runtime, tta="none"):
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


def _val_metrics(model, dataset, batch_size, runtime):
    probs = _probabilities(model, dataset, batch_size, runtime)
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


def _atomic_save(obj, path):
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


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


def _model_spec(model):
    spec = getattr(model, "model_spec", None)
    if not (isinstance(spec, dict) and "factory" in spec and "kwargs" in spec):
        return None
    return _jsonable(spec)


def _preprocessing_text(norm, sample_shape, upstream):
    shape = "(n, " + ", ".join(str(s) for s in sample_shape) + ")"
    text = f"uint8 {shape} grayscale 0..255 -> float / 255"
    if norm["method"] == "standardize":
        text += f" -> (x - {norm['mean']:.6f}) / {norm['std']:.6f} (training-set pixel mean/std)"
    text += " -> channel axis added"
    if upstream:
        text = f"{upstream}; then {text}"
    return text


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
        ``model.model_spec`` (set by :func:`fer_lib.models.build_model`).
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
    preprocessing : str, optional
        Description of the preprocessing upstream of the arrays (face
        detection, alignment, cropping, ...), stored in the checkpoint.

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
    which :func:`~fer_lib.reproducibility.seed_everything` sets).

    ``history.csv``: ``train_loss`` / ``train_acc`` are running averages over
    the epoch's (augmented) batches, with label smoothing in the loss;
    ``val_loss`` is the plain cross-entropy; ``lr`` is the learning rate at the
    start of the epoch; ``seconds`` covers training and validation;
    ``images_per_s`` the training part only.
    """
    t_call = time.perf_counter()
    config = _resolve_config(config)
    if not isinstance(model, torch.nn.Module):
        raise ValueError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    X_tr, y_tr = _check_xy("train", train)
    X_va, y_va = _check_xy("val", val)
    if X_tr.shape[1:] != X_va.shape[1:]:
        raise ValueError(f"train and val samples must have the same shape; got {X_tr.shape[1:]} and {X_va.shape[1:]}")
    n_classes = getattr(model, "n_classes", None) or int(max(y_tr.max(), y_va.max())) + 1
    for name, y in (("train", y_tr), ("val", y_va)):
        if y.min() < 0 or y.max() >= n_classes:
            raise ValueError(f"{name} labels must be in 0..{n_classes - 1} (model.n_classes={n_classes}); got {y.min()}..{y.max()}")
    if class_names is None:
        class_names = tuple(str(i) for i in range(n_classes))
    class_names = [str(c) for c in class_names]
    if len(class_names) != n_classes:
        raise ValueError(f"class_names must have {n_classes} entries (one per class); got {len(class_names)}")
    for name, value in (("resume", resume), ("progress", progress)):
        check_option(name, value, (True, False))
    if max_minutes is not None:
        _check_number("max_minutes", max_minutes, 0.0)
    if max_epochs_this_run is not None:
        check_positive_int("max_epochs_this_run", max_epochs_this_run)
    if out_dir is None and (resume or max_minutes is not None or max_epochs_this_run is not None):
        raise ValueError("resume, max_minutes and max_epochs_this_run need out_dir (where last.pt is saved); got out_dir=None")
    spec = _model_spec(model)
    if out_dir is not None and spec is None:
        raise ValueError(
            "model has no model_spec, so its checkpoint could not be rebuilt; build it with "
            "fer_lib.models.build_model or set model.model_spec = {'factory': 'fer_lib.<module>:<function>', "
            "'kwargs': {...}}"
        )
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
    runtime = _Runtime.from_config(config)
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
    optimizer = _make_optimizer(model, config)
    steps_per_epoch = _n_batches(len(train_ds), config.batch_size, drop_last=True)
    scheduler, per_step = _make_scheduler(optimizer, config, steps_per_epoch)
    scaler = torch.amp.GradScaler("cuda") if runtime.amp_dtype == torch.float16 else None
    data_gen = torch.Generator(device=device).manual_seed(config.seed)
    aug_gen = torch.Generator(device=device).manual_seed(config.seed + 1)
    generators = {"data": data_gen, "augment": aug_gen}

    metadata = {
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "model_spec": spec,
        "model_class": type(model).__name__,
        "class_names": class_names,
        "n_classes": int(n_classes),
        "input_shape": list(X_tr.shape[1:]),
        "is_sequence": X_tr.ndim == 4,
        "normalization": norm,
        "preprocessing": _preprocessing_text(norm, X_tr.shape[1:], preprocessing),
        "upstream_preprocessing": preprocessing,
        "recipe": config.to_dict(),
        "n_train": int(X_tr.shape[0]),
        "n_val": int(X_va.shape[0]),
        "data_fingerprint": {"train": _fingerprint(X_tr, y_tr), "val": _fingerprint(X_va, y_va)},
        "fer_lib_version": __version__,
        "torch_version": str(torch.__version__),
        "runtime": runtime.describe(),
        "epoch": None,
        "val_metrics": None,
    }
    metadata = _jsonable(metadata)

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
        old = ckpt["metadata"]
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
        _atomic_save({"state_dict": _cpu_state(model), "metadata": meta, "training_state": training_state}, last_path)

    def save_best():
        if out is None:
            return
        meta = dict(metadata, epoch=best_epoch, val_metrics=best_metrics)
        _atomic_save({"state_dict": best_state, "metadata": meta}, out / "best.pt")

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
            l_sum, c = _train_step(model, x, y, optimizer, scaler, runtime, config.label_smoothing, config.grad_clip)
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
    model.fer_preprocessing = _preprocessing_from_metadata(final_meta)
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


def _preprocessing_from_metadata(meta):
    return {
        "normalization": dict(meta["normalization"]),
        "input_shape": list(meta["input_shape"]),
        "class_names": list(meta["class_names"]),
    }


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
    X = _check_X("X", X)
    expected = list(prep["input_shape"])
    if len(expected) != X.ndim - 1 or list(X.shape[-2:]) != expected[-2:]:
        raise ValueError(
            f"X must have samples of shape {tuple(expected)} (the model's training input; T may differ for "
            f"clips); got {tuple(X.shape[1:])}. Preprocess the images as recorded in the checkpoint metadata."
        )
    runtime = _Runtime.from_config(cfg, device)
    model.to(runtime.device)
    if runtime.channels_last:
        model.to(memory_format=torch.channels_last)
    ds = DeviceDataset(X, None, runtime.device, prep["normalization"])
    probs = _probabilities(model, ds, cfg.eval_batch_size, runtime, tta)
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


# --------------------------------------------------------------------------- checkpoints


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
        that :func:`predict` normalises inputs as in training.
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
    meta = ckpt["metadata"]
    missing = [k for k in CHECKPOINT_KEYS if k not in meta]
    spec = meta.get("model_spec")
    if missing or not (isinstance(spec, dict) and "factory" in spec and "kwargs" in spec):
        raise ValueError(
            f"{path} lacks the metadata {missing or ['model_spec']} needed to rebuild the model and its "
            "preprocessing; it was not written by fer_lib.training.train_model"
        )
    factory = _resolve_factory(spec["factory"])
    model = factory(**spec["kwargs"])
    model.load_state_dict(ckpt["state_dict"])
    model.model_spec = copy.deepcopy(spec)
    model.fer_preprocessing = _preprocessing_from_metadata(meta)
    model.to(dev).eval()
    return model, meta


__all__ = [
    "AMP_DTYPES",
    "CHECKPOINT_KEYS",
    "CPU_BF16_ENV",
    "THREADS_ENV",
    "cpu_bf16_supported",
    "cpu_threads",
    "runtime_text",
    "DEVICES",
    "DeviceDataset",
    "HISTORY_COLUMNS",
    "NORMALIZATIONS",
    "OPTIMIZERS",
    "RECIPES",
    "SCHEDULES",
    "TrainConfig",
    "TrainResult",
    "evaluate",
    "get_recipe",
    "load_checkpoint",
    "normalization_stats",
    "predict",
    "resolve_device",
    "train_model",
]
