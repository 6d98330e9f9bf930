"""Subject-independent cross-validation folds for CK+.

How folds are formed: subjects (never frames or sequences) are assigned to
folds by scikit-learn's ``StratifiedGroupKFold(n_splits, shuffle=True,
random_state=seed)``, with the subject id as group and the class as the
stratification target, so that each fold holds whole subjects and roughly the
class mix of the full set. The same seed gives the same folds on every machine
(the input order is first sorted by subject and sequence id). Every model of
the study uses the same folds, so per-fold scores can be paired.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from fer_lib.core.validation import check_positive_int
from fer_lib.data.constants import CKPLUS_N_FOLDS


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


@dataclass(frozen=True)
class ViewSet:
    """Test-only samples with their folds, seen through several views (e.g. the prefixes of sequences).

    :func:`run_subject_folds` predicts, with the model of test fold ``k``, the
    samples of fold ``k`` in every view, so a sample is only ever predicted
    by a model that did not see its subject.

    Attributes
    ----------
    dataset : str
        ``dataset`` value of the predictions.
    views : dict of str to ndarray of shape (m, T, H, W), uint8
        Split name -> clips.
    y : ndarray of shape (m,), int64
    sample_ids : ndarray of shape (m,), str
    folds : ndarray of shape (m,), int64
    """

    dataset: str
    views: dict
    y: np.ndarray
    sample_ids: np.ndarray
    folds: np.ndarray

    def __post_init__(self):
        m = len(self.y)
        if len(self.sample_ids) != m or len(self.folds) != m:
            raise ValueError(f"y, sample_ids and folds must have the same length; got {m}, {len(self.sample_ids)}, "
                             f"{len(self.folds)}")
        for name, view in self.views.items():
            if not (isinstance(view, np.ndarray) and view.dtype == np.uint8 and view.ndim == 4 and len(view) == m):
                raise ValueError(f"views[{name!r}] must be a uint8 array of shape ({m}, T, H, W); got "
                                 f"{getattr(view, 'dtype', type(view).__name__)} {getattr(view, 'shape', '')}")


def sample_folds(folds_table, sample_ids, subjects=None):
    """Fold of each sample, from notebook 01's folds table (``ckplus48_folds.csv``).

    The one join of samples to the subject-independent folds: by sequence id,
    else (when ``subjects`` is given) by subject, since folds are by subject.

    Parameters
    ----------
    folds_table : DataFrame
        With columns ``subject``, ``sequence_id``, ``fold``.
    sample_ids : sequence of str
        Sequence ids of the samples (e.g. ``S005_001``).
    subjects : sequence of str, optional
        The samples' subjects, for samples whose sequence is not in the table
        (e.g. the raw sequences beside CK+48).

    Returns
    -------
    ndarray of shape (n,), int64

    Raises
    ------
    ValueError
        If a column is missing, a subject sits in several folds, a sample has
        no fold (notebook 01 ran on other data), or a sample's fold differs
        from its subject's.
    """
    table = pd.DataFrame(folds_table)
    missing = [c for c in ("subject", "sequence_id", "fold") if c not in table]
    if missing:
        raise ValueError(f"folds_table must have the columns subject, sequence_id, fold; missing {missing}")
    per_subject = table.groupby("subject")["fold"].nunique()
    if (per_subject > 1).any():
        raise ValueError(f"folds_table puts subjects in several folds: {list(per_subject[per_subject > 1].index)}; "
                         "the folds must be by subject")
    by_sequence = dict(zip(table["sequence_id"].astype(str), table["fold"].astype(int)))
    by_subject = dict(zip(table["subject"].astype(str), table["fold"].astype(int)))
    subjects = [None] * len(sample_ids) if subjects is None else list(subjects)
    if len(subjects) != len(sample_ids):
        raise ValueError(f"subjects must have one entry per sample ({len(sample_ids)}); got {len(subjects)}")
    out = []
    for sid, subj in zip(sample_ids, subjects):
        fold = by_sequence.get(str(sid), None if subj is None else by_subject.get(str(subj)))
        if fold is None:
            raise ValueError(
                f"no fold for sequence {sid} (subject {subj}): not in the folds of notebook 01; "
                "re-run notebook 01 on the same data folder"
            )
        if subj is not None and by_subject.get(str(subj), fold) != fold:
            raise ValueError(f"sequence {sid} is in fold {fold} but its subject {subj} in {by_subject[str(subj)]}")
        out.append(fold)
    return np.asarray(out, dtype=np.int64)
