"""Tests of fer_lib.evaluate.stats.samples: McNemar, paired bootstrap, naive t-test, Wilson CI."""

import numpy as np
import pytest
from scipy import stats as st

from fer_lib.evaluate import stats as S
from fer_lib.evaluate.stats import samples

# Fold scores, used once below for paired_ttest's validation (as in test_stats_paired.py).
A = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
B = np.array([0.0, 2.0, 1.0, 3.0, 4.0])


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



def test_mcnemar_chi2_equal_discordant_counts_gives_zero():
    # max(|b - c| - 1, 0)**2 / (b + c): no evidence of a difference when b == c
    for table, exact in (((10, 13, 13, 5), None), ((40, 15, 15, 30), False), ((40, 3, 3, 30), False)):
        r = S.mcnemar_test(*_correctness_from_table(*table), exact=exact)
        assert r.method.startswith("chi-square") and r.b == r.c
        assert r.statistic == 0.0 and r.p == 1.0
    # |b - c| == 1 was already 0; |b - c| >= 2 unchanged
    r = S.mcnemar_test(*_correctness_from_table(10, 14, 13, 5))
    assert r.statistic == 0.0 and r.p == 1.0
    r = S.mcnemar_test(*_correctness_from_table(10, 15, 13, 5))
    assert r.statistic == pytest.approx(1 / 28) and r.p == pytest.approx(st.chi2.sf(1 / 28, 1))


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
    monkeypatch.setattr(samples, "BOOTSTRAP_CHUNK_ELEMENTS", 1000)  # 10 resamples per chunk
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
