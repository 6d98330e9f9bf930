"""Subject-independent cross-validation folds for CK+.

How folds are formed: subjects (never frames or sequences) are assigned to
folds by scikit-learn's ``StratifiedGroupKFold(n_splits, shuffle=True,
random_state=seed)``, with the subject id as group and the class as the
stratification target, so that each fold holds whole subjects and roughly the
class mix of the full set. The same seed gives the same folds on every machine
(the input order is first sorted by subject and sequence id). Every model of
the study uses the same folds, so per-fold scores can be paired.
"""

import numpy as np
import pandas as pd

from .constants import CKPLUS_N_FOLDS
from .validation import check_positive_int


def subject_folds(subjects, labels=None, n_folds=CKPLUS_N_FOLDS, seed=0, order_key=None):
    """Assign each sample to a fold so that no subject appears in two folds.

    Parameters
    ----------
    subjects : array-like of shape (n,)
        Subject id of each sample (e.g. ``"S052"``).
    labels : array-like of shape (n,), optional
        Class of each sample, used to balance classes across folds.
    n_folds : int, default=10
        Number of folds; at most the number of distinct subjects.
    seed : int, default=0
        Seed of the subject shuffle.
    order_key : array-like of shape (n,), optional
        A unique key per sample (e.g. the sequence id) that fixes the order in
        which samples are presented, so the folds do not depend on load order.

    Returns
    -------
    ndarray of shape (n,), int64
        Fold index (0 .. n_folds-1) of each sample.
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    subjects = np.asarray(subjects, dtype=object)
    n = len(subjects)
    n_folds = check_positive_int("n_folds", n_folds, minimum=2)
    n_subjects = len(set(subjects.tolist()))
    if n_folds > n_subjects:
        raise ValueError(f"n_folds must be <= the number of subjects ({n_subjects}); got {n_folds}")
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels must have the same length as subjects ({n}); got {len(labels)}")
    keys = np.asarray(order_key if order_key is not None else subjects, dtype=object)
    order = np.lexsort((keys.astype(str), subjects.astype(str)))
    folds = np.empty(n, dtype=np.int64)
    if labels is None:
        splitter = GroupKFold(n_splits=n_folds)
        split_iter = splitter.split(np.zeros(n), groups=subjects[order])
    else:
        splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        split_iter = splitter.split(np.zeros(n), np.asarray(labels)[order], groups=subjects[order])
    for fold, (_, test_idx) in enumerate(split_iter):
        folds[order[test_idx]] = fold
    return folds


def subject_overlap(subjects, folds):
    """Subjects that appear in more than one fold (the leakage check).

    Parameters
    ----------
    subjects : array-like of shape (n,)
    folds : array-like of shape (n,)

    Returns
    -------
    DataFrame
        Columns ``subject, folds``: one row per subject found in several folds;
        empty when the folds are subject-independent.
    """
    frame = pd.DataFrame({"subject": np.asarray(subjects, dtype=object), "fold": np.asarray(folds)})
    per_subject = frame.groupby("subject")["fold"].unique()
    leaking = per_subject[per_subject.map(len) > 1]
    return pd.DataFrame(
        {"subject": leaking.index, "folds": [sorted(map(int, f)) for f in leaking]},
        columns=["subject", "folds"],
    )


def fold_summary(subjects, labels, folds, class_names):
    """Per-fold counts of subjects and of samples per class.

    Returns
    -------
    DataFrame
        Index: fold; columns: ``n_subjects``, ``n_samples`` and one per class.
    """
    frame = pd.DataFrame(
        {
            "subject": np.asarray(subjects, dtype=object),
            "label": [class_names[i] for i in labels],
            "fold": np.asarray(folds),
        }
    )
    counts = pd.crosstab(frame["fold"], pd.Categorical(frame["label"], categories=class_names), dropna=False)
    counts.columns = list(class_names)
    counts.insert(0, "n_samples", counts.sum(axis=1))
    counts.insert(0, "n_subjects", frame.groupby("fold")["subject"].nunique())
    return counts
