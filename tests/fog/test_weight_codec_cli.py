"""``rinr weights``, ``rinr plan --weight-codec`` and the placement inputs size weights by codec."""

from __future__ import annotations

import json

import pytest

from fog.placement import detector_size
from rinr_runtime.cli import main
from rinr_runtime.config import RuntimeConfig
from rinr_runtime.planning import weights_size

FP32_BYTES = 12_085_772  # yolov8n.yaml, one class: 3,021,443 float32 values


def test_rinr_weights_prints_size_error_and_times(capsys: pytest.CaptureFixture[str]) -> None:
    # Execute
    code = main(["weights", "--model", "yolov8n.yaml", "--codec", "sgq", "--bits", "4", "--json"])

    # Assert
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert out["bytes_fp32"] == FP32_BYTES and out["bytes"] * 7 < FP32_BYTES
    assert out["ratio"] == pytest.approx(FP32_BYTES / out["bytes"])
    assert 0 < out["rel_error"] < 0.05 and out["within_bounds"]
    assert out["encode_s"] > 0 and out["decode_s"] > 0


def test_rinr_weights_refuses_a_missing_checkpoint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "--model", "/nowhere/model.pt"]) == 2
    assert "not an existing file" in capsys.readouterr().err


def test_plan_sizes_the_weights_with_the_codec(capsys: pytest.CaptureFixture[str]) -> None:
    # Execute
    plain = main(["plan", "--rounds", "10", "--json"])
    fp32 = json.loads(capsys.readouterr().out)
    coded = main(["plan", "--rounds", "10", "--weight-codec", "sgq", "--json"])
    sgq = json.loads(capsys.readouterr().out)

    # Assert: the real compressed size moves the fog/edge crossover down
    assert plain == coded == 0
    assert sgq["inputs"]["model_bytes"] == weights_size("yolov8n.yaml", ["object"], "sgq").bytes
    assert sgq["inputs"]["model_bytes"] * 7 < fp32["inputs"]["model_bytes"]
    assert fp32["crossover_devices"]["residual-inr"] is None
    assert sgq["crossover_devices"]["residual-inr"] is not None


def test_the_runs_placement_inputs_use_the_weight_codec() -> None:
    plain = detector_size(RuntimeConfig.from_run_config({}))
    coded = detector_size(RuntimeConfig.from_run_config({"weight-codec": "int8"}))
    assert plain == (FP32_BYTES, 298)
    assert coded[1] == 1 and 3.9 < plain[0] / coded[0] < 4.1
    assert weights_size("yolov8n.yaml", ["object"], "int8").repeat_bytes == 52
