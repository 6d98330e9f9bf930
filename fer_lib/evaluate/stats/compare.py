"""Several models compared over folds: Holm's correction and :func:`compare_fold_scores`.

:func:`compare_fold_scores` runs the three tests of :mod:`fer_lib.evaluate.stats.paired`
on every pair of models and applies :func:`holm_correction` within each test family.
"""

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from fer_lib.core.validation import check_option
from fer_lib.evaluate.stats.common import AsDict, as_1d, check_open_fraction
from fer_lib.evaluate.stats.paired import ALTERNATIVES, corrected_resampled_ttest, paired_ttest, wilcoxon_signed_rank

__all__ = ["FOLD_TESTS", "HolmResult", "holm_correction", "compare_fold_scores"]


#: Tests run by :func:`compare_fold_scores`, named after their functions.
FOLD_TESTS = ("paired_ttest", "wilcoxon_signed_rank", "corrected_resampled_ttest")


@dataclass(frozen=True)
class HolmResult(AsDict):
    """Result of :func:`holm_correction` (see there for each field)."""

    pvalues: np.ndarray
    p_adjusted: np.ndarray
    reject: np.ndarray
    alpha: float
    m: int


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
    p = as_1d("pvalues", pvalues)
    if p.size == 0:
        raise ValueError("pvalues must hold at least 1 p-value; got an empty array")
    if p.dtype == bool or not np.issubdtype(p.dtype, np.number):
        raise ValueError(f"pvalues must be numbers in [0, 1]; got dtype {p.dtype}")
    p = p.astype(float)
    bad = ~(np.isfinite(p) & (p >= 0) & (p <= 1))
    if bad.any():
        raise ValueError(f"pvalues must be numbers in [0, 1] (no NaN); got {p[bad][:5].tolist()}")
    alpha = check_open_fraction("alpha", alpha)
    m = int(p.size)
    order = np.argsort(p, kind="mergesort")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adj_sorted = np.maximum.accumulate(scaled)
    adj = np.empty(m)
    adj[order] = adj_sorted
    return HolmResult(pvalues=p, p_adjusted=adj, reject=adj <= alpha, alpha=alpha, m=m)


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
    alpha = check_open_fraction("alpha", alpha)
    check_option("alternative", alternative, ALTERNATIVES)
    confidence = check_open_fraction("confidence", confidence)

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
