"""Test sets and arms: which predictions are compared, and the headline accuracy of each arm.

All numbers come from the predictions tables that the model notebooks save
(:mod:`fer_lib.evaluate.predictions`), so this module works with whatever
subset of them a run holds. Rules fixed here once (so that every notebook and
the results page agree):

* **Test sets.** Predictions are grouped by ``(dataset, protocol)``
  (:func:`collect_test_sets`), pooling the notebooks that predicted them. Only the
  **report splits** (:data:`REPORT_SPLITS`) enter comparisons and headline
  numbers: FER-2013 *PublicTest* selects models and is never reported.
* **Arms.** An *arm* is one ``(model family, variant)``. The **primary
  variant** of each family (:func:`primary_variant`) is the first of
  :data:`PRIMARY_VARIANTS` present in the test set, else the first present in
  sorted order. When notebook 05 trained the matched spatial control, the
  hybrid has a second spatial partner (:func:`matched_control_arms`).
* **Headline numbers.** Accuracies are pooled over a seed's test folds (each
  clip is tested once per seed; :func:`seed_accuracies`) and then averaged over
  seeds (:func:`headline_table`).

The comparisons of arms are in :mod:`fer_lib.report.paired_tests`.
"""

import fnmatch
import warnings
from types import MappingProxyType

import numpy as np
import pandas as pd

from fer_lib.core.validation import check_option
from fer_lib.evaluate.predictions import (
    MODEL_FAMILIES,
    SPATIAL_CONTROL_VARIANT,
    class_lists,
    metrics_table,
)

__all__ = [
    "PRIMARY_VARIANTS",
    "REPORT_SPLITS",
    "TRAINED_ON",
    "DATASET_NAMES",
    "MODEL_NOTEBOOKS",
    "collect_test_sets",
    "sort_by_family",
    "report_rows",
    "is_cross",
    "set_label",
    "select_arm",
    "primary_variant",
    "matched_control_arms",
    "primary_arms",
    "primary_arm_rows",
    "iter_primary_arms",
    "arms_table",
    "seed_accuracies",
    "headline_table",
]

#: preference (see :func:`primary_variant`). Spatial: ``transfer`` (the CK+
#: per-frame CNN initialised from the FER-2013 model), then notebook 03's
#: FER-2013 model trained with our recipe (``<model>-ours``; ``<model>-cpu``
#: on the real-cpu preset, ``<model>-short`` on its earlier runs,
#: ``<model>-smoke`` on the smoke preset) rather than
#: the seed papers' recipe
#: (``<model>-paper``); temporal: ``lstm``; hybrid: ``cnn-rnn`` (the seed
#: papers' design). ``"*"`` ends each list: any variant, in sorted order.
PRIMARY_VARIANTS = MappingProxyType(
    {
        "spatial": ("transfer", "*-ours", "*-cpu", "*-short", "*-smoke", "*"),
        "temporal": ("lstm", "*"),
        "hybrid": ("cnn-rnn", "*"),
        "landmarks": ("trajectory", "*"),
    }
)

#: Splits on which results are reported and compared. FER-2013 *PublicTest*
#: is the model-selection split and is left out; ``Test`` is the merged test
#: split of FER-2013's image-folder release; ``test`` is a CK+ test fold;
#: ``all`` is a whole data set used as a test set (cross-data-set evaluation);
#: ``first100pct`` is the whole-sequence view of the CK+ sequences (the
#: shorter onset-to-apex views ``first25pct``... are analysed by notebooks 04
#: and 05, see :func:`fer_lib.faces.sequences.prefix_split`).
REPORT_SPLITS = ("PrivateTest", "Test", "test", "all", "first100pct")

#: Test-only data sets and the data set whose folds trained the models that
#: predict them (the CK+ sequences are predicted by the CK+48 fold models).
TRAINED_ON = MappingProxyType({"ckplus_sequences": "ckplus48"})

#: Display names of the data sets.
DATASET_NAMES = MappingProxyType({"fer2013": "FER-2013", "ckplus48": "CK+48", "ckplus_sequences": "CK+ sequences"})

#: The model notebooks whose predictions the study compares, and the family each one trains.
MODEL_NOTEBOOKS = MappingProxyType({"03_spatial_baseline": "spatial", "04_temporal": "temporal", "05_hybrid": "hybrid"})


# --------------------------------------------------------------------------- #
# Test sets and arms
# --------------------------------------------------------------------------- #
def _frames_of(predictions):
    if isinstance(predictions, pd.DataFrame):
        return {"predictions": predictions}
    if not isinstance(predictions, dict):
        raise ValueError(
            "predictions must be a DataFrame or a dict {notebook: DataFrame} (load_run_predictions); "
            f"got {type(predictions).__name__}"
        )
    return predictions


def _check_class_order(names, part, notebook, key):
    """Refuse a class list that does not reproduce ``y_pred = argmax(prob_*)``.

    :func:`fer_lib.evaluate.predictions.predictions_frame` sets ``y_pred`` that way, so a
    disagreement means the ``prob_<class>`` columns do not follow the class
    list that ``y_true`` indexes (a table assembled by hand, not saved with
    :func:`fer_lib.evaluate.predictions.save_predictions`).
    """
    probs = part[[f"prob_{c}" for c in names]].to_numpy(dtype=float)
    agree = float((probs.argmax(axis=1) == part["y_pred"].to_numpy()).mean())
    if agree < 0.99:
        raise ValueError(
            f"{notebook}: the class order {list(names)} of {key} does not reproduce y_pred = argmax(prob_*) "
            f"({100 * agree:.0f}% agree); save tables of several class sets with "
            "fer_lib.evaluate.predictions.save_predictions, which keeps each set's class list (a table saved by an "
            "older fer_lib: run its notebook again)"
        )


def collect_test_sets(predictions):
    """Group predictions by test set, pooling notebooks, with only that set's class columns.

    A notebook that predicts several data sets saves one table whose
    ``prob_<class>`` columns are the union of their class sets (NaN elsewhere);
    this keeps, for each ``(dataset, protocol)``, the probability columns of
    its class list (:func:`fer_lib.evaluate.predictions.class_lists`), in that order.

    Parameters
    ----------
    predictions : dict of str to DataFrame, or DataFrame
        Output of :func:`fer_lib.evaluate.predictions.load_run_predictions` (or one table).

    Returns
    -------
    dict of (str, str) to DataFrame
        ``{(dataset, protocol): predictions}``, sorted by key; each table has a
        ``notebook`` column and the class columns of its set, in order.

    Raises
    ------
    ValueError
        When two notebooks predict one test set with different classes (or
        class orders), or a set has fewer than 2 filled class columns.

    Warns
    -----
    UserWarning
        For a table that lacks the columns of :mod:`fer_lib.evaluate.predictions`
        (it is left out).
    """
    groups, classes = {}, {}
    required = {"dataset", "protocol", "model", "variant", "seed", "fold", "split", "sample_id", "y_true", "y_pred"}
    for notebook, frame in _frames_of(predictions).items():
        missing = sorted(required - set(frame.columns))
        if missing:
            warnings.warn(f"{notebook}: predictions.parquet is not in the format of fer_lib.evaluate.predictions "
                          f"(missing {missing}); left out", stacklevel=2)
            continue
        if frame.empty:
            continue
        if "notebook" not in frame.columns:
            frame = frame.assign(notebook=notebook)
        prob_cols = [c for c in frame.columns if c.startswith("prob_")]
        lists = class_lists(frame)
        for key, part in frame.groupby(["dataset", "protocol"], sort=True):
            names = lists[key]
            filled = [f"prob_{c}" for c in names]
            if len(names) < 2 or not all(c in prob_cols and part[c].notna().all() for c in filled):
                raise ValueError(
                    f"{notebook}: predictions of {key} must have at least 2 filled prob_<class> columns, one per "
                    f"class of {list(names)}; got filled {[c for c in prob_cols if part[c].notna().all()]}"
                )
            _check_class_order(names, part, notebook, key)
            if key in classes and classes[key][1] != names:
                raise ValueError(
                    f"{key} is predicted with different classes by {classes[key][0]} {list(classes[key][1])} "
                    f"and {notebook} {list(names)}; they must use the same class list"
                )
            classes[key] = (notebook, names)
            other = [c for c in frame.columns if c not in prob_cols]
            groups.setdefault(key, []).append(part[other + filled])
    return {key: pd.concat(groups[key], ignore_index=True) for key in sorted(groups)}


def sort_by_family(frame, by=("dataset", "protocol")):
    """Rows sorted by ``by``, then model family in :data:`MODEL_FAMILIES` order, primary variant first.

    Needs ``model`` and ``variant`` columns (and ``primary`` when present).
    """
    order = {m: k for k, m in enumerate(MODEL_FAMILIES)}
    keys = [c for c in by if c in frame.columns] + ["_family"]
    asc = [True] * len(keys)
    if "primary" in frame.columns:
        keys.append("primary")
        asc.append(False)
    keys.append("variant")
    asc.append(True)
    out = frame.assign(_family=frame["model"].map(order)).sort_values(keys, ascending=asc, kind="mergesort")
    return out.drop(columns="_family").reset_index(drop=True)


def report_rows(frame, splits=REPORT_SPLITS):
    """The rows of a test set that are reported (split in :data:`REPORT_SPLITS`)."""
    return frame[frame["split"].isin(splits)]


def is_cross(protocol):
    """True for a cross-data-set protocol (``"cross:<train dataset>"``)."""
    return str(protocol).startswith("cross:")


def set_label(dataset, protocol):
    """Readable name of a test set, e.g. ``"CK+48, 7class"`` or ``"CK+48, trained on FER-2013"``."""
    name = DATASET_NAMES.get(dataset, dataset)
    if is_cross(protocol):
        source = protocol.split(":", 1)[1]
        return f"{name}, trained on {DATASET_NAMES.get(source, source)}"
    if protocol == "canonical":
        return name
    return f"{name}, {protocol}"


def select_arm(frame, model, variant=None, split=None, seed=None):
    """Rows of one arm (``model`` family and ``variant``), optionally of one split and seed.

    ``variant=None`` selects the family's :func:`primary_variant`.

    Returns
    -------
    DataFrame
        Possibly empty.
    """
    check_option("model", model, MODEL_FAMILIES)
    if variant is None:
        variant = primary_variant(frame, model)
    mask = (frame["model"] == model) & (frame["variant"] == variant)
    if split is not None:
        mask &= frame["split"] == split
    if seed is not None:
        mask &= frame["seed"] == seed
    return frame[mask]


def primary_variant(frame, model):
    """The variant that stands for a model family in a test set.

    The first variant present in ``frame`` that matches the patterns of
    ``PRIMARY_VARIANTS[model]``, tried in order (within a pattern, in sorted
    order); a family without patterns takes its first variant in sorted order.

    Parameters
    ----------
    frame : DataFrame
        Predictions of one test set.
    model : {"spatial", "temporal", "hybrid"}

    Returns
    -------
    str or None
        None when the family has no predictions in ``frame``.
    """
    check_option("model", model, MODEL_FAMILIES)
    present = sorted(frame.loc[frame["model"] == model, "variant"].astype(str).unique())
    if not present:
        return None
    for pattern in PRIMARY_VARIANTS.get(model, ()):
        matched = fnmatch.filter(present, pattern)
        if matched:
            return matched[0]
    return present[0]


def matched_control_arms(frame, splits=REPORT_SPLITS):
    """The hybrid's primary arm and its matched spatial control, when a test set holds both.

    The control (:data:`~fer_lib.evaluate.predictions.SPATIAL_CONTROL_VARIANT`, trained
    by notebook 05) is the hybrid's own CNN recipe applied per frame with the
    frames averaged: it differs from the hybrid only by the recurrent part,
    so ``hybrid - control`` measures what temporal modelling adds to that CNN.

    Parameters
    ----------
    frame : DataFrame
        Predictions of one test set.
    splits : sequence of str, default=REPORT_SPLITS

    Returns
    -------
    dict of str to str or None
        ``{"hybrid": <primary hybrid variant>, "spatial": SPATIAL_CONTROL_VARIANT}``;
        None when either arm is absent, or when the control already is the
        spatial primary (the family comparison then covers it).
    """
    part = frame[frame["split"].isin(splits)]
    has_control = ((part["model"] == "spatial") & (part["variant"].astype(str) == SPATIAL_CONTROL_VARIANT)).any()
    hybrid = primary_variant(part, "hybrid")
    if not has_control or hybrid is None or primary_variant(part, "spatial") == SPATIAL_CONTROL_VARIANT:
        return None
    return {"hybrid": hybrid, "spatial": SPATIAL_CONTROL_VARIANT}


def primary_arms(frame):
    """``{family: primary variant}`` for the families present, in :data:`MODEL_FAMILIES` order."""
    out = {}
    for model in MODEL_FAMILIES:
        v = primary_variant(frame, model)
        if v is not None:
            out[model] = v
    return out


def primary_arm_rows(frame):
    """The reported rows of each primary arm of a test set: ``{(family, variant): rows}``.

    Parameters
    ----------
    frame : DataFrame
        Predictions of one test set (format of :mod:`fer_lib.evaluate.predictions`).

    Returns
    -------
    dict of (str, str) to DataFrame
        In :data:`MODEL_FAMILIES` order; the rows of :func:`report_rows` of
        the family's :func:`primary_variant`.
    """
    part = report_rows(frame)
    return {(model, variant): select_arm(part, model, variant) for model, variant in primary_arms(part).items()}


def iter_primary_arms(sets):
    """Every primary arm of every test set, one at a time.

    Parameters
    ----------
    sets : dict of (str, str) to DataFrame
        ``{(dataset, protocol): predictions}`` (:func:`collect_test_sets`).

    Yields
    ------
    dataset, protocol, model, variant : str
    rows : DataFrame
        The arm's reported rows (:func:`primary_arm_rows`); test sets in the
        order of ``sets``, families in :data:`MODEL_FAMILIES` order.
    """
    for (dataset, protocol), frame in sets.items():
        for (model, variant), rows in primary_arm_rows(frame).items():
            yield dataset, protocol, model, variant, rows


def arms_table(frame, splits=REPORT_SPLITS):
    """What a test set holds: one row per arm.

    Returns
    -------
    DataFrame
        Columns ``model``, ``variant``, ``primary`` (bool), ``notebook``,
        ``splits``, ``seeds``, ``folds`` (number of distinct test folds; 0 for
        a single test split), ``n_samples`` (distinct samples).
    """
    part = frame[frame["split"].isin(splits)]
    primaries = primary_arms(part)
    rows = []
    for (model, variant), g in part.groupby(["model", "variant"], sort=False):
        folds = sorted(set(g["fold"].tolist()) - {-1})
        rows.append({
            "model": model, "variant": variant, "primary": primaries.get(model) == variant,
            "notebook": ", ".join(sorted(g["notebook"].unique())) if "notebook" in g else "",
            "splits": ", ".join(sorted(g["split"].unique())),
            "seeds": ", ".join(str(s) for s in sorted(g["seed"].unique())),
            "folds": len(folds), "n_samples": int(g["sample_id"].nunique()),
        })
    out = pd.DataFrame(rows, columns=["model", "variant", "primary", "notebook", "splits", "seeds", "folds",
                                      "n_samples"])
    order = {m: k for k, m in enumerate(MODEL_FAMILIES)}
    out = out.sort_values(["model", "primary", "variant"], key=lambda s: s.map(order) if s.name == "model" else s,
                          ascending=[True, False, True])
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- #
# Headline numbers
# --------------------------------------------------------------------------- #
def seed_accuracies(part):
    """Accuracy per seed, pooled over the seed's test folds.

    Parameters
    ----------
    part : DataFrame
        Predictions of one arm on one split (:func:`select_arm`).

    Returns
    -------
    Series
        Indexed by seed.
    """
    correct = (part["y_true"] == part["y_pred"]).astype(float)
    return correct.groupby(part["seed"]).mean()


def headline_table(sets, splits=REPORT_SPLITS):
    """Accuracy and macro-F1 of every arm on every test set.

    Parameters
    ----------
    sets : dict of (str, str) to DataFrame
        Output of :func:`collect_test_sets`.
    splits : sequence of str, default=REPORT_SPLITS

    Returns
    -------
    DataFrame
        One row per ``(dataset, protocol, split, model, variant)`` with
        ``primary``, ``accuracy`` (pooled over the test folds of a seed, then
        averaged over seeds), ``macro_f1`` (same), ``seed_sd`` (sd of the
        per-seed accuracy, ddof=1; NaN with one seed), ``fold_sd`` (sd over
        folds of the seed-averaged fold accuracy; NaN without folds),
        ``n_seeds``, ``n_folds``, ``n_samples`` (distinct test samples).
    """
    rows = []
    for (dataset, protocol), frame in sets.items():
        part = frame[frame["split"].isin(splits)]
        primaries = primary_arms(part)
        for (split, model, variant), g in part.groupby(["split", "model", "variant"], sort=True):
            per_seed = metrics_table(g, by=("seed",))
            folds = sorted(set(g["fold"].tolist()) - {-1})
            fold_sd = np.nan
            if len(folds) > 1:
                per_fold = metrics_table(g, by=("seed", "fold")).groupby("fold")["accuracy"].mean()
                fold_sd = float(per_fold.std(ddof=1))
            rows.append({
                "dataset": dataset, "protocol": protocol, "split": split, "model": model, "variant": variant,
                "primary": primaries.get(model) == variant,
                "accuracy": float(per_seed["accuracy"].mean()), "macro_f1": float(per_seed["macro_f1"].mean()),
                "seed_sd": float(per_seed["accuracy"].std(ddof=1)) if len(per_seed) > 1 else np.nan,
                "fold_sd": fold_sd, "n_seeds": len(per_seed), "n_folds": len(folds),
                "n_samples": int(g["sample_id"].nunique()),
            })
    cols = ["dataset", "protocol", "split", "model", "variant", "primary", "accuracy", "macro_f1", "seed_sd",
            "fold_sd", "n_seeds", "n_folds", "n_samples"]
    out = pd.DataFrame(rows, columns=cols)
    order = {m: k for k, m in enumerate(MODEL_FAMILIES)}
    if len(out):
        out = out.assign(_m=out["model"].map(order)).sort_values(
            ["dataset", "protocol", "split", "_m", "primary", "variant"],
            ascending=[True, True, True, True, False, True],
        ).drop(columns="_m")
    return out.reset_index(drop=True)
