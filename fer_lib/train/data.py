"""Training data on the device: input checks, normalisation statistics, :class:`DeviceDataset`."""

import hashlib
import math

import numpy as np
import torch

from fer_lib.core.validation import check_option
from fer_lib.train.augment import (
    augment,
)
from fer_lib.train.config import NORMALIZATIONS


def check_images_labels(name, data):
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        raise ValueError(f"{name} must be a pair (X, y); got {type(data).__name__}")
    X, y = data
    X = check_images(f"{name}[0] (X)", X)
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != X.shape[0] or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            f"{name}[1] (y) must be an integer array of shape ({X.shape[0]},); "
            f"got dtype {y.dtype} and shape {y.shape}"
        )
    if X.shape[0] == 0:
        raise ValueError(f"{name} must not be empty")
    return X, y.astype(np.int64)


def check_images(name, X):
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
    X = check_images("X", X)
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
        X = check_images("X", X)
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
        n_batches = count_batches(n, batch_size, drop_last)
        for b in range(n_batches):
            idx = order[b * batch_size : (b + 1) * batch_size]
            yield self.batch(idx, augment_config, augment_generator, channels_last)


def count_batches(n, batch_size, drop_last):
    if drop_last and n >= batch_size:
        return n // batch_size
    return math.ceil(n / batch_size)


def data_fingerprint(X, y):
    """Cheap identity check of a data set (shape, labels, a strided sample of pixels)."""
    h = hashlib.sha256()
    h.update(str(X.shape).encode())
    h.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    step = max(1, X.shape[0] // 1000)
    h.update(np.ascontiguousarray(X[::step]).tobytes())
    return h.hexdigest()[:16]
