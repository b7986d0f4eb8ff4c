"""FedProx's proximal term in YOLOv8 training: a large mu keeps the weights near the start."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from rinr_core.errors import ConfigError
from rinr_core.synthetic import generate_sequence
from rinr_runtime.detector import (
    TrainSettings,
    build_model,
    get_weights,
    train,
    weight_names,
    write_dataset,
)

CLASSES = ["object"]
SETTINGS = TrainSettings(epochs=3, imgsz=64, batch=4, device="cpu", seed=0, lr0=0.01)


def _parameter_distance(weights: list[np.ndarray], start: list[np.ndarray],
                        names: list[str]) -> float:
    """Distance over the trainable arrays only (BatchNorm statistics move with the data)."""
    return math.sqrt(sum(float(np.sum((w - s) ** 2)) for w, s, name
                         in zip(weights, start, names, strict=True)
                         if not name.endswith(("running_mean", "running_var"))))


@pytest.mark.slow
def test_a_large_proximal_mu_keeps_the_model_near_the_global_weights(tmp_path: Path) -> None:
    # Prepare
    frames = generate_sequence(10, width=64, height=48, seed=5)
    data_yaml = write_dataset(frames[:8], frames[8:], tmp_path / "ds", CLASSES)
    model = build_model(SETTINGS, CLASSES)
    start, names = get_weights(model), weight_names(model)

    # Execute: the same training from the same start, without and with the proximal term
    plain = train(data_yaml, SETTINGS, init_weights=start, workdir=tmp_path / "plain")
    prox = train(data_yaml, SETTINGS, init_weights=start, workdir=tmp_path / "prox",
                 proximal_mu=100.0)

    # Assert
    far = _parameter_distance(plain.weights, start, names)
    near = _parameter_distance(prox.weights, start, names)
    assert far > 0 and near < 0.7 * far, (near, far)
    assert all(np.all(np.isfinite(w)) for w in prox.weights)


def test_a_negative_proximal_mu_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="proximal_mu"):
        train(tmp_path / "data.yaml", SETTINGS, workdir=tmp_path, proximal_mu=-1.0)
