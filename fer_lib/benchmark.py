"""Training-throughput benchmark: device-resident pipeline vs a plain DataLoader.

Not a test -- an entry point to measure a machine::

    python -m fer_lib.benchmark --model vgg --batch-size 128 --steps 50
    python -m fer_lib.benchmark --help

:func:`benchmark_training` trains a fresh model for a fixed number of steps on
random 48x48 ``uint8`` images twice:

(a) **device pipeline** -- the data set lives on the device
    (:class:`fer_lib.training.DeviceDataset`), batches come from a permutation
    drawn on the device and are augmented there in one batched call
    (:func:`fer_lib.augment.augment`) -- what :func:`fer_lib.training.train_model` does;
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
"""

import argparse
import json
import os
import time

import numpy as np
import torch

from .augment import AUGMENT_PRESETS, get_augment_config
from .models import MODEL_NAMES, build_model, count_parameters
from .training import DeviceDataset, TrainConfig, _make_optimizer, _Runtime, _train_step, normalization_stats
from .validation import check_option, check_positive_int

#: Images in the FER-2013 training split (for the epoch-time estimate).
FER2013_TRAIN_IMAGES = 28709

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


def _time_device_pipeline(model, X, y, config, runtime, steps, warmup):
    norm = normalization_stats(X)
    ds = DeviceDataset(X, y, runtime.device, norm)
    aug = get_augment_config(config.augment)
    aug = None if aug.is_identity else aug
    optimizer = _make_optimizer(model, config)
    gen = torch.Generator(device=runtime.device).manual_seed(0)
    agen = torch.Generator(device=runtime.device).manual_seed(1)

    def batches():
        while True:
            yield from ds.iter_batches(config.batch_size, True, gen, True, aug, agen, runtime.channels_last)

    it = batches()
    model.train()
    for _ in range(warmup):
        x, yb = next(it)
        _train_step(model, x, yb, optimizer, None, runtime)
    runtime.sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        x, yb = next(it)
        _train_step(model, x, yb, optimizer, None, runtime)
    runtime.sync()
    return steps * config.batch_size / (time.perf_counter() - t0)


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
    optimizer = _make_optimizer(model, config)

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
        _train_step(model, x, yb, optimizer, None, runtime)

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
    model_name : {"small", "vgg", "resnet18"}, default="vgg"
    n_images : int, default=4096
        Size of the random ``uint8`` data set (cycled through as needed).
    batch_size : int, default=128
    steps : int, default=30
        Timed optimisation steps per pipeline.
    device : {"auto", "cpu", "cuda"}, default="auto"
    warmup_steps : int, default=5
        Untimed steps first (kernel selection, worker start-up).
    augment : str or AugmentConfig, default="standard"
        Augmentation for both pipelines (a key of :data:`fer_lib.augment.AUGMENT_PRESETS`).
    num_workers : int, optional
        DataLoader workers; default 0 on CPU (workers would compete with the
        training threads) and ``min(8, os.cpu_count())`` on CUDA.
    amp : bool, default=True
        bf16 autocast on CUDA (ignored on CPU).
    channels_last : bool, default=True
        Channels-last on CUDA (ignored on CPU).
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
    runtime = _Runtime.from_config(config)
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


def main(argv=None):
    """Command-line entry point (``python -m fer_lib.benchmark``)."""
    parser = argparse.ArgumentParser(
        prog="python -m fer_lib.benchmark",
        description="Training throughput of the device-resident pipeline (on-device augmentation) vs a "
        "torch DataLoader with per-sample CPU torchvision augmentation, on random 48x48 images.",
    )
    parser.add_argument("--model", default="vgg", choices=MODEL_NAMES, help="model name (default: vgg)")
    parser.add_argument("--n-images", type=int, default=4096, help="random images in the data set (default: 4096)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size (default: 128)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per pipeline (default: 30)")
    parser.add_argument("--warmup-steps", type=int, default=5, help="untimed steps first (default: 5)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="device (default: auto)")
    parser.add_argument("--augment", default="standard", choices=tuple(AUGMENT_PRESETS), help="augmentation preset")
    parser.add_argument("--num-workers", type=int, default=None, help="DataLoader workers (default: 0 on CPU, min(8, cores) on CUDA)")
    parser.add_argument("--no-amp", action="store_true", help="disable bf16 autocast on CUDA")
    parser.add_argument("--no-channels-last", action="store_true", help="disable channels-last on CUDA")
    parser.add_argument("--json", metavar="PATH", help="also write the result as JSON to PATH")
    args = parser.parse_args(argv)
    result = benchmark_training(
        args.model, args.n_images, args.batch_size, args.steps, args.device,
        warmup_steps=args.warmup_steps, augment=args.augment, num_workers=args.num_workers,
        amp=not args.no_amp, channels_last=not args.no_channels_last,
    )
    print(format_result(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":  # pragma: no cover
    main()
