"""Building blocks shared by the modules of :mod:`fer_lib.evaluate.stats`.

:class:`AsDict` gives the result dataclasses their ``as_dict()`` method;
:func:`check_open_fraction`, :func:`as_1d`, :func:`as_scores` and
:func:`as_correctness` validate arguments with messages that name the parameter.
"""

from dataclasses import fields

import numpy as np

from fer_lib.core.validation import check_fraction

__all__ = ["AsDict", "check_open_fraction", "as_1d", "as_scores", "as_correctness"]


class AsDict:
    """Mixin: ``as_dict()`` returns the fields as a plain (shallow) dict."""

    def as_dict(self):
        """Return the fields as a ``dict`` (field name -> value), in field order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def check_open_fraction(name, value):
    """``value`` as float in the open interval (0, 1), else ``ValueError``."""
    v = check_fraction(name, value, 0.0, 1.0)
    if not 0.0 < v < 1.0:
        raise ValueError(f"{name} must be a number in (0, 1), ends excluded; got {value!r}")
    return v


def as_1d(name, x):
    """``x`` as a 1-D ndarray, else ``ValueError`` naming ``name``."""
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise ValueError(f"{name} must be a 1-D array-like; got {type(x).__name__}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per fold/sample); got an array of shape {arr.shape}")
    return arr


def as_scores(name, x):
    """``x`` as a finite 1-D float array of scores, else ``ValueError`` naming ``name``."""
    arr = as_1d(name, x)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must contain numbers (scores); got dtype {arr.dtype}")
    arr = arr.astype(float)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(
            f"{name} must contain only finite numbers; got NaN/inf at positions {np.flatnonzero(bad)[:10].tolist()}"
        )
    return arr


def as_correctness(name, x):
    """``x`` as a 1-D boolean array of per-sample correctness (bool, or numbers all 0/1), at least 1 sample."""
    arr = as_1d(name, x)
    if arr.size == 0:
        raise ValueError(f"{name} must hold at least 1 test sample; got an empty array")
    if arr.dtype == bool:
        return arr
    if np.issubdtype(arr.dtype, np.number):
        ok = np.isin(arr, (0, 1))
        if ok.all():
            return arr.astype(bool)
        bad = np.unique(arr[~ok])[:5].tolist()
        raise ValueError(
            f"{name} must be boolean per-sample correctness (True/False or 0/1); got other values, e.g. {bad}"
        )
    raise ValueError(f"{name} must be boolean per-sample correctness (True/False or 0/1); got dtype {arr.dtype}")
