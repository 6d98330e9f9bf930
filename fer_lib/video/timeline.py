"""A run's predictions over time: per-track summaries, label changes per second, the timeline figure.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def _is_missing(value):
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value == ""


def label_changes_per_second(labels, times):
    """Flicker of a label sequence: how often the predicted label changes, per second.

    Parameters
    ----------
    labels : array-like of shape (n,)
        Predicted label of one face in consecutive frames (strings or ints).
        Missing entries (``None``, NaN, ``""``: frames where the face was not
        seen) are skipped; a change is counted between consecutive present
        labels that differ.
    times : array-like of shape (n,)
        Time of each frame in seconds, non-decreasing (finite where the label
        is present).

    Returns
    -------
    float
        ``changes / (t_last - t_first)`` over the present labels; NaN when
        fewer than two labels are present or they span no time.

    Examples
    --------
    >>> label_changes_per_second(["a", "a", "b", "b", "a"], [0.0, 0.1, 0.2, 0.3, 0.4])
    5.0
    """
    lab = np.asarray(labels, dtype=object)
    t = np.asarray(times, dtype=np.float64)
    if lab.ndim != 1 or t.shape != lab.shape:
        raise ValueError(
            f"labels and times must be 1-D of the same length; got shapes {lab.shape} and {t.shape}"
        )
    keep = np.array([not _is_missing(v) for v in lab], dtype=bool)
    lab, t = lab[keep], t[keep]
    if not np.isfinite(t).all():
        raise ValueError("times must be finite where a label is present; got NaN or inf")
    if (np.diff(t) < 0).any():
        raise ValueError("times must be non-decreasing (frames in temporal order)")
    if len(lab) < 2:
        return float("nan")
    duration = float(t[-1] - t[0])
    if duration <= 0:
        return float("nan")
    changes = int(sum(a != b for a, b in zip(lab[:-1], lab[1:])))
    return changes / duration


def track_summary(predictions):
    """Per-track counts and flicker from a predictions table.

    Parameters
    ----------
    predictions : pandas.DataFrame
        As written by :func:`run_video_inference` (columns ``frame``,
        ``time_s``, ``track_id``, ``label``).

    Returns
    -------
    pandas.DataFrame
        One row per track id, columns ``track_id``, ``frames`` (rows of the
        track), ``first_frame``, ``last_frame``, ``duration_s``,
        ``label_changes`` (between consecutive rows), ``label_changes_per_second``
        (:func:`label_changes_per_second`; NaN without times) and
        ``dominant_label`` (most frequent label).
    """
    missing = [c for c in ("frame", "time_s", "track_id", "label") if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions lacks the columns {missing}")
    cols = ["track_id", "frames", "first_frame", "last_frame", "duration_s", "label_changes",
            "label_changes_per_second", "dominant_label"]
    faces = predictions[predictions["track_id"].notna()]
    out = []
    for tid, g in faces.groupby("track_id", sort=True):
        g = g.sort_values("frame")
        labels = g["label"].to_numpy(dtype=object)
        times = g["time_s"].to_numpy(dtype=np.float64)
        changes = int(sum(a != b for a, b in zip(labels[:-1], labels[1:])))
        if np.isfinite(times).all():
            rate = label_changes_per_second(labels, times)
            duration = float(times[-1] - times[0])
        else:
            rate, duration = float("nan"), float("nan")
        counts = g["label"].value_counts()
        out.append({
            "track_id": int(tid), "frames": int(len(g)), "first_frame": int(g["frame"].iloc[0]),
            "last_frame": int(g["frame"].iloc[-1]), "duration_s": duration, "label_changes": changes,
            "label_changes_per_second": rate, "dominant_label": str(counts.index[0]) if len(counts) else None,
        })
    return pd.DataFrame(out, columns=cols)


def probability_columns(class_names):
    """Names of the probability columns: ``p_<class>`` for each class, in order."""
    cols = [f"p_{c}" for c in class_names]
    if len(set(cols)) != len(cols):
        raise ValueError(f"class_names must be distinct; got {list(class_names)}")
    return cols


def plot_timeline(predictions, class_names, path=None, max_tracks=6):
    """Probability of each class over time, one panel per track.

    Parameters
    ----------
    predictions : pandas.DataFrame
        As written by :func:`run_video_inference`.
    class_names : sequence of str
    path : str or Path, optional
        Save the figure there (PNG, 120 dpi).
    max_tracks : int, default 6
        Panels for at most this many tracks (the longest ones).

    Returns
    -------
    matplotlib.figure.Figure
        Built without pyplot (no global state, works headless).
    """
    from matplotlib.figure import Figure

    cols = probability_columns(class_names)
    faces = predictions[predictions["track_id"].notna()]
    use_time = bool(len(predictions)) and bool(np.isfinite(predictions["time_s"].to_numpy(dtype=float)).all())
    xcol, xlabel = ("time_s", "time (s)") if use_time else ("frame", "frame")
    counts = faces["track_id"].value_counts()
    tracks = sorted(int(t) for t in counts.index[:max_tracks])
    n = max(len(tracks), 1)
    fig = Figure(figsize=(9, 1.9 * n + 0.8), constrained_layout=True)
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    if not tracks:
        n_frames = predictions["frame"].nunique() if len(predictions) else 0
        axes[0].text(0.5, 0.5, f"no face found in {n_frames} frames", ha="center", va="center",
                     transform=axes[0].transAxes)
        axes[0].set_yticks([])
    none_x = predictions.loc[predictions["status"] == "none", xcol].to_numpy(dtype=float)
    for ax, tid in zip(axes, tracks):
        g = faces[faces["track_id"] == tid].sort_values("frame")
        x = g[xcol].to_numpy(dtype=float)
        for c, name in zip(cols, class_names):
            ax.plot(x, g[c].to_numpy(dtype=float), lw=1.2, marker="." if len(g) < 30 else None, label=name)
        if len(none_x):
            ax.plot(none_x, np.full(len(none_x), -0.04), "|", color="0.5", ms=4)
        ax.set_ylim(-0.08, 1.02)
        ax.set_ylabel("probability", fontsize=8)
        ax.set_title(f"track {tid} ({len(g)} frames)", fontsize=8, loc="left")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel(xlabel)
    if tracks:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncol=min(len(class_names), 7), fontsize=8,
                   frameon=False)
    extra = len(counts) - len(tracks)
    title = "class probabilities per tracked face" + (f" ({extra} shorter tracks not shown)" if extra > 0 else "")
    fig.suptitle(title + ("; grey ticks: frames without a face" if tracks and len(none_x) else ""), fontsize=9)
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
