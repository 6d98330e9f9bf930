"""Tests of fer_lib.evaluate.stats.equivalence: TOST (statsmodels, hand values), d_z with a noncentral-t CI
(a published worked example), the subject-level cluster bootstrap (exact identities with the ordinary one)."""

import ast
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as st

from fer_lib.evaluate import stats as S
from fer_lib.evaluate.stats import equivalence, power

# The textbook pairs of test_stats_paired.py: d = a - b = [1, 0, 2, 1, 1], mean 1, sd 1/sqrt(2), se = 1/sqrt(10).
A = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
B = np.array([0.0, 2.0, 1.0, 3.0, 4.0])

# Ten per-fold accuracies of two models (a CK+-like spatial vs temporal comparison).
FOLD_A = np.array([0.82, 0.85, 0.80, 0.88, 0.84, 0.79, 0.86, 0.83, 0.81, 0.87])
FOLD_B = np.array([0.81, 0.86, 0.79, 0.86, 0.85, 0.80, 0.84, 0.83, 0.80, 0.86])


# --------------------------------------------------------------------------- TOST
def test_tost_hand_values():
    # margin 2: t_lower = (1 + 2) / (1/sqrt(10)) = 3 sqrt(10), t_upper = (1 - 2) sqrt(10) = -sqrt(10), 4 dof
    r = S.tost_paired(A, B, margin=2.0)
    assert (r.low, r.high) == (-2.0, 2.0)
    assert r.mean_diff == pytest.approx(1.0) and r.sd_diff == pytest.approx(math.sqrt(0.5))
    assert r.se == pytest.approx(1 / math.sqrt(10)) and r.dof == 4 and r.n == 5
    assert r.t_lower == pytest.approx(3 * math.sqrt(10)) and r.t_upper == pytest.approx(-math.sqrt(10))
    assert r.p_lower == pytest.approx(0.00034445468246980566)  # t.sf(3 sqrt(10), 4)
    assert r.p_upper == pytest.approx(0.01705471158370481)  # t.sf(sqrt(10), 4): half the paired t-test's p
    assert r.p == r.p_upper == pytest.approx(S.paired_ttest(A, B).p / 2)
    half = st.t.ppf(0.95, 4) / math.sqrt(10)
    assert (r.ci_low, r.ci_high) == pytest.approx((1 - half, 1 + half))
    assert r.ci_level == pytest.approx(0.9) and r.alpha == 0.05
    assert r.verdict == "equivalent" and not r.corrected and r.correction == pytest.approx(0.2)
    assert math.isnan(r.test_train_ratio) and r.note == ""
    assert list(r.as_dict()) == [
        "mean_diff", "sd_diff", "se", "dof", "n", "low", "high", "t_lower", "p_lower", "t_upper", "p_upper", "p",
        "alpha", "ci_low", "ci_high", "ci_level", "verdict", "corrected", "correction", "test_train_ratio", "note",
    ]


@pytest.mark.parametrize(("a", "b", "bounds"), [
    (A, B, 2.0),
    (A, B, (-0.5, 1.5)),
    (FOLD_A, FOLD_B, 0.02),
    (FOLD_A, FOLD_B, 0.005),
    (FOLD_A, FOLD_B, (-0.01, 0.03)),
])
def test_tost_matches_statsmodels(a, b, bounds):
    from statsmodels.stats.weightstats import ttost_paired

    low, high = (-bounds, bounds) if np.ndim(bounds) == 0 else bounds
    p, (t1, p1, df1), (t2, p2, df2) = ttost_paired(a, b, low, high)
    r = S.tost_paired(a, b, bounds)
    assert (r.low, r.high) == pytest.approx((low, high))
    assert r.p == pytest.approx(p, rel=1e-9)
    assert (r.t_lower, r.p_lower, r.dof) == pytest.approx((t1, p1, df1), rel=1e-9)
    assert (r.t_upper, r.p_upper, r.dof) == pytest.approx((t2, p2, df2), rel=1e-9)
    # the verdict is the CI-inclusion rule: the 1 - 2 alpha CI inside (low, high) <=> p < alpha
    inside = low < r.ci_low and r.ci_high < high
    assert (r.verdict == "equivalent") == inside == (r.p < 0.05)


def test_tost_differences_input_equals_pairs():
    from_diffs = S.tost_paired(FOLD_A - FOLD_B, margin=0.02).as_dict()
    from_pairs = S.tost_paired(FOLD_A, FOLD_B, margin=0.02).as_dict()
    assert math.isnan(from_diffs.pop("test_train_ratio")) and math.isnan(from_pairs.pop("test_train_ratio"))
    assert from_diffs == from_pairs
    r = S.tost_paired(FOLD_A, FOLD_B, 0.02, alpha=0.025)
    assert r.ci_level == pytest.approx(0.95)
    assert (r.ci_low, r.ci_high) == pytest.approx((S.paired_ttest(FOLD_A, FOLD_B).ci_low,
                                                     S.paired_ttest(FOLD_A, FOLD_B).ci_high))


def test_tost_margin_decides():
    # mean diff 0.005, sd 0.0118, n 10: the 90% CI is about (-0.0018, 0.0118)
    assert S.tost_paired(FOLD_A, FOLD_B, 0.02).verdict == "equivalent"
    narrow = S.tost_paired(FOLD_A, FOLD_B, 0.01)
    assert narrow.verdict == "not equivalent" and narrow.p > 0.05 and narrow.p == narrow.p_upper


def test_tost_corrected_is_nadeau_bengio():
    n_train, n_test = 540, 60  # 10 folds: n_test / n_train = 1/9
    r = S.tost_paired(FOLD_A, FOLD_B, 0.02, corrected=True, n_train=n_train, n_test=n_test)
    d = FOLD_A - FOLD_B
    c = 1 / 10 + 1 / 9
    se = math.sqrt(c * d.var(ddof=1))  # hand: sqrt((1/k + n_test/n_train) var(d))
    assert r.corrected and r.correction == pytest.approx(c) and r.test_train_ratio == pytest.approx(1 / 9)
    assert r.se == pytest.approx(se)
    assert r.t_lower == pytest.approx((d.mean() + 0.02) / se) and r.t_upper == pytest.approx((d.mean() - 0.02) / se)
    assert r.p_lower == pytest.approx(st.t.sf(r.t_lower, 9)) and r.p_upper == pytest.approx(st.t.cdf(r.t_upper, 9))
    # consistent with corrected_resampled_ttest: same CI at confidence 1 - 2 alpha, same one-sided p-values
    nb = S.corrected_resampled_ttest(FOLD_A, FOLD_B, n_train, n_test, confidence=0.9)
    assert (r.ci_low, r.ci_high) == pytest.approx((nb.ci_low, nb.ci_high)) and r.se == pytest.approx(nb.se_corrected)
    shifted = S.corrected_resampled_ttest(d + 0.02, np.zeros(10), n_train, n_test, alternative="greater")
    assert r.p_lower == pytest.approx(shifted.p)
    # per-fold sizes are averaged, as in corrected_resampled_ttest
    per_fold = S.tost_paired(FOLD_A, FOLD_B, 0.02, corrected=True, n_train=np.full(10, 540), n_test=np.full(10, 60))
    assert per_fold == r
    # the correction is more conservative, and can change the verdict
    plain = S.tost_paired(FOLD_A, FOLD_B, 0.013)  # 90% CIs: plain (-0.0018, 0.0118), corrected (-0.0049, 0.0149)
    strict = S.tost_paired(FOLD_A, FOLD_B, 0.013, corrected=True, n_train=n_train, n_test=n_test)
    assert plain.verdict == "equivalent" and strict.verdict == "not equivalent" and strict.p > plain.p


def test_tost_zero_variance():
    r = S.tost_paired([1.0, 2.0, 3.0], [0.5, 1.5, 2.5], margin=1.0)  # d = 0.5 exactly, inside the margin
    assert math.isnan(r.p) and math.isnan(r.t_lower) and r.verdict == "not equivalent"
    assert r.ci_low == r.ci_high == 0.5 and "zero variance" in r.note


def test_tost_validation():
    with pytest.raises(ValueError, match=r"margin must be a positive number .* or a pair \(low, high\).*got None"):
        S.tost_paired(A, B)
    with pytest.raises(ValueError, match=r"margin must be a positive number.*got -0.1"):
        S.tost_paired(A, B, -0.1)
    with pytest.raises(ValueError, match=r"margin .* pair \(low, high\) with low < high; got \(0.1, -0.1\)"):
        S.tost_paired(A, B, (0.1, -0.1))
    with pytest.raises(ValueError, match=r"margin must be .*; got '2%'"):
        S.tost_paired(A, B, "2%")
    with pytest.raises(ValueError, match=r"alpha must be a number in \(0, 0.5\) .*; got 0.5"):
        S.tost_paired(A, B, 1.0, alpha=0.5)
    with pytest.raises(ValueError, match=r"alpha must be a number in \(0, 1\), ends excluded; got 0"):
        S.tost_paired(A, B, 1.0, alpha=0)
    with pytest.raises(ValueError, match=r"corrected must be one of \[False, True\]; got 'yes'"):
        S.tost_paired(A, B, 1.0, corrected="yes")
    with pytest.raises(ValueError, match=r"n_train and n_test are required with corrected=True; got n_train=None"):
        S.tost_paired(A, B, 1.0, corrected=True, n_test=10)
    with pytest.raises(ValueError, match=r"used only with corrected=True; got n_train=100, n_test=10"):
        S.tost_paired(A, B, 1.0, n_train=100, n_test=10)
    with pytest.raises(ValueError, match=r"n_train must be positive and finite"):
        S.tost_paired(A, B, 1.0, corrected=True, n_train=0, n_test=10)
    with pytest.raises(ValueError, match=r"same length .* len\(a\)=5, len\(b\)=4"):
        S.tost_paired(A, B[:4], 1.0)
    with pytest.raises(ValueError, match=r"a \(the differences, b=None\) needs at least n >= 2 pairs; got n=1"):
        S.tost_paired([0.1], margin=1.0)
    with pytest.raises(ValueError, match=r"b must contain only finite numbers; got NaN/inf at positions \[1\]"):
        S.tost_paired(A, [0, np.nan, 1, 3, 4], 1.0)


# --------------------------------------------------------------------------- d_z with a noncentral-t CI
def _with_t(t, n):
    """Differences with mean t / sqrt(n) and sd 1 (ddof=1), so that d_z = t / sqrt(n) and the paired t is t."""
    z = np.linspace(-1, 1, n)
    return (z - z.mean()) / z.std(ddof=1) + t / math.sqrt(n)


def test_effect_size_published_example():
    # real-statistics.com, "CI Functions for Effect Size d", Example 1 (one-sample t-test, n = 40, |t| = 3.66393,
    # df = 39, mean below the hypothesised value): 95% CI of d (-.91148, -.24079) by the noncentral t (the page
    # prints the upper end as "-.024079", a dropped digit; its Goal Seek page gives a coarser 0.913762).
    r = S.paired_effect_size(_with_t(3.66393, 40))
    assert r.t == pytest.approx(3.66393) and r.dof == 39 and r.n == 40
    assert r.d_z == pytest.approx(3.66393 / math.sqrt(40))
    assert r.ci_low == pytest.approx(0.24079, abs=1e-5) and r.ci_high == pytest.approx(0.91148, abs=1e-5)
    neg = S.paired_effect_size(-_with_t(3.66393, 40))  # the sign of the example
    assert (neg.ci_low, neg.ci_high) == pytest.approx((-r.ci_high, -r.ci_low))
    # the defining equations of the interval
    assert st.nct.cdf(r.t, 39, r.ci_low * math.sqrt(40)) == pytest.approx(0.975, abs=1e-9)
    assert st.nct.cdf(r.t, 39, r.ci_high * math.sqrt(40)) == pytest.approx(0.025, abs=1e-9)


def test_effect_size_hand_values_and_consistency():
    r = S.paired_effect_size(A, B, confidence=0.9)
    assert r.d_z == pytest.approx(math.sqrt(2)) and r.t == pytest.approx(math.sqrt(10))
    # Hedges: J(4) = Gamma(2) / (sqrt(2) Gamma(3/2)) = 2 / sqrt(2 pi), so g_z = sqrt(2) J(4) = 2 / sqrt(pi)
    assert r.g_z == pytest.approx(2 / math.sqrt(math.pi))
    assert r.d_z == pytest.approx(S.paired_ttest(A, B).d_z)
    assert r.confidence == 0.9 and r.method.startswith("noncentral t") and r.note == ""
    assert S.paired_effect_size(A - B, confidence=0.9) == r
    swapped = S.paired_effect_size(B, A, confidence=0.9)
    assert (swapped.d_z, swapped.ci_low, swapped.ci_high) == pytest.approx((-r.d_z, -r.ci_high, -r.ci_low))


@pytest.mark.parametrize("data", [(A, B), (FOLD_A, FOLD_B), (FOLD_A, FOLD_B[::-1])])
def test_effect_size_ci_excludes_zero_iff_t_test_rejects(data):
    # the CI of the noncentrality excludes 0 exactly when the two-sided paired t-test rejects at 1 - confidence
    for confidence in (0.8, 0.9, 0.95, 0.99):
        r = S.paired_effect_size(*data, confidence=confidence)
        p = st.ttest_rel(*data).pvalue
        assert (r.ci_low > 0 or r.ci_high < 0) == (p < 1 - confidence)


def test_effect_size_large_n_normal_approximation():
    n, d = 4000, 0.5
    r = S.paired_effect_size(_with_t(d * math.sqrt(n), n))
    se = math.sqrt(1 / n + d**2 / (2 * n))  # large-sample SE of d_z
    z = st.norm.ppf(0.975)
    assert (r.ci_low, r.ci_high) == pytest.approx((d - z * se, d + z * se), abs=2e-3)


def test_effect_size_extremes_stay_finite():
    # scipy's nct.cdf is NaN in parts of the far tails; the CI must still bracket d_z
    for n in (2, 3, 10, 300):
        for t in (-40.0, -3.0, 0.0, 0.5, 25.0):
            r = S.paired_effect_size(_with_t(t, n))
            assert np.isfinite([r.ci_low, r.ci_high]).all() and r.ci_low < r.d_z < r.ci_high
    two = S.paired_effect_size([6.0, 4.0])
    assert math.isnan(two.g_z) and "n = 2" in two.note


def test_effect_size_zero_variance_and_validation():
    r = S.paired_effect_size([1.0, 2.0, 3.0], [0.5, 1.5, 2.5])
    assert math.isnan(r.d_z) and math.isnan(r.ci_low) and r.mean_diff == pytest.approx(0.5)
    assert "zero variance" in r.note
    with pytest.raises(ValueError, match=r"confidence must be a number in \(0, 1\), ends excluded; got 1"):
        S.paired_effect_size(A, B, confidence=1)
    with pytest.raises(ValueError, match=r"a must contain numbers \(scores\); got dtype <U1"):
        S.paired_effect_size(["a", "b"], [1, 2])


# --------------------------------------------------------------------------- cluster bootstrap
def _correctness(n, seed=0, p_a=0.85, p_b=0.8):
    rng = np.random.default_rng(seed)
    return rng.random(n) < p_a, rng.random(n) < p_b


def test_cluster_bootstrap_one_sample_per_cluster_is_the_paired_bootstrap():
    ca, cb = _correctness(300)
    r = S.cluster_bootstrap_diff(ca, cb, np.arange(300), n_boot=4000, seed=3)
    ref = S.paired_bootstrap_diff(ca, cb, n_boot=4000, seed=3)
    # same indices from the same stream: the same bootstrap distribution, to the last bit
    assert (r.diff, r.ci_low, r.ci_high, r.p_boot) == (ref.diff, ref.ci_low, ref.ci_high, ref.p_boot)
    d = ca.astype(float) - cb
    assert r.se_iid == pytest.approx(d.std() / math.sqrt(300))
    # ... whose mean and sd are those of the sample mean under resampling: mean(d), sd_pop(d) / sqrt(n)
    assert r.mean_boot == pytest.approx(r.diff, abs=3 * r.se_iid / math.sqrt(4000) + 1e-12)
    assert r.se_boot == pytest.approx(r.se_iid, rel=0.05) and r.design_effect == pytest.approx(1, rel=0.1)
    # with labels in another order the distribution is the same in mean and sd (different draws)
    shuffled = S.cluster_bootstrap_diff(ca, cb, np.random.default_rng(1).permutation(300), n_boot=4000, seed=3)
    assert shuffled.mean_boot == pytest.approx(r.diff, abs=4 * r.se_iid / math.sqrt(4000))
    assert shuffled.se_boot == pytest.approx(r.se_iid, rel=0.05)


def test_cluster_bootstrap_duplicated_clusters_widen_the_interval():
    ca, cb = _correctness(200, seed=5)
    base = S.cluster_bootstrap_diff(ca, cb, np.arange(200), n_boot=5000)
    k = 4  # every subject now has 4 identical samples (e.g. 4 frames of one sequence)
    ca4, cb4, cl4 = np.repeat(ca, k), np.repeat(cb, k), np.repeat(np.arange(200), k)
    clustered = S.cluster_bootstrap_diff(ca4, cb4, cl4, n_boot=5000)
    naive = S.paired_bootstrap_diff(ca4, cb4, n_boot=5000)
    # resampling subjects: duplicating a subject's samples adds no information, the distribution is unchanged
    assert (clustered.diff, clustered.ci_low, clustered.ci_high, clustered.se_boot) == pytest.approx(
        (base.diff, base.ci_low, base.ci_high, base.se_boot), rel=1e-12)
    assert clustered.n == 800 and clustered.n_clusters == 200
    # resampling samples treats them as 4x the data: about sqrt(4) = 2 times too narrow
    ratio = (clustered.ci_high - clustered.ci_low) / (naive.ci_high - naive.ci_low)
    assert 1.7 < ratio < 2.3
    assert clustered.design_effect == pytest.approx(k, rel=0.15)


def test_cluster_bootstrap_ratio_estimator_two_clusters():
    # cluster 0: one sample, A right and B wrong (s=1, m=1); cluster 1: three ties (s=0, m=3). Resamples:
    # {0,0} (prob 1/4) -> 2/2 = 1; {1,1} (1/4) -> 0/6 = 0; {0,1} (1/2) -> 1/4. Mean 0.375.
    ca = [1, 1, 1, 0]
    cb = [0, 1, 1, 0]
    r = S.cluster_bootstrap_diff(ca, cb, ["s1", "s2", "s2", "s2"], n_boot=20000, seed=0, confidence=0.9)
    assert r.diff == 0.25 and r.n_clusters == 2 and r.n == 4
    assert r.mean_boot == pytest.approx(0.375, abs=0.01)
    assert r.se_boot == pytest.approx(math.sqrt(0.25 * 1 + 0.5 * 0.0625 - 0.375**2), abs=0.01)
    assert (r.ci_low, r.ci_high) == (0.0, 1.0)


def test_cluster_bootstrap_reproducible_and_order_free():
    ca, cb = _correctness(650, seed=2)
    clusters = np.random.default_rng(4).integers(0, 120, 650)
    r1 = S.cluster_bootstrap_diff(ca, cb, clusters, seed=7)
    r2 = S.cluster_bootstrap_diff(ca.astype(int), cb.astype(int), clusters, seed=7)
    assert r1.as_dict() == r2.as_dict()
    perm = np.random.default_rng(9).permutation(650)  # the order of the samples does not matter
    assert S.cluster_bootstrap_diff(ca[perm], cb[perm], clusters[perm], seed=7) == r1
    other = S.cluster_bootstrap_diff(ca, cb, clusters, seed=8)
    assert (other.ci_low, other.ci_high) != (r1.ci_low, r1.ci_high)
    assert r1.n_clusters == len(np.unique(clusters)) and r1.n_boot == 10000 and r1.seed == 7
    assert r1.ci_low < r1.diff < r1.ci_high and 0 <= r1.p_boot <= 1
    assert r1.accuracy_a - r1.accuracy_b == pytest.approx(r1.diff)


def test_cluster_bootstrap_is_fast():
    ca, cb = _correctness(650, seed=2)
    clusters = np.random.default_rng(4).integers(0, 120, 650)
    start = time.perf_counter()
    S.cluster_bootstrap_diff(ca, cb, clusters, n_boot=10000)
    assert time.perf_counter() - start < 1.0


def test_cluster_bootstrap_identical_models():
    ca, _ = _correctness(50)
    r = S.cluster_bootstrap_diff(ca, ca, np.arange(50) // 5)
    assert r.diff == r.ci_low == r.ci_high == 0.0 and r.p_boot == 1.0 and math.isnan(r.design_effect)


def test_cluster_bootstrap_validation():
    ok = [1, 0, 1, 1]
    with pytest.raises(ValueError, match=r"correct_a must be boolean .*0/1.*got other values, e.g. \[0.5\]"):
        S.cluster_bootstrap_diff([0.5, 1, 1, 1], ok, [1, 1, 2, 2])
    with pytest.raises(ValueError, match=r"same length .* len\(correct_a\)=4, len\(correct_b\)=3"):
        S.cluster_bootstrap_diff(ok, ok[:3], [1, 1, 2, 2])
    with pytest.raises(ValueError, match=r"clusters must have one label per test sample .* len\(clusters\)=3"):
        S.cluster_bootstrap_diff(ok, ok, [1, 1, 2])
    with pytest.raises(ValueError, match=r"clusters must not contain NaN; got NaN at positions \[2\]"):
        S.cluster_bootstrap_diff(ok, ok, [1.0, 1.0, np.nan, 2.0])
    with pytest.raises(ValueError, match=r"clusters must not contain None"):
        S.cluster_bootstrap_diff(ok, ok, ["s1", "s1", None, "s2"])
    with pytest.raises(ValueError, match=r"clusters must hold at least 2 distinct clusters \(subjects\); got 1"):
        S.cluster_bootstrap_diff(ok, ok, ["s1"] * 4)
    with pytest.raises(ValueError, match=r"n_boot must be an integer >= 1; got 0"):
        S.cluster_bootstrap_diff(ok, ok, [1, 1, 2, 2], n_boot=0)
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0; got 0.5"):
        S.cluster_bootstrap_diff(ok, ok, [1, 1, 2, 2], seed=0.5)
    with pytest.raises(ValueError, match=r"confidence must be a number in \(0, 1\), ends excluded; got 1.0"):
        S.cluster_bootstrap_diff(ok, ok, [1, 1, 2, 2], confidence=1.0)


# --------------------------------------------------------------------------- the package
def test_new_submodules_are_reexported_and_layered():
    # test_stats.py checks the older submodules; the same rules for these two, in the package docstring's order
    earlier = {"common", "paired", "compare", "samples", "calibration"}
    for module, allowed in ((equivalence, earlier), (power, earlier | {"equivalence"})):  # the docstring's order
        for name in module.__all__:
            assert getattr(S, name) is getattr(module, name) and name in S.__all__
        tree = ast.parse(Path(module.__file__).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fer_lib.evaluate.stats"):
                assert node.module.rsplit(".", 1)[-1] in allowed, f"{module.__name__} imports {node.module}"
                assert not [a.name for a in node.names if a.name.startswith("_")]
    assert len(S.__all__) == len(set(S.__all__))


def test_importing_the_package_loads_neither_pingouin_nor_statsmodels():
    code = ("import sys, fer_lib.evaluate.stats; "
            "assert not {'pingouin', 'statsmodels'} & set(sys.modules), 'heavy import at package import'")
    subprocess.run([sys.executable, "-c", code], check=True)
