"""Tests of fer_lib.evaluate.stats.paired: paired t-test, Wilcoxon, Nadeau-Bengio (hand formulas, scipy, pingouin)."""

import math

import numpy as np
import pytest
from scipy import stats as st

from fer_lib.evaluate import stats as S

# A small textbook example: d = a - b = [1, 0, 2, 1, 1], mean 1, var 0.5, sd = 1/sqrt(2),
# so the paired t = 1 / (sd / sqrt(5)) = sqrt(10) with 4 dof.
A = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
B = np.array([0.0, 2.0, 1.0, 3.0, 4.0])


# --------------------------------------------------------------------------- paired t-test
def test_paired_ttest_textbook_values():
    r = S.paired_ttest(A, B)
    d = A - B
    t_formula = d.mean() / (d.std(ddof=1) / np.sqrt(d.size))
    assert r.t == pytest.approx(t_formula)
    assert r.t == pytest.approx(math.sqrt(10))
    ref = st.ttest_rel(A, B)
    assert r.t == pytest.approx(ref.statistic)
    assert r.p == pytest.approx(ref.pvalue)
    assert r.p == pytest.approx(2 * st.t.sf(math.sqrt(10), 4))
    assert r.dof == 4 and r.n == 5
    assert r.mean_diff == pytest.approx(1.0)
    assert r.sd_diff == pytest.approx(math.sqrt(0.5))


def test_paired_ttest_ci_and_effect_sizes():
    import pingouin as pg

    r = S.paired_ttest(A, B, confidence=0.9)
    d = A - B
    half = st.t.ppf(0.95, 4) * d.std(ddof=1) / np.sqrt(5)
    assert r.ci_low < r.mean_diff < r.ci_high
    assert (r.ci_low, r.ci_high) == pytest.approx((1 - half, 1 + half))
    # d_z = mean / sd of the differences (not pingouin's d_av)
    assert r.d_z == pytest.approx(d.mean() / d.std(ddof=1))
    assert r.d_z == pytest.approx(math.sqrt(2))
    pg_row = pg.ttest(A, B, paired=True).iloc[0]
    pg_d = pg_row["cohen_d"] if "cohen_d" in pg_row.index else pg_row["cohen-d"]
    assert abs(r.cohen_d_av) == pytest.approx(pg_d)
    assert r.power == pytest.approx(pg.power_ttest(d=r.d_z, n=5, alpha=0.1, contrast="paired"))
    assert 0 < r.power < 1
    assert set(r.as_dict()) >= {"t", "dof", "p", "mean_diff", "ci_low", "ci_high", "d_z", "power", "n"}


def test_paired_ttest_one_sided():
    two = S.paired_ttest(A, B)
    greater = S.paired_ttest(A, B, alternative="greater")
    less = S.paired_ttest(A, B, alternative="less")
    assert greater.p == pytest.approx(two.p / 2)
    assert less.p == pytest.approx(1 - two.p / 2)
    assert greater.ci_high == np.inf and greater.ci_low < greater.mean_diff
    assert less.ci_low == -np.inf


def test_paired_ttest_zero_variance_gives_nan_with_note():
    r = S.paired_ttest(A, A - 0.5)
    assert math.isnan(r.t) and math.isnan(r.p)
    assert r.mean_diff == pytest.approx(0.5)
    assert "zero variance" in r.note


# --------------------------------------------------------------------------- Wilcoxon
@pytest.mark.parametrize("alternative", S.ALTERNATIVES)
def test_wilcoxon_agrees_with_scipy(alternative):
    rng = np.random.default_rng(1)
    a = rng.normal(0.7, 0.02, 12)
    b = a - rng.normal(0.01, 0.02, 12)
    r = S.wilcoxon_signed_rank(a, b, alternative=alternative)
    ref = st.wilcoxon(a, b, alternative=alternative)
    assert r.statistic == pytest.approx(ref.statistic)
    assert r.p == pytest.approx(ref.pvalue)
    assert r.n == 12 and r.n_zero == 0
    assert r.r_plus + r.r_minus == pytest.approx(12 * 13 / 2)


def test_wilcoxon_rank_biserial():
    a = np.array([0.71, 0.74, 0.69, 0.75, 0.72])
    up = S.wilcoxon_signed_rank(a, a - np.array([0.01, 0.02, 0.03, 0.04, 0.05]))
    assert up.rank_biserial == pytest.approx(1.0)
    assert up.p == pytest.approx(0.0625)  # 2 / 2**5: the smallest two-sided p with 5 folds
    down = S.wilcoxon_signed_rank(a - 0.01 * np.arange(1, 6), a)
    assert down.rank_biserial == pytest.approx(-1.0)
    # d = [1, -2, 3, 0, 4]: zero dropped; ranks of |d| = 1, 2, 3, 4; R+ = 8, R- = 2 -> r = 0.6
    d = np.array([1.0, -2.0, 3.0, 0.0, 4.0])
    mixed = S.wilcoxon_signed_rank(d, np.zeros(5))
    assert (mixed.n, mixed.n_zero, mixed.r_plus, mixed.r_minus) == (4, 1, 8.0, 2.0)
    assert mixed.rank_biserial == pytest.approx(0.6)


def test_wilcoxon_rank_biserial_matches_pingouin():
    import pingouin as pg

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=10), rng.normal(size=10)
    r = S.wilcoxon_signed_rank(a, b)
    assert r.rank_biserial == pytest.approx(pg.wilcoxon(a, b).iloc[0]["RBC"])


def test_wilcoxon_all_zero_differences():
    r = S.wilcoxon_signed_rank(A, A.copy())
    assert r.p == 1.0 and r.n == 0 and r.n_zero == 5
    assert math.isnan(r.rank_biserial)
    assert "all differences" in r.note


# --------------------------------------------------------------------------- Nadeau-Bengio
def test_corrected_ttest_hand_computed():
    # d = [1, 0, 2, 1, 1]: mean 1, var 0.5; k = 5, n_test/n_train = 20/80 = 0.25
    # correction = 1/5 + 0.25 = 0.45; se = sqrt(0.45 * 0.5) = sqrt(0.225); t = 1 / sqrt(0.225)
    r = S.corrected_resampled_ttest(A, B, n_train=80, n_test=20)
    t_expected = 1 / math.sqrt(0.225)
    assert r.t == pytest.approx(t_expected)
    assert r.t == pytest.approx(2.1081851067789197)
    assert r.dof == 4
    assert r.correction == pytest.approx(0.45)
    assert r.p == pytest.approx(2 * st.t.sf(t_expected, 4))
    half = st.t.ppf(0.975, 4) * math.sqrt(0.225)
    assert (r.ci_low, r.ci_high) == pytest.approx((1 - half, 1 + half))
    assert r.ci_low < r.mean_diff < r.ci_high


def test_corrected_ttest_is_smaller_than_plain_t():
    r = S.corrected_resampled_ttest(A, B, n_train=80, n_test=20)
    plain = st.ttest_rel(A, B)
    assert r.t_uncorrected == pytest.approx(plain.statistic)
    assert abs(r.t) < abs(plain.statistic)
    assert r.p > plain.pvalue
    # ratio -> 0 recovers the ordinary paired t-test
    tiny = S.corrected_resampled_ttest(A, B, n_train=1e12, n_test=1)
    assert tiny.t == pytest.approx(plain.statistic)


def test_corrected_ttest_per_fold_sizes_use_means():
    per_fold = S.corrected_resampled_ttest(A, B, n_train=[78, 82, 80, 79, 81], n_test=[21, 19, 20, 22, 18])
    scalar = S.corrected_resampled_ttest(A, B, n_train=80, n_test=20)
    assert per_fold.t == pytest.approx(scalar.t)
    with pytest.raises(ValueError, match=r"n_train .*one entry per fold.*got len 3"):
        S.corrected_resampled_ttest(A, B, n_train=[1, 2, 3], n_test=20)
    with pytest.raises(ValueError, match="n_test must be positive"):
        S.corrected_resampled_ttest(A, B, n_train=80, n_test=0)


def test_corrected_ttest_one_sided():
    r = S.corrected_resampled_ttest(A, B, 80, 20, alternative="greater")
    assert r.p == pytest.approx(st.t.sf(1 / math.sqrt(0.225), 4))
    assert r.ci_high == np.inf


# --------------------------------------------------------------------------- paired t-test CI (not pingouin's rounded one)
# Accuracy-scale folds: pingouin's default options round its CI95 column to 2 decimals ([0.0, 0.01] here).
A_ACC = [0.712, 0.698, 0.731, 0.705, 0.720, 0.709]
B_ACC = [0.701, 0.699, 0.716, 0.700, 0.709, 0.703]


def _hand_ci(a, b, alternative, confidence):
    d = [x - y for x, y in zip(a, b)]
    n = len(d)
    mean = sum(d) / n
    se = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1) / n)
    if alternative == "two-sided":
        tcrit = st.t.ppf(1 - (1 - confidence) / 2, n - 1)
        return mean - tcrit * se, mean + tcrit * se
    tcrit = st.t.ppf(confidence, n - 1)
    return (mean - tcrit * se, math.inf) if alternative == "greater" else (-math.inf, mean + tcrit * se)


@pytest.mark.parametrize("confidence", [0.95, 0.9])
@pytest.mark.parametrize("alternative", S.ALTERNATIVES)
def test_paired_ttest_ci_from_t_distribution(alternative, confidence):
    r = S.paired_ttest(A_ACC, B_ACC, alternative=alternative, confidence=confidence)
    lo, hi = _hand_ci(A_ACC, B_ACC, alternative, confidence)
    for got, want in ((r.ci_low, lo), (r.ci_high, hi)):
        assert got == want if math.isinf(want) else abs(got - want) < 1e-9


def test_paired_ttest_ci_is_not_rounded():
    r = S.paired_ttest(A_ACC, B_ACC)
    # mean 0.0078333..., se 0.0023599..., t_0.975(5) = 2.5705818...
    assert abs(r.ci_low - 0.0018813893046875736) < 1e-9
    assert abs(r.ci_high - 0.013785277361979105) < 1e-9
    assert (round(r.ci_low, 2), round(r.ci_high, 2)) != (r.ci_low, r.ci_high)
    # the same CI as the Nadeau-Bengio test with its correction switched off
    nb = S.corrected_resampled_ttest(A_ACC, B_ACC, n_train=1e15, n_test=1)
    assert (r.ci_low, r.ci_high) == pytest.approx((nb.ci_low, nb.ci_high), rel=1e-9)


# --------------------------------------------------------------------------- validation messages
@pytest.mark.parametrize(
    "func", [S.paired_ttest, S.wilcoxon_signed_rank, lambda a, b, **kw: S.corrected_resampled_ttest(a, b, 80, 20, **kw)]
)
def test_fold_test_validation_messages(func):
    with pytest.raises(ValueError, match=r"same length.*len\(a\)=5, len\(b\)=4"):
        func(A, B[:4])
    with pytest.raises(ValueError, match=r"alternative must be one of \['two-sided', 'greater', 'less'\]; got 'bigger'"):
        func(A, B, alternative="bigger")
    with pytest.raises(ValueError, match=r"at least n >= 2 pairs; got n=1"):
        func([1.0], [2.0])
    with pytest.raises(ValueError, match=r"a must contain only finite numbers; got NaN/inf at positions \[2\]"):
        func([1.0, 2.0, np.nan], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"b must be 1-D"):
        func(A, np.ones((5, 2)))
