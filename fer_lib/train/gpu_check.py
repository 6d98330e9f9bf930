"""One prepared check of the GPU path, for whoever first has a GPU (``make gpu-check``).

No GPU has been lent to this project so far, so the CUDA-only branches of the
training loop are exercised here in one short run, and two epochs of the full
preset's FER-2013 recipe are timed::

    python -m fer_lib.train.gpu_check --data-dir auto --json runs/gpu-check.json   # on a GPU: a few minutes
    python -m fer_lib.train.gpu_check --smoke                                      # on a CPU, in seconds (CI)

Checks (each reports ``ok`` or the error, and the run exits non-zero when one
fails):

1. ``bf16``: a tiny CNN trained with the device's autocast (bf16 on CUDA),
   channels-last, stopped after one epoch and resumed from ``last.pt``
   (optimiser, scheduler, RNG states of the device generators), then reloaded
   with :func:`~fer_lib.models.checkpoint.load_checkpoint` onto the device and used
   with ten-crop TTA.
2. ``fp16``: float16 autocast with the gradient scaler and gradient clipping
   (CUDA only; on a CPU the runtime uses float32 and the report says so).
3. ``clips``: the hybrid CNN-LSTM on clips (5-D batches) on the device.
4. ``pipeline``: :func:`fer_lib.train.benchmark.benchmark_training`, whose
   ``DataLoader`` arm uses pinned memory and non-blocking copies on CUDA.
5. ``full_recipe``: two epochs of the full preset's recipe (VGGFace48,
   recipe ``"ours"``) on FER-2013 Training (or random images of the same
   size when FER-2013 is absent), with the seconds per epoch and the time
   that 60 epochs x 3 seeds would take. With ``--smoke``: 512 tiny images
   and a width-8 CNN, to keep the code path alive in CI.
"""

import argparse
import json
import tempfile
import time
import traceback
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

#: Names of the checks, in the order they run.
CHECKS = ("bf16", "fp16", "clips", "pipeline", "full_recipe")
#: Images of FER-2013's Training split (the size of the random stand-in).
FER2013_TRAIN_IMAGES = 28709


def _toy_images(n, size, seed):
    """uint8 images of shape (n, size, size) in 4 classes told apart by which region is bright."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    X = rng.integers(0, 70, size=(n, size, size)).astype(np.uint8)
    h = size // 2
    for c, rows, cols in ((0, slice(0, h), slice(None)), (1, slice(h, None), slice(None)),
                          (2, slice(None), slice(0, h))):
        X[y == c, rows, cols] += 150
    return X, y


def _check_bf16(device, workdir):
    from fer_lib.models.checkpoint import load_checkpoint
    from fer_lib.models.cnn import build_model
    from fer_lib.train.config import get_recipe
    from fer_lib.train.loop import train_model
    from fer_lib.train.predict import predict

    X, y = _toy_images(256, 48, 0)
    Xv, yv = _toy_images(64, 48, 1)
    cfg = get_recipe("ours", epochs=2, batch_size=32, warmup_epochs=0.5, device=device, tta="tencrop",
                     early_stopping_patience=None, amp_dtype="bfloat16")
    out = Path(workdir) / "bf16"
    model = build_model("small", 4, dropout=cfg.dropout, width=8)
    first = train_model(model, (X, y), (Xv, yv), cfg, out_dir=out, progress=False, max_epochs_this_run=1)
    model = build_model("small", 4, dropout=cfg.dropout, width=8)
    done = train_model(model, (X, y), (Xv, yv), cfg, out_dir=out, progress=False, resume=True)
    if first.completed or not done.completed or done.epochs_run != 2:
        raise RuntimeError(f"resume did not continue the run: first {first.stop_reason}, then {done.stop_reason}")
    back, meta = load_checkpoint(out / "best.pt", device=device)
    probs = predict(back, Xv, cfg)
    if probs.shape != (64, 4) or not np.allclose(probs.sum(1), 1, atol=1e-3):
        raise RuntimeError(f"predictions of shape {probs.shape} do not sum to 1")
    return {"runtime": meta["runtime"], "val_acc": done.best_val_acc}


def _check_fp16(device, workdir):
    from fer_lib.models.cnn import build_model
    from fer_lib.train.config import get_recipe
    from fer_lib.train.loop import train_model

    X, y = _toy_images(128, 48, 2)
    cfg = get_recipe("ours", epochs=1, batch_size=32, warmup_epochs=0.5, device=device, amp_dtype="float16",
                     grad_clip=1.0, early_stopping_patience=None)
    r = train_model(build_model("small", 4, dropout=cfg.dropout, width=8), (X, y), (X[:32], y[:32]), cfg,
                    progress=False)
    info = {"runtime": r.metadata["runtime"], "train_loss": float(r.history["train_loss"].iloc[-1])}
    if not np.isfinite(info["train_loss"]):
        raise RuntimeError(f"float16 training gave a non-finite loss {info['train_loss']}")
    if r.metadata["runtime"]["device"] == "cpu":
        info["note"] = "float16 autocast and the gradient scaler are CUDA-only: this CPU ran float32"
    return info


def _check_clips(device, workdir):
    from fer_lib.models.temporal import build_hybrid
    from fer_lib.train.config import get_recipe
    from fer_lib.train.loop import train_model

    X, y = _toy_images(96, 48, 3)
    clips = np.repeat(X[:, None], 3, axis=1)  # (n, T=3, 48, 48)
    cfg = get_recipe("paper", epochs=1, batch_size=16, device=device, early_stopping_patience=None)
    model = build_hybrid(4, cnn_kwargs={"width": 4, "fc_dim": 16}, hidden_size=16, fc_dim=16)
    r = train_model(model, (clips, y), (clips[:16], y[:16]), replace(cfg, dropout=model.dropout), progress=False)
    return {"runtime": r.metadata["runtime"], "val_acc": r.best_val_acc}


def _check_pipeline(device, smoke):
    from fer_lib.train.benchmark import benchmark_training

    kw = {"model_name": "small", "n_images": 256, "batch_size": 32, "steps": 3, "warmup_steps": 1} if smoke else \
        {"model_name": "vgg", "n_images": 4096, "batch_size": 128, "steps": 30, "warmup_steps": 5}
    res = benchmark_training(device=device, **kw)
    return {k: res[k] for k in res if isinstance(res[k], (int, float, str, bool)) or res[k] is None}


def _full_recipe(device, data_dir, smoke, workdir):
    from fer_lib.models.cnn import build_model
    from fer_lib.train.config import get_recipe
    from fer_lib.train.loop import train_model

    source = "random images of FER-2013's size"
    if smoke:
        X, y = _toy_images(512, 48, 4)
        Xv, yv = _toy_images(128, 48, 5)
        source = "smoke: 512 toy images"
        model_name, model_kwargs = "small", {"width": 8}
    else:
        model_name, model_kwargs = "vgg", {}
        fer = None
        if data_dir is not None:
            from fer_lib.core.errors import DataError
            from fer_lib.core.paths import resolve_data_dir
            from fer_lib.data.fer2013 import find_fer2013, load_fer2013

            try:
                fer = load_fer2013(find_fer2013(resolve_data_dir(data_dir)))
            except (DataError, FileNotFoundError) as exc:
                print(f"gpu_check: FER-2013 not found ({exc}); timing on random images of its size")
        if fer is not None:
            from fer_lib.data.fer2013 import fer2013_split_arrays

            splits = fer2013_split_arrays(fer)
            (X, y, _), (Xv, yv, _) = splits["Training"], splits["PublicTest"]
            source = f"FER-2013 Training ({len(y):,} images), PublicTest for validation"
        else:
            rng = np.random.default_rng(0)
            X = rng.integers(0, 256, size=(FER2013_TRAIN_IMAGES, 48, 48), dtype=np.uint8)
            y = rng.integers(0, 7, size=FER2013_TRAIN_IMAGES)
            Xv, yv = X[:3589], y[:3589]
    n_classes = int(max(y.max(), yv.max())) + 1
    full = get_recipe("ours", device=device)
    cfg = replace(full, epochs=2, warmup_epochs=min(full.warmup_epochs, 2.0))
    model = build_model(model_name, n_classes, dropout=cfg.dropout, **model_kwargs)
    r = train_model(model, (X, y), (Xv, yv), cfg, out_dir=Path(workdir) / "full", progress=not smoke)
    per_epoch = float(r.history["seconds"].mean())
    return {"source": source, "model": model_name, "recipe": "ours", "runtime": r.metadata["runtime"],
            "seconds_per_epoch": per_epoch, "images_per_s": float(r.history["images_per_s"].median()),
            "projected_minutes_60_epochs_3_seeds": per_epoch * full.epochs * 3 / 60}


def run_checks(device="auto", data_dir=None, smoke=False):
    """Run every check of :data:`CHECKS` and return the report.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}, default="auto"
    data_dir : str or path-like, optional
        Data folder for the full-recipe timing (``"auto"``: data/ then
        ../shared/data); None or absent FER-2013: random images of its size.
    smoke : bool, default=False
        Tiny sizes everywhere (CI on a CPU).

    Returns
    -------
    dict
        ``device``, ``cuda`` (bool), ``checks`` (name -> ``{"status": "ok" | "failed", ...}``),
        ``seconds`` and ``ok`` (all checks passed).
    """
    from fer_lib.core.device import resolve_device

    dev = str(resolve_device(device))
    report = {"device": dev, "cuda": dev.startswith("cuda"), "smoke": bool(smoke), "checks": {}}
    if report["cuda"]:
        report["gpu"] = torch.cuda.get_device_name(0)
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fer-gpu-check-") as workdir:
        steps = {
            "bf16": lambda: _check_bf16(dev, workdir),
            "fp16": lambda: _check_fp16(dev, workdir),
            "clips": lambda: _check_clips(dev, workdir),
            "pipeline": lambda: _check_pipeline(dev, smoke),
            "full_recipe": lambda: _full_recipe(dev, data_dir, smoke, workdir),
        }
        for name in CHECKS:
            t0 = time.perf_counter()
            try:
                result = {"status": "ok", **steps[name]()}
            except Exception as exc:  # a check that fails is reported, and the others still run
                result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}",
                          "traceback": traceback.format_exc()}
            result["seconds"] = round(time.perf_counter() - t0, 2)
            report["checks"][name] = result
            print(f"gpu_check: {name}: {result['status']} ({result['seconds']:.1f} s)"
                  + (f" -- {result['error']}" if result["status"] == "failed" else ""), flush=True)
    report["seconds"] = round(time.perf_counter() - t_all, 2)
    report["ok"] = all(c["status"] == "ok" for c in report["checks"].values())
    return report


def main(argv=None):
    """Command line; exits with status 1 when a check failed."""
    parser = argparse.ArgumentParser(prog="python -m fer_lib.train.gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--data-dir", default=None, help="data folder for the full-recipe timing ('auto' allowed)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CI on a CPU)")
    parser.add_argument("--json", default=None, help="write the report to this file")
    args = parser.parse_args(argv)
    report = run_checks(args.device, args.data_dir, args.smoke)
    full = report["checks"]["full_recipe"]
    if full["status"] == "ok":
        print(f"gpu_check: full recipe on {full['source']}: {full['seconds_per_epoch']:.1f} s per epoch, "
              f"{full['images_per_s']:.0f} images/s; 60 epochs x 3 seeds ~ "
              f"{full['projected_minutes_60_epochs_3_seeds']:.0f} min")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(f"gpu_check: {'all checks passed' if report['ok'] else 'FAILED'} on {report['device']} "
          f"in {report['seconds']:.0f} s")
    if not report["ok"]:
        raise SystemExit(1)
    return report


if __name__ == "__main__":
    main()
