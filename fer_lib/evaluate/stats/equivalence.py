"""Equivalence and estimation for a pre-registered paired comparison.

A comparison that finds "no significant difference" has not shown that two
models are equally good. These functions support the claims a reviewer accepts
instead:

* :func:`tost_paired`: two one-sided tests (TOST) that the mean paired
  difference lies inside a pre-registered margin ``(-margin, +margin)``; on
  per-fold scores, optionally with the Nadeau-Bengio corrected variance of
  :func:`~fer_lib.evaluate.stats.paired.corrected_resampled_ttest`;
* :func:`paired_effect_size`: Cohen's ``d_z`` of the paired differences with an
  exact confidence interval from the noncentral t distribution;
* :func:`cluster_bootstrap_diff`: the paired accuracy difference over test
  samples with a *subject-level* (cluster) bootstrap interval. Samples of one
  subject (several sequences or frames of a CK+ subject) are not independent;
  resampling subjects, not samples, keeps that dependence.

The sensitivity of a design (the smallest difference it can detect) is in
:mod:`fer_lib.evaluate.stats.power`.
"""

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize as _opt
from scipy import special as _sp
from scipy import stats as _st

from fer_lib.core.validation import check_positive_int
from fer_lib.evaluate.stats.common import AsDict, as_1d, as_correctness, as_scores, check_open_fraction
from fer_lib.evaluate.stats.paired import corrected_resampled_ttest
from fer_lib.evaluate.stats.samples import BOOTSTRAP_CHUNK_ELEMENTS

__all__ = [
    "TOST_VERDICTS",
    "TOSTResult",
    "ClusterBootstrapResult",
    "EffectSizeResult",
    "tost_paired",
    "cluster_bootstrap_diff",
    "paired_effect_size",
]


#: Verdicts of :func:`tost_paired`: ``"equivalent"`` when the TOST p-value is
#: below alpha (equivalently, the ``1 - 2 alpha`` CI lies inside the margin),
#: else ``"not equivalent"`` (equivalence not shown; not evidence of a difference).
TOST_VERDICTS = ("equivalent", "not equivalent")


# --------------------------------------------------------------------------- #
# Result containers
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class TOSTResult(AsDict):
    """Result of :func:`tost_paired` (see there for each field)."""

    mean_diff: float
    sd_diff: float
    se: float
    dof: int
    n: int
    low: float
    high: float
    t_lower: float
    p_lower: float
    t_upper: float
    p_upper: float
    p: float
    alpha: float
    ci_low: float
    ci_high: float
    ci_level: float
    verdict: str
    corrected: bool
    correction: float
    test_train_ratio: float
    note: str = ""


@dataclass(frozen=True)
class ClusterBootstrapResult(AsDict):
    """Result of :func:`cluster_bootstrap_diff` (see there for each field)."""

    diff: float
    ci_low: float
    ci_high: float
    confidence: float
    p_boot: float
    mean_boot: float
    se_boot: float
    se_iid: float
    design_effect: float
    accuracy_a: float
    accuracy_b: float
    n: int
    n_clusters: int
    n_boot: int
    seed: int


@dataclass(frozen=True)
class EffectSizeResult(AsDict):
    """Result of :func:`paired_effect_size` (see there for each field)."""

    d_z: float
    g_z: float
    ci_low: float
    ci_high: float
    confidence: float
    t: float
    dof: int
    mean_diff: float
    sd_diff: float
    n: int
    method: str = "noncentral t (Steiger & Fouladi 1997)"
    note: str = ""


_ZERO_VARIANCE = "all differences a - b are equal (zero variance): the t statistic is undefined"


# --------------------------------------------------------------------------- #
# Validation helpers
# --------------------------------------------------------------------------- #
def _differences(a, b, min_n=2):
    """``a - b`` for paired scores, or ``a`` itself (the differences) when ``b`` is None."""
    if b is None:
        d = as_scores("a (the differences, b=None)", a)
    else:
        a = as_scores("a", a)
        b = as_scores("b", b)
        if a.size != b.size:
            raise ValueError(
                f"a and b must have the same length (paired scores, one per fold); got len(a)={a.size}, len(b)={b.size}"
            )
        d = a - b
    if d.size < min_n:
        what = "a (the differences, b=None) needs" if b is None else "a and b need"
        raise ValueError(f"{what} at least n >= {min_n} pairs; got n={d.size}")
    return d


def _margin_bounds(margin):
    """``(low, high)`` from a positive number (``-margin, +margin``) or a pair ``low < high``."""
    msg = "margin must be a positive number (bounds -margin, +margin) or a pair (low, high) with low < high"
    if margin is None or isinstance(margin, (bool, np.bool_, str)):
        raise ValueError(f"{msg}; got {margin!r}")
    arr = np.asarray(margin)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or arr.ndim > 1 or arr.size not in (1, 2):
        raise ValueError(f"{msg}; got {margin!r}")
    arr = arr.astype(float).ravel()
    if not np.isfinite(arr).all():
        raise ValueError(f"{msg}; got {margin!r}")
    if arr.size == 1 and np.ndim(margin) == 0:
        if not arr[0] > 0:
            raise ValueError(f"{msg}; got {margin!r}")
        return -float(arr[0]), float(arr[0])
    if arr.size != 2 or not arr[0] < arr[1]:
        raise ValueError(f"{msg}; got {margin!r}")
    return float(arr[0]), float(arr[1])


def tost_paired(a, b=None, margin=None, alpha=0.05, corrected=False, n_train=None, n_test=None):
    """Two one-sided tests (TOST) for equivalence of paired scores within a margin.

    With ``d = a - b`` (or ``d = a`` when ``b`` is None), ``n = len(d)`` and the
    equivalence bounds ``low = -margin``, ``high = +margin``, TOST tests::

        H0_lower: mean(d) <= low    vs  mean(d) > low    t_lower = (mean(d) - low)  / se,  p_lower = P(T >= t_lower)
        H0_upper: mean(d) >= high   vs  mean(d) < high   t_upper = (mean(d) - high) / se,  p_upper = P(T <= t_upper)

    with ``T ~ t(n - 1)``. Equivalence is shown at level ``alpha`` when both
    are rejected, i.e. when ``p = max(p_lower, p_upper) < alpha``; this is the
    same as the ``1 - 2 alpha`` confidence interval of ``mean(d)`` lying
    inside ``(low, high)`` (Schuirmann 1987). Same as statsmodels'
    ``ttost_paired(a, b, low, high)``.

    The standard error is ``se = sd(d) * sqrt(c)`` (``sd`` with ddof=1), where

    * ``c = 1/n`` (``corrected=False``): the ordinary paired t-test, valid for
      independent pairs;
    * ``c = 1/n + n_test/n_train`` (``corrected=True``): the Nadeau-Bengio
      corrected variance for cross-validated fold scores, computed by
      :func:`~fer_lib.evaluate.stats.paired.corrected_resampled_ttest` (so the
      TOST CI is that function's CI at ``confidence = 1 - 2 alpha``). With
      ``r`` repeats of a ``k``-fold split, pass one score per (repeat, fold),
      ``n = k r`` (Bouckaert & Frank 2004, corrected repeated k-fold CV test),
      after averaging the seeds run on the same split.

    Parameters
    ----------
    a : array-like of shape (n,)
        Scores of model A (e.g. per-fold accuracies), or the differences
        ``a - b`` themselves when ``b`` is None. Finite, ``n >= 2``.
    b : array-like of shape (n,), optional
        Paired scores of model B (same folds, same order).
    margin : float > 0 or (float, float)
        Pre-registered equivalence margin, in the units of the scores (e.g.
        ``0.02`` for two accuracy points): the bounds are ``(-margin,
        +margin)``. A pair ``(low, high)`` with ``low < high`` gives asymmetric
        bounds. Required.
    alpha : float in (0, 0.5), default=0.05
        Level of each one-sided test (and of TOST); the CI has level ``1 - 2 alpha``.
    corrected : bool, default=False
        Use the Nadeau-Bengio corrected variance (requires ``n_train`` and
        ``n_test``; without it they must be left out).
    n_train, n_test : float or array-like of shape (n,), optional
        Training / test sample counts, as in ``corrected_resampled_ttest``
        (per-fold arrays are averaged).

    Returns
    -------
    TOSTResult
        Fields (``.as_dict()`` keys): ``mean_diff``, ``sd_diff`` (ddof=1),
        ``se``, ``dof`` (n - 1), ``n``, ``low``, ``high`` (the bounds),
        ``t_lower``, ``p_lower``, ``t_upper``, ``p_upper``, ``p`` (``max`` of
        the two), ``alpha``, ``ci_low``, ``ci_high`` (the ``1 - 2 alpha``
        two-sided CI of ``mean_diff``), ``ci_level`` (``1 - 2 alpha``),
        ``verdict`` (one of :data:`TOST_VERDICTS`), ``corrected``,
        ``correction`` (``c``), ``test_train_ratio`` (``n_test / n_train``; NaN
        when not corrected), ``note``. When all differences are equal (zero
        variance) the t statistics and p-values are NaN, the CI collapses to
        ``mean_diff``, the verdict is ``"not equivalent"`` and ``note`` says why.

    Raises
    ------
    ValueError
        Non-finite or non-numeric scores, mismatched lengths, ``n < 2``, a
        missing or invalid ``margin``, ``alpha`` outside (0, 0.5), ``corrected``
        not a bool, ``n_train`` / ``n_test`` missing with ``corrected=True``,
        given without it, or not positive.
    """
    d = _differences(a, b)
    low, high = _margin_bounds(margin)
    alpha = check_open_fraction("alpha", alpha)
    if not alpha < 0.5:
        raise ValueError(f"alpha must be a number in (0, 0.5) (the CI has level 1 - 2*alpha); got {alpha!r}")
    if not isinstance(corrected, (bool, np.bool_)):
        raise ValueError(f"corrected must be one of [False, True]; got {corrected!r}")
    corrected = bool(corrected)
    n = int(d.size)
    dof = n - 1
    ci_level = 1.0 - 2.0 * alpha
    mean_diff = float(d.mean())
    sd_diff = float(d.std(ddof=1))
    if corrected:
        if n_train is None or n_test is None:
            raise ValueError(
                f"n_train and n_test are required with corrected=True; got n_train={n_train!r}, n_test={n_test!r}"
            )
        nb = corrected_resampled_ttest(d, np.zeros_like(d), n_train, n_test, confidence=ci_level)
        correction, ratio = nb.correction, nb.test_train_ratio
        se, ci_low, ci_high = nb.se_corrected, nb.ci_low, nb.ci_high
    else:
        if n_train is not None or n_test is not None:
            raise ValueError(
                "n_train and n_test are used only with corrected=True; "
                f"got n_train={n_train!r}, n_test={n_test!r} with corrected=False"
            )
        correction, ratio = 1.0 / n, float("nan")
        se = sd_diff * math.sqrt(correction)
        half = float(_st.t.ppf(1 - alpha, dof)) * se
        ci_low, ci_high = mean_diff - half, mean_diff + half
    common = dict(mean_diff=mean_diff, sd_diff=sd_diff, se=float(se), dof=dof, n=n, low=low, high=high,
                  alpha=alpha, ci_level=ci_level, corrected=corrected, correction=float(correction),
                  test_train_ratio=float(ratio))
    if sd_diff == 0:
        nan = float("nan")
        return TOSTResult(t_lower=nan, p_lower=nan, t_upper=nan, p_upper=nan, p=nan, ci_low=mean_diff,
                          ci_high=mean_diff, verdict=TOST_VERDICTS[1],
                          note=_ZERO_VARIANCE + "; equivalence cannot be tested", **common)
    t_lower = (mean_diff - low) / se
    t_upper = (mean_diff - high) / se
    p_lower = float(_st.t.sf(t_lower, dof))
    p_upper = float(_st.t.cdf(t_upper, dof))
    p = max(p_lower, p_upper)
    return TOSTResult(
        t_lower=float(t_lower),
        p_lower=p_lower,
        t_upper=float(t_upper),
        p_upper=p_upper,
        p=p,
        ci_low=float(ci_low),
        ci_high=float(ci_high),
        verdict=TOST_VERDICTS[0] if p < alpha else TOST_VERDICTS[1],
        **common,
    )


# --------------------------------------------------------------------------- #
# Subject-level (cluster) bootstrap
# --------------------------------------------------------------------------- #
def cluster_bootstrap_diff(correct_a, correct_b, clusters, n_boot=10000, seed=0, confidence=0.95):
    """Subject-level (cluster) bootstrap of ``accuracy(A) - accuracy(B)`` over test samples.

    Each resample draws ``G`` clusters (subjects) with replacement out of the
    ``G`` present and keeps *all* samples of each drawn cluster, for both
    models (pairing kept). The resampled difference is the ratio::

        diff* = sum_g w_g s_g / sum_g w_g m_g

    where ``w_g`` is how often cluster ``g`` was drawn, ``s_g`` the sum of
    ``correct_a - correct_b`` over its samples and ``m_g`` its number of
    samples (per-cluster sums from ``np.bincount``; resamples drawn in
    vectorised chunks of about :data:`BOOTSTRAP_CHUNK_ELEMENTS` indices, so
    10,000 resamples of ~650 samples in ~120 subjects take a few milliseconds).
    The interval is the percentile interval of ``diff*``. With one sample per
    cluster this is the ordinary paired bootstrap
    (:func:`~fer_lib.evaluate.stats.samples.paired_bootstrap_diff`); when a
    subject's samples tend to be right or wrong together the interval is wider.

    Like every test-set interval it describes the sampling of test subjects
    for one trained instance (or one set of pooled predictions) of each model,
    not training variance. With few clusters (fewer than ~20-30) percentile
    intervals of a cluster bootstrap are too narrow.

    Parameters
    ----------
    correct_a, correct_b : array-like of shape (n_samples,)
        Per-sample correctness (bool, or 0/1) of models A and B on the same test
        samples in the same order (e.g. pooled over the test folds of one
        repeat, where every subject is tested once).
    clusters : array-like of shape (n_samples,)
        Cluster (subject) label of every sample: integers or strings, no
        missing values; at least 2 distinct clusters.
    n_boot : int >= 1, default=10000
        Number of bootstrap resamples.
    seed : int >= 0, default=0
        Seed of ``numpy.random.default_rng``. The result is a deterministic
        function of the inputs, ``n_boot`` and ``seed`` (not of the order of
        the samples within a cluster; the clusters are ordered by label).
    confidence : float in (0, 1), default=0.95
        Level of the percentile CI (``1 - 2 alpha`` for a bootstrap TOST:
        equivalence within a margin when this CI lies inside it).

    Returns
    -------
    ClusterBootstrapResult
        Fields (``.as_dict()`` keys): ``diff`` (observed ``acc_a - acc_b``),
        ``ci_low``, ``ci_high`` (percentile CI), ``confidence``, ``p_boot``
        (``min(1, 2 * min(P*(diff* <= 0), P*(diff* >= 0)))``, as in
        ``paired_bootstrap_diff``; 1 when the models never differ),
        ``mean_boot`` and ``se_boot`` (mean and sd of ``diff*``; ``mean_boot``
        can differ slightly from ``diff`` when clusters differ in size), ``se_iid`` (``sqrt(var(d, ddof=0) / n)``,
        the standard error that a sample-level bootstrap targets),
        ``design_effect`` (``(se_boot / se_iid)**2``: the variance inflation
        due to clustering; NaN when ``se_iid == 0``), ``accuracy_a``,
        ``accuracy_b``, ``n`` (samples), ``n_clusters``, ``n_boot``, ``seed``.

    Raises
    ------
    ValueError
        Non-boolean or empty correctness, mismatched lengths, missing or
        unorderable cluster labels, fewer than 2 clusters, bad ``n_boot``,
        ``seed`` or ``confidence``.
    """
    ca = as_correctness("correct_a", correct_a)
    cb = as_correctness("correct_b", correct_b)
    if ca.size != cb.size:
        raise ValueError(
            "correct_a and correct_b must have the same length (the same test samples, in the same order); "
            f"got len(correct_a)={ca.size}, len(correct_b)={cb.size}"
        )
    labels = as_1d("clusters", clusters)
    if labels.size != ca.size:
        raise ValueError(
            "clusters must have one label per test sample (the length of correct_a); "
            f"got len(clusters)={labels.size}, len(correct_a)={ca.size}"
        )
    if labels.dtype.kind == "f" and np.isnan(labels).any():
        where = np.flatnonzero(np.isnan(labels))[:10].tolist()
        raise ValueError(f"clusters must not contain NaN; got NaN at positions {where}")
    if labels.dtype == object and any(v is None for v in labels):
        raise ValueError("clusters must not contain None (every sample needs a subject label)")
    try:
        _, inverse = np.unique(labels, return_inverse=True)
    except TypeError as exc:
        raise ValueError(f"clusters must hold labels of one comparable type (ints or strings); got {exc}") from exc
    inverse = inverse.ravel()
    n_clusters = int(inverse.max()) + 1
    if n_clusters < 2:
        raise ValueError(f"clusters must hold at least 2 distinct clusters (subjects); got {n_clusters}")
    n_boot = check_positive_int("n_boot", n_boot, minimum=1)
    seed = check_positive_int("seed", seed, minimum=0)
    confidence = check_open_fraction("confidence", confidence)

    n = int(ca.size)
    d = ca.astype(np.int64) - cb.astype(np.int64)  # per-sample difference in {-1, 0, 1}
    s = np.bincount(inverse, weights=d, minlength=n_clusters).round().astype(np.int64)  # exact integer sums
    m = np.bincount(inverse, minlength=n_clusters).astype(np.int64)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, BOOTSTRAP_CHUNK_ELEMENTS // n_clusters))
    num = np.empty(n_boot, dtype=np.int64)
    den = np.empty(n_boot, dtype=np.int64)
    for start in range(0, n_boot, chunk):  # loop over chunks, not resamples
        size = min(chunk, n_boot - start)
        idx = rng.integers(0, n_clusters, size=(size, n_clusters))
        num[start : start + size] = s[idx].sum(axis=1)
        den[start : start + size] = m[idx].sum(axis=1)
    diffs = num / den
    lo, hi = np.quantile(diffs, [(1 - confidence) / 2, 1 - (1 - confidence) / 2])
    p_boot = min(1.0, 2 * min(np.mean(num <= 0), np.mean(num >= 0)))
    se_boot = float(diffs.std())
    se_iid = float(math.sqrt(d.var() / n))
    return ClusterBootstrapResult(
        diff=float(d.mean()),
        ci_low=float(lo),
        ci_high=float(hi),
        confidence=confidence,
        p_boot=float(p_boot),
        mean_boot=float(diffs.mean()),
        se_boot=se_boot,
        se_iid=se_iid,
        design_effect=(se_boot / se_iid) ** 2 if se_iid > 0 else float("nan"),
        accuracy_a=float(ca.mean()),
        accuracy_b=float(cb.mean()),
        n=n,
        n_clusters=n_clusters,
        n_boot=n_boot,
        seed=seed,
    )


# --------------------------------------------------------------------------- #
# Effect size d_z with an exact CI
# --------------------------------------------------------------------------- #
def _nct_cdf(t, dof, nc):
    """``scipy.stats.nct.cdf(t, dof, nc)``, falling back to the equal ``nct.sf(-t, dof, -nc)``.

    scipy returns NaN in parts of the far tails (e.g. ``t=-30, dof=1, nc=8``)
    where the mirrored survival function is finite.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # boost's "series did not converge" in far tails
        value = float(_st.nct.cdf(t, dof, nc))
        if not math.isfinite(value):
            value = float(_st.nct.sf(-t, dof, -nc))
    if not math.isfinite(value):  # pragma: no cover - not met on a grid of |t| <= 100, dof 1..999
        raise FloatingPointError(f"noncentral t cdf is not finite at t={t}, dof={dof}, nc={nc}")
    return value


def _noncentrality_for_cdf(t_obs, dof, q):
    """The noncentrality ``nc`` with ``nct.cdf(t_obs, dof, nc) == q`` (decreasing in ``nc``)."""
    f = lambda nc: _nct_cdf(t_obs, dof, nc) - q  # noqa: E731
    width = 5.0 + 2.0 * math.sqrt(1.0 + t_obs**2 / (2.0 * dof))
    lo, hi = t_obs - width, t_obs + width
    for _ in range(60):  # widen the bracket until it holds the root (decreasing f)
        if f(lo) >= 0:
            break
        lo -= width
        width *= 2
    for _ in range(60):
        if f(hi) <= 0:
            break
        hi += width
        width *= 2
    return float(_opt.brentq(f, lo, hi, xtol=1e-12, rtol=1e-12, maxiter=500))


def paired_effect_size(a, b=None, confidence=0.95):
    """Cohen's ``d_z`` of paired scores, with an exact CI from the noncentral t distribution.

    ``d_z = mean(d) / sd(d)`` with ``d = a - b`` (or ``d = a`` when ``b`` is
    None) and ``sd`` with ddof=1: the standardized mean difference of the
    paired design, the effect size behind the paired t-test (``t = d_z *
    sqrt(n)``). It standardizes by the spread of the *differences*, so it is
    not comparable with a between-groups ``d``.

    The CI inverts the noncentral t distribution (Steiger & Fouladi 1997;
    Cumming & Finch 2001): with ``t = d_z sqrt(n)`` and ``n - 1`` dof, find
    ``nc_low`` and ``nc_high`` with::

        nct.cdf(t, n - 1, nc_low)  = 1 - (1 - confidence) / 2
        nct.cdf(t, n - 1, nc_high) = (1 - confidence) / 2

    (``scipy.stats.nct``, root found with ``scipy.optimize.brentq``) and
    return ``(nc_low, nc_high) / sqrt(n)``. The interval is exact when the
    differences are normal and independent; it does not include the
    Nadeau-Bengio correction, so for cross-validated fold scores (which share
    training data) it is too narrow.

    Parameters
    ----------
    a : array-like of shape (n,)
        Scores of model A, or the differences ``a - b`` when ``b`` is None.
        Finite, ``n >= 2``.
    b : array-like of shape (n,), optional
        Paired scores of model B.
    confidence : float in (0, 1), default=0.95
        Level of the two-sided CI.

    Returns
    -------
    EffectSizeResult
        Fields (``.as_dict()`` keys): ``d_z`` (signed), ``g_z`` (Hedges'
        small-sample correction ``J(n - 1) * d_z`` with ``J(m) = Gamma(m/2) /
        (sqrt(m/2) Gamma((m - 1)/2))``, unbiased for normal data; NaN for
        ``n = 2``, where no unbiased version exists), ``ci_low``, ``ci_high``
        (CI of the population ``d_z``; ``d_z`` is its point estimate),
        ``confidence``, ``t``, ``dof`` (n - 1), ``mean_diff``, ``sd_diff``,
        ``n``, ``method``, ``note``. With zero variance of the differences
        everything but ``mean_diff``, ``sd_diff`` and ``n`` is NaN and ``note``
        says why.

    Raises
    ------
    ValueError
        Non-finite or non-numeric scores, mismatched lengths, ``n < 2``,
        ``confidence`` outside (0, 1).
    """
    d = _differences(a, b)
    confidence = check_open_fraction("confidence", confidence)
    n = int(d.size)
    dof = n - 1
    mean_diff = float(d.mean())
    sd_diff = float(d.std(ddof=1))
    if sd_diff == 0:
        nan = float("nan")
        return EffectSizeResult(d_z=nan, g_z=nan, ci_low=nan, ci_high=nan, confidence=confidence, t=nan, dof=dof,
                                mean_diff=mean_diff, sd_diff=0.0, n=n, note=_ZERO_VARIANCE)
    d_z = mean_diff / sd_diff
    t = d_z * math.sqrt(n)
    tail = (1 - confidence) / 2
    nc_low = _noncentrality_for_cdf(t, dof, 1 - tail)
    nc_high = _noncentrality_for_cdf(t, dof, tail)
    if dof >= 2:
        j = math.exp(_sp.gammaln(dof / 2) - _sp.gammaln((dof - 1) / 2)) / math.sqrt(dof / 2)
        g_z = j * d_z
    else:
        g_z = float("nan")
    return EffectSizeResult(
        d_z=float(d_z),
        g_z=float(g_z),
        ci_low=nc_low / math.sqrt(n),
        ci_high=nc_high / math.sqrt(n),
        confidence=confidence,
        t=float(t),
        dof=dof,
        mean_diff=mean_diff,
        sd_diff=sd_diff,
        n=n,
        note="" if dof >= 2 else "n = 2: no unbiased (Hedges) version of d_z exists; g_z is NaN",
    )
