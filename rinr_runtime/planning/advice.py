"""Advice from the placement model: device sweeps, the edge/fog crossover, a recommendation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from rinr_core.errors import ConfigError
from rinr_runtime.planning.model import CRITERIA, Estimate, PlanInputs, _mb, estimate, estimate_all


def sweep(inputs: PlanInputs, devices: Iterable[int],
          pairs: Iterable[tuple[str, str]] | None = None) -> dict[tuple[str, str], np.ndarray]:
    """Total bytes of each ``(codec, placement)`` for every number of devices in ``devices``."""
    counts = list(devices)
    chosen = list(pairs) if pairs is not None else [(e.codec, e.placement) for e in estimate_all(inputs)]
    return {
        (codec, placement): np.array([estimate(inputs.with_devices(k), codec, placement).total_bytes
                                      for k in counts])
        for codec, placement in chosen
    }


def crossover_devices(inputs: PlanInputs, codec: str, max_devices: int = 50,
                      against: str = "edge") -> int | None:
    """Fewest devices from which ``fog`` training moves fewer bytes than ``against`` with ``codec``.

    ``against="serverless"`` instead compares ``edge`` training with ``codec`` to the
    serverless JPEG baseline. ``None`` when that never holds up to ``max_devices`` (or
    already holds at 1 device and every count after it, then 1).
    """
    if against not in ("edge", "serverless"):
        raise ConfigError(f"against must be 'edge' or 'serverless', got {against!r}")
    counts = range(1, max_devices + 1)
    if against == "serverless":
        better, worse = (codec, "edge"), ("jpeg", "serverless")
    else:
        better, worse = (codec, "fog"), (codec, "edge")
    totals = sweep(inputs, counts, [better, worse])
    wins = totals[better] < totals[worse]
    if not wins[-1]:
        return None
    losing = np.flatnonzero(~wins)
    return int(counts[losing[-1] + 1]) if losing.size else 1


@dataclass(frozen=True)
class Recommendation:
    """Where to train with one codec, and why."""

    placement: str
    codec: str
    criterion: str
    reason: str
    edge: Estimate
    fog: Estimate
    crossover: int | None

    def to_dict(self) -> dict:
        """JSON-ready data (the two estimates included)."""
        return {"placement": self.placement, "codec": self.codec, "criterion": self.criterion,
                "reason": self.reason, "crossover_devices": self.crossover,
                "edge": self.edge.to_dict(), "fog": self.fog.to_dict()}


def recommend(inputs: PlanInputs, codec: str = "residual-inr", criterion: str = "bytes",
              max_devices: int = 50) -> Recommendation:
    """Pick ``edge`` or ``fog`` for ``codec``: fewer bytes (or less time); a tie goes to ``edge``.

    Raises
    ------
    ConfigError
        An unknown criterion, or ``criterion="time"`` without the throughputs it needs.
    """
    if criterion not in CRITERIA:
        raise ConfigError(f"unknown criterion {criterion!r}; choose one of {CRITERIA}")
    edge, fog = estimate(inputs, codec, "edge"), estimate(inputs, codec, "fog")
    if criterion == "time" and (edge.total_s is None or fog.total_s is None):
        raise ConfigError(
            "criterion 'time' needs the training throughputs of an edge and of the fog, and the "
            f"{codec} encode/decode throughputs (edge_train_fps, fog_train_fps, encode_fps, "
            "decode_fps); give them or use criterion 'bytes'"
        )
    crossover = crossover_devices(inputs, codec, max_devices)
    value = (lambda e: e.total_bytes) if criterion == "bytes" else (lambda e: e.total_s)
    placement = "fog" if value(fog) < value(edge) else "edge"
    reason = _reason(inputs, codec, criterion, edge, fog, placement, crossover, max_devices)
    return Recommendation(placement, codec, criterion, reason, edge, fog, crossover)


def _reason(inputs: PlanInputs, codec: str, criterion: str, edge: Estimate, fog: Estimate,
            placement: str, crossover: int | None, max_devices: int) -> str:
    """One sentence (or two) on why ``placement`` wins."""
    n = inputs.devices
    if criterion == "bytes":
        compare = (f"training at the fog moves {_mb(fog.total_bytes)} (JPEG uploads "
                   f"{_mb(fog.parts['uploads'])} + weights {_mb(fog.parts['weights'])} to {n} "
                   f"device(s) over {inputs.rounds} round(s)), training at the edges moves "
                   f"{_mb(edge.total_bytes)} (JPEG uploads {_mb(edge.parts['uploads'])} + "
                   f"{codec} payloads {_mb(edge.parts['payloads'])} to {n - 1} other device(s) "
                   f"each" + (f" + FedAvg weights {_mb(edge.parts['weights'])}"
                              if edge.parts["weights"] else "") + ")")
    else:
        compare = (f"training at the fog takes {fog.total_s:.1f} s, at the edges "
                   f"{edge.total_s:.1f} s (transfer + encode + decode + training)")
    if crossover is None:
        where = f"the fog never moves fewer bytes with {codec} up to {max_devices} devices"
    elif crossover == 1:
        where = f"the fog moves fewer bytes with {codec} at any number of devices"
    else:
        where = f"the fog moves fewer bytes with {codec} from {crossover} devices on"
    return f"{placement}: at {n} device(s), {compare}; {where}."


