"""Tests of fer_lib.evaluate.stats.compare: Holm's correction and compare_fold_scores (against statsmodels)."""

import numpy as np
import pandas as pd
import pytest

from fer_lib.evaluate import stats as S


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
