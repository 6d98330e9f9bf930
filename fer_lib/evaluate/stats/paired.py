"""Paired tests on per-fold scores: t-test, Wilcoxon, Nadeau-Bengio corrected t-test.

One score per fold and model, each fold a fresh training run: these compare
*learning procedures*. With 5-10 folds they have little power, and the folds
share training data, which :func:`corrected_resampled_ttest` accounts for.
:mod:`pingouin` (slow to import) is imported only when :func:`paired_ttest` is called.
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from fer_lib.core.validation import check_option
from fer_lib.evaluate.stats.common import AsDict, as_scores, check_open_fraction

__all__ = [
    "ALTERNATIVES",
    "PairedTTestResult",
    "WilcoxonResult",
    "CorrectedTTestResult",
    "paired_ttest",
    "wilcoxon_signed_rank",
    "corrected_resampled_ttest",
]


#: Alternative hypotheses accepted by the tests, about the difference ``a - b``.
ALTERNATIVES = ("two-sided", "greater", "less")


# --------------------------------------------------------------------------- #
# Result containers
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class PairedTTestResult(AsDict):
    """Result of :func:`paired_ttest` (see there for the meaning of each field)."""

    t: float
    dof: int
    p: float
    alternative: str
    mean_diff: float
    sd_diff: float
    ci_low: float
    ci_high: float
    confidence: float
    d_z: float
    cohen_d_av: float
    power: float
    n: int
    note: str = ""


@dataclass(frozen=True)
class WilcoxonResult(AsDict):
    """Result of :func:`wilcoxon_signed_rank` (see there for the meaning of each field)."""

    statistic: float
    p: float
    alternative: str
    n: int
    n_zero: int
    r_plus: float
    r_minus: float
    rank_biserial: float
    median_diff: float
    note: str = ""


@dataclass(frozen=True)
class CorrectedTTestResult(AsDict):
    """Result of :func:`corrected_resampled_ttest` (see there for each field)."""

    t: float
    dof: int
    p: float
    alternative: str
    mean_diff: float
    sd_diff: float
    se_corrected: float
    correction: float
    test_train_ratio: float
    ci_low: float
    ci_high: float
    confidence: float
    t_uncorrected: float
    d_z: float
    n: int
    note: str = ""


# --------------------------------------------------------------------------- #
# Validation and t-distribution helpers
# --------------------------------------------------------------------------- #
def _check_paired_scores(a, b, min_n=2):
    """Validate two paired score vectors; return them as float arrays."""
    a = as_scores("a", a)
    b = as_scores("b", b)
    if a.size != b.size:
        raise ValueError(
            f"a and b must have the same length (paired scores, one per fold); got len(a)={a.size}, len(b)={b.size}"
        )
    if a.size < min_n:
        raise ValueError(f"a and b need at least n >= {min_n} pairs; got n={a.size}")
    return a, b


def _t_ci(mean, se, dof, alternative, confidence):
    """CI of a mean from a t distribution; one-sided alternatives give an infinite end."""
    if alternative == "two-sided":
        tcrit = _st.t.ppf(1 - (1 - confidence) / 2, dof)
        return mean - tcrit * se, mean + tcrit * se
    tcrit = _st.t.ppf(confidence, dof)
    if alternative == "greater":
        return mean - tcrit * se, np.inf
    return -np.inf, mean + tcrit * se


def _t_pvalue(t, dof, alternative):
    if alternative == "two-sided":
        return float(2 * _st.t.sf(abs(t), dof))
    if alternative == "greater":
        return float(_st.t.sf(t, dof))
    return float(_st.t.cdf(t, dof))


def _pick(row, *names):
    """First of ``names`` present in a pingouin result row (column names vary by version)."""
    for name in names:
        if name in row.index:
            return row[name]
    raise KeyError(f"none of {names} in pingouin output columns {list(row.index)}")


# --------------------------------------------------------------------------- #
# Paired tests over folds
# --------------------------------------------------------------------------- #
def paired_ttest(a, b, alternative="two-sided", confidence=0.95):
    """Paired t-test on per-fold scores of two models (via ``pingouin.ttest``).

    Tests the mean of the differences ``d = a - b`` against 0. Pairing is by
    position: ``a[i]`` and ``b[i]`` must be scores on the same fold.

    Parameters
    ----------
    a, b : array-like of shape (n_folds,)
        Paired scores (e.g. per-fold accuracies of model A and model B). Finite,
        same length, ``n_folds >= 2``.
    alternative : {"two-sided", "greater", "less"}, default="two-sided"
        Alternative hypothesis about ``mean(a - b)`` (``"greater"``: A > B).
    confidence : float in (0, 1), default=0.95
        Confidence level of the CI; ``1 - confidence`` is also the alpha of the
        power calculation.

    Returns
    -------
    PairedTTestResult
        Fields (``.as_dict()`` keys):

        - ``t`` (float), ``dof`` (int, n - 1), ``p`` (float), ``alternative``;
        - ``mean_diff``, ``sd_diff`` (ddof=1) of ``d = a - b``;
        - ``ci_low``, ``ci_high``: CI of the mean difference, ``mean_diff -/+
          t_crit * sd_diff / sqrt(n)`` with ``t_crit`` from ``scipy.stats.t.ppf``
          on ``n - 1`` dof (one end is infinite for one-sided alternatives, as
          in pingouin / R), ``confidence``. Computed here rather than taken
          from pingouin, whose default options round its ``CI95`` column to
          2 decimals;
        - ``d_z`` (signed): Cohen's d for paired data, ``mean(d) / sd(d)``. This
          is the effect size the study reports;
        - ``cohen_d_av`` (signed): what ``pingouin.ttest(paired=True)`` calls
          ``cohen_d`` (it reports its absolute value): ``(mean(a) - mean(b)) /
          sqrt((var(a) + var(b)) / 2)``, which ignores the pairing. Kept for
          cross-reference only;
        - ``power``: achieved (post-hoc) power of the paired test for effect
          size ``d_z`` at ``alpha = 1 - confidence``, from
          ``pingouin.power_ttest(contrast="paired")``. (pingouin's own ``ttest``
          plugs ``cohen_d_av`` into the paired power formula, which expects
          ``d_z``, so its ``power`` is not used.) Post-hoc power is a
          function of the observed p-value and says little on its own;
        - ``n`` (int): number of pairs; ``note`` (str): empty unless degenerate.

        If all differences are equal (zero variance), ``t``, ``p``, ``d_z`` and
        ``power`` are NaN, the CI collapses to ``mean_diff`` and ``note`` says why.

    Raises
    ------
    ValueError
        Mismatched lengths, non-finite values, n < 2, unknown ``alternative``,
        ``confidence`` outside (0, 1).
    """
    a, b = _check_paired_scores(a, b)
    check_option("alternative", alternative, ALTERNATIVES)
    confidence = check_open_fraction("confidence", confidence)
    d = a - b
    n = int(d.size)
    mean_diff = float(d.mean())
    sd_diff = float(d.std(ddof=1))
    pooled = np.sqrt((a.var(ddof=1) + b.var(ddof=1)) / 2)
    cohen_d_av = float((a.mean() - b.mean()) / pooled) if pooled > 0 else float("nan")
    if sd_diff == 0:
        return PairedTTestResult(
            t=float("nan"), dof=n - 1, p=float("nan"), alternative=alternative,
            mean_diff=mean_diff, sd_diff=0.0, ci_low=mean_diff, ci_high=mean_diff,
            confidence=confidence, d_z=float("nan"), cohen_d_av=cohen_d_av,
            power=float("nan"), n=n,
            note="all differences a - b are equal (zero variance): the t statistic is undefined",
        )
    import pingouin as pg  # slow import, deferred

    row = pg.ttest(a, b, paired=True, alternative=alternative, confidence=confidence).iloc[0]
    ci_low, ci_high = _t_ci(mean_diff, sd_diff / np.sqrt(n), n - 1, alternative, confidence)
    d_z = mean_diff / sd_diff
    power = float(
        pg.power_ttest(d=d_z, n=n, power=None, alpha=1 - confidence, contrast="paired", alternative=alternative)
    )
    return PairedTTestResult(
        t=float(_pick(row, "T")),
        dof=int(_pick(row, "dof")),
        p=float(_pick(row, "p_val", "p-val")),
        alternative=alternative,
        mean_diff=mean_diff,
        sd_diff=sd_diff,
        ci_low=float(ci_low),
        ci_high=float(ci_high),
        confidence=confidence,
        d_z=float(d_z),
        cohen_d_av=cohen_d_av,
        power=power,
        n=n,
    )


def wilcoxon_signed_rank(a, b, alternative="two-sided"):
    """Wilcoxon signed-rank test on paired scores (``scipy.stats.wilcoxon``).

    Zero differences are discarded (``zero_method="wilcox"``, scipy's default)
    and scipy's ``method="auto"`` chooses between the exact null distribution,
    an exhaustive permutation and the normal approximation.

    With few folds this test cannot reach small p-values at all: with 5 non-zero
    differences the smallest two-sided p is 2 / 2**5 = 0.0625.

    Parameters
    ----------
    a, b : array-like of shape (n_folds,)
        Paired scores. Finite, same length, ``n_folds >= 2``.
    alternative : {"two-sided", "greater", "less"}, default="two-sided"
        Alternative about the distribution of ``a - b`` (``"greater"``: A > B).

    Returns
    -------
    WilcoxonResult
        Fields (``.as_dict()`` keys):

        - ``statistic``: scipy's statistic (``min(R+, R-)`` for two-sided,
          ``R+`` for one-sided alternatives);
        - ``p``, ``alternative``;
        - ``n``: number of non-zero differences (the effective sample size);
          ``n_zero``: number of zero differences discarded;
        - ``r_plus``, ``r_minus``: rank sums of positive / negative differences;
        - ``rank_biserial``: matched-pairs rank-biserial correlation (Kerby
          2014), ``(R+ - R-) / (R+ + R-)`` in [-1, 1]; +1 when A beats B on
          every non-tied fold. Its sign always refers to ``a - b`` (unlike
          ``pingouin.wilcoxon``, which flips it for ``alternative="less"``);
        - ``median_diff``: median of ``a - b`` (all pairs); ``note``.

        If every difference is zero there is no evidence of a difference:
        ``p = 1.0``, ``n = 0``, ``statistic`` and ``rank_biserial`` are NaN and
        ``note`` says so (scipy would warn and return a statistic of 0).

    Raises
    ------
    ValueError
        Mismatched lengths, non-finite values, n < 2, unknown ``alternative``.
    """
    a, b = _check_paired_scores(a, b)
    check_option("alternative", alternative, ALTERNATIVES)
    d = a - b
    nz = d[d != 0]
    n_zero = int(d.size - nz.size)
    median_diff = float(np.median(d))
    if nz.size == 0:
        return WilcoxonResult(
            statistic=float("nan"), p=1.0, alternative=alternative, n=0, n_zero=n_zero,
            r_plus=0.0, r_minus=0.0, rank_biserial=float("nan"), median_diff=median_diff,
            note="all differences a - b are zero: no evidence of a difference (p set to 1.0)",
        )
    ranks = _st.rankdata(np.abs(nz))
    r_plus = float(ranks[nz > 0].sum())
    r_minus = float(ranks[nz < 0].sum())
    res = _st.wilcoxon(a, b, zero_method="wilcox", alternative=alternative)
    return WilcoxonResult(
        statistic=float(res.statistic),
        p=float(res.pvalue),
        alternative=alternative,
        n=int(nz.size),
        n_zero=n_zero,
        r_plus=r_plus,
        r_minus=r_minus,
        rank_biserial=(r_plus - r_minus) / (r_plus + r_minus),
        median_diff=median_diff,
    )


def _check_sizes(name, value, k):
    """Mean of a positive scalar or a per-fold array of length ``k``."""
    arr = np.asarray(value)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be a positive number or an array of {k} positive numbers; got {value!r}")
    if arr.ndim == 1 and arr.size != k:
        raise ValueError(
            f"{name} as a per-fold array must have one entry per fold (len {k}); got len {arr.size}"
        )
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a scalar or a 1-D per-fold array; got shape {arr.shape}")
    arr = arr.astype(float)
    if not (np.isfinite(arr).all() and (arr > 0).all()):
        raise ValueError(f"{name} must be positive and finite (number of samples); got {value!r}")
    return float(arr.mean())


def corrected_resampled_ttest(a, b, n_train, n_test, alternative="two-sided", confidence=0.95):
    """Nadeau & Bengio (2003) corrected resampled t-test on per-fold scores.

    Folds of cross-validation (or repeated train/test splits) share training
    data, so their scores are positively correlated and the ordinary paired
    t-test underestimates the variance of the mean difference (inflated type I
    error). Nadeau & Bengio replace the factor ``1/k`` of the variance of the
    mean by ``1/k + n_test/n_train``::

        d = a - b,  k = len(d)
        se = sqrt((1/k + n_test/n_train) * var(d, ddof=1))
        t = mean(d) / se,  dof = k - 1

    The correction was derived for random subsampling (repeated hold-out); it
    is commonly applied to k-fold CV too (where ``n_test/n_train = 1/(k-1)``),
    as a heuristic that is much less anti-conservative than the plain t-test.

    Parameters
    ----------
    a, b : array-like of shape (n_folds,)
        Paired per-fold scores. Finite, same length, ``n_folds >= 2``.
    n_train, n_test : float or array-like of shape (n_folds,)
        Number of training / test samples (for subject-independent folds, the
        sample counts, not the subject counts). Per-fold arrays are averaged.
    alternative : {"two-sided", "greater", "less"}, default="two-sided"
        Alternative about ``mean(a - b)``.
    confidence : float in (0, 1), default=0.95
        Confidence level of the CI (computed with the corrected SE).

    Returns
    -------
    CorrectedTTestResult
        Fields (``.as_dict()`` keys): ``t``, ``dof`` (k - 1), ``p``,
        ``alternative``, ``mean_diff``, ``sd_diff`` (ddof=1), ``se_corrected``,
        ``correction`` (``1/k + n_test/n_train``), ``test_train_ratio``
        (``mean(n_test) / mean(n_train)``), ``ci_low``, ``ci_high`` (one end
        infinite for one-sided alternatives), ``confidence``,
        ``t_uncorrected`` (the ordinary paired t, for comparison), ``d_z``
        (``mean(d) / sd(d)``, unaffected by the correction), ``n`` (k), ``note``.
        With zero variance of ``d``, ``t``, ``p``, ``t_uncorrected`` and ``d_z``
        are NaN and ``note`` says why.

    Raises
    ------
    ValueError
        Mismatched lengths, non-finite values, n < 2, non-positive sizes,
        per-fold sizes of the wrong length, unknown ``alternative``.
    """
    a, b = _check_paired_scores(a, b)
    check_option("alternative", alternative, ALTERNATIVES)
    confidence = check_open_fraction("confidence", confidence)
    k = int(a.size)
    mean_train = _check_sizes("n_train", n_train, k)
    mean_test = _check_sizes("n_test", n_test, k)
    ratio = mean_test / mean_train
    correction = 1.0 / k + ratio
    d = a - b
    mean_diff = float(d.mean())
    var = float(d.var(ddof=1))
    se = float(np.sqrt(correction * var))
    dof = k - 1
    if var == 0:
        return CorrectedTTestResult(
            t=float("nan"), dof=dof, p=float("nan"), alternative=alternative, mean_diff=mean_diff,
            sd_diff=0.0, se_corrected=0.0, correction=correction, test_train_ratio=ratio,
            ci_low=mean_diff, ci_high=mean_diff, confidence=confidence, t_uncorrected=float("nan"),
            d_z=float("nan"), n=k,
            note="all differences a - b are equal (zero variance): the t statistic is undefined",
        )
    t = mean_diff / se
    lo, hi = _t_ci(mean_diff, se, dof, alternative, confidence)
    return CorrectedTTestResult(
        t=float(t),
        dof=dof,
        p=_t_pvalue(t, dof, alternative),
        alternative=alternative,
        mean_diff=mean_diff,
        sd_diff=float(np.sqrt(var)),
        se_corrected=se,
        correction=correction,
        test_train_ratio=ratio,
        ci_low=float(lo),
        ci_high=float(hi),
        confidence=confidence,
        t_uncorrected=float(mean_diff / np.sqrt(var / k)),
        d_z=float(mean_diff / np.sqrt(var)),
        n=k,
    )
