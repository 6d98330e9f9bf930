"""The environment: MTCNN (facenet-pytorch, installed without its old pins) runs on current torch."""

import numpy as np
import pytest
import torch
from packaging.version import Version

from fer_lib.core.environment import package_versions
from fer_lib.core.reproducibility import seed_everything


def test_mtcnn_runs_on_current_torch():
    from facenet_pytorch import MTCNN
    from skimage import data

    assert Version(torch.__version__.split("+")[0]) >= Version("2.3"), "the point is that it runs past its pin"
    boxes, probs, points = MTCNN(device="cpu").detect(data.astronaut(), landmarks=True)
    assert boxes.shape == (1, 4) and probs[0] > 0.99
    x1, y1, x2, y2 = boxes[0]
    assert (points[0, :, 0] > x1).all() and (points[0, :, 0] < x2).all()
    assert (points[0, :, 1] > y1).all() and (points[0, :, 1] < y2).all()


def test_package_versions_are_recorded():
    versions = package_versions()
    assert versions["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert versions["fer_lib"] != "not installed"
    assert package_versions(("surely-not-a-package",)) == {"surely-not-a-package": "not installed"}


def test_seed_everything_returns_prints_and_repeats(capsys):
    assert seed_everything(7) == 7
    assert "seed=7" in capsys.readouterr().out
    a = (np.random.rand(), torch.rand(1).item())
    seed_everything(7)
    assert (np.random.rand(), torch.rand(1).item()) == a
    with pytest.raises(ValueError, match="seed must be a non-negative integer; got -1"):
        seed_everything(-1)


def test_hardware_names_the_cpu_and_its_bf16():
    from fer_lib.core.environment import hardware

    info = hardware()
    assert info["cpu_model"] and info["cpu_capability"] in ("DEFAULT", "AVX2", "AVX512", "ZVECTOR", "VSX", "NEON",
                                                              "SVE256", "SVE")
    assert info["cpu_bf16"] in ("native", "not native (fp32 training)")
