"""Which torch device a run uses: resolved once, validated, and never a silent fallback.

``""`` (or ``None``) means "cuda when one is visible, else cpu". A device that names CUDA
when no CUDA device is visible (no GPU, a driver too old for the installed CUDA wheels, a
simulation that gave the process no GPU share) is an error, not a fallback to the CPU.
"""

from __future__ import annotations

import re

import torch

from rinr_core.errors import ConfigError

DEVICE_PATTERN = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")
"""Device names the project accepts (``torch.device`` spelling; Ultralytics' ``"0"`` is not one)."""


class DeviceUnavailableError(ConfigError):
    """The configured device is not there (CUDA asked for, none visible)."""


def check_device_name(name: str | None) -> None:
    """Refuse a device name torch would not take the way it is meant (``"0"``, ``"gpu"``)."""
    if name and not DEVICE_PATTERN.match(name):
        raise ConfigError(f"device {name!r} is not a torch device; use cpu, cuda, cuda:N or mps "
                          "(or leave it empty: cuda when present)")


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """The device ``name`` means here; :class:`DeviceUnavailableError` when it is not there."""
    if isinstance(name, torch.device):
        name = str(name)
    check_device_name(name)
    if not name:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                f"device {name!r} was asked for but no CUDA device is visible to this process "
                "(no GPU, a driver older than the CUDA build of torch, or a simulation that "
                "gave this node no GPU share: set client-resources num-gpus > 0); "
                "set device = \"cpu\" to run on the CPU")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceUnavailableError(f"device {name!r}: only {torch.cuda.device_count()} "
                                         "CUDA device(s) are visible")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceUnavailableError(f"device {name!r} was asked for but MPS is not available")
    return device


def describe_device(device: torch.device) -> str:
    """``cuda:0 (NVIDIA H200, CUDA 13.0)`` or ``cpu``: what the run report records."""
    if device.type != "cuda":
        return device.type
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)}, CUDA {torch.version.cuda})"


CPU_WORKING_SET_MB = 4.0
"""Working set of one batched call on a CPU: small, so a group's activations stay in cache
(larger ones ran 2x slower than a loop here)."""
GPU_FREE_FRACTION = 0.25
"""Share of the GPU's free memory one batched decode call may use."""
GPU_MAX_MB = 8192.0


def memory_budget_mb(device: torch.device) -> float:
    """How much memory one batched decode or render call may use on ``device``.

    On a GPU a quarter of what is free now (at most :data:`GPU_MAX_MB`): large batches amortize
    kernel launches, and the budget follows the card (a Jetson's shared 8 GB or an H200's
    141 GB) instead of a fixed CPU-sized number; on a CPU :data:`CPU_WORKING_SET_MB`.
    """
    if device.type != "cuda":
        return CPU_WORKING_SET_MB
    free, _ = torch.cuda.mem_get_info(device)
    return float(min(GPU_MAX_MB, max(64.0, GPU_FREE_FRACTION * free / 2**20)))
