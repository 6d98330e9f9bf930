"""Subject-independent folds."""

import numpy as np
import pytest

from fer_lib.data.splits import fold_summary, subject_folds, subject_overlap


def toy(n_subjects=30, per_subject=3, n_classes=4, seed=0):
    rng = np.random.default_rng(seed)
    subjects = np.repeat([f"S{k:03d}" for k in range(n_subjects)], per_subject)
    labels = rng.integers(0, n_classes, len(subjects))
    keys = np.array([f"{s}_{k:03d}" for k, s in enumerate(subjects)], dtype=object)
    return subjects, labels, keys


def test_no_subject_in_two_folds_and_all_folds_used():
    subjects, labels, keys = toy()
    folds = subject_folds(subjects, labels, n_folds=10, seed=0, order_key=keys)
    assert subject_overlap(subjects, folds).empty
    assert sorted(set(folds.tolist())) == list(range(10))


def test_deterministic_and_independent_of_input_order():
    subjects, labels, keys = toy()
    a = subject_folds(subjects, labels, 5, seed=1, order_key=keys)
    perm = np.random.default_rng(3).permutation(len(subjects))
    b = subject_folds(subjects[perm], labels[perm], 5, seed=1, order_key=keys[perm])
    np.testing.assert_array_equal(a[perm], b)
    c = subject_folds(subjects, labels, 5, seed=2, order_key=keys)
    assert not np.array_equal(a, c)


def test_overlap_detects_leakage():
    subjects = np.array(["S1", "S1", "S2", "S3"], dtype=object)
    leaky = np.array([0, 1, 1, 0])
    overlap = subject_overlap(subjects, leaky)
    assert overlap.to_dict(orient="records") == [{"subject": "S1", "folds": [0, 1]}]


def test_fold_summary_counts():
    subjects, labels, keys = toy(n_subjects=12)
    folds = subject_folds(subjects, labels, 3, order_key=keys)
    table = fold_summary(subjects, labels, folds, ["a", "b", "c", "d"])
    assert table["n_samples"].sum() == len(subjects)
    assert table["n_subjects"].sum() == 12
    assert (table[["a", "b", "c", "d"]].sum(axis=1) == table["n_samples"]).all()


def test_validation_messages():
    subjects, labels, _ = toy(n_subjects=4)
    with pytest.raises(ValueError, match=r"n_folds must be <= the number of subjects \(4\); got 5"):
        subject_folds(subjects, labels, n_folds=5)
    with pytest.raises(ValueError, match="n_folds must be an integer >= 2; got 1"):
        subject_folds(subjects, labels, n_folds=1)
    with pytest.raises(ValueError, match="labels must have the same length"):
        subject_folds(subjects, labels[:-1], n_folds=2)
