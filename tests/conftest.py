"""Shared fixtures: where the real data sets are, and a small synthetic data set."""

import os
from pathlib import Path

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


def pytest_configure(config):
    # nbval executes the notebooks with their defaults (the smoke preset); their
    # outputs go to runs/_test/smoke so a test run never touches runs/smoke.
    # Kernels started by nbval inherit this environment.
    os.environ.setdefault("FER_RUNS_DIR", str(PROJECT_ROOT / "runs" / "_test"))
