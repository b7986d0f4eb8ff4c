"""Measured throughputs for the placement model's time columns, read from a results file.

``bench/throughputs.py`` measures, on the machine it runs on, how many frames per second the
fog encodes and an edge decodes with each codec, and how many training images per second
YOLOv8 gets through; it writes them to ``docs/results/throughputs.json``. ``rinr plan
--throughputs FILE`` reads that file (any JSON object with the keys below works) so the plan's
encode, decode and training seconds come from measurements, and ``--criterion time`` can
recommend a placement by time. The fog's ``placement = auto`` fills the same record from what
its first round measured (``fog.placement.round_throughputs``) and merges it into the plan's
inputs with :func:`apply_throughputs`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from rinr_core.errors import ConfigError
from rinr_runtime.planning.model import PlanInputs


@dataclass(frozen=True)
class Throughputs:
    """Frames (or training images) per second, by the runtime's codec names."""

    encode_fps: dict[str, float] = field(default_factory=dict)
    decode_fps: dict[str, float] = field(default_factory=dict)
    edge_train_fps: float | None = None
    fog_train_fps: float | None = None
    source: str = ""
    note: str = ""


def _rates(data: dict, key: str, path: Path) -> dict[str, float]:
    rates = data.get(key, {})
    if not isinstance(rates, dict) or not all(
            isinstance(v, (int, float)) and v > 0 for v in rates.values()):
        raise ConfigError(f"{path}: {key!r} must map codec names to positive frames/s")
    return {str(k): float(v) for k, v in rates.items()}


def _rate(data: dict, key: str, path: Path) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{path}: {key!r} must be a positive number of images/s, got {value!r}")
    return float(value)


def load_throughputs(path: Path) -> Throughputs:
    """Read ``encode_fps``, ``decode_fps``, ``edge_train_fps`` and ``fog_train_fps`` from ``path``.

    Raises
    ------
    ConfigError
        The file is missing, is not a JSON object, or holds a rate that is not positive.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read throughputs from {path}: {exc}; make one with "
                          "`.venv/bin/python bench/throughputs.py`") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object of throughputs")
    return Throughputs(
        encode_fps=_rates(data, "encode_fps", path), decode_fps=_rates(data, "decode_fps", path),
        edge_train_fps=_rate(data, "edge_train_fps", path),
        fog_train_fps=_rate(data, "fog_train_fps", path), source=str(path),
        note=str(data.get("note", "")),
    )


def apply_throughputs(inputs: PlanInputs, measured: Throughputs) -> PlanInputs:
    """``inputs`` with the rates ``measured`` holds (a rate ``inputs`` has already is kept)."""
    return replace(
        inputs,
        encode_fps={**measured.encode_fps, **inputs.encode_fps},
        decode_fps={**measured.decode_fps, **inputs.decode_fps},
        edge_train_fps=inputs.edge_train_fps or measured.edge_train_fps,
        fog_train_fps=inputs.fog_train_fps or measured.fog_train_fps,
    )
