"""Notebook 08's bookkeeping: the study's models run over videos, the tables, ``summary.json`` and the closing text.

The measurements themselves live in :mod:`fer_lib.video.analysis` (flicker,
agreement with the truth, figures) and :mod:`fer_lib.video.inference` (the
runs and the benchmark); this module loops them over the notebook's videos and
models and turns their results into tables, records and sentences, so the
notebook keeps only the story.

Runs are held in a dict keyed by ``(video, model)`` (the video's key, e.g.
``"synthetic"`` or a file name such as ``"woman2.mp4"``, and the model's
name), in the order they ran: every table and text below follows that order.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from fer_lib.core.paths import display_path, display_text
from fer_lib.core.validation import check_fraction, check_number, check_option, check_positive_int
from fer_lib.data.constants import CKPLUS_TO_FER2013
from fer_lib.video.analysis import (
    annotated_frames_figure,
    confident_frames,
    plot_model_timelines,
    truth_agreement,
)
from fer_lib.video.inference import VideoResult, benchmark_video, run_video_inference
from fer_lib.video.model import VideoModel

#: What :func:`describe_runs` says of each run: how much of it has a face, or what the source is.
RUN_DESCRIPTIONS = ("faces", "source")

#: Columns of :func:`run_table`.
RUN_TABLE_COLUMNS = ("video", "model", "frames", "frames_with_face", "frames_no_face", "tracks", "detector_calls",
                     "fps_end_to_end")

#: Columns of :func:`throughput_table` the notebook shows (the benchmark's seconds are left out).
THROUGHPUT_SHOWN_COLUMNS = ("video", "device", "detect_every", "frames", "frame_size", "n_detections", "ms_decode",
                            "ms_detect", "ms_track_align", "ms_classify", "ms_write", "fps_end_to_end",
                            "fps_without_write", "fps_cpu", "goal_fps", "meets_goal")


def _check_models(models):
    if not isinstance(models, Mapping) or not models:
        raise ValueError(f"models must be a non-empty mapping of model name to VideoModel; got {models!r}")
    wrong = {name: type(vm).__name__ for name, vm in models.items() if not isinstance(vm, VideoModel)}
    if wrong:
        raise ValueError(f"models must map names to VideoModel (load_video_model); got {wrong}")
    return models


def _check_results(results):
    if not isinstance(results, Mapping):
        raise ValueError(f"results must be a mapping of (video, model) to VideoResult; got {type(results).__name__}")
    for key, res in results.items():
        if not (isinstance(key, tuple) and len(key) == 2) or not isinstance(res, VideoResult):
            raise ValueError(f"results must map (video, model) pairs to VideoResult; got {key!r}: "
                             f"{type(res).__name__}")
    return results


def _check_goal(goal_fps):
    return check_number("goal_fps", goal_fps, low=0, low_open=True)


def describe_models(models):
    """One line per model: what it sees, its classes and its face preprocessing.

    Parameters
    ----------
    models : mapping of str to VideoModel

    Returns
    -------
    list of str
        E.g. ``"spatial: one frame at a time; classes [...]; faces aligned with
        template=fer2013, 48x48 gray"``.
    """
    lines = []
    for name, vm in _check_models(models).items():
        what = "one frame at a time" if vm.mode == "spatial" else f"a window of the last {vm.window} frames of a face"
        lines.append(f"{name}: {what}; classes {list(vm.class_names)}; faces aligned with template="
                     f"{vm.preprocessing['template']}, {vm.size}x{vm.size} gray")
    return lines


def model_records(models, checkpoints):
    """The models as ``summary.json`` records them.

    Parameters
    ----------
    models : mapping of str to VideoModel
    checkpoints : mapping of str to str
        Where each model comes from, as the notebook declares it (its
        ``upstream``, e.g. ``"03_spatial_baseline/spatial_fer2013.pt"``).

    Returns
    -------
    dict
        ``{name: {"checkpoint", "mode", "window", "class_names", "trained_on"}}``;
        ``trained_on`` is the checkpoint metadata's ``trained_on`` (else its
        ``data_set``, else None).
    """
    missing = [name for name in _check_models(models) if name not in checkpoints]
    if missing:
        raise ValueError(f"checkpoints must name the checkpoint of every model; {missing} missing from "
                         f"{sorted(checkpoints)}")
    return {name: {"checkpoint": str(checkpoints[name]), "mode": vm.mode, "window": vm.window,
                   "class_names": list(vm.class_names),
                   "trained_on": vm.metadata.get("trained_on", vm.metadata.get("data_set"))}
            for name, vm in models.items()}


def _check_truth(truth, columns):
    missing = [c for c in columns if c not in getattr(truth, "columns", ())]
    if missing:
        raise ValueError(f"truth must be a table of render_synthetic_video with the columns {list(columns)}; "
                         f"{missing} missing")
    return truth


def expression_segments(truth):
    """The expressions of a synthetic video (:func:`~fer_lib.video.analysis.render_synthetic_video`), in order.

    Parameters
    ----------
    truth : pandas.DataFrame
        Columns ``frame``, ``sequence``, ``label`` and ``phase``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``sequence`` (in the video's order): ``label``, ``frames``
        and ``apex_frames`` (frames at the apex, the held copies included).
    """
    truth = _check_truth(truth, ("frame", "sequence", "label", "phase"))
    return truth.groupby("sequence", sort=False).agg(label=("label", "first"), frames=("frame", "size"),
                                                     apex_frames=("phase", lambda p: int((p == "apex").sum())))


def expression_cuts(truth):
    """The first frame of every expression of a synthetic video but the first: the cuts between sequences.

    Parameters
    ----------
    truth : pandas.DataFrame
        Columns ``frame`` and ``sequence``, in frame order.

    Returns
    -------
    list of int
    """
    truth = _check_truth(truth, ("frame", "sequence"))
    new = truth["sequence"] != truth["sequence"].shift()
    return [int(f) for f in truth.loc[new, "frame"].iloc[1:]]


def apex_frames(truth, n=4):
    """``n`` apex frames of a synthetic video, one per expression, spread evenly over its expressions.

    Parameters
    ----------
    truth : pandas.DataFrame
        Columns ``frame``, ``sequence`` and ``phase``.
    n : int, default 4
        At most this many (fewer when the video has fewer expressions).

    Returns
    -------
    list of int
        The first apex frame of the chosen expressions, in video order.
    """
    truth = _check_truth(truth, ("frame", "sequence", "phase"))
    n = check_positive_int("n", n)
    apex = truth[truth["phase"] == "apex"].groupby("sequence", sort=False)["frame"].first()
    if apex.empty:
        return []
    return [int(f) for f in apex.iloc[np.linspace(0, len(apex) - 1, min(n, len(apex))).astype(int)]]


def find_videos(folder, names):
    """The files of ``names`` present in ``folder``, and a note for each one that is not.

    Parameters
    ----------
    folder : str or Path
        The media folder (absolute; it may be absent).
    names : sequence of str
        File names inside it.

    Returns
    -------
    found : list of Path
        In the order of ``names``.
    notes : list of str
        Why a file is skipped (one note for the whole list when the folder is
        absent, naming it as :func:`~fer_lib.core.paths.display_path` does).
    """
    if isinstance(names, str):
        raise ValueError(f"names must be a list of file names; got the string {names!r}")
    folder = Path(folder)
    if not folder.is_dir():
        return [], [f"The media folder ({display_path(folder)}) is absent; skipping the real videos."]
    found, notes = [], []
    for name in names:
        if (folder / name).is_file():
            found.append(folder / name)
        else:
            notes.append(f"{name} is not in the media folder; skipped.")
    return found, notes


def run_models(source, models, out_dir, key=None, **options):
    """Run :func:`~fer_lib.video.inference.run_video_inference` on one input with every model.

    Parameters
    ----------
    source : str or Path
        The video (or any input of ``run_video_inference``).
    models : mapping of str to VideoModel
    out_dir : str or Path
        Each model writes into ``out_dir / <model name>``.
    key : str, optional
        The video's key in the returned dict; default the file name of ``source``.
    **options
        Passed to ``run_video_inference`` (e.g. ``detect_every``,
        ``max_frames``, ``min_score``); ``progress`` defaults to False.

    Returns
    -------
    dict of (str, str) to VideoResult
        ``{(key, model name): result}`` in the order of ``models``.
    """
    _check_models(models)
    key = Path(source).name if key is None else str(key)
    options.setdefault("progress", False)
    return {(key, name): run_video_inference(source, vm, Path(out_dir) / name, **options)
            for name, vm in models.items()}


def describe_runs(results, what="faces"):
    """One line per run: how many of its frames have a face, or what its source is.

    Parameters
    ----------
    results : mapping of (video, model) to VideoResult
    what : {"faces", "source"}, default "faces"
        ``"faces"``: ``"<video>, <model>: a face in F of N frames; R frames/s
        end to end"``; ``"source"``: ``"<video>, <model>: N frames of WxH at
        R fps"`` (the file's frame rate).

    Returns
    -------
    list of str
    """
    check_option("what", what, RUN_DESCRIPTIONS)
    lines = []
    for (video, name), res in _check_results(results).items():
        s = res.summary
        if what == "faces":
            lines.append(f"{video}, {name}: a face in {s['frames_with_face']} of {s['frames']} frames; "
                         f"{s['timing']['fps_end_to_end']:.1f} frames/s end to end")
        else:
            lines.append(f"{video}, {name}: {s['frames']} frames of {s['frame_size'][0]}x{s['frame_size'][1]} "
                         f"at {s['fps_source']:.2f} fps")
    return lines


def run_table(results):
    """One row per run: frames, frames with and without a face, tracks, detector calls, speed.

    Parameters
    ----------
    results : mapping of (video, model) to VideoResult

    Returns
    -------
    pandas.DataFrame
        Columns :data:`RUN_TABLE_COLUMNS` (``tracks`` is the summary's
        ``faces_found``, ``detector_calls`` its ``timing.n_detections``).
    """
    rows = [{"video": v, "model": m, "frames": r.summary["frames"], "frames_with_face": r.summary["frames_with_face"],
             "frames_no_face": r.summary["frames_no_face"], "tracks": r.summary["faces_found"],
             "detector_calls": r.summary["timing"]["n_detections"],
             "fps_end_to_end": r.summary["timing"]["fps_end_to_end"]}
            for (v, m), r in _check_results(results).items()]
    return pd.DataFrame(rows, columns=list(RUN_TABLE_COLUMNS))


def model_frames_figure(results, video, indices, titles=None, suptitle=None, path=None):
    """Frames of the annotated videos of every model's run on ``video``, one row per model.

    Parameters
    ----------
    results : mapping of (video, model) to VideoResult
    video : str
        The video's key.
    indices, titles, suptitle, path
        As :func:`~fer_lib.video.analysis.annotated_frames_figure`.

    Returns
    -------
    matplotlib.figure.Figure or None
        None when ``video`` has no run or no frame could be read.
    """
    annotated = {m: r.paths["annotated"] for (v, m), r in _check_results(results).items() if v == video}
    if not annotated:
        return None
    return annotated_frames_figure(annotated, indices, titles, suptitle, path=path)


def model_timelines_figure(results, models, video, truth=None, path=None):
    """Class probabilities of the main face over time on ``video``, one panel per model that ran on it.

    Parameters
    ----------
    results : mapping of (video, model) to VideoResult
    models : mapping of str to VideoModel
        Gives each model's class names.
    video : str
        The video's key.
    truth : pandas.DataFrame, optional
        The video's truth (shaded in every panel).
    path : str or Path, optional
        Save the figure there.

    Returns
    -------
    matplotlib.figure.Figure or None
        :func:`~fer_lib.video.analysis.plot_model_timelines`; None when
        ``video`` has no run.
    """
    _check_models(models)
    runs = {m: (r, models[m].class_names) for (v, m), r in _check_results(results).items() if v == video}
    if not runs:
        return None
    return plot_model_timelines(runs, truth=truth, path=path,
                                title=f"{video}: class probabilities of the main face, per model")


def confident_frames_table(results, models, events, video="synthetic", threshold=0.7):
    """Per model, the frames of ``video`` where it is sure, and where they fall.

    Parameters
    ----------
    results : mapping of (video, model) to VideoResult
    models : mapping of str to VideoModel
        A frame counts as just after an event when it lies within the model's
        window (``VideoModel.window`` frames) after it.
    events : sequence of int
        E.g. :func:`expression_cuts`.
    video : str, default "synthetic"
    threshold : float in [0, 1], default 0.7

    Returns
    -------
    pandas.DataFrame
        One row per model with a run on ``video``: ``model``,
        ``confident_frames`` (top probability >= ``threshold``), ``labels``
        (dict of label to count), ``just_after_a_cut``, ``cuts`` (number of
        events), ``on_detection_frames``.
    """
    threshold = check_fraction("threshold", threshold)
    _check_models(models)
    _check_results(results)
    events = [int(e) for e in events]
    rows = []
    for name, vm in models.items():
        if (video, name) not in results:
            continue
        conf = confident_frames(results[(video, name)], threshold, events=events, within=vm.window)
        rows.append({"model": name, "confident_frames": len(conf), "labels": conf["label"].value_counts().to_dict(),
                     "just_after_a_cut": int(conf["after_event"].sum()), "cuts": len(events),
                     "on_detection_frames": int((~conf["tracked"].astype(bool)).sum())})
    return pd.DataFrame(rows, columns=["model", "confident_frames", "labels", "just_after_a_cut", "cuts",
                                       "on_detection_frames"])


def agreement_table(results, models, truth, video="synthetic"):
    """Per model, the per-phase accuracy of its run on ``video`` against the truth.

    A model whose classes hold every true label is scored on them; another
    one (a FER-2013 model on CK+ truth) through
    :data:`~fer_lib.data.constants.CKPLUS_TO_FER2013` (``contempt``, without
    a counterpart, is not scored).

    Parameters
    ----------
    results : mapping of (video, model) to VideoResult
    models : mapping of str to VideoModel
    truth : pandas.DataFrame
        Columns ``frame``, ``label`` and ``phase``.
    video : str, default "synthetic"

    Returns
    -------
    pandas.DataFrame
        The rows of :func:`~fer_lib.video.analysis.truth_agreement` of every
        model with a run on ``video``, with a last column ``model``.
    """
    _check_models(models)
    _check_results(results)
    truth = _check_truth(truth, ("frame", "label", "phase"))
    parts = []
    for name, vm in models.items():
        if (video, name) not in results:
            continue
        class_map = None if set(truth["label"]) <= set(vm.class_names) else dict(CKPLUS_TO_FER2013)
        parts.append(truth_agreement(results[(video, name)], truth, class_map).assign(model=name))
    if not parts:
        return pd.DataFrame(columns=["phase", "frames", "with_face", "compared", "correct", "accuracy", "model"])
    return pd.concat(parts, ignore_index=True)


def describe_no_face_runs(results, video="no_face.mp4"):
    """What the runs on a video without a face wrote: rows, ``none`` rows, labels.

    Parameters
    ----------
    results : mapping of (video, model) to VideoResult
    video : str, default "no_face.mp4"

    Returns
    -------
    list of str
        One line per run on ``video`` (``"<video>, <model>: R rows for F
        frames; status none: N; a label: L"``), or one line saying it was not
        run; then the columns of the first run's ``predictions.csv``.
    """
    lines = []
    for (v, name), res in _check_results(results).items():
        if v == video:
            df = res.predictions
            lines.append(f"{v}, {name}: {len(df)} rows for {df['frame'].nunique()} frames; status none: "
                         f"{int((df['status'] == 'none').sum())}; a label: {int(df['label'].notna().sum())}")
    if not lines:
        lines.append(f"{video} was not run (media folder absent, or the file is not in it).")
    if results:
        first = next(iter(results.values()))
        lines.append(f"columns of predictions.csv: {list(pd.read_csv(first.paths['csv'], nrows=0).columns)}")
    return lines


def throughput_table(benchmark, video, model, goal_fps=25.0):
    """Rows of :func:`~fer_lib.video.inference.benchmark_video` with the split of detection and the goal.

    Parameters
    ----------
    benchmark : pandas.DataFrame
        Rows of ``benchmark_video`` (several devices may be concatenated).
    video, model : str
        Written in the first two columns.
    goal_fps : float, default 25.0
        The goal, end-to-end frames per second, for detect-and-track.

    Returns
    -------
    pandas.DataFrame
        ``video``, ``model``, the benchmark's columns, then ``ms_detect``
        (detector per frame), ``ms_track_align`` (the rest of detect-and-align:
        tracking and alignment), ``goal_fps`` (NaN when detecting every frame:
        the goal is about detect-and-track) and ``meets_goal`` (None there,
        else whether ``fps_end_to_end`` reaches it).
    """
    goal_fps = _check_goal(goal_fps)
    needed = ["detect_every", "frames", "detect_s", "ms_detect_align", "fps_end_to_end"]
    missing = [c for c in needed if c not in getattr(benchmark, "columns", ())]
    if missing:
        raise ValueError(f"benchmark must be a table of benchmark_video; it lacks the columns {missing}")
    table = benchmark.reset_index(drop=True).copy()
    table.insert(0, "video", str(video))
    table.insert(1, "model", str(model))
    table["ms_detect"] = 1000 * table["detect_s"] / table["frames"]
    table["ms_track_align"] = table["ms_detect_align"] - table["ms_detect"]
    table["goal_fps"] = np.where(table["detect_every"] > 1, goal_fps, np.nan)
    table["meets_goal"] = [None if np.isnan(g) else bool(f >= g)
                           for f, g in zip(table["fps_end_to_end"], table["goal_fps"])]
    return table


def measure_throughput(source, model, checkpoint, detect_every=5, devices=("cpu",), max_frames=30, goal_fps=25.0):
    """Benchmark the command's loop on ``source``, detecting every frame and every ``detect_every`` frames.

    Parameters
    ----------
    source : str or Path
        The video.
    model : str
        The model's name (written in the table).
    checkpoint : str or Path
        Its checkpoint.
    detect_every : int, default 5
        The detect-and-track setting; detecting every frame is always measured too.
    devices : sequence of str, default ("cpu",)
        Each one measured (``"cpu"``, ``"cuda"``).
    max_frames : int, default 30
        Frames per measurement.
    goal_fps : float, default 25.0

    Returns
    -------
    pandas.DataFrame
        :func:`throughput_table` of the benchmarks of every device.
    """
    detect_every = check_positive_int("detect_every", detect_every)
    max_frames = check_positive_int("max_frames", max_frames)
    if isinstance(devices, str) or not devices:
        raise ValueError(f"devices must be a non-empty list such as ['cpu', 'cuda']; got {devices!r}")
    runs = [benchmark_video(source, checkpoint, detect_every=sorted({1, detect_every}), device=device,
                            max_frames=max_frames) for device in devices]
    return throughput_table(pd.concat(runs, ignore_index=True), Path(source).name, model, goal_fps)


def describe_throughput(throughput, detect_every, goal_fps=25.0):
    """One sentence per device on the detect-and-track setting: end-to-end rate against the goal.

    Parameters
    ----------
    throughput : pandas.DataFrame
        :func:`throughput_table`.
    detect_every : int
        The rows described.
    goal_fps : float, default 25.0

    Returns
    -------
    list of str
    """
    goal_fps = _check_goal(goal_fps)
    lines = []
    for r in throughput[throughput["detect_every"] == detect_every].itertuples():
        verdict = "meets" if r.fps_end_to_end >= goal_fps else f"is {r.fps_end_to_end / goal_fps:.0%} of"
        lines.append(f"{r.device}, {r.frame_size}, detect every {r.detect_every}: {r.fps_end_to_end:.1f} frames/s "
                     f"end to end ({r.fps_without_write:.1f} without writing the annotated video): {verdict} the "
                     f"goal of {goal_fps:g} frames/s; {r.fps_cpu:.1f} frames per CPU second (an estimate of the "
                     "rate on an idle machine)")
    return lines


def write_noise_file(path, seed, n_bytes=4096):
    """Write ``n_bytes`` seeded random bytes to ``path``: a file no decoder can read (e.g. a "corrupt video").

    Parameters
    ----------
    path : str or Path
    seed : int
    n_bytes : int, default 4096

    Returns
    -------
    Path
    """
    n_bytes = check_positive_int("n_bytes", n_bytes)
    path = Path(path)
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, n_bytes, dtype=np.uint8).tobytes())
    return path


def call_cli(cases):
    """Call the ``fer-video`` entry point in this process, as a shell would, once per case.

    Parameters
    ----------
    cases : mapping of str to list of str
        Case name -> the command's arguments.

    Returns
    -------
    dict of str to dict
        Per case: ``argv``, ``exit_code``, ``stdout`` and ``stderr`` (what the
        command printed, captured).
    """
    from fer_lib.video.cli import main

    if not isinstance(cases, Mapping):
        raise ValueError(f"cases must map a case name to a list of arguments; got {type(cases).__name__}")
    out = {}
    for case, argv in cases.items():
        if isinstance(argv, str):
            raise ValueError(f"cases[{case!r}] must be a list of arguments; got the string {argv!r}")
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(list(argv))
        out[case] = {"argv": list(argv), "exit_code": code, "stdout": stdout.getvalue(),
                     "stderr": stderr.getvalue()}
    return out


def cli_transcript(cli):
    """What a shell would show for the cases of :func:`call_cli`: the command, then its output.

    Parameters
    ----------
    cli : mapping
        :func:`call_cli`'s result.

    Returns
    -------
    str
        Per case ``"$ fer-video <input> ...\\n<stdout><stderr>"`` (paths shown
        as :func:`~fer_lib.core.paths.display_text` does), cases separated by
        a newline.
    """
    return "\n".join(display_text(f"$ fer-video {' '.join(c['argv'][:1])} ...\n{c['stdout']}{c['stderr']}")
                     for c in cli.values())


def cli_outcomes(cli):
    """Per case of :func:`call_cli`, its exit code and how many one-line errors it printed.

    Returns
    -------
    list of str
        ``"<case>: exit code C; error lines: E"`` (error lines start with
        ``fer-video: error:``).
    """
    lines = []
    for case, c in cli.items():
        errors = [line for line in c["stderr"].strip().splitlines() if line.startswith("fer-video: error:")]
        lines.append(f"{case}: exit code {c['exit_code']}; error lines: {len(errors)}")
    return lines


def _records(table):
    return None if table is None else table.to_dict(orient="records")


def video_summary(results, models, checkpoints, truth, *, settings=None, synthetic=None, flicker=None,
                  confident=None, agreement=None, throughput=None, cli=None):
    """Everything notebook 08 measured, as one dict for its ``summary.json``.

    Parameters
    ----------
    results : mapping of (video, model) to VideoResult
    models : mapping of str to VideoModel
    checkpoints : mapping of str to str
        Where each model comes from (see :func:`model_records`).
    truth : pandas.DataFrame
        The synthetic video's truth (:func:`~fer_lib.video.analysis.render_synthetic_video`).
    settings : mapping, optional
        Copied at the top level (e.g. ``data_dir_is_synthetic``,
        ``detect_every``, ``max_frames``, ``goal_fps``).
    synthetic : mapping, optional
        Copied into the ``synthetic`` record (e.g. ``seed``, ``min_score``).
    flicker, confident, agreement, throughput : pandas.DataFrame, optional
        :func:`~fer_lib.video.analysis.flicker_table`,
        :func:`confident_frames_table`, :func:`agreement_table`,
        :func:`throughput_table`; a table left out is left out of the summary.
    cli : mapping, optional
        :func:`call_cli`'s result.

    Returns
    -------
    dict
        ``settings``' keys, then ``models`` (:func:`model_records`),
        ``synthetic`` (``frames``, ``sequences`` of
        :func:`expression_segments`, and ``synthetic``' keys), ``runs``
        (:func:`run_table`), and as given ``flicker``,
        ``synthetic_confident_frames``, ``synthetic_agreement``,
        ``throughput`` (records) and ``cli_exit_codes``.
    """
    summary = dict(settings or {})
    summary["models"] = model_records(models, checkpoints)
    summary["synthetic"] = {"frames": len(truth), **dict(synthetic or {}),
                            "sequences": expression_segments(truth).reset_index().to_dict("records")}
    summary["runs"] = _records(run_table(results))
    tables = {"flicker": flicker, "synthetic_confident_frames": confident, "synthetic_agreement": agreement,
              "throughput": throughput}
    summary.update({key: _records(table) for key, table in tables.items() if table is not None})
    if cli is not None:
        summary["cli_exit_codes"] = {case: c["exit_code"] for case, c in cli.items()}
    return summary


def _flicker_lines(flicker):
    lines = []
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
    return lines


def _throughput_lines(throughput, goal_fps):
    lines = []
    for r in throughput.itertuples():
        goal = "" if r.meets_goal is None else (
            f" Goal: {goal_fps:g} frames/s with detect-and-track: {'met' if r.meets_goal else 'not met'} in "
            f"wall-clock time on this run's machine, {'met' if r.fps_cpu >= goal_fps else 'not met'} per CPU second.")
        lines.append(f"* **Throughput** ({r.video}, {r.frame_size}, {r.device}, detect every {r.detect_every}): "
                     f"{r.fps_end_to_end:.1f} frames/s end to end ({r.fps_cpu:.1f} per CPU second); per frame "
                     f"{r.ms_decode:.0f} ms decode, {r.ms_detect:.0f} ms detect, {r.ms_track_align:.0f} ms track + "
                     f"align, {r.ms_classify:.0f} ms classify, {r.ms_write:.0f} ms write.{goal}")
    return lines


def video_findings(results, flicker=None, confident=None, agreement=None, throughput=None, cli=None, *,
                   goal_fps=25.0, confident_threshold=0.7, synthetic_models=False):
    """The closing "What it showed" of notebook 08: one Markdown bullet per finding, computed from the results.

    Parameters
    ----------
    results : mapping of (video, model) to VideoResult
    flicker, confident, agreement, throughput : pandas.DataFrame, optional
        As for :func:`video_summary`; a table left out (or empty) gives no bullet.
    cli : mapping, optional
        :func:`call_cli`'s result.
    goal_fps : float, default 25.0
    confident_threshold : float in [0, 1], default 0.7
        The threshold ``confident`` was made with (quoted in its sentence).
    synthetic_models : bool, default False
        The models were trained on synthetic faces (the smoke run): adds the
        caveat that their labels on real videos mean nothing.

    Returns
    -------
    str
        Markdown, one ``* ...`` line per finding.
    """
    goal_fps = _check_goal(goal_fps)
    confident_threshold = check_fraction("confident_threshold", confident_threshold)
    lines = []
    for (video, name), res in _check_results(results).items():
        s = res.summary
        lines.append(f"* **{video}, {name}**: {s['frames']} frames, a face in {s['frames_with_face']}, "
                     f"{s['frames_no_face']} `none` rows; {s['timing']['fps_end_to_end']:.1f} frames/s end to end "
                     f"({s['device']}).")
    if flicker is not None and len(flicker):
        lines += _flicker_lines(flicker)
    if confident is not None and len(confident):
        per_model = [f"{r.model} {r.confident_frames} (" + ", ".join(f"{k} {v}" for k, v in r.labels.items())
                     + f"): {r.just_after_a_cut} just after one of the {r.cuts} cuts, {r.on_detection_frames} on "
                     "detection frames" for r in confident.itertuples()]
        lines.append(f"* **Confident frames on the synthetic video** (top probability >= {confident_threshold:g}): "
                     + "; ".join(per_model) + ".")
    if agreement is not None and len(agreement):
        apex = agreement[agreement["phase"] == "apex"].set_index("model")
        lines.append("* **Synthetic subject, apex frames**: " + "; ".join(
            f"{m} right on {r.correct} of {r.compared} ({r.accuracy:.0%})" for m, r in apex.iterrows()) + ".")
    if throughput is not None and len(throughput):
        lines += _throughput_lines(throughput, goal_fps)
    if cli:
        lines.append("* **fer-video**: " + "; ".join(f"{case} -> exit code {c['exit_code']}" for case, c in cli.items())
                     + ".")
    if synthetic_models:
        lines.append("* The models are the smoke run's, trained on synthetic faces: their labels on the real videos "
                     "mean nothing; the flicker and throughput figures describe the models and the pipeline, not "
                     "emotions.")
    return "\n".join(lines)
