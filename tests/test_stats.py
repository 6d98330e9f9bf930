"""Tests of fer_lib.evaluate.stats against known values (hand formulas, scipy, statsmodels, pingouin)."""

import math

import numpy as np
import pandas as pd
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


# --------------------------------------------------------------------------- Holm
@pytest.mark.parametrize(
    "p",
    [
        [0.01, 0.04, 0.03, 0.005],
        [0.2, 0.01, 0.5, 0.01, 0.049, 0.9],
        [0.001],
        [0.3, 0.4, 0.6],
        [0.0, 1.0, 0.02, 0.0125],
    ],
)
def test_holm_matches_statsmodels(p):
    from statsmodels.stats.multitest import multipletests

    r = S.holm_correction(p, alpha=0.05)
    reject, p_adj, _, _ = multipletests(p, alpha=0.05, method="holm")
    np.testing.assert_allclose(r.p_adjusted, p_adj)
    np.testing.assert_array_equal(r.reject, reject)
    order = np.argsort(p, kind="mergesort")
    assert np.all(np.diff(r.p_adjusted[order]) >= 0)  # monotone in the sorted order
    assert np.all(r.p_adjusted <= 1) and np.all(r.p_adjusted >= np.asarray(p))


def test_holm_hand_values():
    r = S.holm_correction([0.01, 0.04, 0.03])
    # sorted: 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> monotone max 0.06
    np.testing.assert_allclose(r.p_adjusted, [0.03, 0.06, 0.06])
    np.testing.assert_array_equal(r.reject, [True, False, False])


def test_holm_validation():
    with pytest.raises(ValueError, match=r"pvalues must be numbers in \[0, 1\]"):
        S.holm_correction([0.1, np.nan])
    with pytest.raises(ValueError, match="at least 1"):
        S.holm_correction([])
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0.0, 1.0\]"):
        S.holm_correction([0.1], alpha=2)


# --------------------------------------------------------------------------- McNemar
def _correctness_from_table(n11, b, c, n22):
    ca = np.r_[np.ones(n11, bool), np.ones(b, bool), np.zeros(c, bool), np.zeros(n22, bool)]
    cb = np.r_[np.ones(n11, bool), np.zeros(b, bool), np.ones(c, bool), np.zeros(n22, bool)]
    return ca, cb


def test_mcnemar_exact_small_table():
    ca, cb = _correctness_from_table(50, 10, 2, 8)
    r = S.mcnemar_test(ca, cb)
    np.testing.assert_array_equal(r.table, [[50, 10], [2, 8]])
    assert (r.b, r.c) == (10, 2)
    assert r.method == "exact binomial"
    assert r.p == pytest.approx(2 * st.binom.cdf(2, 12, 0.5))
    assert r.p == pytest.approx(0.03857421875)
    assert r.accuracy_a == pytest.approx(60 / 70) and r.accuracy_b == pytest.approx(52 / 70)
    assert r.n == 70


def test_mcnemar_chi2_large_table_matches_statsmodels():
    from statsmodels.stats.contingency_tables import mcnemar

    ca, cb = _correctness_from_table(300, 40, 20, 60)
    r = S.mcnemar_test(ca, cb)
    assert r.method.startswith("chi-square")
    assert r.statistic == pytest.approx((abs(40 - 20) - 1) ** 2 / 60)
    ref = mcnemar(r.table, exact=False, correction=True)
    assert r.statistic == pytest.approx(ref.statistic)
    assert r.p == pytest.approx(ref.pvalue)
    # forcing exact matches statsmodels' exact test
    ex = S.mcnemar_test(ca, cb, exact=True)
    ref_ex = mcnemar(r.table, exact=True)
    assert ex.method == "exact binomial" and ex.p == pytest.approx(ref_ex.pvalue)


def test_mcnemar_threshold_and_no_discordant_pairs():
    ca, cb = _correctness_from_table(10, 13, 12, 5)  # b + c = 25 -> chi-square
    assert S.mcnemar_test(ca, cb).method.startswith("chi-square")
    ca, cb = _correctness_from_table(10, 12, 12, 5)  # b + c = 24 -> exact
    assert S.mcnemar_test(ca, cb).method == "exact binomial"
    same = np.array([True, False, True])
    r = S.mcnemar_test(same, same)
    assert r.p == 1.0 and r.b == r.c == 0 and "b + c == 0" in r.note


def test_mcnemar_validation():
    with pytest.raises(ValueError, match=r"correct_a must be boolean .*0/1"):
        S.mcnemar_test([0.5, 1.0], [1, 0])
    with pytest.raises(ValueError, match=r"same length.*len\(correct_a\)=3, len\(correct_b\)=2"):
        S.mcnemar_test([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match=r"exact must be one of \[None, True, False\]; got 'yes'"):
        S.mcnemar_test([1, 0], [1, 0], exact="yes")
    # 0/1 integers are accepted as correctness
    assert S.mcnemar_test([1, 0, 1], [0, 0, 1]).b == 1


# --------------------------------------------------------------------------- bootstrap
def test_bootstrap_identical_vectors():
    c = np.random.default_rng(0).random(200) < 0.7
    r = S.paired_bootstrap_diff(c, c.copy(), n_boot=2000)
    assert r.diff == 0 and r.ci_low == 0 and r.ci_high == 0
    assert r.p_boot == 1.0


def test_bootstrap_deterministic_and_covers_observed():
    rng = np.random.default_rng(5)
    ca = rng.random(500) < 0.75
    cb = rng.random(500) < 0.70
    r1 = S.paired_bootstrap_diff(ca, cb, n_boot=3000, seed=7)
    r2 = S.paired_bootstrap_diff(ca, cb, n_boot=3000, seed=7)
    r3 = S.paired_bootstrap_diff(ca, cb, n_boot=3000, seed=8)
    assert r1 == r2 or r1.as_dict() == r2.as_dict()
    assert (r1.ci_low, r1.ci_high) != (r3.ci_low, r3.ci_high)
    assert r1.diff == pytest.approx(ca.mean() - cb.mean())
    assert r1.ci_low <= r1.diff <= r1.ci_high
    assert 0 <= r1.p_boot <= 1 and r1.n == 500 and r1.n_boot == 3000


def test_bootstrap_chunking_and_clear_difference(monkeypatch):
    ca = np.r_[np.ones(90, bool), np.zeros(10, bool)]
    cb = np.r_[np.ones(60, bool), np.zeros(40, bool)]
    monkeypatch.setattr(S, "BOOTSTRAP_CHUNK_ELEMENTS", 1000)  # 10 resamples per chunk
    r = S.paired_bootstrap_diff(ca, cb, n_boot=1005, seed=1)
    assert r.diff == pytest.approx(0.3)
    assert r.ci_low > 0 and r.p_boot < 0.01
    # the bootstrap SE of a paired difference is close to the analytic one
    d = ca.astype(float) - cb.astype(float)
    se = d.std() / np.sqrt(d.size)
    assert (r.ci_high - r.ci_low) == pytest.approx(2 * 1.96 * se, rel=0.2)


# --------------------------------------------------------------------------- naive t-test
def test_naive_sample_ttest_reproduces_ttest_rel():
    rng = np.random.default_rng(2)
    ca = rng.random(3000) < 0.72
    cb = ca.copy()
    flip = rng.choice(3000, 120, replace=False)
    cb[flip[:90]] = False
    cb[flip[90:]] = True
    r = S.naive_sample_ttest(ca, cb)
    ref = st.ttest_rel(ca.astype(float), cb.astype(float))
    assert r.t == pytest.approx(ref.statistic) and r.p == pytest.approx(ref.pvalue)
    assert r.n == 3000 and r.dof == 2999
    assert "not a valid comparison" in r.warning.lower()
    assert "training variance" in S.naive_sample_ttest.__doc__


# --------------------------------------------------------------------------- Wilson CI
@pytest.mark.parametrize("k,n,conf", [(0, 10, 0.95), (7, 10, 0.95), (10, 10, 0.9), (2130, 3589, 0.99), (1, 1, 0.95)])
def test_accuracy_ci_matches_statsmodels_wilson(k, n, conf):
    from statsmodels.stats.proportion import proportion_confint

    correct = np.r_[np.ones(k, bool), np.zeros(n - k, bool)]
    r = S.accuracy_ci(correct, confidence=conf)
    lo, hi = proportion_confint(k, n, alpha=1 - conf, method="wilson")
    assert (r.ci_low, r.ci_high) == pytest.approx((lo, hi), abs=1e-12)
    assert r.accuracy == pytest.approx(k / n) and r.n == n and r.n_correct == k


# --------------------------------------------------------------------------- calibration
def _two_class_probs(conf, n_correct, n):
    probs = np.tile([conf, 1 - conf], (n, 1))
    labels = np.r_[np.zeros(n_correct, int), np.ones(n - n_correct, int)]
    return probs, labels


def test_ece_exactly_calibrated_bins_is_zero():
    p1, y1 = _two_class_probs(0.8, 8, 10)
    p2, y2 = _two_class_probs(0.6, 6, 10)
    probs, labels = np.vstack([p1, p2]), np.r_[y1, y2]
    assert S.expected_calibration_error(probs, labels, n_bins=10) == pytest.approx(0.0, abs=1e-12)


def test_ece_random_calibrated_is_near_zero():
    rng = np.random.default_rng(0)
    n, k = 20000, 4
    probs = rng.dirichlet(np.ones(k) * 0.5, size=n)
    # draw each label from its own predicted distribution: calibrated by construction
    cum = probs.cumsum(axis=1)
    u = rng.random((n, 1))
    labels = np.minimum((u > cum).sum(axis=1), k - 1)
    assert S.expected_calibration_error(probs, labels) < 0.02


def test_ece_confident_but_always_wrong_equals_mean_confidence():
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.6, 0.99, 300)
    probs = np.c_[conf, 1 - conf]
    labels = np.ones(300, int)  # argmax is always class 0
    assert S.expected_calibration_error(probs, labels) == pytest.approx(conf.mean())


def test_reliability_curve_bins():
    p1, y1 = _two_class_probs(0.8, 8, 10)  # 0.8 lies on an edge: bin (0.6, 0.8]
    p2, y2 = _two_class_probs(0.55, 3, 4)
    curve = S.reliability_curve(np.vstack([p1, p2]), np.r_[y1, y2], n_bins=5)
    np.testing.assert_allclose(curve.edges, [0, 0.2, 0.4, 0.6, 0.8, 1.0])
    np.testing.assert_array_equal(curve.count, [0, 0, 4, 10, 0])
    np.testing.assert_allclose(curve.confidence[2:4], [0.55, 0.8])
    np.testing.assert_allclose(curve.accuracy[2:4], [0.75, 0.8])
    assert np.isnan(curve.accuracy[0]) and np.isnan(curve.confidence[4])
    frame = curve.to_frame()
    assert list(frame.columns) == ["bin_low", "bin_high", "confidence", "accuracy", "count"] and len(frame) == 5
    # ECE from the curve by hand: (4 * |0.75 - 0.55| + 10 * 0) / 14
    ece = S.expected_calibration_error(np.vstack([p1, p2]), np.r_[y1, y2], n_bins=5)
    assert ece == pytest.approx(4 * 0.2 / 14)


def test_calibration_validation():
    probs = np.array([[0.7, 0.3], [0.2, 0.8]])
    with pytest.raises(ValueError, match="rows of probs must sum to 1"):
        S.expected_calibration_error(np.array([[0.7, 0.7], [0.2, 0.8]]), [0, 1])
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 1\]"):
        S.reliability_curve(probs, [0, 2])
    with pytest.raises(ValueError, match=r"len\(labels\)=3, probs.shape\[0\]=2"):
        S.reliability_curve(probs, [0, 1, 1])
    with pytest.raises(ValueError, match="n_bins must be an integer >= 1"):
        S.reliability_curve(probs, [0, 1], n_bins=0)
    with pytest.raises(ValueError, match=r"probs must have shape \(n_samples, n_classes\)"):
        S.reliability_curve(np.array([0.5, 0.5]), [0])


# --------------------------------------------------------------------------- compare_fold_scores
@pytest.fixture
def fold_scores():
    rng = np.random.default_rng(4)
    base = rng.normal(0.70, 0.03, 10)
    return pd.DataFrame(
        {
            "spatial": base,
            "temporal": base + 0.02 + rng.normal(0, 0.01, 10),
            "hybrid": base + 0.005 + rng.normal(0, 0.01, 10),
        }
    )


def test_compare_fold_scores_table(fold_scores):
    from statsmodels.stats.multitest import multipletests

    out = S.compare_fold_scores(fold_scores, n_train=900, n_test=100)
    assert list(out.columns) == [
        "model_a", "model_b", "test", "statistic", "dof", "p", "p_holm", "reject",
        "mean_diff", "ci_low", "ci_high", "effect_size", "effect_size_name",
    ]
    assert len(out) == 3 * 3
    assert list(out[["model_a", "model_b"]].drop_duplicates().itertuples(index=False, name=None)) == [
        ("spatial", "temporal"), ("spatial", "hybrid"), ("temporal", "hybrid")
    ]
    row = out[(out.model_a == "spatial") & (out.model_b == "temporal") & (out.test == "corrected_resampled_ttest")].iloc[0]
    ref = S.corrected_resampled_ttest(fold_scores.spatial, fold_scores.temporal, 900, 100)
    assert row.statistic == pytest.approx(ref.t) and row.p == pytest.approx(ref.p)
    assert row.dof == 9 and row.effect_size_name == "d_z"
    for test in S.FOLD_TESTS:
        fam = out[out.test == test]
        reject, p_adj, _, _ = multipletests(fam.p, alpha=0.05, method="holm")
        np.testing.assert_allclose(fam.p_holm, p_adj)
        np.testing.assert_array_equal(fam.reject, reject)
    wx = out[out.test == "wilcoxon_signed_rank"]
    assert wx.dof.isna().all() and (wx.effect_size_name == "rank_biserial").all()
    assert out.reject.dtype == bool


def test_compare_fold_scores_pairs_and_validation(fold_scores):
    out = S.compare_fold_scores(fold_scores, 900, 100, pairs=[("temporal", "spatial")])
    assert len(out) == 3 and (out.model_a == "temporal").all()
    with pytest.raises(ValueError, match=r"pairs item must be one of \['spatial', 'temporal', 'hybrid'\]; got 'lstm'"):
        S.compare_fold_scores(fold_scores, 900, 100, pairs=[("spatial", "lstm")])
    with pytest.raises(ValueError, match="two different models"):
        S.compare_fold_scores(fold_scores, 900, 100, pairs=[("spatial", "spatial")])
    with pytest.raises(ValueError, match="scores must be a pandas DataFrame"):
        S.compare_fold_scores(fold_scores.to_numpy(), 900, 100)
    bad = fold_scores.copy()
    bad.iloc[0, 1] = np.nan
    with pytest.raises(ValueError, match="column 'temporal' contains NaN"):
        S.compare_fold_scores(bad, 900, 100)


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


def test_confidence_and_bootstrap_validation():
    with pytest.raises(ValueError, match=r"confidence must be a number in \(0, 1\)"):
        S.paired_ttest(A, B, confidence=1.0)
    with pytest.raises(ValueError, match=r"confidence must be a number in \[0.0, 1.0\]; got 95"):
        S.accuracy_ci([1, 0], confidence=95)
    with pytest.raises(ValueError, match="n_boot must be an integer >= 1"):
        S.paired_bootstrap_diff([1, 0], [0, 1], n_boot=0)
    with pytest.raises(ValueError, match=r"at least n >= 2 samples; got n=1"):
        S.naive_sample_ttest([1], [0])
    with pytest.raises(ValueError, match="correct must be boolean"):
        S.accuracy_ci(["a", "b"])

