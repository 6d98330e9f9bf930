"""Shared fixtures: one torch thread, where the real data sets are, tiny trained checkpoints, toy clips."""

import os
from pathlib import Path

import numpy as np
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: Real data sets beside the checkout (research-only; never copied into the repo).
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """One torch CPU thread for the whole session, restored at its end.

    Bit-identical CPU results (e.g. a retrained model equal to a stored one)
    need a fixed thread count, and one thread keeps the machine's shared
    cores free. Session scope, so that module-scoped fixtures that train
    (set up before any function-scoped fixture) run with it too.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def shared_data_dir():
    """``../shared/data`` if present, else skip with the reason."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (needs ../shared/data beside the checkout)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """Factory of tiny spatial checkpoints: ``tiny_checkpoint(size=48, preprocessing=None, **model_kwargs)``.

    Each call returns the ``best.pt`` of a SmallCNN (7 FER-2013 classes,
    ``model_kwargs`` of :func:`fer_lib.models.cnn.build_model`, e.g.
    ``width=8``) trained for one epoch on 32 random ``uint8`` images of
    ``size x size``, written by :func:`fer_lib.train.loop.train_model` with
    ``preprocessing`` as its upstream preprocessing. Its predictions are
    meaningless; the file is a real checkpoint, which is what the tests of
    checkpoint readers need. Seeded, and built once per session and set of
    arguments.
    """
    from fer_lib.core.reproducibility import seed_everything
    from fer_lib.data.constants import FER2013_CLASSES
    from fer_lib.models.cnn import build_model
    from fer_lib.train.config import TrainConfig
    from fer_lib.train.loop import train_model

    made = {}

    def make(size=48, preprocessing=None, **model_kwargs):
        key = (size, preprocessing, tuple(sorted(model_kwargs.items())))
        if key not in made:
            out = tmp_path_factory.mktemp("checkpoint")
            rng = np.random.default_rng(0)
            X = rng.integers(0, 256, (32, size, size), dtype=np.uint8)
            y = np.arange(32) % len(FER2013_CLASSES)
            seed_everything(0)  # the initial weights too, as train_model asks
            model = build_model("small", len(FER2013_CLASSES), dropout=0.0, **model_kwargs)
            config = TrainConfig(epochs=1, batch_size=16, dropout=0.0, device="cpu")
            train_model(model, (X, y), (X[:14], y[:14]), config, out_dir=out, progress=False,
                        class_names=FER2013_CLASSES, preprocessing=preprocessing)
            made[key] = out / "best.pt"
        return made[key]

    return make


@pytest.fixture(scope="session")
def moving_blob_clips():
    """Toy clips of two classes: ``moving_blob_clips(n_subjects=8, per_subject=4, size=16, seed=0)``.

    Returns ``(X, y, subjects)``: ``X`` uint8 of shape
    (n_subjects * per_subject, 3, size, size), noise in [0, 40) with a bright
    6x3 blob (250) that starts at column 2 and moves 3 pixels a frame to the
    right (class 0), or starts at column ``size - 3`` and moves to the left
    (class 1); ``y`` of shape (n,) alternates 0, 1 within each subject;
    ``subjects`` of shape (n,) holds the subject index 0..n_subjects - 1. The
    motion separates the classes, and so does the blob's side in any single
    frame. Seeded by ``seed``.
    """

    def make(n_subjects=8, per_subject=4, size=16, seed=0):
        rng = np.random.default_rng(seed)
        X, y, subjects = [], [], []
        for s in range(n_subjects):
            for k in range(per_subject):
                label = k % 2
                clip = rng.integers(0, 40, (3, size, size)).astype(np.uint8)
                for t in range(3):
                    col = (2 + 3 * t) if label == 0 else (size - 3 - 3 * t)
                    clip[t, 5:11, col:col + 3] = 250
                X.append(clip)
                y.append(label)
                subjects.append(s)
        return np.stack(X), np.array(y), np.array(subjects)

    return make


def pytest_configure(config):
    # nbval executes the notebooks with their defaults (the smoke preset); their
    # outputs go to runs/_test/smoke so a test run never touches runs/smoke.
    # Kernels started by nbval inherit this environment.
    os.environ.setdefault("FER_RUNS_DIR", str(PROJECT_ROOT / "runs" / "_test"))


#: Arguments of fer_lib.data.synthetic.SyntheticConfig for a tiny CK+ release.
TINY_RELEASE = dict(fer_per_class_train=1, fer_per_class_public=1, fer_per_class_private=1, fer_identities=2,
                    ck_subjects=2, ck_sequences_per_subject=1, ck_min_frames=7, ck_max_frames=8,
                    ck_unlabelled_fraction=0.0)


@pytest.fixture(scope="session")
def tiny_release(tmp_path_factory):
    """A synthetic CK+ release (2 labelled sequences, 7-8 frames of 192x144, with Landmarks/)."""
    from fer_lib.data import synthetic
    from fer_lib.data.ckplus import load_ckplus_sequences

    root = tmp_path_factory.mktemp("tiny") / "data"
    synthetic.write_synthetic_dataset(root, synthetic.SyntheticConfig(**TINY_RELEASE), progress=False)
    return load_ckplus_sequences(root / "ckplus" / "sequences")
