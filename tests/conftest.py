"""Shared fixtures: where the real data sets are, a small synthetic data set, tiny trained checkpoints."""

import os
from pathlib import Path

import numpy as np
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
#: Real data sets beside the checkout (research-only; never copied into the repo).
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


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
    ``model_kwargs`` of :func:`fer_lib.models.build_model`, e.g.
    ``width=8``) trained for one epoch on 32 random ``uint8`` images of
    ``size x size``, written by :func:`fer_lib.training.train_model` with
    ``preprocessing`` as its upstream preprocessing. Its predictions are
    meaningless; the file is a real checkpoint, which is what the tests of
    checkpoint readers need. Seeded, and built once per session and set of
    arguments.
    """
    import torch

    from fer_lib.constants import FER2013_CLASSES
    from fer_lib.models import build_model
    from fer_lib.reproducibility import seed_everything
    from fer_lib.training import TrainConfig, train_model

    made = {}

    def make(size=48, preprocessing=None, **model_kwargs):
        key = (size, preprocessing, tuple(sorted(model_kwargs.items())))
        if key not in made:
            out = tmp_path_factory.mktemp("checkpoint")
            rng = np.random.default_rng(0)
            X = rng.integers(0, 256, (32, size, size), dtype=np.uint8)
            y = np.arange(32) % len(FER2013_CLASSES)
            # One thread: the machine's cores are shared, and it keeps the weights reproducible.
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                seed_everything(0)  # the initial weights too, as train_model asks
                model = build_model("small", len(FER2013_CLASSES), dropout=0.0, **model_kwargs)
                config = TrainConfig(epochs=1, batch_size=16, dropout=0.0, device="cpu")
                train_model(model, (X, y), (X[:14], y[:14]), config, out_dir=out, progress=False,
                            class_names=FER2013_CLASSES, preprocessing=preprocessing)
            finally:
                torch.set_num_threads(threads)
            made[key] = out / "best.pt"
        return made[key]

    return make


def pytest_configure(config):
    # nbval executes the notebooks with their defaults (the smoke preset); their
    # outputs go to runs/_test/smoke so a test run never touches runs/smoke.
    # Kernels started by nbval inherit this environment.
    os.environ.setdefault("FER_RUNS_DIR", str(PROJECT_ROOT / "runs" / "_test"))
