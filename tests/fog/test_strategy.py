"""Strategy hooks with real messages: Flower's aggregation of edge weights, what each node is sent,
and whose fault an error is."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flwr.app import Message, RecordDict
from flwr.serverapp.strategy import FedAdam, FedAvg, FedProx

from fog.aggregation import SERVER_ETA, SERVER_TAU
from fog.encode_cache import EncodeCache
from fog.encoder import EncodedFrame, FogEncoder
from fog.local_grid import set_task_identity
from fog.report import RunReport
from fog.strategy import NodeState, RinrStrategy
from rinr_runtime.config import RuntimeConfig
from rinr_runtime.records import (
    NodeReport,
    expected_held,
    held_digest,
    metrics_to_record,
    record_to_weights,
    weights_to_record,
)


def _strategy(tmp_path: Path, **values: object) -> RinrStrategy:
    config = RuntimeConfig.from_run_config(values)
    report = RunReport(values, tmp_path)
    return RinrStrategy(config, FogEncoder(config, EncodeCache(None)), report, tmp_path)


def _train_replies(requests: list[Message], results: list[tuple[list[float], int]]
                   ) -> dict[int, Message]:
    """A train reply per request: weights (one array per value list) and ``num_train``."""
    replies = {}
    for request, (values, count) in zip(requests, results, strict=True):
        node_id = request.metadata.dst_node_id
        content = RecordDict({
            "metrics": metrics_to_record({"num_train": count, "map50": 0.5, "map50_95": 0.2}),
            "weights": weights_to_record([np.full(2, v, np.float32) for v in values]),
            "node": NodeReport(f"p{node_id - 100}").to_record(),
        })
        replies[node_id] = Message(content, reply_to=request)
    return replies


def _round(strategy: RinrStrategy, server_round: int, results: list[tuple[list[float], int]]
           ) -> list[Message]:
    """One train phase of nodes 100, 101, ...; returns the train messages."""
    requests = strategy.configure_train(server_round, [100 + i for i in range(len(results))])
    strategy.aggregate_train(server_round, _train_replies(requests, results))
    return requests


def test_fedavg_is_flowers_weighted_mean_of_the_training_examples(tmp_path: Path) -> None:
    # Prepare
    set_task_identity()
    strategy = _strategy(tmp_path, aggregation="fedavg")
    _round(strategy, 1, [([0.0, 1.0], 1), ([4.0, 3.0], 3)])

    # Execute: round 2 starts from the global model, so the configured FedAvg aggregates
    _round(strategy, 2, [([1.0, 2.0], 3), ([5.0, 6.0], 1)])

    # Assert
    assert type(strategy.aggregator.strategy) is FedAvg
    first, second = strategy.global_weights
    assert np.allclose(first, 2.0) and np.allclose(second, 3.0)
    assert all(w.dtype == np.float32 for w in strategy.global_weights)
    assert strategy.report.round(2).aggregate["train"]["map50"] == pytest.approx(0.5)


def test_train_replies_are_averaged_into_the_next_round(tmp_path: Path) -> None:
    # Prepare
    set_task_identity()
    strategy = _strategy(tmp_path, aggregation="fedavg")

    # Execute
    requests = _round(strategy, 1, [([1.0], 2), ([4.0], 1)])
    next_round = strategy.configure_train(2, [100, 101])

    # Assert
    assert "weights" not in requests[0].content.array_records
    assert requests[0].content.config_records["round"]["return-weights"] is True
    sent = record_to_weights(next_round[1].content.array_records["weights"])
    assert np.allclose(sent[0], 2.0)
    assert next_round[1].content.config_records["round"]["server-round"] == 2  # Flower's config
    assert next_round[1].content.config_records["round"]["round"] == 2
    assert next_round[1].metadata.group_id == "2"
    assert strategy.wants_evaluate()
    assert strategy.report.round(1).train["p1"]["num_train"] == 1


def test_fedadam_takes_a_server_side_adam_step_from_the_global_model(tmp_path: Path) -> None:
    # Prepare: round 1 makes the first global model (a plain FedAvg): 1.0 everywhere
    set_task_identity()
    strategy = _strategy(tmp_path, aggregation="fedadam")
    _round(strategy, 1, [([1.0], 1), ([1.0], 1)])

    # Execute: the nodes' weighted mean moves to 3.0
    _round(strategy, 2, [([2.0], 1), ([3.5], 2)])

    # Assert: x + eta_t m / (sqrt(v) + tau), with m = 0.1 delta, v = 0.01 delta^2 (Flower's FedAdam)
    assert isinstance(strategy.aggregator.strategy, FedAdam)
    delta = 3.0 - 1.0
    eta_t = SERVER_ETA * np.sqrt(1 - 0.99 ** 3) / (1 - 0.9 ** 3)
    expected = 1.0 + eta_t * 0.1 * delta / (np.sqrt(0.01 * delta ** 2) + SERVER_TAU)
    (weights,) = strategy.global_weights
    assert np.allclose(weights, expected, rtol=1e-5)
    assert 1.0 < weights[0] < 1.1  # a small server step, not the nodes' mean (3.0)
    assert weights.dtype == np.float32


def test_fedprox_sends_proximal_mu_with_the_global_model(tmp_path: Path) -> None:
    # Prepare
    set_task_identity()
    strategy = _strategy(tmp_path, aggregation="fedprox", **{"proximal-mu": 0.5})

    # Execute
    first = _round(strategy, 1, [([1.0], 1), ([3.0], 1)])
    second = strategy.configure_train(2, [100, 101])

    # Assert: round 1 has no global model to stay close to; round 2 has, with mu
    assert isinstance(strategy.aggregator.strategy, FedProx)
    assert "proximal-mu" not in first[0].content.config_records["round"]
    assert [m.content.config_records["round"]["proximal-mu"] for m in second] == [0.5, 0.5]
    assert np.allclose(record_to_weights(second[0].content.array_records["weights"])[0], 2.0)


def test_evaluate_metrics_are_averaged_by_held_out_frames(tmp_path: Path) -> None:
    # Prepare
    set_task_identity()
    strategy = _strategy(tmp_path, aggregation="fedavg")
    strategy.global_weights = [np.zeros(2, np.float32)]
    requests = strategy.configure_evaluate(1, [100, 101])
    replies = {}
    for request, (map50, count) in zip(requests, [(0.2, 1), (0.8, 3)], strict=True):
        node_id = request.metadata.dst_node_id
        content = RecordDict({
            "metrics": metrics_to_record({"map50": map50, "map50_95": map50 / 2, "num_val": count}),
            "node": NodeReport(f"p{node_id - 100}").to_record()})
        replies[node_id] = Message(content, reply_to=request)

    # Execute
    strategy.aggregate_evaluate(1, replies)

    # Assert
    assert np.allclose(record_to_weights(requests[0].content.array_records["weights"])[0], 0.0)
    record = strategy.report.round(1)
    assert record.evaluate["p1"]["map50"] == pytest.approx(0.8)
    assert record.aggregate["evaluate"]["map50"] == pytest.approx(0.65)


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


def _broadcast_to_p0(tmp_path: Path) -> tuple[RinrStrategy, Message]:
    """A fog that knows p0 holds "b" and has "c" for it; the broadcast message it sends."""
    strategy = _strategy(tmp_path)
    for fid, owner in (("b", "p1"), ("c", "p1")):
        strategy.catalog[fid] = EncodedFrame(fid, owner, "rinr", b"x", (0, 0, 1, 1), "object",
                                             b"jpeg")
    strategy.keys[100] = "p0"
    strategy.nodes["p0"] = NodeState("p0", 100, held={"b"})
    return strategy, strategy.configure_broadcast(1, [100])[0]


def test_a_broadcast_reply_confirming_by_digest_counts_what_was_sent(tmp_path: Path) -> None:
    # Prepare: p0 stored "c" and answers with the digest alone
    set_task_identity()
    strategy, request = _broadcast_to_p0(tmp_path)
    report = NodeReport("p0", held=["b", "c"], stored=["c"]).confirmed(expected_held(request.content))
    assert (report.held, report.stored) == ([], [])

    # Execute
    strategy.aggregate_broadcast(1, {100: Message(RecordDict({"node": report.to_record()}),
                                                  reply_to=request)})

    # Assert: held and delivered as if listed; nothing left to send
    assert expected_held(request.content) == held_digest(["b", "c"])
    assert strategy.nodes["p0"].held == {"b", "c"}
    assert strategy.report.round(1).delivered["p0"] == ["c"]
    assert strategy.missing() == {}


def test_a_digest_the_fog_did_not_expect_is_the_nodes_error(tmp_path: Path) -> None:
    # Prepare: p0 confirms a set it was not asked about
    set_task_identity()
    strategy, request = _broadcast_to_p0(tmp_path)
    report = NodeReport("p0", held_digest=held_digest(["b", "z"]))

    # Execute
    strategy.aggregate_broadcast(1, {100: Message(RecordDict({"node": report.to_record()}),
                                                  reply_to=request)})

    # Assert: reported; nothing counts as held or delivered, so both are sent again
    errors = strategy.report.round(1).errors
    assert errors[0]["node"] == "p0" and "did not expect" in errors[0]["reason"]
    assert strategy.nodes["p0"].held == set()
    assert strategy.report.round(1).delivered["p0"] == []
    assert strategy.missing() == {"p0": ["b", "c"]}


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


def test_weights_of_another_model_are_the_nodes_fault(tmp_path: Path) -> None:
    # Prepare: a global model of one array of 2 values; p1 answers with 3 values
    set_task_identity()
    strategy = _strategy(tmp_path, aggregation="fedavg")
    _round(strategy, 1, [([1.0], 1), ([1.0], 1)])
    requests = strategy.configure_train(2, [100, 101])
    replies = _train_replies(requests, [([5.0], 1), ([9.0], 1)])
    replies[101].content["weights"] = weights_to_record([np.zeros(3, np.float32)])

    # Execute
    strategy.aggregate_train(2, replies)

    # Assert: p1 is reported, p0's weights are the new global model
    errors = strategy.report.round(2).errors
    assert [(e["phase"], e["node"]) for e in errors] == [("train", "p1")]
    assert "do not match the global model" in errors[0]["reason"]
    assert np.allclose(strategy.global_weights[0], 5.0)


def test_a_fog_side_error_is_raised_not_blamed_on_the_node(tmp_path: Path) -> None:
    # Prepare: the fog's own bookkeeping fails while it handles a readable broadcast reply
    class BrokenLedger(dict):
        def get(self, key: object, default: object = None) -> object:
            raise KeyError("fog bug")

    set_task_identity()
    strategy = _strategy(tmp_path)
    request = strategy.configure_collect(1, [100])[0]
    strategy.identify(100, Message(RecordDict({"node": NodeReport("p0").to_record()}),
                                   reply_to=request))
    strategy._sent = BrokenLedger()
    reply = Message(RecordDict({"node": NodeReport("p0").to_record()}), reply_to=request)

    # Execute / Assert
    with pytest.raises(KeyError, match="fog bug"):
        strategy.aggregate_broadcast(1, {100: reply})
    assert strategy.report.round(1).errors == []


def test_a_fog_side_error_in_flowers_aggregation_propagates(tmp_path: Path, monkeypatch) -> None:
    # Prepare
    set_task_identity()
    strategy = _strategy(tmp_path, aggregation="fedavg")
    requests = strategy.configure_train(1, [100, 101])
    replies = _train_replies(requests, [([1.0], 1), ([2.0], 1)])

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("aggregation bug")

    monkeypatch.setattr(strategy.aggregator.first, "aggregate_train", broken)

    # Execute / Assert
    with pytest.raises(ValueError, match="aggregation bug"):
        strategy.aggregate_train(1, replies)
    assert strategy.report.round(1).errors == []
    assert set(strategy.report.round(1).train) == {"p0", "p1"}
