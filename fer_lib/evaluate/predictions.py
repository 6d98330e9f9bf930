"""One tidy format for every model's per-sample predictions and metrics.

Every model notebook (03 spatial, 04 temporal-only, 05 hybrid) saves its
predictions with :func:`save_predictions` as ``<artefacts>/predictions.parquet``;
notebooks 06 (confusion analysis) and 07 (paired tests) read them all back with
:func:`load_run_predictions` and pair models on the same samples with
:func:`paired_correctness`.

Columns (:data:`ID_COLUMNS`, then ``y_true``, ``y_pred``, ``class_names`` and
one ``prob_<class>`` column per class):

``dataset``
    ``"fer2013"``, ``"ckplus48"`` or ``"ckplus_sequences"``.
``protocol``
    ``"canonical"`` (FER-2013 splits), ``"7class"`` or ``"6class"`` (CK+ folds),
    or ``"cross:<train dataset>"`` for cross-data-set evaluation.
``model``
    The study's model family, one of :data:`MODEL_FAMILIES`.
``variant``
    The configuration within the family (e.g. ``"vgg-ours"``, ``"transfer"``,
    ``"lstm"``, ``"cnn-rnn"``, ``"attention"``).
``seed``, ``fold``
    Training seed; test fold for CK+ (``-1`` for FER-2013).
``split``
    ``"PublicTest"`` / ``"PrivateTest"`` for FER-2013, ``"test"`` for a CK+ test fold.
``sample_id``
    A stable id of the test sample (FER-2013 row number, CK+ sequence id), so
    that two models' predictions of the same sample can be paired.

``class_names``
    The test set's class list, the order ``y_true`` indexes, joined by ``|``.

One table may hold several test sets with different class lists (notebook 03
predicts FER-2013 and CK+): its ``prob_<class>`` columns are then the union,
NaN where a class is not the set's, and their column order is not a class
order. The ``class_names`` column travels with every row through any
concatenation or file; :func:`class_lists` reads it.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from fer_lib.core.validation import check_option

#: Model families compared by the study (``landmarks``: the landmark-trajectory arms of the protocol, issue 16).
MODEL_FAMILIES = ("spatial", "temporal", "hybrid", "landmarks")

#: ``variant`` of notebook 05's matched spatial control (model family
#: ``"spatial"``): the hybrid's own CNN recipe applied per frame, frames
#: averaged, so that it differs from the hybrid only by the recurrent part.
SPATIAL_CONTROL_VARIANT = "hybrid-cnn-frames"

#: Columns that identify one prediction.
ID_COLUMNS = ("dataset", "protocol", "model", "variant", "seed", "fold", "split", "sample_id")

#: File name of the predictions artefact of a notebook.
PREDICTIONS_FILE = "predictions.parquet"

#: Column holding each row's class list, joined by :data:`CLASS_SEPARATOR`.
CLASS_NAMES_COLUMN = "class_names"

#: Separator of the class names in :data:`CLASS_NAMES_COLUMN` (never part of a class name).
CLASS_SEPARATOR = "|"


def predictions_frame(probs, y_true, sample_ids, class_names, *, dataset, protocol, model, variant,
                      seed, split, fold=-1):
    """Build a predictions table.

    Parameters
    ----------
    probs : ndarray of shape (n, n_classes)
        Class probabilities (rows sum to 1).
    y_true : ndarray of shape (n,)
        True class indices into ``class_names``.
    sample_ids : array-like of shape (n,)
        Stable ids of the samples.
    class_names : sequence of str
    dataset, protocol, model, variant, seed, split, fold
        See the module docstring.

    Returns
    -------
    DataFrame
    """
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true)
    n = len(y_true)
    if probs.ndim != 2 or probs.shape != (n, len(class_names)):
        raise ValueError(
            f"probs must have shape (n, n_classes) = ({n}, {len(class_names)}); got {probs.shape}"
        )
    if len(sample_ids) != n:
        raise ValueError(f"sample_ids must have length {n}; got {len(sample_ids)}")
    check_option("model", model, MODEL_FAMILIES)
    names = [str(c) for c in class_names]
    bad = [c for c in names if CLASS_SEPARATOR in c]
    if bad:
        raise ValueError(f"class_names must not contain {CLASS_SEPARATOR!r}; got {bad}")
    frame = pd.DataFrame(
        {
            "dataset": dataset,
            "protocol": protocol,
            "model": model,
            "variant": variant,
            "seed": int(seed),
            "fold": int(fold),
            "split": split,
            "sample_id": np.asarray(sample_ids).astype(str),
            "y_true": y_true.astype(np.int64),
            "y_pred": probs.argmax(axis=1).astype(np.int64),
            CLASS_NAMES_COLUMN: CLASS_SEPARATOR.join(names),
        }
    )
    for k, name in enumerate(class_names):
        frame[f"prob_{name}"] = probs[:, k]
    return frame


def class_names_of(frame):
    """Class names of a predictions table, from its ``prob_<class>`` columns (in order)."""
    return tuple(c[len("prob_"):] for c in frame.columns if c.startswith("prob_"))


def class_lists(frame):
    """Class list of each test set of a predictions table.

    Parameters
    ----------
    frame : DataFrame
        A predictions table. Its ``class_names`` column (set by
        :func:`predictions_frame`) gives the lists; a table without it (saved
        by an older ``fer_lib``) gets each set's filled ``prob_<class>``
        columns in column order, which is right for a table of one class set.

    Returns
    -------
    dict of (str, str) to tuple of str
        ``{(dataset, protocol): class names}`` for every pair in the table.

    Raises
    ------
    ValueError
        When one ``(dataset, protocol)`` has rows with two class lists.
    """
    prob_columns = [c for c in frame.columns if c.startswith("prob_")]
    out = {}
    for (dataset, protocol), part in frame.groupby(["dataset", "protocol"], sort=True):
        if CLASS_NAMES_COLUMN in part.columns:
            lists = part[CLASS_NAMES_COLUMN].unique().tolist()
            if len(lists) != 1:
                raise ValueError(f"predictions of {dataset}/{protocol} come with {len(lists)} class lists "
                                 f"{[str(c).split(CLASS_SEPARATOR) for c in lists]}; one test set must use one")
            out[(dataset, protocol)] = tuple(str(lists[0]).split(CLASS_SEPARATOR))
        else:
            out[(dataset, protocol)] = tuple(c[len("prob_"):] for c in prob_columns if part[c].notna().all())
    return out


def save_predictions(frames, out_dir):
    """Concatenate prediction tables and write ``<out_dir>/predictions.parquet``.

    Parameters
    ----------
    frames : DataFrame or sequence of DataFrame
        Tables of :func:`predictions_frame` (or concatenations of them).
    out_dir : str or Path

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        When one ``(dataset, protocol)`` comes with two class lists.
    """
    frame = frames if isinstance(frames, pd.DataFrame) else pd.concat(list(frames), ignore_index=True)
    class_lists(frame)  # refuses two class lists for one test set
    path = Path(out_dir) / PREDICTIONS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path


def load_predictions(files):
    """Read the prediction tables of several notebooks (a notebook's declared ``upstream``).

    Parameters
    ----------
    files : mapping of str to path-like
        ``{"<notebook id>": path of its predictions.parquet}``.

    Returns
    -------
    dict of str to DataFrame
        ``{"<notebook>": predictions}`` in the order given; a ``notebook``
        column is added, and each table keeps its class lists (:func:`class_lists`).
    """
    out = {}
    for notebook, path in files.items():
        frame = pd.read_parquet(path)
        frame.insert(0, "notebook", notebook)
        out[notebook] = frame
    return out


def load_run_predictions(run_dir):
    """All predictions saved in a run folder (``artifacts/*/predictions.parquet``), for the run's report.

    Notebooks read the tables they declare in ``upstream`` with
    :func:`load_predictions` instead, so that what they read does not depend
    on which notebooks happened to run.

    Returns
    -------
    dict of str to DataFrame
        ``{"<notebook>": predictions}`` (:func:`load_predictions`), in notebook order.
    """
    return load_predictions({path.parent.name: path
                             for path in sorted(Path(run_dir).glob(f"artifacts/*/{PREDICTIONS_FILE}"))})


#: Scores of :func:`metrics_table`, per group.
SCORE_COLUMNS = ("accuracy", "macro_precision", "macro_recall", "macro_f1", "n")


def _group_class_count(group, prob_columns):
    """Number of classes of one group's test set: its ``class_names`` list, else its filled probability columns."""
    if CLASS_NAMES_COLUMN in group.columns:
        lists = group[CLASS_NAMES_COLUMN].unique().tolist()
        if len(lists) > 1:
            raise ValueError(f"a group of predictions mixes the class lists {lists}; group by dataset and protocol")
        return len(str(lists[0]).split(CLASS_SEPARATOR))
    # older tables: a table mixing data sets has NaN probabilities for the other set's classes
    return int(group[prob_columns].notna().any(axis=0).sum())


def metrics_table(frame, by=("dataset", "protocol", "model", "variant", "seed", "fold", "split")):
    """The study's one scorer: accuracy and macro precision, recall and F1 per group of a predictions table.

    Every per-fold, per-seed or per-split score of the study comes from here
    (notebook 03's ``metrics.csv``, the fold runs of notebooks 03-05, the
    paired tests' fold scores, the published metrics).

    Parameters
    ----------
    frame : DataFrame
        Predictions (:func:`predictions_frame` format); one table may mix
        test sets with different class lists.
    by : sequence of str
        Grouping columns (those present are used).

    Returns
    -------
    DataFrame
        One row per group: the ``by`` columns, then :data:`SCORE_COLUMNS`.
        Macro averages are over the classes of the group's test set (its
        ``class_names``), a class absent from the group's samples and never
        predicted counting 0 (scikit-learn's ``zero_division=0``).

    Raises
    ------
    ValueError
        When a group mixes two class lists.
    """
    from sklearn.metrics import precision_recall_fscore_support

    by = [c for c in by if c in frame.columns]
    prob_columns = [c for c in frame.columns if c.startswith("prob_")]
    rows = []
    for key, group in frame.groupby(by, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        labels = list(range(_group_class_count(group, prob_columns)))
        p, r, f, _ = precision_recall_fscore_support(group["y_true"], group["y_pred"], labels=labels,
                                                     average="macro", zero_division=0)
        rows.append({**dict(zip(by, key)), "accuracy": float((group["y_true"] == group["y_pred"]).mean()),
                     "macro_precision": float(p), "macro_recall": float(r), "macro_f1": float(f), "n": len(group)})
    return pd.DataFrame(rows, columns=[*by, *SCORE_COLUMNS])


def fold_table(metrics, value="accuracy", columns=("protocol", "variant"), flatten=False):
    """Per-fold scores side by side, then their mean and sd over folds.

    Parameters
    ----------
    metrics : DataFrame
        :func:`metrics_table` rows with a ``fold`` column and the ``columns``.
    value : str, default="accuracy"
        One of :data:`SCORE_COLUMNS`.
    columns : sequence of str, default=("protocol", "variant")
        What a column of the table is (one per combination present).
    flatten : bool, default=False
        Name the columns ``"a/b"`` instead of tuples.

    Returns
    -------
    DataFrame
        Index: the folds (ints, sorted), then ``"mean"`` and ``"sd"``; the
        scores are averaged over seeds within each fold first, so that each
        fold counts once in the mean and the sd (``ddof=1``). A fold a column
        was not run on is NaN.
    """
    check_option("value", value, SCORE_COLUMNS)
    missing = sorted({"fold", value, *columns} - set(metrics.columns))
    if missing:
        raise ValueError(f"metrics must have the columns fold, {value} and {list(columns)}; missing {missing}")
    per_fold = metrics.groupby([*columns, "fold"])[value].mean().unstack(list(columns)).sort_index(axis=1)
    per_fold = per_fold.sort_index()
    if flatten:
        per_fold.columns = ["/".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in per_fold.columns]
    per_fold.index = per_fold.index.astype(object)
    summary = pd.DataFrame([per_fold.mean(), per_fold.std(ddof=1)], index=["mean", "sd"])
    out = pd.concat([per_fold, summary])
    out.index.name = "fold"
    return out


def paired_correctness(frame, a, b, on=("dataset", "protocol", "seed", "fold", "split", "sample_id")):
    """Per-sample correctness of two models on the same samples.

    Parameters
    ----------
    frame : DataFrame
        Predictions of (at least) both models.
    a, b : dict
        Column filters selecting each model, e.g. ``{"model": "spatial", "variant": "transfer"}``.
    on : sequence of str
        Columns that must match for two predictions to be of the same sample.

    Returns
    -------
    DataFrame
        The ``on`` columns plus ``correct_a`` and ``correct_b`` (bool), one row
        per sample both models predicted. Raises ``ValueError`` if a sample is
        predicted by only one of them (pairs must be complete).
    """
    def select(filters, suffix):
        mask = np.ones(len(frame), dtype=bool)
        for col, value in filters.items():
            mask &= (frame[col] == value).to_numpy()
        part = frame.loc[mask, list(on) + ["y_true", "y_pred"]]
        if part.empty:
            raise ValueError(f"no predictions match {filters}")
        part = part.assign(**{f"correct_{suffix}": part["y_true"] == part["y_pred"]})
        return part.drop(columns=["y_true", "y_pred"])

    left, right = select(a, "a"), select(b, "b")
    merged = left.merge(right, on=list(on), how="outer", indicator=True)
    unmatched = merged[merged["_merge"] != "both"]
    if len(unmatched):
        raise ValueError(
            f"{len(unmatched)} samples are predicted by only one of {a} and {b} (e.g. "
            f"{unmatched.iloc[0][list(on)].to_dict()}); paired tests need the same samples"
        )
    return merged.drop(columns="_merge").reset_index(drop=True)
