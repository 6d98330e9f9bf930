"""Building blocks shared by the modules of :mod:`fer_lib.evaluate.stats`.

:class:`AsDict` gives the result dataclasses their ``as_dict()`` method;
:func:`check_open_fraction` and :func:`as_1d` validate arguments with messages
that name the parameter.
"""

from dataclasses import fields

import numpy as np

from fer_lib.core.validation import check_fraction

__all__ = ["AsDict", "check_open_fraction", "as_1d"]


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
