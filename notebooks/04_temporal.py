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
# # 04 · Temporal-only model
#
# How far does **motion alone** go? This notebook trains an LSTM (and a GRU)
# that sees each frame only through fixed, non-learned features: the frame
# average-pooled to 12x12 pixels and its difference from the first frame of
# the clip. No convolutional (or any other) spatial encoder is learned, so
# whatever the model gets right beyond a bag of blurred pixels it gets from
# the order and the change of the frames. It is the temporal counterpart of
# the spatial CNN of notebook 03, trained under exactly the same protocol:
#
# 1. **CK+48 clips** (3 frames ending at the apex) over the 10
#    subject-independent folds of notebook 01: for test fold *k*, fold *k+1*
#    picks the epoch and the other eight train; accuracy and macro
#    precision / recall / F1 per fold, per protocol (7 classes, 6 without
#    contempt);
# 2. the **onset-to-apex analysis** on full sequences: the same fold models
#    (each sequence is scored by the model whose test fold holds its subject)
#    see each sequence cut off after its first 25 / 50 / 75 / 100 % of frames.
#
# **Inputs** (`upstream`): the data folder's CK+48, `ckplus48_folds.csv` of
# notebook 01 and the aligned full sequences of notebook 02
# (`ckplus_aligned.npz`). **Outputs** (`products`, in
# `<run_dir>/artifacts/04_temporal/`): `predictions.parquet`
# (every CK+48 test clip per protocol, RNN, fold and seed; every sequence
# prefix), `metrics.csv` (scores per fold with training times),
# `histories.csv` and `summary.json`.

# %% tags=["parameters"]
preset = "smoke"  # name of the run: outputs go to <runs root>/<preset>
data_dir = "synthetic"  # "synthetic", "auto" (data/ then ../shared/data) or a folder
run_dir = None  # None: <runs root>/<preset> (FER_RUNS_DIR sets the root)
seed = 0  # notebook seed (each training run is seeded by its own seed below)
protocols = ["7class"]  # CK+ protocols: "7class", "6class"
rnns = ["lstm"]  # recurrent cells: "lstm", "gru"
seeds = [0]  # training seeds (each fold is trained once per seed)
recipe = "paper"  # training recipe (fer_lib.train.config.RECIPES)
epochs = 30  # epochs of that recipe; None: the recipe's own
recipe_overrides = {"lr": 0.003, "batch_size": 16, "early_stopping_patience": None}  # other TrainConfig fields
hidden_size = 64  # RNN state size
pool_size = 12  # frames are average-pooled to pool_size x pool_size
temporal_inputs = "pixels+diff"  # fixed per-frame inputs: "pixels+diff" or "diff" (motion only)
pooling = "last"  # pooling of the RNN states over time: "last", "mean", "attention"
prefix_fractions = [0.25, 0.5, 0.75, 1.0]  # onset-to-apex: fractions of each sequence seen
prefix_sampling = "window"  # prefix -> clip: its last T frames ("window") or all of it resampled ("resample")
cpu_threads = 1  # torch CPU threads (1 is fastest on a small shared machine)
progress = False  # tqdm progress bars while training
upstream = {"folds": "01_data_audit/ckplus48_folds.csv", "aligned": "02_alignment/ckplus_aligned.npz"}  # read here
products = ["predictions.parquet", "metrics.csv", "histories.csv", "summary.json"]  # in artifacts/04_temporal/

# %%
import time

import matplotlib.pyplot as plt
import pandas as pd
import torch
from IPython.display import Markdown, display

from fer_lib.core.device import resolve_device
from fer_lib.core.paths import display_path
from fer_lib.core.validation import check_subset
from fer_lib.data.synthetic import POSITIVE_CONTROL_CLASSES
from fer_lib.evaluate.predictions import metrics_table, save_predictions
from fer_lib.experiments import temporal as temporal_study
from fer_lib.faces import sequences as seqs
from fer_lib.models.cnn import count_parameters
from fer_lib.models.temporal import RNN_TYPES, build_temporal
from fer_lib.run.notebook import save_json, setup_notebook
from fer_lib.train.config import get_recipe

ctx = setup_notebook("04_temporal", preset, data_dir, run_dir, seed, upstream=upstream, products=products)
t_notebook = time.perf_counter()
torch.set_num_threads(cpu_threads)
check_subset("rnns", rnns, RNN_TYPES)
study = seqs.load_study_clips(ctx, protocols)
folds_table, clips, aligned = study.folds_table, study.clips, study.aligned
if aligned is None:
    print(f"the onset-to-apex analysis is skipped: {study.aligned_line}")
device = resolve_device("auto")
summary = {"data_dir_is_synthetic": ctx.synthetic, "device": str(device), "preset": preset}

# %% tags=["nbval-check-output"]
for p, c in clips.items():
    print(f"CK+48 {p}: {len(c)} clips of {c.X.shape[1]} frames ({c.X.shape[2]}x{c.X.shape[3]}), "
          f"{len(set(c.subjects))} subjects, {len(set(c.folds))} folds; classes {list(c.class_names)}")
if aligned is not None:
    print(f"full sequences: {len(aligned) + len(aligned.excluded)} labelled")

# %% [markdown]
# ## The model
#
# `fer_lib.models.temporal.TemporalRNN`: per frame, the 12x12 average-pooled
# pixels and their difference from the clip's first frame (288 numbers, a
# per-feature batch normalisation), an LSTM or GRU over the frames, its last
# state, dropout and a linear classifier. The difference channel carries the
# motion; the pooled pixels carry a blurred appearance that a linear map of
# the RNN's input gates can use, but no convolution or other spatial encoder
# is learned.

# %% tags=["nbval-check-output"]
config = get_recipe(recipe, **{**recipe_overrides, **({} if epochs is None else {"epochs": epochs})})
model_kwargs = {"hidden_size": hidden_size, "pool_size": pool_size, "inputs": temporal_inputs, "pooling": pooling,
                "dropout": config.dropout}
shown = ["epochs", "batch_size", "optimizer", "lr", "schedule", "augment", "tta", "dropout",
         "early_stopping_patience"]
display(pd.DataFrame({"value": {**{k: config.to_dict()[k] for k in shown}, "seeds": str(seeds)}}))
for rnn in rnns:
    net = build_temporal(len(clips[protocols[0]].class_names), rnn=rnn, **model_kwargs)
    print(f"{rnn}: {count_parameters(net):,} parameters, input features per frame: {net.input_dim}")

# %% [markdown]
# ## Full sequences for the onset-to-apex analysis
#
# Faces as notebook 02 aligned them (the release's landmarks when it has
# them, else MTCNN), read from its `ckplus_aligned.npz`. A sequence cut off
# after a fraction *f* of its frames is
# shown to the fold models as its last 3 frames up to that point (`window`,
# what a 3-frame model sees at that moment), or as the whole prefix
# resampled to 3 frames (`resample`).

# %%
print(study.aligned_line)
if aligned is not None:
    if len(aligned.excluded):
        display(aligned.excluded)
    summary["sequences"] = aligned.summary()

# %% [markdown]
# ## Training over the subject folds
#
# `fer_lib.train.folds.run_subject_folds`, the fold runner of notebook 03
# (same folds, validation fold and seeding), also scores the sequence
# prefixes of each test fold with that fold's model.

# %%
view_sets = {p: [seqs.sequence_view_set(aligned, folds_table, p, length=c.X.shape[1], fractions=prefix_fractions,
                                        sampling=prefix_sampling)] if aligned is not None else []
             for p, c in clips.items()}
runs, lines = temporal_study.train_temporal_folds(clips, rnns, config, model_kwargs, seeds=seeds,
                                                  view_sets=view_sets, progress=progress)
print("\n".join(lines))
predictions = pd.concat([r.predictions for r in runs.values()], ignore_index=True)
histories = pd.concat([r.histories.assign(protocol=p, variant=v) for (p, v), r in runs.items()], ignore_index=True)
run_metrics = pd.concat([r.metrics for r in runs.values()], ignore_index=True)

# %% [markdown]
# ## CK+48: scores per test fold
#
# Accuracy per fold (mean over seeds), then the mean and standard deviation
# over the folds; macro averages are over the protocol's classes.

# %%
ck_pred = predictions[(predictions["dataset"] == "ckplus48") & (predictions["split"] == "test")]
scores = metrics_table(ck_pred)
per_fold, macro = temporal_study.fold_table(scores)
display(per_fold.round(3))
display(macro.round(3))

# %%
fig, ax = plt.subplots(figsize=(6, 3.2), constrained_layout=True)
body = per_fold.drop(index=["mean", "sd"])
for k, col in enumerate(body.columns):
    ax.plot(body.index, body[col], "o-", ms=4, label=" ".join(col))
ax.axhline(1 / len(clips[protocols[0]].class_names), color="grey", ls=":", lw=1, label="chance")
ax.set(xlabel="test fold", ylabel="accuracy", ylim=(0, 1.02), title="Temporal-only model on CK+48, per fold")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# ### Which classes motion alone recognises
#
# Recall per class, pooled over folds and seeds. On the synthetic data set,
# fear and surprise clips hold the same frames in opposite order (the
# positive control): a model that sees frame order can separate them.

# %%
recall = pd.concat([seqs.class_recall(ck_pred[ck_pred["protocol"] == p]).assign(protocol=p) for p in protocols])
display(recall.set_index(["protocol", "model", "variant"]).filter(items=list(clips[protocols[0]].class_names)).round(3))
control = None
if ctx.synthetic:
    pc_protocol = "7class" if "7class" in protocols else protocols[0]  # both protocols hold fear and surprise
    control = seqs.positive_control(ck_pred[ck_pred["protocol"] == pc_protocol], list(POSITIVE_CONTROL_CLASSES))
    print(f"positive control ({pc_protocol}): pair accuracy = share of fear and surprise clips whose true class gets "
          "the higher probability of the two (0.5: a coin toss)")
    display(control.drop(columns=["model", "variant"]).round(3))
    summary["positive_control"] = control[[*POSITIVE_CONTROL_CLASSES, "pair_accuracy"]].round(4).to_dict(orient="index")

# %% [markdown]
# ## Onset to apex
#
# Accuracy on the full sequences (pooled over folds and seeds) as a function
# of how much of each sequence the model has seen.
#
# ```{note}
# The models were trained on CK+48 clips, which end at the apex; a sequence
# cut early is therefore also a shift away from the training distribution,
# and accuracy at 25 % measures how early a 3-frame apex model recognises an
# expression that is still forming. The sequences' crops come from the
# alignment of notebook 02, not from the CK+48 release, so even the 100 %
# point is not the CK+48 test clip itself.
# ```

# %%
onset = None
if aligned is not None:
    seq_pred = predictions[predictions["dataset"] == seqs.SEQUENCES_DATASET]
    onset = seqs.prefix_accuracy(seq_pred, by=("protocol", "model", "variant"))
    display(onset.pivot_table(index=["protocol", "variant"], columns="fraction", values="accuracy").round(3))
    fig, ax = plt.subplots(figsize=(5, 3.2), constrained_layout=True)
    for (p, v), g in onset.groupby(["protocol", "variant"]):
        ax.plot(100 * g["fraction"], g["accuracy"], "o-", label=f"temporal {v} ({p})")
    ax.axhline(1 / len(clips[protocols[0]].class_names), color="grey", ls=":", lw=1, label="chance")
    ax.set(xlabel="% of the sequence seen (from onset)", ylabel="accuracy", ylim=(0, 1.02),
           title=f"Onset to apex ({len(aligned)} sequences, {prefix_sampling})")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    plt.show()

# %% [markdown]
# ## Saving predictions, metrics and histories

# %%
metrics = seqs.fold_metrics(predictions, run_metrics)
save_predictions(predictions, ctx.out_dir)  # predictions.parquet
metrics.to_csv(ctx.product("metrics.csv"), index=False)
histories.to_csv(ctx.product("histories.csv"), index=False)
summary.update(temporal_study.notebook_summary(config, model_kwargs, seeds, per_fold, macro, run_metrics,
                                               onset=onset, sampling=prefix_sampling))
summary["wall_seconds"] = round(time.perf_counter() - t_notebook, 1)
save_json(ctx.product("summary.json"), summary)
print(f"saved {len(predictions):,} predictions and {len(metrics)} metric rows to {display_path(ctx.out_dir)}")

# %% [markdown]
# ## What this notebook showed

# %%
lines = [f"* **CK+48, temporal-only** ({'synthetic smoke data' if ctx.synthetic else 'real data'}, "
         f"{len(body)} subject-independent folds, {len(seeds)} seed(s)): "
         + "; ".join(f"{p} {v} {100 * per_fold.loc['mean', (p, v)]:.1f} ± {100 * per_fold.loc['sd', (p, v)]:.1f}% "
                     f"(macro-F1 {macro.loc[(p, v), ('macro_f1', 'mean')]:.3f})" for p, v in body.columns) + "."]
if control is not None:
    lines.append("* **Positive-control classes** (synthetic fear and surprise: same frames, opposite order): "
                 + "; ".join(f"{label} recall fear {100 * r['fear']:.0f}%, surprise {100 * r['surprise']:.0f}%, "
                             f"pair accuracy {r['pair_accuracy']:.2f} (0.5: a coin toss)"
                             for label, r in control.iterrows()) + ".")
if onset is not None:
    lines.append("* **Onset to apex** (" + f"{len(aligned)} sequences, {prefix_sampling}): " + "; ".join(
        f"{p} {v} " + ", ".join(f"{100 * f:.0f}% seen → {100 * a:.1f}%" for f, a in zip(g["fraction"], g["accuracy"]))
        for (p, v), g in onset.groupby(["protocol", "variant"])) + ".")
if ctx.synthetic:
    lines.append("* These are **synthetic smoke** numbers: they check the pipeline, not the question.")
lines.append(f"* Notebook wall time: {summary['wall_seconds']:.0f} s on {device}.")
display(Markdown("\n".join(lines)))
