"""Tests for rinr_runtime.detector: offline Ultralytics setup, YOLO datasets, training, weights."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rinr_core.datasets import load_sequence
from rinr_core.errors import ConfigError, DatasetError
from rinr_core.frames import Frame
from rinr_core.synthetic import generate_sequence
from rinr_runtime.detector import (
    TrainOutcome,
    TrainSettings,
    build_model,
    evaluate,
    get_weights,
    prepare_offline,
    resolve_device,
    set_weights,
    train,
    weight_names,
    weights_nbytes,
    write_dataset,
)

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"
CLASSES = ["object"]
FAST = TrainSettings(epochs=1, imgsz=64, batch=8, device="cpu", seed=0)


def _distance(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """Euclidean distance between two weight lists seen as one long vector."""
    return math.sqrt(sum(float(np.sum((x - y) ** 2)) for x, y in zip(a, b, strict=True)))


def _forbid_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every DNS lookup and socket connection fail; return the list of attempts."""
    attempts: list[str] = []

    def refuse(kind: str):
        def _refuse(*args, **kwargs):
            attempts.append(f"{kind}{args[1:2] if kind == 'connect' else args[:1]}")
            raise OSError(f"network access attempted in a test ({kind})")

        return _refuse

    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    return attempts


@pytest.fixture(scope="module")
def frames() -> list[Frame]:
    return generate_sequence(16, width=96, height=64, seed=3)


@pytest.fixture(scope="module")
def data_yaml(frames: list[Frame], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(frames[:12], frames[12:], tmp_path_factory.mktemp("ds"), CLASSES)


@pytest.fixture(scope="module")
def trained(
    data_yaml: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[TrainOutcome, list[str]]:
    """One training run from yolov8n.yaml with the network made unusable."""
    with pytest.MonkeyPatch.context() as mp:
        attempts = _forbid_network(mp)
        outcome = train(data_yaml, FAST, workdir=tmp_path_factory.mktemp("run"))
    return outcome, attempts


# --- offline setup --------------------------------------------------------------------------


def test_prepare_offline_sets_env_font_and_disables_sync() -> None:
    # Execute
    config_dir = prepare_offline()
    again = prepare_offline()

    # Assert
    import ultralytics.utils as uutils

    assert again == config_dir
    assert os.environ["YOLO_OFFLINE"] == "1"
    assert Path(uutils.USER_CONFIG_DIR).parent.resolve() == config_dir
    font = config_dir / "Ultralytics" / "Arial.ttf"
    assert font.read_bytes()[:4] == b"\x00\x01\x00\x00"  # a TrueType font
    assert uutils.SETTINGS["sync"] is False
    assert uutils.ONLINE is False
    assert config_dir != Path.home() / ".config"


def test_prepare_offline_in_fresh_process_uses_its_folder_and_no_network(tmp_path: Path) -> None:
    # Prepare: a child process where DNS and connections fail loudly and are recorded
    script = f"""
import json, socket, sys
from pathlib import Path
calls = []
def refuse(*a, **k):
    calls.append(repr(a[:2]))
    raise OSError("no network")
socket.getaddrinfo = socket.create_connection = socket.socket.connect = refuse
from rinr_runtime.detector import prepare_offline
d = prepare_offline(Path({str(tmp_path / "cfg")!r}))
from ultralytics.models.yolo.detect import DetectionTrainer  # noqa: F401
from ultralytics.utils.checks import check_font
print(json.dumps({{"dir": str(d), "calls": calls, "font": str(check_font("Arial.ttf"))}}))
"""
    # Execute
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.startswith("YOLO_")},
        capture_output=True,
        text=True,
        timeout=120,
    )

    # Assert
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["calls"] == []
    assert Path(report["dir"]) == (tmp_path / "cfg").resolve()
    assert report["font"] == str((tmp_path / "cfg" / "Ultralytics" / "Arial.ttf").resolve())
    settings = json.loads((tmp_path / "cfg" / "Ultralytics" / "settings.json").read_text())
    assert settings["sync"] is False


# --- settings and models --------------------------------------------------------------------


@pytest.mark.parametrize("model", ["yolov8n.pt", "weights/missing.pt"])
def test_hub_name_without_file_raises_config_error(
    model: str, data_yaml: Path, tmp_path: Path
) -> None:
    # Prepare
    settings = replace(FAST, model=model)

    # Execute / Assert
    with pytest.raises(ConfigError, match="no downloads"):
        build_model(settings, CLASSES)
    with pytest.raises(ConfigError, match="weights file"):
        train(data_yaml, settings, workdir=tmp_path)
    assert not (tmp_path / "train").exists()


@pytest.mark.parametrize(
    "bad", [{"epochs": 0}, {"imgsz": 16}, {"batch": 0}, {"workers": -1}, {"lr0": float("nan")}]
)
def test_train_settings_reject_invalid_values(bad: dict) -> None:
    with pytest.raises(ConfigError, match=next(iter(bad))):
        TrainSettings(**bad)


def test_resolve_device_keeps_explicit_and_picks_automatically() -> None:
    import torch

    assert resolve_device("cpu") == "cpu"
    assert resolve_device(None) == ("0" if torch.cuda.is_available() else "cpu")


# --- weights ------------------------------------------------------------------------------


def test_get_set_weights_round_trip_is_exact_and_skips_integer_buffers() -> None:
    # Prepare
    source = build_model(FAST, CLASSES)
    target = build_model(replace(FAST, seed=1), CLASSES)
    weights = get_weights(source)

    # Execute
    before = get_weights(target)
    set_weights(target, weights)
    after = get_weights(target)

    # Assert
    assert _distance(before, weights) > 0  # different seeds, different starting weights
    assert all(np.array_equal(a, w) for a, w in zip(after, weights, strict=True))
    assert all(w.dtype == np.float32 for w in weights)
    names = weight_names(source)
    assert len(names) == len(weights)
    assert not any(name.endswith("num_batches_tracked") for name in names)
    assert any(name.endswith("running_var") for name in names)
    assert weights_nbytes(weights) == 4 * sum(w.size for w in weights)


def test_build_model_is_deterministic_per_seed() -> None:
    a = get_weights(build_model(FAST, CLASSES))
    b = get_weights(build_model(FAST, CLASSES))
    assert _distance(a, b) == 0.0


def test_set_weights_rejects_other_architecture_and_non_finite_values() -> None:
    # Prepare
    model = build_model(FAST, CLASSES)
    weights = get_weights(model)
    two_classes = get_weights(build_model(FAST, ["a", "b"]))
    poisoned = [w.copy() for w in weights]
    poisoned[0].flat[0] = np.nan

    # Execute / Assert
    with pytest.raises(ConfigError, match="float tensors"):
        set_weights(model, weights[:-1])
    with pytest.raises(ConfigError, match="number of classes"):
        set_weights(model, two_classes)
    with pytest.raises(ConfigError, match="NaN"):
        set_weights(model, poisoned)
    assert all(np.array_equal(a, w) for a, w in zip(get_weights(model), weights, strict=True))


# --- dataset ------------------------------------------------------------------------------


def test_write_dataset_writes_yolo_layout_readable_back(
    frames: list[Frame], tmp_path: Path
) -> None:
    # Prepare: train as (image, box, label) tuples like decoded INRs, val as Frames
    train_items = [(f.image, f.box, f.label) for f in frames[:3]]

    # Execute
    data_yaml = write_dataset(train_items, frames[3:5], tmp_path / "ds", CLASSES)

    # Assert
    import yaml

    data = yaml.safe_load(data_yaml.read_text())
    assert Path(data["path"]).is_absolute() and Path(data["path"]) == (tmp_path / "ds").resolve()
    assert (data["train"], data["val"], data["names"]) == (
        "images/train",
        "images/val",
        {0: "object"},
    )
    assert len(list((tmp_path / "ds" / "images" / "val").glob("*.png"))) == 2
    loaded = load_sequence(data_yaml)
    assert not loaded.skipped
    assert [f.box for f in loaded.frames] == [f.box for f in frames[:5]]
    assert all(
        np.array_equal(a.image, b.image) for a, b in zip(loaded.frames, frames[:5], strict=True)
    )


def test_write_dataset_replaces_earlier_images(frames: list[Frame], tmp_path: Path) -> None:
    # Prepare
    write_dataset(frames[:6], frames[6:8], tmp_path, CLASSES)

    # Execute
    write_dataset(frames[:2], frames[2:3], tmp_path, CLASSES)

    # Assert
    assert len(list((tmp_path / "images" / "train").iterdir())) == 2
    assert len(list((tmp_path / "labels" / "train").iterdir())) == 2


def test_write_dataset_rejects_unknown_label_and_empty_split(
    frames: list[Frame], tmp_path: Path
) -> None:
    with pytest.raises(DatasetError, match="'car'"):
        write_dataset([(frames[0].image, frames[0].box, "car")], frames[1:2], tmp_path, CLASSES)
    with pytest.raises(DatasetError, match="val"):
        write_dataset(frames[:2], [], tmp_path, CLASSES)


# --- training and evaluation ---------------------------------------------------------------


def test_train_from_yaml_offline_returns_finite_metrics_and_trained_weights(
    trained: tuple[TrainOutcome, list[str]],
) -> None:
    # Prepare
    outcome, attempts = trained
    initial = get_weights(build_model(FAST, CLASSES))

    # Assert
    assert attempts == []
    for key in ("map50", "map50_95", "precision", "recall"):
        assert 0.0 <= outcome.metrics[key] <= 1.0 and math.isfinite(outcome.metrics[key])
    assert outcome.metrics["train_seconds"] > 0
    assert (outcome.metrics["num_train"], outcome.metrics["num_val"]) == (12, 4)
    assert (outcome.metrics["epochs"], outcome.metrics["imgsz"]) == (1, 64)
    assert [w.shape for w in outcome.weights] == [w.shape for w in initial]
    assert all(w.dtype == np.float32 and np.all(np.isfinite(w)) for w in outcome.weights)
    assert _distance(outcome.weights, initial) > 0  # training changed the model


def test_train_weights_path_holds_the_returned_weights(
    trained: tuple[TrainOutcome, list[str]],
) -> None:
    # Prepare
    outcome, _ = trained

    # Execute: building from the checkpoint loads its (fp16-stored) weights
    from_file = get_weights(build_model(replace(FAST, model=str(outcome.weights_path)), CLASSES))

    # Assert
    for stored, returned in zip(from_file, outcome.weights, strict=True):
        np.testing.assert_allclose(stored, returned, rtol=2e-3, atol=1e-4)


def test_init_weights_are_the_starting_point_of_training(
    data_yaml: Path, tmp_path: Path, trained: tuple[TrainOutcome, list[str]]
) -> None:
    # Prepare: a clearly different start than the default (seed 0) initialisation
    default_start = get_weights(build_model(FAST, CLASSES))
    other_start = get_weights(build_model(replace(FAST, seed=7), CLASSES))
    without_init, _ = trained

    # Execute
    with_init = train(data_yaml, FAST, init_weights=other_start, workdir=tmp_path)

    # Assert: each run ends near where it started, far from the other start
    assert _distance(with_init.weights, other_start) < 0.5 * _distance(
        with_init.weights, default_start
    )
    assert _distance(without_init.weights, default_start) < 0.5 * _distance(
        without_init.weights, other_start
    )


def test_evaluate_accepts_checkpoint_and_model_and_leaves_model_unchanged(
    data_yaml: Path, trained: tuple[TrainOutcome, list[str]]
) -> None:
    # Prepare
    outcome, _ = trained
    model = build_model(FAST, CLASSES)
    set_weights(model, outcome.weights)
    names_before = weight_names(model)

    # Execute
    from_path = evaluate(outcome.weights_path, data_yaml, FAST)
    from_model = evaluate(model, data_yaml, FAST)

    # Assert
    for metrics in (from_path, from_model):
        assert set(metrics) >= {"map50", "map50_95"}
        assert all(0.0 <= v <= 1.0 for v in metrics.values())
    assert weight_names(model) == names_before  # the evaluated copy was fused, not the model
    assert all(
        np.array_equal(a, w) for a, w in zip(get_weights(model), outcome.weights, strict=True)
    )
    assert from_model["map50"] == pytest.approx(from_path["map50"], abs=0.05)


# --- slow, real data (opt-in) -----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.shared_data
@pytest.mark.skipif(os.environ.get("RINR_SLOW") != "1", reason="set RINR_SLOW=1 to run slow checks")
def test_vot_bag_jpeg_baseline_reaches_clearly_non_zero_map(tmp_path: Path) -> None:
    # Prepare: every 5th frame held out, evaluated against its original JPEG
    sequence = SHARED_DATA / "vot_bag"
    if not sequence.is_dir():
        pytest.skip(f"real data not found at {sequence}")
    frames = load_sequence(sequence).frames
    train_frames = [f for i, f in enumerate(frames) if i % 5]
    val_frames = frames[::5]
    data_yaml = write_dataset(train_frames, val_frames, tmp_path / "ds", [frames[0].label])
    settings = TrainSettings(epochs=30, imgsz=256, batch=16, seed=0)

    # Execute
    outcome = train(data_yaml, settings, workdir=tmp_path / "run")

    # Assert
    assert outcome.metrics["map50"] > 0.5, outcome.metrics
    assert (outcome.metrics["num_train"], outcome.metrics["num_val"]) == (
        len(train_frames),
        len(val_frames),
    )
