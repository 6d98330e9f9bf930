"""Tests of fer_lib.evaluate.stats.power: the smallest detectable difference (statsmodels' TTestPower, hand values)."""

import math

import pytest
from scipy import stats as st

from fer_lib.evaluate import stats as S

SM_ALTERNATIVE = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize(("n", "alpha", "power"), [(10, 0.05, 0.8), (30, 0.05, 0.9), (5, 0.01, 0.8), (3, 0.1, 0.5)])
def test_matches_statsmodels_ttest_power(n, alpha, power, alternative):
    from statsmodels.stats.power import TTestPower

    sd = 0.025
    es = TTestPower().solve_power(effect_size=None, nobs=n, alpha=alpha, power=power,
                                  alternative=SM_ALTERNATIVE[alternative])
    r = S.smallest_detectable_difference(sd, n, alpha=alpha, power=power, alternative=alternative)
    # statsmodels solves to about 1e-7; this solves to 1e-12
    assert r.delta == pytest.approx(es * sd, rel=1e-5)
    assert r.effect_size == pytest.approx(es, rel=1e-5)
    assert (r.delta < 0) == (alternative == "less")
    assert r.noncentrality == pytest.approx(r.effect_size * math.sqrt(n))


def test_hand_values_ten_folds():
    # 10 folds, sd of the fold differences 2 accuracy points: d_z = 0.99600 (TTestPower), delta = 0.019920
    r = S.smallest_detectable_difference(0.02, 10)
    assert r.effect_size == pytest.approx(0.996001, abs=2e-6) and r.delta == pytest.approx(0.0199200, abs=1e-7)
    assert r.dof == 9 and r.t_crit == pytest.approx(st.t.ppf(0.975, 9)) and r.correction == pytest.approx(0.1)
    # the defining equation: power of the two-sided test at nc = delta / (sd / sqrt(n)), both tails
    nc = r.delta / (0.02 / math.sqrt(10))
    achieved = st.nct.sf(r.t_crit, 9, nc) + st.nct.cdf(-r.t_crit, 9, nc)
    assert achieved == pytest.approx(0.8, abs=1e-10)
    assert not r.corrected and math.isnan(r.test_train_ratio)
    assert list(r.as_dict()) == ["delta", "effect_size", "noncentrality", "t_crit", "sd_diff", "n", "dof", "alpha",
                                 "power", "alternative", "corrected", "correction", "test_train_ratio"]


def test_corrected_is_the_inflated_standard_error():
    # Hand computation: the dof and t_crit do not change, so the noncentrality is that of the plain test,
    # nc = d_z(plain) * sqrt(n), and delta = nc * sd * sqrt(1/n + n_test/n_train).
    plain = S.smallest_detectable_difference(0.02, 10)
    r = S.smallest_detectable_difference(0.02, 10, corrected=True, n_train=540, n_test=60)
    c = 1 / 10 + 60 / 540
    assert r.corrected and r.correction == pytest.approx(c) and r.test_train_ratio == pytest.approx(1 / 9)
    assert r.noncentrality == pytest.approx(plain.noncentrality)
    assert r.delta == pytest.approx(plain.effect_size * math.sqrt(10) * 0.02 * math.sqrt(c))
    assert r.delta == pytest.approx(0.0199200 * math.sqrt(10 * c), abs=1e-7)
    assert r.delta == pytest.approx(0.0289431, abs=1e-7)
    # the corrected t-test at this delta has the requested power
    t = r.delta / (0.02 * math.sqrt(c))
    assert st.nct.sf(r.t_crit, 9, t) + st.nct.cdf(-r.t_crit, 9, t) == pytest.approx(0.8, abs=1e-10)


def test_repeats_cannot_beat_the_correction():
    # with n -> infinity the corrected delta tends to (z_{1-alpha/2} + z_power) * sd * sqrt(n_test/n_train),
    # while the plain one tends to 0 like 1/sqrt(n)
    floor = (st.norm.ppf(0.975) + st.norm.ppf(0.8)) * 0.02 * math.sqrt(1 / 9)
    deltas = [S.smallest_detectable_difference(0.02, n, corrected=True, n_train=540, n_test=60).delta
              for n in (10, 30, 100, 100_000)]
    assert deltas == sorted(deltas, reverse=True)
    assert deltas[-1] == pytest.approx(floor, rel=1e-3) and deltas[0] > 1.5 * floor
    big = S.smallest_detectable_difference(0.02, 100_000)
    assert big.delta == pytest.approx((st.norm.ppf(0.975) + st.norm.ppf(0.8)) * 0.02 / math.sqrt(100_000), rel=1e-3)


def test_two_pairs_needs_a_huge_effect():
    # 1 dof: scipy's nct.cdf is NaN in the far tail; the lower tail is taken from the mirrored sf
    from statsmodels.stats.power import TTestPower

    r = S.smallest_detectable_difference(1.0, 2)
    es = TTestPower().solve_power(effect_size=None, nobs=2, alpha=0.05, power=0.8)
    assert r.effect_size == pytest.approx(es, rel=1e-5)
    assert r.effect_size == pytest.approx(11.5499, abs=1e-3)


def test_validation():
    with pytest.raises(ValueError, match=r"sd_diff must be a positive finite number; got 0"):
        S.smallest_detectable_difference(0, 10)
    with pytest.raises(ValueError, match=r"n must be an integer >= 2; got 1"):
        S.smallest_detectable_difference(0.02, 1)
    with pytest.raises(ValueError, match=r"power must be a number in \(alpha, 1\) = \(0.05, 1\); got 0.05"):
        S.smallest_detectable_difference(0.02, 10, power=0.05)
    with pytest.raises(ValueError, match=r"alpha must be a number in \(0, 1\), ends excluded; got 1.0"):
        S.smallest_detectable_difference(0.02, 10, alpha=1.0)
    with pytest.raises(ValueError, match=r"alternative must be one of \['two-sided', 'greater', 'less'\]; got 'l"):
        S.smallest_detectable_difference(0.02, 10, alternative="larger")
    with pytest.raises(ValueError, match=r"corrected must be one of \[False, True\]; got 1"):
        S.smallest_detectable_difference(0.02, 10, corrected=1)
    with pytest.raises(ValueError, match=r"n_train and n_test are required with corrected=True; got n_train=540"):
        S.smallest_detectable_difference(0.02, 10, corrected=True, n_train=540)
    with pytest.raises(ValueError, match=r"used only with corrected=True; got n_train=None, n_test=60"):
        S.smallest_detectable_difference(0.02, 10, n_test=60)
    with pytest.raises(ValueError, match=r"n_test must be a positive finite number; got -60"):
        S.smallest_detectable_difference(0.02, 10, corrected=True, n_train=540, n_test=-60)
