"""Record the software and hardware a run used, for the book's reproducibility page."""

import platform
import subprocess
from importlib import metadata

#: Packages whose versions the book reports.
REPORTED_PACKAGES = (
    "fer_lib", "torch", "torchvision", "facenet-pytorch", "numpy", "pandas", "scipy",
    "scikit-learn", "scikit-image", "opencv-python-headless", "pillow", "matplotlib",
    "seaborn", "pingouin", "statsmodels", "papermill", "jupytext", "jupyter-book",
    "nbval", "pytest", "tqdm", "pyyaml",
)


def package_versions(packages=REPORTED_PACKAGES):
    """Installed version of each package (``"not installed"`` when absent).

    Returns
    -------
    dict of str to str
    """
    versions = {}
    for name in packages:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def hardware():
    """CPU (model, SIMD capability, native bf16), core count, memory and GPU of this machine, as a dict of strings."""
    import os

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_cores": str(os.cpu_count()),
    }
    try:
        with open("/proc/meminfo") as fh:
            kib = int(fh.readline().split()[1])
        info["memory_gib"] = f"{kib / 2**20:.1f}"
    except (OSError, ValueError, IndexError):
        info["memory_gib"] = "unknown"
    info["cpu_model"] = _cpu_model()
    try:
        import torch

        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
        info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        from fer_lib.core.device import cpu_bf16_supported

        info["cpu_bf16"] = "native" if cpu_bf16_supported() else "not native (fp32 training)"
    except ImportError:
        info["gpu"] = "unknown"
    return info


def _cpu_model():
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else ``platform.processor()``."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit(path):
    """The commit the checkout at ``path`` is on, with ``+dirty`` when files differ; None outside git."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return sha + ("+dirty" if dirty else "")
