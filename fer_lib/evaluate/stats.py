"""Statistics of the study: paired model comparisons, calibration, accuracy CIs.

Used by notebook 06 (confusion matrices and calibration) and notebook 07
(paired tests between the spatial CNN, the temporal CNN-LSTM and the hybrid).

Two kinds of comparison live here, and they answer different questions:

* **Over folds** (:func:`paired_ttest`, :func:`wilcoxon_signed_rank`,
  :func:`corrected_resampled_ttest`, :func:`compare_fold_scores`): one score per
  fold and model, each fold a fresh training run. These are the comparisons of
  *learning procedures* that the study reports. With 5-10 folds they have little
  power, and the folds share training data, which the Nadeau-Bengio correction
  accounts for.
* **Over test samples** (:func:`mcnemar_test`, :func:`paired_bootstrap_diff`,
  :func:`accuracy_ci`): per-sample correctness of *one trained instance* of each
  model on the same test set. They describe test-set sampling uncertainty only;
  they say nothing about the variance due to training (seeds, data order, folds).
  :func:`naive_sample_ttest` reproduces a common misuse of this kind of data and
  is kept to show why it is misleading.

Every function validates its arguments at entry and raises ``ValueError`` with a
message naming the parameter, the allowed values and what was given. Results are
small frozen dataclasses with an ``as_dict()`` method (or plain floats / pandas
DataFrames), so that notebooks can build tables with ``pd.DataFrame``.

Importing this module has no side effects; :mod:`pingouin` (slow to import) is
imported only when :func:`paired_ttest` is called.
"""

from dataclasses import dataclass, fields
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats as _st

from fer_lib.core.validation import check_fraction, check_option, check_positive_int

__all__ = [
    "ALTERNATIVES",
    "MCNEMAR_EXACT_OPTIONS",
    "MCNEMAR_EXACT_THRESHOLD",
    "FOLD_TESTS",
    "PROB_SUM_ATOL",
    "BOOTSTRAP_CHUNK_ELEMENTS",
    "PairedTTestResult",
    "WilcoxonResult",
    "CorrectedTTestResult",
    "HolmResult",
    "McNemarResult",
    "BootstrapResult",
    "NaiveTTestResult",
    "AccuracyCI",
    "ReliabilityCurve",
    "paired_ttest",
    "wilcoxon_signed_rank",
    "corrected_resampled_ttest",
    "holm_correction",
    "mcnemar_test",
    "paired_bootstrap_diff",
    "naive_sample_ttest",
    "accuracy_ci",
    "reliability_curve",
    "expected_calibration_error",
    "compare_fold_scores",
]

#: Alternative hypotheses accepted by the tests, about the difference ``a - b``.
ALTERNATIVES = ("two-sided", "greater", "less")

#: Values accepted by ``mcnemar_test(exact=...)``: ``None`` chooses by
#: :data:`MCNEMAR_EXACT_THRESHOLD`, ``True`` forces the exact binomial test,
#: ``False`` forces the chi-square test with continuity correction.
MCNEMAR_EXACT_OPTIONS = (None, True, False)

#: With ``exact=None``, McNemar's test is exact when ``b + c`` is below this.
MCNEMAR_EXACT_THRESHOLD = 25

#: Tests run by :func:`compare_fold_scores`, named after their functions.
FOLD_TESTS = ("paired_ttest", "wilcoxon_signed_rank", "corrected_resampled_ttest")

#: Tolerance on ``|sum(row) - 1|`` for the rows of a probability matrix.
PROB_SUM_ATOL = 1e-3

#: Upper bound on the number of indices drawn at once by the paired bootstrap
#: (chunk size = this // n_samples resamples), to bound memory.
BOOTSTRAP_CHUNK_ELEMENTS = 2**22


# --------------------------------------------------------------------------- #
# Result containers
# --------------------------------------------------------------------------- #
class _AsDict:
    """Mixin: ``as_dict()`` returns the fields as a plain (shallow) dict."""

    def as_dict(self):
        """Return the fields as a ``dict`` (field name -> value), in field order."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class PairedTTestResult(_AsDict):
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
class WilcoxonResult(_AsDict):
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
class CorrectedTTestResult(_AsDict):
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


@dataclass(frozen=True)
class HolmResult(_AsDict):
    """Result of :func:`holm_correction` (see there for each field)."""

    pvalues: np.ndarray
    p_adjusted: np.ndarray
    reject: np.ndarray
    alpha: float
    m: int


@dataclass(frozen=True)
class McNemarResult(_AsDict):
    """Result of :func:`mcnemar_test` (see there for each field)."""

    table: np.ndarray
    b: int
    c: int
    statistic: float
    p: float
    method: str
    accuracy_a: float
    accuracy_b: float
    n: int
    note: str = ""


@dataclass(frozen=True)
class BootstrapResult(_AsDict):
    """Result of :func:`paired_bootstrap_diff` (see there for each field)."""

    diff: float
    ci_low: float
    ci_high: float
    confidence: float
    p_boot: float
    accuracy_a: float
    accuracy_b: float
    n: int
    n_boot: int
    seed: int


@dataclass(frozen=True)
class NaiveTTestResult(_AsDict):
    """Result of :func:`naive_sample_ttest` (see there, and why not to use it)."""

    t: float
    dof: int
    p: float
    mean_diff: float
    n: int
    warning: str
    note: str = ""


@dataclass(frozen=True)
class AccuracyCI(_AsDict):
    """Result of :func:`accuracy_ci` (see there for each field)."""

    accuracy: float
    ci_low: float
    ci_high: float
    confidence: float
    n_correct: int
    n: int
    method: str = "wilson"


@dataclass(frozen=True)
class ReliabilityCurve(_AsDict):
    """Result of :func:`reliability_curve` (see there for each field)."""

    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray
    edges: np.ndarray

    def to_frame(self):
        """One row per bin: ``bin_low, bin_high, confidence, accuracy, count``.

        Returns
        -------
        pandas.DataFrame of shape (n_bins, 5)
        """
        return pd.DataFrame(
            {
                "bin_low": self.edges[:-1],
                "bin_high": self.edges[1:],
                "confidence": self.confidence,
                "accuracy": self.accuracy,
                "count": self.count,
            }
        )


_NAIVE_WARNING = (
    "Not a valid comparison of models: the n test samples are not independent "
    "replications of training; this tests one trained instance of each model, "
    "ignores training variance, and with thousands of samples tiny differences "
    "become 'significant'. Use fold-level tests (corrected_resampled_ttest) instead."
)


# --------------------------------------------------------------------------- #
# Validation helpers
# --------------------------------------------------------------------------- #
def _check_open_fraction(name, value):
    """``value`` as float in the open interval (0, 1), else ``ValueError``."""
    v = check_fraction(name, value, 0.0, 1.0)
    if not 0.0 < v < 1.0:
        raise ValueError(f"{name} must be a number in (0, 1), ends excluded; got {value!r}")
    return v


def _as_1d(name, x):
    """``x`` as a 1-D ndarray, else ``ValueError`` naming ``name``."""
    try:
        arr = np.asarray(x)
    except Exception as exc:  # pragma: no cover - exotic inputs
        raise ValueError(f"{name} must be a 1-D array-like; got {type(x).__name__}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per fold/sample); got an array of shape {arr.shape}")
    return arr


def _as_1d_float(name, x):
    """``x`` as a finite 1-D float array, else ``ValueError``."""
    arr = _as_1d(name, x)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.number)):
        raise ValueError(f"{name} must contain numbers (scores); got dtype {arr.dtype}")
    arr = arr.astype(float)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise ValueError(
            f"{name} must contain only finite numbers; got NaN/inf at positions {np.flatnonzero(bad)[:10].tolist()}"
        )
    return arr


def _check_paired_scores(a, b, min_n=2):
    """Validate two paired score vectors; return them as float arrays."""
    a = _as_1d_float("a", a)
    b = _as_1d_float("b", b)
    if a.size != b.size:
        raise ValueError(
            f"a and b must have the same length (paired scores, one per fold); got len(a)={a.size}, len(b)={b.size}"
        )
    if a.size < min_n:
        raise ValueError(f"a and b need at least n >= {min_n} pairs; got n={a.size}")
    return a, b


def _as_correctness(name, x):
    """``x`` as a 1-D boolean array (accepts bool, or numbers that are all 0/1)."""
    arr = _as_1d(name, x)
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


def _check_paired_correctness(correct_a, correct_b, min_n=1):
    ca = _as_correctness("correct_a", correct_a)
    cb = _as_correctness("correct_b", correct_b)
    if ca.size != cb.size:
        raise ValueError(
            "correct_a and correct_b must have the same length (the same test samples, in the same order); "
            f"got len(correct_a)={ca.size}, len(correct_b)={cb.size}"
        )
    if ca.size < min_n:
        raise ValueError(f"correct_a and correct_b need at least n >= {min_n} samples; got n={ca.size}")
    return ca, cb


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
        - ``ci_low``, ``ci_high``: CI of the mean difference (one end is
          infinite for one-sided alternatives, as in pingouin / R), ``confidence``;
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
    confidence = _check_open_fraction("confidence", confidence)
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
    ci = np.asarray(_pick(row, f"CI{100 * confidence:.0f}", f"CI{100 * confidence:.0f}%"), dtype=float)
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
        ci_low=float(ci[0]),
        ci_high=float(ci[1]),
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
    confidence = _check_open_fraction("confidence", confidence)
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


def holm_correction(pvalues, alpha=0.05):
    """Holm-Bonferroni step-down correction for ``m`` simultaneous tests.

    Sort the p-values ascending, ``p_(1) <= ... <= p_(m)``; the adjusted values
    are ``p~_(i) = max_{j <= i} min(1, (m - j + 1) * p_(j))`` (monotone in the
    sorted order, capped at 1), returned in the input order. Hypothesis ``i`` is
    rejected when ``p~_i <= alpha``, which controls the family-wise error rate
    at ``alpha``. Same as ``statsmodels.stats.multitest.multipletests(method="holm")``.

    Parameters
    ----------
    pvalues : array-like of shape (m,)
        Raw p-values in [0, 1], ``m >= 1``, no NaN.
    alpha : float in (0, 1), default=0.05
        Family-wise error rate.

    Returns
    -------
    HolmResult
        Fields (``.as_dict()`` keys): ``pvalues`` (ndarray of shape (m,), the
        input), ``p_adjusted`` (ndarray of shape (m,)), ``reject`` (bool ndarray
        of shape (m,)), ``alpha``, ``m``.

    Raises
    ------
    ValueError
        Empty or non-1-D input, NaN or values outside [0, 1], ``alpha`` outside (0, 1).
    """
    p = _as_1d("pvalues", pvalues)
    if p.size == 0:
        raise ValueError("pvalues must hold at least 1 p-value; got an empty array")
    if p.dtype == bool or not np.issubdtype(p.dtype, np.number):
        raise ValueError(f"pvalues must be numbers in [0, 1]; got dtype {p.dtype}")
    p = p.astype(float)
    bad = ~(np.isfinite(p) & (p >= 0) & (p <= 1))
    if bad.any():
        raise ValueError(f"pvalues must be numbers in [0, 1] (no NaN); got {p[bad][:5].tolist()}")
    alpha = _check_open_fraction("alpha", alpha)
    m = int(p.size)
    order = np.argsort(p, kind="mergesort")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adj_sorted = np.maximum.accumulate(scaled)
    adj = np.empty(m)
    adj[order] = adj_sorted
    return HolmResult(pvalues=p, p_adjusted=adj, reject=adj <= alpha, alpha=alpha, m=m)


# --------------------------------------------------------------------------- #
# Comparisons over test samples (one trained instance of each model)
# --------------------------------------------------------------------------- #
def mcnemar_test(correct_a, correct_b, exact=None):
    """McNemar's test on the per-sample correctness of two models on one test set.

    The 2x2 table counts the test samples by (A correct?, B correct?)::

        [[both right,          A right & B wrong (b)],
         [A wrong & B right (c), both wrong          ]]

    Only the discordant counts ``b`` and ``c`` matter. Under H0 (equal error
    rates) ``b ~ Binomial(b + c, 1/2)``.

    * exact: two-sided binomial p = ``min(1, 2 * P(X <= min(b, c)))`` with
      ``X ~ Binomial(b + c, 1/2)``; ``statistic = min(b, c)`` (as statsmodels);
    * chi-square: ``statistic = (|b - c| - 1)**2 / (b + c)`` (continuity
      correction, as ``statsmodels ... mcnemar(exact=False, correction=True)``),
      p from chi-square with 1 dof.

    This compares two trained instances on one test set; it says nothing about
    training variance (see :func:`naive_sample_ttest`).

    Parameters
    ----------
    correct_a, correct_b : array-like of shape (n_samples,)
        Per-sample correctness (bool, or 0/1) of models A and B on the same test
        samples in the same order.
    exact : {None, True, False}, default=None
        ``None``: exact when ``b + c <`` :data:`MCNEMAR_EXACT_THRESHOLD` (25),
        else chi-square. ``True`` / ``False`` force one of them.

    Returns
    -------
    McNemarResult
        Fields (``.as_dict()`` keys): ``table`` (int ndarray of shape (2, 2)),
        ``b``, ``c``, ``statistic``, ``p``, ``method`` (``"exact binomial"`` or
        ``"chi-square with continuity correction"``), ``accuracy_a``,
        ``accuracy_b``, ``n`` (number of samples), ``note``. With ``b + c == 0``
        the models agree on every sample: ``p = 1.0``, ``statistic`` is NaN,
        and ``note`` says so.

    Raises
    ------
    ValueError
        Non-boolean or empty correctness vectors, mismatched lengths, ``exact``
        not one of ``(None, True, False)``.
    """
    ca, cb = _check_paired_correctness(correct_a, correct_b)
    if not (exact is None or isinstance(exact, (bool, np.bool_))):
        raise ValueError(f"exact must be one of {list(MCNEMAR_EXACT_OPTIONS)}; got {exact!r}")
    n11 = int(np.sum(ca & cb))
    b = int(np.sum(ca & ~cb))
    c = int(np.sum(~ca & cb))
    n22 = int(np.sum(~ca & ~cb))
    table = np.array([[n11, b], [c, n22]], dtype=int)
    use_exact = (b + c < MCNEMAR_EXACT_THRESHOLD) if exact is None else bool(exact)
    method = "exact binomial" if use_exact else "chi-square with continuity correction"
    common = dict(table=table, b=b, c=c, method=method, accuracy_a=float(ca.mean()),
                  accuracy_b=float(cb.mean()), n=int(ca.size))
    if b + c == 0:
        return McNemarResult(
            statistic=float("nan"), p=1.0,
            note="b + c == 0: the models are right and wrong on exactly the same samples (p set to 1.0)",
            **common,
        )
    if use_exact:
        stat = float(min(b, c))
        p = float(min(1.0, 2.0 * _st.binom.cdf(min(b, c), b + c, 0.5)))
    else:
        stat = float((abs(b - c) - 1) ** 2 / (b + c))
        p = float(_st.chi2.sf(stat, 1))
    return McNemarResult(statistic=stat, p=p, **common)


def paired_bootstrap_diff(correct_a, correct_b, n_boot=10000, confidence=0.95, seed=0):
    """Paired bootstrap of ``accuracy(A) - accuracy(B)`` over test samples.

    Each resample draws ``n`` sample indices with replacement and uses the
    *same* indices for both models, which keeps the pairing (the two models'
    errors on a sample are correlated). Resamples are drawn in vectorised
    chunks of about :data:`BOOTSTRAP_CHUNK_ELEMENTS` indices.

    Like :func:`mcnemar_test`, this measures test-set sampling uncertainty for
    one trained instance of each model, not training variance.

    Parameters
    ----------
    correct_a, correct_b : array-like of shape (n_samples,)
        Per-sample correctness (bool, or 0/1) of models A and B on the same
        test samples, ``n_samples >= 2``.
    n_boot : int >= 1, default=10000
        Number of bootstrap resamples.
    confidence : float in (0, 1), default=0.95
        Level of the percentile CI.
    seed : int >= 0, default=0
        Seed of ``numpy.random.default_rng``. The result is a deterministic
        function of the inputs, ``n_boot`` and ``seed``.

    Returns
    -------
    BootstrapResult
        Fields (``.as_dict()`` keys): ``diff`` (observed ``acc_a - acc_b``),
        ``ci_low``, ``ci_high`` (percentile CI of the bootstrap differences),
        ``confidence``, ``p_boot``, ``accuracy_a``, ``accuracy_b``, ``n``,
        ``n_boot``, ``seed``. ``p_boot = min(1, 2 * min(P*(diff <= 0),
        P*(diff >= 0)))`` over the bootstrap distribution: a p-value-like
        fraction (dual to the percentile interval), not an exact test; it is 1
        when the models never differ.

    Raises
    ------
    ValueError
        Non-boolean correctness, mismatched lengths, n < 2, bad ``n_boot``,
        ``confidence`` or ``seed``.
    """
    ca, cb = _check_paired_correctness(correct_a, correct_b, min_n=2)
    n_boot = check_positive_int("n_boot", n_boot, minimum=1)
    confidence = _check_open_fraction("confidence", confidence)
    seed = check_positive_int("seed", seed, minimum=0)
    n = int(ca.size)
    d = ca.astype(np.int8) - cb.astype(np.int8)  # per-sample difference in {-1, 0, 1}
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, BOOTSTRAP_CHUNK_ELEMENTS // n))
    diffs = np.empty(n_boot)
    for start in range(0, n_boot, chunk):  # loop over chunks, not resamples
        size = min(chunk, n_boot - start)
        idx = rng.integers(0, n, size=(size, n))
        diffs[start : start + size] = d[idx].sum(axis=1, dtype=np.int64) / n
    alpha = 1 - confidence
    lo, hi = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    p_boot = min(1.0, 2 * min(np.mean(diffs <= 0), np.mean(diffs >= 0)))
    return BootstrapResult(
        diff=float(d.mean()),
        ci_low=float(lo),
        ci_high=float(hi),
        confidence=confidence,
        p_boot=float(p_boot),
        accuracy_a=float(ca.mean()),
        accuracy_b=float(cb.mean()),
        n=n,
        n_boot=n_boot,
        seed=seed,
    )


def naive_sample_ttest(correct_a, correct_b):
    """The invalid "paired t-test over test samples" that some papers report.

    Reproduces claims of the form "paired t-test, t = 7.82, p < 0.05" where
    ``n`` is the number of test samples: a paired t-test
    (``scipy.stats.ttest_rel``) over the per-sample 0/1 correctness vectors of
    one trained model A and one trained model B. **Kept only to show why it
    must not be used to claim that one model (architecture) beats another:**

    * The test samples are not independent replications of the experiment.
      The unit being compared is a *training procedure*; each model was
      trained once, so there is one replication per model, not ``n``.
    * It ignores training variance entirely (random seed, data order,
      augmentation, which subjects fall in the training fold). A different
      seed can move accuracy by more than the difference being "tested".
    * Its standard error shrinks like ``1 / sqrt(n_test)``: with thousands of
      test samples, tiny differences (a few tenths of a percent) become
      "significant", whatever their practical or reproducible relevance.
    * It tests one trained instance of each model on one test set, so even
      a correct conclusion is about those two weight files, not the methods.
    * On 0/1 data the paired t statistic is essentially McNemar's test in
      disguise (it only depends on the discordant counts), with a normal
      approximation on top; use :func:`mcnemar_test` or
      :func:`paired_bootstrap_diff` if test-set uncertainty is the question,
      and fold-level tests (:func:`corrected_resampled_ttest`,
      :func:`compare_fold_scores`) for comparing models.

    Parameters
    ----------
    correct_a, correct_b : array-like of shape (n_samples,)
        Per-sample correctness (bool, or 0/1) on the same test samples,
        ``n_samples >= 2``.

    Returns
    -------
    NaiveTTestResult
        Fields (``.as_dict()`` keys): ``t``, ``dof`` (n - 1), ``p`` (two-sided),
        ``mean_diff`` (= ``acc_a - acc_b``), ``n`` (number of test samples),
        ``warning`` (why this is not valid), ``note``. When the correctness
        difference is the same on every sample, ``t`` and ``p`` are NaN.

    Raises
    ------
    ValueError
        Non-boolean correctness, mismatched lengths, n < 2.
    """
    ca, cb = _check_paired_correctness(correct_a, correct_b, min_n=2)
    d = ca.astype(float) - cb.astype(float)
    n = int(d.size)
    if d.var() == 0:
        return NaiveTTestResult(
            t=float("nan"), dof=n - 1, p=float("nan"), mean_diff=float(d.mean()), n=n,
            warning=_NAIVE_WARNING,
            note="the correctness difference is the same on every sample (zero variance): t is undefined",
        )
    res = _st.ttest_rel(ca.astype(float), cb.astype(float))
    return NaiveTTestResult(
        t=float(res.statistic), dof=n - 1, p=float(res.pvalue), mean_diff=float(d.mean()), n=n,
        warning=_NAIVE_WARNING,
    )


def accuracy_ci(correct, confidence=0.95):
    """Wilson score confidence interval for an accuracy.

    With ``k`` correct out of ``n``, ``p = k/n`` and ``z`` the two-sided normal
    quantile::

        centre = (p + z**2 / (2n)) / (1 + z**2 / n)
        half   = z / (1 + z**2 / n) * sqrt(p (1 - p) / n + z**2 / (4 n**2))

    Unlike the Wald interval it stays inside [0, 1] and behaves near 0 and 1.
    It reflects test-set sampling only (one trained model).

    Parameters
    ----------
    correct : array-like of shape (n_samples,)
        Per-sample correctness (bool, or 0/1), ``n_samples >= 1``.
    confidence : float in (0, 1), default=0.95

    Returns
    -------
    AccuracyCI
        Fields (``.as_dict()`` keys): ``accuracy``, ``ci_low``, ``ci_high``,
        ``confidence``, ``n_correct``, ``n``, ``method`` (``"wilson"``).

    Raises
    ------
    ValueError
        Non-boolean or empty ``correct``, ``confidence`` outside (0, 1).
    """
    c = _as_correctness("correct", correct)
    confidence = _check_open_fraction("confidence", confidence)
    n = int(c.size)
    k = int(c.sum())
    p = k / n
    z = float(_st.norm.ppf(1 - (1 - confidence) / 2))
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z / denom * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return AccuracyCI(
        accuracy=p,
        ci_low=float(max(0.0, centre - half)),
        ci_high=float(min(1.0, centre + half)),
        confidence=confidence,
        n_correct=k,
        n=n,
    )


# --------------------------------------------------------------------------- #
# Calibration
# --------------------------------------------------------------------------- #
def _check_probs_labels(probs, labels, n_bins):
    try:
        P = np.asarray(probs, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"probs must be a numeric array of shape (n_samples, n_classes); got {type(probs).__name__}") from None
    if P.ndim != 2 or P.shape[0] < 1 or P.shape[1] < 2:
        raise ValueError(
            f"probs must have shape (n_samples, n_classes) with n_samples >= 1 and n_classes >= 2; got shape {P.shape}"
        )
    if not np.isfinite(P).all() or (P < 0).any() or (P > 1).any():
        raise ValueError("probs must contain finite probabilities in [0, 1] (e.g. softmax outputs, not logits)")
    sums = P.sum(axis=1)
    bad = np.abs(sums - 1) > PROB_SUM_ATOL
    if bad.any():
        raise ValueError(
            f"rows of probs must sum to 1 (within {PROB_SUM_ATOL}); got row sums {sums[bad][:5].tolist()} "
            f"at rows {np.flatnonzero(bad)[:5].tolist()}"
        )
    y = _as_1d("labels", labels)
    if y.size != P.shape[0]:
        raise ValueError(
            f"labels must have one entry per row of probs; got len(labels)={y.size}, probs.shape[0]={P.shape[0]}"
        )
    if y.dtype == bool or not np.issubdtype(y.dtype, np.number):
        raise ValueError(f"labels must be integer class indices; got dtype {y.dtype}")
    if not np.issubdtype(y.dtype, np.integer):
        if not (np.isfinite(y).all() and (y == np.round(y)).all()):
            raise ValueError("labels must be integer class indices; got non-integer values")
    y = y.astype(np.int64)
    if (y < 0).any() or (y >= P.shape[1]).any():
        raise ValueError(
            f"labels must be class indices in [0, {P.shape[1] - 1}] (n_classes = probs.shape[1]); "
            f"got values {np.unique(y[(y < 0) | (y >= P.shape[1])])[:5].tolist()}"
        )
    n_bins = check_positive_int("n_bins", n_bins, minimum=1)
    return P, y, n_bins


def _bin_stats(probs, labels, n_bins):
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bin i holds edges[i] < conf <= edges[i+1] (first bin also holds conf == 0)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct.astype(float), minlength=n_bins)
    return edges, count, conf_sum, acc_sum


def reliability_curve(probs, labels, n_bins=15):
    """Reliability diagram data: accuracy vs confidence in equal-width bins.

    Confidence is the maximum predicted probability of each sample and the
    prediction is its argmax; bins are ``(edges[i], edges[i+1]]`` over [0, 1]
    (ties in argmax go to the lowest class index).

    Parameters
    ----------
    probs : array-like of shape (n_samples, n_classes)
        Predicted class probabilities (rows sum to 1 within
        :data:`PROB_SUM_ATOL`), ``n_classes >= 2``.
    labels : array-like of shape (n_samples,)
        True class indices in ``[0, n_classes)``.
    n_bins : int >= 1, default=15

    Returns
    -------
    ReliabilityCurve
        Fields (``.as_dict()`` keys): ``confidence`` (ndarray of shape
        (n_bins,), mean confidence per bin, NaN for empty bins), ``accuracy``
        (ndarray of shape (n_bins,), NaN for empty bins), ``count`` (int ndarray
        of shape (n_bins,)), ``edges`` (ndarray of shape (n_bins + 1,)).
        ``.to_frame()`` gives one row per bin.

    Raises
    ------
    ValueError
        Bad shapes, probabilities outside [0, 1] or rows not summing to 1,
        labels out of range or not integers, mismatched lengths, bad ``n_bins``.
    """
    P, y, n_bins = _check_probs_labels(probs, labels, n_bins)
    edges, count, conf_sum, acc_sum = _bin_stats(P, y, n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.where(count > 0, conf_sum / count, np.nan)
        accuracy = np.where(count > 0, acc_sum / count, np.nan)
    return ReliabilityCurve(confidence=confidence, accuracy=accuracy, count=count.astype(int), edges=edges)


def expected_calibration_error(probs, labels, n_bins=15):
    """Expected calibration error (ECE) with equal-width confidence bins.

    ``ECE = sum_b (n_b / n) * |accuracy_b - confidence_b|`` over the non-empty
    bins of :func:`reliability_curve` (Guo et al., 2017), where confidence is
    the maximum predicted probability. 0 for a perfectly calibrated model
    (within bins); note that ECE depends on ``n_bins`` and is biased upwards
    for small ``n``.

    Parameters
    ----------
    probs : array-like of shape (n_samples, n_classes)
        Predicted class probabilities (rows sum to 1).
    labels : array-like of shape (n_samples,)
        True class indices in ``[0, n_classes)``.
    n_bins : int >= 1, default=15

    Returns
    -------
    float
        The ECE, in [0, 1].

    Raises
    ------
    ValueError
        As :func:`reliability_curve`.
    """
    P, y, n_bins = _check_probs_labels(probs, labels, n_bins)
    _, count, conf_sum, acc_sum = _bin_stats(P, y, n_bins)
    # sum_b (n_b/n) |acc_b - conf_b| = sum_b |acc_sum_b - conf_sum_b| / n
    return float(np.abs(acc_sum - conf_sum).sum() / P.shape[0])


# --------------------------------------------------------------------------- #
# All pairs of models, all tests, Holm within each test family
# --------------------------------------------------------------------------- #
_TIDY_COLUMNS = [
    "model_a", "model_b", "test", "statistic", "dof", "p", "p_holm", "reject",
    "mean_diff", "ci_low", "ci_high", "effect_size", "effect_size_name",
]


def compare_fold_scores(scores, n_train, n_test, pairs=None, alpha=0.05, *, alternative="two-sided",
                        confidence=0.95):
    """Compare models pairwise on per-fold scores with three paired tests.

    For each pair ``(model_a, model_b)`` runs :func:`paired_ttest`,
    :func:`wilcoxon_signed_rank` and :func:`corrected_resampled_ttest` on
    ``scores[model_a] - scores[model_b]`` and applies :func:`holm_correction`
    over the pairs, separately for each test (each test is its own family).
    A NaN p-value (degenerate pair, zero variance) counts as 1 in the Holm
    family and gets ``p_holm = NaN``, ``reject = False``.

    Parameters
    ----------
    scores : pandas.DataFrame of shape (n_folds, n_models)
        One row per fold, one column per model (e.g. ``spatial``,
        ``temporal``, ``hybrid``); finite numbers, ``n_folds >= 2``,
        ``n_models >= 2``, unique column names.
    n_train, n_test : float or array-like of shape (n_folds,)
        Training / test sample counts for :func:`corrected_resampled_ttest`.
    pairs : sequence of (str, str), optional
        Pairs of column names to compare (``a - b``). Default: all pairs in
        column order (``itertools.combinations``).
    alpha : float in (0, 1), default=0.05
        Family-wise error rate for Holm.
    alternative : {"two-sided", "greater", "less"}, default="two-sided"
        Passed to every test (keyword-only).
    confidence : float in (0, 1), default=0.95
        CI level of the t-tests (keyword-only).

    Returns
    -------
    pandas.DataFrame of shape (n_pairs * 3, 13)
        One row per pair x test, pairs in order, tests in :data:`FOLD_TESTS`
        order. Columns: ``model_a``, ``model_b``, ``test`` (one of
        :data:`FOLD_TESTS`), ``statistic`` (t or Wilcoxon statistic), ``dof``
        (NaN for Wilcoxon), ``p``, ``p_holm``, ``reject`` (bool), ``mean_diff``
        (mean of ``a - b``), ``ci_low``, ``ci_high`` (NaN for Wilcoxon),
        ``effect_size``, ``effect_size_name`` (``"d_z"`` for the t-tests,
        ``"rank_biserial"`` for Wilcoxon).

    Raises
    ------
    ValueError
        ``scores`` not a DataFrame, too few rows/columns, duplicate or
        non-numeric columns, NaN, unknown columns in ``pairs``, a pair that
        compares a model with itself, and the errors of the tests.
    """
    if not isinstance(scores, pd.DataFrame):
        raise ValueError(f"scores must be a pandas DataFrame (rows = folds, columns = models); got {type(scores).__name__}")
    if scores.shape[1] < 2 or scores.shape[0] < 2:
        raise ValueError(f"scores needs at least 2 folds (rows) and 2 models (columns); got shape {scores.shape}")
    if scores.columns.duplicated().any():
        raise ValueError(f"scores must have unique column names; got duplicates {scores.columns[scores.columns.duplicated()].tolist()}")
    columns = list(scores.columns)
    for col in columns:
        if not pd.api.types.is_numeric_dtype(scores[col]) or pd.api.types.is_bool_dtype(scores[col]):
            raise ValueError(f"scores must hold numeric scores; column {col!r} has dtype {scores[col].dtype}")
        if not np.isfinite(scores[col].to_numpy(dtype=float)).all():
            raise ValueError(f"scores must hold finite numbers; column {col!r} contains NaN/inf")
    if pairs is None:
        pairs = list(combinations(columns, 2))
    else:
        if isinstance(pairs, str):
            raise ValueError(f"pairs must be a list of (model_a, model_b) pairs from {columns}; got {pairs!r}")
        pairs = list(pairs)
        if not pairs:
            raise ValueError("pairs must hold at least 1 (model_a, model_b) pair; got an empty list")
        for pair in pairs:
            if isinstance(pair, str) or len(pair) != 2:
                raise ValueError(f"each item of pairs must be a (model_a, model_b) pair; got {pair!r}")
            check_option("pairs item", pair[0], columns)
            check_option("pairs item", pair[1], columns)
            if pair[0] == pair[1]:
                raise ValueError(f"each pair must compare two different models; got {tuple(pair)!r}")
        pairs = [tuple(p) for p in pairs]
    alpha = _check_open_fraction("alpha", alpha)
    check_option("alternative", alternative, ALTERNATIVES)
    confidence = _check_open_fraction("confidence", confidence)

    rows = []
    for ma, mb in pairs:
        a = scores[ma].to_numpy(dtype=float)
        b = scores[mb].to_numpy(dtype=float)
        tt = paired_ttest(a, b, alternative=alternative, confidence=confidence)
        wx = wilcoxon_signed_rank(a, b, alternative=alternative)
        nb = corrected_resampled_ttest(a, b, n_train, n_test, alternative=alternative, confidence=confidence)
        mean_diff = float(np.mean(a - b))
        rows.append(dict(model_a=ma, model_b=mb, test=FOLD_TESTS[0], statistic=tt.t, dof=float(tt.dof), p=tt.p,
                         mean_diff=mean_diff, ci_low=tt.ci_low, ci_high=tt.ci_high, effect_size=tt.d_z,
                         effect_size_name="d_z"))
        rows.append(dict(model_a=ma, model_b=mb, test=FOLD_TESTS[1], statistic=wx.statistic, dof=np.nan, p=wx.p,
                         mean_diff=mean_diff, ci_low=np.nan, ci_high=np.nan, effect_size=wx.rank_biserial,
                         effect_size_name="rank_biserial"))
        rows.append(dict(model_a=ma, model_b=mb, test=FOLD_TESTS[2], statistic=nb.t, dof=float(nb.dof), p=nb.p,
                         mean_diff=mean_diff, ci_low=nb.ci_low, ci_high=nb.ci_high, effect_size=nb.d_z,
                         effect_size_name="d_z"))
    out = pd.DataFrame(rows)
    out["p_holm"] = np.nan
    out["reject"] = False
    for test in FOLD_TESTS:
        mask = (out["test"] == test).to_numpy()
        p = out.loc[mask, "p"].to_numpy(dtype=float)
        finite = np.isfinite(p)
        holm = holm_correction(np.where(finite, p, 1.0), alpha=alpha)
        out.loc[mask, "p_holm"] = np.where(finite, holm.p_adjusted, np.nan)
        out.loc[mask, "reject"] = holm.reject & finite
    out["reject"] = out["reject"].astype(bool)
    return out[_TIDY_COLUMNS].reset_index(drop=True)
