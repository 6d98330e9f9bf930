"""Video inference (fer_lib.video.inference) and the fer-video command, on small generated inputs.

A tiny checkpoint (SmallCNN width 8, one epoch on random 48x48 images) stands in
for a trained model: its predictions are meaningless, but everything around them
(detection, tracking, alignment, outputs, errors) is real. The real clips in
``../shared/data/media`` are used when present.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from fer_lib.core.errors import DataError
from fer_lib.data.constants import CKPLUS_CLASSES, FER2013_CLASSES
from fer_lib.faces.preprocessing import FacePreprocessing
from fer_lib.models.cnn import build_model
from fer_lib.video.analysis import (
    annotated_frames_figure,
    confident_frames,
    flicker_table,
    main_face,
    plot_model_timelines,
    plot_throughput,
    render_synthetic_video,
    truth_agreement,
    video_frames_at,
)
from fer_lib.video.cli import main
from fer_lib.video.inference import PREDICTION_COLUMNS, run_video_inference
from fer_lib.video.media import default_checkpoint, default_out_dir
from fer_lib.video.model import VideoModel, face_preprocessing_from_metadata, load_video_model
from fer_lib.video.timeline import label_changes_per_second, probability_columns, track_summary

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROB_COLS = probability_columns(FER2013_CLASSES)


@pytest.fixture(scope="module")
def checkpoint(tiny_checkpoint):
    return tiny_checkpoint(size=48, preprocessing=FacePreprocessing(size=48, template="fer2013"), width=8)


def _astronaut(side):
    from skimage.data import astronaut

    img = astronaut()[:400, 50:450]  # the face and shoulders, square
    return cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA)


def _write_video(path, frames_rgb, fps=25.0):
    h, w = frames_rgb[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened()
    for f in frames_rgb:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def _shifted(img, dx, dy):
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    face = _astronaut(240)
    one = [_shifted(face, 2 * i, i) for i in range(12)]
    two = [np.hstack([_shifted(face, i, 0), _shifted(face, -i, 0)]) for i in range(8)]
    yy, xx = np.mgrid[0:120, 0:160]
    blank = [np.repeat(((xx + yy + 3 * i) % 256).astype(np.uint8)[:, :, None], 3, axis=2) for i in range(8)]
    corrupt = d / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    folder = d / "images"
    folder.mkdir()
    cv2.imwrite(str(folder / "img10.png"), cv2.cvtColor(one[0], cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(folder / "img2.jpg"), cv2.cvtColor(_shifted(face, 10, 5), cv2.COLOR_RGB2BGR))
    (folder / "notes.txt").write_text("not an image")
    return {
        "one": _write_video(d / "one_face.mp4", one),
        "two": _write_video(d / "two_faces.mp4", two),
        "blank": _write_video(d / "blank.mp4", blank),
        "corrupt": corrupt,
        "folder": folder,
        "image": folder / "img10.png",
        "text": folder / "notes.txt",
    }


def _check_table(df, n_frames):
    assert list(df.columns) == [*PREDICTION_COLUMNS, *PROB_COLS]
    assert sorted(df["frame"].unique()) == list(range(n_frames))  # every frame has a row
    faces = df[df["status"] != "none"]
    np.testing.assert_allclose(faces[PROB_COLS].sum(axis=1), 1.0, rtol=1e-5)
    assert (faces["label"] == faces[PROB_COLS].idxmax(axis=1).str[2:]).all()
    none = df[df["status"] == "none"]
    assert none["track_id"].isna().all() and none[PROB_COLS].isna().all().all() and (none["n_faces"] == 0).all()
    assert not none["frame"].duplicated().any()  # one row per face-less frame


# ------------------------------------------------------------------- metric


def test_label_changes_per_second_known_sequence():
    assert label_changes_per_second(["a", "a", "b", "b", "a"], [0.0, 0.1, 0.2, 0.3, 0.4]) == pytest.approx(5.0)
    assert label_changes_per_second(["a"] * 4, [0, 1, 2, 3]) == 0.0
    # Missing labels (face not seen) are skipped: a -> b once over 2 s.
    assert label_changes_per_second(["a", None, np.nan, "b"], [0, 1, 1.5, 2]) == pytest.approx(0.5)
    assert np.isnan(label_changes_per_second(["a"], [0.0]))
    with pytest.raises(ValueError, match="non-decreasing"):
        label_changes_per_second(["a", "b"], [1.0, 0.0])
    with pytest.raises(ValueError, match="same length"):
        label_changes_per_second(["a", "b"], [0.0])
    df = pd.DataFrame({"frame": [0, 1, 2, 0, 1], "time_s": [0, 0.5, 1.0, 0, 0.5],
                       "track_id": pd.array([0, 0, 0, 1, 1], dtype="Int64"), "label": list("abaaa")})
    tracks = track_summary(df)
    assert tracks["label_changes"].tolist() == [2, 0]
    assert tracks["label_changes_per_second"].tolist() == [2.0, 0.0]


# --------------------------------------------------------------- one face


def test_single_face_video(checkpoint, media, tmp_path):
    res = run_video_inference(media["one"], checkpoint, tmp_path / "out", detect_every=3, progress=False)
    df = res.predictions
    _check_table(df, 12)
    assert len(df) == 12 and (df["status"] == "detected").all() and (df["track_id"] == 0).all()
    assert df["tracked"].tolist() == [i % 3 != 0 for i in range(12)]  # detect every 3, track in between
    np.testing.assert_allclose(df["time_s"], np.arange(12) / 25.0)
    assert res.summary["faces_found"] == 1 and res.summary["frames_no_face"] == 0
    assert res.summary["mode"] == "spatial" and res.summary["timing"]["n_detections"] == 4
    assert set(res.summary["timing"]) >= {"decode_s", "detect_align_s", "classify_s", "fps_end_to_end"}
    # The box follows the face as it moves 2 px right per frame.
    assert 12 < df["x1"].iloc[-1] - df["x1"].iloc[0] < 32
    # Files: CSV == Parquet, annotated video with every frame, timeline, summary.
    back = pd.read_csv(res.paths["csv"])
    np.testing.assert_allclose(back[PROB_COLS], df[PROB_COLS], rtol=1e-6)
    pd.testing.assert_frame_equal(pd.read_parquet(res.paths["parquet"]), df)
    cap = cv2.VideoCapture(str(res.paths["annotated"]))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 12
    cap.release()
    assert res.paths["timeline"].stat().st_size > 1000
    summary = json.loads(res.paths["summary"].read_text())
    assert summary["frames"] == 12 and summary["fps_source"] == pytest.approx(25.0)


def test_window_mode_pads_with_first_frame(checkpoint, media, tmp_path):
    """A sequence model gets (n, T, H, W) windows; a young track repeats its first crop."""
    base = load_video_model(checkpoint, "cpu")
    seen = []

    class Clip(torch.nn.Module):  # stands in for a hybrid: CNN per frame, mean over T
        def __init__(self, cnn):
            super().__init__()
            self.cnn = cnn

        def forward(self, x):  # x: (n, T, 1, H, W)
            seen.append(x.detach().clone())
            n, t = x.shape[:2]
            return self.cnn(x.flatten(0, 1)).view(n, t, -1).mean(1)

    model = Clip(base.model).eval()
    model.fer_preprocessing = dict(base.model.fer_preprocessing, input_shape=[4, 48, 48])
    vm = VideoModel(model=model, metadata=base.metadata, path=base.path, device="cpu",
                    class_names=base.class_names, mode="window", window=4, preprocessing=base.preprocessing)
    res = run_video_inference(media["one"], vm, tmp_path, detect_every=4, max_frames=6, save_video=False,
                              progress=False, classify_batch=1)
    assert res.summary["mode"] == "window" and len(res.predictions) == 6
    first = seen[0][0]  # frame 0: the first crop 4 times
    assert first.shape == (4, 1, 48, 48) and all(torch.equal(first[i], first[0]) for i in range(4))
    second = seen[1][0]  # frame 1: [c0, c0, c0, c1]
    assert torch.equal(second[0], first[0]) and torch.equal(second[2], first[0])
    assert not torch.equal(second[3], first[0])
    last = seen[5][0]  # frame 5: [c2, c3, c4, c5]
    assert torch.equal(last[0], seen[2][0][3]) and torch.equal(last[2], seen[4][0][3])


def test_two_faces_get_two_stable_ids(checkpoint, media, tmp_path):
    res = run_video_inference(media["two"], checkpoint, tmp_path, detect_every=2, save_video=False, progress=False)
    df = res.predictions
    _check_table(df, 8)
    assert len(df) == 16 and (df["n_faces"] == 2).all()
    assert res.summary["faces_found"] == 2 and res.summary["max_faces_per_frame"] == 2
    for _, g in df.groupby("frame"):
        g = g.sort_values("x1")
        assert g["track_id"].tolist() == [0, 1]  # the left face keeps id 0, the right one id 1


# --------------------------------------------------------------- no face, errors


def test_no_face_video_cli_exit_0(checkpoint, media, tmp_path, capsys):
    rc = main([str(media["blank"]), "--checkpoint", str(checkpoint), "--out", str(tmp_path), "--no-progress"])
    assert rc == 0
    assert "outputs in" in capsys.readouterr().out
    df = pd.read_csv(tmp_path / "predictions.csv")
    assert len(df) == 8 and (df["status"] == "none").all()
    assert df["track_id"].isna().all() and df[PROB_COLS].isna().all().all()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["frames_no_face"] == 8 and summary["faces_found"] == 0
    assert (tmp_path / "annotated.mp4").is_file() and (tmp_path / "timeline.png").is_file()


def test_corrupt_video_one_line_error_and_exit_code(checkpoint, media, tmp_path):
    with pytest.raises(DataError, match="corrupt.mp4"):
        run_video_inference(media["corrupt"], checkpoint, tmp_path / "lib", progress=False)
    assert not (tmp_path / "lib").exists()  # nothing is written for a bad input
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "fer_lib.video.cli", str(media["corrupt"]), "--checkpoint", str(checkpoint),
         "--out", str(tmp_path / "cli")],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fer-video: error:") and "corrupt.mp4" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_sources_give_clear_errors(checkpoint, media, tmp_path, capsys):
    with pytest.raises(DataError, match=r"unsupported file type '\.txt'"):
        run_video_inference(media["text"], checkpoint, tmp_path)
    with pytest.raises(DataError, match="no such file or folder"):
        run_video_inference(tmp_path / "missing.mp4", checkpoint, tmp_path)
    with pytest.raises(DataError, match="webcam 97"):
        run_video_inference(97, checkpoint, tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="holds no image files"):
        run_video_inference(empty, checkpoint, tmp_path)
    bad_png = tmp_path / "bad.png"
    bad_png.write_bytes(b"\x89PNG not really")
    with pytest.raises(DataError, match="source: cannot decode .*bad.png"):
        run_video_inference(bad_png, checkpoint, tmp_path)
    assert main(["97", "--checkpoint", str(checkpoint), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("fer-video: error: source: webcam 97")


def test_missing_or_bad_checkpoint(media, tmp_path, capsys):
    missing = tmp_path / "nope" / "best.pt"
    with pytest.raises(FileNotFoundError, match="no such file .*nope"):
        run_video_inference(media["one"], missing, tmp_path / "out")
    assert main([str(media["one"]), "--checkpoint", str(missing)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "checkpoint: no such file" in err[0]
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(DataError, match="cannot read .*garbage.pt"):
        load_video_model(garbage)
    bare = tmp_path / "bare.pt"
    torch.save({"state_dict": build_model("small", 7, width=8).state_dict()}, bare)
    with pytest.raises(ValueError, match="bare.pt.*metadata"):
        load_video_model(bare)


def test_default_checkpoint_and_out_dir(media, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FER_RUNS_DIR", str(tmp_path / "runs"))
    assert default_checkpoint("full") == tmp_path / "runs" / "full" / "artifacts" / "03_spatial_baseline" / \
        "spatial_fer2013.pt"
    assert default_out_dir(media["one"]) == tmp_path / "runs" / "video" / "one_face"
    assert default_out_dir("0") == tmp_path / "runs" / "video" / "webcam0"
    assert main([str(media["one"])]) == 2  # no checkpoint trained in this runs root
    err = capsys.readouterr().err.strip()
    assert err.startswith("fer-video: error: checkpoint: no such file") and "smoke" in err
    assert "spatial_fer2013.pt" in err and "\n" not in err
    assert not (tmp_path / "runs" / "video").exists()


def test_preprocessing_is_checked(checkpoint):
    vm = load_video_model(checkpoint, "cpu")
    assert vm.preprocessing["template"] == "fer2013" and vm.size == 48 and vm.mode == "spatial"
    assert set(vm.preprocessing["recorded"]) == {"template", "size", "color", "margin", "intensity"}
    with pytest.raises(ValueError, match="template='fer2013' \\(asked 'arcface'\\)"):
        load_video_model(checkpoint, "cpu", preprocessing={"template": "arcface"})
    assert vm.metadata["face_preprocessing"] == {"template": "fer2013", "size": 48, "color": "gray", "margin": 0.0,
                                                 "intensity": "none", "source": ""}
    meta = dict(vm.metadata, face_preprocessing=FacePreprocessing(size=64).to_dict())
    with pytest.raises(ValueError, match="size=64 but the model was trained on inputs of shape 48x48"):
        face_preprocessing_from_metadata(meta)
    meta = dict(vm.metadata, face_preprocessing={**vm.metadata["face_preprocessing"], "template": "eyes-only"})
    with pytest.raises(ValueError, match=r"face_preprocessing: template must be one of \['fer2013', 'arcface'\]; "
                                         r"got 'eyes-only'"):
        face_preprocessing_from_metadata(meta)
    meta = dict(vm.metadata, face_preprocessing={"template": "arcface", "intensity": "clahe"})
    rec = face_preprocessing_from_metadata(meta)
    assert rec["template"] == "arcface" and rec["intensity"] == "clahe" and rec["size"] == 48
    with pytest.raises(ValueError, match=r"unknown keys \['eyes'\]"):
        face_preprocessing_from_metadata(dict(vm.metadata, face_preprocessing={"eyes": 2}))
    # checkpoints written before the record: key=value words of their description, else FER-2013-like defaults
    legacy = {k: v for k, v in vm.metadata.items() if k != "face_preprocessing"}
    meta = dict(legacy, upstream_preprocessing="crops: template=arcface size=48", preprocessing="")
    rec = face_preprocessing_from_metadata(meta)
    assert rec["template"] == "arcface" and rec["recorded"] == ["size", "template"]
    meta = dict(legacy, upstream_preprocessing="template=arcface", preprocessing="template=fer2013")
    with pytest.raises(ValueError, match="two values for template"):
        face_preprocessing_from_metadata(meta)
    meta = dict(legacy, upstream_preprocessing="FER-2013 crops", preprocessing="uint8 (n, 48, 48)")
    rec = face_preprocessing_from_metadata(meta)  # nothing recorded: FER-2013-like defaults
    assert rec["recorded"] == [] and rec["template"] == "fer2013" and rec["size"] == 48


def test_face_preprocessing_record_validates_and_describes():
    faces = FacePreprocessing(size=64, intensity="clahe", source="aligned video faces")
    assert faces.describe() == "aligned video faces: template fer2013, 64x64 gray, margin 0, intensity clahe"
    assert FacePreprocessing.from_dict(faces.to_dict()) == faces
    assert faces.alignment() == {"template": "fer2013", "size": 64, "color": "gray", "margin": 0.0,
                                 "intensity": "clahe"}
    with pytest.raises(ValueError, match=r"size must be one of \[48, 64, 112, 224\]; got 50"):
        FacePreprocessing(size=50)
    with pytest.raises(ValueError, match=r"intensity must be one of \['none', 'histeq', 'clahe'\]; got 'zscore'"):
        FacePreprocessing(intensity="zscore")
    with pytest.raises(ValueError, match="size must be an int"):
        FacePreprocessing(size="48")


# ------------------------------------------------------------ images, folders


def test_single_image_and_folder(checkpoint, media, tmp_path):
    res = run_video_inference(media["image"], checkpoint, tmp_path / "img", progress=False)
    df = res.predictions
    _check_table(df, 1)
    assert len(df) == 1 and df["status"].iloc[0] == "detected" and df["file"].iloc[0] == "img10.png"
    assert np.isnan(df["time_s"].iloc[0]) and res.paths["annotated"].name == "annotated.png"
    assert res.paths["annotated"].is_file() and res.summary["source_kind"] == "image"

    res = run_video_inference(media["folder"], checkpoint, tmp_path / "dir", progress=False)
    df = res.predictions
    _check_table(df, 2)
    assert df["file"].tolist() == ["img2.jpg", "img10.png"]  # natural order; notes.txt ignored
    assert (df["status"] == "detected").all() and not df["tracked"].any()
    assert sorted(p.name for p in res.paths["annotated"].iterdir()) == ["00000_img2.png", "00001_img10.png"]


# ----------------------------------------------------------------- real clips


def test_real_woman2_first_frames(checkpoint, shared_data_dir, tmp_path, capsys):
    src = shared_data_dir / "media" / "woman2.mp4"
    rc = main([str(src), "--checkpoint", str(checkpoint), "--out", str(tmp_path), "--max-frames", "60",
               "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    df = pd.read_csv(tmp_path / "predictions.csv")
    assert df["frame"].nunique() == 60
    assert (df["status"] != "none").mean() > 0.9  # a face in (almost) every frame
    cap = cv2.VideoCapture(str(tmp_path / "annotated.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 60
    cap.release()
    assert (tmp_path / "timeline.png").stat().st_size > 1000


def test_real_no_face_clip(checkpoint, shared_data_dir, tmp_path):
    res = run_video_inference(shared_data_dir / "media" / "no_face.mp4", checkpoint, tmp_path, save_video=False,
                              progress=False)
    df = res.predictions
    assert len(df) == res.summary["frames"] > 50
    assert (df["status"] == "none").all() and df[PROB_COLS].isna().all().all()


# ------------------------------------------------- notebook 08 helpers


def test_render_synthetic_video(tmp_path):
    path = tmp_path / "sub" / "synthetic.mp4"
    truth = render_synthetic_video(path, seed=3, n_sequences=2, fps=10.0, hold_frames=2, scale=1)
    assert list(truth.columns) == ["frame", "time_s", "sequence", "label", "intensity", "phase"]
    cap = cv2.VideoCapture(str(path))
    n, w, h = (int(cap.get(p)) for p in (cv2.CAP_PROP_FRAME_COUNT, cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    cap.release()
    assert n == len(truth) and (w, h) == (192, 144)
    np.testing.assert_allclose(truth["time_s"], np.arange(len(truth)) / 10.0)
    assert truth["sequence"].nunique() == 2 and set(truth["label"]) <= set(CKPLUS_CLASSES)
    assert truth["label"].nunique() == 2  # classes assigned cyclically: two different ones
    for _, g in truth.groupby("sequence"):  # onset ... apex, then the apex held twice
        assert g["phase"].tolist()[-3:] == ["apex"] * 3 and (g["phase"].iloc[:-3] == "rising").all()
        assert g["intensity"].iloc[0] == pytest.approx(0.0, abs=1e-9) and g["intensity"].iloc[-1] > 0.5
    again = render_synthetic_video(tmp_path / "again.mp4", seed=3, n_sequences=2, fps=10.0, hold_frames=2, scale=2)
    pd.testing.assert_frame_equal(truth, again)  # deterministic; scale changes the pixels only
    assert video_frames_at(tmp_path / "again.mp4", [1, 0, 999]).shape == (2, 288, 384, 3)
    with pytest.raises(ValueError, match="fps must be a positive number; got 0"):
        render_synthetic_video(path, fps=0)
    with pytest.raises(ValueError, match="n_sequences"):
        render_synthetic_video(path, n_sequences=0)


def _rows(frames, tracks, labels, fps=10.0):
    return pd.DataFrame({"frame": frames, "time_s": np.asarray(frames, float) / fps,
                         "track_id": pd.array(tracks, dtype="Int64"), "label": labels,
                         "status": ["none" if t is None else "detected" for t in tracks], "tracked": False})


def test_main_face_flicker_and_truth_agreement():
    # One person: track 0, a missed frame, then track 1 (one face per frame): all rows are the face.
    one = _rows([0, 1, 2, 3, 4], [0, 0, None, 1, 1], ["a", "b", None, "b", "a"])
    rows, what = main_face(one)
    assert rows["frame"].tolist() == [0, 1, 3, 4] and what == "the only face (tracks 0, 1)"
    # Two faces in a frame: the track with the most rows (ties: lowest id).
    two = _rows([0, 0, 1, 1, 2], [0, 1, 0, 1, 1], list("aabbc"))
    rows, what = main_face(two)
    assert rows["track_id"].tolist() == [1, 1, 1] and what == "track 1 of 2"
    none = _rows([0, 1], [None, None], [None, None])
    assert main_face(none)[1] == "no face" and main_face(none)[0].empty
    truth = pd.DataFrame({"frame": range(5), "time_s": np.arange(5) / 10.0, "label": list("aabbb"),
                          "phase": ["rising", "apex", "rising", "rising", "apex"]})
    table = flicker_table({("v", "m1"): one, ("v", "m2"): two, ("w", "m1"): none}, truth={"v": truth})
    assert table["model"].tolist() == ["m1", "m2", "m1", "truth"]
    r = table.set_index(["video", "model"])
    assert r.loc[("v", "m1"), "label_changes"] == 2 and r.loc[("v", "m1"), "face_frames"] == 4
    assert r.loc[("v", "m1"), "label_changes_per_second"] == pytest.approx(2 / 0.4)
    assert r.loc[("v", "m2"), "label_changes"] == 2 and r.loc[("v", "m2"), "faces_found"] == 2
    assert r.loc[("w", "m1"), "face_frames"] == 0 and np.isnan(r.loc[("w", "m1"), "label_changes_per_second"])
    assert r.loc[("v", "truth"), "label_changes"] == 1 and r.loc[("v", "truth"), "dominant_label"] == "b"
    assert np.isnan(r.loc[("v", "m1"), "mean_top_probability"])  # no p_ columns in these tables
    probs = one.assign(p_a=[0.9, 0.2, np.nan, 0.4, 0.6], p_b=[0.1, 0.8, np.nan, 0.6, 0.4])
    r = flicker_table({("v", "m"): probs}).iloc[0]
    assert r["mean_top_probability"] == pytest.approx((0.9 + 0.8 + 0.6 + 0.6) / 4)
    assert r["mean_probability_change"] == pytest.approx((0.7 + 0.2 + 0.2) / 3)  # frames 0-1, 1-3, 3-4
    conf = confident_frames(probs, 0.7, events=[1, 4], within=1)
    assert conf["frame"].tolist() == [0, 1] and conf["after_event"].tolist() == [False, True]
    assert conf["top_probability"].tolist() == pytest.approx([0.9, 0.8])
    assert confident_frames(probs, 0.55, events=[1], within=3)["after_event"].tolist() == [False, True, True, False]
    assert not confident_frames(probs, 0.55)["after_event"].any()
    with pytest.raises(ValueError, match=r"\(video, model\) pairs"):
        flicker_table({"v": one})
    agree = truth_agreement(one, truth).set_index("phase")
    # frames 0..4 predicted a, b, -, b, a against a, a, b, b, b
    assert agree.loc["all", ["frames", "with_face", "compared", "correct"]].tolist() == [5, 4, 4, 2]
    assert agree.loc["apex", "correct"] == 0 and agree.loc["rising", "accuracy"] == pytest.approx(1.0)
    mapped = truth_agreement(one, truth, class_map={"a": "a"}).set_index("phase")  # "b" has no counterpart
    assert mapped.loc["all", ["compared", "correct"]].tolist() == [2, 1]


def test_figures_of_notebook_08(checkpoint, media, tmp_path):
    res = run_video_inference(media["one"], checkpoint, tmp_path / "run", detect_every=3, progress=False)
    truth = pd.DataFrame({"frame": range(12), "time_s": np.arange(12) / 25.0, "sequence": ["s1"] * 6 + ["s2"] * 6,
                          "label": ["happy"] * 6 + ["fear"] * 6})
    fig = plot_model_timelines({"a": (res, FER2013_CLASSES), "b": (res.predictions, FER2013_CLASSES)}, truth,
                               tmp_path / "tl.png", title="t")
    assert len(fig.axes) == 2 and (tmp_path / "tl.png").stat().st_size > 1000
    fig = annotated_frames_figure({"a": res.paths["annotated"], "b": res.paths["annotated"]}, [0, 11],
                                  ["first", "last"], path=tmp_path / "frames.png")
    assert len(fig.axes) == 4 and fig.axes[0].get_title() == "a: first" and (tmp_path / "frames.png").is_file()
    assert annotated_frames_figure({"a": tmp_path / "missing.mp4"}, [0]) is None
    tm = res.summary["timing"]
    assert tm["cpu_s"] > 0 and tm["fps_cpu"] == pytest.approx(12 / tm["cpu_s"])
    table = pd.DataFrame([{"device": "cpu", "detect_every": 3, "frames": 12, "fps_end_to_end": tm["fps_end_to_end"],
                           **{k: tm[k] for k in ("decode_s", "detect_s", "detect_align_s", "classify_s", "write_s")}}])
    fig = plot_throughput(table, 25, tmp_path / "tp.png")
    assert (tmp_path / "tp.png").is_file()
    with pytest.raises(ValueError, match="goal_fps"):
        plot_throughput(table, 0)
