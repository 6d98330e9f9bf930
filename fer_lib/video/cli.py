"""``fer-video``: emotion recognition on an image, a folder of images, a video or a webcam.

Usage::

    fer-video INPUT [--checkpoint PATH | --preset NAME] [--out DIR] [--detector {mtcnn,haar}]
              [--detect-every K] [--device {auto,cpu,cuda}] [--max-frames N] [--no-video]
              [--show | --no-show] [--threads N] [--no-progress]
    fer-video INPUT --benchmark [--benchmark-every K [K ...]] [--max-frames N] ...

``INPUT`` is an image, a folder of images, a video file, or a webcam index
(``0``). Without ``--checkpoint`` the study's spatial FER-2013 model of
``--preset`` (default ``smoke``) is used:
``<runs root>/<preset>/artifacts/03_spatial_baseline/spatial_fer2013.pt``
(:func:`fer_lib.video.media.default_checkpoint`). Outputs go to ``--out``, default
``<runs root>/video/<input stem>/`` (:func:`fer_lib.video.media.default_out_dir`).
See :func:`fer_lib.video.inference.run_video_inference` for what is written.

Exit codes: 0 on success (also when no face is found), 2 on an error (one
line ``fer-video: error: ...`` on stderr, no traceback), 130 on Ctrl-C.
``--benchmark`` prints :func:`fer_lib.video.inference.benchmark_video`'s table instead.
"""

from __future__ import annotations

import argparse
import sys
import warnings

PROG = "fer-video"


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1; got {text!r}")
    return value


def build_parser():
    """The argument parser of ``fer-video``."""
    from fer_lib.video.tracker import VIDEO_DETECTORS

    p = argparse.ArgumentParser(
        prog=PROG,
        description="Detect, track and align faces and classify their emotion in an image, a folder of "
        "images, a video file or a webcam; write predictions.csv/.parquet, an annotated video, "
        "timeline.png and summary.json.",
    )
    p.add_argument("input", help="image, folder of images, video file, or webcam index (e.g. 0)")
    p.add_argument("--checkpoint", help="checkpoint (.pt written by train_model, or its folder); default: the "
                   "study's spatial FER-2013 model of --preset")
    p.add_argument("--preset", default="smoke", help="study preset whose checkpoint is the default (default: smoke)")
    p.add_argument("--out", help="output folder (default: <runs root>/video/<input stem>/)")
    p.add_argument("--detector", default="mtcnn", choices=VIDEO_DETECTORS, help="face detector (default: mtcnn)")
    p.add_argument("--detect-every", type=_positive_int, default=5, metavar="K",
                   help="run the detector every K frames and track in between (default: 5)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="default: auto")
    p.add_argument("--max-frames", type=_positive_int, metavar="N", help="stop after N frames")
    p.add_argument("--no-video", action="store_true", help="do not write the annotated video/images")
    show = p.add_mutually_exclusive_group()
    show.add_argument("--show", dest="show", action="store_true", default=None,
                      help="show frames live when a screen exists (default for a webcam)")
    show.add_argument("--no-show", dest="show", action="store_false", help="never show frames live")
    p.add_argument("--threads", type=_positive_int, default=1, metavar="N",
                   help="torch CPU threads (default: 1; small tensors gain little from more)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--benchmark", action="store_true",
                   help="print end-to-end fps split into decode / detect+align / classify instead of a normal run")
    p.add_argument("--benchmark-every", type=_positive_int, nargs="+", default=[1, 5], metavar="K",
                   help="detect_every values for --benchmark (default: 1 5)")
    return p


def _error(message):
    text = " ".join(str(message).split())
    print(f"{PROG}: error: {text}", file=sys.stderr)
    return 2


def main(argv=None):
    """Run ``fer-video``; returns the exit code.

    Parameters
    ----------
    argv : list of str, optional
        Arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 on an error, 130 when interrupted.
    """
    args = build_parser().parse_args(argv)
    from fer_lib.core.errors import DataError
    from fer_lib.video.inference import benchmark_video, run_video_inference
    from fer_lib.video.media import classify_source, default_checkpoint, default_out_dir

    try:
        checkpoint = args.checkpoint if args.checkpoint else default_checkpoint(args.preset)
        kind, _ = classify_source(args.input)
        if args.benchmark:
            with warnings.catch_warnings(record=True):
                warnings.simplefilter("always")
                table = benchmark_video(args.input, checkpoint, tuple(args.benchmark_every), args.device,
                                        args.max_frames or 200, detector=args.detector,
                                        save_video=not args.no_video, threads=args.threads)
            import pandas as pd

            with pd.option_context("display.width", 200, "display.max_columns", 50, "display.precision", 3):
                print(table.to_string(index=False))
            return 0
        out = args.out if args.out else default_out_dir(args.input)
        show = (kind == "webcam") if args.show is None else args.show
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = run_video_inference(
                args.input, checkpoint, out, detector=args.detector, detect_every=args.detect_every,
                device=args.device, max_frames=args.max_frames, save_video=not args.no_video, show=show,
                progress=not args.no_progress, threads=args.threads,
            )
        for w in caught:
            if issubclass(w.category, (UserWarning, RuntimeWarning)):
                print(f"{PROG}: note: {' '.join(str(w.message).split())}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except (DataError, FileNotFoundError, ValueError) as err:
        return _error(err)
    s = result.summary
    print(
        f"{PROG}: {s['frames']} frames, {s['faces_found']} face track(s), {s['frames_no_face']} frame(s) without "
        f"a face; {s['timing']['fps_end_to_end']:.1f} frames/s end to end ({s['mode']} model, "
        f"{s['detector']} every {s['detect_every']} frame(s), {s['device']})"
    )
    print(f"{PROG}: outputs in {result.out_dir}")
    for key in ("csv", "parquet", "annotated", "timeline", "summary"):
        if result.paths.get(key) is not None:
            print(f"  {key:9s} {result.paths[key]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
