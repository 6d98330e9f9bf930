"""Where frames come from and where annotated frames go: images, folders, videos, webcams; drawing.
"""

from __future__ import annotations

import math
import os
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_lib.core.errors import DataError

#: Kinds of input :func:`run_video_inference` accepts.
SOURCE_KINDS = ("image", "folder", "video", "webcam")


#: File name endings read as images (case-insensitive).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")


#: File name endings read as videos (case-insensitive), with OpenCV's FFmpeg back end.
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


#: Where the study's spatial FER-2013 checkpoint lives, relative to ``<runs root>/<preset>``.
DEFAULT_CHECKPOINT = ("artifacts", "03_spatial_baseline", "spatial_fer2013.pt")


_PALETTE = (
    (180, 119, 31), (14, 127, 255), (44, 160, 44), (40, 39, 214), (189, 103, 148),
    (75, 86, 140), (194, 119, 227), (127, 127, 127), (34, 189, 188), (207, 190, 23),
)


_BAR_WIDTH = 60


def default_checkpoint(preset="smoke"):
    """The study's spatial FER-2013 checkpoint of a preset.

    Parameters
    ----------
    preset : str, default "smoke"

    Returns
    -------
    Path
        ``<runs root>/<preset>/artifacts/03_spatial_baseline/spatial_fer2013.pt``
        (:func:`fer_lib.core.paths.runs_root`); it may not exist yet.
    """
    from fer_lib.core.paths import runs_root

    if not isinstance(preset, str) or not preset or any(c in preset for c in "/\\"):
        raise ValueError(f"preset must be a plain name such as 'smoke' or 'full'; got {preset!r}")
    return runs_root().joinpath(preset, *DEFAULT_CHECKPOINT)


def default_out_dir(source):
    """Default output folder of a source: ``<runs root>/video/<input stem>/`` (``webcam<i>`` for a webcam)."""
    from fer_lib.core.paths import runs_root

    kind, value = classify_source(source)
    name = f"webcam{value}" if kind == "webcam" else (value.name if kind == "folder" else value.stem)
    return runs_root() / "video" / (name or "input")


def classify_source(source):
    """``(kind, value)`` of a video source: a file, a folder of images, or a webcam index; bad input raises."""
    if isinstance(source, bool):
        raise ValueError(f"source must be a file, a folder or a webcam index; got {source!r}")
    if isinstance(source, (int, np.integer)):
        if int(source) < 0:
            raise ValueError(f"source: a webcam index must be >= 0; got {source}")
        return "webcam", int(source)
    if isinstance(source, str) and source.strip().isdigit():
        return "webcam", int(source.strip())
    if not isinstance(source, (str, os.PathLike)):
        raise ValueError(
            f"source must be an image, video or folder path, or a webcam index; got {type(source).__name__}"
        )
    p = Path(source)
    if not p.exists():
        raise DataError(f"source: no such file or folder: '{p}'")
    if p.is_dir():
        return "folder", p
    ext = p.suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return "image", p
    if ext in VIDEO_EXTENSIONS:
        return "video", p
    raise DataError(
        f"source: unsupported file type '{ext or '(no extension)'}' of '{p}'; expected an image "
        f"({' '.join(IMAGE_EXTENSIONS)}), a video ({' '.join(VIDEO_EXTENSIONS)}), a folder of images "
        "or a webcam index"
    )


def _natural_key(path):
    return [int(s) if s.isdigit() else s.lower() for s in re.split(r"(\d+)", path.name)]


class _quiet_opencv:
    """Silence OpenCV's own log lines (e.g. while probing a missing camera)."""

    def __enter__(self):
        import cv2

        self._log = getattr(getattr(cv2, "utils", None), "logging", None)
        self._old = None
        if self._log is not None and hasattr(self._log, "getLogLevel"):
            self._old = self._log.getLogLevel()
            self._log.setLogLevel(self._log.LOG_LEVEL_SILENT)
        return self

    def __exit__(self, *exc):
        if self._old is not None:
            self._log.setLogLevel(self._old)
        return False


def _read_source_image(path):
    from fer_lib.faces.detection import read_image

    try:
        return read_image(path, color="rgb")
    except DataError as err:
        raise DataError(re.sub(r"^path( must be|:)", r"source\1", str(err))) from None


@dataclass
class _Source:
    kind: str
    name: str
    fps: float
    total: int | None
    frames: object  # iterator of (bgr, time_s, file)
    close: object


def open_source(source, max_frames):
    """Open a source and decode its first frame (so errors surface before anything is written)."""
    import cv2

    kind, value = classify_source(source)
    if kind == "image":
        rgb = _read_source_image(value)

        def gen():
            yield cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), float("nan"), value.name

        return _Source(kind, value.stem, float("nan"), 1, gen(), lambda: None)
    if kind == "folder":
        files = sorted((f for f in value.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS),
                       key=_natural_key)
        if not files:
            raise DataError(
                f"source: the folder '{value}' holds no image files ({' '.join(IMAGE_EXTENSIONS)})"
            )
        if max_frames is not None:
            files = files[:max_frames]
        first = _read_source_image(files[0])

        def gen():
            for i, f in enumerate(files):
                rgb = first if i == 0 else _read_source_image(f)
                yield cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), float("nan"), f.name

        return _Source(kind, value.name, float("nan"), len(files), gen(), lambda: None)

    with _quiet_opencv():
        cap = cv2.VideoCapture(value) if kind == "webcam" else cv2.VideoCapture(str(value))
        opened = cap.isOpened()
        ok, frame = cap.read() if opened else (False, None)
    if not ok or frame is None:
        cap.release()
        if kind == "webcam":
            what = "could not be opened (absent, busy or not permitted)" if not opened else "returned no frame"
            raise DataError(f"source: webcam {value} {what}")
        if not opened:
            raise DataError(f"source: cannot open '{value}' as a video (corrupt or unsupported format)")
        raise DataError(f"source: no frame could be decoded from '{value}' (corrupt, empty or unsupported video)")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or float("nan"))
    if not (math.isfinite(fps) and fps > 0):
        fps = float("nan")
    total = None
    if kind == "video":
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        total = count if count > 0 else None
        if max_frames is not None:
            total = max_frames if total is None else min(total, max_frames)
    elif max_frames is not None:
        total = max_frames

    def as_bgr(f):
        return cv2.cvtColor(f, cv2.COLOR_GRAY2BGR) if f.ndim == 2 else f

    def gen():
        start = time.perf_counter()
        n = 0
        current = frame
        while current is not None:
            if kind == "webcam":
                t = time.perf_counter() - start
            else:
                t = n / fps if math.isfinite(fps) else float("nan")
            yield as_bgr(current), t, ""
            n += 1
            if max_frames is not None and n >= max_frames:
                return
            ok, current = cap.read()
            if not ok:
                return

    return _Source(kind, f"webcam{value}" if kind == "webcam" else value.stem, fps, total, gen(), cap.release)


def draw_faces(bgr, faces, class_names, info):
    """Annotate a BGR frame in place: boxes, labels, probability bars."""
    import cv2

    font = cv2.FONT_HERSHEY_SIMPLEX
    h, w = bgr.shape[:2]
    short = [c[:3] for c in class_names]
    for face in faces:
        color = _PALETTE[face["track_id"] % len(_PALETTE)]
        x1, y1, x2, y2 = (int(round(v)) for v in face["box"])
        cv2.rectangle(bgr, (x1, y1), (x2, y2), color, 2)
        probs = face["probs"]
        k = int(np.argmax(probs))
        text = f"#{face['track_id']} {class_names[k]} {probs[k]:.2f}"
        (tw, th), _ = cv2.getTextSize(text, font, 0.5, 1)
        ty = y1 - 4 if y1 - th - 6 >= 0 else min(y2 + th + 4, h - 2)
        cv2.rectangle(bgr, (x1, ty - th - 3), (x1 + tw + 4, ty + 3), color, -1)
        cv2.putText(bgr, text, (x1 + 2, ty), font, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        # Probability bars beside the box (right if it fits, else left), one row per class.
        row_h = 11
        panel_w = 24 + _BAR_WIDTH
        px = x2 + 4 if x2 + 4 + panel_w <= w else max(x1 - 4 - panel_w, 0)
        py = max(min(y1, h - row_h * len(probs) - 2), 0)
        panel = bgr[py : py + row_h * len(probs) + 1, px : px + panel_w]
        panel[:] = (panel * 0.4).astype(np.uint8)  # darken behind the bars so the text reads on any background
        for i, (name, p) in enumerate(zip(short, probs)):
            yy = py + i * row_h
            cv2.putText(bgr, name, (px, yy + 8), font, 0.3, (255, 255, 255), 1, cv2.LINE_AA)
            cv2.rectangle(bgr, (px + 22, yy + 1), (px + 22 + _BAR_WIDTH, yy + 8), (60, 60, 60), -1)
            bar = int(round(float(p) * _BAR_WIDTH))
            if bar > 0:
                cv2.rectangle(bgr, (px + 22, yy + 1), (px + 22 + bar, yy + 8), color if i == k else (200, 200, 200), -1)
    if not faces:
        cv2.putText(bgr, "no face", (8, 22), font, 0.6, (0, 0, 255), 2, cv2.LINE_AA)
    (iw, ih), _ = cv2.getTextSize(info, font, 0.4, 1)
    cv2.rectangle(bgr, (4, h - 12 - ih), (12 + iw, h - 3), (0, 0, 0), -1)
    cv2.putText(bgr, info, (8, h - 8), font, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return bgr


def gui_available():
    """True when a screen is there and OpenCV was built with a GUI back end."""
    import cv2

    if os.name == "posix" and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        import sys

        if sys.platform != "darwin":
            return False
    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip().upper() not in ("NONE", "")
    return True


class VideoSink:
    """Annotated output: an mp4 for videos/webcams, PNGs for images, optional live window."""

    def __init__(self, kind, out_dir, fps, save, show):
        self.kind, self.out_dir, self.save, self.show = kind, Path(out_dir), save, show
        self.fps = fps if math.isfinite(fps) else 25.0
        self.writer = None
        self.path = None
        self.stop = False
        self.failed = None

    def write(self, bgr, index, file):
        import cv2

        if self.save:
            if self.kind in ("video", "webcam"):
                if self.writer is None and self.failed is None:
                    self.path = self.out_dir / "annotated.mp4"
                    h, w = bgr.shape[:2]
                    self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
                    if not self.writer.isOpened():
                        self.failed = f"cv2.VideoWriter could not open '{self.path}' (codec mp4v)"
                        warnings.warn(f"annotated video not written: {self.failed}", stacklevel=2)
                        self.writer, self.path = None, None
                if self.writer is not None:
                    self.writer.write(bgr)
            elif self.kind == "image":
                self.path = self.out_dir / "annotated.png"
                cv2.imwrite(str(self.path), bgr)
            else:
                self.path = self.out_dir / "annotated"
                self.path.mkdir(exist_ok=True)
                cv2.imwrite(str(self.path / f"{index:05d}_{Path(file).stem}.png"), bgr)
        if self.show:
            cv2.imshow("fer-video (q to quit)", bgr)
            if (cv2.waitKey(1) & 0xFF) in (ord("q"), 27):
                self.stop = True

    def close(self):
        if self.writer is not None:
            self.writer.release()
            self.writer = None
        if self.show:
            import cv2

            cv2.destroyAllWindows()
