"""What the machine offers (CUDA, bf16, energy counters) and what a run cost on it.

Tuning should cut cost and power as well as loss, so every run records wall time, GPU-hours,
tokens per second and, where the hardware exposes a counter, the energy it used.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmops.errors import UsageError

_RAPL = Path("/sys/class/powercap/intel-rapl:0/energy_uj")


def cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def choose_precision(requested: str, method: str) -> str:
    """bf16 where the GPU supports it, else fp16 on GPU, fp32 on CPU; refuse what cannot run."""
    import torch

    cuda = cuda_available()
    if method == "qlora" and not cuda:
        raise UsageError(
            "method qlora loads the base model in 4 bits with bitsandbytes, which needs a CUDA GPU; "
            "use method: lora on this machine, or run the stage on a gpu runner (resources.gpus: 1)"
        )
    if requested == "auto":
        if not cuda:
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if requested == "fp16" and not cuda:
        raise UsageError("training.precision fp16 needs a CUDA GPU; use bf16 or fp32 (or auto) on CPU")
    if requested == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise UsageError("this GPU has no bf16 support; use training.precision fp16 or auto")
    return requested


@dataclass
class CostMeter:
    """Wall time, GPU-hours and energy of the training loop (from `start()` to `stop()`); on a
    resumed run, of the part after the checkpoint."""

    gpus: int = 0
    started: float = 0.0
    wall_s: float = 0.0
    energy_start: dict[str, float] = field(default_factory=dict)
    energy_j: float | None = None
    energy_source: str | None = None

    def start(self) -> CostMeter:
        self.gpus = _gpu_count()
        self.energy_start = _energy_counters()
        self.started = time.perf_counter()
        return self

    def stop(self) -> CostMeter:
        self.wall_s = time.perf_counter() - self.started
        end = _energy_counters()
        common = [k for k in end if k in self.energy_start]
        if common:
            self.energy_j = sum(end[k] - self.energy_start[k] for k in common)
            self.energy_source = "nvml" if common[0].startswith("gpu") else "rapl"
        return self

    def as_metrics(self, tokens: int, *, timed: int | None = None) -> dict[str, Any]:
        """`tokens` trained in all; `timed` of them in the measured span (less after a resume)."""
        timed = tokens if timed is None else timed
        return {
            "wall_time_s": round(self.wall_s, 3),
            "gpus": self.gpus,
            "gpu_hours": round(self.gpus * self.wall_s / 3600, 6),
            "tokens": tokens,
            "tokens_per_s": round(timed / self.wall_s, 2) if self.wall_s > 0 else None,
            "energy_kwh": round(self.energy_j / 3.6e6, 9) if self.energy_j is not None else None,
            "energy_source": self.energy_source or "unavailable",
        }


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _energy_counters() -> dict[str, float]:
    """Joules so far per device: NVML on NVIDIA GPUs, RAPL on Intel CPUs, or nothing."""
    counters: dict[str, float] = {}
    try:
        import pynvml

        pynvml.nvmlInit()
        for index in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            counters[f"gpu{index}"] = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle) / 1000.0
    except Exception:  # no NVIDIA driver, or a GPU without the counter
        counters = {}
    if counters:
        return counters
    with contextlib.suppress(OSError, ValueError):  # no RAPL, or not readable without root
        counters["cpu"] = int(_RAPL.read_text()) / 1e6
    return counters
