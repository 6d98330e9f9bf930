"""Tests of fer_lib.evaluate.stats.calibration: reliability curve and expected calibration error."""

import numpy as np
import pytest

from fer_lib.evaluate import stats as S


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
