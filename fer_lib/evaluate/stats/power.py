"""Sensitivity of a paired comparison: the smallest mean difference it can detect.

For a pre-registered design (``n`` paired scores, e.g. 10 folds x r repeats of
the split) and a planning value of the standard deviation of the per-fold
differences, :func:`smallest_detectable_difference` gives the mean difference
that the paired t-test (or the Nadeau-Bengio corrected t-test of
:func:`~fer_lib.evaluate.stats.paired.corrected_resampled_ttest`) detects with
the requested power. It is the number to set against an equivalence margin
(see :mod:`fer_lib.evaluate.stats.equivalence`): a margin below it cannot be
reached by this design.
"""

import math
import numbers
from dataclasses import dataclass

import numpy as np
from scipy import optimize as _opt
from scipy import stats as _st

from fer_lib.core.validation import check_option, check_positive_int
from fer_lib.evaluate.stats.common import AsDict, check_open_fraction
from fer_lib.evaluate.stats.paired import ALTERNATIVES

__all__ = ["DetectableDifferenceResult", "smallest_detectable_difference"]


@dataclass(frozen=True)
class DetectableDifferenceResult(AsDict):
    """Result of :func:`smallest_detectable_difference` (see there for each field)."""

    delta: float
    effect_size: float
    noncentrality: float
    t_crit: float
    sd_diff: float
    n: int
    dof: int
    alpha: float
    power: float
    alternative: str
    corrected: bool
    correction: float
    test_train_ratio: float


def _positive(name, value):
    """``value`` as a finite float > 0 (numpy scalars accepted), else ``ValueError`` naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not (
        math.isfinite(value) and value > 0
    ):
        raise ValueError(f"{name} must be a positive finite number; got {value!r}")
    return float(value)


def _power_upper(nc, dof, t_crit, two_sided):
    """Power of the t-test for noncentrality ``nc >= 0`` (both tails when two-sided).

    The lower tail ``P(T < -t_crit)`` is computed as ``nct.sf(t_crit, dof, -nc)``
    (same value by symmetry): scipy's ``nct.cdf(-t_crit, dof, nc)`` returns NaN
    for some large ``nc`` at small ``dof`` (e.g. ``dof=1``, ``nc=15``).
    """
    p = _st.nct.sf(t_crit, dof, nc)
    if two_sided:
        p += _st.nct.sf(t_crit, dof, -nc)
    return float(p)


def _solve_noncentrality(dof, t_crit, target, two_sided):
    """The noncentrality ``nc > 0`` at which the power equals ``target`` (> alpha)."""
    hi = max(1.0, 2.0 * (t_crit + _st.norm.ppf(target)))
    while _power_upper(hi, dof, t_crit, two_sided) < target:  # heavy tails for tiny dof: widen
        hi *= 2.0
        if hi > 1e7:  # pragma: no cover - unreachable for power < 1 and dof >= 1
            raise RuntimeError(f"no noncentrality below {hi} reaches power {target} with {dof} dof")
    return float(_opt.brentq(lambda nc: _power_upper(nc, dof, t_crit, two_sided) - target, 0.0, hi,
                             xtol=1e-12, rtol=1e-12, maxiter=500))


def smallest_detectable_difference(sd_diff, n, alpha=0.05, power=0.8, alternative="two-sided", corrected=False,
                                   n_train=None, n_test=None):
    """Smallest mean paired difference that a paired t-test detects with the given power.

    The paired t-test on ``n`` differences with standard deviation ``sd_diff``
    uses ``t = mean(d) / se`` with ``se = sd_diff * sqrt(c)``, where ``c = 1/n``
    (ordinary test) or ``c = 1/n + n_test/n_train`` (Nadeau-Bengio corrected
    test, as in :func:`~fer_lib.evaluate.stats.paired.corrected_resampled_ttest`).
    When the true mean difference is ``delta``, ``t`` follows a noncentral t
    distribution with ``n - 1`` dof and noncentrality ``nc = delta / se``
    (``scipy.stats.nct``). This function finds ``nc`` such that::

        power = P(T > t_crit) + P(T < -t_crit)   two-sided,  t_crit = t.ppf(1 - alpha/2, n - 1)
        power = P(T > t_crit)                    one-sided,  t_crit = t.ppf(1 - alpha, n - 1)

    (root finding with ``scipy.optimize.brentq``; the two-sided power counts
    both tails, as ``statsmodels.stats.power.TTestPower`` does) and returns
    ``delta = nc * sd_diff * sqrt(c)``. Uncorrected, ``delta / sd_diff`` is the
    effect size ``d_z`` that ``TTestPower().solve_power(effect_size=None,
    nobs=n, alpha=alpha, power=power)`` returns.

    With the correction, more repeats of the fold split (larger ``n``) cannot
    push ``delta`` below about ``(z_{1-alpha/2} + z_power) * sd_diff *
    sqrt(n_test/n_train)``: the folds share training data, and repeating the
    split does not create new subjects.

    Parameters
    ----------
    sd_diff : float > 0
        Planning value of the standard deviation (ddof=1) of the per-fold
        differences ``a - b`` (from a pilot run or earlier results), in the
        units of the scores (e.g. accuracy as a fraction).
    n : int >= 2
        Number of paired scores (folds x repeats of the split; average seeds
        within a split first).
    alpha : float in (0, 1), default=0.05
        Significance level of the test.
    power : float in (alpha, 1), default=0.8
        Required probability of rejecting H0 when the mean difference is ``delta``.
    alternative : {"two-sided", "greater", "less"}, default="two-sided"
        Alternative of the planned test. ``"less"`` gives a negative ``delta``
        (as statsmodels' ``"smaller"``); the others a positive one.
    corrected : bool, default=False
        Use the Nadeau-Bengio corrected variance (then ``n_train`` and
        ``n_test`` are required; without it they must be left out).
    n_train, n_test : float > 0, optional
        Training / test sample counts per fold (mean over folds), for
        ``corrected=True``.

    Returns
    -------
    DetectableDifferenceResult
        Fields (``.as_dict()`` keys): ``delta`` (the smallest detectable mean
        difference, units of the scores), ``effect_size`` (``delta /
        sd_diff``), ``noncentrality`` (``nc``), ``t_crit``, ``sd_diff``, ``n``,
        ``dof`` (n - 1), ``alpha``, ``power``, ``alternative``, ``corrected``,
        ``correction`` (``c``), ``test_train_ratio`` (``n_test / n_train``, NaN
        when not corrected).

    Raises
    ------
    ValueError
        ``sd_diff`` not positive, ``n < 2``, ``alpha`` outside (0, 1), ``power``
        outside (alpha, 1), unknown ``alternative``, ``corrected`` not a bool,
        ``n_train`` / ``n_test`` missing with ``corrected=True``, given without
        it, or not positive.
    """
    sd_diff = _positive("sd_diff", sd_diff)
    n = check_positive_int("n", n, minimum=2)
    alpha = check_open_fraction("alpha", alpha)
    power = check_open_fraction("power", power)
    if power <= alpha:
        raise ValueError(f"power must be a number in (alpha, 1) = ({alpha}, 1); got {power!r}")
    check_option("alternative", alternative, ALTERNATIVES)
    if not isinstance(corrected, (bool, np.bool_)):
        raise ValueError(f"corrected must be one of [False, True]; got {corrected!r}")
    corrected = bool(corrected)
    if corrected:
        if n_train is None or n_test is None:
            raise ValueError(
                f"n_train and n_test are required with corrected=True; got n_train={n_train!r}, n_test={n_test!r}"
            )
        n_train = _positive("n_train", n_train)
        n_test = _positive("n_test", n_test)
        ratio = n_test / n_train
    else:
        if n_train is not None or n_test is not None:
            raise ValueError(
                "n_train and n_test are used only with corrected=True; "
                f"got n_train={n_train!r}, n_test={n_test!r} with corrected=False"
            )
        ratio = float("nan")
    correction = 1.0 / n + (ratio if corrected else 0.0)
    dof = n - 1
    two_sided = alternative == "two-sided"
    t_crit = float(_st.t.ppf(1 - alpha / 2 if two_sided else 1 - alpha, dof))
    nc = _solve_noncentrality(dof, t_crit, power, two_sided)
    if alternative == "less":
        nc = -nc
    delta = nc * sd_diff * math.sqrt(correction)
    return DetectableDifferenceResult(
        delta=float(delta),
        effect_size=float(delta / sd_diff),
        noncentrality=float(nc),
        t_crit=t_crit,
        sd_diff=sd_diff,
        n=n,
        dof=dof,
        alpha=alpha,
        power=power,
        alternative=alternative,
        corrected=corrected,
        correction=float(correction),
        test_train_ratio=float(ratio),
    )
