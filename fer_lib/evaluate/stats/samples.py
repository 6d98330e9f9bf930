"""Comparisons over test samples: McNemar, paired bootstrap, Wilson CI, the naive t-test.

Per-sample correctness of *one trained instance* of each model on the same test
set. These describe test-set sampling uncertainty only; they say nothing about
the variance due to training (seeds, data order, folds).
:func:`naive_sample_ttest` reproduces a common misuse of this kind of data and
is kept to show why it is misleading.
"""

from dataclasses import dataclass

import numpy as np
from scipy import stats as _st

from fer_lib.core.validation import check_positive_int
from fer_lib.evaluate.stats.common import AsDict, as_correctness, check_open_fraction

__all__ = [
    "MCNEMAR_EXACT_OPTIONS",
    "MCNEMAR_EXACT_THRESHOLD",
    "BOOTSTRAP_CHUNK_ELEMENTS",
    "McNemarResult",
    "BootstrapResult",
    "NaiveTTestResult",
    "AccuracyCI",
    "mcnemar_test",
    "paired_bootstrap_diff",
    "naive_sample_ttest",
    "accuracy_ci",
]


#: Values accepted by ``mcnemar_test(exact=...)``: ``None`` chooses by
#: :data:`MCNEMAR_EXACT_THRESHOLD`, ``True`` forces the exact binomial test,
#: ``False`` forces the chi-square test with continuity correction.
MCNEMAR_EXACT_OPTIONS = (None, True, False)

#: With ``exact=None``, McNemar's test is exact when ``b + c`` is below this.
MCNEMAR_EXACT_THRESHOLD = 25


#: Upper bound on the number of indices drawn at once by the paired bootstrap
#: (chunk size = this // n_samples resamples), to bound memory.
BOOTSTRAP_CHUNK_ELEMENTS = 2**22


# --------------------------------------------------------------------------- #
# Result containers
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class McNemarResult(AsDict):
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
class BootstrapResult(AsDict):
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
class NaiveTTestResult(AsDict):
    """Result of :func:`naive_sample_ttest` (see there, and why not to use it)."""

    t: float
    dof: int
    p: float
    mean_diff: float
    n: int
    warning: str
    note: str = ""


@dataclass(frozen=True)
class AccuracyCI(AsDict):
    """Result of :func:`accuracy_ci` (see there for each field)."""

    accuracy: float
    ci_low: float
    ci_high: float
    confidence: float
    n_correct: int
    n: int
    method: str = "wilson"


_NAIVE_WARNING = (
    "Not a valid comparison of models: the n test samples are not independent "
    "replications of training; this tests one trained instance of each model, "
    "ignores training variance, and with thousands of samples tiny differences "
    "become 'significant'. Use fold-level tests (corrected_resampled_ttest) instead."
)


# --------------------------------------------------------------------------- #
# Validation helpers
# --------------------------------------------------------------------------- #
def _check_paired_correctness(correct_a, correct_b, min_n=1):
    ca = as_correctness("correct_a", correct_a)
    cb = as_correctness("correct_b", correct_b)
    if ca.size != cb.size:
        raise ValueError(
            "correct_a and correct_b must have the same length (the same test samples, in the same order); "
            f"got len(correct_a)={ca.size}, len(correct_b)={cb.size}"
        )
    if ca.size < min_n:
        raise ValueError(f"correct_a and correct_b need at least n >= {min_n} samples; got n={ca.size}")
    return ca, cb


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
    * chi-square: ``statistic = max(|b - c| - 1, 0)**2 / (b + c)`` (Edwards'
      continuity correction), p from chi-square with 1 dof. Same as
      ``statsmodels ... mcnemar(exact=False, correction=True)`` when ``b != c``;
      with ``b == c`` the correction is clipped at 0, so that the statistic
      is 0 and ``p = 1`` (statsmodels gives ``1 / (b + c)``).

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
        stat = float(max(abs(b - c) - 1, 0) ** 2 / (b + c))
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
    confidence = check_open_fraction("confidence", confidence)
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
    c = as_correctness("correct", correct)
    confidence = check_open_fraction("confidence", confidence)
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
