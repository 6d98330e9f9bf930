"""Calibration of predicted probabilities: reliability curve and expected calibration error."""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fer_lib.core.validation import check_positive_int
from fer_lib.evaluate.stats.common import AsDict, as_1d

__all__ = ["PROB_SUM_ATOL", "ReliabilityCurve", "reliability_curve", "expected_calibration_error"]


#: Tolerance on ``|sum(row) - 1|`` for the rows of a probability matrix.
PROB_SUM_ATOL = 1e-3


@dataclass(frozen=True)
class ReliabilityCurve(AsDict):
    """Result of :func:`reliability_curve` (see there for each field)."""

    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray
    edges: np.ndarray

    def to_frame(self):
        """One row per bin: ``bin_low, bin_high, confidence, accuracy, count``.

        Returns
        -------
        pandas.DataFrame of shape (n_bins, 5)
        """
        return pd.DataFrame(
            {
                "bin_low": self.edges[:-1],
                "bin_high": self.edges[1:],
                "confidence": self.confidence,
                "accuracy": self.accuracy,
                "count": self.count,
            }
        )


def _check_probs_labels(probs, labels, n_bins):
    try:
        P = np.asarray(probs, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"probs must be a numeric array of shape (n_samples, n_classes); got {type(probs).__name__}") from None
    if P.ndim != 2 or P.shape[0] < 1 or P.shape[1] < 2:
        raise ValueError(
            f"probs must have shape (n_samples, n_classes) with n_samples >= 1 and n_classes >= 2; got shape {P.shape}"
        )
    if not np.isfinite(P).all() or (P < 0).any() or (P > 1).any():
        raise ValueError("probs must contain finite probabilities in [0, 1] (e.g. softmax outputs, not logits)")
    sums = P.sum(axis=1)
    bad = np.abs(sums - 1) > PROB_SUM_ATOL
    if bad.any():
        raise ValueError(
            f"rows of probs must sum to 1 (within {PROB_SUM_ATOL}); got row sums {sums[bad][:5].tolist()} "
            f"at rows {np.flatnonzero(bad)[:5].tolist()}"
        )
    y = as_1d("labels", labels)
    if y.size != P.shape[0]:
        raise ValueError(
            f"labels must have one entry per row of probs; got len(labels)={y.size}, probs.shape[0]={P.shape[0]}"
        )
    if y.dtype == bool or not np.issubdtype(y.dtype, np.number):
        raise ValueError(f"labels must be integer class indices; got dtype {y.dtype}")
    if not np.issubdtype(y.dtype, np.integer):
        if not (np.isfinite(y).all() and (y == np.round(y)).all()):
            raise ValueError("labels must be integer class indices; got non-integer values")
    y = y.astype(np.int64)
    if (y < 0).any() or (y >= P.shape[1]).any():
        raise ValueError(
            f"labels must be class indices in [0, {P.shape[1] - 1}] (n_classes = probs.shape[1]); "
            f"got values {np.unique(y[(y < 0) | (y >= P.shape[1])])[:5].tolist()}"
        )
    n_bins = check_positive_int("n_bins", n_bins, minimum=1)
    return P, y, n_bins


def _bin_stats(probs, labels, n_bins):
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # bin i holds edges[i] < conf <= edges[i+1] (first bin also holds conf == 0)
    idx = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    conf_sum = np.bincount(idx, weights=conf, minlength=n_bins)
    acc_sum = np.bincount(idx, weights=correct.astype(float), minlength=n_bins)
    return edges, count, conf_sum, acc_sum


def reliability_curve(probs, labels, n_bins=15):
    """Reliability diagram data: accuracy vs confidence in equal-width bins.

    Confidence is the maximum predicted probability of each sample and the
    prediction is its argmax; bins are ``(edges[i], edges[i+1]]`` over [0, 1]
    (ties in argmax go to the lowest class index).

    Parameters
    ----------
    probs : array-like of shape (n_samples, n_classes)
        Predicted class probabilities (rows sum to 1 within
        :data:`PROB_SUM_ATOL`), ``n_classes >= 2``.
    labels : array-like of shape (n_samples,)
        True class indices in ``[0, n_classes)``.
    n_bins : int >= 1, default=15

    Returns
    -------
    ReliabilityCurve
        Fields (``.as_dict()`` keys): ``confidence`` (ndarray of shape
        (n_bins,), mean confidence per bin, NaN for empty bins), ``accuracy``
        (ndarray of shape (n_bins,), NaN for empty bins), ``count`` (int ndarray
        of shape (n_bins,)), ``edges`` (ndarray of shape (n_bins + 1,)).
        ``.to_frame()`` gives one row per bin.

    Raises
    ------
    ValueError
        Bad shapes, probabilities outside [0, 1] or rows not summing to 1,
        labels out of range or not integers, mismatched lengths, bad ``n_bins``.
    """
    P, y, n_bins = _check_probs_labels(probs, labels, n_bins)
    edges, count, conf_sum, acc_sum = _bin_stats(P, y, n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.where(count > 0, conf_sum / count, np.nan)
        accuracy = np.where(count > 0, acc_sum / count, np.nan)
    return ReliabilityCurve(confidence=confidence, accuracy=accuracy, count=count.astype(int), edges=edges)


def expected_calibration_error(probs, labels, n_bins=15):
    """Expected calibration error (ECE) with equal-width confidence bins.

    ``ECE = sum_b (n_b / n) * |accuracy_b - confidence_b|`` over the non-empty
    bins of :func:`reliability_curve` (Guo et al., 2017), where confidence is
    the maximum predicted probability. 0 for a perfectly calibrated model
    (within bins); note that ECE depends on ``n_bins`` and is biased upwards
    for small ``n``.

    Parameters
    ----------
    probs : array-like of shape (n_samples, n_classes)
        Predicted class probabilities (rows sum to 1).
    labels : array-like of shape (n_samples,)
        True class indices in ``[0, n_classes)``.
    n_bins : int >= 1, default=15

    Returns
    -------
    float
        The ECE, in [0, 1].

    Raises
    ------
    ValueError
        As :func:`reliability_curve`.
    """
    P, y, n_bins = _check_probs_labels(probs, labels, n_bins)
    _, count, conf_sum, acc_sum = _bin_stats(P, y, n_bins)
    # sum_b (n_b/n) |acc_b - conf_b| = sum_b |acc_sum_b - conf_sum_b| / n
    return float(np.abs(acc_sum - conf_sum).sum() / P.shape[0])
