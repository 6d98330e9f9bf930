"""Notebook 02's comparisons of detectors and tracking, and its closing text.

The alignment itself is :func:`fer_lib.faces.datasets.align_ckplus_sequences`;
this module runs the comparisons notebook 02 shows on top of it:

* :func:`detector_check`: MTCNN and the Haar fallback against the data set's
  landmarks, on a random draw of sequences;
* :func:`tracking_comparison`: detecting every frame against detecting every
  ``k`` frames and tracking in between;
* :func:`detect_photos` and :func:`haar_on_faceless_frames`: the media
  folder's photos, and what the Haar fallback would invent on faceless
  video frames;
* :func:`findings`: the "What it showed" bullets, from ``alignment.json``'s
  summary alone.
"""

from pathlib import Path

import numpy as np
import pandas as pd

from fer_lib.core.validation import check_positive_int
from fer_lib.faces import datasets as faces

__all__ = ["detect_photos", "detector_check", "findings", "haar_on_faceless_frames", "tracking_comparison"]


def detector_check(aligned, n_sequences, detectors, size, cache_dir, *, color="gray", seed=0):
    """Align a random draw of sequences again with each detector and compare their eyes with the landmarks'.

    Parameters
    ----------
    aligned : fer_lib.faces.datasets.SequenceAlignment
        The alignment from the data set's landmarks (the reference).
    n_sequences : int
        Sequences drawn (all of them when there are fewer).
    detectors : sequence of {"mtcnn", "haar"}
    size : int
        Crop side.
    cache_dir : path-like or None
        The alignment cache.
    color : {"gray", "rgb"}, default="gray"
    seed : int, default=0
        Seed of the draw.

    Returns
    -------
    table : DataFrame
        One row per detector (index ``detector``): ``frames``, ``found``,
        ``found_rate``, ``eye_error_px_median``, ``eye_error_iod_median``,
        ``eye_error_iod_p95``.
    subset : list of fer_lib.data.ckplus.CKPlusSequence
        The sequences drawn, in data set order.
    records : dict of str to DataFrame
        Detector -> its per-frame records (for the table of detection rates).
    """
    n_sequences = check_positive_int("n_sequences", n_sequences)
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(aligned), size=min(n_sequences, len(aligned)), replace=False))
    subset = [aligned.sequences[i] for i in pick]
    reference = aligned.records[aligned.records["sequence_id"].isin([s.sequence_id for s in subset])]
    rows, records = [], {}
    for detector in detectors:
        run = faces.align_ckplus_sequences(subset, detector, 1, size, cache_dir, color=color)
        err = faces.point_error(run.records, reference)
        counts = faces.status_counts(run.records).iloc[0]
        records[detector] = run.records
        rows.append({"detector": detector, "frames": int(counts["n_frames"]),
                     "found": int(counts["n_frames"] - counts["none"]), "found_rate": counts["found_rate"],
                     "eye_error_px_median": err["eye_error_px"].median(),
                     "eye_error_iod_median": err["eye_error_iod"].median(),
                     "eye_error_iod_p95": err["eye_error_iod"].quantile(0.95)})
    return pd.DataFrame(rows).set_index("detector"), subset, records


def tracking_comparison(sequences, detect_every, size, cache_dir, *, color="gray", drift_threshold=2.0):
    """Detect every frame vs every ``detect_every`` frames with optical-flow tracking in between (MTCNN).

    The eyes detected on every frame are the evidence for both runs: how much
    they move inside the tracked run's crops, and how far the tracked crops
    put them from where the every-frame crops do.

    Parameters
    ----------
    sequences : sequence of fer_lib.data.ckplus.CKPlusSequence
    detect_every : int
    size : int
    cache_dir : path-like or None
    color : {"gray", "rgb"}, default="gray"
    drift_threshold : float, default=2.0
        Eye motion (crop pixels) counted as unstable.

    Returns
    -------
    summary : dict
        ``detect_every``, ``n_sequences``, ``n_frames``, ``tracked_frames``,
        ``status_counts``, ``eye_drift_every_frame``, ``eye_drift_tracked``
        (:func:`fer_lib.faces.datasets.drift_summary`) and
        ``eye_gap_tracked_vs_every_px`` (``median``, ``max``).
    table : DataFrame
        The two drift summaries side by side, one row per run.
    records : DataFrame
        The tracked run's per-frame records.
    """
    detect_every = check_positive_int("detect_every", detect_every)
    every = faces.align_ckplus_sequences(sequences, "mtcnn", 1, size, cache_dir, color=color)
    tracked = faces.align_ckplus_sequences(sequences, "mtcnn", detect_every, size, cache_dir, color=color)
    drift_every = faces.eye_drift(every.records)
    drift_tracked = faces.eye_drift(tracked.records, reference=every.records)
    both = drift_every.merge(drift_tracked, on=["sequence_id", "frame"], suffixes=("_every", "_tracked"))
    gap = np.hypot(both["eye_x_every"] - both["eye_x_tracked"], both["eye_y_every"] - both["eye_y_tracked"])
    summary = {"detect_every": detect_every, "n_sequences": len(sequences), "n_frames": tracked.n_frames,
               "tracked_frames": int(tracked.records["tracked"].sum()),
               "status_counts": faces.status_summary(tracked.records),
               "eye_drift_every_frame": faces.drift_summary(drift_every, drift_threshold),
               "eye_drift_tracked": faces.drift_summary(drift_tracked, drift_threshold),
               "eye_gap_tracked_vs_every_px": {"median": float(gap.median()), "max": float(gap.max())}}
    table = pd.DataFrame({"detect every frame": summary["eye_drift_every_frame"],
                          f"detect every {detect_every}": summary["eye_drift_tracked"]}).T
    table = (table[["n_pairs", "median_px", "p95_px", "max_px", "n_over_threshold"]].astype(float)
             .astype({"n_pairs": int, "n_over_threshold": int}))
    return summary, table, tracked.records


def _listed(items, limit=10):
    return (", ".join(items[:limit]) + (" ..." if len(items) > limit else "")) if items else "none"


def findings(summary, size, drift_threshold):
    """The "What it showed" bullets of notebook 02, from its ``alignment.json`` summary alone.

    Parameters
    ----------
    summary : dict
        What notebook 02 saves as ``alignment.json`` (keys ``ckplus``,
        ``detector_check``, ``tracking``, ``throughput``, ``media``, each optional,
        and ``data_dir_is_synthetic``).
    size : int
        Crop side.
    drift_threshold : float

    Returns
    -------
    list of str
        Markdown bullets.
    """
    lines = []
    if "ckplus" in summary:
        s = summary["ckplus"]
        c, d = s["status_counts"], s["eye_drift"]
        kind = "synthetic" if summary.get("data_dir_is_synthetic") else "real"
        lines.append(
            f"* **CK+ sequences** ({kind}): {s['n_frames']} frames of {s['n_sequences']} sequences aligned to "
            f"{size}x{size} with " + ", ".join(f"{k} ({v} sequences)" for k, v in s["methods"].items())
            + f"; a face in {100 * c['found_rate']:.1f}% of the frames. Frames missed: "
            f"{_listed(s['frames_missed'])}.")
        lines.append(
            f"* **Stability**: the eyes move by {d['median_px']:.2f} px (median; 95th percentile {d['p95_px']:.2f}, "
            f"max {d['max_px']:.2f}) inside the crops between consecutive frames; {d['n_over_threshold']} of "
            f"{d['n_pairs']} frame pairs above {drift_threshold} px.")
    else:
        lines.append("* No CK+ sequences in this data folder.")
    if "detector_check" in summary:
        parts = [f"{k}: face in {100 * v['found_rate']:.1f}% of the frames, eyes {v['eye_error_iod_median']:.1%} of "
                 f"the inter-ocular distance from the landmarks (median)"
                 for k, v in summary["detector_check"]["by_detector"].items()]
        lines.append("* **Detectors against the landmarks**: " + "; ".join(parts) + ".")
    if "tracking" in summary:
        t = summary["tracking"]
        lines.append(
            f"* **Detect every {t['detect_every']} frames and track**: {t['tracked_frames']} of {t['n_frames']} "
            f"frames tracked; eye drift {t['eye_drift_tracked']['median_px']:.2f} px (median, max "
            f"{t['eye_drift_tracked']['max_px']:.2f}) vs {t['eye_drift_every_frame']['median_px']:.2f} px (max "
            f"{t['eye_drift_every_frame']['max_px']:.2f}) detecting every frame; eyes "
            f"{t['eye_gap_tracked_vs_every_px']['median']:.2f} px (median) from the every-frame crops.")
    lines += [f"* **Throughput** ({r['source']}, {r['frame_size']}, {r['device']}): {r['fps_every_frame']:.1f} "
              f"frames/s detecting every frame, {r['fps_tracked']:.1f} detecting every {r['detect_every']}: "
              f"x{r['speedup']:.1f}." for r in summary.get("throughput", [])]
    if "media" in summary:
        m = summary["media"]
        lines.append("* **Photos**: " + "; ".join(f"{p['file']} {p['status']} (faces seen: {p['faces_seen']})"
                                                 for p in m["photos"]) + ".")
        lines.append("* **Videos**: " + "; ".join(f"{k} a face in {v['n_frames'] - v['none']} of {v['n_frames']} "
                                                 f"frames" for k, v in m["videos"].items()) + ".")
        if m["haar_on_faceless_frames"]:
            lines.append("* **Haar fallback on the video frames where MTCNN found no face**: it finds a face in "
                         + "; ".join(f"{v['haar_finds_a_face']} of {v['frames_without_face']} ({k})"
                                     for k, v in m["haar_on_faceless_frames"].items()) + ".")
    return lines


def detect_photos(photos):
    """Detect the faces of photos, keeping one per photo (:func:`fer_lib.faces.detection.select_face`).

    Parameters
    ----------
    photos : sequence of path-like

    Returns
    -------
    table : DataFrame
        One row per photo: ``file``, ``size`` (``"WxH"``), ``status``,
        ``faces_seen``, ``kept_score``.
    images : list of ndarray of shape (H, W, 3), uint8
    detections : list of fer_lib.faces.detection.Detections
        One per photo.
    records : DataFrame
        Per-photo records (:meth:`Detections.to_frame`) with a ``source`` column.
    """
    from fer_lib.faces.detection import detect_faces, read_image

    images = [read_image(p, color="rgb") for p in photos]
    detections = [detect_faces([im]) for im in images]
    table = pd.DataFrame({
        "file": [p.name for p in map(Path, photos)],
        "size": [f"{im.shape[1]}x{im.shape[0]}" for im in images],
        "status": [d.status[0] for d in detections],
        "faces_seen": [int(d.n_faces[0]) for d in detections],
        "kept_score": [d.scores[0] for d in detections],
    })
    records = pd.concat([d.to_frame() for d in detections], ignore_index=True).assign(source=table["file"])
    return table, images, detections, records


def haar_on_faceless_frames(video_runs):
    """How many of the video frames where MTCNN found no face the Haar fallback would call a face.

    Parameters
    ----------
    video_runs : dict of str to tuple (frames, crops, records)
        Per video, :func:`fer_lib.faces.datasets.align_video`'s frames and records.

    Returns
    -------
    dict of str to dict
        Per video with such frames: ``frames_without_face``, ``haar_finds_a_face``.
    """
    from fer_lib.faces.detection import detect_faces

    out = {}
    for name, (frames, _, rec) in video_runs.items():
        none = np.flatnonzero(rec["status"].to_numpy() == "none")
        if len(none):
            haar = detect_faces(frames[none], method="haar")
            out[name] = {"frames_without_face": int(len(none)),
                         "haar_finds_a_face": int((haar.status != "none").sum())}
    return out
