"""Weight codecs in the runtime, on a LocalGrid: FedAvg with compressed deltas, and resyncs.

Training is replaced by a fast stand-in (the starting weights plus a fixed, seeded update of
about 1e-3), so these tests run the real ServerApp, ClientApp, weight messages and bases on
YOLOv8n-sized weights in seconds; the real YOLOv8 path runs in ``test_weight_codec_flwr_run``.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest
from flwr.app import ArrayRecord, Context, Message

import rinr_runtime.detector as detector
from rinr_core.weights import decode_weights, unpack_message, weights_id
from rinr_core.weights.format import DELTA, KEEP
from rinr_runtime.records import WEIGHT_MESSAGE as KEY
from rinr_runtime.records import bytes_to_array, record_to_weights, record_to_weights_message
from rinr_runtime.weight_link import initial_model

FP32_BYTES = 12_090_168  # a float32 weight message of yolov8n.yaml, one class (3,021,443 values)


@pytest.fixture
def fake_training(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``detector.train`` returns start + a seeded update; ``detector.evaluate`` a fixed mAP."""
    calls: dict[str, int] = {}

    def train(data_yaml: Path, settings: detector.TrainSettings, *, init_weights=None,
              workdir: Path, **options: object) -> detector.TrainOutcome:
        start = (list(init_weights) if init_weights is not None else
                 detector.get_weights(detector.build_model(settings, ["object"])))
        calls[str(workdir)] = calls.get(str(workdir), 0) + 1
        node = str(workdir).split("/run-")[-1]  # the same updates in every run of a test
        rng = np.random.default_rng(zlib.crc32(f"{node} {calls[str(workdir)]}".encode()))
        weights = [w + rng.laplace(0, 1e-3, w.shape).astype(np.float32) for w in start]
        metrics = {"map50": 0.5, "map50_95": 0.25, "precision": 0.5, "recall": 0.5,
                   "num_train": 9, "num_val": 1}
        return detector.TrainOutcome(weights, tmp_path / "none.pt", metrics)

    def evaluate(model: object, data_yaml: Path, settings: detector.TrainSettings, *,
                 workdir: Path | None = None) -> dict[str, float]:
        return {"map50": 0.5, "map50_95": 0.25, "precision": 0.5, "recall": 0.5}

    monkeypatch.setattr(detector, "train", train)
    monkeypatch.setattr(detector, "evaluate", evaluate)


def _config(tiny_config: dict, **extra: object) -> dict:
    return {**tiny_config, "train": True, "aggregation": "fedavg", "codec": "jpeg",
            "num-server-rounds": 3, "frames-per-round": 0, "weight-codec": "sgq",
            "weight-bits": 4, **extra}


def _weight_rows(report: dict) -> list[dict]:
    return [e for e in report["ledger"] if e["phase"] in ("train", "evaluate")]


def _message(msg: Message) -> bytes | None:
    record = msg.content.array_records.get("weights")
    return None if record is None else record_to_weights_message(record)


def test_fedavg_with_sgq_sends_deltas_and_keeps_nodes_in_sync(tiny_config, run_fog,
                                                             fake_training) -> None:
    # Execute
    grid, report = run_fog(_config(tiny_config))

    # Assert: the run completes; every weight message is a weight message, not float arrays
    assert report["summary"]["status"] == "completed", report["summary"]["errors"]
    weighted = [m for m in grid.sent if "weights" in m.content.array_records]
    assert weighted and all(_message(m) is not None for m in weighted)
    # the train message after an evaluate phase only says "keep what you hold"
    trains = [m for m in grid.sent if m.metadata.message_type == "train"
              and "weights" in m.content.array_records]
    assert trains and all(unpack_message(_message(m)).flags == KEEP for m in trains)
    # evaluate messages are deltas against what each node holds: in round 1 the initial
    # model (both sides build it from the model YAML), then the last global model
    evals = [unpack_message(_message(m)) for m in grid.sent
             if m.metadata.message_type == "evaluate"]
    assert [m.flags for m in evals] == [DELTA] * 9
    initial = weights_id(initial_model("yolov8n.yaml", ["object"])[0])
    assert {m.base_id.hex() for m in evals[:3]} == {initial}
    assert {m.base_id.hex() for m in evals[3:6]} == {evals[0].result_id.hex()}
    # every weight byte is counted; sgq moves >= 8x fewer than float32 would
    rows = _weight_rows(report)
    messages = sum(1 for e in rows if e["payload_bytes"] > 0)
    assert sum(e["payload_bytes"] for e in rows) * 8 < messages * FP32_BYTES
    # edges and fog hold the same global model, bit for bit (ids in the nodes' reports)
    held = {r.content.config_records["node"]["weights-base"] for r in grid.received
            if r.metadata.message_type == "evaluate" and not r.has_error()}
    assert len(held) >= 1 and all(held)


def test_sgq_deltas_end_close_to_the_fp32_run(tiny_config, run_fog, fake_training,
                                              tmp_path: Path) -> None:
    # Prepare
    fp32 = _config(tiny_config, **{"weight-codec": "fp32", "run-dir": str(tmp_path / "a"),
                                   "edge-dir": str(tmp_path / "ea")})
    sgq = _config(tiny_config, **{"run-dir": str(tmp_path / "b"), "edge-dir": str(tmp_path / "eb")})

    # Execute
    grid_a, _ = run_fog(fp32)
    grid_b, _ = run_fog(sgq)

    # Assert: the last global model sent (as the edges decode it) is within a few quanta
    last_a = record_to_weights([m for m in grid_a.sent
                                if m.metadata.message_type == "evaluate"][-1]
                               .content.array_records["weights"])
    node = next(iter(grid_b.contexts))
    held = Path(sgq["edge-dir"]) / "run-1" / "node-p0" / "weights" / "held.rnwt"
    last_b = decode_weights(held.read_bytes()).weights
    assert node and len(last_a) == len(last_b)
    error = np.sqrt(sum(float(((a - b) ** 2).sum()) for a, b in zip(last_a, last_b, strict=True)))
    update = np.sqrt(sum(float((a**2).sum()) for a in last_a)) * 1e-2
    assert error < update  # relative L2 error of the global model under 1%


@pytest.mark.parametrize("damage", ["corrupt", "truncate"])
def test_a_damaged_weight_message_is_refused_and_the_node_resyncs(tiny_config, run_fog,
                                                                  fake_training,
                                                                  damage: str) -> None:
    # Prepare: p1's evaluate message of round 2 is damaged on the way
    def before(msg: Message, context: Context) -> None:
        if (context.node_config["partition-id"] == 1 and msg.metadata.message_type == "evaluate"
                and msg.content.config_records["round"]["round"] == 2):
            data = bytearray(_message(msg) or b"")
            if damage == "corrupt":
                data[len(data) // 2] ^= 0xFF
            else:
                del data[len(data) // 2 :]
            msg.content["weights"] = ArrayRecord({KEY: bytes_to_array(bytes(data))})

    # Execute
    grid, report = run_fog(_config(tiny_config), before=before)

    # Assert: p1's reply is an error naming the refusal; the others go on
    assert report["summary"]["status"] == "completed_with_errors"
    errors = report["summary"]["errors"]
    assert [(e["round"], e["phase"], e["node"]) for e in errors] == [(2, "evaluate", "p1")]
    assert "weights refused" in errors[0]["reason"]
    # round 3: p1 gets full weights (a resync), trains, and is in sync again
    p1 = [m for m in grid.sent if m.metadata.dst_node_id == 101
          and m.content.config_records["round"]["round"] == 3 and _message(m) is not None]
    assert [unpack_message(_message(m)).flags for m in p1] == [0, DELTA]
    assert sorted(report["rounds"][2]["evaluate"]) == ["p0", "p1", "p2"]
    last = [r for r in grid.received if r.metadata.message_type == "evaluate"][-3:]
    sent = unpack_message(_message(p1[-1])).result_id.hex()
    assert [r.content.config_records["node"]["weights-base"] for r in last][1] == sent


def test_fog_placement_sends_the_fog_model_as_deltas(tiny_config, run_fog, fake_training
                                                     ) -> None:
    # Execute
    grid, report = run_fog(_config(tiny_config, placement="fog", aggregation="independent"))

    # Assert
    assert report["summary"]["status"] == "completed", report["summary"]["errors"]
    evals = [unpack_message(_message(m)) for m in grid.sent
             if m.metadata.message_type == "evaluate"]
    assert [bool(m.flags & DELTA) for m in evals] == [False] * 3 + [True] * 6
    # every node decodes the fog's model of a round to the same weights, and says so
    last = {m.result_id.hex() for m in evals[-3:]}
    replies = [r for r in grid.received if r.metadata.message_type == "evaluate"][-3:]
    held = {r.content.config_records["node"]["weights-base"] for r in replies}
    assert len(last) == 1 and held == last
