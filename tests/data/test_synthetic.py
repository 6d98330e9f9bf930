"""Tests of the synthetic data set generator (fer_lib.data.synthetic), on tiny configs."""

import dataclasses
import gzip
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from fer_lib.data import synthetic as S
from fer_lib.data.constants import (
    CKPLUS48_FRAMES_PER_CLIP,
    CKPLUS_CLASSES,
    CKPLUS_CODES,
    FER2013_CLASSES,
    FER2013_COLUMNS,
    FER2013_SPLITS,
)
from fer_lib.data.synthetic import ck_sequences

#: ~120 FER images and 9 short CK+ sequences: about a second to generate.
TINY = S.SyntheticConfig(
    seed=3,
    fer_per_class_train=10,
    fer_per_class_public=3,
    fer_per_class_private=3,
    fer_identities=20,
    ck_subjects=4,
    ck_sequences_per_subject=2,
    ck_min_frames=7,
    ck_max_frames=10,
    ck_canvas=(96, 128),
)
#: Even smaller, for the reuse/regenerate tests.
MINI = S.SyntheticConfig(
    fer_per_class_train=2,
    fer_per_class_public=1,
    fer_per_class_private=1,
    ck_subjects=1,
    ck_sequences_per_subject=1,
    ck_min_frames=7,
    ck_max_frames=7,
    ck_canvas=(64, 80),
)

FRAME_RE = re.compile(r"^(S\d{3})_(\d{3})_(\d{8})\.png$")
FLOAT = r"-?\d\.\d{7}e[+-]\d{2}"


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic") / "data"
    manifest = S.write_synthetic_dataset(root, TINY, progress=False)
    return root, manifest


def _files(root):
    return sorted(p.relative_to(root).as_posix() for p in Path(root).rglob("*") if p.is_file())


# --------------------------------------------------------------------------- FER-2013


def test_fer_csv_format(tiny_root):
    root, manifest = tiny_root
    df = pd.read_csv(root / "fer2013" / "fer2013.csv.gz")
    assert list(df.columns) == list(FER2013_COLUMNS)
    assert df["emotion"].dtype.kind == "i"
    assert set(df["emotion"]) == set(range(len(FER2013_CLASSES)))
    assert set(df["Usage"]) == set(FER2013_SPLITS)
    pixels = np.stack([np.array(s.split(), dtype=int) for s in df["pixels"]])
    assert pixels.shape == (len(df), 48 * 48)
    assert pixels.min() >= 0 and pixels.max() <= 255
    table = pd.crosstab(df["Usage"], df["emotion"])
    assert (table.values > 0).all(), "every class must be present in every split"
    expected = S.fer_class_counts(TINY)
    for split in FER2013_SPLITS:
        for code, name in enumerate(FER2013_CLASSES):
            assert table.loc[split, code] == expected[split][name]
    # imbalance: disgust rarest, happy most common
    train = expected["Training"]
    assert min(train, key=train.get) == "disgust" and max(train, key=train.get) == "happy"
    assert manifest["counts"]["fer2013"]["total"] == len(df)
    # the real file order: Training rows, then PublicTest, then PrivateTest
    order = [FER2013_SPLITS.index(u) for u in df["Usage"]]
    assert order == sorted(order)


def test_make_fer_images_shapes():
    images, labels, usage = S.make_fer_images(MINI)
    n = sum(sum(c.values()) for c in S.fer_class_counts(MINI).values())
    assert images.shape == (n, 48, 48) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype.kind == "i"
    assert usage.shape == (n,) and set(usage) == set(FER2013_SPLITS)
    assert images.std() > 10  # not blank


# --------------------------------------------------------------------------- CK+


def test_ckplus_layout(tiny_root):
    root, manifest = tiny_root
    seq_root = root / "ckplus" / "sequences"
    img_root = seq_root / "cohn-kanade-images"
    H, W = TINY.ck_canvas
    subjects = sorted(p.name for p in img_root.iterdir())
    assert subjects == [f"S{501 + i}" for i in range(TINY.ck_subjects)]
    n_seq = n_lab = n_frames = 0
    for subj_dir in sorted(img_root.iterdir()):
        seq_ids = sorted(p.name for p in subj_dir.iterdir())
        assert seq_ids == [f"{k:03d}" for k in range(1, len(seq_ids) + 1)]
        assert len(seq_ids) >= TINY.ck_sequences_per_subject
        for seq_dir in sorted(subj_dir.iterdir()):
            n_seq += 1
            names = sorted(p.name for p in seq_dir.iterdir())
            T = len(names)
            assert TINY.ck_min_frames <= T <= TINY.ck_max_frames
            for f, name in enumerate(names, start=1):
                m = FRAME_RE.match(name)
                assert m, name
                assert (m.group(1), m.group(2), int(m.group(3))) == (subj_dir.name, seq_dir.name, f)
            frame = cv2.imread(str(seq_dir / names[0]), cv2.IMREAD_UNCHANGED)
            assert frame.dtype == np.uint8 and frame.shape == (H, W)
            n_frames += T
            # landmarks for every frame: 68 rows of two floats in the official style
            lm_dir = seq_root / "Landmarks" / subj_dir.name / seq_dir.name
            assert sorted(p.name for p in lm_dir.iterdir()) == [n[:-4] + "_landmarks.txt" for n in names]
            text = (lm_dir / (names[-1][:-4] + "_landmarks.txt")).read_text()
            lines = text.splitlines()
            assert len(lines) == 68
            assert all(re.fullmatch(rf"\s+{FLOAT}\s+{FLOAT}", line) for line in lines), lines[0]
            assert np.loadtxt(lm_dir / (names[0][:-4] + "_landmarks.txt")).shape == (68, 2)
            # emotion file: named after the last frame, one float code 1..7
            emo_dir = seq_root / "Emotion" / subj_dir.name / seq_dir.name
            if emo_dir.exists():
                n_lab += 1
                emo = sorted(p.name for p in emo_dir.iterdir())
                assert emo == [names[-1][:-4] + "_emotion.txt"]
                content = (emo_dir / emo[0]).read_text()
                assert re.fullmatch(rf"\s+{FLOAT}\n", content), repr(content)
                code = float(content)
                assert code == int(code) and int(code) in CKPLUS_CODES
                # CK+48: the last 3 frames, 48x48, in the class folder
                folder = root / "ckplus" / "CK+48" / CKPLUS_CODES[int(code)]
                for name in names[-CKPLUS48_FRAMES_PER_CLIP:]:
                    crop = cv2.imread(str(folder / name), cv2.IMREAD_UNCHANGED)
                    assert crop is not None, folder / name
                    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    counts = manifest["counts"]["ckplus"]
    assert (counts["sequences"], counts["labelled"], counts["frames"]) == (n_seq, n_lab, n_frames)
    assert n_lab == TINY.ck_subjects * TINY.ck_sequences_per_subject
    assert counts["unlabelled"] == n_seq - n_lab >= 1
    ck48 = root / "ckplus" / "CK+48"
    assert sorted(p.name for p in ck48.iterdir()) == sorted(CKPLUS_CLASSES)
    assert len(list(ck48.rglob("*.png"))) == CKPLUS48_FRAMES_PER_CLIP * n_lab == counts["ck48_images"]


def test_unlabelled_fraction_rounds_up():
    plan = ck_sequences._ck_plan(dataclasses.replace(S.SyntheticConfig(), ck_subjects=40, ck_sequences_per_subject=3))
    n_unlab = sum(kind == "unlabelled" for items in plan for kind, _ in items)
    assert n_unlab == 6  # ceil(0.05 * 120)
    plan = ck_sequences._ck_plan(MINI)
    assert sum(kind == "unlabelled" for items in plan for kind, _ in items) == 1  # at least one


def test_subjects_get_different_classes():
    seqs = S.make_sequences(dataclasses.replace(TINY, ck_subjects=2, ck_sequences_per_subject=3, ck_max_frames=7))
    for subj in ("S501", "S502"):
        labels = [s["label"] for s in seqs if s["subject"] == subj and s["label"] is not None]
        assert len(labels) == 3 and len(set(labels)) == 3


def test_manifest(tiny_root):
    root, manifest = tiny_root
    on_disk = json.loads((root / "manifest.json").read_text())
    assert on_disk == manifest
    assert manifest["generator"] == S.GENERATOR_NAME
    assert manifest["generator_version"] == S.GENERATOR_VERSION
    assert manifest["seed"] == TINY.seed
    assert S.SyntheticConfig.from_dict(manifest["config"]) == TINY
    assert manifest["positive_control_classes"] == list(S.POSITIVE_CONTROL_CLASSES)
    assert manifest["description"]


# --------------------------------------------------------------------------- determinism


def test_determinism(tiny_root, tmp_path):
    root, _ = tiny_root
    again = tmp_path / "again"
    S.write_synthetic_dataset(again, TINY, progress=False)
    files = _files(root)
    assert files == _files(again)
    for rel in files:
        assert (root / rel).read_bytes() == (again / rel).read_bytes(), rel

    other = tmp_path / "other"
    S.write_synthetic_dataset(other, dataclasses.replace(TINY, seed=TINY.seed + 1), progress=False)
    csv_a = gzip.decompress((root / "fer2013" / "fer2013.csv.gz").read_bytes())
    csv_b = gzip.decompress((other / "fer2013" / "fer2013.csv.gz").read_bytes())
    assert csv_a != csv_b
    frame = "ckplus/sequences/cohn-kanade-images/S501/001/S501_001_00000007.png"
    a = cv2.imread(str(root / frame), cv2.IMREAD_UNCHANGED)
    b = cv2.imread(str(other / frame), cv2.IMREAD_UNCHANGED)
    assert a is not None and b is not None and not np.array_equal(a, b)


def test_items_do_not_depend_on_counts():
    small = S.make_fer_images(MINI)[0]
    bigger = S.make_fer_images(dataclasses.replace(MINI, fer_per_class_train=4))[0]
    # each image is seeded by (seed, split, class, index): the small set is a subset
    assert all(any(np.array_equal(im, other) for other in bigger) for im in small)


# --------------------------------------------------------------------------- geometry


def _sample(image, xy):
    x, y = np.round(xy).astype(int)
    return float(image[y - 1 : y + 2, x - 1 : x + 2].mean())


@pytest.mark.parametrize("k", range(6))
def test_landmarks_land_on_the_face(k):
    rng = np.random.default_rng(100 + k)
    identity = S.sample_identity(rng)
    nuis = dataclasses.replace(S.sample_nuisance(rng, "ckplus"), noise_std=0.0, illum_strength=0.0)
    image, lm = S.render_face(identity, "neutral", 0.0, nuis, (144, 192))
    assert lm.shape == (68, 2) and lm.dtype == np.float64
    assert (lm[:, 0] > 0).all() and (lm[:, 0] < 191).all() and (lm[:, 1] > 0).all() and (lm[:, 1] < 143).all()
    for eye in (lm[36:42], lm[42:48]):
        cheek = (lm[2] + lm[31]) / 2 if eye is lm[36:42] else (lm[14] + lm[35]) / 2
        assert _sample(image, eye.mean(0)) < _sample(image, cheek) - 10
    # the iBUG order: jaw left to right, chin lowest, brows above eyes above nose above mouth
    assert lm[0, 0] < lm[8, 0] < lm[16, 0] or nuis.angle_deg > 45
    assert lm[17:27, 1].mean() < lm[36:48, 1].mean() < lm[31:36, 1].mean() < lm[48:68, 1].mean() < lm[8, 1]
    assert lm[36, 0] < lm[39, 0] < lm[42, 0] < lm[45, 0]
    assert lm[48, 0] < lm[51, 0] < lm[54, 0]


def test_written_landmarks_match_frames(tiny_root):
    root, _ = tiny_root
    seq_root = root / "ckplus" / "sequences"
    for png in sorted((seq_root / "cohn-kanade-images").rglob("*_00000001.png")):
        image = cv2.imread(str(png), cv2.IMREAD_UNCHANGED)
        subj, seq = png.parts[-3], png.parts[-2]
        lm = np.loadtxt(seq_root / "Landmarks" / subj / seq / (png.stem + "_landmarks.txt"))
        pupil = [_sample(image, lm[36:42].mean(0)), _sample(image, lm[42:48].mean(0))]
        cheek = [_sample(image, (lm[2] + lm[31]) / 2), _sample(image, (lm[14] + lm[35]) / 2)]
        assert max(pupil) < min(cheek), png.name


def test_render_face_accepts_a_parameter_vector():
    identity = S.sample_identity(np.random.default_rng(0))
    a, la = S.render_face(identity, "happy", 0.7)
    b, lb = S.render_face(identity, S.expression_vector("happy"), 0.7)
    assert np.array_equal(a, b) and np.array_equal(la, lb)
    with pytest.raises(ValueError, match="expression"):
        S.render_face(identity, np.zeros(3))


# --------------------------------------------------------------------------- positive control


def test_intensity_profiles():
    for T in range(7, 41):
        for name in S.SYNTHETIC_EXPRESSIONS:
            p = S.intensity_profile(name, T)
            assert p.shape == (T,)
            assert p[0] == pytest.approx(0.0)
            if name not in S.POSITIVE_CONTROL_CLASSES:
                assert p[-1] == pytest.approx(1.0)
        s, f = S.intensity_profile("surprise", T), S.intensity_profile("fear", T)
        assert (np.diff(s) > 0).all()
        assert (np.diff(f[-3:]) < 0).all(), "fear must relax over the last 3 frames"
        # the clip (last 3 frames) holds the same intensities, in opposite order
        np.testing.assert_allclose(s[-3:], f[-3:][::-1])
        assert s[-2] == f[-2] == 1.0
        assert 1.3 < f.max() <= 1.5
        h = S.intensity_profile("happy", T)
        assert (np.diff(h) >= 0).all()
    with pytest.raises(ValueError, match="expression"):
        S.intensity_profile("joy", 10)


def test_fear_and_surprise_look_alike_at_apex():
    close, far = [], []
    for k in range(8):
        rng = np.random.default_rng(k)
        identity = S.sample_identity(rng)
        nuis = dataclasses.replace(S.sample_nuisance(rng, "fer2013"), noise_std=0.0, occlusion=None)
        im = {e: S.render_face(identity, e, 1.0, nuis)[0].astype(float) for e in ("fear", "surprise", "happy")}
        close.append(np.abs(im["fear"] - im["surprise"]).mean())
        far.append(np.abs(im["happy"] - im["surprise"]).mean())
        assert close[-1] > 0  # not identical: a subtle cue remains
    assert np.mean(close) < 0.3 * np.mean(far)


def test_fear_and_surprise_move_in_opposite_directions():
    seqs = S.make_sequences(dataclasses.replace(TINY, ck_subjects=7, ck_sequences_per_subject=1, ck_max_frames=20))
    seen = set()
    for seq in seqs:
        if seq["label"] is None or CKPLUS_CODES[seq["label"]] not in S.POSITIVE_CONTROL_CLASSES:
            continue
        name = CKPLUS_CODES[seq["label"]]
        seen.add(name)
        lm = seq["landmarks"][-3:]
        opening = np.linalg.norm(lm[:, 66] - lm[:, 62], axis=1)  # inner lips
        brow_eye = (lm[:, 36:48, 1].mean(1) - lm[:, 17:27, 1].mean(1))  # brow height above the eyes
        if name == "surprise":
            assert (np.diff(opening) > 0).all() and (np.diff(brow_eye) > 0).all()
        else:
            assert (np.diff(opening) < 0).all() and (np.diff(brow_eye) < 0).all()
    assert seen == set(S.POSITIVE_CONTROL_CLASSES)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "field, value",
    [
        ("seed", -1),
        ("fer_per_class_train", 0),
        ("fer_per_class_public", 1.5),
        ("fer_identities", 0),
        ("fer_occlusion_prob", 1.5),
        ("fer_intensity_max", 0.1),  # < fer_intensity_min
        ("ck_subjects", 500),
        ("ck_min_frames", 3),
        ("ck_max_frames", 7),  # < ck_min_frames (8)
        ("ck_canvas", (20, 30)),
        ("ck_canvas", "144x192"),
        ("ck_unlabelled_fraction", -0.1),
        ("noise_strength", "loud"),
    ],
)
def test_config_validation(field, value):
    with pytest.raises(ValueError, match=field):
        S.SyntheticConfig(**{field: value})


def test_config_dict_roundtrip():
    cfg = S.SyntheticConfig(ck_canvas=[120, 160])
    assert cfg.ck_canvas == (120, 160)
    assert S.SyntheticConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown"):
        S.SyntheticConfig.from_dict({"seeds": 1})
    with pytest.raises(ValueError, match="config"):
        S.write_synthetic_dataset("unused", config=42)


# --------------------------------------------------------------------------- ensure / overwrite


def test_ensure_reuses_and_regenerates(tmp_path, capsys):
    root = tmp_path / "data"
    m1 = S.ensure_synthetic_dataset(root, MINI, progress=False)
    assert "generated" in capsys.readouterr().out
    csv = root / "fer2013" / "fer2013.csv.gz"
    stamp = csv.stat().st_mtime_ns
    m2 = S.ensure_synthetic_dataset(root, MINI, progress=False)
    out = capsys.readouterr().out
    assert "reused existing synthetic data" in out and "(same config)" in out
    assert m2 == m1 and csv.stat().st_mtime_ns == stamp

    other = dataclasses.replace(MINI, seed=7, ck_max_frames=8)
    m3 = S.ensure_synthetic_dataset(root, other, progress=False)
    assert "generated" in capsys.readouterr().out
    assert m3["config"] == other.to_dict() and m3["seed"] == 7
    assert json.loads((root / "manifest.json").read_text()) == m3
    # no stale files of the previous data set remain
    assert _files(root) == sorted(set(_files(root)))
    n_png = len(list((root / "ckplus" / "sequences").rglob("*.png")))
    assert n_png == m3["counts"]["ckplus"]["frames"]

    S.ensure_synthetic_dataset(root, other, force=True, progress=False)
    assert "generated" in capsys.readouterr().out


def test_refuses_to_overwrite_foreign_data(tmp_path):
    root = tmp_path / "real"
    (root / "fer2013").mkdir(parents=True)
    (root / "fer2013" / "fer2013.csv.gz").write_bytes(b"not ours")
    with pytest.raises(FileExistsError, match="refusing"):
        S.write_synthetic_dataset(root, MINI, progress=False)
    assert (root / "fer2013" / "fer2013.csv.gz").read_bytes() == b"not ours"


def test_import_has_no_side_effects(tmp_path):
    import subprocess
    import sys

    code = "import fer_lib.data.synthetic, os; print(sorted(os.listdir('.')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
