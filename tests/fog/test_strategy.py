"""Strategy hooks with real messages: FedAvg of edge weights, what each node is sent."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from flwr.app import Message, RecordDict

from fog.encode_cache import EncodeCache
from fog.encoder import EncodedFrame, FogEncoder
from fog.local_grid import set_task_identity
from fog.report import RunReport
from fog.strategy import NodeState, RinrStrategy, fedavg
from rinr_runtime.config import RuntimeConfig
from rinr_runtime.records import NodeReport, metrics_to_record, record_to_weights, weights_to_record


def _strategy(tmp_path: Path, **values: object) -> RinrStrategy:
    config = RuntimeConfig.from_run_config(values)
    report = RunReport(values, tmp_path)
    return RinrStrategy(config, FogEncoder(config, EncodeCache(None)), report, tmp_path)


def test_fedavg_weights_by_training_examples() -> None:
    # Execute
    result = fedavg([([np.zeros(2, np.float32), np.ones(1, np.float32)], 1),
                     ([np.full(2, 4, np.float32), np.full(1, 3, np.float32)], 3)])

    # Assert
    assert np.allclose(result[0], [3.0, 3.0]) and np.allclose(result[1], [2.5])
    assert all(r.dtype == np.float32 for r in result)


def test_train_replies_are_averaged_into_the_next_round(tmp_path: Path) -> None:
    # Prepare
    set_task_identity()
    strategy = _strategy(tmp_path, aggregation="fedavg")
    requests = strategy.configure_train(1, [100, 101])
    replies = {}
    for request, (value, count) in zip(requests, [(1.0, 2), (4.0, 1)], strict=True):
        content = RecordDict({
            "metrics": metrics_to_record({"num_train": count, "map50": 0.5, "map50_95": 0.2}),
            "weights": weights_to_record([np.full(3, value, np.float32)]),
            "node": NodeReport(f"p{request.metadata.dst_node_id - 100}").to_record(),
        })
        replies[request.metadata.dst_node_id] = Message(content, reply_to=request)

    # Execute
    strategy.aggregate_train(1, replies)
    next_round = strategy.configure_train(2, [100, 101])

    # Assert
    assert "weights" not in requests[0].content.array_records
    assert requests[0].content.config_records["round"]["return-weights"] is True
    sent = record_to_weights(next_round[1].content.array_records["weights"])
    assert np.allclose(sent[0], 2.0)
    assert strategy.wants_evaluate()
    assert strategy.report.round(1).train["p1"]["num_train"] == 1


def test_independent_training_sends_no_weights(tmp_path: Path) -> None:
    set_task_identity()
    strategy = _strategy(tmp_path)
    strategy.global_weights = [np.zeros(1, np.float32)]
    message = strategy.configure_train(1, [100])[0]
    assert "weights" not in message.content.array_records
    assert message.content.config_records["round"]["return-weights"] is False
    assert not strategy.wants_evaluate()


def test_pending_excludes_own_held_and_uploaded_frames(tmp_path: Path) -> None:
    # Prepare
    strategy = _strategy(tmp_path)
    for fid, owner in (("a", "p0"), ("b", "p1"), ("c", "p1"), ("d", "p2")):
        strategy.catalog[fid] = EncodedFrame(fid, owner, "rinr", b"x", (0, 0, 1, 1), "object",
                                             b"jpeg")
    state = NodeState("p0", 100, held={"b"}, accepted=["a", "d"])

    # Execute / Assert
    assert [e.frame_id for e in strategy.pending(state)] == ["c"]


def test_unreadable_replies_are_reported_not_fatal(tmp_path: Path) -> None:
    # Prepare
    set_task_identity()
    strategy = _strategy(tmp_path)
    request = strategy.configure_collect(1, [100])[0]
    reply = Message(RecordDict({"node": NodeReport("p0").to_record()}), reply_to=request)

    # Execute
    uploads = strategy.aggregate_collect(1, {100: reply})

    # Assert
    assert uploads == []
    errors = strategy.report.round(1).errors
    assert errors[0]["node"] == "p0" and "unreadable collect reply" in errors[0]["reason"]
