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
# # 05 · Hybrid CNN-RNN
#
# The seed papers' model: a CNN embeds every frame, an LSTM (or GRU) runs over
# the frame embeddings, and the spatial summary (the mean of the frame
# embeddings) and the temporal one (the LSTM's pooled states) are fused
# before fully connected layers with ReLU and dropout. The CNN starts from
# the FER-2013 model of notebook 03 and is fine-tuned jointly. By default the
# LSTM reads each frame's embedding together with its change since the
# clip's first frame (`rnn_inputs="features+diff"`; `"features"` is the
# papers' exact input): no new information, the change made explicit, as in
# the temporal-only model of notebook 04. This notebook
#
# 1. trains the hybrid's named variants (`cnn-rnn`, `attention`, `augment`,
#    `unified`) on **CK+48 clips** over the same 10 subject-independent folds,
#    seeds and protocol as the spatial (03) and temporal-only (04) models, and
#    puts the three model families **side by side per fold**, with the seed
#    papers' claimed 88.4 % beside ours;
# 2. checks the **positive control** of the synthetic data set: fear and
#    surprise clips hold the same frames in opposite order, so a model that
#    averages frames cannot separate them and the hybrid must;
# 3. repeats the **onset-to-apex analysis** of notebook 04 for the hybrid
#    (and for the spatial control when it is trained here);
# 4. reports the hybrid's training **throughput** and wall times, and saves
#    one hybrid checkpoint for the video command (notebook 08).
#
# **Inputs** (`upstream`): the data folder's CK+48, `ckplus48_folds.csv` of
# notebook 01, the aligned full sequences of notebook 02
# (`ckplus_aligned.npz`), `spatial_fer2013.pt` and `predictions.parquet` of
# notebook 03, `predictions.parquet` of notebook 04.
# **Outputs** (`products`, in `<run_dir>/artifacts/05_hybrid/`): `predictions.parquet`,
# `metrics.csv`, `histories.csv`, `summary.json` and `hybrid_ckplus.pt`.

# %% tags=["parameters"]
preset = "smoke"  # name of the run: outputs go to <runs root>/<preset>
data_dir = "synthetic"  # "synthetic", "auto" (data/ then ../shared/data) or a folder
run_dir = None  # None: <runs root>/<preset> (FER_RUNS_DIR sets the root)
seed = 0  # notebook seed (each training run is seeded by its own seed below)
protocols = ["7class"]  # CK+ protocols: "7class", "6class"
variants = ["cnn-rnn"]  # hybrid variants (fer_lib.experiments.hybrid.HYBRID_VARIANTS)
rnn = "lstm"  # recurrent cell: "lstm" or "gru"
rnn_inputs = "features+diff"  # RNN input per frame: "features" (the papers') or "features+diff" (+ change since frame 1)
seeds = [0]  # training seeds (each fold is trained once per seed)
recipe = "paper"  # training recipe (fer_lib.train.config.RECIPES): the seed papers' Adam, batch 32, dropout 0.5
epochs = 4  # epochs of joint fine-tuning; None: the recipe's own
recipe_overrides = {"lr": 0.002, "batch_size": 8, "early_stopping_patience": None}  # other TrainConfig fields
head_epochs = 40  # warm-up of the layers after the CNN on frozen CNN features, before joint fine-tuning
head_lr = 0.002  # Adam learning rate of that warm-up
cnn_init = "fer2013"  # "fer2013": start from notebook 03's FER-2013 model when it exists; "scratch"
cnn = "small"  # CNN when training from scratch ("small", "vgg", "resnet18", "fastvgg")
cnn_kwargs = {"width": 8, "fc_dim": 64}  # its architecture arguments (from scratch only)
hidden_size = 64  # RNN state size
fc_dim = 64  # size of the fully connected embedding
fusion_dim = 64  # projections of the attention fusion
augment_preset = "light"  # augmentation of the "augment" variant (fer_lib.train.augment.AUGMENT_PRESETS)
fer_per_class = 40  # "unified": FER-2013 Training images per class added to every fold's training set
spatial_control = "never"  # train the frame-averaging control with the hybrid's own CNN: "always", "never"
prefix_fractions = [0.25, 0.5, 0.75, 1.0]  # onset-to-apex: fractions of each sequence seen
prefix_sampling = "window"  # prefix -> clip: its last T frames ("window") or all of it resampled ("resample")
checkpoint_variant = "cnn-rnn"  # variant saved as hybrid_ckplus.pt (7-class protocol)
checkpoint_val_fold = 0  # that model picks its epoch on this fold and trains on all the others
cpu_threads = 1  # torch CPU threads (1 is fastest on a small shared machine)
progress = False  # tqdm progress bars while training
upstream = {  # artefacts of earlier notebooks read here
    "folds": "01_data_audit/ckplus48_folds.csv", "aligned": "02_alignment/ckplus_aligned.npz",
    "fer_checkpoint": "03_spatial_baseline/spatial_fer2013.pt",
    "03_spatial_baseline": "03_spatial_baseline/predictions.parquet", "04_temporal": "04_temporal/predictions.parquet"}
products = ["predictions.parquet", "metrics.csv", "histories.csv", "summary.json",
            "hybrid_ckplus.pt"]  # written to <run_dir>/artifacts/05_hybrid/

# %%
import time

import matplotlib.pyplot as plt
import pandas as pd
import torch
from IPython.display import Markdown, display

from fer_lib.core.device import resolve_device
from fer_lib.core.paths import display_path
from fer_lib.core.validation import check_option, check_subset
from fer_lib.data.synthetic import POSITIVE_CONTROL_CLASSES
from fer_lib.evaluate.predictions import load_predictions, metrics_table, save_predictions
from fer_lib.experiments import hybrid
from fer_lib.faces import sequences as seqs
from fer_lib.models import temporal
from fer_lib.models.cnn import count_parameters
from fer_lib.run.notebook import save_json, setup_notebook
from fer_lib.train.config import get_recipe
from fer_lib.train.head import head_warmup

ctx = setup_notebook("05_hybrid", preset, data_dir, run_dir, seed, upstream=upstream, products=products)
t_notebook = time.perf_counter()
torch.set_num_threads(cpu_threads)
check_subset("variants", variants, hybrid.HYBRID_VARIANTS)
check_option("cnn_init", cnn_init, hybrid.CNN_INITS)
check_option("spatial_control", spatial_control, hybrid.SPATIAL_CONTROLS)
check_option("checkpoint_variant", checkpoint_variant, hybrid.HYBRID_VARIANTS)
study = seqs.load_study_clips(ctx, protocols)
ck48, folds_table, clips, aligned = study.ck48, study.folds_table, study.clips, study.aligned
if aligned is None:
    print(f"the onset-to-apex analysis is skipped: {study.aligned_line}")
earlier = load_predictions({k: ctx.upstream[k] for k in ("03_spatial_baseline", "04_temporal")})
device = resolve_device("auto")
summary = {"data_dir_is_synthetic": ctx.synthetic, "device": str(device), "preset": preset,
           "earlier_predictions": sorted(earlier)}

# %% tags=["nbval-check-output"]
for p, c in clips.items():
    print(f"CK+48 {p}: {len(c)} clips of {c.X.shape[1]} frames ({c.X.shape[2]}x{c.X.shape[3]}), "
          f"{len(set(c.subjects))} subjects, {len(set(c.folds))} folds; classes {list(c.class_names)}")
print(f"hybrid variants: {variants}; rnn: {rnn}; seeds: {seeds}")
if aligned is not None:
    print(f"full sequences: {len(aligned) + len(aligned.excluded)} labelled")

# %% [markdown]
# ## The CNN: from the FER-2013 model of notebook 03
#
# The hybrid's CNN takes the architecture and weights of
# `spatial_fer2013.pt` (its FER-2013 class head is dropped); without that
# checkpoint (notebook 03 not run, or `cnn_init="scratch"`) it starts from
# random weights. A FER-2013 model that collapsed in training (most units of
# its embedding constant on the CK+ frames) has nothing to transfer: the CNN
# then starts from scratch too, and the notebook says so.

# %%
start = hybrid.choose_cnn_start(cnn_init, ctx.upstream["fer_checkpoint"], clips[protocols[0]].X, cnn, cnn_kwargs)
health = start.summary["fer2013_embedding_health"]
if health is not None:
    print(f"FER-2013 embedding on the CK+ frames: {health['n_constant']} of {health['n_units']} units constant")
if start.warning:
    display(Markdown(f"> **Warning.** {start.warning}"))
arch, init_text = start.arch, start.text
display(Markdown(f"The hybrid's CNN is {init_text}."))
summary["cnn_init"] = start.summary

# %% [markdown]
# ## The variants
#
# | variant | pooling of the LSTM states | fusion of f_s and f_t | training |
# | --- | --- | --- | --- |
# | `cnn-rnn` | last state | concatenation [f_s ‖ f_t] | CK+ clips |
# | `attention` | attention over time | attention over {f_s, f_t} | CK+ clips |
# | `augment` | last state | concatenation | CK+ clips with augmentation (same transform for every frame of a clip) |
# | `unified` | last state | concatenation | CK+ clips + FER-2013 *Training* images as motionless clips |
#
# ```{note}
# *Unified*: a FER-2013 image is shown as a clip of identical frames (for a
# model with a fixed `T` this is the single-frame sequence: no motion, and
# the mean of the frame features is the image's). FER-2013 classes map to
# CK+ classes by name (angry → anger, sad → sadness, ...); FER-2013's
# *neutral* has no CK+ class and is dropped, and CK+'s *contempt* gets no
# FER-2013 images. The images join the training folds only, never the
# validation or test fold, and are compared with CK+-only training (`cnn-rnn`).
# ```

# %% tags=["nbval-check-output"]
config = get_recipe(recipe, **{**recipe_overrides, **({} if epochs is None else {"epochs": epochs})})
n_classes = len(clips[protocols[0]].class_names)
model_args = {"rnn": rnn, "rnn_inputs": rnn_inputs, "hidden_size": hidden_size, "fc_dim": fc_dim,
              "fusion_dim": fusion_dim, "dropout": config.dropout, **arch}
variant_table = pd.DataFrame([
    {"variant": v, **hybrid.hybrid_configuration(v)["model"], "rnn_inputs": rnn_inputs,
     "augment": hybrid.variant_config(config, v, augment_preset).to_dict()["augment"],
     "tta": hybrid.variant_config(config, v, augment_preset).tta,
     "fer_images": hybrid.hybrid_configuration(v)["fer_images"]} for v in variants]).set_index("variant")
display(variant_table)
shown = ["epochs", "batch_size", "optimizer", "lr", "schedule", "augment", "tta", "dropout",
         "early_stopping_patience"]
display(pd.DataFrame({"value": {**{k: config.to_dict()[k] for k in shown if k not in ("augment", "tta")},
                                "head_epochs": head_epochs, "head_lr": head_lr, "seeds": str(seeds)}}))

# %%
for v in variants:
    net = temporal.build_hybrid(n_classes, **hybrid.hybrid_configuration(v)["model"], **model_args)
    print(f"{v}: {count_parameters(net):,} parameters ({count_parameters(net.cnn):,} in the CNN)")

# %%
fer_clips = {}
if any(hybrid.hybrid_configuration(v)["fer_images"] for v in [*variants, checkpoint_variant]):
    fer_clips, lines = hybrid.unified_fer_clips(
        ctx.data_dir, {**clips, "7class": seqs.ckplus48_clips(ck48, folds_table, "7class")}, fer_per_class, ctx.seed)
    print("\n".join(lines))

# %% [markdown]
# ## Full sequences for the onset-to-apex analysis
#
# Aligned as in notebooks 02 and 04; each fold's models score the sequences
# of that fold's subjects, cut off after 25 / 50 / 75 / 100 % of their frames.

# %%
print(study.aligned_line)
view_sets = {p: [seqs.sequence_view_set(aligned, folds_table, p, length=c.X.shape[1], fractions=prefix_fractions,
                                        sampling=prefix_sampling)] if aligned is not None else []
             for p, c in clips.items()}

# %% [markdown]
# ## Training over the subject folds
#
# Each variant and protocol: 10 folds x seeds, with
# `fer_lib.train.folds.run_subject_folds` (the fold runner of notebooks 03
# and 04: same folds, validation fold and seeding). In each fold, the layers
# after the CNN (LSTM, pooling, fusion, FC layers) are first fitted for
# `head_epochs` passes on the frozen CNN's frame embeddings
# (`fer_lib.train.head.fit_head`: the CNN runs once over the training frames,
# so this costs less than one ordinary epoch), then the whole model is
# fine-tuned jointly for `epochs` epochs, the best epoch chosen on the
# validation fold.
#
# ```{note}
# A clip model takes one gradient step per clip where a per-frame model takes
# one per frame: for the same compute the hybrid gets a third of the steps.
# The warm-up gives its new layers a good start at little cost; the matched
# spatial control below gets the same warm-up (its linear head on the frozen
# CNN's embeddings) and the same number of fine-tuning epochs. Only the
# `augment` variant trains with augmentation and predicts with the recipe's
# test-time augmentation; the others (and the control) use neither.
# ```

# %% [markdown]
# **The matched spatial control** is the hybrid's own CNN (same
# architecture, same initialisation, same recipe) trained frame by frame, a
# clip predicted by averaging its frames' probabilities (`mode="frames"`, as
# the spatial model of notebook 03). It differs from the hybrid only by the
# missing temporal branch. It is trained when `spatial_control="always"` (the
# real-data presets); the smoke preset leaves it out to stay fast.

# %%
fold_runs = hybrid.train_hybrid_folds(
    clips, variants, config, model_args, augment_preset=augment_preset, seeds=seeds, view_sets=view_sets,
    fer_clips=fer_clips, prepare=head_warmup(head_epochs, lr=head_lr), spatial_control=spatial_control,
    progress=progress)
print("\n".join(fold_runs.lines))
predictions, histories, run_metrics = fold_runs.predictions, fold_runs.histories, fold_runs.metrics

# %% [markdown]
# ## CK+48: spatial, temporal-only and hybrid, fold by fold
#
# Accuracy per test fold (mean over seeds) of every model trained on these
# folds in this run: notebook 03's spatial CNN (*transfer*: from the FER-2013
# model; *scratch*), notebook 04's temporal-only models, and the hybrid
# variants (with the spatial control when trained). The same subjects are in
# the same test fold in every column, so the columns can be paired.

# %%
tables = [*earlier.values(), predictions.assign(notebook="05_hybrid")]
ck_sets = {p: seqs.select_predictions(tables, "ckplus48", p) for p in protocols}
side = {p: seqs.side_by_side(ck_sets[p], p) for p in protocols}
for p in protocols:
    display(Markdown(f"**CK+48 {p}**: accuracy per test fold"))
    display(side[p].round(3))

# %%
display(hybrid.claims_table(side))

# %%
fig, axes = plt.subplots(1, len(protocols), figsize=(6.5 * len(protocols), 3.4), squeeze=False,
                         constrained_layout=True)
for ax, p in zip(axes[0], protocols):
    body = side[p].drop(index=["mean", "sd"])
    for col in body.columns:
        ax.plot(body.index.astype(int), body[col], "o-", ms=4, lw=1, label=col)
    ax.axhline(hybrid.CLAIMED_CKPLUS_HYBRID_ACCURACY, color="k", ls="--", lw=1, label="claimed hybrid (88.4%)")
    ax.axhline(1 / len(clips[p].class_names), color="grey", ls=":", lw=1, label="chance")
    ax.set(xlabel="test fold", ylabel="accuracy", ylim=(0, 1.02), title=f"CK+48 {p}: accuracy per fold")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# Macro precision, recall and F1 per fold, mean ± sd over folds (macro over
# the protocol's classes):

# %%
macro = pd.concat([metrics_table(ck_sets[p][ck_sets[p]["split"] == "test"]) for p in protocols], ignore_index=True)
macro_table = macro.groupby(["protocol", "model", "variant"])[
    ["accuracy", "macro_precision", "macro_recall", "macro_f1"]].agg(["mean", "std"])
display(macro_table.round(3))

# %% [markdown]
# ## The positive control (synthetic data)
#
# On the synthetic data set, fear and surprise clips hold the same frames in
# opposite order (surprise still expanding at the apex, fear relaxing after
# an overshoot). A spatial model that averages its frames' predictions sees
# the same evidence for both, so it can tell them apart only by small apex
# differences; the hybrid sees the order. Per model (7-class protocol when
# it was run, pooled over folds and seeds): the recall of each class, and the *pair
# accuracy*, the share of fear and surprise clips whose true class gets the
# higher probability of the two, whatever the model does with the other
# classes (a model blind to the order can only use the small apex
# differences; 0.5 is a coin toss). The hybrid passes when it beats the best
# spatial model on all three.

# %%
control, verdict = None, {}
pc = list(POSITIVE_CONTROL_CLASSES)
pc_protocol = "7class" if "7class" in protocols else protocols[0]  # both protocols hold fear and surprise
if ctx.synthetic:
    control = seqs.positive_control(ck_sets[pc_protocol][ck_sets[pc_protocol]["split"] == "test"], pc)
    verdict = seqs.control_verdict(control)
    display(control.drop(columns=["model", "variant"]).round(3))
    fig, ax = plt.subplots(figsize=(7.5, 3.3), constrained_layout=True)
    control[[*pc, "pair_accuracy"]].plot.bar(ax=ax, rot=0)
    ax.axhline(0.5, color="k", ls=":", lw=1, label="pair accuracy of a coin toss")
    ax.set(ylabel="recall / pair accuracy", ylim=(0, 1.25), xlabel="",
           title=f"Positive control: the order-only classes (synthetic CK+48, {pc_protocol})")
    ax.legend(fontsize=8, loc="upper center", ncol=4)
    ax.grid(alpha=0.3, axis="y")
    plt.show()
    summary["positive_control"] = {"scores": control[[*pc, "pair_accuracy"]].round(4).to_dict(orient="index"),
                                   "hybrid_beats_every_spatial_model": verdict}
    if not verdict:
        display(Markdown("> **Warning.** No spatial model in this run folder: run notebook 03, or set "
                         "`spatial_control` to train the matched control."))
    ref = control[control["model"] == "spatial"]
    for label, v in verdict.items():
        display(Markdown(
            f"**{label} {'beats' if v['beats'] else 'does NOT beat'} every spatial model on the positive "
            "control**: " + ", ".join(
                f"{c.replace('_', ' ')} {control.loc[label, c]:.2f} vs at most {ref[c].max():.2f}"
                for c in [*pc, "pair_accuracy"]) + "."))
else:
    print("the positive control needs the synthetic data set (fear and surprise are defined by motion only there)")

# %% [markdown]
# ## Onset to apex
#
# Accuracy on the full sequences (pooled over folds and seeds) as a function
# of how much of each sequence the model has seen, for the hybrid variants,
# the spatial control when it was trained here, and notebook 04's
# temporal-only models (same sequences, same folds, same views).
#
# ```{note}
# All models were trained on CK+48 clips, which end at the apex; a sequence
# cut early is also a shift away from the training distribution. The
# sequences' faces come from notebook 02's alignment, not from the CK+48
# release, so even the 100 % point is not the CK+48 test clip itself.
# ```

# %%
onset = None
seq_all = pd.concat([seqs.select_predictions(tables, seqs.SEQUENCES_DATASET, p) for p in protocols],
                    ignore_index=True)
if len(seq_all):
    onset = seqs.prefix_accuracy(seq_all, by=("protocol", "model", "variant"))
    display(onset.pivot_table(index=["protocol", "model", "variant"], columns="fraction", values="accuracy").round(3))
    fig, axes = plt.subplots(1, len(protocols), figsize=(5.5 * len(protocols), 3.4), squeeze=False,
                             constrained_layout=True)
    for ax, p in zip(axes[0], protocols):
        for (m, v), g in onset[onset["protocol"] == p].groupby(["model", "variant"]):
            ax.plot(100 * g["fraction"], g["accuracy"], "o-", label=f"{m}/{v}")
        ax.axhline(1 / len(clips[p].class_names), color="grey", ls=":", lw=1, label="chance")
        ax.set(xlabel="% of the sequence seen (from onset)", ylabel="accuracy", ylim=(0, 1.02),
               title=f"Onset to apex, {p} ({prefix_sampling})")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    plt.show()

# %% [markdown]
# ## Training cost
#
# Throughput of the hybrid's training, from the training histories: clips
# per second (median over epochs, the first epoch of each run left out) and
# frames per second (clips x T); wall time of all folds of each run.

# %%
cost = hybrid.training_cost(fold_runs, frames_per_clip=clips[protocols[0]].X.shape[1])
display(cost)
print(f"device: {device}; torch threads: {torch.get_num_threads()}")

# %% [markdown]
# ## The checkpoint for the video command
#
# One `checkpoint_variant` hybrid on the 7-class protocol: it trains on every
# CK+48 fold but `checkpoint_val_fold`, which picks its epoch. It has no test
# fold (the per-fold scores above are the honest estimate of its accuracy);
# its metadata record the classes, `T`, the preprocessing and the data it saw.

# %%
checkpoint, meta, ckpt_seconds = hybrid.train_video_checkpoint(
    seqs.ckplus48_clips(ck48, folds_table, "7class"), checkpoint_variant, checkpoint_val_fold, config, model_args,
    ctx.product(hybrid.HYBRID_CHECKPOINT), augment_preset=augment_preset, head_epochs=head_epochs, head_lr=head_lr,
    seed=int(seeds[0]), extra=fer_clips["7class"] if hybrid.hybrid_configuration(checkpoint_variant)["fer_images"]
    else None, data_set="synthetic CK+48" if ctx.synthetic else "CK+48", cnn_init=summary["cnn_init"]["used"])
print(f"saved {checkpoint.name} ({checkpoint.stat().st_size / 1e6:.1f} MB) in {ckpt_seconds:.1f} s: epoch "
      f"{meta['epoch']}, validation accuracy {meta['val_metrics']['val_acc']:.3f} on fold {checkpoint_val_fold}")

# %% tags=["nbval-check-output"]
print(f"classes: {meta['class_names']}")
print(f"input shape (T, H, W): {meta['input_shape']}; frames per clip: {meta['frames_per_clip']}")
print(f"upstream preprocessing: {meta['upstream_preprocessing']}")
print(f"trained on: {meta['trained_on']}")

# %% [markdown]
# ## Saving predictions, metrics and histories

# %%
metrics = seqs.fold_metrics(predictions, run_metrics)
save_predictions(predictions, ctx.out_dir)  # predictions.parquet
metrics.to_csv(ctx.product("metrics.csv"), index=False)
histories.to_csv(ctx.product("histories.csv"), index=False)
summary.update(hybrid.notebook_summary(
    config, model_args, seeds, side, cost, fold_runs, onset=onset, sampling=prefix_sampling,
    checkpoint={"file": checkpoint.name, "variant": checkpoint_variant, "epoch": meta["epoch"],
                "val_acc": meta["val_metrics"]["val_acc"], "train_seconds": round(ckpt_seconds, 1)}))
summary["wall_seconds"] = round(time.perf_counter() - t_notebook, 1)
save_json(ctx.product("summary.json"), summary)
print(f"saved {len(predictions):,} predictions and {len(metrics)} metric rows to {display_path(ctx.out_dir)}")

# %% [markdown]
# ## What this notebook showed

# %%
lines = [f"* **CNN**: {init_text}."]
for p in protocols:
    lines.append(f"* **CK+48 {p}** ({'synthetic smoke data' if ctx.synthetic else 'real data'}, "
                 f"{len(side[p]) - 2} subject-independent folds, mean ± sd over folds): " + "; ".join(
                     f"{col} {100 * side[p].loc['mean', col]:.1f} ± {100 * side[p].loc['sd', col]:.1f}%"
                     for col in side[p].columns)
                 + f". Seed paper A claims {100 * hybrid.CLAIMED_CKPLUS_HYBRID_ACCURACY:.1f}% for its hybrid on "
                   "its own split (not measured here).")
if verdict:
    best = control[control["model"] == "spatial"][[*pc, "pair_accuracy"]].max()
    lines.append("* **Positive control** (synthetic fear / surprise: same frames, opposite order): " + "; ".join(
        f"{label} {'beats' if v['beats'] else 'does NOT beat'} every spatial model (recall "
        + ", ".join(f"{c} {100 * control.loc[label, c]:.0f}% vs ≤ {100 * best[c]:.0f}%" for c in pc)
        + f"; pair accuracy {control.loc[label, 'pair_accuracy']:.2f} vs ≤ {best['pair_accuracy']:.2f})"
        for label, v in verdict.items()) + ".")
if onset is not None:
    lines.append(f"* **Onset to apex** ({prefix_sampling}): " + "; ".join(
        f"{m}/{v} ({p}) " + ", ".join(f"{100 * f:.0f}% → {100 * a:.0f}%" for f, a in zip(g["fraction"], g["accuracy"]))
        for (p, m, v), g in onset.groupby(["protocol", "model", "variant"])) + ".")
lines.append("* **Training throughput** of the hybrid on " + f"{device}: " + "; ".join(
    f"{r['protocol']} {r['variant']} {r['clips/s']:.0f} clips/s ({r['frames/s']:.0f} frames/s), "
    f"{r['wall time (s)']:.0f} s for {r['fold runs']} fold runs" for _, r in cost.iterrows()) + ".")
if ctx.synthetic:
    lines.append("* These are **synthetic smoke** numbers: they check the pipeline, not the question.")
lines.append(f"* Notebook wall time: {summary['wall_seconds']:.0f} s.")
display(Markdown("\n".join(lines)))
