"""Where the models go wrong: confusion matrices, confused pairs, error examples, calibration.

Used by notebook 06. Every function takes one *test set* of a predictions
table (the format of :mod:`fer_lib.evaluate.predictions`: ``y_true``, ``y_pred``,
``prob_<class>`` columns, ``sample_id``), usually the rows of one model family
and variant selected with :func:`fer_lib.report.arms.select_arm`.

Conventions:

* A confusion matrix is a ``DataFrame`` of shape (n_classes, n_classes) whose
  **rows are the true classes** and **columns the predicted classes**, both
  labelled with the class names. Counts are summed over every row of the table
  given (all folds and seeds: each CK+ clip is tested once per seed, so pooling
  seeds weights each seed equally).
* Normalised matrices (:data:`NORMALIZE_OPTIONS`) divide by the row sums
  (``"true"``: each row is the recall distribution of one true class), the
  column sums (``"pred"``: precision) or the total (``"all"``); a row (column)
  with no sample is NaN, never 0, so that an absent class is not mistaken for a
  class that is never predicted correctly.
* Class names differ between data sets (FER-2013 ``angry``/``sad`` and CK+
  ``anger``/``sadness``); :func:`canonical_class` maps CK+ names to FER-2013
  ones so that :data:`FOCUS_PAIRS` can be looked up in either.
"""

from types import MappingProxyType

import numpy as np
import pandas as pd

from fer_lib.core.validation import check_option, check_positive_int
from fer_lib.data.constants import CKPLUS_TO_FER2013
from fer_lib.evaluate.predictions import class_names_of

__all__ = [
    "NORMALIZE_OPTIONS",
    "FOCUS_PAIRS",
    "EXAMPLE_ORDERS",
    "IMAGE_SOURCES",
    "canonical_class",
    "confusion_counts",
    "normalize_confusion",
    "confusion_frame",
    "difference_matrix",
    "per_class_metrics",
    "class_support",
    "confused_pairs",
    "focus_pair_rates",
    "select_errors",
    "calibration",
    "sample_images",
    "load_image_sources",
    "error_example_rows",
    "plot_confusion_panels",
    "plot_difference",
    "plot_reliability",
    "plot_error_examples",
]

#: How :func:`normalize_confusion` divides the counts: by true class (rows,
#: recall), by predicted class (columns, precision), by the total, or not at all.
NORMALIZE_OPTIONS = ("true", "pred", "all", "none")

#: The confusions the seed papers and the FER literature single out, in
#: FER-2013 class names (see :func:`canonical_class`): fear/surprise (both
#: wide eyes, open mouth), sad/neutral (subtle expressions) and anger/disgust
#: (lowered brows, tightened mouth). Neutral does not exist in CK+, so the
#: second pair is only looked up on FER-2013.
FOCUS_PAIRS = (("fear", "surprise"), ("sad", "neutral"), ("angry", "disgust"))

#: Data sets whose example images are looked up in another one: a CK+
#: sequence is shown by the apex crop of the same sequence in CK+48 (CK+48
#: keeps the last three frames of every labelled sequence; same sequence ids).
IMAGE_SOURCES = MappingProxyType({"ckplus_sequences": "ckplus48"})

#: How :func:`select_errors` orders the errors it returns.
EXAMPLE_ORDERS = ("confident", "random")


def canonical_class(name):
    """The FER-2013 spelling of a class name (``"anger"`` -> ``"angry"``, ``"sadness"`` -> ``"sad"``).

    Names without a counterpart (``"contempt"``) and FER-2013 names are returned unchanged.
    """
    return CKPLUS_TO_FER2013.get(name, name)


def _class_names(frame, class_names):
    names = tuple(class_names) if class_names is not None else class_names_of(frame)
    if len(names) < 2:
        raise ValueError(
            f"class_names must hold at least 2 classes (from the prob_<class> columns of the predictions); got {names}"
        )
    return names


def _check_frame(frame, columns=("y_true", "y_pred")):
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"frame must be a predictions DataFrame; got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"frame must have the columns {list(columns)} of a predictions table; missing {missing}")
    if frame.empty:
        raise ValueError("frame must hold at least 1 prediction; got an empty table")


def confusion_counts(y_true, y_pred, n_classes):
    """Confusion counts.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        True and predicted class indices in ``[0, n_classes)``.
    n_classes : int >= 2

    Returns
    -------
    ndarray of shape (n_classes, n_classes), int64
        ``counts[i, j]`` = number of samples of true class ``i`` predicted as ``j``.

    Raises
    ------
    ValueError
        Different lengths, indices out of range, ``n_classes < 2``.
    """
    n_classes = check_positive_int("n_classes", n_classes, minimum=2)
    t = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(y_pred).astype(np.int64).ravel()
    if t.size != p.size:
        raise ValueError(f"y_true and y_pred must have the same length; got {t.size} and {p.size}")
    for name, v in (("y_true", t), ("y_pred", p)):
        if v.size and (v.min() < 0 or v.max() >= n_classes):
            raise ValueError(f"{name} must hold class indices in [0, {n_classes - 1}]; got values outside it")
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def normalize_confusion(counts, normalize="true"):
    """Normalise confusion counts.

    Parameters
    ----------
    counts : array-like of shape (n_classes, n_classes)
        Counts (rows: true classes, columns: predicted classes).
    normalize : {"true", "pred", "all", "none"}, default="true"
        Divide by row sums, column sums, the total, or keep counts (as float).

    Returns
    -------
    ndarray of shape (n_classes, n_classes), float
        NaN in the rows (``"true"``) or columns (``"pred"``) whose sum is 0.
    """
    check_option("normalize", normalize, NORMALIZE_OPTIONS)
    c = np.asarray(counts, dtype=float)
    if c.ndim != 2 or c.shape[0] != c.shape[1]:
        raise ValueError(f"counts must be a square matrix (n_classes, n_classes); got shape {c.shape}")
    with np.errstate(invalid="ignore", divide="ignore"):
        if normalize == "true":
            s = c.sum(axis=1, keepdims=True)
            return np.where(s > 0, c / s, np.nan)
        if normalize == "pred":
            s = c.sum(axis=0, keepdims=True)
            return np.where(s > 0, c / s, np.nan)
        if normalize == "all":
            total = c.sum()
            return c / total if total > 0 else np.full_like(c, np.nan)
    return c


def confusion_frame(frame, normalize="true", class_names=None):
    """Confusion matrix of a predictions table, labelled by class.

    Parameters
    ----------
    frame : DataFrame
        Predictions (``y_true``, ``y_pred``) of one model on one test set;
        every row counts once (pooled over folds and seeds).
    normalize : {"true", "pred", "all", "none"}, default="true"
        See :func:`normalize_confusion`; ``"none"`` gives integer counts.
    class_names : sequence of str, optional
        Default: the ``prob_<class>`` columns of ``frame``.

    Returns
    -------
    DataFrame of shape (n_classes, n_classes)
        Index ``true`` and columns ``predicted``, both the class names.
    """
    _check_frame(frame)
    names = _class_names(frame, class_names)
    counts = confusion_counts(frame["y_true"], frame["y_pred"], len(names))
    values = counts if normalize == "none" else normalize_confusion(counts, normalize)
    out = pd.DataFrame(values, index=pd.Index(names, name="true"), columns=pd.Index(names, name="predicted"))
    return out


def difference_matrix(a, b):
    """``a - b`` of two confusion matrices with the same classes (e.g. hybrid minus spatial).

    Parameters
    ----------
    a, b : DataFrame of shape (n_classes, n_classes)
        Outputs of :func:`confusion_frame` (normalised the same way).

    Returns
    -------
    DataFrame of shape (n_classes, n_classes)
        Positive on the diagonal where ``a`` recalls a class more often than
        ``b``; positive off the diagonal where ``a`` makes that confusion more often.
    """
    for name, m in (("a", a), ("b", b)):
        if not isinstance(m, pd.DataFrame):
            raise ValueError(f"{name} must be a confusion matrix DataFrame; got {type(m).__name__}")
    if list(a.index) != list(b.index) or list(a.columns) != list(b.columns):
        raise ValueError(
            f"a and b must have the same classes in the same order; got {list(a.index)} and {list(b.index)}"
        )
    return a - b


def class_support(frame, class_names=None):
    """Distinct test samples per true class (a sample tested under several seeds counts once).

    Returns
    -------
    Series of shape (n_classes,)
        Index: class names; values: number of distinct ``sample_id``.
    """
    _check_frame(frame, ("y_true", "sample_id"))
    names = _class_names(frame, class_names)
    unique = frame.drop_duplicates("sample_id")
    counts = np.bincount(unique["y_true"].to_numpy(dtype=np.int64), minlength=len(names))[: len(names)]
    return pd.Series(counts, index=pd.Index(names, name="class"), name="samples")


def per_class_metrics(frame, class_names=None):
    """Per-class precision, recall, F1 and support (scikit-learn, ``zero_division=0``).

    Parameters
    ----------
    frame : DataFrame
        Predictions of one model on one test set.
    class_names : sequence of str, optional
        Default: the ``prob_<class>`` columns of ``frame``.

    Returns
    -------
    DataFrame of shape (n_classes, 4)
        Index ``class``; columns ``precision``, ``recall``, ``f1``, ``support``
        (number of true samples).
    """
    from sklearn.metrics import precision_recall_fscore_support

    _check_frame(frame)
    names = _class_names(frame, class_names)
    p, r, f, s = precision_recall_fscore_support(
        frame["y_true"], frame["y_pred"], labels=list(range(len(names))), zero_division=0
    )
    return pd.DataFrame({"precision": p, "recall": r, "f1": f, "support": s.astype(int)},
                        index=pd.Index(names, name="class"))


def confused_pairs(counts, k=None, symmetric=False):
    """Off-diagonal confusions sorted from most to least frequent.

    Parameters
    ----------
    counts : DataFrame of shape (n_classes, n_classes)
        Confusion **counts** (:func:`confusion_frame` with ``normalize="none"``).
    k : int >= 1, optional
        Keep the ``k`` most frequent (default: every pair with at least one error).
    symmetric : bool, default=False
        ``False``: ordered pairs ``true -> predicted`` with ``rate`` = count /
        samples of the true class. ``True``: unordered pairs ``{a, b}`` with
        count = both directions and ``rate`` = count / (samples of a + of b).

    Returns
    -------
    DataFrame
        Columns ``true``, ``predicted`` (``a``, ``b`` when symmetric),
        ``count``, ``rate``; sorted by ``rate`` then ``count`` (descending),
        ties by class order. Pairs with ``count == 0`` are left out.
    """
    if not isinstance(counts, pd.DataFrame) or counts.shape[0] != counts.shape[1]:
        raise ValueError("counts must be a square confusion-count DataFrame (rows true, columns predicted)")
    c = counts.to_numpy(dtype=float)
    names = list(counts.index)
    support = c.sum(axis=1)
    rows = []
    n = len(names)
    for i in range(n):
        for j in range(n):
            if i == j or (symmetric and j < i):
                continue
            if symmetric:
                count, denom = c[i, j] + c[j, i], support[i] + support[j]
                rows.append({"a": names[i], "b": names[j], "count": int(count),
                             "rate": count / denom if denom else np.nan, "_order": i * n + j})
            else:
                rows.append({"true": names[i], "predicted": names[j], "count": int(c[i, j]),
                             "rate": c[i, j] / support[i] if support[i] else np.nan, "_order": i * n + j})
    cols = ["a", "b", "count", "rate"] if symmetric else ["true", "predicted", "count", "rate"]
    out = pd.DataFrame(rows, columns=cols + ["_order"])
    out = out[out["count"] > 0].sort_values(["rate", "count", "_order"], ascending=[False, False, True])
    out = out.drop(columns="_order").reset_index(drop=True)
    if k is not None:
        out = out.head(check_positive_int("k", k))
    return out


def focus_pair_rates(counts, pairs=FOCUS_PAIRS):
    """How often each pair of :data:`FOCUS_PAIRS` is confused, in both directions.

    Parameters
    ----------
    counts : DataFrame of shape (n_classes, n_classes)
        Confusion **counts**; class names of either data set (matched with
        :func:`canonical_class`).
    pairs : sequence of (str, str), default=FOCUS_PAIRS
        FER-2013 class names.

    Returns
    -------
    DataFrame of shape (len(pairs), 9)
        ``pair`` ("fear/surprise"), ``a``, ``b`` (the names used in ``counts``),
        ``present`` (both classes exist and have samples), ``n_a``, ``n_b``
        (samples), ``a_as_b``, ``b_as_a`` (counts), ``rate_a_as_b``,
        ``rate_b_as_a`` (fractions of the true class; NaN when absent).
    """
    if not isinstance(counts, pd.DataFrame) or counts.shape[0] != counts.shape[1]:
        raise ValueError("counts must be a square confusion-count DataFrame (rows true, columns predicted)")
    lookup = {canonical_class(n): n for n in counts.index}
    rows = []
    for pa, pb in pairs:
        a, b = lookup.get(pa), lookup.get(pb)
        row = {"pair": f"{pa}/{pb}", "a": a or pa, "b": b or pb, "present": False, "n_a": 0, "n_b": 0,
               "a_as_b": 0, "b_as_a": 0, "rate_a_as_b": np.nan, "rate_b_as_a": np.nan}
        if a is not None and b is not None:
            n_a, n_b = int(counts.loc[a].sum()), int(counts.loc[b].sum())
            row.update(n_a=n_a, n_b=n_b, a_as_b=int(counts.loc[a, b]), b_as_a=int(counts.loc[b, a]),
                       present=bool(n_a > 0 and n_b > 0))
            if n_a:
                row["rate_a_as_b"] = counts.loc[a, b] / n_a
            if n_b:
                row["rate_b_as_a"] = counts.loc[b, a] / n_b
        rows.append(row)
    return pd.DataFrame(rows)


def select_errors(frame, true_class, pred_class, n=6, order="confident", seed=0, class_names=None):
    """Pick examples of one confusion (``true_class`` predicted as ``pred_class``).

    Parameters
    ----------
    frame : DataFrame
        Predictions with ``sample_id`` and ``prob_<class>`` columns.
    true_class, pred_class : str
        Class names (as in ``frame``).
    n : int >= 1, default=6
    order : {"confident", "random"}, default="confident"
        ``"confident"``: the errors with the highest probability of the wrong
        class first (ties by ``sample_id``); ``"random"``: a seeded draw.
    seed : int, default=0
        Seed of the ``"random"`` draw.
    class_names : sequence of str, optional

    Returns
    -------
    DataFrame
        At most ``n`` rows of ``frame`` (one per ``sample_id``: a sample that
        is misclassified under several seeds is kept once, at its most
        confident error), with a ``confidence`` column (probability of
        ``pred_class``).
    """
    _check_frame(frame, ("y_true", "y_pred", "sample_id"))
    names = _class_names(frame, class_names)
    check_option("true_class", true_class, names)
    check_option("pred_class", pred_class, names)
    check_option("order", order, EXAMPLE_ORDERS)
    n = check_positive_int("n", n)
    i, j = names.index(true_class), names.index(pred_class)
    errors = frame[(frame["y_true"] == i) & (frame["y_pred"] == j)].copy()
    errors["confidence"] = errors[f"prob_{pred_class}"].astype(float) if f"prob_{pred_class}" in errors else np.nan
    errors = errors.sort_values(["confidence", "sample_id"], ascending=[False, True], kind="mergesort")
    errors = errors.drop_duplicates("sample_id", keep="first")
    if order == "random" and len(errors) > n:
        pick = np.sort(np.random.default_rng(seed).choice(len(errors), size=n, replace=False))
        errors = errors.iloc[pick]
    return errors.head(n).reset_index(drop=True)


def calibration(frame, n_bins=10, class_names=None):
    """Reliability curve and expected calibration error of one model's probabilities.

    Thin wrapper of :func:`fer_lib.evaluate.stats.reliability_curve` and
    :func:`fer_lib.evaluate.stats.expected_calibration_error` over the ``prob_<class>``
    columns (pooled over folds and seeds).

    Returns
    -------
    curve : fer_lib.evaluate.stats.ReliabilityCurve
    ece : float
    """
    from fer_lib.evaluate.stats import expected_calibration_error, reliability_curve

    _check_frame(frame)
    names = _class_names(frame, class_names)
    probs = frame[[f"prob_{c}" for c in names]].to_numpy(dtype=float)
    labels = frame["y_true"].to_numpy()
    return reliability_curve(probs, labels, n_bins), expected_calibration_error(probs, labels, n_bins)


def sample_images(data, sample_ids, expected=None):
    """Images of test samples, looked up by their ``sample_id``.

    * FER-2013 (:class:`~fer_lib.data.fer2013.FER2013Data`): ``sample_id`` is the
      0-based row of the image in the loaded data (the CSV order of
      :func:`~fer_lib.data.fer2013.load_fer2013`, all splits together).
    * CK+48 (:class:`~fer_lib.data.ckplus.CKPlus48Data`): ``sample_id`` is the
      sequence id (``S###_###``); the apex (last) frame is returned.

    Parameters
    ----------
    data : FER2013Data or CKPlus48Data
    sample_ids : sequence of str
    expected : sequence of str, optional
        The true class name of each sample according to the predictions; the
        lookup is checked against the data's labels (compared with
        :func:`canonical_class`, so cross-data-set names match).

    Returns
    -------
    images : ndarray of shape (n, H, W), uint8
    matches : ndarray of shape (n,), bool
        True where the data's label equals ``expected`` (all True without it).

    Raises
    ------
    ValueError
        Unknown data type, or a sample id that is not in the data.
    """
    ids = [str(s) for s in sample_ids]
    if hasattr(data, "clips") and hasattr(data, "sequence_ids"):
        index = {str(s): k for k, s in enumerate(data.sequence_ids)}
        missing = [s for s in ids if s not in index]
        if missing:
            raise ValueError(f"sample_ids must be CK+48 sequence ids of the data; unknown {missing[:5]}")
        rows = [index[s] for s in ids]
        images = data.clips[rows, -1] if rows else np.zeros((0, *data.clips.shape[2:]), np.uint8)
    elif hasattr(data, "images") and hasattr(data, "usage"):
        bad = [s for s in ids if not s.isdigit() or int(s) >= len(data.images)]
        if bad:
            raise ValueError(
                f"sample_ids must be FER-2013 row numbers in [0, {len(data.images) - 1}]; got {bad[:5]}"
            )
        rows = [int(s) for s in ids]
        images = data.images[rows] if rows else np.zeros((0, *data.images.shape[1:]), np.uint8)
    else:
        raise ValueError(f"data must be FER2013Data or CKPlus48Data; got {type(data).__name__}")
    if expected is None:
        return images, np.ones(len(ids), dtype=bool)
    if len(expected) != len(ids):
        raise ValueError(f"expected must have one class name per sample id ({len(ids)}); got {len(expected)}")
    actual = [canonical_class(data.class_names[data.labels[r]]) for r in rows]
    matches = np.array([a == canonical_class(e) for a, e in zip(actual, expected)], dtype=bool)
    return images, matches


def load_image_sources(data_dir, datasets):
    """Load the data sets whose images the error examples need.

    Parameters
    ----------
    data_dir : str or Path
        The resolved data folder.
    datasets : iterable of str
        Data set names of the predictions (``"fer2013"``, ``"ckplus48"``, and those of
        :data:`IMAGE_SOURCES`; others are reported absent).

    Returns
    -------
    sources : dict of str to FER2013Data or CKPlus48Data
    absent : dict of str to str
        Data set -> why its images cannot be shown.
    """
    from fer_lib.core.errors import DataError
    from fer_lib.data.ckplus import find_ckplus48, load_ckplus48
    from fer_lib.data.fer2013 import find_fer2013, load_fer2013

    loaders = {"fer2013": lambda: load_fer2013(find_fer2013(data_dir)),
               "ckplus48": lambda: load_ckplus48(find_ckplus48(data_dir))}
    sources, absent = {}, {}
    for name in sorted(set(datasets)):
        source = IMAGE_SOURCES.get(name, name)
        if source not in loaders:
            absent[name] = f"no image lookup for {name!r} (allowed: {sorted(IMAGE_SOURCES) + sorted(loaders)})"
            continue
        try:
            if source not in sources:
                sources[source] = loaders[source]()
            sources[name] = sources[source]
        except DataError as exc:
            absent[name] = str(exc)
    return {k: v for k, v in sources.items() if k in set(datasets)}, absent


def error_example_rows(frame, arm_label, data, pairs=FOCUS_PAIRS, n=6, order="confident", seed=0):
    """Rows of :func:`plot_error_examples` for the focus pairs of one model on one test set.

    For each pair of ``pairs`` present in ``frame`` and each direction
    (``a -> b`` and ``b -> a``), up to ``n`` errors from :func:`select_errors`
    with their images from :func:`sample_images`.

    Parameters
    ----------
    frame : DataFrame
        Predictions of one arm on one test set.
    arm_label : str
        Shown at the start of each row label.
    data : FER2013Data or CKPlus48Data
        The images (see :func:`sample_images` for the ``sample_id`` convention).
    pairs, n, order, seed
        As :func:`focus_pair_rates` and :func:`select_errors`.

    Returns
    -------
    rows : list of (str, ndarray, list of str)
    n_mismatched : int
        Examples whose label in ``data`` differs from ``y_true`` (left out:
        a sign that ``sample_id`` does not follow the convention).
    """
    names = class_names_of(frame)
    lookup = {canonical_class(c): c for c in names}
    rows, mismatched = [], 0
    for pa, pb in pairs:
        if pa not in lookup or pb not in lookup:
            continue
        for t, p in ((lookup[pa], lookup[pb]), (lookup[pb], lookup[pa])):
            errors = select_errors(frame, t, p, n=n, order=order, seed=seed)
            if errors.empty:
                continue
            images, ok = sample_images(data, errors["sample_id"], expected=[t] * len(errors))
            mismatched += int((~ok).sum())
            titles = [f"{sid}\np={c:.2f}" for sid, c in zip(errors["sample_id"][ok], errors["confidence"][ok])]
            rows.append((f"{arm_label}\n{t} → {p}", images[ok], titles))
    return rows, mismatched


# --------------------------------------------------------------------------- #
# Figures (each returns the matplotlib Figure)
# --------------------------------------------------------------------------- #
def _plt():
    import matplotlib.pyplot as plt

    return plt


def plot_confusion_panels(matrices, suptitle=None, size=3.0, annot=True):
    """Row-normalised confusion matrices side by side, on one colour scale (0-1).

    Parameters
    ----------
    matrices : dict of str to DataFrame
        Panel title -> matrix of :func:`confusion_frame` (``normalize="true"``).
    suptitle : str, optional
    size : float, default=3.0
        Inches per panel.
    annot : bool, default=True
        Write the percentages in the cells (empty for NaN rows).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import seaborn as sns

    plt = _plt()
    if not matrices:
        raise ValueError("matrices must hold at least 1 confusion matrix; got none")
    k = len(matrices)
    fig, axes = plt.subplots(1, k, figsize=(size * k + 1.0, size + 0.9), squeeze=False, layout="constrained")
    for n, (ax, (title, m)) in enumerate(zip(axes[0], matrices.items())):
        sns.heatmap(100 * m, ax=ax, vmin=0, vmax=100, cmap="Blues", square=True, annot=annot, fmt=".0f",
                    annot_kws={"fontsize": 8}, cbar=False)
        ax.set_title(title, fontsize=11)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true" if n == 0 else "")
        ax.tick_params(labelsize=9)
        ax.set_xticklabels(ax.get_xticklabels(), rotation=45, ha="right")
        ax.set_yticklabels(ax.get_yticklabels(), rotation=0)
    fig.colorbar(axes[0, 0].collections[0], ax=axes[0, :].tolist(), shrink=0.8, label="% of the true class")
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return fig


def plot_difference(diff, title=None, size=4.2):
    """Difference of two row-normalised confusion matrices, diverging colours centred on 0.

    Parameters
    ----------
    diff : DataFrame of shape (n_classes, n_classes)
        Output of :func:`difference_matrix` (fractions).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    import seaborn as sns

    plt = _plt()
    values = 100 * diff
    lim = float(np.nanmax(np.abs(values.to_numpy()))) if np.isfinite(values.to_numpy()).any() else 1.0
    lim = max(lim, 1.0)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    sns.heatmap(values, ax=ax, vmin=-lim, vmax=lim, center=0, cmap="RdBu_r", square=True, annot=True, fmt="+.0f",
                annot_kws={"fontsize": 7}, cbar_kws={"label": "difference (percentage points)", "shrink": 0.8})
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.tick_params(labelsize=8)
    ax.set_xticklabels(ax.get_xticklabels(), rotation=45, ha="right")
    ax.set_yticklabels(ax.get_yticklabels(), rotation=0)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_reliability(curves, title=None, size=4.0):
    """Reliability diagrams: accuracy against confidence per bin, one line per model.

    Parameters
    ----------
    curves : dict of str to (ReliabilityCurve, float)
        Model label -> (curve, ECE), as returned by :func:`calibration`.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Left: the diagram (the diagonal is perfect calibration; points sized by
        bin count). Right: how many samples fall in each confidence bin.
    """
    plt = _plt()
    if not curves:
        raise ValueError("curves must hold at least 1 reliability curve; got none")
    fig, (ax, axh) = plt.subplots(1, 2, figsize=(2 * size + 0.6, size), gridspec_kw={"width_ratios": [1.3, 1]})
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
    k = len(curves)
    for n, (label, (curve, ece)) in enumerate(curves.items()):
        ok = curve.count > 0
        line = ax.plot(curve.confidence[ok], curve.accuracy[ok], marker="o", lw=1.5, ms=4,
                       label=f"{label} (ECE {100 * ece:.1f}%)")[0]
        step = (curve.edges[1] - curve.edges[0]) / k  # k bars side by side in each bin
        axh.bar(curve.edges[:-1] + (n + 0.5) * step, curve.count, width=0.9 * step, color=line.get_color(),
                label=label)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (max probability)")
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=7, loc="upper left")
    axh.set_xlim(0, 1)
    axh.set_xlabel("confidence (max probability)")
    axh.set_ylabel("samples per bin")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def plot_error_examples(rows, suptitle=None, size=1.25):
    """A grid of misclassified samples: one row per confusion, its examples left to right.

    Parameters
    ----------
    rows : sequence of (str, ndarray of shape (k, H, W), sequence of str)
        Row label (e.g. ``"hybrid: fear → surprise"``), images, per-image titles.
    suptitle : str, optional
    size : float, default=1.25
        Inches per image.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when no row has an image.
    """
    plt = _plt()
    rows = [r for r in rows if len(r[1])]
    if not rows:
        return None
    ncols = max(len(r[1]) for r in rows)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(ncols * size + 2.2, len(rows) * size * 1.25),
                             squeeze=False)
    for r, (label, images, titles) in enumerate(rows):
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(images):
                ax.imshow(images[c], cmap="gray", vmin=0, vmax=255)
                ax.set_title(titles[c], fontsize=7)
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig
