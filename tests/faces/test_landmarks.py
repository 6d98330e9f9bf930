"""Landmark sequences as features: normalisation (similarity-invariant, motion kept) and the feature arms."""

from pathlib import Path

import numpy as np
import pytest

from fer_lib.data.ckplus import find_ckplus_landmarks, load_ckplus_landmark_sequences
from fer_lib.faces.landmarks import (
    EYE_TARGETS,
    FEATURE_MODES,
    NORMALIZE_REFERENCES,
    eye_centres,
    normalization_matrix,
    normalize_landmarks,
    trajectory_features,
)


def face_sequence(n_frames=5, seed=0):
    """(T, 68, 2): a random face (eyes apart, at y ~ 100) whose mouth (48-67) opens and which drifts a little."""
    rng = np.random.default_rng(seed)
    face = rng.uniform(80, 160, size=(68, 2))
    face[36:42] = [90, 100] + rng.normal(0, 2, (6, 2))
    face[42:48] = [150, 104] + rng.normal(0, 2, (6, 2))
    frames = []
    for t in range(n_frames):
        f = face.copy()
        f[48:68, 1] += 3.0 * t  # the expression's motion
        f += [0.5 * t, -0.25 * t]  # head drift
        frames.append(f)
    return np.stack(frames)


def similar_copy(points, angle, scale, shift):
    """Rotate by ``angle`` (radians), scale, then shift every frame."""
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    return scale * points @ rot.T + np.asarray(shift)


@pytest.mark.parametrize("reference", NORMALIZE_REFERENCES)
def test_similar_copies_normalise_to_the_same_coordinates(reference):
    seq = face_sequence()
    copy = similar_copy(seq, angle=0.4, scale=2.7, shift=(-35.0, 210.0))
    a, b = normalize_landmarks(seq, reference), normalize_landmarks(copy, reference)
    assert a.dtype == np.float32 and a.shape == seq.shape
    np.testing.assert_allclose(a, b, atol=1e-5)
    eyes = eye_centres(a)
    ref = {"first": eyes[0], "last": eyes[-1], "mean": eyes.mean(axis=0)}[reference]
    np.testing.assert_allclose(ref, EYE_TARGETS, atol=1e-5)  # the reference's eyes land on the targets


def test_one_transform_per_sequence_keeps_the_motion():
    seq = face_sequence()
    out = normalize_landmarks(seq).astype(np.float64)
    eyes = eye_centres(seq[0])
    scale = 1.0 / np.linalg.norm(eyes[1] - eyes[0])
    # distances between frames scale uniformly: the motion is kept, only rescaled (and rotated)
    moved = np.linalg.norm(seq[1:] - seq[0], axis=-1) * scale
    np.testing.assert_allclose(np.linalg.norm(out[1:] - out[0], axis=-1), moved, atol=1e-5)
    assert np.abs(out[-1] - out[0]).max() > 0.1  # the later frames were not each normalised on their own
    np.testing.assert_allclose(normalization_matrix(seq) @ [*seq[0, 0], 1.0], out[0, 0], atol=1e-5)


def test_normalise_hand_computed():
    face = np.zeros((68, 2))
    face[36:42] = [10.0, 20.0]
    face[42:48] = [10.0, 24.0]  # eyes 4 px apart, vertically: a face turned by 90 degrees
    face[30] = [13.0, 22.0]  # a point 3 px beside the eyes' midpoint
    out = normalize_landmarks(face[None])[0]
    np.testing.assert_allclose(out[36], [-0.5, 0.0], atol=1e-6)
    np.testing.assert_allclose(out[42], [0.5, 0.0], atol=1e-6)
    np.testing.assert_allclose(out[30], [0.0, -0.75], atol=1e-6)  # rotated by -90 degrees, divided by 4


def test_lists_give_tuples_of_sequences_of_their_own_lengths():
    seqs = [face_sequence(3, seed=1), face_sequence(7, seed=2)]
    out = normalize_landmarks(seqs)
    assert isinstance(out, tuple) and [o.shape for o in out] == [(3, 68, 2), (7, 68, 2)]
    np.testing.assert_allclose(out[1], normalize_landmarks(seqs[1]), atol=0)


def test_normalise_errors():
    seq = face_sequence()
    with pytest.raises(ValueError, match=r"reference must be one of \['first', 'last', 'mean'\]; got 'onset'"):
        normalize_landmarks(seq, reference="onset")
    with pytest.raises(ValueError, match=r"points must have shape \(T, 68, 2\) with T >= 1; got shape \(5, 67, 2\)"):
        normalize_landmarks(seq[:, :67])
    with pytest.raises(ValueError, match=r"points\[1\] must have shape"):
        normalize_landmarks([seq, seq[0]])
    bad = seq.copy()
    bad[2, 5, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        normalize_landmarks(bad)
    flat = np.zeros((2, 68, 2))
    with pytest.raises(ValueError, match=r"eye centres of the reference \('first'\) coincide"):
        normalize_landmarks(flat)


def test_modes_equal_hand_computations():
    seqs = [face_sequence(4, seed=3), face_sequence(4, seed=4)]
    flat = np.stack(seqs).reshape(2, 4, 136)  # x0, y0, x1, y1, ...
    traj = trajectory_features(seqs, length=4, mode="trajectory")  # length == T: no interpolation
    assert traj.dtype == np.float32 and traj.shape == (2, 4, 136)
    np.testing.assert_allclose(traj, flat, rtol=1e-6)
    assert traj[0, 0, 0] == np.float32(seqs[0][0, 0, 0]) and traj[0, 0, 1] == np.float32(seqs[0][0, 0, 1])
    np.testing.assert_allclose(trajectory_features(seqs, 4, "apex"), flat[:, -1], rtol=1e-6)
    np.testing.assert_allclose(trajectory_features(seqs, 4, "mean"), flat.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(trajectory_features(seqs, 4, "displacement"), flat[:, -1] - flat[:, 0], atol=1e-4)
    for mode in FEATURE_MODES[1:]:
        out = trajectory_features(np.stack(seqs), 4, mode)  # an (n, T, 68, 2) array works too
        assert out.dtype == np.float32 and out.shape == (2, 136)


def test_resampling_keeps_onset_and_apex():
    seqs = [face_sequence(3, seed=5), face_sequence(11, seed=6)]
    for length in (2, 5, 16):
        traj = trajectory_features(seqs, length=length)
        assert traj.shape == (2, length, 136)
        for seq, t in zip(seqs, traj):
            np.testing.assert_allclose(t[0], seq[0].ravel(), rtol=1e-6)
            np.testing.assert_allclose(t[-1], seq[-1].ravel(), rtol=1e-6)
    # 3 frames to 5: positions 0, 0.5, 1, 1.5, 2
    traj = trajectory_features(seqs[:1], length=5)[0]
    np.testing.assert_allclose(traj[1], (seqs[0][0] + seqs[0][1]).ravel() / 2, rtol=1e-6)
    np.testing.assert_allclose(traj[2], seqs[0][1].ravel(), rtol=1e-6)
    # apex and displacement do not depend on the length; onset and apex survive any resampling
    for mode in ("apex", "displacement"):
        np.testing.assert_allclose(trajectory_features(seqs, 3, mode), trajectory_features(seqs, 40, mode),
                                   atol=1e-5)
    one = trajectory_features([face_sequence(1)], 6, "displacement")  # a single frame: no motion
    np.testing.assert_array_equal(one, 0)


def test_feature_errors():
    seqs = [face_sequence(3)]
    with pytest.raises(ValueError, match=r"mode must be one of \['trajectory', 'apex', 'mean', 'displacement'\]; "
                                         r"got 'last'"):
        trajectory_features(seqs, 8, "last")
    with pytest.raises(ValueError, match="length must be an integer >= 2; got 1"):
        trajectory_features(seqs, 1)
    with pytest.raises(ValueError, match=r"got an array of shape \(3, 68, 2\) \(wrap one sequence in a list\)"):
        trajectory_features(seqs[0], 8)
    with pytest.raises(ValueError, match="points is empty"):
        trajectory_features([], 8)
    with pytest.raises(ValueError, match=r"points\[1\] must have shape \(T, 68, 2\)"):
        trajectory_features([seqs[0], np.zeros((3, 5, 2))], 8)


def test_synthetic_release_normalises(tiny_release):
    data_dir = Path(tiny_release.root).parent.parent  # the data folder of conftest's synthetic release
    data = load_ckplus_landmark_sequences(find_ckplus_landmarks(data_dir), progress=False)
    normed = normalize_landmarks(data.points)
    assert len(normed) == len(data) == 2
    for seq in normed:
        np.testing.assert_allclose(eye_centres(seq[0]), EYE_TARGETS, atol=1e-5)
        assert (seq[0, 48:68, 1] > 0).all()  # y still points down: the mouth is below the eyes
    feats = {mode: trajectory_features(normed, 8, mode) for mode in FEATURE_MODES}
    assert feats["trajectory"].shape == (2, 8, 136) and feats["mean"].shape == (2, 136)
    np.testing.assert_allclose(feats["displacement"], feats["apex"] - feats["trajectory"][:, 0], atol=1e-5)
    assert np.abs(feats["displacement"]).max() > 0.01  # the expression moves the points
