"""The compute device: CUDA or CPU, and whether this CPU has native bf16."""

import torch

from fer_lib.core.validation import check_option


def cpu_bf16_supported():
    """Whether this CPU runs bf16 convolutions and matrix products natively.

    True where oneDNN reports bf16 support (AVX512_BF16 or AMX-BF16, e.g.
    Intel Sapphire Rapids or AMD Zen 4 and newer). Elsewhere bf16 would be
    emulated and slower than float32, so training falls back to float32.

    Returns
    -------
    bool
    """
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


#: Devices of :class:`TrainConfig` (``"auto"``: CUDA when available, else CPU).
DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device="auto"):
    """The one place that turns a ``device`` argument into a ``torch.device``.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}, "cuda:N", torch.device or None, default="auto"
        ``"auto"`` (or ``None``): CUDA if available, else the CPU.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        For another value, or ``"cuda"`` on a machine without CUDA.
    """
    if device is None:
        device = "auto"
    if isinstance(device, torch.device):
        device = device.type if device.index is None else str(device)
    if isinstance(device, str) and device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but CUDA is not available; use device='cpu' or 'auto'")
        return torch.device(device)
    check_option("device", device, DEVICES)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but CUDA is not available; use device='cpu' or 'auto'")
    return torch.device(device)
