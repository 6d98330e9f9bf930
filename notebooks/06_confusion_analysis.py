# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Confusion analysis
#
# Accuracy says how often a model is right; this notebook asks **where** the
# spatial CNN, the temporal-only model and the hybrid go wrong, and whether
# they go wrong in different places:
#
# * row-normalised confusion matrices of each model family on each test set,
#   side by side, and their **difference** (hybrid minus spatial);
# * per-class precision, recall and F1;
# * the most confused pairs, with the three the literature singles out
#   (fear/surprise, sad/neutral, anger/disgust) and **example images** of
#   those errors;
# * **calibration**: reliability diagrams and the expected calibration error
#   (ECE) of the predicted probabilities;
# * **cross-data-set generalisation**: the FER-2013-trained spatial model
#   tested on CK+ (and a CK+-trained model on FER-2013 when one exists).
#
# It reads the predictions the model notebooks saved (03 spatial, 04
# temporal-only, 05 hybrid) and works with whichever of them exist in the run.

# %% tags=["parameters"]
preset = "smoke"  # name of the run: outputs go to <runs root>/<preset>
data_dir = "synthetic"  # "synthetic", "auto" (data/ then ../shared/data) or a folder
run_dir = None  # None: <runs root>/<preset> (FER_RUNS_DIR sets the root)
seed = 0  # seed of any random draw of examples
n_examples = 6  # error examples shown per confusion (most confident errors first)
n_bins = 10  # confidence bins of the reliability diagrams and the ECE
top_k = 5  # most confused (true -> predicted) pairs listed per model
upstream = {  # artefacts of earlier notebooks read here: every model's test predictions
    "03_spatial_baseline": "03_spatial_baseline/predictions.parquet", "04_temporal": "04_temporal/predictions.parquet",
    "05_hybrid": "05_hybrid/predictions.parquet"}
products = ["confusion_counts.csv", "per_class.csv", "confused_pairs.csv", "calibration.csv",
            "summary.json"]  # written to <run_dir>/artifacts/06_confusion_analysis/

# %% [markdown]
# **Inputs** (`upstream`): the `predictions.parquet` of notebooks 03, 04 and 05
# (every model's test predictions) and the data folder (for the example images). **Outputs** (`products`, in
# `<run_dir>/artifacts/06_confusion_analysis/`): `confusion_counts.csv` (every
# confusion matrix, long format), `per_class.csv`, `confused_pairs.csv`,
# `calibration.csv` (ECE of every model) and `summary.json`.
#
# ```{note}
# Rules used throughout (fixed in `fer_lib.report.arms`): only the **report
# split** of each test set is analysed (FER-2013 *PrivateTest*, CK+ test
# folds, the whole-sequence view `first100pct` of the CK+ sequences;
# *PublicTest* selects models and is never reported). Each family is
# represented by its **primary variant** (`fer_lib.report.arms.PRIMARY_VARIANTS`:
# spatial `transfer`, temporal `lstm`, hybrid `cnn-rnn`, else the first
# present). Confusion counts are summed over folds and seeds: every CK+ clip is
# tested once per seed.
# ```

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display

from fer_lib.evaluate import confusion
from fer_lib.evaluate.predictions import load_predictions
from fer_lib.report import arms as study_arms
from fer_lib.report import paired_tests
from fer_lib.run.notebook import save_json, setup_notebook

ctx = setup_notebook("06_confusion_analysis", preset, data_dir, run_dir, seed, upstream=upstream, products=products)
predictions = load_predictions(ctx.upstream)
sets = study_arms.collect_test_sets(predictions)
summary = {"notebooks": sorted(predictions), "test_sets": {}}

# %% [markdown]
# ## What predictions this run holds

# %% tags=["nbval-check-output"]
for notebook, family in study_arms.MODEL_NOTEBOOKS.items():
    state = f"{len(predictions[notebook]):,} predictions" if notebook in predictions else "absent (not run yet)"
    print(f"{notebook} ({family}): {state}")
if sets:
    display(pd.concat({study_arms.set_label(*key): study_arms.arms_table(frame) for key, frame in sets.items()},
                      names=["test set", "arm"]))

# %%
in_domain = {key: frame for key, frame in sets.items() if not study_arms.is_cross(key[1])}
cross = {key: frame for key, frame in sets.items() if study_arms.is_cross(key[1])}
if not in_domain:
    display(Markdown("```{warning}\nNo model predictions in this run: run notebooks 03-05 first.\n```"))

# %% [markdown]
# ## Confusion matrices
#
# Rows are the true classes and sum to 100%; the diagonal is each class's
# recall. The difference panel subtracts the spatial model's matrix from the
# hybrid's (or, when one of them is absent, the first other comparison of
# `fer_lib.report.paired_tests.FAMILY_COMPARISONS` available): **red on the diagonal** means
# the hybrid recalls that class more often, **red off the diagonal** means it
# makes that confusion more often.

# %%
counts_rows, matrices = [], {}
for dataset, protocol, model, variant, arm in study_arms.iter_primary_arms(in_domain):
    matrices.setdefault((dataset, protocol), {})[f"{model}/{variant}"] = confusion.confusion_frame(arm, normalize="true")
    counts_rows.append(confusion.confusion_frame(arm, normalize="none").stack().rename("count").reset_index()
                       .assign(dataset=dataset, protocol=protocol, model=model, variant=variant))
for (dataset, protocol), mats in matrices.items():
    arms = dict(key.split("/", 1) for key in mats)
    label = study_arms.set_label(dataset, protocol)
    fig = confusion.plot_confusion_panels(mats, suptitle=f"{label}: confusion matrices (% of each true class)")
    plt.show()
    pair = next(((a, b) for a, b in paired_tests.FAMILY_COMPARISONS if a in arms and b in arms), None)
    if pair is None:
        display(Markdown(f"*{label}: only {list(arms)} present, no difference to show.*"))
        continue
    a, b = (f"{m}/{arms[m]}" for m in pair)
    diff = confusion.difference_matrix(mats[a], mats[b])
    fig = confusion.plot_difference(diff, title=f"{label}: {a} minus {b} (percentage points)")
    plt.show()
    summary["test_sets"][f"{dataset}/{protocol}"] = {
        "dataset": dataset, "protocol": protocol, "difference": f"{a} - {b}",
        "recall_gain_pp": {c: round(100 * float(diff.loc[c, c]), 1) for c in diff.index
                           if pd.notna(diff.loc[c, c])},
    }
counts_table = pd.concat(counts_rows, ignore_index=True) if counts_rows else pd.DataFrame()
counts_table.to_csv(ctx.product("confusion_counts.csv"), index=False)

# %% [markdown]
# ## Per-class precision, recall and F1
#
# Recall: of the samples of a class, the fraction recognised; precision: of
# the samples predicted as that class, the fraction right.

# %%
per_class_rows, tables = [], {}
for dataset, protocol, model, variant, arm in study_arms.iter_primary_arms(in_domain):
    table = confusion.per_class_metrics(arm)
    tables.setdefault((dataset, protocol), {})[f"{model}/{variant}"] = table
    per_class_rows.append(table.reset_index().assign(dataset=dataset, protocol=protocol, model=model,
                                                     variant=variant))
for (dataset, protocol), by_arm in tables.items():
    wide = pd.concat({k: t[["precision", "recall", "f1"]] for k, t in by_arm.items()}, axis=1)
    wide[("", "samples")] = confusion.class_support(study_arms.report_rows(in_domain[(dataset, protocol)]))
    display(Markdown(f"**{study_arms.set_label(dataset, protocol)}**"))
    display(wide.round(2))
per_class = pd.concat(per_class_rows, ignore_index=True) if per_class_rows else pd.DataFrame()
per_class.to_csv(ctx.product("per_class.csv"), index=False)

# %% [markdown]
# ## The most confused pairs
#
# First the pairs named in advance (`fer_lib.evaluate.confusion.FOCUS_PAIRS`; CK+ has
# no neutral class, so sad/neutral exists only on FER-2013), then the
# `top_k` most frequent confusions of each model, as a fraction of the true
# class.

# %%
pair_rows, top_rows = [], []
for dataset, protocol, model, variant, arm in study_arms.iter_primary_arms(in_domain):
    counts = confusion.confusion_frame(arm, normalize="none")
    ids = dict(dataset=dataset, protocol=protocol, model=model, variant=variant)
    pair_rows.append(confusion.focus_pair_rates(counts).assign(**ids))
    top_rows.append(confusion.confused_pairs(counts, k=top_k).assign(**ids))
focus = pd.concat(pair_rows, ignore_index=True) if pair_rows else pd.DataFrame()
top = pd.concat(top_rows, ignore_index=True) if top_rows else pd.DataFrame()
if len(focus):
    shown = focus[focus["present"]]
    display(shown.set_index(["dataset", "protocol", "model", "variant", "pair"])[
        ["n_a", "n_b", "a_as_b", "b_as_a", "rate_a_as_b", "rate_b_as_a"]].round(3))
    display(top.set_index(["dataset", "protocol", "model", "variant"]).round(3))
    pd.concat([focus.assign(kind="focus"), top.assign(kind="top")], ignore_index=True).to_csv(
        ctx.product("confused_pairs.csv"), index=False)

# %% [markdown]
# ### Examples of these errors
#
# The most confident errors of each focus pair, in both directions, for each
# family's primary model (title: sample id and the probability given to the
# wrong class). Images are looked up by `sample_id`: for FER-2013 the row of
# the image in the data set's CSV order, for CK+48 the sequence id (its apex
# frame is shown).

# %%
sources, no_images = confusion.load_image_sources(ctx.data_dir, [d for d, _ in sets])
for name, reason in no_images.items():
    print(f"no example images for {name}: {reason}")
examples = {}
for dataset, protocol, model, variant, arm in study_arms.iter_primary_arms(sets):
    if dataset in sources:
        r, m = confusion.error_example_rows(arm, f"{model}/{variant}", sources[dataset], n=n_examples, seed=ctx.seed)
        rows, mismatched = examples.get((dataset, protocol), ([], 0))
        examples[(dataset, protocol)] = (rows + r, mismatched + m)
for (dataset, protocol), (rows, mismatched) in examples.items():
    if mismatched:
        display(Markdown(f"*{study_arms.set_label(dataset, protocol)}: {mismatched} examples left out because the "
                         "data's label differs from y_true (sample_id convention not followed?)*"))
    fig = confusion.plot_error_examples(
        rows, suptitle=f"{study_arms.set_label(dataset, protocol)}: errors of the focus pairs")
    if fig is None:
        display(Markdown(f"*{study_arms.set_label(dataset, protocol)}: no errors on the focus pairs.*"))
    plt.show()

# %% [markdown]
# ## Calibration
#
# A model is calibrated when, among the samples it predicts with confidence
# 0.8, 80% are right. The reliability diagram plots accuracy against mean
# confidence per bin (points on the diagonal are calibrated; below it the
# model is over-confident). The ECE is the bin-weighted mean gap.
#
# ```{note}
# With a few hundred test samples many bins hold only a handful of samples,
# and the ECE is biased upwards for small test sets; compare models on the
# same test set, not ECE values across data sets.
# ```

# %%
ece_rows = []
for (dataset, protocol), frame in sets.items():
    part = study_arms.report_rows(frame)
    primaries = study_arms.primary_arms(part)
    curves = {}
    for (model, variant), arm in part.groupby(["model", "variant"], sort=False):
        curve, ece = confusion.calibration(arm, n_bins=n_bins)
        ece_rows.append({"dataset": dataset, "protocol": protocol, "model": model, "variant": variant,
                         "primary": primaries.get(model) == variant, "ece": ece,
                         "mean_confidence": float(arm.filter(like="prob_").max(axis=1).mean()),
                         "accuracy": float((arm["y_true"] == arm["y_pred"]).mean()), "n": len(arm)})
        if primaries.get(model) == variant:
            curves[f"{model}/{variant}"] = (curve, ece)
    fig = confusion.plot_reliability(curves, title=f"{study_arms.set_label(dataset, protocol)}: reliability")
    plt.show()
calibration = study_arms.sort_by_family(pd.DataFrame(ece_rows)) if ece_rows else pd.DataFrame()
calibration.to_csv(ctx.product("calibration.csv"), index=False)
if len(calibration):
    display(calibration.set_index(["dataset", "protocol", "model", "variant"]).round(3))

# %% [markdown]
# ## Cross-data-set generalisation
#
# A model trained on one data set and tested on another, with no fine-tuning:
# the FER-2013-trained spatial CNN on the CK+48 clips (protocol
# `cross:fer2013`), and a CK+-trained model on FER-2013 (`cross:ckplus48`)
# when the run has one.
#
# ```{warning}
# These are **not** in-domain results and are reported apart. The two data
# sets share six classes: CK+ clips of contempt (no FER-2013 counterpart) are
# left out, and notebook 03 restricts the FER-2013 model's probabilities to
# the shared classes (no *neutral*, which no CK+ clip is). The images differ
# too (web photos vs posed laboratory frames), so a drop in accuracy mixes a
# change of domain with a change of task.
# ```

# %% tags=["nbval-check-output"]
if not cross:
    print("no cross-data-set predictions in this run (notebook 03 saves them under protocol 'cross:fer2013')")
for (dataset, protocol), frame in cross.items():
    print(f"{study_arms.set_label(dataset, protocol)}: arms "
          f"{study_arms.primary_arms(study_arms.report_rows(frame))}, {frame['sample_id'].nunique()} test samples")

# %%
cross_rows, cross_mats = [], {}
head = study_arms.headline_table(sets)
for dataset, protocol, model, variant, arm in study_arms.iter_primary_arms(cross):
    label, source = study_arms.set_label(dataset, protocol), protocol.split(":", 1)[1]
    cross_mats.setdefault(label, {})[f"{model}/{variant}"] = confusion.confusion_frame(arm, normalize="true")
    own = head[(head["dataset"] == source) & (~head["protocol"].str.startswith("cross:"))
               & (head["model"] == model) & (head["variant"] == variant)]
    cross_rows.append({
        "tested on": label, "model": f"{model}/{variant}", "accuracy": float((arm["y_true"] == arm["y_pred"]).mean()),
        "in-domain accuracy": float(own["accuracy"].iloc[0]) if len(own) else float("nan"),
        "in-domain test set": (study_arms.set_label(source, own["protocol"].iloc[0]) if len(own)
                               else "not in this run"),
        "n": len(arm),
    })
    recall = confusion.per_class_metrics(arm)
    display(Markdown(f"**{label}, {model}/{variant}**: per-class precision, recall and F1"))
    display(recall[recall["support"] > 0][["precision", "recall", "f1"]].T.round(2))
for label, mats in cross_mats.items():
    fig = confusion.plot_confusion_panels(mats, suptitle=f"{label} (cross-data-set): confusion matrices")
    plt.show()
cross_table = pd.DataFrame(cross_rows)
if len(cross_table):
    display(cross_table.round(3))

# %%
summary["calibration"] = calibration.to_dict(orient="records")
summary["cross_dataset"] = cross_table.to_dict(orient="records")
summary["focus_pairs"] = focus.to_dict(orient="records") if len(focus) else []
summary_path = save_json(ctx.product("summary.json"), summary)

# %% [markdown]
# ## What it showed

# %%
lines = []
if not sets:
    lines.append("* No model predictions in this run yet: nothing to analyse.")
for info in summary["test_sets"].values():
    dataset, protocol = info["dataset"], info["protocol"]
    gains = info["recall_gain_pp"]
    if not gains:
        continue
    best = max(gains, key=gains.get)
    worst = min(gains, key=gains.get)
    lines.append(f"* **{study_arms.set_label(dataset, protocol)}**, {info['difference']}: the largest recall gain is "
                 f"on *{best}* ({gains[best]:+.1f} points), the largest loss on *{worst}* "
                 f"({gains[worst]:+.1f} points).")
if len(focus):
    for (dataset, protocol, model, variant), g in focus[focus["present"]].groupby(
            ["dataset", "protocol", "model", "variant"], sort=False):
        parts = [f"{r.a}→{r.b} {100 * r.rate_a_as_b:.0f}%, {r.b}→{r.a} {100 * r.rate_b_as_a:.0f}%"
                 for r in g.itertuples()]
        lines.append(f"* {study_arms.set_label(dataset, protocol)}, {model}/{variant}: " + "; ".join(parts) + ".")
if len(calibration):
    for (dataset, protocol), g in calibration[calibration["primary"]].groupby(["dataset", "protocol"]):
        lines.append(f"* ECE on {study_arms.set_label(dataset, protocol)}: "
                     + ", ".join(f"{r.model}/{r.variant} {100 * r.ece:.1f}%" for r in g.itertuples()) + ".")
for r in cross_rows:
    own = (f" (in-domain: {100 * r['in-domain accuracy']:.1f}% on {r['in-domain test set']})"
           if pd.notna(r["in-domain accuracy"]) else "")
    lines.append(f"* Cross-data-set: {r['model']} tested on {r['tested on']}: {100 * r['accuracy']:.1f}% "
                 f"accuracy{own}.")
display(Markdown("\n".join(lines)))
