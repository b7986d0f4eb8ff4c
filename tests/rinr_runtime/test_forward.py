"""Tests for the forward-gradient trainer: estimator, trainable parts, fixed point, memory."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from rinr_core.errors import ConfigError
from rinr_core.synthetic import generate_sequence
from rinr_runtime.detector import (
    ForwardSettings,
    TrainSettings,
    build_model,
    set_weights,
    train,
    write_dataset,
)
from rinr_runtime.detector.forward import ForwardGradient, estimate_gradient
from rinr_runtime.detector.forward_memory import StepMeter, tensor_bytes
from rinr_runtime.detector.forward_parts import (
    SplitModel,
    freeze_layers,
    part_filter,
    trainable_split,
)
from rinr_runtime.detector.forward_train import (
    dataset_loss,
    hyperparameters,
    prepare_model,
    to_device,
    train_loader,
)
from rinr_runtime.detector.quantized import (
    channel_scale,
    fake_quant,
    quantize_weights_,
    stochastic_round,
)

TINY = TrainSettings(epochs=1, imgsz=64, batch=4, device="cpu", seed=0)


class _Toy(torch.nn.Module):
    """A small model with the layer interface of an Ultralytics DetectionModel."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.Tanh(),
                                         torch.nn.Conv2d(4, 2, 1))
        for index, layer in enumerate(self.model):
            layer.f, layer.i = -1, index
        self.save: list[int] = []


def _toy_loss(preds: torch.Tensor, batch: dict) -> tuple[torch.Tensor, None]:
    return (preds - batch["target"]).square().sum().reshape(1), None


def _true_gradient(split: SplitModel, criterion, batch: dict) -> list[torch.Tensor]:
    params = [p.detach().clone().requires_grad_(True) for p in split.params]
    originals = [p.data for p in split.params]
    for p, q in zip(split.params, params, strict=True):
        p.data = q
    with torch.enable_grad():
        for p in split.params:
            p.requires_grad_(True)
        cache, x = split.frozen(batch["img"])
        loss = criterion(split.trainable(cache, x), batch)[0].sum()
        grads = torch.autograd.grad(loss, split.params)
    for p, original in zip(split.params, originals, strict=True):
        p.requires_grad_(False)
        p.data = original
    return [g.detach() for g in grads]


def _flat(tensors: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


# --- the estimate is unbiased --------------------------------------------------------------


@pytest.mark.parametrize("estimator", ["jvp", "spsa"])
@pytest.mark.parametrize("layer_scaling", [False, True])
def test_estimate_approaches_the_backprop_gradient(estimator: str, layer_scaling: bool) -> None:
    # Prepare: a 122-parameter model, all of it trainable
    model = _Toy()
    batch = {"img": torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(1)),
             "target": torch.randn(2, 2, 6, 6, generator=torch.Generator().manual_seed(2))}
    split = SplitModel(model, 0)
    for p in split.params:
        p.requires_grad_(False)
    truth = _flat(_true_gradient(split, _toy_loss, batch))

    # Execute: estimates from few and from many directions
    errors, cosines = {}, {}
    for directions in (32, 4096):
        settings = ForwardSettings(directions=directions, estimator=estimator, epsilon=1e-3,
                                   layer_scaling=layer_scaling, seed=3)
        estimate = _flat(estimate_gradient(split, _toy_loss, batch, settings))
        errors[directions] = float((estimate - truth).norm() / truth.norm())
        cosines[directions] = float(torch.nn.functional.cosine_similarity(estimate, truth, dim=0))

    # Assert: the mean of many directions is close to the gradient, and gets closer with more
    assert cosines[4096] > 0.95, cosines
    assert errors[4096] < 0.35, errors
    assert errors[4096] < errors[32] / 4, errors  # about sqrt(4096 / 32) = 11x in expectation
    assert cosines[32] < cosines[4096]


def test_a_proximal_term_keeps_the_weights_near_their_start() -> None:
    # Prepare: the toy model's loss pulls the weights away; FedProx pulls them back
    batch = {"img": torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(1)),
             "target": torch.randn(2, 2, 6, 6, generator=torch.Generator().manual_seed(2))}
    moved = {}
    for mu in (0.0, 1e3):
        model = _Toy()
        split = SplitModel(model, 0)
        start = _flat([p.detach().clone() for p in split.params])
        engine = ForwardGradient(split, _toy_loss, ForwardSettings(directions=4, lr=0.02, seed=0),
                                 proximal_mu=mu)

        # Execute
        for step in range(30):
            engine.step(batch, progress=step / 30)
        moved[mu] = float((_flat(split.params) - start).norm())

    # Assert
    assert moved[1e3] < 0.5 * moved[0.0], moved


def _tiny_data(tmp_path: Path, count: int = 8) -> Path:
    frames = generate_sequence(count, width=64, height=48, seed=0)
    return write_dataset(frames[:-2], frames[-2:], tmp_path / "data", ["object"])


def _yolo_split(tmp_path: Path, spec: str = "head") -> tuple[SplitModel, object, dict]:
    data_yaml = _tiny_data(tmp_path)
    cfg = hyperparameters(TINY)
    model = build_model(TINY, ["object"])
    criterion = prepare_model(model, cfg)
    loader, _ = train_loader(data_yaml, TINY, cfg, 32, torch.device("cpu"))
    batch = to_device(next(iter(loader)), torch.device("cpu"))
    split = SplitModel(model, trainable_split(spec, len(model.model)), part_filter(spec))
    return split, criterion, batch


def test_directional_derivatives_match_backprop_on_yolo(tmp_path: Path) -> None:
    # Prepare: YOLOv8n's head on a real batch of Ultralytics' loader, its backprop gradient
    split, criterion, batch = _yolo_split(tmp_path)
    gradient = _true_gradient(split, criterion, batch)

    # Execute: the derivative along three random directions, forward-mode and two-point
    for seed in range(3):
        for estimator, tolerance in (("jvp", 1e-3), ("spsa", 3e-2)):
            engine = ForwardGradient(split, criterion, ForwardSettings(
                estimator=estimator, epsilon=2e-2, layer_scaling=True, seed=seed))
            directions = engine.perturbations(seed)
            cache, x = engine.frozen(batch["img"])
            run = engine._jvp if estimator == "jvp" else engine._spsa
            _, derivative = run(cache, x, batch, seed)

            # Assert: d = grad . u, as backprop says
            expected = float(sum((g * u).sum() for g, u in zip(gradient, directions, strict=True)))
            assert derivative == pytest.approx(expected, rel=tolerance, abs=1e-3 * abs(expected))


# --- trainable parts -------------------------------------------------------------------------


def test_trainable_specs() -> None:
    assert trainable_split("all", 23) == 0
    assert trainable_split("head", 23) == 22
    assert trainable_split("last:3", 23) == 20
    assert freeze_layers("last:3", 23) == list(range(20)) and freeze_layers("all", 23) == []
    assert trainable_split("head:cls", 23) == trainable_split("head:cls-out", 23) == 22
    assert freeze_layers("head:cls", 23) == [*range(22), "22.cv2"]
    assert {"22.cv2", "22.cv3.0.0", "22.cv3.2.1"} <= set(freeze_layers("head:cls-out", 23))
    assert "22.cv3.0.2" not in freeze_layers("head:cls-out", 23)
    for bad in ("backbone", "last:0", "last:24", "last:x", "head:box"):
        with pytest.raises(ConfigError):
            trainable_split(bad, 23)


def test_head_parts_train_the_same_weights_in_both_trainers(tmp_path: Path) -> None:
    # Prepare: YOLOv8n (one class) split for the classification outputs only
    split, _, _ = _yolo_split(tmp_path / "split", "head:cls-out")
    settings = TrainSettings(epochs=1, imgsz=64, batch=4, device="cpu", seed=0)
    data_yaml = _tiny_data(tmp_path, count=6)
    before = [p.detach().clone() for p in build_model(settings, ["object"]).model[-1].cv2.parameters()]

    # Execute: backprop through Ultralytics' freeze list on the same part
    outcome = train(data_yaml, settings, workdir=tmp_path / "bp", trainable="head:cls-out")

    # Assert: 3 levels x (64 weights + 1 bias), only cv3.<level>.2; the box branch unchanged
    assert sum(p.numel() for p in split.params) == 195
    assert all(".cv3." in n and n.split(".")[-2] == "2" for n in split.names), split.names
    assert outcome.metrics["trainable_params"] == 195
    model = build_model(settings, ["object"])
    set_weights(model, outcome.weights)
    for a, b in zip(before, model.model[-1].cv2.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6)  # EMA of an unchanged weight: itself


def test_split_model_predicts_like_the_model(tmp_path: Path) -> None:
    split, _, batch = _yolo_split(tmp_path, "last:4")
    with torch.no_grad():
        whole = split.model(batch["img"])
        cache, x = split.frozen(batch["img"])
        parts = split.trainable(cache, x)
    assert torch.allclose(whole["scores"], parts["scores"]) and torch.allclose(
        whole["boxes"], parts["boxes"])
    kept = [i for i, t in enumerate(cache) if t is not None]
    assert kept == [9, 15, 18]  # only what modules 19-22 read (Concat [-1, 9], Detect [15, 18, 21])


# --- fixed point ---------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [16, 8])
def test_fixed_point_helpers(bits: int) -> None:
    weight = torch.randn(6, 3, 3, 3, generator=torch.Generator().manual_seed(0))
    model = torch.nn.Conv2d(3, 6, 3)
    model.weight.data.copy_(weight)
    scales = quantize_weights_(model, bits)
    codes = model.weight / scales["weight"]
    assert torch.allclose(codes, codes.round(), atol=1e-3)
    assert float(codes.abs().max()) <= (1 << (bits - 1)) - 1 + 1e-2
    again = model.weight.detach().clone()
    quantize_weights_(model, bits)
    assert torch.equal(model.weight, again)  # idempotent: same grid
    assert torch.equal(channel_scale(model.weight, bits), scales["weight"])
    x = torch.linspace(-3, 3, 10_000)
    assert len(torch.unique(fake_quant(x, 8))) <= 255
    rounded = stochastic_round(torch.full((20_000,), 0.25), torch.Generator().manual_seed(0))
    assert set(rounded.unique().tolist()) == {0.0, 1.0}
    assert float(rounded.mean()) == pytest.approx(0.25, abs=0.02)  # unbiased


@pytest.mark.parametrize("bits", [16, 8])
def test_fixed_point_steps_stay_on_the_grid(tmp_path: Path, bits: int) -> None:
    # Prepare
    split, criterion, batch = _yolo_split(tmp_path)
    engine = ForwardGradient(split, criterion, ForwardSettings(directions=2, bits=bits, seed=0))
    before = [p.detach().clone() for p in split.params]

    # Execute
    loss = engine.step(batch)
    engine.step(batch)

    # Assert: finite loss, weights moved, every quantized weight still a whole code
    assert math.isfinite(loss)
    assert any(not torch.equal(a, p) for a, p in zip(before, split.params, strict=True))
    for index, scale in engine.scales.items():
        codes = split.params[index] / scale
        assert torch.allclose(codes, codes.round(), atol=1e-2)
        assert float(codes.abs().max()) <= (1 << (bits - 1)) - 1 + 1e-2


# --- memory ----------------------------------------------------------------------------------


def test_step_meter_counts_transient_allocations() -> None:
    meter = StepMeter("cpu")
    resident = [torch.zeros(1000), torch.zeros(250)]
    meter.start(resident)
    a = torch.ones(256, 1024)  # 1 MiB
    b = a * 2  # 2 MiB live
    del a
    c = b + 1  # 2 MiB live again
    del b, c
    result = meter.stop()
    assert result.resident_bytes == tensor_bytes(resident) == 5000
    assert 2 * 1024 * 1024 <= result.transient_bytes < 2.2 * 1024 * 1024


def test_train_dispatches_and_forward_gradient_needs_less_memory(tmp_path: Path) -> None:
    # Prepare
    data_yaml = _tiny_data(tmp_path, count=10)
    settings = TrainSettings(epochs=1, imgsz=64, batch=4, device="cpu", seed=0)

    # Execute: the same trainable part, backprop and forward gradients (16-bit)
    backprop = train(data_yaml, settings, workdir=tmp_path / "bp", trainable="head")
    forward = train(data_yaml, settings, workdir=tmp_path / "fg", trainable="head",
                    forward=ForwardSettings(directions=2, bits=16))

    # Assert
    assert backprop.metrics["forward_gradient"] == 0 and forward.metrics["forward_gradient"] == 1
    assert forward.metrics["fg_bits"] == 16 and forward.metrics["steps"] == 2
    assert backprop.metrics["trainable_params"] == forward.metrics["trainable_params"] > 0
    assert 0 < forward.metrics["peak_mem_mb"] < backprop.metrics["peak_mem_mb"]
    assert forward.weights_path.is_file()
    model = build_model(settings, ["object"])
    set_weights(model, forward.weights)  # same layout as backprop's weights
    assert math.isfinite(dataset_loss(model, data_yaml, settings))


@pytest.mark.shared_data
@pytest.mark.parametrize("bits", [0, 8])
def test_a_short_forward_gradient_fine_tune_lowers_the_loss_on_real_frames(
        seq_dir, tmp_path: Path, bits: int) -> None:
    # Prepare: 20 real frames of vot_bag at 96 px, YOLOv8n from the YAML
    from rinr_core.datasets import load_sequence

    frames = [replace(f, label="object") for f in
              load_sequence(seq_dir("vot_bag"), max_side=96, stride=8, limit=20).frames]
    data_yaml = write_dataset(frames[:16], frames[16:], tmp_path / "data", ["object"])
    settings = TrainSettings(epochs=3, imgsz=96, batch=8, device="cpu", seed=0)
    before = dataset_loss(build_model(settings, ["object"]), data_yaml, settings)

    # Execute: 6 steps of 4 directions on the head
    outcome = train(data_yaml, settings, workdir=tmp_path / "fg", trainable="head",
                    forward=ForwardSettings(directions=4, bits=bits, seed=0))

    # Assert: the detection loss on the training frames went down
    model = build_model(settings, ["object"])
    set_weights(model, outcome.weights)
    after = dataset_loss(model, data_yaml, settings)
    assert outcome.metrics["steps"] == 6
    assert after < 0.9 * before, (before, after)
