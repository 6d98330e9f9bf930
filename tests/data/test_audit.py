"""The audit's statistics and duplicate detection, on images with planted duplicates."""

import numpy as np

from fer_lib.data.audit import (
    duplicate_summary,
    find_duplicates,
    imbalance,
    leaked_test_images,
    load_datasets,
    perceptual_hashes,
    pixel_statistics,
)


def planted():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 48, 48)).astype(np.uint8)
    images = np.stack([np.clip(_smooth(im), 0, 255).astype(np.uint8) for im in images])
    groups = np.array(["Training"] * 14 + ["PublicTest"] * 3 + ["PrivateTest"] * 3, dtype=object)
    labels = np.arange(20) % 7
    images[15] = images[2]  # exact, Training / PublicTest, labels differ
    images[18] = np.clip(images[5].astype(int) + 2, 0, 255)  # near: brightness +2
    images[7] = images[3]  # exact within Training
    return images, groups, labels


def _smooth(im):
    import cv2

    return cv2.GaussianBlur(im.astype(np.float32), (0, 0), 3) * 3 - 250


def test_planted_duplicates_found():
    images, groups, labels = planted()
    pairs = find_duplicates(images, groups, labels, near_max_mad=4.0)
    found = {(r.i, r.j, r.kind) for r in pairs.itertuples()}
    assert found == {(2, 15, "exact"), (3, 7, "exact"), (5, 18, "near")}
    summary = duplicate_summary(pairs, ["Training", "PublicTest", "PrivateTest"])
    row = summary[(summary["groups"] == "Training / PublicTest")].iloc[0]
    assert row["pairs"] == 1 and row["label_disagreements"] == 1
    assert leaked_test_images(pairs, "Training", ["PublicTest", "PrivateTest"]) == {"PublicTest": 1, "PrivateTest": 1}


def test_near_threshold_is_respected():
    images, groups, labels = planted()
    pairs = find_duplicates(images, groups, labels, near_max_mad=1.0)
    assert "near" not in set(pairs["kind"])


def test_perceptual_hash_stable_under_small_changes():
    images, _, _ = planted()
    h = perceptual_hashes(np.stack([images[5], images[18], images[0]]))
    assert h[0] == h[1] and h[0] != h[2]


def test_pixel_statistics_and_imbalance():
    images = np.stack([np.zeros((4, 4)), np.full((4, 4), 10), np.arange(16).reshape(4, 4)]).astype(np.uint8)
    stats = pixel_statistics(images, ["a", "a", "b"])
    assert stats.loc["a", "n"] == 2 and stats.loc["a", "n_near_constant"] == 2
    assert stats.loc["b", "n_near_constant"] == 0
    assert imbalance([10, 5, 2]) == 5.0


def test_load_datasets_reports_absent_sets(tmp_path):
    loaded, absent = load_datasets(tmp_path)
    assert loaded == {}
    assert set(absent) == {"fer2013", "ckplus48", "ckplus_sequences"}
    assert "FER-2013 not found" in absent["fer2013"]
