"""The edge ClientApp, called with real Message, RecordDict and Context objects."""

from __future__ import annotations

from pathlib import Path

import pytest
from flwr.app import Context, Message, RecordDict

from edge.client_app import app as client_app
from rinr_core.codec import CodecSettings, encode_frames
from rinr_core.synthetic import generate_sequence
from rinr_runtime.flower_compat import set_task_identity
from rinr_runtime.records import (
    Ack,
    Delivery,
    content_to_uploads,
    deliveries_to_content,
    read_node_report,
    record_to_weights,
    round_record,
)


@pytest.fixture
def run_config(tmp_path: Path) -> dict:
    return {"edge-dir": str(tmp_path / "edge"), "frames-per-node": 6, "frames-per-round": 3,
            "val-every": 3, "frame-width": 48, "frame-height": 32, "imgsz": 64, "epochs": 1}


def _context(run_config: dict, partition_id: int = 0) -> Context:
    return Context(run_id=7, node_id=100 + partition_id,
                   node_config={"partition-id": partition_id, "num-partitions": 2},
                   state=RecordDict(), run_config=run_config)


def _message(message_type: str, content: RecordDict) -> Message:
    set_task_identity()
    return Message(content, dst_node_id=100, message_type=message_type)


def _collect(context: Context, server_round: int, ack: Ack) -> Message:
    msg = _message("query.collect", RecordDict({"round": round_record(server_round),
                                                "ack": ack.to_record()}))
    return client_app(msg, context)


def test_collect_uploads_only_new_shareable_frames(run_config: dict) -> None:
    # Prepare
    context = _context(run_config)

    # Execute
    first = content_to_uploads(_collect(context, 1, Ack()).content)
    again = content_to_uploads(_collect(context, 1, Ack([u.frame_id for u in first])).content)
    second = _collect(context, 2, Ack())

    # Assert
    assert len(first) == 2  # frames 0, 1 of 0..2 (frame 2 is held out)
    assert again == []
    uploads = content_to_uploads(second.content)
    assert len(uploads) == 2  # frames 3, 4 (frame 5 is held out)
    report = read_node_report(second.content)
    assert (report.key, report.num_own, report.num_val, report.held) == ("p0", 6, 2, [])


def test_broadcast_stores_intact_items_and_reports_broken_ones(run_config: dict) -> None:
    # Prepare
    frames = generate_sequence(2, width=32, height=32, seed=3)
    payloads = [r.payload for r in encode_frames(frames, CodecSettings(steps=5))]
    broken = payloads[1][:-7] + b"garbage"
    deliveries = [Delivery("good", "rinr", payloads[0], frames[0].box, "object", "p1"),
                  Delivery("bad", "rinr", broken, frames[1].box, "object", "p1")]
    msg = _message("query.broadcast", deliveries_to_content(1, deliveries, Ack(["mine"])))

    # Execute
    reply = client_app(msg, _context(run_config))

    # Assert
    report = read_node_report(reply.content)
    assert report.stored == ["good"] and report.held == ["good"]
    assert report.broken == ["bad"] and "checksum" in report.reasons[0].lower()
    stored = Path(run_config["edge-dir"]) / "run-7" / "node-p0" / "items" / "good.rinr"
    assert stored.read_bytes() == payloads[0]


def test_train_without_held_out_frames_does_not_train(run_config: dict) -> None:
    # Prepare
    context = _context({**run_config, "frames-per-node": 2})
    msg = _message("train", RecordDict({"round": round_record(1, **{"return-weights": True})}))

    # Execute
    reply = client_app(msg, context)

    # Assert
    metrics = reply.content.metric_records["metrics"]
    assert metrics["trained"] == 0 and metrics["num_val"] == 0 and metrics["num_train"] == 2
    assert "weights" not in reply.content.array_records


@pytest.mark.slow
def test_train_fine_tunes_and_returns_weights_when_asked(run_config: dict) -> None:
    # Prepare
    context = _context(run_config)
    msg = _message("train", RecordDict({"round": round_record(2, **{"return-weights": True})}))

    # Execute
    reply = client_app(msg, context)

    # Assert
    metrics = reply.content.metric_records["metrics"]
    assert metrics["trained"] == 1 and metrics["num_own"] == 4 and metrics["num_val"] == 2
    assert 0.0 <= metrics["map50"] <= 1.0 and 0.0 <= metrics["map50_95"] <= 1.0
    weights = record_to_weights(reply.content.array_records["weights"])
    assert len(weights) > 100 and sum(w.size for w in weights) > 1_000_000
    node_dir = Path(run_config["edge-dir"]) / "run-7" / "node-p0"
    assert (node_dir / "model.npz").is_file()

    # Execute: the global model of the fog, evaluated on the held-out JPEGs
    evaluation = client_app(
        _message("evaluate", RecordDict({"round": round_record(2),
                                         "weights": reply.content.array_records["weights"]})),
        context,
    )

    # Assert
    result = evaluation.content.metric_records["metrics"]
    assert result["num_val"] == 2 and 0.0 <= result["map50"] <= 1.0
