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

# %% [markdown]
# **Inputs**: `spatial_fer2013.pt` of notebook 03 (FER-2013 model, 7 FER-2013
# classes, one frame at a time) and `hybrid_ckplus.pt` of notebook 05 (CNN-LSTM
# over a window of *T* frames, CK+ classes); a part whose checkpoint is missing
# is skipped with a message. The media folder. **Outputs** (in
# `<run_dir>/artifacts/08_video_inference/`): per video and model
# `<video>/<model>/` with the command's `predictions.csv` (and `.parquet`),
# `annotated.mp4`, `timeline.png` and `summary.json`; `synthetic/synthetic.mp4`
# and its truth `synthetic_truth.csv`; `timelines_<video>.png` (spatial vs
# hybrid), `frames_<video>.png`, `flicker.csv`, `throughput.csv`,
# `throughput.png` and `summary.json` (every number quoted below).

# %%
# fer_lib.video.inference draws on matplotlib Figure objects (no pyplot, so the command
# line never touches a GUI backend); the inline backend is what renders them here.
# %matplotlib inline
import contextlib
import io
import tempfile

import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

from fer_lib.core import paths
from fer_lib.data.constants import CKPLUS_TO_FER2013
from fer_lib.run.notebook import save_json, setup_notebook
from fer_lib.video.analysis import (
    annotated_frames_figure,
    confident_frames,
    flicker_table,
    plot_model_timelines,
    plot_throughput,
    render_synthetic_video,
    truth_agreement,
    video_frames_at,
)
from fer_lib.video.cli import main as fer_video
from fer_lib.video.inference import benchmark_video, run_video_inference
from fer_lib.video.model import load_video_model

ctx = setup_notebook("08_video_inference", preset, data_dir, run_dir, seed)
media = (paths.project_root() / media_dir).resolve()
GOAL_FPS = 25.0  # the goal for 640x360 single-face video, detecting every k frames and tracking
CHECKPOINTS = {"spatial": ("03_spatial_baseline", "spatial_fer2013.pt"), "hybrid": ("05_hybrid", "hybrid_ckplus.pt")}
models = {}
for name, (notebook, file) in CHECKPOINTS.items():
    try:
        models[name] = load_video_model(ctx.artifact(notebook, file), device)
    except FileNotFoundError:
        print(f"missing: the {name} checkpoint {notebook}/{file} (run notebook {notebook} first); "
              f"the {name} part is skipped")
summary = {"data_dir_is_synthetic": ctx.synthetic, "missing_checkpoints": sorted(set(CHECKPOINTS) - set(models)),
           "detect_every": detect_every, "max_frames": max_frames, "goal_fps": GOAL_FPS}

# %% [markdown]
# ## The two models

# %% tags=["nbval-check-output"]
for name, vm in models.items():
    what = "one frame at a time" if vm.mode == "spatial" else f"a window of the last {vm.window} frames of a face"
    print(f"{name}: {what}; classes {list(vm.class_names)}; faces aligned with template="
          f"{vm.preprocessing['template']}, {vm.size}x{vm.size} gray")
if not models:
    print("No checkpoint: run notebooks 03 and 05 first. Nothing to show below.")
summary["models"] = {name: {"checkpoint": f"{CHECKPOINTS[name][0]}/{CHECKPOINTS[name][1]}", "mode": vm.mode,
                            "window": vm.window, "class_names": list(vm.class_names),
                            "trained_on": vm.metadata.get("trained_on", vm.metadata.get("data_set"))}
                     for name, vm in models.items()}

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
synthetic_path = ctx.out_dir / "synthetic" / "synthetic.mp4"
truth = render_synthetic_video(synthetic_path, seed=synthetic_seed, n_sequences=synthetic_sequences, fps=15,
                               hold_frames=3, scale=1.5)
truth.to_csv(ctx.out_dir / "synthetic" / "synthetic_truth.csv", index=False)
first = video_frames_at(synthetic_path, [0])[0]
segments = truth.groupby("sequence", sort=False).agg(label=("label", "first"), frames=("frame", "size"),
                                                     apex_frames=("phase", lambda p: int((p == "apex").sum())))
print(f"{len(truth)} frames of {first.shape[1]}x{first.shape[0]} at 15 fps ({truth['time_s'].iloc[-1]:.1f} s), "
      f"{len(segments)} expressions")
display(segments.T)
summary["synthetic"] = {"frames": len(truth), "seed": synthetic_seed, "min_score": synthetic_min_score,
                        "sequences": segments.reset_index().to_dict("records")}

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
results = {}  # (video, model) -> VideoResult
for name, vm in models.items():
    results[("synthetic", name)] = run_video_inference(
        synthetic_path, vm, ctx.out_dir / "synthetic" / name, detect_every=detect_every,
        min_score=synthetic_min_score, progress=False)
for (video, name), res in results.items():
    s = res.summary
    print(f"{video}, {name}: a face in {s['frames_with_face']} of {s['frames']} frames; "
          f"{s['timing']['fps_end_to_end']:.1f} frames/s end to end")

# %% [markdown]
# ## The real videos
#
# Each file of `videos` goes through `run_video_inference` with the command's
# defaults (MTCNN every `detect_every` frames, optical flow in between,
# threshold 0.9), at most `max_frames` frames, once per model.

# %%
real_videos = []
if not media.is_dir():
    print(f"The media folder ({media_dir}) is absent; skipping the real videos.")
else:
    for file in videos:
        if (media / file).is_file():
            real_videos.append(media / file)
        else:
            print(f"{file} is not in the media folder; skipped.")
for path in real_videos:
    for name, vm in models.items():
        results[(path.name, name)] = run_video_inference(
            path, vm, ctx.out_dir / path.stem / name, detect_every=detect_every, max_frames=max_frames,
            progress=False)

# %%
for path in real_videos:
    for name in models:
        s = results[(path.name, name)].summary
        print(f"{path.name}, {name}: {s['frames']} frames of {s['frame_size'][0]}x{s['frame_size'][1]} "
              f"at {s['fps_source']:.2f} fps")

# %%
run_table = pd.DataFrame([
    {"video": v, "model": m, "frames": r.summary["frames"], "frames_with_face": r.summary["frames_with_face"],
     "frames_no_face": r.summary["frames_no_face"], "tracks": r.summary["faces_found"],
     "detector_calls": r.summary["timing"]["n_detections"], "fps_end_to_end": r.summary["timing"]["fps_end_to_end"]}
    for (v, m), r in results.items()])
summary["runs"] = run_table.to_dict(orient="records")
if results:
    display(run_table.round(1))

# %% [markdown]
# ## Frames with labels
#
# Frames of the annotated videos, as the command draws them: the face box and
# track id, the arg-max label and its probability, and a bar per class. On the
# synthetic video: the last frame of four expressions (the apex), with the true
# label above.

# %%
def show_frames(video, indices, titles, suptitle):
    annotated = {name: results[(video, name)].paths["annotated"] for name in models if (video, name) in results}
    fig = annotated_frames_figure(annotated, indices, titles, suptitle,
                                  path=ctx.out_dir / f"frames_{video.split('.')[0]}.png")
    if fig is not None:
        display(fig)


apex = truth[truth["phase"] == "apex"].groupby("sequence", sort=False)["frame"].first()
shown = apex.iloc[np.linspace(0, len(apex) - 1, min(4, len(apex))).astype(int)].tolist()
show_frames("synthetic", shown, [f"frame {f}, true: {truth['label'][f]}" for f in shown],
            "Synthetic subject: apex frames, as annotated with each model")
for path in real_videos:
    if models and path.name != "no_face.mp4":
        n = results[(path.name, next(iter(models)))].summary["frames"]
        idx = np.linspace(0, n - 1, 4).astype(int).tolist()
        show_frames(path.name, idx, [f"frame {i}" for i in idx], f"{path.name}: annotated frames")

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
def timelines(video, with_truth=None):
    if not any((video, name) in results for name in models):
        return None
    runs = {name: (results[(video, name)], vm.class_names) for name, vm in models.items() if (video, name) in results}
    fig = plot_model_timelines(runs, truth=with_truth, path=ctx.out_dir / f"timelines_{video.split('.')[0]}.png",
                               title=f"{video}: class probabilities of the main face, per model")
    display(fig)
    return fig


timelines("synthetic", truth)
for path in real_videos:
    if path.name != "no_face.mp4":
        timelines(path.name)

# %%
flicker = flicker_table({k: r for k, r in results.items() if k[0] != "no_face.mp4"}, truth={"synthetic": truth})
flicker.to_csv(ctx.out_dir / "flicker.csv", index=False)
summary["flicker"] = flicker.to_dict(orient="records")
display(flicker.drop(columns=["faces_found"]).round(3))

# %% [markdown]
# Where do the flips come from? The frames where a model is sure (top
# probability at least 0.7), with their label, whether they fall on a cut
# between two expressions of the synthetic video (within the model's window:
# the hybrid's window then still holds frames of the previous expression),
# and whether they are detection frames (where the box is re-fitted to the
# detector, so the crop may jump).

# %%
cuts = truth.index[truth["sequence"] != truth["sequence"].shift()][1:].tolist()  # first frame of each new expression
sure = []
for name, vm in models.items():
    conf = confident_frames(results[("synthetic", name)], 0.7, events=cuts, within=vm.window)
    sure.append({"model": name, "confident_frames": len(conf), "labels": conf["label"].value_counts().to_dict(),
                 "just_after_a_cut": int(conf["after_event"].sum()), "cuts": len(cuts),
                 "on_detection_frames": int((~conf["tracked"].astype(bool)).sum())})
if sure:
    sure = pd.DataFrame(sure)
    summary["synthetic_confident_frames"] = sure.to_dict(orient="records")
    display(sure)

# %% [markdown]
# On the synthetic video the truth is known, so each model's labels can be
# scored frame by frame (the spatial FER-2013 model through the shared class
# names, `anger` -> `angry` and so on; `contempt` has no FER-2013 counterpart
# and is not scored for it). Frames *rising* towards the apex are ambiguous by
# nature (the first ones are neutral); the *apex* frames are the fair test.

# %%
agreement = []
for name, vm in models.items():
    class_map = None if set(truth["label"]) <= set(vm.class_names) else dict(CKPLUS_TO_FER2013)
    agreement.append(truth_agreement(results[("synthetic", name)], truth, class_map).assign(model=name))
if agreement:
    agreement = pd.concat(agreement, ignore_index=True)
    summary["synthetic_agreement"] = agreement.to_dict(orient="records")
    display(agreement.pivot(index="model", columns="phase", values="accuracy")[["rising", "apex", "all"]].round(3))

# %% [markdown]
# ## No face: only `none` rows
#
# A video without a face is not an error: every frame gets one row with status
# `none`, no track, no label and empty probabilities, and the command exits
# with code 0.

# %%
none_runs = {k: r for k, r in results.items() if k[0] == "no_face.mp4"}
for (video, name), res in none_runs.items():
    df = res.predictions
    print(f"{video}, {name}: {len(df)} rows for {df['frame'].nunique()} frames; status none: "
          f"{int((df['status'] == 'none').sum())}; a label: {int(df['label'].notna().sum())}")
if not none_runs:
    print("no_face.mp4 was not run (media folder absent or no checkpoint).")
if results:
    first_run = next(iter(results.values()))
    print("columns of predictions.csv:", list(pd.read_csv(first_run.paths["csv"], nrows=0).columns))

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
throughput = None
bench_model = models.get("spatial") or next(iter(models.values()), None)
bench_source = media / throughput_video if (media / throughput_video).is_file() else synthetic_path
if bench_model is None:
    print("No checkpoint: throughput not measured.")
else:
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    throughput = pd.concat([
        benchmark_video(bench_source, bench_model.path, detect_every=sorted({1, detect_every}), device=dev,
                        max_frames=throughput_frames)
        for dev in devices], ignore_index=True)
    throughput.insert(0, "video", bench_source.name)
    throughput.insert(1, "model", next(k for k, v in models.items() if v is bench_model))
    throughput["ms_detect"] = 1000 * throughput["detect_s"] / throughput["frames"]
    throughput["ms_track_align"] = throughput["ms_detect_align"] - throughput["ms_detect"]
    throughput["goal_fps"] = np.where(throughput["detect_every"] > 1, GOAL_FPS, np.nan)  # detect-and-track only
    throughput["meets_goal"] = [None if np.isnan(g) else bool(f >= g)
                                for f, g in zip(throughput["fps_end_to_end"], throughput["goal_fps"])]
    throughput.to_csv(ctx.out_dir / "throughput.csv", index=False)
    summary["throughput"] = throughput.to_dict(orient="records")
    display(throughput[["video", "device", "detect_every", "frames", "frame_size", "n_detections", "ms_decode",
                        "ms_detect", "ms_track_align", "ms_classify", "ms_write", "fps_end_to_end",
                        "fps_without_write", "fps_cpu", "goal_fps", "meets_goal"]].round(1))
    fig = plot_throughput(throughput, GOAL_FPS, ctx.out_dir / "throughput.png")
    display(fig)

# %%
if throughput is not None:
    for r in throughput[throughput["detect_every"] == detect_every].itertuples():
        verdict = "meets" if r.fps_end_to_end >= GOAL_FPS else f"is {r.fps_end_to_end / GOAL_FPS:.0%} of"
        print(f"{r.device}, {r.frame_size}, detect every {r.detect_every}: {r.fps_end_to_end:.1f} frames/s end to "
              f"end ({r.fps_without_write:.1f} without writing the annotated video): {verdict} the goal of "
              f"{GOAL_FPS:g} frames/s; {r.fps_cpu:.1f} frames per CPU second (an estimate of the rate on an idle "
              "machine)")

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
cli = {}
if models:
    checkpoint = str(next(iter(models.values())).path)
    with tempfile.TemporaryDirectory() as tmp:
        corrupt = f"{tmp}/corrupt.mp4"
        with open(corrupt, "wb") as fh:
            fh.write(np.random.default_rng(ctx.seed).integers(0, 256, 4096, dtype=np.uint8).tobytes())
        for case, argv in {
            "synthetic video": [str(synthetic_path), "--checkpoint", checkpoint, "--max-frames", "15",
                                "--out", str(ctx.out_dir / "cli_synthetic"), "--no-progress"],
            "corrupt file": [corrupt, "--checkpoint", checkpoint, "--out", f"{tmp}/out", "--no-progress"],
        }.items():
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = fer_video(argv)
            cli[case] = {"exit_code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
            print(paths.display_text(f"$ fer-video {' '.join(argv[:1])} ...\n{out.getvalue()}{err.getvalue()}"))
else:
    print("No checkpoint: the command needs one.")

# %% tags=["nbval-check-output"]
for case, c in cli.items():
    lines = c["stderr"].strip().splitlines()
    errors = [line for line in lines if line.startswith("fer-video: error:")]
    print(f"{case}: exit code {c['exit_code']}; error lines: {len(errors)}")
summary["cli_exit_codes"] = {case: c["exit_code"] for case, c in cli.items()}

# %%
_ = save_json(ctx.out_dir / "summary.json", summary)

# %% [markdown]
# ## What it showed

# %%
lines = []
if summary["missing_checkpoints"]:
    lines.append(f"* **Missing checkpoints**: {', '.join(summary['missing_checkpoints'])} (those parts were skipped).")
for (video, name), res in results.items():
    s = res.summary
    lines.append(f"* **{video}, {name}**: {s['frames']} frames, a face in {s['frames_with_face']}, "
                 f"{s['frames_no_face']} `none` rows; {s['timing']['fps_end_to_end']:.1f} frames/s end to end "
                 f"({s['device']}).")
if len(flicker):
    for video, g in flicker.groupby("video", sort=False):
        parts = [f"{r.model} {r.label_changes_per_second:.2f}" + (
                 f" (mean top probability {r.mean_top_probability:.2f}, probabilities change by "
                 f"{r.mean_probability_change:.3f} per frame)" if pd.notna(r.mean_top_probability) else "")
                 for r in g.itertuples() if pd.notna(r.label_changes_per_second)]
        if parts:
            lines.append(f"* **Flicker on {video}** (label changes per second of the main face): "
                         + "; ".join(parts) + ".")
    rates = flicker[flicker["model"].isin(["spatial", "hybrid"])].pivot(
        index="video", columns="model", values="label_changes_per_second")
    if {"spatial", "hybrid"} <= set(rates.columns):
        less = [v for v, r in rates.iterrows() if r["hybrid"] < r["spatial"]]
        lines.append(f"* The hybrid flickered less than the spatial model on {len(less)} of {len(rates)} videos"
                     + (f" ({', '.join(less)})" if less else "") + ".")
if isinstance(sure, pd.DataFrame):
    lines.append("* **Confident frames on the synthetic video** (top probability >= 0.7): " + "; ".join(
        f"{r.model} {r.confident_frames} (" + ", ".join(f"{k} {v}" for k, v in r.labels.items())
        + f"): {r.just_after_a_cut} just after one of the {r.cuts} cuts, {r.on_detection_frames} on detection frames"
        for r in sure.itertuples()) + ".")
if isinstance(agreement, pd.DataFrame):
    apex_acc = agreement[agreement["phase"] == "apex"].set_index("model")
    lines.append("* **Synthetic subject, apex frames**: " + "; ".join(
        f"{m} right on {r.correct} of {r.compared} ({r.accuracy:.0%})" for m, r in apex_acc.iterrows()) + ".")
if throughput is not None:
    for r in throughput.itertuples():
        goal = "" if r.meets_goal is None else (
            f" Goal: {GOAL_FPS:g} frames/s with detect-and-track: {'met' if r.meets_goal else 'not met'} in "
            f"wall-clock time on this run's machine, {'met' if r.fps_cpu >= GOAL_FPS else 'not met'} per CPU second.")
        lines.append(f"* **Throughput** ({r.video}, {r.frame_size}, {r.device}, detect every {r.detect_every}): "
                     f"{r.fps_end_to_end:.1f} frames/s end to end ({r.fps_cpu:.1f} per CPU second); per frame "
                     f"{r.ms_decode:.0f} ms decode, "
                     f"{r.ms_detect:.0f} ms detect, {r.ms_track_align:.0f} ms track + align, {r.ms_classify:.0f} ms "
                     f"classify, {r.ms_write:.0f} ms write.{goal}")
if cli:
    lines.append("* **fer-video**: " + "; ".join(f"{case} -> exit code {c['exit_code']}" for case, c in cli.items())
                 + ".")
if ctx.synthetic:
    lines.append("* The models are the smoke run's, trained on synthetic faces: their labels on the real videos "
                 "mean nothing; the flicker and throughput figures describe the models and the pipeline, not "
                 "emotions.")
display(Markdown("\n".join(lines)))
