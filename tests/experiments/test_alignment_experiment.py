"""Notebook 02's comparisons (fer_lib.experiments.alignment): detectors vs landmarks, tracking, media, findings."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fer_lib.experiments import alignment as study
from fer_lib.faces import datasets as faces


@pytest.fixture(scope="module")
def landmark_alignment(tiny_release):
    """The tiny synthetic CK+ release (2 sequences with Landmarks/), aligned from its landmarks."""
    return faces.align_ckplus_sequences(tiny_release)


def test_detector_check_compares_a_seeded_draw_with_the_landmarks(landmark_alignment):
    table, subset, records = study.detector_check(landmark_alignment, 1, ("haar",), 48, None, seed=0)
    again = study.detector_check(landmark_alignment, 1, ("haar",), 48, None, seed=0)[1]
    assert [s.sequence_id for s in subset] == [s.sequence_id for s in again]  # the draw is seeded
    assert len(subset) == 1 and list(table.index) == ["haar"] and list(records) == ["haar"]
    row = table.loc["haar"]
    assert row["frames"] == subset[0].n_frames == len(records["haar"])
    assert row["found"] == (records["haar"]["status"] != "none").sum()
    assert row["found_rate"] == pytest.approx(row["found"] / row["frames"])
    all_drawn = study.detector_check(landmark_alignment, 5, ("haar",), 48, None)[1]
    assert len(all_drawn) == 2  # no more than there are
    with pytest.raises(ValueError, match="n_sequences must be an integer >= 1; got 0"):
        study.detector_check(landmark_alignment, 0, ("haar",), 48, None)


def test_haar_on_faceless_frames_and_photos_without_a_face(tmp_path):
    blank = np.full((4, 96, 96, 3), 128, np.uint8)
    records = pd.DataFrame({"status": ["none", "detected", "none", "none"]})
    assert study.haar_on_faceless_frames({"a.mp4": (blank, None, records)}) == {
        "a.mp4": {"frames_without_face": 3, "haar_finds_a_face": 0}}
    assert study.haar_on_faceless_frames({"b.mp4": (blank, None, records.assign(status="detected"))}) == {}
    path = tmp_path / "grey.jpg"
    Image.fromarray(blank[0]).save(path)
    table, images, detections, rec = study.detect_photos([path])
    row = table.to_dict(orient="records")[0]
    assert np.isnan(row.pop("kept_score"))  # no face, no score
    assert row == {"file": "grey.jpg", "size": "96x96", "status": "none", "faces_seen": 0}
    assert images[0].shape == (96, 96, 3) and len(detections) == 1 and rec["source"].tolist() == ["grey.jpg"]


def test_findings_read_the_summary_alone():
    summary = {
        "data_dir_is_synthetic": True,
        "ckplus": {"n_frames": 20, "n_sequences": 2, "methods": {"landmarks": 2}, "status_counts": {"found_rate": 0.95},
                   "frames_missed": [f"f{i}.png" for i in range(11)],
                   "eye_drift": {"median_px": 0.02, "p95_px": 0.05, "max_px": 0.5, "n_over_threshold": 0,
                                 "n_pairs": 18}},
        "detector_check": {"by_detector": {"haar": {"found_rate": 1.0, "eye_error_iod_median": 0.029}}},
        "throughput": [{"source": "x.mp4", "frame_size": "640x360", "device": "cpu", "fps_every_frame": 2.5,
                        "fps_tracked": 6.5, "detect_every": 5, "speedup": 2.6}],
    }
    lines = study.findings(summary, 48, 2.0)
    assert lines[0] == ("* **CK+ sequences** (synthetic): 20 frames of 2 sequences aligned to 48x48 with landmarks "
                        "(2 sequences); a face in 95.0% of the frames. Frames missed: f0.png, f1.png, f2.png, "
                        "f3.png, f4.png, f5.png, f6.png, f7.png, f8.png, f9.png ....")
    assert lines[1].endswith("0 of 18 frame pairs above 2.0 px.")
    assert lines[2] == ("* **Detectors against the landmarks**: haar: face in 100.0% of the frames, eyes 2.9% of the "
                        "inter-ocular distance from the landmarks (median).")
    assert lines[3] == ("* **Throughput** (x.mp4, 640x360, cpu): 2.5 frames/s detecting every frame, 6.5 detecting "
                        "every 5: x2.6.")
    assert study.findings({}, 48, 2.0) == ["* No CK+ sequences in this data folder."]
