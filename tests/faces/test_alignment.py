"""Face detection, alignment, normalisation, sequences, caching and the data-set glue (fer_lib.faces.datasets).

The MTCNN tests run on ``skimage.data.astronaut()`` and on a tiny synthetic
CK+ release written to a temporary folder (both work on a fresh machine); the
``shared_data_dir`` tests use the real CK+ frames and media files and skip
without them. MTCNN runs on the CPU here, and few frames are used to keep the
file fast on 2 cores.
"""

import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest
from skimage import data

from fer_lib.core.errors import DataError
from fer_lib.data.ckplus import load_ckplus_sequences
from fer_lib.data.constants import CKPLUS_CLASSES
from fer_lib.faces import alignment as al
from fer_lib.faces import datasets as faces
from fer_lib.faces import detection as dt
from fer_lib.faces.alignment import (
    ALIGN_SIZES,
    NORMALIZATIONS,
    align_face,
    align_sequence,
    cached_align,
    crop_points,
    landmark_drift,
    normalize,
    resample_sequence,
    template_points,
    transform_points,
)
from fer_lib.faces.detection import (
    FACE_STATUSES,
    detect_faces,
    read_image,
    read_video_frames,
)

CK_SEQUENCE = ("ckplus", "sequences", "cohn-kanade-images", "S052", "004")


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def astronaut():
    return data.astronaut()


@pytest.fixture(scope="module")
def astro_det(astronaut):
    return detect_faces([astronaut], device="cpu")


@pytest.fixture(scope="module")
def shifted_sequence(astronaut):
    """8 frames of a 256x256 astronaut crop, shifted (2, 1) px and rotated 1.5 deg per frame.

    Returns the frames (8, 256, 256, 3) and the known warps (8, 2, 3) from frame 0.
    """
    base = np.ascontiguousarray(astronaut[0:256, 96:352])
    centre = (128.0, 118.0)
    frames, warps = [], []
    for t in range(8):
        m = cv2.getRotationMatrix2D(centre, 1.5 * t, 1.0)
        m[:, 2] += [2.0 * t, 1.0 * t]
        frames.append(cv2.warpAffine(base, m, (256, 256), borderMode=cv2.BORDER_REPLICATE))
        warps.append(m)
    return np.stack(frames), np.stack(warps)


@pytest.fixture(scope="module")
def shifted_runs(shifted_sequence):
    frames, warps = shifted_sequence
    every1 = align_sequence(frames, detect_every=1, device="cpu")
    every3 = align_sequence(frames, detect_every=3, device="cpu")
    return every1, every3


@pytest.fixture(scope="module")
def ck_frames(shared_data_dir):
    folder = shared_data_dir.joinpath(*CK_SEQUENCE)
    files = sorted(folder.glob("*.png"))[:10]
    assert len(files) == 10, f"expected >= 10 frames in {folder}"
    return np.stack([read_image(f) for f in files])


# ----------------------------------------------------------------- import


def test_import_has_no_side_effects():
    code = (
        "import sys, fer_lib.faces.alignment, fer_lib.faces.detection\n"
        "heavy = [m for m in ('torch', 'facenet_pytorch', 'cv2') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------- detection


def test_mtcnn_finds_one_face_with_points_in_box(astro_det):
    assert len(astro_det) == 1
    assert astro_det.status[0] == "detected"
    assert astro_det.n_faces[0] == 1
    assert astro_det.scores[0] > 0.99
    x1, y1, x2, y2 = astro_det.boxes[0]
    pts = astro_det.points[0]
    assert pts.shape == (5, 2)
    assert ((pts[:, 0] > x1) & (pts[:, 0] < x2) & (pts[:, 1] > y1) & (pts[:, 1] < y2)).all()
    # image-left eye is left of the image-right eye; mouth below the eyes
    assert pts[0, 0] < pts[1, 0] and pts[3, 0] < pts[4, 0]
    assert pts[3:, 1].min() > pts[:2, 1].max()
    frame = astro_det.to_frame()
    assert list(frame.columns) == list(dt.RECORD_COLUMNS)
    assert frame.loc[0, "status"] in FACE_STATUSES


def test_no_face_in_blank_or_noise_is_reported_not_invented():
    rng = np.random.default_rng(0)
    frames = np.stack([np.zeros((128, 128), np.uint8), rng.integers(0, 256, (128, 128), dtype=np.uint8)])
    det = detect_faces(frames, device="cpu")
    assert list(det.status) == ["none", "none"]
    assert np.isnan(det.boxes).all() and np.isnan(det.points).all() and np.isnan(det.scores).all()
    assert list(det.n_faces) == [0, 0]
    crops, records = align_sequence(frames, device="cpu")
    assert crops.shape == (2, 48, 48) and not crops.any()
    assert list(records["status"]) == ["none", "none"]
    assert records[list(dt.BOX_COLUMNS)].isna().all().all()


def test_no_face_video(shared_data_dir):
    frames = read_video_frames(shared_data_dir / "media" / "no_face.mp4", max_frames=12, step=3)
    assert frames.ndim == 4 and len(frames) == 12
    det = detect_faces(frames, device="cpu")
    assert set(det.status) == {"none"}
    assert (det.n_faces == 0).all()


def test_select_face_rule():
    shape = (100, 200)
    # a big face in the corner vs a smaller one in the centre
    boxes = np.array([[0, 0, 40, 40], [80, 30, 120, 70], [90, 40, 110, 60]], float)
    # priority = area * (1 - d / r): 1600 * (1 - 100/111.8) ~ 169 vs 1600 * 1 vs 400 * 1
    assert dt.select_face(boxes, shape) == 1
    # exact tie on priority: the higher score wins, then the lower index
    twins = np.array([[80, 30, 120, 70], [80, 30, 120, 70]], float)
    assert dt.select_face(twins, shape, scores=[0.91, 0.99]) == 1
    assert dt.select_face(twins, shape, scores=[0.99, 0.99]) == 0


def test_multi_face_keeps_one_by_the_rule(shared_data_dir):
    image = read_image(shared_data_dir / "media" / "multi_face.jpg")
    det = detect_faces([image], device="cpu")
    assert det.status[0] == "detected"
    assert det.n_faces[0] >= 2
    boxes = det.all_boxes[0]
    assert len(boxes) == det.n_faces[0]
    h, w = image.shape[:2]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    dist = np.hypot((boxes[:, 0] + boxes[:, 2]) / 2 - w / 2, (boxes[:, 1] + boxes[:, 3]) / 2 - h / 2)
    priority = area * (1 - dist / (np.hypot(w, h) / 2))
    np.testing.assert_allclose(det.boxes[0], boxes[np.argmax(priority)])


def test_haar_fallback_finds_astronaut(astronaut, astro_det):
    det = detect_faces([astronaut], method="haar")
    assert det.status[0] == "fallback"
    assert det.n_faces[0] >= 1 and np.isnan(det.scores[0])
    assert dt.box_iou(det.boxes[0], astro_det.boxes)[0] > 0.5
    side = det.boxes[0, 2] - det.boxes[0, 0]
    # template eyes within 10 % of the box side of MTCNN's eyes
    assert np.linalg.norm(det.points[0, :2] - astro_det.points[0, :2], axis=1).max() < 0.1 * side


def test_landmarks_68_to_5_and_landmark_method():
    lm = np.zeros((68, 2))
    lm[:, 0] = np.arange(68)  # fill every point, then set the ones used
    lm[:, 1] = 200.0
    lm[36:42] = [[10, 20], [12, 18], [14, 18], [16, 20], [14, 22], [12, 22]]  # centre (13, 20)
    lm[42:48] = [[30, 20], [32, 18], [34, 18], [36, 20], [34, 22], [32, 22]]  # centre (33, 20)
    lm[30] = [23, 30]
    lm[48] = [15, 40]
    lm[54] = [31, 40]
    expected = np.array([[13, 20], [33, 20], [23, 30], [15, 40], [31, 40]], float)
    np.testing.assert_allclose(dt.landmarks68_to_5(lm), expected)
    np.testing.assert_allclose(dt.landmarks68_to_5(np.stack([lm, lm]))[1], expected)
    with pytest.raises(ValueError, match="points68"):
        dt.landmarks68_to_5(lm[:60])


    frames = np.zeros((2, 240, 100), np.uint8)
    det = detect_faces(frames, method="landmarks", landmarks=np.stack([lm, np.full((68, 2), np.nan)]))
    assert list(det.status) == ["landmarks", "none"]
    np.testing.assert_allclose(det.points[0], expected)
    np.testing.assert_allclose(det.boxes[0], [0, 18, 67, 200])
    with pytest.raises(ValueError, match="landmarks"):
        detect_faces(frames, method="landmarks")


# --------------------------------------------------------------- alignment


@pytest.mark.parametrize("size", [48, 112])
def test_alignment_puts_eyes_on_template(astronaut, astro_det, size):
    crop, m = align_face(astronaut, astro_det.points[0], size=size, return_matrix=True)
    assert crop.shape == (size, size) and crop.dtype == np.uint8
    target = template_points(size)
    eyes = transform_points(astro_det.points[0, :2], m)
    assert np.abs(eyes - target[:2]).max() < 1.5


@pytest.mark.parametrize("size", [48, 112, 224])
def test_warp_moves_pixels_where_the_matrix_says(astro_det, size):
    """A bright blob drawn at each eye lands at the matrix-mapped position (any scale)."""
    pts = astro_det.points[0]
    yy, xx = np.mgrid[0:512, 0:512]
    for eye in pts[:2]:
        blob = (255 * np.exp(-((xx - eye[0]) ** 2 + (yy - eye[1]) ** 2) / (2 * 4.0**2))).astype(np.uint8)
        crop, m = align_face(blob, pts, size=size, border="constant", return_matrix=True)
        c = crop.astype(float)
        cy, cx = np.mgrid[0:size, 0:size]
        centroid = np.array([(c * cx).sum(), (c * cy).sum()]) / c.sum()
        np.testing.assert_allclose(centroid, transform_points(eye, m), atol=0.1)


def test_align_face_options(astronaut, astro_det):
    pts = astro_det.points[0]
    for size in ALIGN_SIZES:
        assert align_face(astronaut, pts, size=size, color="rgb").shape == (size, size, 3)
    gray = cv2.cvtColor(astronaut, cv2.COLOR_RGB2GRAY)
    assert align_face(gray, pts, size=64, color="rgb").shape == (64, 64, 3)
    wide = align_face(astronaut, pts, size=112, template="arcface", margin=0.2, return_matrix=True)[1]
    tight = align_face(astronaut, pts, size=112, template="arcface", return_matrix=True)[1]
    assert np.linalg.det(wide[:, :2]) < np.linalg.det(tight[:, :2])  # margin zooms out
    with pytest.raises(ValueError, match=r"size must be one of \[48, 64, 112, 224\]"):
        align_face(astronaut, pts, size=50)
    with pytest.raises(ValueError, match="color"):
        align_face(astronaut, pts, color="bgr")
    with pytest.raises(ValueError, match="NaN"):
        align_face(astronaut, np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="image must have dtype uint8"):
        align_face(astronaut.astype(np.float32), pts)


def test_similarity_matrix_recovers_a_known_transform():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = 0.3, 0.7, np.array([5.0, -3.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rot.T + shift
    m = al.similarity_matrix(src, dst, weights=[1, 2, 3, 4, 5])
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], shift, atol=1e-9)


# ---------------------------------------------------------------- sequences


def test_synthetic_sequence_is_stable(shifted_sequence, shifted_runs, astro_det):
    frames, warps = shifted_sequence
    crops, records = shifted_runs[0]
    assert crops.shape == (8, 48, 48)
    assert list(records["frame"]) == list(range(8))
    assert (records["status"] == "detected").all() and not records["tracked"].any()
    assert list(records.columns) == list(al.SEQUENCE_COLUMNS)
    # true eye positions: frame 0's detected eyes moved by the known warps
    eyes0 = records.loc[0, ["left_eye_x", "left_eye_y", "right_eye_x", "right_eye_y"]].to_numpy(float)
    truth = np.stack([transform_points(eyes0.reshape(2, 2), w) for w in warps])
    in_crop = crop_points(truth, records)
    drift = landmark_drift(in_crop)
    assert drift.shape == (7,)
    assert drift.max() < 1.0, drift
    assert np.abs(in_crop - template_points(48)[:2]).max() < 2.0


def test_tracking_matches_detecting_every_frame(shifted_runs, shifted_sequence):
    frames, warps = shifted_sequence
    (crops1, rec1), (crops3, rec3) = shifted_runs
    assert crops3.shape == crops1.shape
    assert list(rec3["status"]) == list(rec1["status"])
    assert list(rec3["tracked"]) == [False, True, True, False, True, True, False, True]
    box1 = rec1[list(dt.BOX_COLUMNS)].to_numpy()
    box3 = rec3[list(dt.BOX_COLUMNS)].to_numpy()
    assert np.abs(box3 - box1).max() < 4.0  # boxes are ~90 px wide
    eyes = lambda rec: rec[["left_eye_x", "left_eye_y", "right_eye_x", "right_eye_y"]].to_numpy()
    assert np.abs(eyes(rec3) - eyes(rec1)).max() < 2.5
    assert landmark_drift(crop_points(eyes(rec1)[:, None, :2], rec3)).max() < 1.0


def test_tracking_loses_face_and_recovers(shifted_sequence):
    frames, _ = shifted_sequence
    frames = frames[:6].copy()
    frames[2] = 128  # the face vanishes on an in-between (tracked) frame
    crops, rec = align_sequence(frames, detect_every=3, device="cpu")
    assert list(rec["status"]) == ["detected", "detected", "none", "detected", "detected", "detected"]
    assert list(rec["tracked"]) == [False, True, False, False, True, True]
    assert not crops[2].any() and crops[3].any()


def test_sequence_input_errors():
    with pytest.raises(ValueError, match="frames is empty"):
        align_sequence([])
    with pytest.raises(ValueError, match="same height and width"):
        align_sequence([np.zeros((20, 20), np.uint8), np.zeros((30, 20), np.uint8)])
    with pytest.raises(ValueError, match=r"detect_every must be an integer >= 1"):
        align_sequence(np.zeros((2, 20, 20), np.uint8), detect_every=0)
    with pytest.raises(ValueError, match=r"tracker must be one of \['flow', 'carry'\]"):
        align_sequence(np.zeros((2, 20, 20), np.uint8), tracker="kalman")


def test_ckplus_sequence_is_stable(ck_frames):
    crops, records = align_sequence(ck_frames, detect_every=1, device="cpu")
    assert crops.shape == (10, 48, 48)
    assert (records["status"] == "detected").all()
    # independent measure: the raw per-frame detections mapped by the (smoothed) alignment
    raw = detect_faces(ck_frames, device="cpu").points[:, :2]
    drift = landmark_drift(crop_points(raw, records))
    print(f"\nCK+ S052/004 frames 1-10: eye drift in 48x48 crops, px: {np.round(drift, 2)}")
    assert np.nanmax(drift) < 1.5


def test_throughput_is_measured(ck_frames):
    t0 = __import__("time").perf_counter()
    det = detect_faces(ck_frames[:4], device="cpu")
    detect_fps = 4 / (__import__("time").perf_counter() - t0)
    assert (det.status == "detected").all()
    res = al.measure_throughput(ck_frames, detect_every=5, device="cpu")
    print(
        f"\nMTCNN on CPU, 640x490 CK+ frames: detection {detect_fps:.1f} frames/s; "
        f"align_sequence every frame {res['fps_every_frame']:.1f} frames/s, "
        f"detect_every=5 {res['fps_tracked']:.1f} frames/s, speed-up x{res['speedup']:.2f}"
    )
    assert res["n_frames"] == 10 and res["detect_every"] == 5
    assert res["fps_every_frame"] > 0 and res["fps_tracked"] > 0  # timings: no exact value to expect
    assert res["speedup"] == pytest.approx(res["fps_tracked"] / res["fps_every_frame"])  # same frames, both ways


def test_resample_sequence():
    ramp = np.arange(10, dtype=np.float64)[:, None, None] * np.ones((1, 4, 4))
    out = resample_sequence(ramp, length=16, method="interpolate")
    assert out.shape == (16, 4, 4)
    np.testing.assert_allclose(out[:, 0, 0], np.linspace(0, 9, 16))
    assert out[0, 0, 0] == 0 and out[-1, 0, 0] == 9
    short = resample_sequence(ramp, length=4)
    np.testing.assert_allclose(short[:, 0, 0], [0, 3, 6, 9])
    frames = np.arange(5, dtype=np.uint8)[:, None, None] * np.ones((1, 2, 2), np.uint8)
    uni = resample_sequence(frames, length=9, method="uniform")
    assert uni.dtype == np.uint8 and uni.shape == (9, 2, 2)
    assert uni[0, 0, 0] == 0 and uni[-1, 0, 0] == 4
    assert set(np.diff(uni[:, 0, 0].astype(int))) <= {0, 1}
    assert resample_sequence(frames[:1], length=3).shape == (3, 2, 2)
    with pytest.raises(ValueError, match=r"method must be one of \['interpolate', 'uniform'\]"):
        resample_sequence(ramp, method="cubic")


# ----------------------------------------------------------- normalisation


def test_normalize():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 200, (3, 48, 48)).astype(np.uint8)
    z = normalize(imgs, "zscore")
    assert z.shape == imgs.shape and z.dtype == np.float32
    np.testing.assert_allclose(z.reshape(3, -1).mean(1), 0, atol=1e-5)
    np.testing.assert_allclose(z.reshape(3, -1).std(1), 1, atol=1e-4)
    q = normalize(imgs, "quantile")
    np.testing.assert_allclose(np.median(q.reshape(3, -1), axis=1), 0, atol=1e-6)
    q25, q75 = np.percentile(q.reshape(3, -1), [25, 75], axis=1)
    np.testing.assert_allclose(q75 - q25, 1, atol=1e-5)
    for method in ("histeq", "clahe"):
        out = normalize(imgs, method)
        assert out.shape == imgs.shape and out.dtype == np.uint8
    assert normalize(np.zeros((1, 8, 8), np.uint8), "zscore").max() == 0  # constant image, no NaN
    np.testing.assert_array_equal(normalize(imgs, "none"), imgs)
    with pytest.raises(ValueError) as err:
        normalize(imgs, "minmax")
    for name in NORMALIZATIONS:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="uint8"):
        normalize(imgs.astype(np.float32), "clahe")
    with pytest.raises(ValueError, match=r"shape \(n, H, W\)"):
        normalize(imgs[0], "zscore")


# -------------------------------------------------------------------- cache


def test_cache_hits_and_misses(tmp_path, shifted_runs):
    frames = np.random.default_rng(0).integers(0, 255, (3, 20, 20), dtype=np.uint8)
    calls = []
    crops, records = shifted_runs[1]  # a real align_sequence result

    def compute():
        calls.append(1)
        return crops, records

    params = {"size": 48, "method": "mtcnn", "detect_every": 3}
    (crops1, rec1), hit1 = cached_align(tmp_path, frames, params, compute)
    (crops2, rec2), hit2 = cached_align(tmp_path, frames, dict(reversed(params.items())), compute)
    assert (hit1, hit2) == (False, True) and len(calls) == 1
    np.testing.assert_array_equal(crops1, crops2)
    pd.testing.assert_frame_equal(rec1, rec2)
    np.testing.assert_array_equal(crops1, crops)
    pd.testing.assert_frame_equal(rec1, records)
    _, hit3 = cached_align(tmp_path, frames, {**params, "size": 64}, compute)
    _, hit4 = cached_align(tmp_path, frames[::-1], params, compute)
    assert (hit3, hit4) == (False, False) and len(calls) == 3
    key = al.cache_key(frames, params)
    assert (tmp_path / key / "crops.npz").is_file() and (tmp_path / key / "records.parquet").is_file()
    # files are keyed by content by default
    img = tmp_path / "a.png"
    cv2.imwrite(str(img), frames[0])
    _, hit5 = cached_align(tmp_path, [img], params, compute)
    _, hit6 = cached_align(tmp_path, [str(img)], params, compute)
    assert (hit5, hit6) == (False, True)
    with pytest.raises(ValueError, match="JSON"):
        al.cache_key(frames, {"f": object()})


# ------------------------------------------------------------------ errors


def test_clear_errors_for_bad_files_and_inputs(tmp_path):
    bad_jpg = tmp_path / "broken.jpg"
    bad_jpg.write_bytes(b"this is not a jpeg" * 10)
    with pytest.raises(DataError, match="cannot decode .*broken.jpg"):
        read_image(bad_jpg)
    with pytest.raises(DataError, match="no such file.*missing.png"):
        read_image(tmp_path / "missing.png")
    bad_mp4 = tmp_path / "broken.mp4"
    bad_mp4.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="broken.mp4"):
        read_video_frames(bad_mp4)
    with pytest.raises(DataError, match="missing.mp4"):
        read_video_frames(tmp_path / "missing.mp4")
    with pytest.raises(ValueError, match="images is empty"):
        detect_faces([])
    with pytest.raises(ValueError, match="images must have dtype uint8; got float64"):
        detect_faces(np.zeros((1, 32, 32)))
    with pytest.raises(ValueError, match="single RGB image"):
        detect_faces(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match=r"method must be one of \['mtcnn', 'haar', 'landmarks'\]"):
        detect_faces(np.zeros((1, 32, 32), np.uint8), method="dlib")


def test_read_image(tmp_path):
    png = tmp_path / "g.png"
    cv2.imwrite(str(png), np.full((10, 12), 7, np.uint8))
    assert read_image(png).shape == (10, 12)
    assert read_image(png, color="rgb").shape == (10, 12, 3)
    jpg = tmp_path / "c.jpg"
    bgr = np.zeros((8, 8, 3), np.uint8)
    bgr[..., 2] = 255  # red in OpenCV's BGR order
    cv2.imwrite(str(jpg), bgr)
    rgb = read_image(jpg)
    assert rgb.shape == (8, 8, 3) and rgb[..., 0].mean() > 200  # BGR file -> RGB array (red first)
    assert read_image(jpg, color="gray").shape == (8, 8)


def test_read_video(shared_data_dir):
    frames, fps = read_video_frames(shared_data_dir / "media" / "single_face.mp4", max_frames=3, return_fps=True)
    assert frames.shape == (3, 360, 640, 3) and frames.dtype == np.uint8 and fps > 0
    assert read_video_frames(shared_data_dir / "media" / "single_face.mp4", max_frames=2, color="gray").shape == (
        2, 360, 640,
    )


def test_single_face_photo(shared_data_dir):
    det = detect_faces([read_image(shared_data_dir / "media" / "single_face.jpg")], device="cpu")
    assert det.status[0] == "detected" and det.n_faces[0] == 1 and det.scores[0] > 0.99


def test_haar_fallback_only_where_mtcnn_finds_nothing(astronaut, monkeypatch):
    blank = np.zeros_like(astronaut)
    frames = [astronaut, blank]
    with pytest.raises(ValueError, match=r"fallback must be one of \[None, 'haar'\]"):
        detect_faces(frames, fallback="dlib")
    # MTCNN finds the astronaut: the fallback is not used
    det = detect_faces(frames, device="cpu", fallback="haar")
    assert list(det.status) == ["detected", "none"]
    # an MTCNN that misses everything: Haar rescues the astronaut, invents nothing on the blank frame
    real = dt._detect_mtcnn

    def blind(frames, *args):
        return [dt._frame_result("mtcnn", f.shape, [], [], []) for f in frames]

    monkeypatch.setattr(dt, "_detect_mtcnn", blind)
    assert list(detect_faces(frames).status) == ["none", "none"]
    det = detect_faces(frames, fallback="haar")
    assert list(det.status) == ["fallback", "none"]
    assert np.isnan(det.scores).all() and det.n_faces[0] >= 1
    monkeypatch.setattr(dt, "_detect_mtcnn", real)


def test_sequence_records_keep_the_raw_detections(shifted_runs, shifted_sequence):
    frames, _ = shifted_sequence
    (_, rec1), (_, rec3) = shifted_runs
    raw = detect_faces(frames, device="cpu").points
    got = rec1[list(al.RAW_POINT_COLUMNS)].to_numpy().reshape(-1, 5, 2)
    np.testing.assert_allclose(got, raw, atol=1e-6)  # detect_every=1: every frame's own detection
    raw3 = rec3[list(al.RAW_POINT_COLUMNS)].to_numpy()
    assert np.isnan(raw3[rec3["tracked"].to_numpy()]).all()
    assert np.isfinite(raw3[~rec3["tracked"].to_numpy()]).all()
    # the smoothed points differ from the raw ones, the raw ones are what eye_drift uses
    drift = faces.eye_drift(rec1.assign(sequence_id="a"))
    assert len(drift) == 7 and drift["drift_px"].max() < 1.5


# ------------------------------------------------------------- data-set glue


def test_align_ckplus_sequences_with_landmarks_and_cache(tiny_release, tmp_path):
    seqs = tiny_release
    n = sum(s.n_frames for s in seqs.labelled)
    res = faces.align_ckplus_sequences(seqs, cache_dir=tmp_path)
    assert len(res) == 2 and res.methods == ("landmarks", "landmarks") and res.cache_hits == (False, False)
    assert list(res.records.columns) == list(faces.FRAME_COLUMNS) and len(res.records) == n == res.n_frames
    assert (res.records["status"] == "landmarks").all()
    for seq, crops in zip(res.sequences, res.crops):
        rec = res.records[res.records["sequence_id"] == seq.sequence_id]
        assert crops.shape == (seq.n_frames, 48, 48) and crops.dtype == np.uint8 and crops.all(axis=(1, 2)).any()
        assert rec["frame"].tolist() == list(range(seq.n_frames))  # frame order kept
        assert rec["frame_file"].tolist() == [p.name for p in seq.frame_paths]
    assert res.labels.tolist() == [CKPLUS_CLASSES.index(s.label) for s in seqs.labelled]
    table = res.table()
    assert list(table.columns) == list(faces.SEQUENCE_TABLE_COLUMNS)
    assert table["landmarks"].tolist() == [s.n_frames for s in seqs.labelled] and (table["found_rate"] == 1).all()
    # the landmarks are the evidence: the eyes stay put in the crops
    drift = faces.eye_drift(res.records)
    assert len(drift) == n - 2 and drift["drift_px"].max() < 0.5
    assert faces.drift_summary(drift)["n_over_threshold"] == 0
    # second call: read back, identical
    again = faces.align_ckplus_sequences(seqs, cache_dir=tmp_path, **res.params)
    assert again.cache_hits == (True, True)
    for a, b in zip(res.crops, again.crops):
        np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(res.records, again.records)
    other = faces.align_ckplus_sequences(seqs, size=64, cache_dir=tmp_path, max_sequences=1)
    assert other.cache_hits == (False,) and other.crops[0].shape[1:] == (64, 64)
    # fixed-length clips, normalised
    clips = res.clips(16, normalization="zscore")
    assert clips.shape == (2, 16, 48, 48) and clips.dtype == np.float32
    np.testing.assert_allclose(clips.reshape(32, -1).mean(axis=1), 0, atol=1e-4)
    assert res.clips(5, "uniform", "clahe").dtype == np.uint8


def test_align_ckplus_sequences_with_mtcnn_agrees_with_landmarks(tiny_release, tmp_path):
    seq = tiny_release.labelled[:1]
    ref = faces.align_ckplus_sequences(seq)
    mt = faces.align_ckplus_sequences(seq, "mtcnn", cache_dir=tmp_path, device="cpu")
    assert mt.methods == ("mtcnn",) and (mt.records["status"] == "detected").all()
    err = faces.point_error(mt.records, ref.records)
    assert err["eye_error_iod"].max() < 0.15, err
    tracked = faces.align_ckplus_sequences(seq, "mtcnn", detect_every=4, cache_dir=tmp_path, device="cpu")
    assert tracked.records["tracked"].tolist() == [t % 4 != 0 for t in range(seq[0].n_frames)]
    counts = faces.status_counts(tracked.records)
    assert counts.loc["all", "tracked"] == seq[0].n_frames - 2 and counts.loc["all", "none"] == 0
    assert faces.eye_drift(tracked.records, reference=mt.records)["drift_px"].max() < 1.5


def test_method_choice_and_errors(tiny_release, monkeypatch):
    assert faces.resolve_method("auto", True) == "landmarks"
    assert faces.resolve_method("auto", False) == "mtcnn"
    assert faces.resolve_method("haar", True) == "haar"
    monkeypatch.setattr(faces, "mtcnn_available", lambda: False)
    assert faces.resolve_method("auto", False) == "haar"  # the fallback detector
    with pytest.raises(ValueError, match="no Landmarks"):
        faces.resolve_method("landmarks", False)
    with pytest.raises(ValueError, match=r"method must be one of \['auto', 'landmarks', 'mtcnn', 'haar'\]"):
        faces.align_ckplus_sequences(tiny_release, "dlib")
    with pytest.raises(ValueError, match="seqs must be a CKPlusSequences"):
        faces.align_ckplus_sequences("S010")
    with pytest.raises(ValueError, match="no sequence"):
        faces.align_ckplus_sequences([])
    with pytest.raises(ValueError, match="landmarks is read from each sequence"):
        faces.align_ckplus_sequences(tiny_release, landmarks=np.zeros((8, 68, 2)))


def test_status_counts_never_hide_a_frame():
    rec = pd.DataFrame({"sequence_id": ["a", "a", "a", "b"], "status": ["detected", "none", "fallback", "landmarks"],
                        "tracked": [False, True, False, False], "n_faces": [1, 0, 2, 1]})
    counts = faces.status_counts(rec, by="sequence_id")
    assert counts.loc["a", ["n_frames", "detected", "none", "fallback", "tracked", "multi_face"]].tolist() == [
        3, 1, 1, 1, 1, 1]
    assert counts.loc["a", "found_rate"] == pytest.approx(2 / 3) and counts.loc["b", "found_rate"] == 1
    assert faces.status_summary(rec) == {"n_frames": 4, "detected": 1, "landmarks": 1, "fallback": 1, "none": 1,
                                         "tracked": 1, "multi_face": 1, "found_rate": 0.75}
    with pytest.raises(ValueError, match="unknown statuses"):
        faces.status_counts(rec.assign(status="lost"))


def test_real_ckplus_sequence_through_the_glue(shared_data_dir, tmp_path):
    seqs = load_ckplus_sequences(shared_data_dir / "ckplus" / "sequences")
    seq = min(seqs.labelled, key=lambda s: s.n_frames)  # 8 frames of 640x490
    res = faces.align_ckplus_sequences([seq], cache_dir=tmp_path, device="cpu")
    assert res.methods == ("mtcnn",) and (res.records["status"] == "detected").all()
    assert (res.records["n_faces"] == 1).all()
    drift = faces.eye_drift(res.records)
    print(f"\n{seq.sequence_id}: eye drift in 48x48 crops, px: {np.round(drift['drift_px'].to_numpy(), 2)}")
    assert drift["drift_px"].max() < 1.5
    assert faces.align_ckplus_sequences([seq], cache_dir=tmp_path, device="cpu").cache_hits == (True,)


def test_no_face_video_through_the_glue(shared_data_dir, tmp_path):
    path = shared_data_dir / "media" / "no_face.mp4"
    frames, crops, rec, hit = faces.align_video(path, cache_dir=tmp_path, step=10, max_frames=6, device="cpu")
    assert not hit and len(frames) == len(crops) == len(rec) == 6
    assert (rec["status"] == "none").all() and not crops.any()  # reported, not invented
    assert rec["frame"].tolist() == [0, 10, 20, 30, 40, 50]
    assert faces.align_video(path, cache_dir=tmp_path, step=10, max_frames=6, device="cpu")[3]


def test_grid_figures_lay_out_panels():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fer_lib.core import plots

    drawn = []
    fig = plots.grid_figure(5, lambda ax, k: drawn.append(k), ncols=3, panel_size=(1.0, 2.0), extra_height=0.5,
                            suptitle="x")
    assert drawn == [0, 1, 2, 3, 4] and len(fig.axes) == 6  # 2 rows of 3, the 6th panel blank
    assert tuple(fig.get_size_inches()) == pytest.approx((3.0, 4.5))
    images = np.zeros((3, 20, 10), np.uint8)
    fig = plots.image_grid(images, ["a", "b", "c"], ncols=8, size=1.0)  # ncols capped at the 3 images
    assert len(fig.axes) == 3 and [ax.get_title() for ax in fig.axes] == ["a", "b", "c"]
    fig = faces.detections_figure(list(images), boxes=[[1, 1, 8, 18]] * 3, ncols=2, size=1.0)
    assert len(fig.axes) == 4 and tuple(fig.get_size_inches()) == pytest.approx((2.0, 2 * 2.0 + 0.5))
    with pytest.raises(ValueError, match="n must be an integer >= 1; got 0"):
        plots.image_grid(images[:0])
    plt.close("all")
