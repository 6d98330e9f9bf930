"""Seeding, so that a run can be repeated bit for bit on the same hardware."""

import os
import random

import numpy as np


def seed_everything(seed=0, deterministic=True):
    """Seed Python, NumPy and PyTorch (CPU and CUDA) and print the seed.

    Parameters
    ----------
    seed : int, default=0
        The seed. Must be a non-negative integer.
    deterministic : bool, default=True
        Ask PyTorch for deterministic cuDNN kernels (slower on GPU, identical
        results between runs).

    Returns
    -------
    int
        The seed that was set, so that a notebook can record it.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    try:
        import torch
    except ImportError:  # torch is a dependency, but seeding must not need it
        torch = None
    if torch is not None:
        torch.manual_seed(seed)
        torch.cuda.manual_seed_all(seed)
        torch.backends.cudnn.deterministic = bool(deterministic)
        torch.backends.cudnn.benchmark = not deterministic
    print(f"seed_everything: seed={seed}")
    return seed
