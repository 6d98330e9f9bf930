"""Notebook 08's bookkeeping (fer_lib.video.report): loops over videos and models, tables, summary.json, closing text.

Most tests build :class:`VideoResult` and :class:`VideoModel` records by hand,
with predictions whose every number is chosen, so the expected tables and
sentences can be written out in full. One test runs the real pipeline (a tiny
checkpoint on a short clip of a photographed face) through the functions that
call it.
"""

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from fer_lib.core.jsonio import to_jsonable
from fer_lib.data.constants import CKPLUS_CLASSES, FER2013_CLASSES
from fer_lib.faces.preprocessing import FacePreprocessing
from fer_lib.video import report
from fer_lib.video.inference import VideoResult
from fer_lib.video.model import VideoModel, load_video_model

PREP = {"template": "fer2013", "size": 48, "color": "gray", "margin": 0.0, "intensity": "none", "recorded": []}


def _model(mode, classes, window=1, **metadata):
    return VideoModel(model=None, metadata=metadata, path=Path(f"/ckpt/{mode}.pt"), device="cpu",
                      class_names=tuple(classes), mode=mode, window=window, preprocessing=dict(PREP))


@pytest.fixture()
def models():
    return {"spatial": _model("spatial", FER2013_CLASSES, trained_on="fer2013"),
            "hybrid": _model("window", CKPLUS_CLASSES, window=3, data_set="ckplus")}


def _summary(frames, with_face, fps, tracks=1, detections=2, size=(64, 48), fps_source=10.0):
    return {"frames": frames, "frames_with_face": with_face, "frames_no_face": frames - with_face,
            "faces_found": tracks, "frame_size": list(size), "fps_source": fps_source, "device": "cpu",
            "timing": {"n_detections": detections, "fps_end_to_end": fps}}


def _result(predictions, summary, csv=None):
    return VideoResult(predictions=predictions, summary=summary, out_dir=Path("/out"),
                       paths={"csv": csv, "annotated": None})


# Six frames of one face: two expressions of the truth below, top probabilities chosen by hand.
TRUTH = pd.DataFrame({"frame": range(6), "time_s": np.arange(6) / 10.0, "sequence": ["s1"] * 3 + ["s2"] * 3,
                      "label": ["anger"] * 3 + ["contempt"] * 3,
                      "phase": ["rising", "apex", "apex", "rising", "apex", "apex"]})
P_X = [0.9, 0.5, 0.8, 0.3, 0.75, 0.6]  # top probabilities 0.9, 0.5, 0.8, 0.7, 0.75, 0.6


def _predictions(labels):
    return pd.DataFrame({"frame": range(6), "time_s": np.arange(6) / 10.0, "track_id": pd.array([0] * 6, "Int64"),
                         "status": "detected", "tracked": [False, True, True, False, True, True], "label": labels,
                         "p_x": P_X, "p_y": [1 - p for p in P_X]})


@pytest.fixture()
def results():
    spatial = _predictions(["angry", "angry", "sad", "neutral", "happy", "angry"])
    hybrid = _predictions(["anger", "anger", "anger", "contempt", "fear", "contempt"])
    return {("synthetic", "spatial"): _result(spatial, _summary(6, 6, 40.0, tracks=1, detections=2)),
            ("synthetic", "hybrid"): _result(hybrid, _summary(6, 6, 20.5, tracks=2, detections=3)),
            ("clip.mp4", "spatial"): _result(spatial, _summary(6, 4, 12.25, size=(640, 360), fps_source=29.97))}


def test_describe_models_and_model_records(models):
    assert report.describe_models(models) == [
        f"spatial: one frame at a time; classes {list(FER2013_CLASSES)}; faces aligned with template=fer2013, "
        "48x48 gray",
        f"hybrid: a window of the last 3 frames of a face; classes {list(CKPLUS_CLASSES)}; faces aligned with "
        "template=fer2013, 48x48 gray"]
    upstream = {"spatial": "03_spatial_baseline/spatial_fer2013.pt", "hybrid": "05_hybrid/hybrid_ckplus.pt"}
    assert report.model_records(models, upstream) == {
        "spatial": {"checkpoint": "03_spatial_baseline/spatial_fer2013.pt", "mode": "spatial", "window": 1,
                    "class_names": list(FER2013_CLASSES), "trained_on": "fer2013"},
        "hybrid": {"checkpoint": "05_hybrid/hybrid_ckplus.pt", "mode": "window", "window": 3,
                   "class_names": list(CKPLUS_CLASSES), "trained_on": "ckplus"}}  # data_set when no trained_on
    with pytest.raises(ValueError, match=r"\['hybrid'\] missing"):
        report.model_records(models, {"spatial": "03_spatial_baseline/spatial_fer2013.pt"})
    with pytest.raises(ValueError, match="models must map names to VideoModel.*'x': 'str'"):
        report.describe_models({"x": "model.pt"})
    with pytest.raises(ValueError, match="models must be a non-empty mapping"):
        report.describe_models({})


def test_expression_segments_cuts_and_apex_frames():
    truth = pd.DataFrame({"frame": range(9), "sequence": ["s1"] * 4 + ["s2"] * 3 + ["s3"] * 2,
                          "label": ["happy"] * 4 + ["fear"] * 3 + ["anger"] * 2,
                          "phase": ["rising", "rising", "apex", "apex", "rising", "apex", "apex", "apex", "apex"]})
    seg = report.expression_segments(truth)
    assert seg.index.tolist() == ["s1", "s2", "s3"]
    assert seg.to_dict("list") == {"label": ["happy", "fear", "anger"], "frames": [4, 3, 2], "apex_frames": [2, 2, 2]}
    assert report.expression_cuts(truth) == [4, 7]
    assert report.apex_frames(truth, 4) == [2, 5, 7]  # fewer expressions than asked: all of them
    assert report.apex_frames(truth, 2) == [2, 7]  # the first and the last
    assert report.apex_frames(truth.assign(phase="rising")) == []
    with pytest.raises(ValueError, match=r"columns \['frame', 'sequence'\]; \['sequence'\] missing"):
        report.expression_cuts(truth.drop(columns="sequence"))
    with pytest.raises(ValueError, match="n must be an integer >= 1; got 0"):
        report.apex_frames(truth, 0)


def test_find_videos(tmp_path):
    (tmp_path / "a.mp4").write_bytes(b"x")
    found, notes = report.find_videos(tmp_path, ["b.mp4", "a.mp4"])
    assert found == [tmp_path / "a.mp4"] and notes == ["b.mp4 is not in the media folder; skipped."]
    assert report.find_videos(tmp_path / "absent", ["a.mp4"]) == (
        [], [f"The media folder ({tmp_path / 'absent'}) is absent; skipping the real videos."])  # outside the project
    shared = Path(__file__).resolve().parents[3] / "no-such-media"  # beside the checkout: shown relative to it
    assert report.find_videos(shared, ["a.mp4"])[1] == [
        "The media folder (../no-such-media) is absent; skipping the real videos."]
    with pytest.raises(ValueError, match="names must be a list of file names; got the string 'a.mp4'"):
        report.find_videos(tmp_path, "a.mp4")


def test_run_descriptions_and_table(results):
    assert report.describe_runs(results, "faces") == [
        "synthetic, spatial: a face in 6 of 6 frames; 40.0 frames/s end to end",
        "synthetic, hybrid: a face in 6 of 6 frames; 20.5 frames/s end to end",
        "clip.mp4, spatial: a face in 4 of 6 frames; 12.2 frames/s end to end"]
    assert report.describe_runs({k: r for k, r in results.items() if k[0] == "clip.mp4"}, "source") == [
        "clip.mp4, spatial: 6 frames of 640x360 at 29.97 fps"]
    table = report.run_table(results)
    assert list(table.columns) == list(report.RUN_TABLE_COLUMNS)
    assert table.to_dict("list") == {
        "video": ["synthetic", "synthetic", "clip.mp4"], "model": ["spatial", "hybrid", "spatial"],
        "frames": [6, 6, 6], "frames_with_face": [6, 6, 4], "frames_no_face": [0, 0, 2], "tracks": [1, 2, 1],
        "detector_calls": [2, 3, 2], "fps_end_to_end": [40.0, 20.5, 12.25]}
    assert report.run_table({}).columns.tolist() == list(report.RUN_TABLE_COLUMNS)
    with pytest.raises(ValueError, match=r"what must be one of \['faces', 'source'\]; got 'fps'"):
        report.describe_runs(results, "fps")
    with pytest.raises(ValueError, match="results must map \\(video, model\\) pairs to VideoResult; got 'synthetic'"):
        report.run_table({"synthetic": results[("synthetic", "spatial")]})


def test_confident_frames_and_agreement_tables(results, models):
    sure = report.confident_frames_table(results, models, report.expression_cuts(TRUTH), "synthetic", 0.7)
    assert sure["model"].tolist() == ["spatial", "hybrid"]
    # Frames 0, 2, 3 and 4 reach 0.7; the cut is at frame 3: frame 3 is just after it for the spatial
    # model (window 1), frames 3 and 4 for the hybrid (window 3); frames 0 and 3 are detection frames.
    assert sure["confident_frames"].tolist() == [4, 4] and sure["cuts"].tolist() == [1, 1]
    assert sure["just_after_a_cut"].tolist() == [1, 2] and sure["on_detection_frames"].tolist() == [2, 2]
    assert sure["labels"].tolist() == [{"angry": 1, "sad": 1, "neutral": 1, "happy": 1},
                                       {"anger": 2, "contempt": 1, "fear": 1}]
    assert report.confident_frames_table(results, models, [], "clip.mp4", 0.85)["confident_frames"].tolist() == [1]
    with pytest.raises(ValueError, match=r"threshold must be a number in \[0.0, 1.0\]; got 7"):
        report.confident_frames_table(results, models, [3], threshold=7)

    agree = report.agreement_table(results, models, TRUTH, "synthetic").set_index(["model", "phase"])
    # The FER-2013 model is scored through CKPLUS_TO_FER2013: contempt (frames 3-5) has no counterpart.
    assert agree.loc["spatial", ["frames", "with_face", "compared", "correct"]].to_dict("list") == {
        "frames": [2, 4, 6], "with_face": [2, 4, 6], "compared": [1, 2, 3], "correct": [1, 1, 2]}
    assert agree.loc["spatial", "accuracy"].tolist() == pytest.approx([1.0, 0.5, 2 / 3])
    assert agree.loc["hybrid", "compared"].tolist() == [2, 4, 6]
    assert agree.loc["hybrid", "accuracy"].tolist() == pytest.approx([1.0, 0.75, 5 / 6])
    assert agree.columns.tolist()[-1] == "accuracy" and agree.index.names == ["model", "phase"]
    assert report.agreement_table(results, models, TRUTH, "absent.mp4").empty
    with pytest.raises(ValueError, match=r"\['phase'\] missing"):
        report.agreement_table(results, models, TRUTH.drop(columns="phase"))


def test_describe_no_face_runs(results, tmp_path):
    none = pd.DataFrame({"frame": [0, 1, 2], "status": "none", "label": [None] * 3, "p_x": np.nan})
    none.to_csv(tmp_path / "predictions.csv", index=False)
    runs = {("no_face.mp4", "spatial"): _result(none, _summary(3, 0, 30.0), csv=tmp_path / "predictions.csv"),
            ("synthetic", "spatial"): results[("synthetic", "spatial")]}
    assert report.describe_no_face_runs(runs, "no_face.mp4") == [
        "no_face.mp4, spatial: 3 rows for 3 frames; status none: 3; a label: 0",
        "columns of predictions.csv: ['frame', 'status', 'label', 'p_x']"]
    assert report.describe_no_face_runs({}, "no_face.mp4") == [
        "no_face.mp4 was not run (media folder absent, or the file is not in it)."]


def _benchmark(fps=(12.0, 30.0)):
    return pd.DataFrame({"detect_every": [1, 5], "device": "cpu", "frames": [10, 10], "frame_size": "640x360",
                         "n_detections": [10, 2], "detect_s": [0.5, 0.1], "ms_detect_align": [60.0, 15.0],
                         "ms_decode": [2.0, 2.0], "ms_classify": [1.0, 1.0], "ms_write": [3.0, 3.0],
                         "fps_end_to_end": list(fps), "fps_without_write": [13.0, 33.0], "fps_cpu": [11.0, 28.0]})


def test_throughput_table_and_description():
    table = report.throughput_table(_benchmark(), "clip.mp4", "spatial", 25)
    assert table.columns.tolist()[:2] == ["video", "model"] and set(report.THROUGHPUT_SHOWN_COLUMNS) <= set(table)
    assert table["video"].tolist() == ["clip.mp4"] * 2 and table["model"].tolist() == ["spatial"] * 2
    assert table["ms_detect"].tolist() == pytest.approx([50.0, 10.0])  # 1000 * detect_s / frames
    assert table["ms_track_align"].tolist() == pytest.approx([10.0, 5.0])
    assert np.isnan(table["goal_fps"][0]) and table["goal_fps"][1] == 25.0  # the goal is about detect-and-track
    assert table["meets_goal"].tolist() == [None, True]
    assert report.describe_throughput(table, 5, 25) == [
        "cpu, 640x360, detect every 5: 30.0 frames/s end to end (33.0 without writing the annotated video): meets "
        "the goal of 25 frames/s; 28.0 frames per CPU second (an estimate of the rate on an idle machine)"]
    slow = report.throughput_table(_benchmark((12.0, 20.0)), "clip.mp4", "spatial", 25)
    assert slow["meets_goal"].tolist() == [None, False]
    assert "is 80% of the goal of 25 frames/s" in report.describe_throughput(slow, 5, 25)[0]
    with pytest.raises(ValueError, match=r"goal_fps must be a number in \(0, inf\]; got 0"):
        report.throughput_table(_benchmark(), "clip.mp4", "spatial", 0)
    with pytest.raises(ValueError, match=r"lacks the columns \['detect_s'\]"):
        report.throughput_table(_benchmark().drop(columns="detect_s"), "clip.mp4", "spatial")


def test_noise_file_and_cli_on_it(tmp_path, tiny_checkpoint):
    path = report.write_noise_file(tmp_path / "corrupt.mp4", seed=3, n_bytes=100)
    assert path.read_bytes() == np.random.default_rng(3).integers(0, 256, 100, dtype=np.uint8).tobytes()
    with pytest.raises(ValueError, match="n_bytes must be an integer >= 1; got 0"):
        report.write_noise_file(path, seed=3, n_bytes=0)
    ckpt = str(tiny_checkpoint(size=48, preprocessing=FacePreprocessing(size=48, template="fer2013"), width=8))
    cli = report.call_cli({"corrupt file": [str(path), "--checkpoint", ckpt, "--out", str(tmp_path / "out"),
                                            "--no-progress"]})
    c = cli["corrupt file"]
    assert c["exit_code"] == 2 and c["stdout"] == "" and c["argv"][0] == str(path)
    assert c["stderr"].startswith("fer-video: error: ") and len(c["stderr"].strip().splitlines()) == 1
    assert report.cli_outcomes(cli) == ["corrupt file: exit code 2; error lines: 1"]
    assert report.cli_transcript(cli).startswith("$ fer-video ") and c["stderr"] in report.cli_transcript(cli)
    with pytest.raises(ValueError, match=r"cases\['x'\] must be a list of arguments"):
        report.call_cli({"x": "video.mp4 --max-frames 3"})


def test_video_summary_and_findings(results, models):
    flicker = pd.DataFrame({"video": ["synthetic"] * 3, "model": ["spatial", "hybrid", "truth"],
                            "label_changes_per_second": [1.0, 0.5, 0.25], "mean_top_probability": [0.5, 0.6, np.nan],
                            "mean_probability_change": [0.1, 0.05, np.nan]})
    sure = report.confident_frames_table(results, models, [3])
    agreement = report.agreement_table(results, models, TRUTH)
    throughput = report.throughput_table(_benchmark(), "clip.mp4", "spatial", 25)
    cli = {"synthetic video": {"exit_code": 0}, "corrupt file": {"exit_code": 2}}
    upstream = {"spatial": "03_spatial_baseline/spatial_fer2013.pt", "hybrid": "05_hybrid/hybrid_ckplus.pt"}
    summary = report.video_summary(results, models, upstream, TRUTH, flicker=flicker, confident=sure,
                                   agreement=agreement, throughput=throughput, cli=cli,
                                   settings={"detect_every": 5, "goal_fps": 25.0}, synthetic={"seed": 1})
    assert sorted(summary) == ["cli_exit_codes", "detect_every", "flicker", "goal_fps", "models", "runs", "synthetic",
                               "synthetic_agreement", "synthetic_confident_frames", "throughput"]
    assert summary["synthetic"] == {"frames": 6, "seed": 1, "sequences": [
        {"sequence": "s1", "label": "anger", "frames": 3, "apex_frames": 2},
        {"sequence": "s2", "label": "contempt", "frames": 3, "apex_frames": 2}]}
    assert summary["models"]["hybrid"]["window"] == 3 and summary["cli_exit_codes"] == {"synthetic video": 0,
                                                                                         "corrupt file": 2}
    assert [r["frames_with_face"] for r in summary["runs"]] == [6, 6, 4]
    assert [r["correct"] for r in summary["synthetic_agreement"]] == [1, 1, 2, 2, 3, 5]
    assert [r["meets_goal"] for r in summary["throughput"]] == [None, True]
    json.dumps(to_jsonable(summary))  # what save_json writes
    assert "flicker" not in report.video_summary(results, models, upstream, TRUTH)

    text = report.video_findings(results, flicker, sure, agreement, throughput, cli, goal_fps=25,
                                 synthetic_models=True).splitlines()
    assert text[:3] == [
        "* **synthetic, spatial**: 6 frames, a face in 6, 0 `none` rows; 40.0 frames/s end to end (cpu).",
        "* **synthetic, hybrid**: 6 frames, a face in 6, 0 `none` rows; 20.5 frames/s end to end (cpu).",
        "* **clip.mp4, spatial**: 6 frames, a face in 4, 2 `none` rows; 12.2 frames/s end to end (cpu)."]
    assert text[3:5] == [
        "* **Flicker on synthetic** (label changes per second of the main face): spatial 1.00 (mean top probability "
        "0.50, probabilities change by 0.100 per frame); hybrid 0.50 (mean top probability 0.60, probabilities "
        "change by 0.050 per frame); truth 0.25.",
        "* The hybrid flickered less than the spatial model on 1 of 1 videos (synthetic)."]
    assert text[5] == (
        "* **Confident frames on the synthetic video** (top probability >= 0.7): spatial 4 (angry 1, sad 1, "
        "neutral 1, happy 1): 1 just after one of the 1 cuts, 2 on detection frames; hybrid 4 (anger 2, "
        "contempt 1, fear 1): 2 just after one of the 1 cuts, 2 on detection frames.")
    assert text[6] == ("* **Synthetic subject, apex frames**: spatial right on 1 of 2 (50%); hybrid right on 3 of 4 "
                       "(75%).")
    assert text[7] == ("* **Throughput** (clip.mp4, 640x360, cpu, detect every 1): 12.0 frames/s end to end (11.0 per "
                       "CPU second); per frame 2 ms decode, 50 ms detect, 10 ms track + align, 1 ms classify, 3 ms "
                       "write.")
    assert text[8].endswith("5 ms track + align, 1 ms classify, 3 ms write. Goal: 25 frames/s with detect-and-track: "
                            "met in wall-clock time on this run's machine, met per CPU second.")
    assert text[9] == "* **fer-video**: synthetic video -> exit code 0; corrupt file -> exit code 2."
    assert text[10].startswith("* The models are the smoke run's, trained on synthetic faces") and len(text) == 11
    assert report.video_findings(results).count("\n") == 2  # the runs only
    assert "(top probability >= 0.85): spatial 4" in report.video_findings(results, confident=sure,
                                                                            confident_threshold=0.85)
    with pytest.raises(ValueError, match=r"confident_threshold must be a number in \[0.0, 1.0\]; got 70"):
        report.video_findings(results, confident=sure, confident_threshold=70)


def _astronaut_clip(path, n=8):
    from skimage.data import astronaut

    face = cv2.resize(astronaut()[:400, 50:450], (200, 200), interpolation=cv2.INTER_AREA)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (200, 200))
    assert writer.isOpened()
    for i in range(n):
        shifted = cv2.warpAffine(face, np.float32([[1, 0, i], [0, 1, 0]]), (200, 200), borderMode=cv2.BORDER_REPLICATE)
        writer.write(cv2.cvtColor(shifted, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_run_models_figures_throughput_and_cli_on_a_real_clip(tmp_path, tiny_checkpoint):
    ckpt = tiny_checkpoint(size=48, preprocessing=FacePreprocessing(size=48, template="fer2013"), width=8)
    clip = _astronaut_clip(tmp_path / "clip.mp4")
    models = {"a": load_video_model(ckpt, "cpu"), "b": load_video_model(ckpt, "cpu")}
    results = report.run_models(clip, models, tmp_path / "runs", detect_every=3, save_video=True)
    assert list(results) == [("clip.mp4", "a"), ("clip.mp4", "b")]
    for (_, name), res in results.items():
        assert res.out_dir == tmp_path / "runs" / name and (res.out_dir / "predictions.csv").is_file()
        assert res.summary["frames"] == 8 and res.summary["frames_with_face"] == 8
    assert list(report.run_models(clip, {"a": models["a"]}, tmp_path / "k", key="v", max_frames=2)) == [("v", "a")]
    fig = report.model_frames_figure(results, "clip.mp4", [0, 7], ["first", "last"], path=tmp_path / "frames.png")
    assert len(fig.axes) == 4 and fig.axes[2].get_title() == "b: first" and (tmp_path / "frames.png").is_file()
    assert report.model_frames_figure(results, "other.mp4", [0]) is None
    fig = report.model_timelines_figure(results, models, "clip.mp4", path=tmp_path / "tl.png")
    assert len(fig.axes) == 2 and fig.texts[0].get_text() == "clip.mp4: class probabilities of the main face, per model"
    assert report.model_timelines_figure(results, models, "other.mp4") is None

    throughput = report.measure_throughput(clip, "a", ckpt, detect_every=3, max_frames=6, goal_fps=25)
    assert throughput["detect_every"].tolist() == [1, 3] and throughput["frames"].tolist() == [6, 6]
    assert throughput["n_detections"].tolist() == [6, 2] and throughput["device"].tolist() == ["cpu", "cpu"]
    assert throughput["video"].tolist() == ["clip.mp4"] * 2 and throughput["model"].tolist() == ["a"] * 2
    assert throughput["meets_goal"][0] is None and throughput["goal_fps"][1] == 25.0
    with pytest.raises(ValueError, match="devices must be a non-empty list"):
        report.measure_throughput(clip, "a", ckpt, devices="cpu")

    cli = report.call_cli({"clip": [str(clip), "--checkpoint", str(ckpt), "--max-frames", "3", "--out",
                                    str(tmp_path / "cli"), "--no-progress"]})
    assert cli["clip"]["exit_code"] == 0 and cli["clip"]["stderr"] == ""
    assert cli["clip"]["stdout"].startswith("fer-video: 3 frames, 1 face track(s), 0 frame(s) without a face")
    assert report.cli_outcomes(cli) == ["clip: exit code 0; error lines: 0"]
