"""Emotion recognition on images, folders of images, video files and webcams.

:func:`run_video_inference` is the library side of the ``fer-video`` command
(:mod:`fer_lib.video.cli`). For every frame it

1. **decodes** the frame (streamed: a video is never held in memory whole);
2. **detects and tracks faces** (:class:`~fer_lib.video.tracker.FaceTracker`): the detector
   (:func:`fer_lib.faces.detection.detect_faces`, MTCNN or Haar) runs on frames
   ``0, k, 2k, ...`` (``k = detect_every``) and on any frame where optical
   flow loses a face; in between, each face's 5 points are moved by
   Lucas-Kanade optical flow (the tracker of
   :func:`fer_lib.faces.alignment.align_sequence`). Several faces per frame are
   followed, each with a stable integer id (association rule below);
3. **aligns** each face onto the template the checkpoint was trained with
   (:func:`fer_lib.faces.alignment.align_face`);
4. **classifies** each face with a checkpoint written by
   :func:`fer_lib.train.loop.train_model` (see :func:`~fer_lib.video.model.load_video_model`):
   ``mode="spatial"`` classifies every crop on its own; ``mode="window"``
   (hybrid CNN-LSTM checkpoints, ``metadata["is_sequence"]``) classifies the
   last ``T`` aligned crops of the face's track. Until a track has ``T``
   crops, the window is padded at the front by repeating its first crop, so a
   new face gets a prediction from its first frame on;
5. **writes** ``predictions.csv`` / ``predictions.parquet``, an annotated
   video, ``timeline.png`` and ``summary.json`` (see
   :func:`run_video_inference`).

Track association rule
----------------------
On a detection frame, every current track (its box moved by optical flow) and
every recently lost track (its last box, lost at most ``max_lost_frames``
frames ago) is compared with every detected face by box IoU
(:func:`fer_lib.faces.detection.box_iou`). Pairs are taken greedily by decreasing
IoU (ties: current tracks before lost ones, then lower id); a pair is
accepted when its IoU is at least ``iou_threshold`` and neither member is
taken yet. A matched current track is blended with its detection,
``(1 - smoothing) * detected + smoothing * predicted`` (points and box), a
matched lost track resumes at the detected position with its old id. A
current track left without a detection ends (it becomes "lost": no face is
invented for it); a detected face left without a track starts a new track,
new ids being given in order of the faces' left edges and never reused. When
the frame size changes (a folder of images of different sizes), all tracks
end.

Nothing heavy is imported at module import: OpenCV, torch and matplotlib are
loaded on first use; nothing is written until a function is called.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from fer_lib.core.jsonio import to_jsonable
from fer_lib.core.validation import check_option, check_positive_int
from fer_lib.video.media import VideoSink, draw_faces, gui_available, open_source
from fer_lib.video.model import VideoModel, check_same_preprocessing, load_video_model
from fer_lib.video.timeline import plot_timeline, probability_columns, track_summary
from fer_lib.video.tracker import VIDEO_DETECTORS, FaceTracker

__all__ = [
    "MODES",
    "PREDICTION_COLUMNS",
    "VideoResult",
    "run_video_inference",
    "benchmark_video",
]

#: How a checkpoint is applied: per frame (``"spatial"``) or over a sliding window of ``T`` frames (``"window"``).
MODES = ("spatial", "window")

#: Columns of ``predictions.csv`` before the probability columns (one ``p_<class>`` per class follows).
PREDICTION_COLUMNS = (
    "frame",
    "time_s",
    "file",
    "track_id",
    "status",
    "tracked",
    "x1",
    "y1",
    "x2",
    "y2",
    "score",
    "n_faces",
    "label",
)

# BGR colours of the tracks (tab10-like), cycled by track id.
# ------------------------------------------------------------------- metrics


# ------------------------------------------------------------------ tracking


# -------------------------------------------------------------------- model


# ------------------------------------------------------------------- sources


# ------------------------------------------------------------------ drawing


# ----------------------------------------------------------------- timeline


# --------------------------------------------------------------------- main


class _torch_threads:
    """Torch's CPU thread count for a block: set by :meth:`apply` (``None``: left), restored on exit.

    Setting it is deferred so that a bad input fails before torch is imported.
    """

    def __init__(self, n):
        self.n = n
        self.before = None

    def __enter__(self):
        return self

    def apply(self):
        import torch

        if self.before is None:
            self.before = torch.get_num_threads()
            if self.n is not None:
                torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        if self.before is not None:
            import torch

            torch.set_num_threads(self.before)
        return False


@dataclass(frozen=True)
class VideoResult:
    """What :func:`run_video_inference` returns.

    Attributes
    ----------
    predictions : pandas.DataFrame
        One row per (frame, face), or one ``"none"`` row per frame without a
        face; columns :data:`PREDICTION_COLUMNS` then ``p_<class>``.
    summary : dict
        The content of ``summary.json``.
    out_dir : Path
    paths : dict
        ``csv``, ``parquet``, ``annotated`` (``annotated.mp4``,
        ``annotated.png`` or the ``annotated/`` folder; None when not
        written), ``timeline``, ``summary``.
    """

    predictions: pd.DataFrame = field(repr=False)
    summary: dict = field(repr=False)
    out_dir: Path
    paths: dict


def run_video_inference(
    source,
    checkpoint,
    out_dir,
    *,
    detector="mtcnn",
    detect_every=5,
    device="auto",
    max_frames=None,
    save_video=True,
    show=False,
    progress=True,
    preprocessing=None,
    iou_threshold=0.3,
    smoothing=0.5,
    max_lost_frames=None,
    min_face_size=None,
    min_score=0.9,
    classify_batch=16,
    threads=1,
):
    """Detect, track, align and classify every face of an image, folder, video or webcam.

    Parameters
    ----------
    source : str, Path or int
        An image file (:data:`IMAGE_EXTENSIONS`), a folder of images (read in
        natural name order as a sequence; other files are ignored), a video
        file (:data:`VIDEO_EXTENSIONS`), or a webcam index (an int or a
        string of digits, e.g. ``"0"``).
    checkpoint : str, Path or VideoModel
        Checkpoint from :func:`fer_lib.train.loop.train_model` (see
        :func:`load_video_model`), or a model already loaded with it (to run
        several inputs without reloading); spatial checkpoints classify each
        frame, sequence checkpoints a window of the last ``T`` frames of each
        track.
    out_dir : str or Path
        Output folder (created; files of an earlier run are overwritten).
    detector : {"mtcnn", "haar"}, default "mtcnn"
    detect_every : int, default 5
        Detect every ``k`` frames and track in between (:class:`FaceTracker`).
        Images of a folder and single images are all detected (``k = 1``).
    device : {"auto", "cpu", "cuda"}, default "auto"
        For the classifier and MTCNN.
    max_frames : int, optional
        Stop after this many frames (images of a folder). A webcam runs
        until this count, ``q``/Esc in the live window, or Ctrl-C.
    save_video : bool, default True
        Write the annotated output: ``annotated.mp4`` (``mp4v``, the
        source's frame rate) for a video or webcam, ``annotated.png`` for an
        image, ``annotated/<nnnnn>_<name>.png`` for a folder.
    show : bool, default False
        Show the annotated frames live (``cv2.imshow``) -- only when a screen
        is there and OpenCV has GUI support; otherwise a note is printed and
        the run is headless.
    progress : bool, default True
        Show a progress bar (``tqdm.auto``).
    preprocessing : dict, optional
        Face preprocessing the caller expects; refused if the checkpoint's
        differs (see :func:`~fer_lib.video.model.load_video_model`).
    iou_threshold, smoothing, max_lost_frames, min_face_size, min_score
        Tracking and detection settings (:class:`FaceTracker`).
    classify_batch : int, default 16
        Frames whose faces are classified in one forward pass (1 when
        showing live).
    threads : int or None, default 1
        Torch CPU threads during the run (restored afterwards; ``None``
        leaves torch's setting). One is the default because the tensors are
        small: on this project's 2-core machine, busy with other jobs, MTCNN
        took 48 ms per 640x360 frame with 1 thread and 545 ms with 2.

    Returns
    -------
    VideoResult
        With ``predictions`` (also ``predictions.csv`` and
        ``predictions.parquet``): one row per (frame, face): ``frame``
        (0-based index of the processed frame), ``time_s`` (``frame / fps``
        for videos; seconds since the start for a webcam; NaN for images),
        ``file`` (image name; empty for videos), ``track_id``, ``status``
        (``"detected"``/``"fallback"``, or ``"none"``), ``tracked``, box
        ``x1, y1, x2, y2`` (pixels), ``score``, ``n_faces`` (faces in the
        frame), ``label`` (arg-max class) and ``p_<class>`` per class. A frame
        without a face gets one row with status ``"none"``, no track id, no
        label and NaN probabilities. ``timeline.png`` plots the
        probabilities over time per track; ``summary.json`` holds the counts
        (frames, source fps, faces (tracks) found, frames without a face),
        per-track label changes per second (:func:`track_summary`) and the
        timing split: ``decode_s``, ``detect_align_s`` (detection, tracking,
        alignment; of which ``detect_s`` in the detector), ``classify_s``,
        ``write_s`` (drawing and writing the annotated output),
        ``loop_s`` (all four) and ``fps_end_to_end = frames / loop_s``
        (loading the model and writing the tables and plot are excluded);
        ``cpu_s``, the CPU time this process used during the loop (all its
        threads), and ``fps_cpu = frames / cpu_s``: on a machine busy with
        other jobs the wall-clock rate drops with the share of the CPU this
        process gets, ``fps_cpu`` much less (it estimates the rate on an idle
        machine when the loop runs on one thread).

    Raises
    ------
    FileNotFoundError
        Missing checkpoint.
    fer_lib.core.errors.DataError
        (a ``ValueError``) Missing, unreadable or unsupported source file, a
        video with no decodable frame, a folder without images, an absent
        webcam, an unreadable checkpoint file.
    ValueError
        Bad options, or a checkpoint without the metadata needed.

    Notes
    -----
    No face at all is not an error: every row then says ``"none"``.
    """
    import cv2

    check_option("detector", detector, VIDEO_DETECTORS)
    detect_every = check_positive_int("detect_every", detect_every)
    if max_frames is not None:
        max_frames = check_positive_int("max_frames", max_frames)
    for name, value in (("save_video", save_video), ("show", show), ("progress", progress)):
        check_option(name, value, (True, False))
    classify_batch = check_positive_int("classify_batch", classify_batch)
    if threads is not None:
        threads = check_positive_int("threads", threads)
    if not isinstance(out_dir, (str, os.PathLike)):
        raise ValueError(f"out_dir must be a folder path (str or Path); got {type(out_dir).__name__}")

    with _torch_threads(threads) as torch_threads:
        t_setup = time.perf_counter()
        src = open_source(source, max_frames)  # first: a bad input fails fast, before torch is imported
        try:
            torch_threads.apply()
            if isinstance(checkpoint, VideoModel):
                vm = checkpoint
                if preprocessing is not None:
                    check_same_preprocessing(vm.preprocessing, preprocessing, f"checkpoint '{vm.path}'")
            else:
                vm = load_video_model(checkpoint, device, preprocessing)
            out = Path(out_dir)
            out.mkdir(parents=True, exist_ok=True)
            if show and not gui_available():
                print("fer-video: no screen or no GUI support in this OpenCV build: running headless "
                      f"(outputs go to {out})")
                show = False
            if src.kind == "folder" and save_video and (out / "annotated").is_dir():
                for old in (out / "annotated").glob("*.png"):
                    old.unlink()
            tracker = FaceTracker(
                detector, 1 if src.kind in ("image", "folder") else detect_every,
                device=vm.device, iou_threshold=iou_threshold, smoothing=smoothing,
                max_lost_frames=max_lost_frames, min_face_size=min_face_size, min_score=min_score,
            )
            sink = VideoSink(src.kind, out, src.fps, save_video, show)
            flush_every = 1 if show else classify_batch
            prob_cols = probability_columns(vm.class_names)
            windows = {}
            pending, rows = [], []
            timing = dict(decode_s=0.0, detect_align_s=0.0, classify_s=0.0, write_s=0.0)
            setup_s = time.perf_counter() - t_setup

            def flush():
                crops = [c for entry in pending for c in entry["crops"]]
                t0 = time.perf_counter()
                probs = vm.predict(np.stack(crops)) if crops else np.zeros((0, len(prob_cols)), np.float32)
                t1 = time.perf_counter()
                timing["classify_s"] += t1 - t0
                j = 0
                for entry in pending:
                    base = {"frame": entry["frame"], "time_s": entry["time_s"], "file": entry["file"]}
                    drawn = []
                    if not entry["faces"]:
                        rows.append(dict(base, track_id=pd.NA, status="none", tracked=False, x1=np.nan, y1=np.nan,
                                         x2=np.nan, y2=np.nan, score=np.nan, n_faces=0, label=None,
                                         **dict.fromkeys(prob_cols, np.nan)))
                    for face in entry["faces"]:
                        p = probs[j]
                        j += 1
                        rows.append(dict(
                            base, track_id=face.track_id, status=face.status, tracked=face.tracked,
                            x1=face.box[0], y1=face.box[1], x2=face.box[2], y2=face.box[3], score=face.score,
                            n_faces=len(entry["faces"]), label=vm.class_names[int(np.argmax(p))],
                            **{c: float(v) for c, v in zip(prob_cols, p)},
                        ))
                        drawn.append({"track_id": face.track_id, "box": face.box, "probs": p})
                    if entry["bgr"] is not None:
                        t_w = time.perf_counter()
                        stamp = f"frame {entry['frame']}" + (
                            f"  {entry['time_s']:.2f} s" if math.isfinite(entry["time_s"]) else f"  {entry['file']}"
                        )
                        sink.write(draw_faces(entry["bgr"], drawn, vm.class_names, stamp), entry["frame"], entry["file"])
                        timing["write_s"] += time.perf_counter() - t_w
                pending.clear()

            from tqdm.auto import tqdm

            bar = tqdm(total=src.total, disable=not progress, unit="frame", desc=f"fer-video {src.name}",
                       dynamic_ncols=True, leave=False)
            frames_seen = 0
            t_loop, c_loop = time.perf_counter(), time.process_time()
            try:
                while not sink.stop:
                    t0 = time.perf_counter()
                    try:
                        item = next(src.frames, None)
                    except KeyboardInterrupt:
                        if src.kind != "webcam":
                            raise
                        break
                    if item is None:
                        break
                    bgr, time_s, file = item
                    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
                    t1 = time.perf_counter()
                    timing["decode_s"] += t1 - t0
                    faces = tracker.update(rgb)
                    crops = []
                    for face in faces:
                        crop = vm.crop(gray, face.points)
                        if vm.mode == "window":
                            win = windows.setdefault(face.track_id, deque(maxlen=vm.window))
                            win.append(crop)
                            seq = [win[0]] * (vm.window - len(win)) + list(win)
                            crop = np.stack(seq)
                        crops.append(crop)
                    timing["detect_align_s"] += time.perf_counter() - t1
                    pending.append({"frame": frames_seen, "time_s": float(time_s), "file": file, "faces": faces,
                                    "crops": crops, "bgr": bgr if (save_video or show) else None})
                    frames_seen += 1
                    bar.update(1)
                    if len(pending) >= flush_every:
                        flush()
                if pending:
                    flush()
            except KeyboardInterrupt:
                if src.kind != "webcam":
                    raise
                if pending:
                    flush()
            finally:
                loop_s, cpu_s = time.perf_counter() - t_loop, time.process_time() - c_loop
                bar.close()
                sink.close()
        finally:
            src.close()

        t_out = time.perf_counter()
        df = pd.DataFrame(rows, columns=[*PREDICTION_COLUMNS, *prob_cols])
        df["track_id"] = df["track_id"].astype("Int64")
        df["tracked"] = df["tracked"].astype(bool)
        df["n_faces"] = df["n_faces"].astype(np.int64)
        paths = {"csv": out / "predictions.csv", "parquet": out / "predictions.parquet",
                 "annotated": sink.path if save_video else None, "timeline": out / "timeline.png",
                 "summary": out / "summary.json"}
        df.to_csv(paths["csv"], index=False)
        df.to_parquet(paths["parquet"], index=False)
        plot_timeline(df, vm.class_names, paths["timeline"])
        tracks = track_summary(df)
        none_frames = int((df["status"] == "none").sum())
        height, width = (bgr.shape[:2] if frames_seen else (0, 0))
        timing.update(
            detect_s=tracker.detect_seconds, n_detections=tracker.n_detections, loop_s=loop_s, setup_s=setup_s,
            fps_end_to_end=frames_seen / loop_s if loop_s > 0 else float("nan"), cpu_s=cpu_s,
            fps_cpu=frames_seen / cpu_s if cpu_s > 0 else float("nan"),
            fps_without_write=(frames_seen / (loop_s - timing["write_s"]) if loop_s > timing["write_s"]
                               else float("nan")),
        )
        import torch

        summary = {
            "source": str(source),
            "source_kind": src.kind,
            "frames": frames_seen,
            "frame_size": [int(width), int(height)],
            "fps_source": src.fps,
            "checkpoint": str(vm.path),
            "mode": vm.mode,
            "window": vm.window,
            "class_names": list(vm.class_names),
            "preprocessing": dict(vm.preprocessing),
            "detector": detector,
            "detect_every": tracker.detect_every,
            "device": vm.device,
            "torch_threads": torch.get_num_threads(),
            "faces_found": int(len(tracks)),
            "face_rows": int(len(df) - none_frames),
            "frames_with_face": int(frames_seen - none_frames),
            "frames_no_face": none_frames,
            "max_faces_per_frame": int(df["n_faces"].max()) if len(df) else 0,
            "tracks": tracks.to_dict(orient="records"),
            "timing": timing,
            "outputs": {k: (str(v) if v is not None else None) for k, v in paths.items()},
        }
        summary["timing"]["outputs_s"] = time.perf_counter() - t_out
        paths["summary"].write_text(json.dumps(to_jsonable(summary, nan_to_none=True), indent=1))
        return VideoResult(predictions=df, summary=to_jsonable(summary, nan_to_none=True), out_dir=out, paths=paths)


def benchmark_video(source, checkpoint, detect_every=(1, 5), device="auto", max_frames=200, *, detector="mtcnn",
                    save_video=True, threads=1):
    """End-to-end frames per second of :func:`run_video_inference`, per ``detect_every``.

    Each setting runs the whole pipeline on the same frames into a temporary
    folder, after one warm-up run on 3 frames (model loading, detector
    construction and first-call costs are excluded). Report the figures; the
    numbers depend on the machine and its load.

    Parameters
    ----------
    source : str, Path or int
        Video file (or any source :func:`run_video_inference` takes).
    checkpoint : str or Path
    detect_every : sequence of int, default (1, 5)
    device : {"auto", "cpu", "cuda"}, default "auto"
    max_frames : int or None, default 200
    detector : {"mtcnn", "haar"}, default "mtcnn"
    save_video : bool, default True
        Include drawing and writing the annotated video (as the command does).
    threads : int, sequence of int or None, default 1
        Torch CPU threads (see :func:`run_video_inference`); a sequence runs
        every ``detect_every`` with each thread count.

    Returns
    -------
    pandas.DataFrame
        One row per ``detect_every``: ``detect_every``, ``detector``,
        ``device``, ``torch_threads``, ``frames``, ``frame_size``,
        ``n_detections``, seconds ``decode_s``, ``detect_align_s``,
        ``detect_s``, ``classify_s``, ``write_s``, ``loop_s``, milliseconds
        per frame ``ms_decode``, ``ms_detect_align``, ``ms_classify``,
        ``ms_write``, ``fps_end_to_end``, ``fps_without_write``, ``cpu_s``
        and ``fps_cpu`` (see :func:`run_video_inference`).
    """
    import tempfile

    if isinstance(detect_every, (int, np.integer)):
        detect_every = (int(detect_every),)
    ks = [check_positive_int("detect_every", k) for k in detect_every]
    if not ks:
        raise ValueError("detect_every must list at least one value; got an empty sequence")
    if threads is None or isinstance(threads, (int, np.integer)):
        threads = (threads,)
    ths = [None if n is None else check_positive_int("threads", n) for n in threads]
    rows = []
    with tempfile.TemporaryDirectory(prefix="fer-video-bench-") as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run_video_inference(source, checkpoint, Path(tmp) / "warmup", detector=detector, detect_every=ks[0],
                                device=device, max_frames=3, save_video=False, progress=False, threads=ths[0])
            for th, k in ((th, k) for th in ths for k in ks):
                res = run_video_inference(source, checkpoint, Path(tmp) / f"k{k}", detector=detector, detect_every=k,
                                          device=device, max_frames=max_frames, save_video=save_video,
                                          progress=False, threads=th)
                s, tm = res.summary, res.summary["timing"]
                n = max(s["frames"], 1)
                rows.append({
                    "detect_every": k, "detector": detector, "device": s["device"],
                    "torch_threads": s["torch_threads"], "frames": s["frames"],
                    "frame_size": "x".join(map(str, s["frame_size"])), "n_detections": tm["n_detections"],
                    **{key: tm[key] for key in ("decode_s", "detect_align_s", "detect_s", "classify_s", "write_s",
                                                "loop_s")},
                    "ms_decode": 1000 * tm["decode_s"] / n, "ms_detect_align": 1000 * tm["detect_align_s"] / n,
                    "ms_classify": 1000 * tm["classify_s"] / n, "ms_write": 1000 * tm["write_s"] / n,
                    "fps_end_to_end": tm["fps_end_to_end"], "fps_without_write": tm["fps_without_write"],
                    "cpu_s": tm["cpu_s"], "fps_cpu": tm["fps_cpu"],
                })
    return pd.DataFrame(rows)


# ------------------------------------------------------- notebook 08 helpers

