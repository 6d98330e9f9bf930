"""Training-throughput benchmarks: input pipelines, and precision x threads on the CPU.

Not a test -- an entry point to measure a machine::

    python -m fer_lib.train.benchmark --model vgg --batch-size 128 --steps 50
    python -m fer_lib.train.benchmark --grid --models small vgg --threads 1 2 --precisions fp32 bf16 --steps 20
    python -m fer_lib.train.benchmark --help

Pipeline comparison
-------------------
:func:`benchmark_training` trains a fresh model for a fixed number of steps on
random 48x48 ``uint8`` images twice:

(a) **device pipeline** -- the data set lives on the device
    (:class:`fer_lib.train.data.DeviceDataset`), batches come from a permutation
    drawn on the device and are augmented there in one batched call
    (:func:`fer_lib.train.augment.augment`) -- what :func:`fer_lib.train.loop.train_model` does;
(b) **DataLoader** -- a ``torch.utils.data.DataLoader`` over a CPU
    ``TensorDataset``-like data set that augments each image on the CPU with
    the equivalent ``torchvision.transforms.v2`` pipeline, then copies each
    batch to the device (pinned memory on CUDA).

Both use the same model, optimiser (AdamW), mixed precision and memory
format; only the input pipeline differs. It reports images/s for each, their
ratio, the implied time of one FER-2013 epoch (28,709 images), and the
training FLOPs per image (forward + backward, counted by
``torch.utils.flop_counter.FlopCounterMode``: convolutions and matrix
products only), the achieved FLOP/s and, on a known GPU, the fraction of its
dense bf16 peak.

Precision grid (CPU)
--------------------
:func:`precision_grid` trains each model for a fixed number of full steps
(forward, float32 cross-entropy, backward, AdamW step; device-resident
batches of random images, no augmentation) at every combination of CPU
thread count and precision (``"fp32"``, or ``"bf16"`` autocast), and puts the
achieved FLOP/s beside the machine's *measured* peak: the FLOP/s of large
square matrix multiplies in the same dtype at the same thread count
(:func:`matmul_peak_flops`). ``fraction_of_peak`` is relative to the peak of
the row's own precision; ``fraction_of_best_peak`` to the fastest kernel
measured at that thread count (on a CPU without native bf16 that is fp32).

bf16 on a CPU without AVX512_BF16 or AMX (e.g. an AVX2-only AMD or Intel
CPU) is **emulated** by converting to float32 and is many times slower than
float32 (about 1 GFLOP/s per core for a matrix multiply, against tens for
float32). Such rows are still measured but carry ``native_bf16=False``
(:func:`fer_lib.core.device.cpu_bf16_supported`); training itself then uses
float32 on that CPU. The emulated bf16 matrix-multiply peak is slow to
measure at ``matmul_n=2048`` (tens of seconds); pass a smaller ``matmul_n``
for a quick look.
"""

import argparse
import json
import math
import os
import time

import numpy as np
import pandas as pd
import torch

from fer_lib.core.device import cpu_bf16_supported
from fer_lib.core.jsonio import to_jsonable
from fer_lib.core.validation import check_option, check_positive_int, check_subset
from fer_lib.models.cnn import MODEL_NAMES, build_model, count_parameters
from fer_lib.train.augment import AUGMENT_PRESETS, get_augment_config
from fer_lib.train.config import TrainConfig
from fer_lib.train.data import DeviceDataset, normalization_stats
from fer_lib.train.loop import make_optimizer, train_step
from fer_lib.train.runtime import Runtime

#: Images in the FER-2013 training split (for the epoch-time estimate).
FER2013_TRAIN_IMAGES = 28709

#: Precisions of :func:`precision_grid`: float32, or bf16 autocast (loss in float32).
PRECISIONS = ("fp32", "bf16")
#: torch dtype of each precision (the matrix-multiply peak is measured in it).
PRECISION_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
#: Columns of the DataFrame :func:`precision_grid` returns, in order.
GRID_COLUMNS = (
    "model",
    "parameters",
    "threads",
    "precision",
    "native_bf16",
    "images_per_s",
    "train_gflop_per_image",
    "achieved_gflops",
    "peak_gflops",
    "fraction_of_peak",
    "fraction_of_best_peak",
    "fer2013_epoch_minutes",
)

#: Dense (no sparsity) bf16 tensor-core peak FLOP/s by GPU name fragment,
#: checked in order. H200 is the H100 (GH100) chip with more memory.
GPU_PEAK_BF16_FLOPS = (
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("A100", 312e12),
)


def gpu_peak_flops(name):
    """Dense bf16 peak FLOP/s for a GPU name (``torch.cuda.get_device_name()``), or None if unknown."""
    for fragment, peak in GPU_PEAK_BF16_FLOPS:
        if fragment.lower() in str(name).lower():
            return peak
    return None


def torchvision_transform(augment_config, mean, std, size=48):
    """The per-sample CPU ``torchvision.transforms.v2`` equivalent of an :class:`AugmentConfig`.

    Parameters
    ----------
    augment_config : AugmentConfig or str
    mean, std : float
        Normalisation on the [0, 1] scale.
    size : int, default=48

    Returns
    -------
    callable
        Maps a ``uint8`` tensor of shape (1, size, size) to a normalised float32 one.
    """
    from torchvision.transforms import v2

    cfg = get_augment_config(augment_config)
    t = []
    if cfg.crop == "pad":
        t.append(v2.RandomCrop(size, padding=cfg.crop_padding))
    elif cfg.crop == "resized":
        t.append(v2.RandomResizedCrop(size, scale=cfg.crop_scale, ratio=cfg.crop_ratio, antialias=True))
    if cfg.hflip_prob > 0:
        t.append(v2.RandomHorizontalFlip(cfg.hflip_prob))
    if cfg.affine_prob > 0 and (cfg.rotation > 0 or cfg.translate > 0 or cfg.scale != (1.0, 1.0)):
        affine = v2.RandomAffine(degrees=cfg.rotation, translate=(cfg.translate, cfg.translate), scale=cfg.scale)
        t.append(v2.RandomApply([affine], p=cfg.affine_prob))
    if cfg.brightness > 0 or cfg.contrast > 0:
        t.append(v2.ColorJitter(brightness=cfg.brightness or None, contrast=cfg.contrast or None))
    t.append(v2.ToDtype(torch.float32, scale=True))
    if cfg.erase_prob > 0:
        value = "random" if cfg.erase_value is None else cfg.erase_value
        t.append(v2.RandomErasing(p=cfg.erase_prob, scale=cfg.erase_scale, ratio=cfg.erase_ratio, value=value))
    t.append(v2.Normalize([mean], [std]))
    return v2.Compose(t)


class _CPUAugmentedDataset(torch.utils.data.Dataset):
    """uint8 images (n, 1, H, W) on the CPU, augmented one at a time."""

    def __init__(self, X, y, transform):
        self.X, self.y, self.transform = X, y, transform

    def __len__(self):
        return self.X.shape[0]

    def __getitem__(self, i):
        return self.transform(self.X[i]), self.y[i]


def _flops_per_image(model, runtime, shape, n_classes, batch=2):
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(batch, *shape, device=runtime.device)
    y = torch.randint(0, n_classes, (batch,), device=runtime.device)
    model.train()
    counter = FlopCounterMode(display=False)
    with counter:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / batch


def _timed_steps(model, batches, optimizer, runtime, steps, warmup, batch_size):
    """Images/s of ``steps`` timed training steps drawn from ``batches`` after ``warmup`` untimed ones."""
    model.train()
    for _ in range(warmup):
        x, yb = next(batches)
        train_step(model, x, yb, optimizer, None, runtime)
    runtime.sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        x, yb = next(batches)
        train_step(model, x, yb, optimizer, None, runtime)
    runtime.sync()
    return steps * batch_size / max(time.perf_counter() - t0, 1e-9)


def _time_device_pipeline(model, X, y, config, runtime, steps, warmup):
    norm = normalization_stats(X)
    ds = DeviceDataset(X, y, runtime.device, norm)
    aug = get_augment_config(config.augment)
    aug = None if aug.is_identity else aug
    optimizer = make_optimizer(model, config)
    gen = torch.Generator(device=runtime.device).manual_seed(0)
    agen = torch.Generator(device=runtime.device).manual_seed(1)

    def batches():
        while True:
            yield from ds.iter_batches(config.batch_size, True, gen, True, aug, agen, runtime.channels_last)

    return _timed_steps(model, batches(), optimizer, runtime, steps, warmup, config.batch_size)


def _time_dataloader(model, X, y, config, runtime, steps, warmup, num_workers):
    norm = normalization_stats(X)
    transform = torchvision_transform(config.augment, norm["mean"], norm["std"], size=X.shape[-1])
    data = _CPUAugmentedDataset(torch.from_numpy(X).unsqueeze(1), torch.from_numpy(y), transform)
    cuda = runtime.device.type == "cuda"
    loader = torch.utils.data.DataLoader(
        data,
        batch_size=config.batch_size,
        shuffle=True,
        drop_last=True,
        num_workers=num_workers,
        pin_memory=cuda,
        persistent_workers=num_workers > 0,
        generator=torch.Generator().manual_seed(0),
    )
    optimizer = make_optimizer(model, config)

    def batches():
        while True:
            yield from loader

    it = batches()
    model.train()

    def step():
        x, yb = next(it)
        x = x.to(runtime.device, non_blocking=cuda)
        yb = yb.to(runtime.device, non_blocking=cuda)
        if runtime.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        train_step(model, x, yb, optimizer, None, runtime)

    for _ in range(warmup):
        step()
    runtime.sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    runtime.sync()
    return steps * config.batch_size / (time.perf_counter() - t0)


def benchmark_training(
    model_name="vgg",
    n_images=4096,
    batch_size=128,
    steps=30,
    device="auto",
    *,
    warmup_steps=5,
    augment="standard",
    num_workers=None,
    amp=True,
    channels_last=True,
    n_classes=7,
    image_size=48,
    seed=0,
):
    """Measure training throughput of both input pipelines on random data.

    Parameters
    ----------
    model_name : {"small", "vgg", "resnet18", "fastvgg"}, default="vgg"
    n_images : int, default=4096
        Size of the random ``uint8`` data set (cycled through as needed).
    batch_size : int, default=128
    steps : int, default=30
        Timed optimisation steps per pipeline.
    device : {"auto", "cpu", "cuda"}, default="auto"
    warmup_steps : int, default=5
        Untimed steps first (kernel selection, worker start-up).
    augment : str or AugmentConfig, default="standard"
        Augmentation for both pipelines (a key of :data:`fer_lib.train.augment.AUGMENT_PRESETS`).
    num_workers : int, optional
        DataLoader workers; default 0 on CPU (workers would compete with the
        training threads) and ``min(8, os.cpu_count())`` on CUDA.
    amp : bool, default=True
        bf16 autocast on CUDA, and on a CPU with native bf16
        (:class:`fer_lib.train.runtime.Runtime` decides; float32 on other CPUs).
    channels_last : bool, default=True
        Channels-last memory format (CUDA and CPU).
    n_classes : int, default=7
    image_size : int, default=48
    seed : int, default=0

    Returns
    -------
    dict
        ``device``, ``device_name``, ``model``, ``parameters``, the settings,
        ``device_pipeline_images_per_s``, ``dataloader_images_per_s``,
        ``speedup`` (a / b), ``fer2013_epoch_seconds_device`` and
        ``..._dataloader`` (28,709 images), ``train_flops_per_image``,
        ``achieved_flops_per_s_device`` / ``..._dataloader``, ``peak_flops_per_s``
        (None if the GPU is unknown or on CPU) and ``fraction_of_peak_device``
        / ``..._dataloader`` (None without a peak).
    """
    check_option("model_name", model_name, MODEL_NAMES)
    n_images = check_positive_int("n_images", n_images, minimum=2)
    batch_size = check_positive_int("batch_size", batch_size, minimum=2)
    if batch_size > n_images:
        raise ValueError(f"batch_size must be <= n_images ({n_images}); got {batch_size}")
    steps = check_positive_int("steps", steps)
    warmup_steps = check_positive_int("warmup_steps", warmup_steps, minimum=0)
    if not isinstance(augment, str) or augment not in AUGMENT_PRESETS:
        augment = get_augment_config(augment)
    config = TrainConfig(
        batch_size=batch_size, optimizer="adamw", lr=1e-3, augment=augment, amp=amp,
        channels_last=channels_last, device=device,
    )
    runtime = Runtime.from_config(config)
    cuda = runtime.device.type == "cuda"
    if num_workers is None:
        num_workers = min(8, os.cpu_count() or 1) if cuda else 0
    num_workers = check_positive_int("num_workers", num_workers, minimum=0)

    rng = np.random.default_rng(seed)
    X = rng.integers(0, 256, size=(n_images, image_size, image_size), dtype=np.uint8)
    y = rng.integers(0, n_classes, size=n_images).astype(np.int64)

    def fresh_model():
        torch.manual_seed(seed)
        m = build_model(model_name, n_classes).to(runtime.device)
        if runtime.channels_last:
            m.to(memory_format=torch.channels_last)
        return m

    model = fresh_model()
    params = count_parameters(model)
    flops = _flops_per_image(model, runtime, (1, image_size, image_size), n_classes)
    ips_dev = _time_device_pipeline(model, X, y, config, runtime, steps, warmup_steps)
    del model
    ips_dl = _time_dataloader(fresh_model(), X, y, config, runtime, steps, warmup_steps, num_workers)

    name = torch.cuda.get_device_name(runtime.device) if cuda else "cpu"
    peak = gpu_peak_flops(name) if cuda else None
    result = {
        "device": str(runtime.device),
        "device_name": name,
        "torch_threads": torch.get_num_threads(),
        "model": model_name,
        "parameters": params,
        "image_size": image_size,
        "n_images": n_images,
        "batch_size": batch_size,
        "steps": steps,
        "warmup_steps": warmup_steps,
        "augment": augment if isinstance(augment, str) else "custom",
        "amp_dtype": str(runtime.amp_dtype).replace("torch.", "") if runtime.amp_dtype else "float32",
        "channels_last": runtime.channels_last,
        "num_workers": num_workers,
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "device_pipeline_images_per_s": ips_dev,
        "dataloader_images_per_s": ips_dl,
        "speedup": ips_dev / ips_dl,
        "fer2013_epoch_seconds_device": FER2013_TRAIN_IMAGES / ips_dev,
        "fer2013_epoch_seconds_dataloader": FER2013_TRAIN_IMAGES / ips_dl,
        "train_flops_per_image": flops,
        "achieved_flops_per_s_device": flops * ips_dev,
        "achieved_flops_per_s_dataloader": flops * ips_dl,
        "peak_flops_per_s": peak,
        "peak_note": (
            "dense bf16 tensor-core peak" if peak else ("unknown GPU: FLOP/s only" if cuda else "CPU: FLOP/s only")
        ),
        "fraction_of_peak_device": flops * ips_dev / peak if peak else None,
        "fraction_of_peak_dataloader": flops * ips_dl / peak if peak else None,
    }
    return result


# --------------------------------------------------------------------------- precision grid


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak_flops(dtype=torch.float32, n=2048, repeats=5, device="cpu", *, max_seconds=20.0,
                      min_repeat_seconds=0.05, seed=0):
    """Measured peak FLOP/s of large square matrix multiplies in one dtype.

    Multiplies two random ``(n, n)`` matrices of ``dtype`` (``torch.mm`` into a
    preallocated output) with torch's current thread count, after an untimed
    warm-up multiply. Each repeat times as many back-to-back multiplies as
    fill at least ``min_repeat_seconds``; the best repeat counts
    (``2 * n**3`` FLOPs per multiply). This is the machine's practical peak
    for that dtype, the yardstick of :func:`precision_grid`.

    On a CPU without native bf16 (:func:`fer_lib.core.device.cpu_bf16_supported`
    is False) a bf16 multiply is emulated and many times slower than float32;
    it is measured all the same, and the caller must mark the result as
    emulated (``precision_grid`` sets ``native_bf16=False``).

    Parameters
    ----------
    dtype : {torch.float32, torch.bfloat16}, default=torch.float32
    n : int, default=2048
        Matrix side; the operands have shape (n, n).
    repeats : int, default=5
        Timed repeats; the fastest counts.
    device : str or torch.device, default="cpu"
    max_seconds : float, default=20.0
        Stop repeating once this much time has been spent (at least one
        repeat always runs), so that an emulated bf16 multiply at ``n=2048``
        (~18 s on one AVX2 core) does not run ``repeats`` times.
    min_repeat_seconds : float, default=0.05
        Each repeat times ``ceil(min_repeat_seconds / t1)`` multiplies, where
        ``t1`` is the time of one, so that small ``n`` is timed reliably.
    seed : int, default=0
        Seed of the random operands.

    Returns
    -------
    float
        FLOP/s (positive, finite).

    Raises
    ------
    ValueError
        For another dtype, or a non-positive ``n`` or ``repeats``.
    """
    check_option("dtype", dtype, tuple(PRECISION_DTYPES.values()))
    n = check_positive_int("n", n)
    repeats = check_positive_int("repeats", repeats)
    device = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    w = min(n, 256)  # warm-up: thread pool, kernel selection (cheap even when emulated)
    torch.mm(a[:w, :w], b[:w, :w])
    _sync(device)
    t_start = time.perf_counter()
    t0 = time.perf_counter()
    torch.mm(a, b, out=out)
    _sync(device)
    best = max(time.perf_counter() - t0, 1e-9)
    number = max(1, min(10_000, math.ceil(min_repeat_seconds / best)))
    for _ in range(repeats - 1 if number == 1 else repeats):
        if time.perf_counter() - t_start > max_seconds:
            break
        t0 = time.perf_counter()
        for _ in range(number):
            torch.mm(a, b, out=out)
        _sync(device)
        best = min(best, max(time.perf_counter() - t0, 1e-9) / number)
    return 2.0 * n**3 / best


def _check_names(name, values, allowed):
    """Tuple of distinct ``values`` (a single string counts as one), each in ``allowed``."""
    if isinstance(values, str):
        values = (values,)
    values = check_subset(name, values, allowed)
    if not values:
        raise ValueError(f"{name} must be a non-empty list drawn from {list(allowed)}; got {values!r}")
    return tuple(dict.fromkeys(values))


def _check_threads(threads):
    if isinstance(threads, int) and not isinstance(threads, bool):
        threads = (threads,)
    if isinstance(threads, str) or not hasattr(threads, "__iter__"):
        raise ValueError(f"threads must be a non-empty sequence of integers >= 1; got {threads!r}")
    threads = tuple(threads)
    if not threads:
        raise ValueError(f"threads must be a non-empty sequence of integers >= 1; got {threads!r}")
    return tuple(dict.fromkeys(check_positive_int("threads", t) for t in threads))


def _check_model_kwargs(model_kwargs):
    if model_kwargs is None:
        return {}
    if not isinstance(model_kwargs, dict):
        raise ValueError(
            f"model_kwargs must be a dict mapping model names {list(MODEL_NAMES)} to keyword-argument dicts; "
            f"got {type(model_kwargs).__name__}"
        )
    check_subset("model_kwargs keys", tuple(model_kwargs), MODEL_NAMES)
    for name, kw in model_kwargs.items():
        if not isinstance(kw, dict):
            raise ValueError(f"model_kwargs[{name!r}] must be a dict of build_model keyword arguments; got {kw!r}")
    return {name: dict(kw) for name, kw in model_kwargs.items()}


def _time_train_steps(model, ds, batch_size, runtime, steps, warmup, seed):
    """Images/s of ``steps`` timed training steps after ``warmup`` untimed ones."""
    optimizer = make_optimizer(model, TrainConfig(optimizer="adamw", lr=1e-3))
    gen = torch.Generator(device=runtime.device).manual_seed(seed)

    def batches():
        while True:
            yield from ds.iter_batches(batch_size, True, gen, True, None, None, runtime.channels_last)

    return _timed_steps(model, batches(), optimizer, runtime, steps, warmup, batch_size)


def precision_grid(
    model_names,
    threads=(1, 2),
    precisions=PRECISIONS,
    batch_size=128,
    steps=20,
    warmup=3,
    channels_last=True,
    model_kwargs=None,
    *,
    matmul_n=2048,
    matmul_repeats=3,
    n_classes=7,
    image_size=48,
    seed=0,
):
    """Training throughput on the CPU for each model x thread count x precision, against measured peaks.

    For each thread count ``t`` (``torch.set_num_threads(t)``; the previous
    count is restored afterwards, and ``FER_NUM_THREADS`` is not consulted)
    it first measures the matrix-multiply peak of every precision in
    :data:`PRECISIONS` (:func:`matmul_peak_flops`), then, for each model and
    requested precision, trains a fresh model (seeded, AdamW, lr 1e-3) for
    ``warmup`` untimed and ``steps`` timed full steps
    (:func:`fer_lib.train.loop.train_step`: forward under autocast to bf16 or
    in float32, float32 cross-entropy, backward, optimiser step) on batches
    of random ``uint8`` images from a :class:`fer_lib.train.data.DeviceDataset`
    (no augmentation). Training FLOPs per image (forward + backward,
    convolutions and matrix products, ``FlopCounterMode``) are counted once
    per model.

    Parameters
    ----------
    model_names : sequence of str
        Models (:data:`fer_lib.models.cnn.MODEL_NAMES`), built with
        ``build_model(name, n_classes, **model_kwargs.get(name, {}))``.
    threads : sequence of int, default=(1, 2)
        CPU thread counts.
    precisions : sequence of {"fp32", "bf16"}, default=("fp32", "bf16")
        :data:`PRECISIONS`. ``"bf16"`` runs even on a CPU without native bf16
        (emulated, slow; its rows say ``native_bf16=False``).
    batch_size : int, default=128
        Images per step (>= 2); input batches have shape
        (batch_size, 1, image_size, image_size).
    steps : int, default=20
        Timed training steps per row.
    warmup : int, default=3
        Untimed training steps first (>= 0).
    channels_last : bool, default=True
        Channels-last memory format for the model and the batches.
    model_kwargs : dict, optional
        Model name -> ``build_model`` keyword arguments, e.g.
        ``{"small": {"width": 8}}``.
    matmul_n : int, default=2048
        Matrix side of the peak measurement.
    matmul_repeats : int, default=3
        Repeats of the peak measurement (best counts).
    n_classes : int, default=7
    image_size : int, default=48
    seed : int, default=0
        Seed of the data, the weights and the batch order.

    Returns
    -------
    pandas.DataFrame
        One row per (model, threads, precision), in that nesting order, with
        the columns :data:`GRID_COLUMNS`:

        - ``model`` (str), ``parameters`` (int, trainable), ``threads`` (int),
          ``precision`` ("fp32" or "bf16");
        - ``native_bf16`` (bool): whether this CPU has native bf16; False
          means the bf16 rows (and the bf16 peak) were emulated;
        - ``images_per_s``: training throughput;
        - ``train_gflop_per_image``: forward + backward GFLOP per image;
        - ``achieved_gflops``: ``images_per_s * train_gflop_per_image``;
        - ``peak_gflops``: matmul peak of the row's precision at its thread
          count, or at fewer threads where that was higher (more threads can
          always do what fewer did; thread counts are measured in ascending order);
        - ``fraction_of_peak``: ``achieved_gflops / peak_gflops`` (it can
          exceed 1 for emulated bf16, whose convolutions are emulated more
          cheaply than its matrix multiplies: that peak is no ceiling);
        - ``fraction_of_best_peak``: ``achieved_gflops`` over the best peak of
          any precision at that thread count (the fastest measured kernel);
        - ``fer2013_epoch_minutes``: ``28709 / images_per_s / 60``.

        ``df.attrs`` holds the machine (``cpu_capability``, ``native_bf16``,
        ``torch_version``), the settings, ``peaks_gflops``
        (``{threads: {precision: GFLOP/s}}``, as used) and
        ``measured_peaks_gflops`` (as measured at each thread count).

    Raises
    ------
    ValueError
        For an unknown model or precision, a thread count < 1, bad
        ``model_kwargs`` or other invalid settings (the message names the
        parameter, the allowed values and what was given).
    """
    model_names = _check_names("model_names", model_names, MODEL_NAMES)
    threads = _check_threads(threads)
    precisions = _check_names("precisions", precisions, PRECISIONS)
    batch_size = check_positive_int("batch_size", batch_size, minimum=2)
    steps = check_positive_int("steps", steps)
    warmup = check_positive_int("warmup", warmup, minimum=0)
    check_option("channels_last", channels_last, (True, False))
    model_kwargs = _check_model_kwargs(model_kwargs)
    matmul_n = check_positive_int("matmul_n", matmul_n)
    matmul_repeats = check_positive_int("matmul_repeats", matmul_repeats)
    n_classes = check_positive_int("n_classes", n_classes, minimum=2)
    image_size = check_positive_int("image_size", image_size, minimum=16)
    seed = check_positive_int("seed", seed, minimum=0)

    device = torch.device("cpu")
    native = cpu_bf16_supported()
    rng = np.random.default_rng(seed)
    n_images = 2 * batch_size
    X = rng.integers(0, 256, size=(n_images, image_size, image_size), dtype=np.uint8)
    y = rng.integers(0, n_classes, size=n_images).astype(np.int64)
    ds = DeviceDataset(X, y, device, normalization_stats(X))

    def fresh_model(name):
        torch.manual_seed(seed)
        m = build_model(name, n_classes, **model_kwargs.get(name, {})).to(device)
        if channels_last:
            m.to(memory_format=torch.channels_last)
        return m

    previous_threads = torch.get_num_threads()
    measured, peaks = {}, {}
    info = {}
    rows = []
    try:
        torch.set_num_threads(threads[0])
        for name in model_names:
            m = fresh_model(name)
            fp32 = Runtime(device, None, channels_last, threads[0])
            info[name] = (count_parameters(m), _flops_per_image(m, fp32, (1, image_size, image_size), n_classes))
            del m
        for t in sorted(threads):
            torch.set_num_threads(t)
            measured[t] = {p: matmul_peak_flops(PRECISION_DTYPES[p], matmul_n, matmul_repeats, device)
                           for p in PRECISIONS}
            # t threads can always run what fewer threads ran: a lower measured peak at more
            # threads (a matrix too small to split well, a noisy shared machine) is no ceiling
            peaks[t] = {p: max(measured[t2][p] for t2 in measured if t2 <= t) for p in PRECISIONS}
            best_peak = max(peaks[t].values())
            for name in model_names:
                params, flops = info[name]
                for p in precisions:
                    amp_dtype = None if p == "fp32" else PRECISION_DTYPES[p]
                    runtime = Runtime(device, amp_dtype, channels_last, t)
                    ips = _time_train_steps(fresh_model(name), ds, batch_size, runtime, steps, warmup, seed)
                    achieved = flops * ips
                    rows.append({
                        "model": name,
                        "parameters": int(params),
                        "threads": int(t),
                        "precision": p,
                        "native_bf16": bool(native),
                        "images_per_s": float(ips),
                        "train_gflop_per_image": float(flops / 1e9),
                        "achieved_gflops": float(achieved / 1e9),
                        "peak_gflops": float(peaks[t][p] / 1e9),
                        "fraction_of_peak": float(achieved / peaks[t][p]),
                        "fraction_of_best_peak": float(achieved / best_peak),
                        "fer2013_epoch_minutes": float(FER2013_TRAIN_IMAGES / ips / 60.0),
                    })
    finally:
        torch.set_num_threads(previous_threads)

    df = pd.DataFrame(rows, columns=list(GRID_COLUMNS))
    df.attrs.update(
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
        native_bf16=bool(native),
        torch_version=torch.__version__,
        batch_size=batch_size,
        steps=steps,
        warmup=warmup,
        channels_last=bool(channels_last),
        matmul_n=matmul_n,
        model_kwargs=model_kwargs,
        peaks_gflops={int(t): {p: v / 1e9 for p, v in d.items()} for t, d in peaks.items()},
        measured_peaks_gflops={int(t): {p: v / 1e9 for p, v in d.items()} for t, d in measured.items()},
    )
    return df


def bf16_line():
    """One line: whether bf16 is native on this CPU, and torch's CPU capability."""
    cap = torch.backends.cpu.get_cpu_capability()
    if cpu_bf16_supported():
        return f"bf16 on this CPU: native (AVX512_BF16/AMX); cpu capability: {cap}"
    return (f"bf16 on this CPU: emulated, not native (no AVX512_BF16/AMX; bf16 rows have native_bf16=False "
            f"and are slow); cpu capability: {cap}")


def format_grid(df):
    """A readable table of a :func:`precision_grid` result (markdown if ``tabulate`` is installed).

    Parameters
    ----------
    df : pandas.DataFrame
        As returned by :func:`precision_grid`.

    Returns
    -------
    str
    """
    def sig(v, digits):
        return f"{v:.{digits}g}" if isinstance(v, float) and math.isfinite(v) else str(v)

    digits = {"images_per_s": 4, "train_gflop_per_image": 3, "achieved_gflops": 3, "peak_gflops": 3,
              "fraction_of_peak": 3, "fraction_of_best_peak": 3, "fer2013_epoch_minutes": 3}
    shown = df.copy()
    for col, d in digits.items():
        if col in shown:
            shown[col] = [sig(float(v), d) for v in shown[col]]
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return shown.to_string(index=False)
    align = tuple("left" if c in ("model", "precision") else "right" for c in shown.columns)
    return shown.to_markdown(index=False, colalign=align)


def grid_to_json(df):
    """JSON-ready dict of a :func:`precision_grid` result: ``{"machine", "settings", "rows"}``."""
    machine = {k: df.attrs.get(k) for k in ("cpu_capability", "native_bf16", "torch_version")}
    settings = {k: v for k, v in df.attrs.items() if k not in machine}
    return to_jsonable({"machine": machine, "settings": settings, "rows": df.to_dict(orient="records")})


def format_result(result):
    """Human-readable lines for a :func:`benchmark_training` result."""
    def num(v):
        if v is None:
            return "n/a"
        if isinstance(v, float):
            if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-2):
                return f"{v:.3e}"
            return f"{v:.2f}"
        return str(v)

    width = max(len(k) for k in result)
    return "\n".join(f"{k:<{width}}  {num(v)}" for k, v in result.items())


def _parse_model_kwargs(text):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"--model-kwargs must be JSON like '{{\"small\": {{\"width\": 8}}}}'; {e}")
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"--model-kwargs must be a JSON object (model name -> kwargs); got {text!r}")
    return value


def main(argv=None):
    """Command-line entry point (``python -m fer_lib.train.benchmark``).

    Without ``--grid``: :func:`benchmark_training` (device pipeline vs
    DataLoader). With ``--grid``: :func:`precision_grid`, printed as a table
    plus one line on native bf16 support.

    Returns
    -------
    dict or pandas.DataFrame
        The :func:`benchmark_training` result, or the :func:`precision_grid` table.
    """
    parser = argparse.ArgumentParser(
        prog="python -m fer_lib.train.benchmark",
        description="Training throughput of the device-resident pipeline (on-device augmentation) vs a "
        "torch DataLoader with per-sample CPU torchvision augmentation, on random 48x48 images; or, with "
        "--grid, CPU training throughput per model x threads x precision against measured matmul peaks.",
    )
    parser.add_argument("--model", default="vgg", choices=MODEL_NAMES, help="model name (default: vgg)")
    parser.add_argument("--n-images", type=int, default=4096, help="random images in the data set (default: 4096)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size (default: 128)")
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps per pipeline / grid row (default: 30; 20 with --grid)")
    parser.add_argument("--warmup-steps", type=int, default=None,
                        help="untimed steps first (default: 5; 3 with --grid)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="device (default: auto)")
    parser.add_argument("--augment", default="standard", choices=tuple(AUGMENT_PRESETS), help="augmentation preset")
    parser.add_argument("--num-workers", type=int, default=None, help="DataLoader workers (default: 0 on CPU, min(8, cores) on CUDA)")
    parser.add_argument("--no-amp", action="store_true", help="disable bf16 autocast (pipeline comparison)")
    parser.add_argument("--no-channels-last", action="store_true", help="disable channels-last")
    grid = parser.add_argument_group("precision grid (CPU)")
    grid.add_argument("--grid", action="store_true", help="run precision_grid instead of the pipeline comparison")
    grid.add_argument("--models", nargs="+", default=["small", "vgg"], choices=MODEL_NAMES,
                      help="models of the grid (default: small vgg)")
    grid.add_argument("--threads", nargs="+", type=int, default=[1, 2], help="CPU thread counts (default: 1 2)")
    grid.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS,
                      help="precisions (default: fp32 bf16)")
    grid.add_argument("--model-kwargs", type=_parse_model_kwargs, default=None, metavar="JSON",
                      help='build_model keyword arguments per model, e.g. \'{"small": {"width": 8}}\'')
    grid.add_argument("--matmul-n", type=int, default=2048,
                      help="matrix side of the peak measurement (default: 2048; emulated bf16 takes ~20 s per thread count)")
    parser.add_argument("--json", metavar="PATH", help="also write the result as JSON to PATH")
    parser.add_argument("--csv", metavar="PATH", help="also write the result as CSV to PATH")
    args = parser.parse_args(argv)
    if args.grid:
        df = precision_grid(
            args.models, args.threads, args.precisions, args.batch_size,
            20 if args.steps is None else args.steps, 3 if args.warmup_steps is None else args.warmup_steps,
            channels_last=not args.no_channels_last, model_kwargs=args.model_kwargs, matmul_n=args.matmul_n,
        )
        print(format_grid(df))
        print(bf16_line())
        if args.json:
            with open(args.json, "w") as f:
                json.dump(grid_to_json(df), f, indent=2)
        if args.csv:
            df.to_csv(args.csv, index=False)
        return df
    result = benchmark_training(
        args.model, args.n_images, args.batch_size, 30 if args.steps is None else args.steps, args.device,
        warmup_steps=5 if args.warmup_steps is None else args.warmup_steps, augment=args.augment,
        num_workers=args.num_workers, amp=not args.no_amp, channels_last=not args.no_channels_last,
    )
    print(format_result(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    if args.csv:
        pd.DataFrame([result]).to_csv(args.csv, index=False)
    return result


if __name__ == "__main__":  # pragma: no cover
    main()
