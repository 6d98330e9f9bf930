"""Paired tests of two arms: fold scores and sizes, fold-, seed- and sample-level tests, their table.

Rules fixed here once (so that notebook 07 and the results page agree):

* **Comparisons** (:func:`comparisons`). The three family comparisons
  (:data:`FAMILY_COMPARISONS`) use the primary arms
  (:func:`fer_lib.report.arms.primary_variant`). When notebook 05 trained the
  matched spatial control, the hybrid is also compared with it
  (:func:`fer_lib.report.arms.matched_control_arms`; its own Holm family).
  Other variants are compared with their family's primary.
* **Folds and seeds.** CK+ fold scores are averaged **over seeds within each
  fold first** (:func:`fold_scores`), so that every fold counts once and the
  arms are paired by fold.
* **Levels of comparison** (:data:`TEST_LEVELS`): ``"fold"`` (paired t-test,
  Wilcoxon, Nadeau-Bengio corrected t-test over folds, Holm over the family
  comparisons), ``"seed"`` (paired t-test over per-seed accuracies),
  ``"sample"`` (McNemar, paired bootstrap and, for the record only, the seed
  papers' invalid per-sample t-test) -- see :mod:`fer_lib.evaluate.stats`.

Every test returns rows of :data:`PAIRED_TEST_COLUMNS` (notebook 07's ``paired_tests.csv``).
"""

import numpy as np
import pandas as pd

from fer_lib.core.validation import check_option, check_positive_int
from fer_lib.evaluate import stats
from fer_lib.evaluate.predictions import MODEL_FAMILIES, metrics_table
from fer_lib.report.arms import (
    REPORT_SPLITS,
    matched_control_arms,
    primary_arms,
    seed_accuracies,
    select_arm,
)

__all__ = [
    "FAMILY_COMPARISONS",
    "TEST_LEVELS",
    "FOLD_METRICS",
    "PAIRED_TEST_COLUMNS",
    "fold_split",
    "fold_scores",
    "fold_sizes",
    "fold_level_tests",
    "comparisons",
    "paired_correctness",
    "sample_level_tests",
    "seed_level_tests",
    "combine_tests",
    "pvalue_summary",
    "plot_fold_scores",
]

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
        Predictions of one CK+ test set (:func:`fer_lib.report.arms.collect_test_sets`).
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
        For a test-only view (:data:`fer_lib.report.arms.TRAINED_ON`, e.g. the CK+ sequences, tested
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
    (:func:`fer_lib.report.arms.matched_control_arms`), then every non-primary variant against its
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


def paired_correctness(frame, a, b, split, seed):
    """Per-sample correctness of two arms on the samples both predicted (one split, one seed).

    Parameters
    ----------
    frame : DataFrame
        Predictions of one test set.
    a, b : (str, str)
        ``(model, variant)`` of the two arms.
    split : str
    seed : int

    Returns
    -------
    correct_a, correct_b : ndarray of bool
        Aligned on the ``(fold, sample_id)`` both arms predicted.
    unpaired : int
        Predictions of either arm without a partner (left out).

    Raises
    ------
    ValueError
        When the arms disagree on a sample's true label.
    """
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
            ca, cb, unpaired = paired_correctness(frame, a, b, split, s)
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
        acc_a = seed_accuracies(select_arm(frame, a[0], a[1], split=split))
        acc_b = seed_accuracies(select_arm(frame, b[0], b[1], split=split))
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


# --------------------------------------------------------------------------- #
# All tests in one table; the fold-score plot
# --------------------------------------------------------------------------- #
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
