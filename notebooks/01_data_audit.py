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
# # 01 · Data audit
#
# Before any model is trained, this notebook looks at the data the parameters
# name and answers the questions a reviewer asks first:
#
# * how many images, sequences and subjects there are per split and class, and
#   how imbalanced the classes are;
# * what the pixels look like (per-split statistics, near-blank images) and
#   what each class looks like (sample grids);
# * whether anything **leaks** between the sets we train on and the sets we
#   report on: exact and near-duplicate images across FER-2013's splits, and
#   subjects shared between CK+ folds.
#
# It also fixes the CK+ subject-independent folds that every later notebook
# uses, so that per-fold scores of different models can be paired.

# %% tags=["parameters"]
preset = "smoke"  # name of the run: outputs go to <runs root>/<preset>
data_dir = "synthetic"  # "synthetic", "auto" (data/ then ../shared/data) or a folder
run_dir = None  # None: <runs root>/<preset> (FER_RUNS_DIR sets the root)
seed = 0  # seed of the CK+ folds and of the example draws
n_folds = 10  # subject-independent CK+ folds
near_max_mad = 4.0  # near-duplicate threshold: mean absolute grey-level difference
upstream = {}  # artefacts of earlier notebooks read here: none (the data folder only)
products = ["audit.json", "ckplus48_folds.csv", "fer2013_duplicates.csv"]  # in <run_dir>/artifacts/01_data_audit/

# %% [markdown]
# **Inputs**: the data folder. **Outputs** (`products`, in `<run_dir>/artifacts/01_data_audit/`):
# `audit.json` (every figure quoted below), `ckplus48_folds.csv` (the fold of
# each CK+48 clip) and `fer2013_duplicates.csv` (the duplicate pairs).

# %%
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from fer_lib.core import plots
from fer_lib.data import audit
from fer_lib.data.splits import fold_summary, subject_folds, subject_overlap
from fer_lib.run.notebook import save_json, setup_notebook

ctx = setup_notebook("01_data_audit", preset, data_dir, run_dir, seed, upstream=upstream, products=products)
loaded, absent = audit.load_datasets(ctx.data_dir)
for name, reason in absent.items():
    print(f"absent: {name}: {reason}")
summary = {"data_dir_is_synthetic": ctx.synthetic, "absent": sorted(absent)}

# %% [markdown]
# ## FER-2013
#
# Static 48x48 grayscale faces in three canonical splits. The protocol of this
# study: train on *Training*, select models on *PublicTest*, report once on
# *PrivateTest*.

# %% tags=["nbval-check-output"]
fer = loaded.get("fer2013")
if fer is None:
    print("FER-2013 is not in this data folder; skipping its audit.")
else:
    counts = fer.counts()
    summary["fer2013"] = {
        "source_is_csv": fer.source.endswith((".csv", ".gz", ".xz")),
        "n_images": len(fer),
        "split_counts": counts.sum().to_dict(),
        "class_counts": counts.to_dict(),
        "imbalance_training": audit.imbalance(counts["Training"]) if "Training" in counts else None,
        "notes": list(fer.notes),
    }
    print(f"{len(fer)} images; per split: {counts.sum().to_dict()}")
    print(f"imbalance (largest / smallest class, Training): {summary['fer2013']['imbalance_training']:.1f}")
    display(counts)

# %%
if fer is not None:
    fig = plots.count_bars(counts, title="FER-2013: images per class and split")
    plt.show()
    display(audit.pixel_statistics(fer.images, fer.usage).round(2))

# %%
if fer is not None:
    train_x, train_y = fer.split(fer.splits[0])
    fig = plots.class_grid(train_x, train_y, fer.class_names, per_class=10, seed=ctx.seed,
                           suptitle=f"FER-2013 {fer.splits[0]}: random examples per class")
    plt.show()

# %% [markdown]
# ### Leakage: duplicates across splits
#
# ```{note}
# *Exact* duplicates are byte-identical images; *near* duplicates share a
# 64-bit perceptual hash and differ by at most `near_max_mad` grey levels on
# average (see `fer_lib.data.audit`). FER-2013 was collected by web search, so the
# same photo can appear twice, sometimes with two different labels. A test
# image with a duplicate in Training inflates test accuracy slightly; the
# study keeps the canonical splits (so numbers stay comparable with the
# literature) and reports the size of the overlap here.
# ```

# %%
if fer is not None:
    pairs = audit.find_duplicates(fer.images, fer.usage, fer.labels, near_max_mad=near_max_mad)
    pairs.to_csv(ctx.product("fer2013_duplicates.csv"), index=False)
    dup = audit.duplicate_summary(pairs, fer.splits)
    leaked = audit.leaked_test_images(pairs, fer.splits[0], fer.splits[1:])
    summary["fer2013"]["duplicates"] = dup.to_dict(orient="records")
    summary["fer2013"]["test_images_with_training_duplicate"] = leaked
    display(dup)
    for split, n in leaked.items():
        n_split = int((fer.usage == split).sum())
        print(f"{split}: {n} of {n_split} images ({100 * n / n_split:.1f}%) have a duplicate in {fer.splits[0]}")

# %%
if fer is not None:
    cross = pairs[pairs["group_i"] != pairs["group_j"]].copy()
    cross["label_i"] = [fer.class_names[k] for k in cross["label_i"]]
    cross["label_j"] = [fer.class_names[k] for k in cross["label_j"]]
    fig = plots.duplicate_pairs_figure(fer.images, cross.sort_values("kind", ascending=False), n=4,
                                       title="Duplicate pairs across splits (split, label)")
    if fig is None:
        print("no duplicate pairs across splits")
    plt.show()

# %% [markdown]
# ## CK+48: three-frame clips
#
# The common CK+48 release keeps the last three frames (ending at the apex) of
# each labelled CK+ sequence, cropped to 48x48. Frames of one sequence are
# near-identical, so splitting by frame or by sequence would leak a person's
# face into the test fold: every split here is **by subject**.

# %% tags=["nbval-check-output"]
ck48 = loaded.get("ckplus48")
if ck48 is None:
    print("CK+48 is not in this data folder; skipping its audit.")
else:
    table = ck48.table()
    per_class = table["label"].value_counts().reindex(ck48.class_names, fill_value=0)
    summary["ckplus48"] = {
        "n_clips": len(ck48),
        "n_frames": int(ck48.clips.shape[0] * ck48.clips.shape[1]),
        "n_subjects": int(table["subject"].nunique()),
        "class_counts": per_class.to_dict(),
        "n_excluded": len(ck48.excluded),
        "imbalance": audit.imbalance(per_class),
    }
    print(f"{len(ck48)} clips of {ck48.clips.shape[1]} frames from {table['subject'].nunique()} subjects; "
          f"{len(ck48.excluded)} sequences excluded")
    display(per_class.to_frame("clips").T)
    if len(ck48.excluded):
        display(ck48.excluded)

# %%
if ck48 is not None:
    fig = plots.class_grid(ck48.clips[:, -1], ck48.labels, ck48.class_names, per_class=10, seed=ctx.seed,
                           suptitle="CK+48: apex frame of random clips per class")
    plt.show()
    fig = plots.histogram(table.groupby("subject").size(), bins=range(1, 10),
                          title="CK+48: clips per subject", xlabel="clips")
    plt.show()

# %% [markdown]
# ### Subject-independent folds
#
# Subjects are assigned to folds by `fer_lib.data.splits.subject_folds`
# (scikit-learn's `StratifiedGroupKFold` with the subject as group, classes
# balanced, seeded). The leakage check below must find no subject in two folds.

# %% tags=["nbval-check-output"]
if ck48 is not None:
    folds = subject_folds(ck48.subjects, ck48.labels, n_folds=n_folds, seed=ctx.seed, order_key=ck48.sequence_ids)
    overlap = subject_overlap(ck48.subjects, folds)
    fold_table = fold_summary(ck48.subjects, ck48.labels, folds, ck48.class_names)
    table.assign(fold=folds).to_csv(ctx.product("ckplus48_folds.csv"), index=False)
    summary["ckplus48"]["folds"] = {"n_folds": n_folds, "subjects_in_several_folds": len(overlap),
                                    "clips_per_fold": fold_table["n_samples"].tolist()}
    print(f"subjects found in more than one fold: {len(overlap)}")
    assert overlap.empty, "CK+ folds must be subject-independent"
    display(fold_table)

# %% [markdown]
# ## CK+ full sequences (official release layout)
#
# Complete sequences from a neutral onset to the apex, in the layout of the
# official release; raw camera frames (faces not cropped). Sequences without
# an emotion label are reported and left out of the study.

# %% tags=["nbval-check-output"]
seqs = loaded.get("ckplus_sequences")
if seqs is None:
    print("No CK+ sequences in this data folder; skipping.")
else:
    seq_table = seqs.table()
    labelled = seq_table[seq_table["label"].notna()]
    first = seqs.labelled[0].frames()
    summary["ckplus_sequences"] = {
        "n_sequences": len(seq_table),
        "n_labelled": len(seqs.labelled),
        "n_unlabelled": len(seqs.unlabelled),
        "n_subjects": int(seq_table["subject"].nunique()),
        "n_frames": int(seq_table["n_frames"].sum()),
        "frames_min_median_max": [int(seq_table["n_frames"].min()), float(seq_table["n_frames"].median()),
                                  int(seq_table["n_frames"].max())],
        "frame_size": list(first.shape[1:]),
        "has_landmarks": bool(seq_table["has_landmarks"].all()),
        "class_counts": labelled["label"].value_counts().to_dict(),
        "notes": list(seqs.notes),
    }
    print(f"{len(seq_table)} sequences ({len(seqs.labelled)} labelled, {len(seqs.unlabelled)} unlabelled) "
          f"from {seq_table['subject'].nunique()} subjects, {seq_table['n_frames'].sum()} frames of "
          f"{first.shape[2]}x{first.shape[1]}; landmarks: {summary['ckplus_sequences']['has_landmarks']}")
    display(labelled["label"].value_counts().to_frame("sequences").T)
    for note in seqs.notes:
        print("note:", note)

# %%
if seqs is not None:
    fig = plots.histogram(seq_table["n_frames"], bins=15, title="CK+ sequences: frames per sequence",
                          xlabel="frames")
    plt.show()
    step = max(1, len(first) // 8)
    shown = first[::step][:8]
    fig = plots.image_grid(shown, [f"frame {k * step + 1}" for k in range(len(shown))], ncols=8, size=1.8,
                           suptitle=f"{seqs.labelled[0].sequence_id} ({seqs.labelled[0].label}): onset to apex")
    plt.show()

# %%
save_json(ctx.product("audit.json"), summary)

# %% [markdown]
# ## What the audit showed

# %%
lines = []
if "fer2013" in summary:
    s = summary["fer2013"]
    lines.append(f"* **FER-2013**: {s['n_images']:,} images; "
                 + ", ".join(f"{k} {v:,}" for k, v in s["split_counts"].items())
                 + f"; classes imbalanced {s['imbalance_training']:.1f} : 1 in Training. Test images with a"
                 " duplicate in Training: "
                 + ", ".join(f"{k} {v}" for k, v in s["test_images_with_training_duplicate"].items()) + ".")
if "ckplus48" in summary:
    s = summary["ckplus48"]
    lines.append(f"* **CK+48**: {s['n_clips']} clips ({s['n_frames']} frames) from {s['n_subjects']} subjects, "
                 f"{s['n_excluded']} excluded; {s['folds']['n_folds']} subject-independent folds, "
                 f"{s['folds']['subjects_in_several_folds']} subjects shared between folds.")
if "ckplus_sequences" in summary:
    s = summary["ckplus_sequences"]
    lines.append(f"* **CK+ sequences**: {s['n_sequences']} sequences ({s['n_labelled']} labelled, "
                 f"{s['n_unlabelled']} unlabelled) from {s['n_subjects']} subjects, {s['n_frames']} frames.")
lines += [f"* absent: {name}" for name in summary["absent"]]
display(Markdown("\n".join(lines)))
