"""Deltas with error feedback on a small real model: they track what fp32 deltas give.

The model is a small CNN trained with SGD on a fixed synthetic task (torch, CPU, a second).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rinr_core.weights import apply_delta, decode_weights, encode_weights

torch.set_num_threads(1)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(64, 4))


def _data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A learnable task: the class is the quadrant of the brightest blob."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(64, 3, 16, 16, generator=g) * 0.2
    y = torch.randint(0, 4, (64,), generator=g)
    for i, c in enumerate(y.tolist()):
        r, q = divmod(c, 2)
        x[i, :, 8 * r : 8 * r + 6, 8 * q : 8 * q + 6] += 0.8
    return x, y


def _get(model: torch.nn.Module) -> list[np.ndarray]:
    return [v.detach().numpy().astype(np.float32).copy() for v in model.state_dict().values()
            if v.is_floating_point()]


def _set(model: torch.nn.Module, weights: list[np.ndarray]) -> None:
    entries = [(k, v) for k, v in model.state_dict().items() if v.is_floating_point()]
    model.load_state_dict({**model.state_dict(), **{k: torch.from_numpy(w.copy()) for (k, _), w
                                                    in zip(entries, weights, strict=True)}})


def _local(start: list[np.ndarray], seed: int, steps: int = 5) -> list[np.ndarray]:
    """``steps`` SGD steps from ``start`` on client ``seed``'s data."""
    model = _model()
    _set(model, start)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.0)
    x, y = _data(seed)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return _get(model)


def _distance(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return float(np.sqrt(sum(float(((x - y) ** 2).sum()) for x, y in zip(a, b, strict=True))))


def _norm(a: list[np.ndarray]) -> float:
    return float(np.sqrt(sum(float((x**2).sum()) for x in a)))


def test_deltas_against_the_receivers_copy_do_not_drift() -> None:
    # Prepare: a real training trajectory, sent after every 5 SGD steps
    weights = [_get(_model())]
    for t in range(12):
        weights.append(_local(weights[-1], seed=t))

    # Execute: with feedback (delta against what the receiver holds) and without (each
    # step's own increment quantized and added up, its error lost)
    held = encode_weights(weights[0], "sgq", 3)
    naive = list(held.weights)
    for previous, target in zip(weights, weights[1:], strict=False):
        update = encode_weights(target, "sgq", 3, base=held.weights)
        held_weights = decode_weights(update.data, {held.weights_id: held.weights}).weights
        assert max(float(np.max(np.abs(h - w))) for h, w in zip(held_weights, target,
                                                                strict=True)) <= max(
            update.bounds) + 1e-6  # one delta's error, whatever came before
        held = update
        step = encode_weights([t - p for t, p in zip(target, previous, strict=True)], "sgq", 3)
        naive = [n + d for n, d in zip(naive, decode_weights(step.data).weights, strict=True)]

    # Assert: feedback ends far closer to the sender's weights than the lossy sum
    assert _distance(held.weights, weights[-1]) < 0.5 * _distance(naive, weights[-1])


@pytest.mark.parametrize(("bits", "tolerance"), [(4, 0.08), (2, 0.35)])
def test_fedavg_with_quantized_deltas_and_feedback_ends_near_the_fp32_run(
        bits: int, tolerance: float) -> None:
    # Prepare: two clients, 8 rounds of FedAvg, as the runtime runs it: the server sends the
    # global model as a delta against the clients' copy, each client sends its update as a
    # delta against that copy (plus its last residual), and the server adds the update to
    # its exact global model; the reference sends float32
    clients, rounds = (1, 2), 8
    start = _get(_model())

    def fedavg(codec: str, feedback: bool) -> list[np.ndarray]:
        exact = start
        held = encode_weights(start, codec, bits)  # the clients' copy, as they decode it
        residual: dict[int, list[np.ndarray] | None] = dict.fromkeys(clients)
        for r in range(rounds):
            uploads = []
            for c in clients:
                trained = _local(held.weights, seed=10 * r + c)
                up = encode_weights(trained, codec, bits, base=held.weights,
                                    residual=residual[c] if feedback else None)
                residual[c] = up.residual
                assert decode_weights(up.data, {held.weights_id: held.weights}).delta
                uploads.append(apply_delta(up.data, exact))
            exact = [np.mean(ws, axis=0).astype(np.float32) for ws in zip(*uploads, strict=True)]
            held = encode_weights(exact, codec, bits, base=held.weights)
        return held.weights

    # Execute
    reference = fedavg("fp32", feedback=True)
    with_feedback = fedavg("sgq", feedback=True)
    without = fedavg("sgq", feedback=False)

    # Assert: close to the float32 run, relative to the distance it travelled, and closer
    # than the same run with each round's residual thrown away
    travelled = _distance(reference, start)
    assert _distance(with_feedback, reference) < tolerance * travelled
    assert _distance(with_feedback, reference) < _distance(without, reference)
    assert _norm(with_feedback) == pytest.approx(_norm(reference), rel=0.05)
