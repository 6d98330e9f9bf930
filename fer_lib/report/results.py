"""From every model's predictions to the study's answers: test sets, paired tests, claims, results page.

Used by notebooks 06 (confusion analysis) and 07 (paired tests), and by
:mod:`fer_lib.run.pipeline`, which writes the book's results page with
:func:`write_results_page`. All numbers come from the predictions tables that
the model notebooks save (:mod:`fer_lib.evaluate.predictions`), so this module works
with whatever subset of them a run holds.

Rules fixed here once (so that every notebook and the results page agree):

* **Test sets.** Predictions are grouped by ``(dataset, protocol)``
  (:func:`collect_test_sets`), pooling the notebooks that predicted them. Only the
  **report splits** (:data:`REPORT_SPLITS`) enter comparisons and headline
  numbers: FER-2013 *PublicTest* selects models and is never reported.
* **Arms.** An *arm* is one ``(model family, variant)``. The **primary
  variant** of each family (:func:`primary_variant`) is the first of
  :data:`PRIMARY_VARIANTS` present in the test set, else the first present in
  sorted order; the three family comparisons (:data:`FAMILY_COMPARISONS`) use
  the primary arms. When notebook 05 trained the matched spatial control,
  the hybrid is also compared with it (:func:`matched_control_arms`; its own
  Holm family). Other variants are compared with their family's primary.
* **Folds and seeds.** CK+ fold scores are averaged **over seeds within each
  fold first** (:func:`fold_scores`), so that every fold counts once and the
  arms are paired by fold. Headline accuracies are pooled over a seed's test
  folds (each clip is tested once per seed) and then averaged over seeds.
* **Levels of comparison** (:data:`TEST_LEVELS`): ``"fold"`` (paired t-test,
  Wilcoxon, Nadeau-Bengio corrected t-test over folds, Holm over the family
  comparisons), ``"seed"`` (paired t-test over per-seed accuracies),
  ``"sample"`` (McNemar, paired bootstrap and, for the record only, the seed
  papers' invalid per-sample t-test) -- see :mod:`fer_lib.evaluate.stats`.
"""

import fnmatch
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from fer_lib.core.validation import check_option, check_positive_int
from fer_lib.evaluate import stats
from fer_lib.evaluate.predictions import (
    MODEL_FAMILIES,
    SPATIAL_CONTROL_VARIANT,
    class_lists,
    metrics_table,
)

__all__ = [
    "iter_primary_arms",
    "PRIMARY_VARIANTS",
    "REPORT_SPLITS",
    "FAMILY_COMPARISONS",
    "TEST_LEVELS",
    "PAIRED_TEST_COLUMNS",
    "DATASET_NAMES",
    "TRAINED_ON",
    "FOLD_METRICS",
    "Claim",
    "CLAIMS",
    "CLAIM_COLUMNS",
    "CLAIM_KINDS",
    "cand_desc",
    "NOT_MEASURED",
    "RESULTS_NOTEBOOK",
    "MODEL_NOTEBOOKS",
    "naive_vs_valid",
    "combine_tests",
    "pvalue_summary",
    "plot_fold_scores",
    "collect_test_sets",
    "is_cross",
    "report_rows",
    "sort_by_family",
    "set_label",
    "select_arm",
    "primary_variant",
    "primary_arms",
    "matched_control_arms",
    "arms_table",
    "headline_table",
    "fold_split",
    "fold_scores",
    "fold_sizes",
    "fold_level_tests",
    "comparisons",
    "sample_level_tests",
    "seed_level_tests",
    "claims_vs_measured",
    "markdown_table",
    "results_markdown",
    "write_results_page",
]

#: Preferred variants of each model family, as ``fnmatch`` patterns in order of
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

#: The three comparisons of the study, ``(a, b)`` meaning ``a - b``.
FAMILY_COMPARISONS = (("hybrid", "spatial"), ("temporal", "spatial"), ("hybrid", "temporal"))

#: Levels at which two arms are compared (the ``level`` column of :data:`PAIRED_TEST_COLUMNS`).
TEST_LEVELS = ("fold", "seed", "sample")

#: Scores that :func:`fold_scores` computes per fold (columns of :func:`fer_lib.evaluate.predictions.metrics_table`).
FOLD_METRICS = ("accuracy", "macro_f1")

#: Columns of the paired-tests table of notebook 07 (``paired_tests.csv``).
PAIRED_TEST_COLUMNS = (
    "level", "dataset", "protocol", "split", "seed", "metric", "model_a", "variant_a", "model_b", "variant_b",
    "test", "statistic", "dof", "p", "p_holm", "reject", "mean_diff", "ci_low", "ci_high", "effect_size",
    "effect_size_name", "power", "n", "note",
)

#: Test-only data sets and the data set whose folds trained the models that
#: predict them (the CK+ sequences are predicted by the CK+48 fold models).
TRAINED_ON = MappingProxyType({"ckplus_sequences": "ckplus48"})

#: Display names of the data sets.
DATASET_NAMES = MappingProxyType({"fer2013": "FER-2013", "ckplus48": "CK+48", "ckplus_sequences": "CK+ sequences"})

#: The model notebooks whose predictions the study compares, and the family each one trains.
MODEL_NOTEBOOKS = MappingProxyType({"03_spatial_baseline": "spatial", "04_temporal": "temporal", "05_hybrid": "hybrid"})

#: Notebook whose outputs (``paired_tests.csv``, ``claims_vs_measured.csv``) the results page reads.
RESULTS_NOTEBOOK = "07_paired_tests"

#: Text of the ``measured`` column when a claim has no counterpart in the run.
NOT_MEASURED = "not measured in this run"


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
def _seed_accuracies(part):
    """Accuracy per seed, pooled over folds: Series indexed by seed."""
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


# --------------------------------------------------------------------------- #
# Fold level (CK+)
# --------------------------------------------------------------------------- #
def fold_split(frame):
    """The report split of a test set that holds CK+ test folds (``fold >= 0``), or None.

    ``"test"`` for CK+48 clips, ``"first100pct"`` for the whole-sequence view
    of the CK+ sequences.
    """
    part = frame[(frame["fold"] >= 0) & frame["split"].isin(REPORT_SPLITS)]
    present = set(part["split"])
    return next((s for s in REPORT_SPLITS if s in present), None)


def fold_scores(frame, arms, metric="accuracy", split=None):
    """Per-fold scores of several arms, averaged over seeds within each fold.

    Parameters
    ----------
    frame : DataFrame
        Predictions of one CK+ test set (:func:`collect_test_sets`).
    arms : dict of str to str
        Column name -> variant of that family, e.g. ``{"spatial": "transfer",
        "hybrid": "cnn-rnn"}`` (keys must be model families).
    metric : {"accuracy", "macro_f1"}, default="accuracy"
    split : str, optional
        Default: :func:`fold_split`.

    Returns
    -------
    DataFrame of shape (n_folds, len(arms))
        Index ``fold`` (only the folds every arm was tested on), one column per
        arm: the mean over that arm's seeds of the fold's score.

    Raises
    ------
    ValueError
        Unknown ``metric``, an arm without predictions, no common fold.
    """
    check_option("metric", metric, FOLD_METRICS)
    split = fold_split(frame) if split is None else split
    if not arms:
        raise ValueError("arms must name at least 1 (model family, variant); got none")
    cols = {}
    for model, variant in arms.items():
        part = select_arm(frame, model, variant, split=split)
        if part.empty:
            raise ValueError(f"no predictions of {model}/{variant} on split {split!r}")
        cols[model] = metrics_table(part, by=("seed", "fold")).groupby("fold")[metric].mean()
    scores = pd.DataFrame(cols).dropna()
    if scores.empty:
        raise ValueError(f"the arms {arms} share no test fold")
    scores.index = scores.index.astype(int)
    scores.index.name = "fold"
    return scores


def fold_sizes(frame, split=None, train_from=None):
    """Test and training sample counts of each CK+ fold, for the Nadeau-Bengio correction.

    ``n_test`` is the number of distinct samples tested in the fold;
    ``n_train`` follows :func:`fer_lib.train.folds.run_subject_folds`: all
    samples minus the test fold and its validation fold (the next fold in
    sorted order). Counted from the predictions (of ``split``, default
    :func:`fold_split`), so a run on a subset of folds gives approximate
    training sizes.

    Parameters
    ----------
    frame : DataFrame
        Predictions of one test set.
    split : str, optional
    train_from : DataFrame, optional
        For a test-only view (:data:`TRAINED_ON`, e.g. the CK+ sequences, tested
        by the models trained on the CK+48 folds): the predictions of the data
        set the models were trained on; ``n_train`` is counted from it.

    Returns
    -------
    DataFrame
        Index ``fold``; columns ``n_test``, ``n_train``.
    """
    if train_from is not None:
        out = fold_sizes(frame, split)
        trained = fold_sizes(train_from)["n_train"]
        out["n_train"] = trained.reindex(out.index).fillna(out["n_train"]).astype(int)
        return out
    split = fold_split(frame) if split is None else split
    part = frame[(frame["split"] == split) & (frame["fold"] >= 0)]
    if part.empty:
        raise ValueError(f"no fold predictions on split {split!r}")
    n_test = part.groupby("fold")["sample_id"].nunique().sort_index()
    folds = list(n_test.index)
    total = int(n_test.sum())
    n_train = [total - n_test.iloc[k] - n_test.iloc[(k + 1) % len(folds)] if len(folds) > 2
               else total - n_test.iloc[k] for k in range(len(folds))]
    out = pd.DataFrame({"n_test": n_test.to_numpy(), "n_train": np.maximum(n_train, 1)},
                       index=pd.Index(folds, name="fold"))
    return out


def _empty_tests():
    return pd.DataFrame(columns=list(PAIRED_TEST_COLUMNS))


def fold_level_tests(scores, sizes, arms, alpha=0.05, metric="accuracy", dataset="", protocol="", split="test"):
    """Paired t-test, Wilcoxon and corrected resampled t-test over folds, Holm over the comparisons.

    Runs :func:`fer_lib.evaluate.stats.compare_fold_scores` on the
    :data:`FAMILY_COMPARISONS` whose two families are columns of ``scores``,
    and adds the achieved power of each paired t-test
    (:func:`fer_lib.evaluate.stats.paired_ttest`).

    Parameters
    ----------
    scores : DataFrame of shape (n_folds, n_arms)
        Output of :func:`fold_scores` (at least 2 folds and 2 families).
    sizes : DataFrame
        Output of :func:`fold_sizes` (rows for the folds of ``scores``).
    arms : dict of str to str
        Family -> variant, written into the table.
    alpha : float, default=0.05
        Family-wise error rate of Holm; the CIs are at ``1 - alpha``.
    metric, dataset, protocol, split : str
        Written into the table.

    Returns
    -------
    DataFrame
        Columns :data:`PAIRED_TEST_COLUMNS`, ``level == "fold"``; empty when
        fewer than 2 folds or no comparison is available.
    """
    pairs = [(a, b) for a, b in FAMILY_COMPARISONS if a in scores.columns and b in scores.columns]
    if len(scores) < 2 or not pairs:
        return _empty_tests()
    sz = sizes.reindex(scores.index)
    out = stats.compare_fold_scores(scores, sz["n_train"].to_numpy(), sz["n_test"].to_numpy(), pairs=pairs,
                                    alpha=alpha, confidence=1 - alpha)
    power = {}
    for a, b in pairs:
        power[(a, b)] = stats.paired_ttest(scores[a].to_numpy(), scores[b].to_numpy(),
                                           confidence=1 - alpha).power
    out["power"] = [power[(a, b)] if t == "paired_ttest" else np.nan
                    for a, b, t in zip(out["model_a"], out["model_b"], out["test"])]
    out["variant_a"] = out["model_a"].map(arms)
    out["variant_b"] = out["model_b"].map(arms)
    out = out.assign(level="fold", dataset=dataset, protocol=protocol, split=split, seed=np.nan, metric=metric,
                     n=len(scores), note="")
    return out[list(PAIRED_TEST_COLUMNS)]


# --------------------------------------------------------------------------- #
# Sample and seed level (any test set)
# --------------------------------------------------------------------------- #
def comparisons(frame, splits=REPORT_SPLITS):
    """Pairs of arms to compare on a test set.

    The :data:`FAMILY_COMPARISONS` between the primary arms of the families
    present, then the hybrid against its matched spatial control
    (:func:`matched_control_arms`), then every non-primary variant against its
    family's primary.

    Returns
    -------
    list of ((str, str), (str, str))
        ``((model_a, variant_a), (model_b, variant_b))``, meaning ``a - b``.
    """
    part = frame[frame["split"].isin(splits)]
    primaries = primary_arms(part)
    out = [((a, primaries[a]), (b, primaries[b])) for a, b in FAMILY_COMPARISONS
           if a in primaries and b in primaries]
    control = matched_control_arms(part, splits=splits)
    if control is not None:
        out.append((("hybrid", control["hybrid"]), ("spatial", control["spatial"])))
    for model in MODEL_FAMILIES:
        if model not in primaries:
            continue
        others = sorted(set(part.loc[part["model"] == model, "variant"].astype(str)) - {primaries[model]})
        out += [((model, v), (model, primaries[model])) for v in others]
    return out


def _paired(frame, a, b, split, seed):
    """Per-sample correctness of arms a and b on the samples both predicted (one split, one seed)."""
    left = select_arm(frame, a[0], a[1], split=split, seed=seed)
    right = select_arm(frame, b[0], b[1], split=split, seed=seed)
    keys = ["fold", "sample_id"]
    merged = left[keys + ["y_true", "y_pred"]].merge(right[keys + ["y_true", "y_pred"]], on=keys,
                                                     suffixes=("_a", "_b"))
    if (merged["y_true_a"] != merged["y_true_b"]).any():
        bad = merged.loc[merged["y_true_a"] != merged["y_true_b"], "sample_id"].iloc[0]
        raise ValueError(f"{a} and {b} disagree on the true label of sample {bad!r}: they are not the same samples")
    unpaired = len(left) + len(right) - 2 * len(merged)
    correct_a = (merged["y_true_a"] == merged["y_pred_a"]).to_numpy()
    correct_b = (merged["y_true_b"] == merged["y_pred_b"]).to_numpy()
    return correct_a, correct_b, unpaired


def sample_level_tests(frame, a, b, n_boot=2000, confidence=0.95, seed=0, splits=REPORT_SPLITS,
                       dataset="", protocol=""):
    """McNemar, paired bootstrap and the naive per-sample t-test of two arms on one test set.

    For each report split and each seed that both arms ran (CK+: the test
    folds of a seed pooled, so every clip counts once), pairs the per-sample
    correctness on the samples both arms predicted and runs
    :func:`fer_lib.evaluate.stats.mcnemar_test` (exact when the discordant count is
    small), :func:`fer_lib.evaluate.stats.paired_bootstrap_diff` and
    :func:`fer_lib.evaluate.stats.naive_sample_ttest` (the seed papers' test, kept
    only to show what it does and does not mean).

    Parameters
    ----------
    frame : DataFrame
        Predictions of one test set.
    a, b : (str, str)
        ``(model, variant)`` of the two arms (differences are ``a - b``).
    n_boot : int >= 1, default=2000
    confidence : float in (0, 1), default=0.95
    seed : int >= 0, default=0
        Seed of the bootstrap.
    splits : sequence of str, default=REPORT_SPLITS
    dataset, protocol : str
        Written into the table.

    Returns
    -------
    DataFrame
        Columns :data:`PAIRED_TEST_COLUMNS`, ``level == "sample"``, three rows
        (``mcnemar``, ``paired_bootstrap``, ``naive_sample_ttest``) per split
        and seed; ``mean_diff`` is ``acc_a - acc_b``; ``note`` says how many
        samples could not be paired.
    """
    n_boot = check_positive_int("n_boot", n_boot)
    rows = []
    base = dict(level="sample", dataset=dataset, protocol=protocol, metric="accuracy", model_a=a[0],
                variant_a=a[1], model_b=b[0], variant_b=b[1], p_holm=np.nan, reject=np.nan, power=np.nan)
    for split in [s for s in splits if s in set(frame["split"])]:
        seeds_a = set(select_arm(frame, a[0], a[1], split=split)["seed"])
        seeds_b = set(select_arm(frame, b[0], b[1], split=split)["seed"])
        for s in sorted(seeds_a & seeds_b):
            ca, cb, unpaired = _paired(frame, a, b, split, s)
            if len(ca) < 2:
                continue
            note = f"{unpaired} predictions without a partner left out" if unpaired else ""
            common = dict(base, split=split, seed=int(s), n=len(ca))
            mc = stats.mcnemar_test(ca, cb)
            rows.append(dict(common, test="mcnemar", statistic=mc.statistic, dof=np.nan, p=mc.p,
                             mean_diff=mc.accuracy_a - mc.accuracy_b, ci_low=np.nan, ci_high=np.nan,
                             effect_size=np.nan, effect_size_name="",
                             note="; ".join(x for x in (f"{mc.method}, b={mc.b}, c={mc.c}", mc.note, note) if x)))
            bs = stats.paired_bootstrap_diff(ca, cb, n_boot=n_boot, confidence=confidence, seed=seed)
            rows.append(dict(common, test="paired_bootstrap", statistic=np.nan, dof=np.nan, p=bs.p_boot,
                             mean_diff=bs.diff, ci_low=bs.ci_low, ci_high=bs.ci_high, effect_size=np.nan,
                             effect_size_name="", note="; ".join(x for x in (f"{n_boot} resamples", note) if x)))
            nv = stats.naive_sample_ttest(ca, cb)
            rows.append(dict(common, test="naive_sample_ttest", statistic=nv.t, dof=float(nv.dof), p=nv.p,
                             mean_diff=nv.mean_diff, ci_low=np.nan, ci_high=np.nan, effect_size=np.nan,
                             effect_size_name="", note="; ".join(x for x in ("invalid: for comparison only",
                                                                            nv.note, note) if x)))
    return pd.DataFrame(rows, columns=list(PAIRED_TEST_COLUMNS)) if rows else _empty_tests()


def seed_level_tests(frame, a, b, splits=REPORT_SPLITS, confidence=0.95, dataset="", protocol=""):
    """Paired t-test over the per-seed accuracies of two arms (seeds both ran).

    A seed's accuracy is pooled over its test folds. Needs at least 2 common
    seeds; otherwise one row with ``test == "paired_ttest_seeds"``, NaN
    statistics and a ``note`` saying why.

    Returns
    -------
    DataFrame
        Columns :data:`PAIRED_TEST_COLUMNS`, ``level == "seed"``, one row per split.
    """
    rows = []
    for split in [s for s in splits if s in set(frame["split"])]:
        acc_a = _seed_accuracies(select_arm(frame, a[0], a[1], split=split))
        acc_b = _seed_accuracies(select_arm(frame, b[0], b[1], split=split))
        common = sorted(set(acc_a.index) & set(acc_b.index))
        if not common:
            continue
        row = dict(level="seed", dataset=dataset, protocol=protocol, split=split, seed=np.nan, metric="accuracy",
                   model_a=a[0], variant_a=a[1], model_b=b[0], variant_b=b[1], test="paired_ttest_seeds",
                   statistic=np.nan, dof=np.nan, p=np.nan, p_holm=np.nan, reject=np.nan,
                   mean_diff=float((acc_a[common] - acc_b[common]).mean()), ci_low=np.nan, ci_high=np.nan,
                   effect_size=np.nan, effect_size_name="d_z", power=np.nan, n=len(common), note="")
        if len(common) < 2:
            row["note"] = f"needs >= 2 seeds run by both arms; got {len(common)}"
        else:
            tt = stats.paired_ttest(acc_a[common].to_numpy(), acc_b[common].to_numpy(), confidence=confidence)
            row.update(statistic=tt.t, dof=float(tt.dof), p=tt.p, ci_low=tt.ci_low, ci_high=tt.ci_high,
                       effect_size=tt.d_z, power=tt.power, note=tt.note)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(PAIRED_TEST_COLUMNS)) if rows else _empty_tests()


def combine_tests(*tables):
    """Concatenate paired-test tables into one with the :data:`PAIRED_TEST_COLUMNS`.

    ``seed`` becomes a nullable integer (missing for fold-level rows) and
    ``reject`` a nullable boolean (missing where no correction applies).

    Returns
    -------
    DataFrame
    """
    parts = [t for t in tables if t is not None and len(t)]
    if not parts:
        return _empty_tests()
    out = pd.concat(parts, ignore_index=True)[list(PAIRED_TEST_COLUMNS)]
    out["seed"] = pd.array(out["seed"], dtype="Float64").astype("Int64")
    out["reject"] = pd.array([None if pd.isna(v) else bool(v) for v in out["reject"]], dtype="boolean")
    out["n"] = out["n"].astype(int)
    return out


def naive_vs_valid(tests):
    """The seed papers' per-sample t-test beside the tests that can support a conclusion.

    Parameters
    ----------
    tests : DataFrame
        Rows of :data:`PAIRED_TEST_COLUMNS` (fold- and sample-level results of
        the same comparisons).

    Returns
    -------
    DataFrame
        One row per sample-level comparison (test set, split, seed, arms) with
        ``naive_t``, ``naive_p`` (the invalid test), ``mcnemar_p``,
        ``diff`` / ``boot_low`` / ``boot_high`` (paired bootstrap CI of the
        accuracy difference) and, when the same arms were compared over folds,
        ``fold_ttest_p``, ``corrected_p`` and ``corrected_p_holm`` (accuracy).
    """
    keys = ["dataset", "protocol", "split", "seed", "model_a", "variant_a", "model_b", "variant_b"]
    cols = keys + ["n", "naive_t", "naive_p", "mcnemar_p", "diff", "boot_low", "boot_high", "fold_ttest_p",
                   "corrected_p", "corrected_p_holm"]
    samp = tests[tests["level"] == "sample"]
    if samp.empty:
        return pd.DataFrame(columns=cols)
    naive = samp[samp["test"] == "naive_sample_ttest"].set_index(keys)
    out = naive[["n"]].copy()
    out["naive_t"], out["naive_p"] = naive["statistic"], naive["p"]
    out["mcnemar_p"] = samp[samp["test"] == "mcnemar"].set_index(keys)["p"]
    boot = samp[samp["test"] == "paired_bootstrap"].set_index(keys)
    out["diff"], out["boot_low"], out["boot_high"] = boot["mean_diff"], boot["ci_low"], boot["ci_high"]
    out = out.reset_index()
    fold = tests[(tests["level"] == "fold") & (tests["metric"] == "accuracy")]
    fk = ["dataset", "protocol", "model_a", "variant_a", "model_b", "variant_b"]
    for test, names in (("paired_ttest", ["fold_ttest_p"]), ("corrected_resampled_ttest",
                                                             ["corrected_p", "corrected_p_holm"])):
        part = fold[fold["test"] == test][fk + ["p", "p_holm"]]
        part = part.rename(columns={"p": names[0], "p_holm": names[1] if len(names) > 1 else "_drop"})
        out = out.merge(part, on=fk, how="left").drop(columns=["_drop"], errors="ignore")
    return out[cols].sort_values(keys).reset_index(drop=True)


def pvalue_summary(tests):
    """The p-values of a paired-tests table as JSON-ready records (for ``summary.json``).

    Returns
    -------
    list of dict
        One dict per row with the identifying columns, ``test``, ``p`` and ``p_holm``
        (None for NaN).
    """
    keep = ["level", "dataset", "protocol", "split", "seed", "metric", "model_a", "variant_a", "model_b",
            "variant_b", "test", "p", "p_holm"]
    records = []
    for rec in tests[keep].to_dict(orient="records"):
        records.append({k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in rec.items()})
    return records


def plot_fold_scores(scores, title=None, ylabel="accuracy"):
    """Per-fold scores of the arms, one grey line per fold joining its paired scores.

    Parameters
    ----------
    scores : DataFrame of shape (n_folds, n_arms)
        Output of :func:`fold_scores`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    k = scores.shape[1]
    fig, ax = plt.subplots(figsize=(1.6 * k + 2.4, 3.6))
    x = np.arange(k)
    for fold, row in scores.iterrows():
        ax.plot(x, 100 * row.to_numpy(), color="grey", alpha=0.5, lw=1, marker="o", ms=3)
    means = 100 * scores.mean()
    ax.plot(x, means.to_numpy(), color="black", lw=2.5, marker="D", ms=7, label="mean over folds")
    ax.set_xticks(x, list(scores.columns))
    ax.set_xlim(-0.4, k - 0.6)
    ax.set_ylabel(f"{ylabel} (%)")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(title or f"{ylabel} per test fold ({len(scores)} folds; lines join a fold's scores)", fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- #
# Claims of the seed papers vs what this run measures
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Claim:
    """One headline number of a seed paper and where this study measures its counterpart.

    Attributes
    ----------
    claim_id : str
    source : str
        Which seed paper (``"seed paper A"`` / ``"seed paper B"``).
    claim : str
        What was claimed, in words.
    reported : float
        The number as reported (a percentage, or a t statistic).
    unit : {"%", "t"}
    protocol_reported : str
        The protocol as the paper reports it.
    kind : {"accuracy", "naive_ttest"}
        How the measured counterpart is computed.
    candidates : tuple of dict
        Configurations of this study tried in order (keys ``dataset``,
        ``protocol``, ``model``, optional ``variant``; for ``naive_ttest`` also
        ``model_b``); the first present in the run is measured.
    """

    claim_id: str
    source: str
    claim: str
    reported: float
    unit: str
    protocol_reported: str
    kind: str = "accuracy"
    candidates: tuple = field(default_factory=tuple)


#: How a claim's counterpart is measured (:attr:`Claim.kind`).
CLAIM_KINDS = ("accuracy", "naive_ttest")

_FER_SPATIAL = {"dataset": "fer2013", "protocol": "canonical", "model": "spatial"}
_FER_HYBRID = {"dataset": "fer2013", "protocol": "canonical", "model": "hybrid"}

#: The seed papers' headline numbers (as the issue quotes them), each with the
#: study configurations that come closest, tried in order.
CLAIMS = (
    Claim("A-ckplus-hybrid", "seed paper A", "CNN-LSTM hybrid on CK+", 88.4, "%",
          "CK+ accuracy as claimed; split (by subject or not) and model selection not stated in a checkable form",
          candidates=({"dataset": "ckplus48", "protocol": "7class", "model": "hybrid"},)),
    Claim("A-fer-spatial", "seed paper A", "spatial CNN on FER-2013", 80.0, "%",
          "FER-2013 accuracy as claimed; split and model selection not stated in a checkable form",
          candidates=(_FER_SPATIAL,)),
    Claim("B-fer-cnn-rnn", "seed paper B", "CNN-RNN on FER-2013", 86.7, "%",
          "FER-2013 accuracy as claimed; split and model selection not stated in a checkable form",
          candidates=({"dataset": "fer2013", "protocol": "canonical", "model": "hybrid", "variant": "cnn-rnn"},
                      _FER_HYBRID, _FER_SPATIAL)),
    Claim("B-fer-attention", "seed paper B", "CNN-RNN with attention on FER-2013", 87.5, "%",
          "FER-2013 accuracy as claimed; split and model selection not stated in a checkable form",
          candidates=({"dataset": "fer2013", "protocol": "canonical", "model": "hybrid", "variant": "attention"},
                      _FER_HYBRID, _FER_SPATIAL)),
    Claim("B-fer-augment", "seed paper B", "CNN-RNN with augmentation on FER-2013", 89.0, "%",
          "FER-2013 accuracy as claimed; split and model selection not stated in a checkable form",
          candidates=({"dataset": "fer2013", "protocol": "canonical", "model": "hybrid", "variant": "augment"},
                      _FER_HYBRID, _FER_SPATIAL)),
    Claim("B-own-videos", "seed paper B", "accuracy on the paper's own videos", 100.0, "%",
          "the authors' own videos, as claimed; not a test set this study can obtain", candidates=()),
    Claim("A-ttest", "seed paper A", "hybrid beats spatial: paired t-test", 7.82, "t",
          "paired t-test over test samples, t = 7.82, p < 0.05, n = number of test samples",
          kind="naive_ttest",
          candidates=({"dataset": "ckplus48", "protocol": "7class", "model": "hybrid", "model_b": "spatial"},
                      {"dataset": "fer2013", "protocol": "canonical", "model": "hybrid", "model_b": "spatial"})),
)

#: Columns of the claims table (``claims_vs_measured.csv``).
CLAIM_COLUMNS = ("claim_id", "source", "claim", "reported", "unit", "protocol_reported", "measured",
                 "measured_config", "protocol_measured", "note")


def _protocol_text(dataset, protocol, split, n_seeds, n_folds):
    seeds = f"mean of {n_seeds} seed{'s' if n_seeds != 1 else ''}"
    if dataset == "fer2013" and not is_cross(protocol):
        return f"FER-2013 {split}, trained on Training, selected on PublicTest; {seeds}"
    if n_folds:
        return (f"{set_label(dataset, protocol)}: {n_folds} subject-independent test folds, accuracy pooled "
                f"over the folds; {seeds}")
    return f"{set_label(dataset, protocol)} {split}; {seeds}"


def _find(sets, cand):
    frame = sets.get((cand["dataset"], cand["protocol"]))
    if frame is None:
        return None, None
    part = frame[frame["split"].isin(REPORT_SPLITS)]
    variant = cand.get("variant") or primary_variant(part, cand["model"])
    if variant is None or select_arm(part, cand["model"], variant).empty:
        return None, None
    return part, variant


def claims_vs_measured(sets):
    """The seed papers' claims (:data:`CLAIMS`) next to this run's closest measurements.

    For each claim, the first candidate configuration present in ``sets`` is
    measured: for accuracies, the headline accuracy of :func:`headline_table`
    (in %); for the t-test claim, :func:`fer_lib.evaluate.stats.naive_sample_ttest`
    between the hybrid and the spatial primary arms on the first seed both
    ran (reproducing the paper's computation), with the valid fold-level
    corrected resampled t-test beside it in ``note``.

    Parameters
    ----------
    sets : dict of (str, str) to DataFrame
        Output of :func:`collect_test_sets`.

    Returns
    -------
    DataFrame
        Columns :data:`CLAIM_COLUMNS`, one row per claim; ``measured`` is a
        number, or :data:`NOT_MEASURED` when no candidate is in the run.
    """
    rows = []
    for claim in CLAIMS:
        check_option("kind", claim.kind, CLAIM_KINDS)
        row = {"claim_id": claim.claim_id, "source": claim.source, "claim": claim.claim,
               "reported": claim.reported, "unit": claim.unit, "protocol_reported": claim.protocol_reported,
               "measured": NOT_MEASURED, "measured_config": "", "protocol_measured": "", "note": ""}
        if not claim.candidates:
            row["note"] = "no counterpart in this study (the paper's own videos are not part of it)"
        for k, cand in enumerate(claim.candidates):
            part, variant = _find(sets, cand)
            if part is None:
                continue
            arm = select_arm(part, cand["model"], variant)
            split = sorted(arm["split"].unique())[0]
            arm = arm[arm["split"] == split]
            config = f"{cand['model']}/{variant}"
            if "notebook" in arm.columns:
                config += f" ({', '.join(sorted(arm['notebook'].unique()))})"
            n_folds = len(set(arm["fold"]) - {-1})
            if claim.kind == "accuracy":
                acc = _seed_accuracies(arm)
                row.update(measured=round(100 * float(acc.mean()), 2), measured_config=config,
                           protocol_measured=_protocol_text(cand["dataset"], cand["protocol"], split, len(acc),
                                                            n_folds))
            else:
                variant_b = primary_variant(part, cand["model_b"])
                if variant_b is None:
                    continue
                seeds = sorted(set(arm["seed"]) & set(select_arm(part, cand["model_b"], variant_b, split)["seed"]))
                if not seeds:
                    continue
                ca, cb, _ = _paired(part, (cand["model"], variant), (cand["model_b"], variant_b), split, seeds[0])
                nv = stats.naive_sample_ttest(ca, cb)
                row.update(measured=round(nv.t, 2) if np.isfinite(nv.t) else "undefined (no variance)",
                           measured_config=f"{cand['model']}/{variant} vs {cand['model_b']}/{variant_b}",
                           protocol_measured=(f"{set_label(cand['dataset'], cand['protocol'])} {split}, seed "
                                              f"{seeds[0]}: paired t-test over n = {nv.n} test samples"))
                notes = [f"naive p = {nv.p:.3g}" if np.isfinite(nv.p) else "naive p undefined"]
                if n_folds > 1:
                    scores = fold_scores(part, {cand["model"]: variant, cand["model_b"]: variant_b}, split=split)
                    if len(scores) > 1:
                        sz = fold_sizes(part, split).reindex(scores.index)
                        nb = stats.corrected_resampled_ttest(scores[cand["model"]], scores[cand["model_b"]],
                                                             sz["n_train"].to_numpy(), sz["n_test"].to_numpy())
                        p_text = f"{nb.p:.3g}" if np.isfinite(nb.p) else "undefined"
                        notes.append(f"valid fold-level corrected resampled t-test over {nb.n} folds: "
                                     f"t = {nb.t:.2f}, p = {p_text}")
                row["note"] = "; ".join(notes)
            if k > 0 and claim.kind == "accuracy":
                row["note"] = (f"no {cand_desc(claim.candidates[0])} in this run; closest: "
                               f"{cand['model']}/{variant} on the same test set")
            break
        rows.append(row)
    return pd.DataFrame(rows, columns=list(CLAIM_COLUMNS))


def cand_desc(cand):
    """Words for a candidate configuration, e.g. ``"hybrid/attention on FER-2013"``."""
    arm = cand["model"] + (f"/{cand['variant']}" if cand.get("variant") else "")
    return f"{arm} on {set_label(cand['dataset'], cand['protocol'])}"


# --------------------------------------------------------------------------- #
# The results page of the book
# --------------------------------------------------------------------------- #
def _cell(value, fmt="{:.3g}"):
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, (float, np.floating)):
        return fmt.format(value)
    return str(value).replace("|", "/").replace("\n", " ")


def markdown_table(frame, formats=None):
    """A DataFrame as a Markdown (MyST) table; NaN shows as an en dash, ``|`` is escaped.

    Parameters
    ----------
    frame : DataFrame
    formats : dict of str to str, optional
        Column -> format string for floats (default ``"{:.3g}"``).

    Returns
    -------
    str
    """
    formats = formats or {}
    cols = list(frame.columns)
    lines = ["| " + " | ".join(str(c) for c in cols) + " |", "| " + " | ".join("---" for _ in cols) + " |"]
    for _, r in frame.iterrows():
        lines.append("| " + " | ".join(_cell(r[c], formats.get(c, "{:.3g}")) for c in cols) + " |")
    return "\n".join(lines)


def pct_text(x):
    """A fraction as a percentage with one decimal (``0.477`` -> ``"47.7"``); ``"–"`` for None or NaN."""
    return "–" if x is None or not np.isfinite(x) else f"{100 * x:.1f}"


def results_markdown(metrics):
    """The text of the book's results page, from a run's metrics.

    Parameters
    ----------
    metrics : dict
        Output of :func:`fer_lib.run.publish.study_metrics` (a run's
        ``metrics.json``): headline accuracies, notebook 07's paired tests and
        the claims-vs-measured rows.

    Returns
    -------
    str
        MyST Markdown.
    """
    synthetic = metrics.get("synthetic", False)
    data_text = ("the **synthetic** default data set (procedurally drawn faces: not real FER-2013 or CK+)"
                 if synthetic else "the real data sets (FER-2013, CK+)")
    out = [
        "# Results summary",
        "",
        f"This page is generated by `fer_lib.run.pipeline` (with `fer_lib.report.results`) from the run's `{METRICS_FILE}` "
        "(condensed from the predictions and test results saved in the run folder); it is not typed by hand.",
        "",
        f"- preset: `{metrics.get('preset')}`" + (f" ({metrics['preset_description']})"
                                                 if metrics.get("preset_description") else ""),
        f"- data: {data_text}",
        f"- commit: `{metrics.get('commit', 'unknown')}`",
        "",
    ]
    if synthetic:
        out += ["```{warning}",
                "These numbers come from the synthetic smoke data set and tiny CPU training runs. They check "
                "that the machinery works end to end; they say nothing about real facial expressions.",
                "```", ""]
    head = pd.DataFrame(metrics.get("headline", []))
    out += ["## Headline accuracy", ""]
    if head.empty:
        out += ["No model has saved predictions in this run yet.", ""]
    else:
        head = head.astype({"accuracy": float, "macro_f1": float, "fold_sd": float, "seed_sd": float})
        out += ["Accuracy on the report split of each test set (FER-2013: *PrivateTest*; CK+: the "
                "subject-independent test folds pooled; CK+ sequences: the whole sequence, `first100pct`; "
                "cross-data-set: the whole other data set, `all`), averaged over seeds; `fold sd` is the spread "
                "over folds, `seed sd` over seeds. Primary variants (used in the comparisons) are marked with *.",
                ""]
        for (dataset, protocol), part in head.groupby(["dataset", "protocol"], sort=True):
            table = pd.DataFrame({
                "model": part["model"] + "/" + part["variant"] + np.where(part["primary"], " *", ""),
                "split": part["split"],
                "accuracy %": [pct_text(x) for x in part["accuracy"]],
                "macro-F1 %": [pct_text(x) for x in part["macro_f1"]],
                "fold sd": [pct_text(x) for x in part["fold_sd"]],
                "seed sd": [pct_text(x) for x in part["seed_sd"]],
                "seeds": part["n_seeds"], "folds": part["n_folds"], "samples": part["n_samples"],
            })
            out += [f"### {set_label(dataset, protocol)}", "", markdown_table(table), ""]
    tests = pd.DataFrame(metrics.get("paired_tests", []))
    out += ["## Paired tests", ""]
    if len(tests):
        tests = tests.astype({c: float for c in ("p", "p_holm", "mean_diff", "ci_low", "ci_high", "statistic")
                              if c in tests.columns})
        fold = tests[(tests["level"] == "fold") & (tests["metric"] == "accuracy")]
        if len(fold):
            out += ["Over CK+ folds (accuracy; one score per fold, seeds averaged within a fold). `p Holm` is "
                    "adjusted over the comparisons of one test; the corrected resampled t-test "
                    "(Nadeau-Bengio) is the one to read.", ""]
            table = pd.DataFrame({
                "test set": [set_label(d, p) for d, p in zip(fold["dataset"], fold["protocol"])],
                "comparison": fold["model_a"] + "/" + fold["variant_a"] + " - " + fold["model_b"] + "/"
                + fold["variant_b"],
                "test": fold["test"],
                "mean diff (pp)": [pct_text(x) for x in fold["mean_diff"]],
                "CI (pp)": [f"{pct_text(lo)} to {pct_text(hi)}" if np.isfinite(lo) else "–"
                            for lo, hi in zip(fold["ci_low"], fold["ci_high"])],
                "p": fold["p"], "p Holm": fold["p_holm"], "folds": fold["n"],
            })
            out += [markdown_table(table), ""]
        else:
            out += ["No fold-level comparison in this run (it needs two model families on the same CK+ folds).",
                    ""]
        samp = tests[(tests["level"] == "sample") & (tests["test"] != "paired_bootstrap")]
        boot = tests[(tests["level"] == "sample") & (tests["test"] == "paired_bootstrap")]
        if len(samp):
            keys = ["dataset", "protocol", "split", "seed", "model_a", "variant_a", "model_b", "variant_b"]
            wide = samp.pivot_table(index=keys, columns="test", values="p", aggfunc="first").reset_index()
            naive_t = samp[samp["test"] == "naive_sample_ttest"].set_index(keys)["statistic"]
            wide = wide.merge(boot[keys + ["mean_diff", "ci_low", "ci_high", "n"]], on=keys, how="left")
            out += ["Over test samples (one trained instance per arm and seed): McNemar's test and the paired "
                    "bootstrap CI of the accuracy difference; the seed papers' per-sample t-test is shown for "
                    "comparison only (it is not a valid comparison of models: see notebook 07).", ""]
            table = pd.DataFrame({
                "test set": [set_label(d, p) + f" {s}" for d, p, s in zip(wide["dataset"], wide["protocol"],
                                                                          wide["split"])],
                "seed": wide["seed"].astype(int),
                "comparison": wide["model_a"] + "/" + wide["variant_a"] + " - " + wide["model_b"] + "/"
                + wide["variant_b"],
                "diff (pp)": [pct_text(x) for x in wide["mean_diff"]],
                "bootstrap CI (pp)": [f"{pct_text(lo)} to {pct_text(hi)}" for lo, hi in zip(wide["ci_low"], wide["ci_high"])],
                "McNemar p": wide.get("mcnemar", np.nan),
                "naive t": [naive_t.get(tuple(r[k] for k in keys), np.nan) for _, r in wide.iterrows()],
                "naive p": wide.get("naive_sample_ttest", np.nan),
                "n": wide["n"],
            })
            out += [markdown_table(table, {"naive t": "{:.2f}"}), ""]
    else:
        out += [f"Notebook {RESULTS_NOTEBOOK} has not saved its tests in this run.", ""]
    claims = pd.DataFrame(metrics.get("claims", []), columns=CLAIM_COLUMNS).fillna("")
    origin = metrics.get("claims_origin", "")
    out += ["## Claims vs. measured", "",
            f"Every headline number of the seed papers next to the closest configuration this run measured "
            f"({origin}); accuracies in %.", ""]
    table = pd.DataFrame({
        "source": claims["source"], "claim": claims["claim"],
        "reported": [f"{v:g}%" if u == "%" else f"t = {v:g}"
                     for v, u in zip(pd.to_numeric(claims["reported"]), claims["unit"])],
        "protocol (reported)": claims["protocol_reported"],
        "measured": [f"{m}%" if u == "%" and m != NOT_MEASURED else (f"t = {m}" if u == "t" and m != NOT_MEASURED
                                                                        else m)
                     for m, u in zip(claims["measured"].astype(str), claims["unit"])],
        "configuration": claims["measured_config"],
        "protocol (measured)": claims["protocol_measured"], "note": claims["note"],
    })
    out += [markdown_table(table), ""]
    return "\n".join(out)


def write_results_page(metrics, book_src):
    """Write ``results.md`` into the book sources from a run's metrics (see :func:`results_markdown`).

    Returns
    -------
    Path
        The page written.
    """
    path = Path(book_src) / "results.md"
    path.write_text(results_markdown(metrics))
    return path


#: File name of a run's metrics, in the run folder and in a published folder.
METRICS_FILE = "metrics.json"
