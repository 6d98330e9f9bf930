"""JSON for the study's records: one conversion of numpy scalars and arrays, paths and containers."""

import math
import os
from pathlib import Path

import numpy as np


def to_jsonable(obj, *, nan_to_none=False, fallback=None):
    """``obj`` with everything ``json.dumps`` cannot write turned into what it can.

    Parameters
    ----------
    obj : object
        Dicts (keys become ``str``), lists and tuples (become lists), numpy
        scalars and arrays, paths, and JSON's own types, nested.
    nan_to_none : bool, default=False
        Write non-finite floats as ``null`` (strict JSON) instead of ``NaN``.
    fallback : callable, optional
        Applied to any other object; without it, such an object raises.

    Returns
    -------
    object
        Made of dicts, lists, str, int, float, bool and None.

    Raises
    ------
    TypeError
        For an object of another type when ``fallback`` is None.
    """
    def convert(o):
        if isinstance(o, dict):
            return {str(k): convert(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [convert(v) for v in o]
        if isinstance(o, np.ndarray):
            return convert(o.tolist())
        if isinstance(o, np.generic):
            o = o.item()
        if isinstance(o, float):
            return None if nan_to_none and not math.isfinite(o) else o
        if o is None or isinstance(o, (str, int, bool)):
            return o
        if isinstance(o, (Path, os.PathLike)):
            return os.fspath(o)
        if fallback is not None:
            return convert(fallback(o))
        raise TypeError(f"{type(o).__name__} {o!r} is not JSON-serialisable")

    return convert(obj)
