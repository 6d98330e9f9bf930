"""Argument checks used at ``fer_lib``'s entry points.

Messages name the parameter, the allowed values and what was given, so that a
user who mistypes a notebook parameter learns how to fix it from the error.
"""

import math
from collections.abc import Iterable


def check_option(name, value, allowed):
    """Return ``value`` if it is one of ``allowed``, else raise ``ValueError``.

    Parameters
    ----------
    name : str
        Name of the parameter, as the user would write it.
    value : object
        The value given.
    allowed : iterable
        The allowed values (usually a module-level constant).

    Returns
    -------
    object
        ``value``, unchanged.

    Raises
    ------
    ValueError
        ``"{name} must be one of {allowed}; got {value!r}"``.
    """
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}; got {value!r}")
    return value


def check_positive_int(name, value, minimum=1):
    """Return ``value`` if it is an integer >= ``minimum``, else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int,)) and not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def check_fraction(name, value, low=0.0, high=1.0):
    """Return ``value`` as float if ``low <= value <= high``, else raise ``ValueError``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number in [{low}, {high}]; got {value!r}") from None
    if not low <= v <= high:
        raise ValueError(f"{name} must be a number in [{low}, {high}]; got {value!r}")
    return v


def check_subset(name, values, allowed):
    """Return ``values`` as a tuple if every item is in ``allowed``, else raise ``ValueError``."""
    allowed = tuple(allowed)
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValueError(f"{name} must be a list drawn from {list(allowed)}; got {values!r}")
    values = tuple(values)
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ValueError(f"{name} must be drawn from {list(allowed)}; got unknown {unknown!r}")
    return values


def check_number(name, value, low=None, high=None, low_open=False, allow_none=False):
    """A finite number in ``[low, high]`` (``(low, high]`` with ``low_open``), as float; ``None`` if allowed."""
    if value is None and allow_none:
        return None
    bounds = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'}]"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number in {bounds}; got {value!r}")
    if (low is not None and (value < low or (low_open and value == low))) or (high is not None and value > high):
        raise ValueError(f"{name} must be a number in {bounds}; got {value!r}")
    return float(value)
