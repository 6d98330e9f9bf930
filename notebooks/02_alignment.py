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
# # 02 · Face detection and alignment
#
# Models only see what this stage gives them: a face, cropped and aligned the
# same way in every frame. This notebook runs the stage on the data the
# parameters name and shows:
#
# * raw frames with the face box and the 5 points used for alignment, and the
#   aligned crops (similarity transform of the 5 points onto a canonical
#   template), as a before/after grid per class;
# * the status of **every** frame (detected / from landmarks / fallback /
#   none): detection rates per data set and the frames where no face was found;
# * how stable the crops are over time: how far the eyes move inside the crop
#   between consecutive frames;
# * detecting every frame vs detecting every *k* frames and tracking in
#   between: agreement and throughput (frames/s on this machine);
# * fixed-length resampling of sequences and the intensity normalisations later
#   notebooks can choose from;
# * photos and videos (several faces, no face at all) when the media folder is
#   present.
#
# The crops are cached in the run folder (keyed by the bytes of the input
# files and every parameter), so later notebooks and re-runs read them back
# instead of aligning twice.

# %% tags=["parameters"]
preset = "smoke"  # name of the run: outputs go to <runs root>/<preset>
data_dir = "synthetic"  # "synthetic", "auto" (data/ then ../shared/data) or a folder
run_dir = None  # None: <runs root>/<preset> (FER_RUNS_DIR sets the root)
seed = 0  # seed of the example draws
method = "auto"  # "auto" (landmarks when the data set has them, else MTCNN), "landmarks", "mtcnn" or "haar"
detect_every = 1  # CK+ alignment: run the detector every k frames (1: every frame)
tracked_detect_every = 5  # k of the detect-and-track comparison
size = 48  # crop side: 48, 64, 112 or 224
color = "gray"  # "gray" or "rgb" crops
normalization = "zscore"  # default intensity normalisation for later notebooks (all are shown)
clip_length = 16  # frames per sequence after fixed-length resampling
max_sequences = None  # None: every labelled CK+ sequence
check_sequences = 2  # sequences re-aligned with MTCNN when the data set has landmarks
throughput_frames = 16  # frames per throughput measurement
media_dir = "../shared/data/media"  # photos and videos (relative to the project root); skipped if absent
video_step = 6  # keep every n-th video frame
video_max_frames = 12  # frames decoded per video
drift_threshold = 2.0  # eye motion (crop pixels between consecutive frames) counted as unstable
upstream = {}  # artefacts of earlier notebooks read here: none (the data folder only)
products = ["ckplus_aligned.npz", "alignment.json", "ckplus_frames.parquet", "ckplus_sequences.csv",
            "ckplus_eye_drift.csv", "media_frames.csv"]  # written to <run_dir>/artifacts/02_alignment/

# %% [markdown]
# **Inputs**: the CK+ sequences of the data folder (official release layout)
# and the media folder. **Outputs** (`products`, in
# `<run_dir>/artifacts/02_alignment/`): `ckplus_aligned.npz` (the aligned
# crops of every sequence and which frames had a face: notebooks 04 and 05
# read them from there, they do not align again), `alignment.json` (every
# number quoted below, and the `params` of the CK+ alignment),
# `ckplus_frames.parquet` (one record per frame: status, box, points,
# alignment matrix), `ckplus_sequences.csv` (status counts per sequence),
# `ckplus_eye_drift.csv` and, with media, `media_frames.csv`.
#
# ```{note}
# Re-runs of this notebook read the crops back from the alignment cache,
# outside the project (`~/.cache/fer-study/alignment/`, or
# `$FER_CACHE_DIR/alignment/`), keyed by the input files' bytes and every
# parameter. `ckplus_aligned.npz` holds face crops derived from the data
# set: it stays in the run folder and is never published.
# ```

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from fer_lib.core import paths, plots
from fer_lib.core.errors import DataError
from fer_lib.data.ckplus import find_ckplus_sequences, load_ckplus_sequences
from fer_lib.data.constants import CKPLUS_CLASSES
from fer_lib.experiments import alignment as alignment_study
from fer_lib.faces import datasets as faces
from fer_lib.faces.alignment import NORMALIZATIONS, align_face
from fer_lib.faces.detection import read_image, read_video_frames
from fer_lib.faces.sequences import ALIGNED_SEQUENCES_FILE, save_aligned_sequences
from fer_lib.run.notebook import save_json, setup_notebook

ctx = setup_notebook("02_alignment", preset, data_dir, run_dir, seed, upstream=upstream, products=products)
cache_dir = faces.alignment_cache_dir()
media = (paths.project_root() / media_dir).resolve()
try:
    seqs = load_ckplus_sequences(find_ckplus_sequences(ctx.data_dir))
except DataError as err:
    seqs, seqs_missing = None, str(err)
    print(f"absent: CK+ sequences: {err}")
summary = {"data_dir_is_synthetic": ctx.synthetic, "cache_dir": "alignment cache (fer_lib.faces.datasets.alignment_cache_dir)",
           "normalization": normalization, "clip_length": clip_length}
status_rows = {}  # data set -> per-frame records, for the table of detection rates

# %% [markdown]
# ## CK+ sequences: every frame aligned
#
# Each sequence goes through `fer_lib.faces.alignment.align_sequence`: the 5 points
# (eye centres, nose tip, mouth corners) come from the data set's 68-point
# `Landmarks` files when it has them, else from MTCNN; they are smoothed over
# time (a detection is blended half-and-half with the position tracked from
# the previous frame by optical flow) and mapped by a weighted least-squares
# similarity transform onto the template, the eyes weighing most. No frame is
# dropped: a frame without a face keeps its record, with status `none` and an
# empty crop.

# %%
if seqs is not None:
    aligned = faces.align_ckplus_sequences(seqs, method, detect_every, size, cache_dir, color=color,
                                           max_sequences=max_sequences)
    n_hits = sum(aligned.cache_hits)
    print(f"{aligned.n_frames} frames of {len(aligned)} sequences in {aligned.seconds:.1f} s "
          f"({n_hits} sequences read from the cache, {len(aligned) - n_hits} aligned now)")

# %% tags=["nbval-check-output"]
if seqs is None:
    print("No CK+ sequences in this data folder; skipping their alignment.")
else:
    ck_table = aligned.table()
    ck_counts = faces.status_counts(aligned.records, by="method")
    status_rows["CK+ sequences"] = aligned.records
    missed = aligned.records.loc[aligned.records["status"] == "none", ["sequence_id", "frame", "frame_file"]]
    frame_h, frame_w = read_image(aligned.sequences[0].frame_paths[0]).shape[:2]
    summary["ckplus"] = {
        "params": aligned.params,
        "n_sequences": len(aligned),
        "n_frames": aligned.n_frames,
        "frame_size": [frame_w, frame_h],
        "methods": ck_table["method"].value_counts().to_dict(),
        "status_counts": faces.status_summary(aligned.records),
        "frames_missed": missed["frame_file"].tolist(),
        "multi_face_frames": aligned.records.loc[aligned.records["n_faces"] > 1, "frame_file"].tolist(),
    }
    print(f"{aligned.n_frames} frames ({frame_w}x{frame_h}) of {len(aligned)} sequences -> "
          f"{size}x{size} {color} crops; detector per sequence: {summary['ckplus']['methods']}")
    print(f"frames with a face: {aligned.n_frames - len(missed)} of {aligned.n_frames} "
          f"({100 * (1 - len(missed) / aligned.n_frames):.1f}%); frames with several faces: "
          f"{len(summary['ckplus']['multi_face_frames'])}")
    display(ck_counts)

# %% [markdown]
# One sequence from onset to apex: the raw frames with the kept face's box
# (green) and its 5 points (red), and below them the aligned crops.

# %%
if seqs is not None:
    example = int(np.argmax([len(c) for c in aligned.crops]))  # the longest sequence
    seq = aligned.sequences[example]
    fig = faces.sequence_figure(seq.frames(), aligned.crops[example], aligned.sequence_records(example), n=8,
                                suptitle=f"{seq.sequence_id} ({seq.label}): raw frames and aligned crops")
    plt.show()

# %% [markdown]
# ### Before and after, per class
#
# The apex frame of random sequences of each class: raw (with box and points)
# and aligned.

# %%
if seqs is not None:
    fig = faces.before_after_figure(aligned, per_class=3, seed=ctx.seed,
                                    suptitle="Apex frames: raw with box and points, then aligned")
    plt.show()

# %% [markdown]
# ### Frames without a face
#
# Every frame whose status is `none` is listed here by name and shown (at most
# 8), so that a missed face is never silently dropped from the study.

# %% tags=["nbval-check-output"]
if seqs is not None:
    if missed.empty:
        print(f"No missed frame: every one of the {aligned.n_frames} frames has a face.")
    else:
        print(f"{len(missed)} frames without a face:")
        display(missed.reset_index(drop=True))

# %%
if seqs is not None and not missed.empty:
    shown = missed.head(8)
    images = [aligned.frame_image(r.sequence_id, r.frame) for r in shown.itertuples()]
    fig = faces.detections_figure(images, titles=shown["frame_file"].tolist(), ncols=4,
                                  suptitle="CK+ frames where no face was found")
    plt.show()

# %% [markdown]
# ### Stability over time: eye drift inside the crops
#
# ```{note}
# The measure: the eyes *as detected on each frame* (before smoothing; the
# data set's landmarks when it has them) are mapped into that frame's crop,
# and we take how far they move between consecutive crops (mean over the two
# eyes, in pixels of the aligned crop; see
# `fer_lib.faces.datasets.eye_drift`). A perfectly stable alignment keeps them on the
# same pixel. The detector's own jitter counts against the alignment here, so
# this is an upper bound on the drift of the crops.
# ```

# %% tags=["nbval-check-output"]
if seqs is not None:
    drift = faces.eye_drift(aligned.records)
    drift.to_csv(ctx.product("ckplus_eye_drift.csv"), index=False)
    summary["ckplus"]["eye_drift"] = faces.drift_summary(drift, drift_threshold)
    d = summary["ckplus"]["eye_drift"]
    print(f"eye drift between consecutive frames ({d['n_pairs']} pairs, {size}x{size} crops): "
          f"median {d['median_px']:.2f} px, 95th percentile {d['p95_px']:.2f} px, max {d['max_px']:.2f} px; "
          f"{d['n_over_threshold']} pairs above {drift_threshold} px")
    per_seq = drift.groupby("sequence_id")["drift_px"].max()
    print(f"largest drift in one sequence: {per_seq.max():.2f} px ({per_seq.idxmax()})")

# %%
if seqs is not None:
    fig = faces.drift_figure(drift, threshold=drift_threshold,
                             title=f"Eye motion inside the aligned crops ({size}x{size})")
    plt.show()

# %% [markdown]
# ## MTCNN and the Haar fallback against the data set's landmarks
#
# When the data set ships landmarks, the alignment above uses them and no
# detector runs. To see how the detectors would do on these faces, a random
# draw of `check_sequences` sequences is aligned again with MTCNN (status
# `detected`) and with OpenCV's Haar cascade, the fallback detector (status
# `fallback`; its 5 points are a fixed template inside the box), and their eye
# positions are compared with the landmarks' eye centres, in image pixels and
# as a fraction of the inter-ocular distance (IOD).

# %%
use_mtcnn = faces.mtcnn_available()
has_landmarks = seqs is not None and "landmarks" in aligned.methods
if seqs is None:
    print("No CK+ sequences; skipping.")
elif not has_landmarks:
    print("This data set has no landmarks: the alignment above already comes from "
          f"{', '.join(sorted(set(aligned.methods)))}; there is nothing to compare it with.")
else:
    check_table, subset, check_records = alignment_study.detector_check(
        aligned, check_sequences, ("mtcnn", "haar") if use_mtcnn else ("haar",), size, cache_dir, color=color,
        seed=ctx.seed)
    status_rows.update({f"CK+ subset, {d}": rec for d, rec in check_records.items()})
    summary["detector_check"] = {"sequences": [s.sequence_id for s in subset],
                                 "by_detector": check_table.to_dict(orient="index")}
    print(f"{len(subset)} sequences ({sum(s.n_frames for s in subset)} frames): "
          + ", ".join(s.sequence_id for s in subset))
    display(check_table.round(3))

# %% [markdown]
# ## Detecting every frame vs detecting every k frames and tracking
#
# With `detect_every = k`, the detector runs on frames 0, k, 2k, ... and the
# 5 points are carried in between by Lucas-Kanade optical flow (the detector
# runs again as soon as the flow loses the face). The comparison runs on the
# sequences aligned with MTCNN (all of them on a data set without landmarks,
# the draw above otherwise). The eyes detected on every frame are the
# evidence for both runs: how much they move inside the tracked run's crops,
# and how far the tracked crops put them from where the every-frame crops do.

# %%
tracking = None
if seqs is not None and use_mtcnn:
    compared = subset if has_landmarks else list(aligned.sequences)
    tracking, table, tracked_records = alignment_study.tracking_comparison(
        compared, tracked_detect_every, size, cache_dir, color=color, drift_threshold=drift_threshold)
    status_rows[f"CK+ MTCNN, detect every {tracked_detect_every}"] = tracked_records
    summary["tracking"] = tracking
    print(f"{tracking['n_frames']} frames of {len(compared)} sequences; detect every {tracked_detect_every}: "
          f"{tracking['tracked_frames']} frames tracked, {tracking['status_counts']['none']} without a face")
    print("eye drift inside the crops (px), with the every-frame detections as evidence:")
    display(table.round(3))
    gap = tracking["eye_gap_tracked_vs_every_px"]
    print(f"the tracked crops put the eyes {gap['median']:.2f} px (median; max {gap['max']:.2f} px) "
          "from where the every-frame crops put them")
elif seqs is not None:
    print("facenet-pytorch (MTCNN) is not installed; skipping the comparison.")

# %% [markdown]
# ### Throughput
#
# Frames per second of the whole per-frame pipeline (decoding excluded:
# detection, tracking, alignment), detecting every frame and detecting every
# k frames, timed one after the other in the same run on the same frames,
# after a warm-up; on the CPU, and on the GPU when there is one. The absolute
# numbers depend on what else the machine is doing; their ratio much less.

# %%
throughput = None
if seqs is not None and use_mtcnn:
    sources = {}
    longest = max(compared, key=lambda s: s.n_frames)
    sources[f"CK+ {longest.sequence_id}"] = longest.frames()[:throughput_frames]
    if (media / "single_face.mp4").is_file():
        sources["single_face.mp4"] = read_video_frames(media / "single_face.mp4", max_frames=throughput_frames)
    throughput = faces.throughput_table(sources, tracked_detect_every)
    summary["throughput"] = throughput.to_dict(orient="records")
    display(throughput.round(2))

# %% [markdown]
# ## Fixed-length clips and intensity normalisation
#
# Sequences have different lengths; temporal models take a fixed number of
# frames. `SequenceAlignment.clips(length)` resamples each sequence to
# `clip_length` frames by linear interpolation between the two nearest frames
# (the onset and the apex are always kept). Below, the shortest sequence
# before and after resampling.

# %% tags=["nbval-check-output"]
if seqs is not None:
    clips = aligned.clips(clip_length)
    lengths = [len(c) for c in aligned.crops]
    print(f"{len(aligned)} sequences of {min(lengths)} to {max(lengths)} frames -> clips of shape {clips.shape}")

# %%
if seqs is not None:
    short = int(np.argmin(lengths))
    sid = aligned.sequences[short].sequence_id
    fig = plots.image_grid(aligned.crops[short], [f"frame {t}" for t in range(lengths[short])], ncols=8,
                           size=1.2, suptitle=f"{sid}: the {lengths[short]} aligned frames")
    plt.show()
    positions = np.linspace(0, lengths[short] - 1, clip_length)
    fig = plots.image_grid(clips[short], [f"at {p:.2f}" for p in positions], ncols=8, size=1.2,
                           suptitle=f"{sid} resampled to {clip_length} frames (source position)")
    plt.show()

# %% [markdown]
# The intensity normalisations later notebooks can compare
# (`fer_lib.faces.alignment.normalize`): none, z-score (per image mean 0, standard
# deviation 1), global histogram equalisation, CLAHE (contrast-limited,
# adaptive), and the quantile ("Q-based") score (per image median 0,
# interquartile range 1). The apex crops of one sequence per class:
#
# ```{note}
# z-score and quantile outputs are floats: they are drawn on a common range
# of -2.5 to 2.5, the others on 0-255.
# ```

# %%
if seqs is not None and color == "gray":
    names = aligned.label_names
    firsts = [int(np.flatnonzero(names == c)[0]) for c in CKPLUS_CLASSES if (names == c).any()]
    apex = np.stack([aligned.crops[i][-1] for i in firsts])
    fig = faces.normalization_figure(apex, NORMALIZATIONS, titles=[names[i] for i in firsts],
                                     suptitle=f"Normalisations of apex crops (later default: {normalization})")
    plt.show()
elif seqs is not None:
    print("The normalisations apply to gray crops; color is 'rgb' here.")

# %% [markdown]
# ## Photos and videos
#
# Real photos and videos from the media folder, when it is present: a portrait,
# a group, a crowd, two videos of a person talking and a video with no face.
# When several faces are seen, one is kept by the rule of
# `fer_lib.faces.detection.select_face`: the largest box weighted by its closeness to
# the image centre (`area * (1 - d / r)`, `d` the distance of the box centre
# from the image centre, `r` half the image diagonal); the number of faces
# seen is recorded (faces smaller than a tenth of the image's short side are
# not searched for). Kept face: green box and red points; other faces: dashed
# yellow.

# %%
photos = sorted(media.glob("*.jpg")) if media.is_dir() else []
videos = sorted(media.glob("*.mp4")) if media.is_dir() else []
if not media.is_dir():
    print(f"The media folder ({media_dir}) is absent; skipping photos and videos.")
elif not use_mtcnn:
    print("facenet-pytorch (MTCNN) is not installed; skipping photos and videos.")
    photos, videos = [], []
else:
    print(f"{len(photos)} photos, {len(videos)} videos in the media folder")

# %%
media_records = []
if photos:
    photo_table, images, photo_det, rec = alignment_study.detect_photos(photos)
    status_rows["photos"] = rec.drop(columns="source")
    media_records.append(rec)
    display(photo_table.round(4))
    fig = faces.detections_figure(images, [d.boxes[0] for d in photo_det], [d.points[0] for d in photo_det],
                                  [f"{p.name}: {int(d.n_faces[0])} faces seen" for p, d in zip(photos, photo_det)],
                                  other_boxes=[d.all_boxes[0] for d in photo_det], ncols=3, size=3.6)
    plt.show()
    found = [(p, im, d) for p, im, d in zip(photos, images, photo_det) if d.status[0] != "none"]
    if found:
        crops = [align_face(im, d.points[0], size=size, color=color) for _, im, d in found]
        fig = plots.image_grid(crops, [p.name for p, _, _ in found], ncols=len(crops), size=1.6,
                               suptitle="Kept face, aligned")
        plt.show()

# %% [markdown]
# Videos: every `video_step`-th frame, at most `video_max_frames` of them,
# detected on every frame.

# %%
video_runs = {}
for path in videos:
    frames, crops, rec, hit = faces.align_video(path, "mtcnn", 1, size, cache_dir, step=video_step,
                                                max_frames=video_max_frames, color=color)
    video_runs[path.name] = (frames, crops, rec)
    status_rows[path.name] = rec
    media_records.append(rec.assign(source=path.name))
if video_runs:
    video_table = pd.concat({name: faces.status_counts(rec) for name, (_, _, rec) in video_runs.items()})
    display(video_table.droplevel(1))
for name, (frames, crops, rec) in video_runs.items():
    if (rec["status"] != "none").any():
        fig = faces.sequence_figure(frames, crops, rec, n=6, size=1.9, suptitle=f"{name}: frames and aligned crops")
    else:
        idx = np.linspace(0, len(frames) - 1, min(4, len(frames))).astype(int)
        fig = faces.detections_figure([frames[i] for i in idx], titles=[f"frame {rec['frame'][i]}: none" for i in idx],
                                      ncols=4, size=2.4, suptitle=f"{name}: no face found, none invented")
    plt.show()

# %% [markdown]
# ```{note}
# The Haar fallback is off by default: on frames without a face it finds
# "faces" more often than MTCNN. The next cell runs it on the frames of the
# videos where MTCNN found none and counts the faces it would have invented
# there (with `fallback="haar"` they would get status `fallback`).
# ```

# %%
haar_invented = alignment_study.haar_on_faceless_frames(video_runs)
if haar_invented:
    display(pd.DataFrame(haar_invented).T)
elif video_runs:
    print("MTCNN found a face in every video frame; no frame for the fallback.")

# %%
if photos or video_runs:
    summary["media"] = {
        "photos": photo_table.to_dict(orient="records") if photos else [],
        "videos": {name: {**faces.status_summary(rec), "frame_step": video_step}
                   for name, (_, _, rec) in video_runs.items()},
        "haar_on_faceless_frames": haar_invented,
    }
    pd.concat(media_records, ignore_index=True).to_csv(ctx.product("media_frames.csv"), index=False)

# %% [markdown]
# ## Detection rates per data set
#
# Frames per status for everything aligned above (`tracked`: frames whose
# points were carried by optical flow, not detected; `multi_face`: frames where
# more than one face was seen).

# %%
if status_rows:
    rates = pd.concat({name: faces.status_counts(rec) for name, rec in status_rows.items()}).droplevel(1)
    summary["status_counts"] = rates.to_dict(orient="index")
    display(rates.round(3))

# %%
if seqs is None:
    save_aligned_sequences(ctx.product(ALIGNED_SEQUENCES_FILE), missing=seqs_missing)
else:
    save_aligned_sequences(ctx.product(ALIGNED_SEQUENCES_FILE), aligned)
    aligned.records.to_parquet(ctx.product("ckplus_frames.parquet"), index=False)
    ck_table.to_csv(ctx.product("ckplus_sequences.csv"), index=False)
_ = save_json(ctx.product("alignment.json"), summary)

# %% [markdown]
# ## What it showed

# %%
display(Markdown("\n".join(alignment_study.findings(summary, size, drift_threshold))))
