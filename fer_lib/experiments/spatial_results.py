"""Notebook 03's tables, ``summary.json`` and closing text, from :mod:`fer_lib.experiments.spatial`'s results.

The notebook shows what these functions return; keeping them here means the
formatting is tested once and the notebook reads as the study's story:

* :func:`recipes_table`, :func:`per_seed_table`, :func:`seed_summary_markdown`,
  :func:`training_cost_table` and :func:`measured_table` describe the FER-2013
  runs;
* :func:`cross_anchor_table` and :func:`cross_recall_table` the FER-2013 model
  on CK+48 (:func:`fer_lib.experiments.spatial.cross_dataset_evaluation`);
* :func:`fer2013_summary`, :func:`ckplus_summary`, :func:`cross_summaries` and
  :func:`notebook_summary` assemble ``summary.json`` (read by the report and
  by :mod:`fer_lib.run.publish`: its keys are part of the study's interface);
* :func:`closing_markdown` writes the "What this notebook showed" bullets from
  that summary alone.
"""

import numpy as np
import pandas as pd

from fer_lib.experiments.spatial import (
    CHECKPOINT_NAME,
    CKPLUS_ANCHORS,
    CROSS_KINDS,
    seed_summary,
    select_rows,
)

__all__ = [
    "RECIPE_FIELDS",
    "ckplus_summary",
    "closing_markdown",
    "cross_anchor_table",
    "cross_recall_table",
    "cross_summaries",
    "fer2013_summary",
    "fold_summaries",
    "measured_table",
    "notebook_summary",
    "per_seed_table",
    "recipes_table",
    "seed_summary_markdown",
    "training_cost_table",
]

#: Fields of a :class:`~fer_lib.train.config.TrainConfig` shown in the recipes table.
RECIPE_FIELDS = ("epochs", "batch_size", "optimizer", "lr", "weight_decay", "schedule", "label_smoothing", "augment",
                 "tta", "dropout", "early_stopping_patience", "max_train_samples")

#: Columns of :attr:`fer_lib.experiments.spatial.FERRuns.runs` in the training-cost table.
COST_COLUMNS = ("variant", "seed", "best_epoch", "epochs_run", "stop_reason", "train_seconds", "predict_seconds",
                "images_per_s")

#: The off-the-shelf anchor the study's FER-2013 model should beat on CK+48 (``beats_face_api_js``).
FACE_API_ANCHOR = "face-api.js expression net"


def recipes_table(settings):
    """The FER-2013 recipes side by side: one column per variant, the fields of :data:`RECIPE_FIELDS` and ``seeds``.

    Parameters
    ----------
    settings : mapping of str to FERSetting
        From :func:`fer_lib.experiments.spatial.fer_settings`.

    Returns
    -------
    DataFrame
        Rows: :data:`RECIPE_FIELDS` then ``seeds`` (the seed list as text).
    """
    return pd.DataFrame({variant: {k: config.to_dict()[k] for k in RECIPE_FIELDS} | {"seeds": str(seeds)}
                         for variant, (_, config, seeds) in settings.items()})


def per_seed_table(metrics):
    """Accuracy and macro-F1 of each FER-2013 run per split (rows: variant, seed), rounded to 4 decimals.

    Parameters
    ----------
    metrics : DataFrame
        :func:`fer_lib.evaluate.predictions.metrics_table` of FER-2013 predictions.

    Returns
    -------
    DataFrame
    """
    return metrics.pivot_table(index=["variant", "seed"], columns="split", values=["accuracy", "macro_f1"]).round(4)


def seed_summary_markdown(summary, split="PrivateTest"):
    """Markdown: one bullet per variant with its accuracy and macro-F1, mean ± sd (min, max) over seeds.

    Parameters
    ----------
    summary : DataFrame
        :func:`fer_lib.experiments.spatial.seed_summary` (indexed by variant; accuracies as fractions).
    split : str, default="PrivateTest"
        Named in the heading.

    Returns
    -------
    str
    """
    return f"**{split}, mean ± sd over seeds**\n\n" + "\n".join(
        f"* `{v}`: accuracy {100 * r.accuracy_mean:.1f} ± {100 * r.accuracy_sd:.1f}% "
        f"(min {100 * r.accuracy_min:.1f}, max {100 * r.accuracy_max:.1f}), macro-F1 "
        f"{r.macro_f1_mean:.3f} ± {r.macro_f1_sd:.3f}, {r.seeds} seed(s)" for v, r in summary.iterrows())


def training_cost_table(runs):
    """Each FER-2013 run's kept epoch, epochs run, stop reason, seconds and images/s (rounded to 0.1).

    Parameters
    ----------
    runs : DataFrame
        :attr:`fer_lib.experiments.spatial.FERRuns.runs`.

    Returns
    -------
    DataFrame
        The columns of :data:`COST_COLUMNS`.
    """
    return runs[list(COST_COLUMNS)].round(1)


def measured_table(summary, settings, synthetic):
    """Our PrivateTest accuracy per variant, in the columns of :func:`fer_lib.experiments.spatial.literature_table`.

    Parameters
    ----------
    summary : DataFrame
        :func:`fer_lib.experiments.spatial.seed_summary` on PrivateTest.
    settings : mapping of str to FERSetting
        From :func:`fer_lib.experiments.spatial.fer_settings` (for each variant's TTA).
    synthetic : bool
        Whether the run used the synthetic data set (said in ``source``).

    Returns
    -------
    DataFrame
        Columns ``source``, ``model``, ``accuracy`` (``"mean ± sd"`` in %), ``protocol``, ``kind``.
    """
    return pd.DataFrame([{
        "source": f"this run ({'synthetic data, smoke' if synthetic else 'FER-2013'})", "model": v,
        "accuracy": f"{100 * r.accuracy_mean:.1f} ± {100 * r.accuracy_sd:.1f}",
        "protocol": f"PrivateTest, mean ± sd over {r.seeds} seed(s), epochs chosen on PublicTest, "
                    f"TTA {settings[v].config.tta}", "kind": "measured here"} for v, r in summary.iterrows()],
        columns=["source", "model", "accuracy", "protocol", "kind"])


# --------------------------------------------------------------------------- cross-data-set


def cross_anchor_table(cross):
    """Our cross-data-set rows beside the off-the-shelf anchors of :data:`~fer_lib.experiments.spatial.CKPLUS_ANCHORS`.

    Parameters
    ----------
    cross : CrossRuns
        From :func:`fer_lib.experiments.spatial.cross_dataset_evaluation`.

    Returns
    -------
    DataFrame
        Columns ``model``, ``variant``, ``accuracy (%)``, ``macro-F1``,
        ``clips``, ``kind``; the anchors have no macro-F1 or clip count.
    """
    ours = [{"model": f"ours, {kind}", "variant": f"{cross.variant} seed {cross.seed}",
             "accuracy (%)": round(100 * e["accuracy"], 1), "macro-F1": round(e["macro_f1"], 3), "clips": e["n"],
             "kind": "measured here"} for kind, e in cross.evaluations.items()]
    anchors = [{"model": m, "variant": "", "accuracy (%)": a, "macro-F1": np.nan, "clips": np.nan,
                "kind": "off-the-shelf (issue 4)"} for m, a in CKPLUS_ANCHORS.items()]
    return pd.DataFrame(ours + anchors)


def cross_recall_table(cross):
    """Recall per CK+ class (rows) of each cross-data-set kind (columns), rounded to 3 decimals.

    Parameters
    ----------
    cross : CrossRuns

    Returns
    -------
    DataFrame
    """
    return (pd.concat({kind: e["per_class"]["recall"] for kind, e in cross.evaluations.items()}, axis=1)
            .round(3).rename_axis("recall per class"))


# --------------------------------------------------------------------------- summary.json


def fer2013_summary(metrics, runs, settings, *, variant, seed, model_name, model_kwargs, n_parameters, runtime,
                    duplicate_free=None, benchmark=None, recipe_search=None, tta_comparison=None):
    """The ``fer2013`` entry of notebook 03's ``summary.json``.

    Parameters
    ----------
    metrics : DataFrame
        :func:`fer_lib.evaluate.predictions.metrics_table` of the FER-2013 predictions.
    runs : DataFrame
        :attr:`fer_lib.experiments.spatial.FERRuns.runs`.
    settings : mapping of str to FERSetting
        The trained variants (:func:`fer_lib.experiments.spatial.fer_settings`).
    variant : str
        The main variant (a key of ``settings``).
    seed : int
        The shipped seed (chosen on PublicTest).
    model_name : str
    model_kwargs : dict
    n_parameters : int
    runtime : dict
        ``metadata["runtime"]`` of the shipped checkpoint.
    duplicate_free : dict, optional
        :func:`fer_lib.experiments.spatial.duplicate_free_scores`.
    benchmark, recipe_search, tta_comparison : DataFrame, optional
        Written as lists of records (None when absent).

    Returns
    -------
    dict

    Raises
    ------
    ValueError
        When ``variant`` is not in ``settings`` or ``metrics`` lacks the
        shipped run's PublicTest or PrivateTest row.
    """
    if variant not in settings:
        raise ValueError(f"variant must be one of the trained variants {list(settings)}; got {variant!r}")
    sel = select_rows(metrics, variant, seed).set_index("split")
    missing = [s for s in ("PublicTest", "PrivateTest") if s not in sel.index]
    if missing:
        raise ValueError(f"metrics lack the {missing} row(s) of variant {variant!r} seed {seed}")

    def records(table):
        return None if table is None else table.to_dict(orient="records")

    return {
        "model": model_name, "model_kwargs": model_kwargs, "n_parameters": n_parameters, "main_variant": variant,
        "recipes": {v: s.config.to_dict() for v, s in settings.items()},
        "selected_seed": seed, "selected_by": "PublicTest accuracy (recipe TTA)",
        "selected_publictest_accuracy": float(sel.loc["PublicTest", "accuracy"]),
        "selected_privatetest_accuracy": float(sel.loc["PrivateTest", "accuracy"]),
        "selected_privatetest_macro_f1": float(sel.loc["PrivateTest", "macro_f1"]),
        "privatetest": seed_summary(metrics, "PrivateTest").reset_index().to_dict(orient="records"),
        "train_seconds": runs.groupby("variant")["train_seconds"].sum().to_dict(),
        "images_per_s": runs.groupby("variant")["images_per_s"].median().to_dict(),
        "checkpoint": CHECKPOINT_NAME,
        "runtime": runtime,
        "privatetest_without_training_duplicates": duplicate_free,
        "benchmark": records(benchmark),
        "recipe_search": records(recipe_search),
        "tta": settings[variant].config.tta,
        "publictest_tta_comparison": records(tta_comparison),
    }


def fold_summaries(fold_table):
    """``{"<protocol>/<init>": {"mean", "sd", "per_fold"}}`` of a fold table.

    Parameters
    ----------
    fold_table : DataFrame
        :func:`fer_lib.evaluate.predictions.fold_table` (rows: folds, then
        ``mean`` and ``sd``; columns: ``(protocol, variant)``).

    Returns
    -------
    dict
        In the table's column order; ``per_fold`` rounded to 4 decimals.
    """
    absent = [r for r in ("mean", "sd") if r not in fold_table.index]
    if absent:
        raise ValueError(f"fold_table must end with the rows 'mean' and 'sd' of fold_table; missing {absent}")
    per_fold = fold_table.drop(index=["mean", "sd"])
    return {f"{p}/{i}": {"mean": float(fold_table.loc["mean", (p, i)]), "sd": float(fold_table.loc["sd", (p, i)]),
                         "per_fold": per_fold[(p, i)].round(4).tolist()}
            for p, i in fold_table.columns}


def ckplus_summary(fold_table, config, *, recipe, seeds, head_epochs, head_lr, wall_seconds):
    """The ``ckplus48`` entry of notebook 03's ``summary.json``.

    Parameters
    ----------
    fold_table : DataFrame
        :func:`fer_lib.evaluate.predictions.fold_table` of the fold accuracies.
    config : fer_lib.train.config.TrainConfig
        The CK+ recipe as trained.
    recipe : str
        Its name.
    seeds : list of int
    head_epochs : int
    head_lr : float
        The class-head warm-up before fine-tuning.
    wall_seconds : float
        Wall time of every fold run together (rounded to 0.1 s).

    Returns
    -------
    dict
    """
    return {"recipe": recipe, "config": config.to_dict(), "seeds": seeds, "head_epochs": head_epochs,
            "head_lr": head_lr, "wall_seconds": round(wall_seconds, 1), "folds": fold_summaries(fold_table)}


def cross_summaries(cross):
    """The cross-data-set entries of notebook 03's ``summary.json``, one per kind of :data:`CROSS_KINDS`.

    Parameters
    ----------
    cross : CrossRuns
        From :func:`fer_lib.experiments.spatial.cross_dataset_evaluation`.

    Returns
    -------
    dict
        ``{key: entry}`` with the keys of :data:`CROSS_KINDS`; an entry that
        removed a prior also holds it (``fer2013_training_prior``, rounded to
        4 decimals). ``beats_face_api_js``: accuracy above the face-api.js
        anchor of :data:`CKPLUS_ANCHORS`.
    """
    out = {}
    for kind, key in CROSS_KINDS.items():
        e = cross.evaluations[kind]
        out[key] = {
            "variant": cross.predictions[kind]["variant"].iloc[0], "seed": cross.seed, "kind": kind,
            "accuracy": e["accuracy"], "macro_f1": e["macro_f1"], "n_clips": e["n"], "classes": list(cross.class_names),
            "anchors_percent": dict(CKPLUS_ANCHORS),
            "beats_face_api_js": bool(100 * e["accuracy"] > CKPLUS_ANCHORS[FACE_API_ANCHOR]),
        }
        prior = cross.priors[kind]
        if prior is not None:
            out[key]["fer2013_training_prior"] = dict(zip(cross.source_classes, np.round(prior, 4).tolist()))
    return out


def notebook_summary(*, preset, synthetic, device, fer2013, wall_seconds, ckplus48=None, cross=None):
    """Notebook 03's ``summary.json``: run description, the FER-2013, CK+ and cross-data-set entries.

    Parameters
    ----------
    preset : str
    synthetic : bool
        Whether the data folder is the synthetic default.
    device : str or torch.device
    fer2013 : dict
        :func:`fer2013_summary`.
    wall_seconds : float
        The notebook's wall time so far (rounded to 0.1 s).
    ckplus48 : dict, optional
        :func:`ckplus_summary` (None when CK+48 is absent).
    cross : CrossRuns, optional
        Its entries are added by :func:`cross_summaries`.

    Returns
    -------
    dict
    """
    summary = {"data_dir_is_synthetic": bool(synthetic), "device": str(device), "preset": preset, "fer2013": fer2013}
    if ckplus48 is not None:
        summary["ckplus48"] = ckplus48
    if cross is not None:
        summary.update(cross_summaries(cross))
    summary["wall_seconds"] = round(wall_seconds, 1)
    return summary


# --------------------------------------------------------------------------- closing text


def closing_markdown(summary):
    """The "What this notebook showed" bullets (markdown) from notebook 03's summary alone.

    Parameters
    ----------
    summary : dict
        :func:`notebook_summary` (or the ``summary.json`` it was saved to:
        the bullets then follow the file's key order).

    Returns
    -------
    str
    """
    from fer_lib.train.runtime import runtime_text

    fer = summary["fer2013"]
    dedup = fer.get("privatetest_without_training_duplicates")
    lines = [f"* **FER-2013** ({'synthetic smoke data' if summary['data_dir_is_synthetic'] else 'real data'}, "
             f"{fer['model']}, {summary['device']}): "
             + "; ".join(f"`{r['variant']}` PrivateTest {100 * r['accuracy_mean']:.1f} ± "
                         f"{100 * r['accuracy_sd']:.1f}% over {r['seeds']} seed(s), macro-F1 "
                         f"{r['macro_f1_mean']:.3f}" for r in fer["privatetest"])
             + f". Shipped: `{fer['main_variant']}` seed {fer['selected_seed']} (chosen on PublicTest), PrivateTest "
               f"{100 * fer['selected_privatetest_accuracy']:.1f}%"
             + (f" ({100 * dedup['accuracy']:.1f}% without the images duplicated in Training)" if dedup else "")
             + ". Training took " + ", ".join(f"{s:.0f} s ({v})" for v, s in fer["train_seconds"].items())
             + f" ({runtime_text(fer['runtime'])})."]
    if "ckplus48" in summary:
        lines.append("* **CK+48**, 10 subject-independent folds, mean ± sd over folds: " + "; ".join(
            f"{key.replace('/', ' ')} {100 * f['mean']:.1f} ± {100 * f['sd']:.1f}%"
            for key, f in summary["ckplus48"]["folds"].items()) + ".")
    raw_key, fixed_key = CROSS_KINDS.values()
    if raw_key in summary and fixed_key in summary:
        raw, fixed = summary[raw_key], summary[fixed_key]
        lines.append(f"* **FER-2013 model on CK+48 without CK+ training** (6 shared classes, {raw['n_clips']} clips): "
                     f"{100 * raw['accuracy']:.1f}% as trained, {100 * fixed['accuracy']:.1f}% with FER-2013's class "
                     "prior removed (off-the-shelf anchors: 68.8% mini-Xception, 88.6% face-api.js).")
    if summary["data_dir_is_synthetic"]:
        lines.append("* These are **synthetic smoke** numbers: they check the pipeline, not the question. "
                     "`make study PRESET=full` produces the real ones.")
    lines.append(f"* Notebook wall time: {summary['wall_seconds']:.0f} s.")
    return "\n".join(lines)
