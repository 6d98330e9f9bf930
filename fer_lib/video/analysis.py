"""Notebook 08's analysis of video runs: the synthetic test video, flicker, agreement with the truth, figures.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from fer_lib.core.validation import check_fraction, check_positive_int
from fer_lib.video.inference import VideoResult
from fer_lib.video.timeline import label_changes_per_second, probability_columns

#: Phases of a frame of :func:`render_synthetic_video`: rising towards the apex, or at the apex (held).
SYNTHETIC_VIDEO_PHASES = ("rising", "apex")


def render_synthetic_video(path, seed=1, n_sequences=7, fps=15.0, hold_frames=5, scale=2.0):
    """Render synthetic CK+ sequences of one new subject as one video file, with the truth of every frame.

    The sequences come from :func:`fer_lib.data.synthetic.iter_sequences` with
    ``SyntheticConfig(seed=seed, ck_subjects=1, ck_sequences_per_subject=n_sequences,
    ck_unlabelled_fraction=0)``: one subject (identity drawn from ``seed``; the
    default data set uses seed 0, so any other seed gives a face no model of
    the study was trained on) shows ``n_sequences`` expressions, each from
    neutral to its apex (classes assigned cyclically: 7 sequences show every
    CK+ class once, in a seeded order). Each apex is held for ``hold_frames``
    more frames, then the next sequence starts (a cut: pose and lighting
    change a little between sequences).

    Parameters
    ----------
    path : str or Path
        Output video (``.mp4``, codec ``mp4v``; the folder is created).
    seed : int, default 1
    n_sequences : int, default 7
    fps : float, default 15.0
        Frame rate stored in the file (sets ``time_s``).
    hold_frames : int, default 5
        Copies of each apex frame appended after it (0: none).
    scale : float, default 2.0
        Resize factor of the frames (bicubic; the synthetic CK+ canvas is
        192x144, so 2 gives 384x288 with a face of about 110x130 pixels).

    Returns
    -------
    pandas.DataFrame
        One row per frame of the video: ``frame``, ``time_s`` (``frame / fps``),
        ``sequence`` (``S501_001`` ...), ``label`` (CK+ class name of the
        sequence), ``intensity`` (expression intensity of the frame, 0 =
        neutral, about 1 = apex), ``phase`` (:data:`SYNTHETIC_VIDEO_PHASES`:
        ``"apex"`` for the last frame of a sequence and its held copies,
        ``"rising"`` before it).

    Raises
    ------
    RuntimeError
        When OpenCV cannot open a writer for ``path``.
    """
    import cv2

    from fer_lib.data.synthetic import SyntheticConfig, iter_sequences

    seed = check_positive_int("seed", seed, minimum=0)
    n_sequences = check_positive_int("n_sequences", n_sequences)
    hold_frames = check_positive_int("hold_frames", hold_frames, minimum=0)
    for name, value in (("fps", fps), ("scale", scale)):
        if isinstance(value, bool) or not (isinstance(value, (int, float, np.integer, np.floating))
                                           and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number; got {value!r}")
    cfg = SyntheticConfig(seed=seed, ck_subjects=1, ck_sequences_per_subject=n_sequences, ck_unlabelled_fraction=0.0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm.auto in a kernel without ipywidgets
        sequences = list(iter_sequences(cfg))
    writer, rows = None, []
    try:
        for seq in sequences:
            frames = seq["frames"]
            n = len(frames)
            order = list(range(n)) + [n - 1] * hold_frames
            if scale != 1:
                frames = np.stack([cv2.resize(f, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
                                   for f in frames])
            for k, i in enumerate(order):
                if writer is None:
                    h, w = frames.shape[1:3]
                    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
                    if not writer.isOpened():
                        raise RuntimeError(f"cv2.VideoWriter could not open '{path}' (codec mp4v)")
                writer.write(cv2.cvtColor(frames[i], cv2.COLOR_GRAY2BGR))
                rows.append({"sequence": f"{seq['subject']}_{seq['sequence']}", "label": seq["expression"],
                             "intensity": float(seq["intensity"][i]),
                             "phase": SYNTHETIC_VIDEO_PHASES[int(k >= n - 1)]})
    finally:
        if writer is not None:
            writer.release()
    truth = pd.DataFrame(rows)
    truth.insert(0, "frame", np.arange(len(truth)))
    truth.insert(1, "time_s", truth["frame"] / float(fps))
    return truth


def _predictions_of(run):
    df = run.predictions if isinstance(run, VideoResult) else run
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"expected a VideoResult or a predictions DataFrame; got {type(run).__name__}")
    return df


def main_face(predictions):
    """The rows of the video's main face, in frame order, and what they are.

    When no frame holds more than one face, the main face is every face row
    (a single person: the rows of successive tracks, e.g. after a cut or a
    missed detection, are one face); otherwise it is the track with the most
    rows (ties: the lowest id).

    Parameters
    ----------
    predictions : pandas.DataFrame or VideoResult
        As written by :func:`run_video_inference`.

    Returns
    -------
    rows : pandas.DataFrame
        The face rows, sorted by frame (empty when no face was found).
    what : str
        ``"the only face (tracks 0, 1)"``, ``"track 3 of 5"`` or ``"no face"``.
    """
    df = _predictions_of(predictions)
    faces = df[df["track_id"].notna()].sort_values("frame", kind="stable")
    if faces.empty:
        return faces, "no face"
    ids = faces["track_id"].astype(int)
    if not faces["frame"].duplicated().any():
        tracks = sorted(set(ids))
        return faces, "the only face (track" + ("s " if len(tracks) > 1 else " ") + ", ".join(map(str, tracks)) + ")"
    counts = ids.value_counts()
    tid = int(counts[counts == counts.max()].index.min())
    return faces[ids == tid], f"track {tid} of {len(counts)}"


def _changes(labels):
    return int(sum(x != y for x, y in zip(labels[:-1], labels[1:])))


def flicker_table(runs, truth=None):
    """Label changes per second of the main face (:func:`main_face`), one row per (video, model) run.

    Parameters
    ----------
    runs : mapping of (video, model) to VideoResult or predictions DataFrame
    truth : mapping of video to pandas.DataFrame, optional
        Columns ``time_s`` and ``label`` (e.g. :func:`render_synthetic_video`'s
        table): adds a row with model ``"truth"`` per video, the changes of
        the true label (what a perfect model would show).

    Returns
    -------
    pandas.DataFrame
        Columns ``video``, ``model``, ``frames``, ``faces_found`` (tracks),
        ``main_face`` (what the next columns are measured on),
        ``face_frames`` (its rows), ``duration_s`` (first to last of them),
        ``label_changes`` (between consecutive rows), ``label_changes_per_second``
        (:func:`label_changes_per_second`), ``dominant_label``,
        ``mean_top_probability`` (mean probability of the arg-max class: near
        ``1 / n_classes``, the arg-max flips on small changes) and
        ``mean_probability_change`` (mean total-variation distance between
        the probability vectors of consecutive rows, ``0.5 * sum |p_t -
        p_{t-1}|``: flicker of the probabilities, whatever the arg-max does);
        NaN/None where no face was found (and for the truth's probabilities).
    """
    cols = ["video", "model", "frames", "faces_found", "main_face", "face_frames", "duration_s", "label_changes",
            "label_changes_per_second", "dominant_label", "mean_top_probability", "mean_probability_change"]
    out = []

    def measure(labels, times, probs=None):
        counts = pd.Series(labels, dtype=object).value_counts()
        finite = len(times) and np.isfinite(times).all()
        top = float(probs.max(axis=1).mean()) if probs is not None and len(probs) else float("nan")
        change = (float(0.5 * np.abs(np.diff(probs, axis=0)).sum(axis=1).mean())
                  if probs is not None and len(probs) > 1 else float("nan"))
        return {"face_frames": int(len(labels)), "mean_top_probability": top, "mean_probability_change": change,
                "duration_s": float(times[-1] - times[0]) if finite else float("nan"),
                "label_changes": _changes(labels) if len(labels) else pd.NA,
                "label_changes_per_second": label_changes_per_second(labels, times) if finite else float("nan"),
                "dominant_label": str(counts.index[0]) if len(counts) else None}

    for key, run in runs.items():
        if not (isinstance(key, tuple) and len(key) == 2):
            raise ValueError(f"runs must be keyed by (video, model) pairs; got the key {key!r}")
        df = _predictions_of(run)
        rows, what = main_face(df)
        probs = rows[[c for c in rows.columns if str(c).startswith("p_")]].to_numpy(dtype=float)
        out.append({"video": str(key[0]), "model": str(key[1]), "frames": int(df["frame"].nunique()),
                    "faces_found": int(df["track_id"].dropna().nunique()), "main_face": what,
                    **measure(rows["label"].to_numpy(dtype=object), rows["time_s"].to_numpy(dtype=float),
                              probs if probs.shape[1] else None)})
    for video, tr in (truth or {}).items():
        out.append({"video": str(video), "model": "truth", "frames": int(len(tr)), "faces_found": pd.NA,
                    "main_face": "true label of every frame",
                    **measure(tr["label"].to_numpy(dtype=object), tr["time_s"].to_numpy(dtype=float))})
    table = pd.DataFrame(out, columns=cols)
    for c in ("faces_found", "label_changes"):
        table[c] = table[c].astype("Int64")
    return table


def confident_frames(predictions, threshold=0.7, events=None, within=1):
    """Frames of the main face (:func:`main_face`) where the top class probability reaches ``threshold``.

    Parameters
    ----------
    predictions : pandas.DataFrame or VideoResult
    threshold : float in [0, 1], default 0.7
    events : sequence of int, optional
        Frames where something happens in the video (e.g. the cuts between
        the sequences of :func:`render_synthetic_video`).
    within : int, default 1
        A frame is ``after_event`` when it is 0 to ``within - 1`` frames after
        an event (e.g. ``T`` for a window model: its window still holds a
        frame from before the event).

    Returns
    -------
    pandas.DataFrame
        Columns ``frame``, ``time_s``, ``label``, ``top_probability``,
        ``tracked`` (False: a detection frame) and ``after_event`` (False
        without events).
    """
    threshold = check_fraction("threshold", threshold)
    within = check_positive_int("within", within)
    rows, _ = main_face(predictions)
    probs = rows[[c for c in rows.columns if str(c).startswith("p_")]].to_numpy(dtype=float)
    top = probs.max(axis=1) if probs.size else np.zeros(len(rows))
    out = rows.loc[top >= threshold, ["frame", "time_s", "label", "tracked"]].copy()
    out.insert(3, "top_probability", top[top >= threshold])
    ev = np.asarray(sorted(int(e) for e in (events or ())), dtype=np.int64)
    since = out["frame"].to_numpy(dtype=np.int64)[:, None] - ev[None, :]
    out["after_event"] = ((since >= 0) & (since < within)).any(axis=1) if len(ev) else False
    return out.reset_index(drop=True)


def truth_agreement(predictions, truth, class_map=None):
    """Per-frame accuracy of a run on a video whose truth is known (:func:`render_synthetic_video`).

    The main face (:func:`main_face`) is compared with the truth frame by
    frame, per phase.

    Parameters
    ----------
    predictions : pandas.DataFrame or VideoResult
    truth : pandas.DataFrame
        Columns ``frame``, ``label`` and ``phase``.
    class_map : mapping, optional
        True label -> the model's class name (e.g.
        :data:`fer_lib.data.constants.CKPLUS_TO_FER2013` for a FER-2013 model);
        frames whose true label is not in it are not compared. None: the
        model's classes are the truth's.

    Returns
    -------
    pandas.DataFrame
        One row per phase (in :data:`SYNTHETIC_VIDEO_PHASES` order) then
        ``"all"``: ``phase``, ``frames``, ``with_face`` (frames where the main
        face has a prediction), ``compared`` (of those, frames whose true
        label has a counterpart), ``correct``, ``accuracy`` (``correct /
        compared``; NaN when none is compared).
    """
    missing = [c for c in ("frame", "label", "phase") if c not in truth.columns]
    if missing:
        raise ValueError(f"truth lacks the columns {missing}")
    rows, _ = main_face(predictions)
    merged = truth[["frame", "label", "phase"]].merge(
        rows[["frame", "label"]].rename(columns={"label": "predicted"}), on="frame", how="left")
    wanted = merged["label"] if class_map is None else merged["label"].map(lambda v: class_map.get(v))
    merged["with_face"] = merged["predicted"].notna()
    merged["compared"] = merged["with_face"] & wanted.notna()
    merged["correct"] = merged["compared"] & (merged["predicted"] == wanted)
    out = []
    for phase in [*SYNTHETIC_VIDEO_PHASES, "all"]:
        g = merged if phase == "all" else merged[merged["phase"] == phase]
        compared, correct = int(g["compared"].sum()), int(g["correct"].sum())
        out.append({"phase": phase, "frames": int(len(g)), "with_face": int(g["with_face"].sum()),
                    "compared": compared, "correct": correct,
                    "accuracy": correct / compared if compared else float("nan")})
    return pd.DataFrame(out)


def plot_model_timelines(runs, truth=None, path=None, title=None):
    """Class probabilities of the main face over time, one panel per model, on the same video.

    Parameters
    ----------
    runs : mapping of model name to (predictions, class_names)
        ``predictions`` a VideoResult or DataFrame of :func:`run_video_inference`.
    truth : pandas.DataFrame, optional
        Columns ``time_s``, ``label`` (and ``sequence``): shaded spans with
        the true label, in every panel.
    path : str or Path, optional
        Save the figure there (PNG, 120 dpi).
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
        Built without pyplot. Each panel: the main face (:func:`main_face`),
        one line per class, and along the top a strip with the arg-max label
        of every frame (its colour), so flicker shows as a broken strip; the
        panel title gives the label changes per second
        (:func:`label_changes_per_second`).
    """
    from matplotlib.figure import Figure

    if not runs:
        raise ValueError("runs must name at least one model")
    n = len(runs)
    fig = Figure(figsize=(10, 2.3 * n + 0.6), constrained_layout=True)
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    palette = [f"C{i}" for i in range(10)]
    for ax, (name, (run, class_names)) in zip(axes, runs.items()):
        df = _predictions_of(run)
        cols = probability_columns(class_names)
        g, what = main_face(df)
        if truth is not None and len(truth):
            key = truth["sequence"] if "sequence" in truth.columns else truth["label"]
            starts = np.flatnonzero(np.r_[True, key.to_numpy()[1:] != key.to_numpy()[:-1]])
            ends = np.r_[starts[1:], len(truth)]
            dt = float(np.median(np.diff(truth["time_s"]))) if len(truth) > 1 else 1.0
            for j, (a, b) in enumerate(zip(starts, ends)):
                t0, t1 = truth["time_s"].iloc[a], truth["time_s"].iloc[b - 1] + dt
                ax.axvspan(t0, t1, color="0.5", alpha=0.10 if j % 2 else 0.0, lw=0)
                ax.text((t0 + t1) / 2, -0.2, f"true: {truth['label'].iloc[a]}", ha="center", va="center",
                        fontsize=7, color="0.25")
        if g.empty:
            ax.text(0.5, 0.5, f"{name}: no face found", ha="center", va="center", transform=ax.transAxes)
            ax.set_yticks([])
            continue
        x = g["time_s"].to_numpy(dtype=float)
        if not np.isfinite(x).all():
            x = g["frame"].to_numpy(dtype=float)
        for i, (c, cname) in enumerate(zip(cols, class_names)):
            ax.plot(x, g[c].to_numpy(dtype=float), lw=1.1, color=palette[i % 10], label=cname)
        top = [palette[list(class_names).index(v) % 10] for v in g["label"]]
        ax.scatter(x, np.full(len(x), 1.08), c=top, marker="s", s=9, lw=0)
        rate = label_changes_per_second(g["label"].to_numpy(dtype=object), x)
        changes = _changes(g["label"].to_numpy(dtype=object))
        ax.set_title(f"{name}: {what}, {len(g)} frames; arg-max label changes {changes} times "
                     f"({rate:.2f} per second); top strip: arg-max label", fontsize=8, loc="left")
        ax.set_ylim(-0.28 if truth is not None else -0.03, 1.14)
        ax.set_ylabel("probability", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    axes[-1].set_xlabel("time (s)")
    if title:
        fig.suptitle(title, fontsize=9)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


def video_frames_at(path, indices):
    """Decode the frames of a video at the given indices (e.g. of an ``annotated.mp4``).

    Parameters
    ----------
    path : str or Path
    indices : sequence of int
        0-based frame indices; frames past the end are left out.

    Returns
    -------
    ndarray of shape (n, H, W, 3), dtype uint8
        RGB frames in the order of ``indices`` (``n`` may be smaller than
        ``len(indices)``; 0 when the file has no frame).
    """
    import cv2

    wanted = sorted({int(i) for i in indices if int(i) >= 0})
    got = {}
    cap = cv2.VideoCapture(str(path))
    try:
        k = 0
        while wanted and k <= wanted[-1]:
            ok, bgr = cap.read()
            if not ok:
                break
            if k in wanted:
                got[k] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            k += 1
    finally:
        cap.release()
    frames = [got[int(i)] for i in indices if int(i) in got]
    return np.stack(frames) if frames else np.zeros((0, 0, 0, 3), np.uint8)


def annotated_frames_figure(annotated, indices, titles=None, suptitle=None, path=None, width=2.6):
    """Frames of annotated videos in a grid: one row per video (e.g. per model), one column per frame.

    Parameters
    ----------
    annotated : mapping of row name to str or Path
        ``annotated.mp4`` files (:func:`run_video_inference`), e.g. one per
        model on the same input.
    indices : sequence of int
        Frames to show (0-based), the same in every row.
    titles : sequence of str, optional
        One per index; each panel's title is ``"<row name>: <title>"``.
    suptitle : str, optional
    path : str or Path, optional
        Save the figure there (PNG, 100 dpi).
    width : float, default 2.6
        Inches per frame; the height follows the frames' aspect ratio.

    Returns
    -------
    matplotlib.figure.Figure or None
        Built without pyplot; None when no frame could be read.
    """
    from matplotlib.figure import Figure

    indices = [int(i) for i in indices]
    if titles is not None and len(titles) != len(indices):
        raise ValueError(f"titles must have one entry per index ({len(indices)}); got {len(titles)}")
    rows = {name: video_frames_at(file, indices) for name, file in annotated.items() if file is not None}
    rows = {name: frames for name, frames in rows.items() if len(frames) == len(indices) and len(frames)}
    if not rows:
        return None
    h, w = next(iter(rows.values())).shape[1:3]
    ncols, nrows = len(indices), len(rows)
    fig = Figure(figsize=(ncols * width, nrows * (width * h / w + 0.3) + (0.4 if suptitle else 0.0)),
                 constrained_layout=True)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for r, (name, frames) in enumerate(rows.items()):
        for c, frame in enumerate(frames):
            ax = axes[r, c]
            ax.imshow(frame)
            ax.axis("off")
            label = titles[c] if titles is not None else f"frame {indices[c]}"
            ax.set_title(f"{name}: {label}", fontsize=8)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def plot_throughput(table, goal_fps=25.0, path=None):
    """Milliseconds per frame by stage, per setting of :func:`benchmark_video`, with the frame budget of a goal.

    Parameters
    ----------
    table : pandas.DataFrame
        Rows of :func:`benchmark_video` (several devices may be concatenated).
    goal_fps : float, default 25.0
        Drawn as the budget ``1000 / goal_fps`` ms per frame.
    path : str or Path, optional
        Save the figure there (PNG, 120 dpi).

    Returns
    -------
    matplotlib.figure.Figure
        Built without pyplot: one horizontal stacked bar per row (decode,
        detect, track + align, classify, write) of wall-clock time, labelled
        with its end-to-end fps (and frames per CPU second, ``fps_cpu``, when
        the table has it).
    """
    from matplotlib.figure import Figure

    if not (isinstance(goal_fps, (int, float)) and goal_fps > 0):
        raise ValueError(f"goal_fps must be a positive number; got {goal_fps!r}")
    n = np.maximum(table["frames"].to_numpy(dtype=float), 1)
    stages = {
        "decode": table["decode_s"].to_numpy(dtype=float),
        "detect": table["detect_s"].to_numpy(dtype=float),
        "track + align": (table["detect_align_s"] - table["detect_s"]).to_numpy(dtype=float),
        "classify": table["classify_s"].to_numpy(dtype=float),
        "write": table["write_s"].to_numpy(dtype=float),
    }
    labels = [f"{r.device}, detect every {r.detect_every}" for r in table.itertuples()]
    fig = Figure(figsize=(9, 0.55 * len(table) + 1.4), constrained_layout=True)
    ax = fig.subplots()
    y = np.arange(len(table))[::-1]
    left = np.zeros(len(table))
    for i, (name, sec) in enumerate(stages.items()):
        ms = 1000 * np.maximum(sec, 0) / n
        ax.barh(y, ms, left=left, color=f"C{i}", label=name, height=0.6)
        left += ms
    budget = 1000.0 / goal_fps
    ax.axvline(budget, color="k", ls="--", lw=1)
    ax.text(budget, y.max() + 0.45, f" {goal_fps:g} fps = {budget:.0f} ms", fontsize=8, va="bottom")
    cpu = table["fps_cpu"].to_numpy(dtype=float) if "fps_cpu" in table.columns else np.full(len(table), np.nan)
    for yy, total, fps, fc in zip(y, left, table["fps_end_to_end"].to_numpy(dtype=float), cpu):
        ax.text(total, yy, f" {fps:.1f} fps" + (f" ({fc:.1f} per CPU second)" if np.isfinite(fc) else ""),
                va="center", fontsize=8)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel("milliseconds per frame")
    ax.set_xlim(0, max(left.max(), budget) * 1.35)
    ax.set_ylim(-0.6, y.max() + 1.0)
    ax.legend(loc="lower right", fontsize=7, ncol=5, frameon=False)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
