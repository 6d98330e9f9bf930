"""Where and how a model runs: device, precision (bf16 autocast or float32), memory format, threads."""

import os
from dataclasses import dataclass

import torch

from fer_lib.core.device import cpu_bf16_supported, resolve_device
from fer_lib.core.validation import check_positive_int

#: Environment variable that sets the CPU threads of training and prediction
#: (e.g. ``FER_NUM_THREADS=1`` for each of two processes run side by side).
THREADS_ENV = "FER_NUM_THREADS"


#: Environment variable that turns bf16 autocast on the CPU off (``0``) even
#: where the CPU has native bf16, e.g. to compare with fp32.
CPU_BF16_ENV = "FER_CPU_BF16"


_THREADS_SET = []  # the thread count this process has set, once (see cpu_threads)


def cpu_threads(n_threads=None):
    """Set PyTorch's CPU threads to the free cores, once per process, and return the count.

    Parameters
    ----------
    n_threads : int, optional
        Threads to use. Default: ``$FER_NUM_THREADS`` if set, else the cores
        this process may run on (``os.sched_getaffinity``), at most
        ``torch.get_num_threads()``'s default. More threads than free cores
        cut throughput several times, so two trainings side by side should
        each get ``FER_NUM_THREADS=1``.

    Returns
    -------
    int
        The thread count in force.

    Raises
    ------
    ValueError
        For a non-positive count or a ``FER_NUM_THREADS`` that is not an integer.
    """
    if n_threads is None:
        env = os.environ.get(THREADS_ENV)
        if env is not None:
            try:
                n_threads = int(env)
            except ValueError:
                raise ValueError(f"{THREADS_ENV} must be a positive integer; got {env!r}") from None
        elif _THREADS_SET:
            return torch.get_num_threads()
        else:
            free = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            n_threads = min(free, torch.get_num_threads())
    n_threads = check_positive_int("n_threads", n_threads)
    if torch.get_num_threads() != n_threads:
        torch.set_num_threads(n_threads)
    _THREADS_SET[:] = [n_threads]
    return n_threads


def runtime_text(info):
    """One line for a log: e.g. ``"cpu, fp32 (no native bf16: AVX2), channels-last, 2 threads"``.

    Parameters
    ----------
    info : dict
        ``metadata["runtime"]`` of a checkpoint (what ``Runtime.describe`` returns).

    Returns
    -------
    str
    """
    parts = [info["device"]]
    precision = info["precision"]
    if info.get("cpu_bf16") is False:
        precision += f" (no native bf16: {info.get('cpu_capability', 'unknown')})"
    parts.append(precision)
    if info.get("channels_last"):
        parts.append("channels-last")
    if info.get("threads") is not None:
        parts.append(f"{info['threads']} thread{'s' if info['threads'] != 1 else ''}")
    return ", ".join(parts)


@dataclass
class Runtime:
    """Where and how a model runs: device, autocast dtype, memory format, threads.

    On CUDA: autocast to ``config.amp_dtype`` and channels-last as configured.
    On a CPU with native bf16: bf16 autocast (``amp``) and channels-last as
    configured (float16 is not used on a CPU). On other CPUs: float32, and
    channels-last as configured (it also helps float32 convolutions on CPU).
    """

    device: torch.device
    amp_dtype: object  # torch.dtype or None
    channels_last: bool
    threads: int = None

    @classmethod
    def from_config(cls, config, device=None):
        dev = resolve_device(config.device if device is None else device)
        amp_dtype, threads = None, None
        if dev.type == "cuda":
            if config.amp:
                amp_dtype = torch.bfloat16 if config.amp_dtype == "bfloat16" else torch.float16
        else:
            threads = cpu_threads()
            if config.amp and os.environ.get(CPU_BF16_ENV, "1") != "0" and cpu_bf16_supported():
                amp_dtype = torch.bfloat16
        return cls(dev, amp_dtype, bool(config.channels_last), threads)

    @property
    def precision(self):
        """``"bf16-autocast"``, ``"fp16-autocast"`` or ``"fp32"``."""
        if self.amp_dtype is None:
            return "fp32"
        return "bf16-autocast" if self.amp_dtype == torch.bfloat16 else "fp16-autocast"

    def describe(self):
        """JSON-ready summary for logs, checkpoints and metrics."""
        info = {"device": str(self.device), "precision": self.precision, "channels_last": self.channels_last}
        if self.device.type == "cpu":
            info.update(threads=self.threads, cpu_bf16=cpu_bf16_supported(),
                        cpu_capability=torch.backends.cpu.get_cpu_capability())
        else:
            info["gpu"] = torch.cuda.get_device_name(self.device)
        return info

    def autocast(self):
        if self.amp_dtype is None:
            return torch.autocast(self.device.type, enabled=False)
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
