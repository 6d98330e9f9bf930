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
# # 08 · Video inference
#
# The study's models, applied to video the way the `fer-video` command applies
# them: every frame is decoded, faces are detected every *k* frames and tracked
# by optical flow in between, aligned like the training crops and classified
# (`fer_lib.video.inference.run_video_inference`, the command's function). This notebook
# runs the two checkpoints of the study on the same videos and shows:
#
# * the command's outputs (a table with one row per frame and face, an
#   annotated video, a probability timeline) for real videos of the media
#   folder, when it is present, and for a synthetic CK+ subject rendered as a
#   video, which is always available and whose true label is known in every
#   frame;
# * frames with their labels, as the annotated video draws them;
# * the probability timeline of the **spatial** model (one frame at a time)
#   against the **hybrid** CNN-LSTM (a window of the last *T* frames of the
#   face) on the same video: does the hybrid flicker less? Measured as label
#   changes per second;
# * that a video without a face gives only `none` rows (no face is invented);
# * throughput: end-to-end frames per second, split into decode / detect /
#   track and align / classify / write, detecting every frame vs detecting
#   every *k* frames and tracking, on this machine's CPU (and GPU when there
#   is one), beside the goal of 25 frames per second;
# * how to run the same thing from a shell with `fer-video`.

# %% tags=["parameters"]
preset = "smoke"  # name of the run: outputs go to <runs root>/<preset>
data_dir = "synthetic"  # "synthetic", "auto" (data/ then ../shared/data) or a folder
run_dir = None  # None: <runs root>/<preset> (FER_RUNS_DIR sets the root)
seed = 0  # seed of the run
media_dir = "../shared/data/media"  # real videos (relative to the project root); skipped if absent
videos = ["woman2.mp4", "no_face.mp4"]  # files of media_dir run through every model
max_frames = 100  # frames per video (None: all of them)
detect_every = 5  # run the detector every k frames, track by optical flow in between (the command's default)
device = "auto"  # "auto", "cpu" or "cuda": classifier and MTCNN
synthetic_seed = 1  # seed of the synthetic subject (the synthetic data set uses 0: a face no model has seen)
synthetic_sequences = 7  # expressions the synthetic subject shows (7: every CK+ class once)
synthetic_min_score = 0.7  # MTCNN threshold on the drawn faces (real videos keep the command's 0.9)
throughput_video = "single_face.mp4"  # 640x360 single-face clip of media_dir (else the synthetic video)
throughput_frames = 30  # frames per throughput measurement
upstream = {"spatial": "03_spatial_baseline/spatial_fer2013.pt",
            "hybrid": "05_hybrid/hybrid_ckplus.pt"}  # artefacts of earlier notebooks read here
products = ["synthetic", "frames_synthetic.png", "timelines_synthetic.png", "flicker.csv", "throughput.csv",
            "throughput.png", "cli_synthetic", "summary.json"]  # written to <run_dir>/artifacts/08_video_inference/

# %% [markdown]
# **Inputs** (`upstream`): `spatial_fer2013.pt` of notebook 03 (FER-2013
# model, 7 FER-2013 classes, one frame at a time) and `hybrid_ckplus.pt` of
# notebook 05 (CNN-LSTM over a window of *T* frames, CK+ classes); when one is
# missing, `setup_notebook` stops with a `MissingUpstreamError` naming the
# notebook to run first. The media folder. **Outputs** (`products`, in
# `<run_dir>/artifacts/08_video_inference/`): `synthetic/` with the video
# `synthetic.mp4`, its truth `synthetic_truth.csv` and per model
# `synthetic/<model>/` the command's `predictions.csv` (and `.parquet`),
# `annotated.mp4`, `timeline.png` and `summary.json`;
# `frames_synthetic.png` and `timelines_synthetic.png` (spatial vs hybrid);
# `flicker.csv`, `throughput.csv`, `throughput.png`; `cli_synthetic/` (the
# command's outputs from a shell) and `summary.json` (every number quoted
# below). With the media folder, each real video also gets `<video>/<model>/`
# and (but `no_face`) `frames_<video>.png` and `timelines_<video>.png`: they
# depend on `videos` and the media folder, so they are not in `products`.

# %%
# fer_lib.video.inference draws on matplotlib Figure objects (no pyplot, so the command
# line never touches a GUI backend); the inline backend is what renders them here.
# %matplotlib inline
import tempfile

import numpy as np
import torch
from IPython.display import Markdown, display

from fer_lib.core import paths
from fer_lib.run.notebook import save_json, setup_notebook
from fer_lib.video import report
from fer_lib.video.analysis import flicker_table, plot_throughput, render_synthetic_video, video_frames_at
from fer_lib.video.model import load_video_model

ctx = setup_notebook("08_video_inference", preset, data_dir, run_dir, seed, upstream=upstream, products=products)
media = (paths.project_root() / media_dir).resolve()
GOAL_FPS = 25.0  # the goal for 640x360 single-face video, detecting every k frames and tracking
models = {name: load_video_model(path, device) for name, path in ctx.upstream.items()}

# %% [markdown]
# ## The two models

# %% tags=["nbval-check-output"]
print("\n".join(report.describe_models(models)))

# %% [markdown]
# ```{warning}
# With the smoke preset both checkpoints were trained for a few minutes on the
# synthetic faces of `fer_lib.data.synthetic`. On the real videos their labels are
# **meaningless**: those sections show that the pipeline runs end to end (and
# how fast), not what the person feels. On the synthetic video, a new subject
# drawn by the same generator, the labels do mean something and the truth is
# known. Models trained on the real FER-2013 and CK+ come from the full preset
# (`make study PRESET=full`).
# ```
#
# ## A synthetic subject, rendered as a video
#
# `fer_lib.video.analysis.render_synthetic_video` draws one subject that is in no
# training set (seed `synthetic_seed`) going from neutral to the apex of
# `synthetic_sequences` expressions in turn, each apex held for three more
# frames, at 15 frames per second (the 192x144 frames enlarged to 288x216),
# and writes it with `cv2.VideoWriter`. Every frame's true label and phase
# (*rising* towards the apex, or at the *apex*) are kept.

# %% tags=["nbval-check-output"]
synthetic_dir = ctx.product("synthetic")
synthetic_path = synthetic_dir / "synthetic.mp4"
truth = render_synthetic_video(synthetic_path, seed=synthetic_seed, n_sequences=synthetic_sequences, fps=15,
                               hold_frames=3, scale=1.5)
truth.to_csv(synthetic_dir / "synthetic_truth.csv", index=False)
first = video_frames_at(synthetic_path, [0])[0]
segments = report.expression_segments(truth)
print(f"{len(truth)} frames of {first.shape[1]}x{first.shape[0]} at 15 fps ({truth['time_s'].iloc[-1]:.1f} s), "
      f"{len(segments)} expressions")
display(segments.T)

# %% [markdown]
# ```{note}
# MTCNN is less sure of the drawn faces than of photographs (scores of 0.7 to
# 0.95 at some expressions), so on this video its threshold is
# `synthetic_min_score`; the real videos keep the command's 0.9. When the
# detector misses a face on a detection frame, its track ends and the face is
# picked up again at the next detection: those frames get `none` rows, never
# an invented face.
# ```

# %%
results = report.run_models(synthetic_path, models, synthetic_dir, key="synthetic", detect_every=detect_every,
                            min_score=synthetic_min_score)  # (video, model) -> VideoResult
print("\n".join(report.describe_runs(results, "faces")))

# %% [markdown]
# ## The real videos
#
# Each file of `videos` goes through `run_video_inference` with the command's
# defaults (MTCNN every `detect_every` frames, optical flow in between,
# threshold 0.9), at most `max_frames` frames, once per model.

# %%
real_videos, notes = report.find_videos(media, videos)
for path in real_videos:  # per-video folders depend on `videos`: written beside the declared products
    results |= report.run_models(path, models, ctx.out_dir / path.stem, detect_every=detect_every,
                                 max_frames=max_frames)
print("\n".join(notes + report.describe_runs({k: r for k, r in results.items() if k[0] != "synthetic"}, "source")))

# %%
run_table = report.run_table(results)
display(run_table.round(1))

# %% [markdown]
# ## Frames with labels
#
# Frames of the annotated videos, as the command draws them: the face box and
# track id, the arg-max label and its probability, and a bar per class. On the
# synthetic video: the last frame of four expressions (the apex), with the true
# label above.

# %%
shown = report.apex_frames(truth, 4)
titles = [f"frame {f}, true: {truth['label'][f]}" for f in shown]
figures = [report.model_frames_figure(results, "synthetic", shown, titles,
                                      "Synthetic subject: apex frames, as annotated with each model",
                                      path=ctx.product("frames_synthetic.png"))]
for path in real_videos:
    if path.name != "no_face.mp4":
        idx = np.linspace(0, results[(path.name, "spatial")].summary["frames"] - 1, 4).astype(int).tolist()
        figures.append(report.model_frames_figure(results, path.name, idx, [f"frame {i}" for i in idx],
                                                  f"{path.name}: annotated frames",
                                                  path=ctx.out_dir / f"frames_{path.stem}.png"))
display(*[fig for fig in figures if fig is not None])  # None: no frame could be read

# %% [markdown]
# ## Spatial vs hybrid over time
#
# The class probabilities of the main face over time, one panel per model, on
# the same video (the strip along the top of each panel is the arg-max label
# of every frame: flicker shows as a broken strip). The spatial model sees one
# frame; the hybrid sees the face's last *T* frames, so its output might be
# expected to change less from frame to frame. **Flicker** is measured as
# label changes per second of the main face
# (`fer_lib.video.timeline.label_changes_per_second`; frames without a face are
# skipped). On the synthetic video the true label changes at every cut
# between expressions: the `truth` row is what a perfect model would show.
# Two more columns help to read it: `mean_top_probability` (how sure the
# model is: near 1/7, the arg-max flips on tiny changes) and
# `mean_probability_change` (the total-variation distance between the
# probabilities of consecutive frames: flicker of the probabilities
# themselves, whatever the arg-max does).

# %%
display(report.model_timelines_figure(results, models, "synthetic", truth, path=ctx.product("timelines_synthetic.png")))
for path in real_videos:
    if path.name != "no_face.mp4":
        display(report.model_timelines_figure(results, models, path.name,
                                              path=ctx.out_dir / f"timelines_{path.stem}.png"))

# %%
flicker = flicker_table({k: r for k, r in results.items() if k[0] != "no_face.mp4"}, truth={"synthetic": truth})
flicker.to_csv(ctx.product("flicker.csv"), index=False)
display(flicker.drop(columns=["faces_found"]).round(3))

# %% [markdown]
# Where do the flips come from? The frames where a model is sure (top
# probability at least 0.7), with their label, whether they fall on a cut
# between two expressions of the synthetic video (within the model's window:
# the hybrid's window then still holds frames of the previous expression),
# and whether they are detection frames (where the box is re-fitted to the
# detector, so the crop may jump).

# %%
SURE = 0.7  # top probability from which a model counts as sure (as the text above says)
sure = report.confident_frames_table(results, models, report.expression_cuts(truth), "synthetic", threshold=SURE)
display(sure)

# %% [markdown]
# On the synthetic video the truth is known, so each model's labels can be
# scored frame by frame (the spatial FER-2013 model through the shared class
# names, `anger` -> `angry` and so on; `contempt` has no FER-2013 counterpart
# and is not scored for it). Frames *rising* towards the apex are ambiguous by
# nature (the first ones are neutral); the *apex* frames are the fair test.

# %%
agreement = report.agreement_table(results, models, truth, "synthetic")
display(agreement.pivot(index="model", columns="phase", values="accuracy")[["rising", "apex", "all"]].round(3))

# %% [markdown]
# ## No face: only `none` rows
#
# A video without a face is not an error: every frame gets one row with status
# `none`, no track, no label and empty probabilities, and the command exits
# with code 0.

# %%
print("\n".join(report.describe_no_face_runs(results, "no_face.mp4")))

# %% [markdown]
# ## Throughput
#
# `fer_lib.video.inference.benchmark_video` runs the whole loop of the command (decode,
# detect, track and align, classify, draw and write the annotated video) on
# the first `throughput_frames` frames of `throughput_video` (640x360, one
# face), detecting every frame and detecting every `detect_every` frames,
# after a warm-up; model loading and writing the tables are excluded. On the
# CPU with one torch thread (the command's default), and on the GPU when there
# is one. The goal for a 640x360 single-face video is 25 frames per second
# (40 ms per frame) with detect-and-track.
#
# ```{note}
# Timings depend on the machine and on what else it runs. The smoke study
# runs on a small CPU that may be shared with other jobs: the wall-clock
# rate (`fps_end_to_end`, what the goal is about) then drops with the share
# of the CPU this process gets. `fps_cpu` divides the frames by the CPU time
# the process used instead: it moves much less with the load and is a rough
# estimate of the rate on an idle machine (the loop runs on one torch thread;
# on a GPU it leaves out the GPU's time). MTCNN, the detector, takes most of
# the time: tracking between detections is what brings the rate near the
# goal.
# ```

# %%
bench_source = media / throughput_video if (media / throughput_video).is_file() else synthetic_path
throughput = report.measure_throughput(bench_source, "spatial", models["spatial"].path, detect_every,
                                       devices=["cpu"] + (["cuda"] if torch.cuda.is_available() else []),
                                       max_frames=throughput_frames, goal_fps=GOAL_FPS)
throughput.to_csv(ctx.product("throughput.csv"), index=False)
display(throughput[list(report.THROUGHPUT_SHOWN_COLUMNS)].round(1))
display(plot_throughput(throughput, GOAL_FPS, ctx.product("throughput.png")))

# %%
print("\n".join(report.describe_throughput(throughput, detect_every, GOAL_FPS)))

# %% [markdown]
# ## From a shell
#
# The command behind all of this is `fer-video` (installed with the project;
# `.venv/bin/fer-video`, or `python -m fer_lib.video.cli`):
#
# ```bash
# # a video, with the study's spatial FER-2013 model of the smoke run (the default checkpoint)
# .venv/bin/fer-video ../shared/data/media/woman2.mp4
# # the same with the hybrid, into another folder
# .venv/bin/fer-video ../shared/data/media/woman2.mp4 \
#     --checkpoint runs/smoke/artifacts/05_hybrid/hybrid_ckplus.pt --out runs/video/woman2_hybrid
# # the full preset's model; detect every frame; first 300 frames
# .venv/bin/fer-video INPUT --preset full --detect-every 1 --max-frames 300
# # an image, a folder of images (in natural name order), or the webcam (shown live when there is a screen)
# .venv/bin/fer-video photo.jpg
# .venv/bin/fer-video frames/
# .venv/bin/fer-video 0
# # throughput instead of a run
# .venv/bin/fer-video ../shared/data/media/single_face.mp4 --benchmark --benchmark-every 1 5
# ```
#
# Outputs go to `--out` (default `runs/video/<input name>/`): `predictions.csv`,
# `predictions.parquet`, `annotated.mp4`, `timeline.png`, `summary.json`. The
# exit code is 0 on success (also when no face is found) and 2 on an error,
# reported on one line. Below, the command's entry point is called in this
# process, as the shell would call it: on the synthetic video, then on a
# corrupt file.

# %%
checkpoint = str(models["spatial"].path)
with tempfile.TemporaryDirectory() as tmp:
    corrupt = str(report.write_noise_file(f"{tmp}/corrupt.mp4", ctx.seed))  # random bytes: no decoder reads them
    cli = report.call_cli({
        "synthetic video": [str(synthetic_path), "--checkpoint", checkpoint, "--max-frames", "15",
                            "--out", str(ctx.product("cli_synthetic")), "--no-progress"],
        "corrupt file": [corrupt, "--checkpoint", checkpoint, "--out", f"{tmp}/out", "--no-progress"]})
print(report.cli_transcript(cli))

# %% tags=["nbval-check-output"]
print("\n".join(report.cli_outcomes(cli)))

# %%
summary = report.video_summary(
    results, models, upstream, truth, flicker=flicker, confident=sure, agreement=agreement, throughput=throughput,
    cli=cli, settings={"data_dir_is_synthetic": ctx.synthetic, "detect_every": detect_every, "max_frames": max_frames,
                       "goal_fps": GOAL_FPS}, synthetic={"seed": synthetic_seed, "min_score": synthetic_min_score})
_ = save_json(ctx.product("summary.json"), summary)

# %% [markdown]
# ## What it showed

# %%
display(Markdown(report.video_findings(results, flicker, sure, agreement, throughput, cli, goal_fps=GOAL_FPS,
                                       confident_threshold=SURE, synthetic_models=ctx.synthetic)))
