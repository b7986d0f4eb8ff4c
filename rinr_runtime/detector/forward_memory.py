"""Peak memory of one training step, measured the same way for backprop and forward gradients.

``peak = resident + transient``:

- **resident**: the bytes of the tensors that live across steps and exist when the step
  starts: the model's parameters and buffers plus the trainer's state (Ultralytics: its EMA
  copy of the model and the optimizer's moment buffers; forward gradients: the momentum
  buffer and, with FedProx, the anchor weights). Counted from the tensors themselves, each
  storage once.
- **transient**: the highest number of bytes allocated above the level at the step's start
  while the step runs (the batch converted to float, activations, saved tensors,
  gradients, perturbations, losses), until the optimizer has updated the weights.

On a CUDA device both come from the caching allocator's own counters: ``resident`` is
``torch.cuda.memory_allocated()`` at the start (everything on the device) and the peak is
``torch.cuda.max_memory_allocated()`` over the step. On a CPU ``transient`` comes from
``torch.profiler`` with ``profile_memory=True``: every allocation and free of torch's CPU
allocator during the step, in time order; their running sum's maximum is the transient peak.
Memory outside torch's allocator (Python objects, the dataloader's numpy images, the
interpreter) is not counted in either case.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

os.environ.setdefault("KINETO_LOG_LEVEL", "5")  # keep the CPU profiler's banner quiet

CPU_METHOD = "torch.profiler CPU allocations (transient) + live model/trainer tensors (resident)"
CUDA_METHOD = "torch.cuda.max_memory_allocated over the step"
MIB = 1024 * 1024


@dataclass(frozen=True)
class StepMemory:
    """Peak memory of one training step (see the module docstring for how it is measured)."""

    resident_bytes: int
    transient_bytes: int
    method: str

    @property
    def peak_bytes(self) -> int:
        """Resident plus transient bytes: the most memory in use at once during the step."""
        return self.resident_bytes + self.transient_bytes

    def metrics(self) -> dict[str, float]:
        """``peak_mem_mb``, ``resident_mem_mb`` and ``transient_mem_mb`` (MiB)."""
        return {"peak_mem_mb": self.peak_bytes / MIB, "resident_mem_mb": self.resident_bytes / MIB,
                "transient_mem_mb": self.transient_bytes / MIB}


def tensor_bytes(tensors: Iterable[torch.Tensor]) -> int:
    """Bytes of the distinct storages behind ``tensors`` (views and repeats counted once)."""
    seen: set[tuple[str, int]] = set()
    total = 0
    for tensor in tensors:
        storage = tensor.untyped_storage()
        key = (str(tensor.device), storage.data_ptr())
        if key not in seen and storage.data_ptr() != 0:
            seen.add(key)
            total += storage.nbytes()
    return total


def module_tensors(*modules: Any) -> list[torch.Tensor]:
    """Parameters and buffers of every torch module in ``modules`` (``None`` entries skipped)."""
    import torch

    out: list[torch.Tensor] = []
    for module in modules:
        if isinstance(module, torch.nn.Module):
            out.extend(module.parameters())
            out.extend(module.buffers())
    return out


def optimizer_tensors(optimizer: Any) -> list[torch.Tensor]:
    """The tensors in a torch optimizer's per-parameter state (moments, step counters)."""
    import torch

    state = getattr(optimizer, "state", {}) or {}
    return [v for entry in state.values() for v in entry.values() if isinstance(v, torch.Tensor)]


class StepMeter:
    """Measures :class:`StepMemory` around one step: call :meth:`start`, run it, :meth:`stop`.

    Parameters
    ----------
    device
        The device the step runs on (``cuda...`` uses the allocator's counters); may also be
        given to :meth:`start`.
    """

    def __init__(self, device: torch.device | str | None = None) -> None:
        self.device = device
        self._profiler: Any = None
        self._resident = 0
        self.cuda = False
        self.running = False
        self.result: StepMemory | None = None

    def start(self, resident: Iterable[torch.Tensor],
              device: torch.device | str | None = None) -> None:
        """Begin measuring; ``resident`` are the tensors that live across steps (CPU only)."""
        import torch

        self.device = torch.device(device if device is not None else self.device or "cpu")
        self.cuda = self.device.type == "cuda"
        self.running = True
        if self.cuda:
            torch.cuda.synchronize(self.device)
            self._resident = int(torch.cuda.memory_allocated(self.device))
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        self._resident = tensor_bytes(resident)
        self._profiler = torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True)
        self._profiler.start()

    def stop(self) -> StepMemory:
        """End measuring; return (and keep in :attr:`result`) the step's memory."""
        import torch

        if not self.running:
            raise RuntimeError("StepMeter.stop() called before start()")
        self.running = False
        if self.cuda:
            torch.cuda.synchronize(self.device)
            peak = int(torch.cuda.max_memory_allocated(self.device))
            self.result = StepMemory(self._resident, max(peak - self._resident, 0), CUDA_METHOD)
            return self.result
        self._profiler.stop()
        events = [e for e in self._profiler.profiler.kineto_results.events()
                  if e.name() == "[memory]" and e.device_type() == torch.autograd.DeviceType.CPU]
        events.sort(key=lambda e: e.start_ns())
        levels = itertools.accumulate(e.nbytes() for e in events)
        transient = max(itertools.chain([0], levels))
        self._profiler = None
        self.result = StepMemory(self._resident, int(transient), CPU_METHOD)
        return self.result


def attach_step_meter(trainer: Any) -> StepMeter:
    """Measure one step of an Ultralytics trainer (its second batch, or its only one).

    Resident: the model, Ultralytics' EMA copy of it and the optimizer's state. The meter's
    :attr:`StepMeter.result` is set once that step has ended (``None`` if no step ran).
    """
    meter = StepMeter()
    seen = [0]

    def start(tr: Any) -> None:
        total = int(tr.epochs) * len(tr.train_loader)
        if seen[0] == (1 if total > 1 else 0):
            ema = getattr(tr.ema, "ema", None) if tr.ema is not None else None
            meter.start([*module_tensors(tr.model, ema), *optimizer_tensors(tr.optimizer)],
                        device=tr.device)

    def end(_tr: Any) -> None:
        if meter.running:
            meter.stop()
        seen[0] += 1

    trainer.add_callback("on_train_batch_start", start)
    trainer.add_callback("on_train_batch_end", end)
    return meter
