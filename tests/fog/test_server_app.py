"""The fog ServerApp end to end on a LocalGrid: deliveries, faults, cache, ledger, report."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from flwr.app import Context, Message, RecordDict

import fog.strategy
import rinr_core.codecs.inr
from edge.client_app import app as client_app
from edge.data import load_node_frames
from rinr_runtime.config import RuntimeConfig
from rinr_runtime.flower_compat import nested_objects
from rinr_runtime.records import (
    NodeReport,
    Upload,
    content_to_uploads,
    frame_id,
    metrics_to_record,
    read_node_report,
    record_to_weights,
    uploads_to_content,
    weights_to_record,
)

NODES = ("p0", "p1", "p2")


def _deliveries(report: dict) -> list[tuple[int, str, str]]:
    return [(r["round"], node, fid) for r in report["rounds"]
            for node, ids in r["delivered"].items() for fid in ids]


def _store_ids(tiny_config: dict, run_id: int, node: str) -> set[str]:
    index = Path(tiny_config["edge-dir"]) / f"run-{run_id}" / f"node-{node}" / "index.json"
    return set(json.loads(index.read_text()))


def _assert_everyone_got_everything_once(report: dict) -> None:
    pairs = [(node, fid) for _, node, fid in _deliveries(report)]
    assert len(pairs) == len(set(pairs)), "a frame reached a node twice"
    expected = {(node, fid) for fid, f in report["frames"].items() for node in NODES
                if node != f["owner"]}
    assert set(pairs) == expected


def test_each_frame_reaches_every_other_node_exactly_once(tiny_config, run_fog) -> None:
    # Execute
    _, report = run_fog(tiny_config)

    # Assert: 4 frames per node, every 4th held out -> 3 shared frames per node
    counts = report["summary"]["frames_per_node"]
    assert counts == {n: {"collected": 3, "encoded": 3, "received": 6} for n in NODES}
    _assert_everyone_got_everything_once(report)
    for node in NODES:
        others = {fid for fid, f in report["frames"].items() if f["owner"] != node}
        assert _store_ids(tiny_config, 1, node) == others
    config = RuntimeConfig.from_run_config(tiny_config)
    held_out = {f.frame_id for p in range(3) for f in load_node_frames(config, p, 3).frames
                if f.held_out}
    assert held_out and not held_out & set(report["frames"])
    assert report["summary"]["status"] == "completed"


def test_a_failing_node_does_not_stop_the_round_and_catches_up(tiny_config, run_fog) -> None:
    # Prepare: p1's broadcast handler raises in round 1
    def before(msg: Message, context: Context) -> None:
        if (context.node_config["partition-id"] == 1 and msg.metadata.message_type ==
                "query.broadcast" and msg.content.config_records["round"]["round"] == 1):
            raise RuntimeError("disk full")

    # Execute
    _, report = run_fog(tiny_config, before=before)

    # Assert
    first, second = report["rounds"]
    assert [(e["phase"], e["node"]) for e in first["errors"]] == [("broadcast", "p1")]
    assert "disk full" in first["errors"][0]["reason"]
    assert report["summary"]["status"] == "completed_with_errors"
    assert [(e["round"], e["phase"], e["node"]) for e in report["summary"]["errors"]] == [
        (1, "broadcast", "p1")]
    assert sorted(first["delivered"]) == ["p0", "p2"]
    missed = {fid for fid, f in report["frames"].items() if f["owner"] != "p1"}
    assert set(second["delivered"]["p1"]) == missed  # round 1's and round 2's frames
    _assert_everyone_got_everything_once(report)


def test_a_node_with_missing_replies_gets_what_it_missed(tiny_config, run_fog) -> None:
    # Prepare: p2 never answers in round 1; it is back when round 2 starts
    from fog.local_grid import LocalGrid

    grid = LocalGrid(client_app, 3, tiny_config)
    grid.silent = {102}

    def before(msg: Message, context: Context) -> None:
        if msg.content.config_records["round"]["round"] == 2:
            grid.silent.clear()

    grid.before = before

    # Execute
    _, report = run_fog(tiny_config, grid=grid)

    # Assert
    first, second = report["rounds"]
    assert [(e["phase"], e["node"]) for e in first["errors"]] == [("collect", "n102")]
    assert report["summary"]["status"] == "completed_with_errors"
    assert "p2" not in first["delivered"]
    assert report["summary"]["frames_per_node"]["p2"] == {"collected": 3, "encoded": 3,
                                                          "received": 6}
    assert len(second["delivered"]["p2"]) == 6
    _assert_everyone_got_everything_once(report)


def test_a_node_that_joins_late_gets_everything(tiny_config, run_fog) -> None:
    # Prepare: p2 registers only during round 2 (seen from round 3)
    from fog.local_grid import LocalGrid

    config = {**tiny_config, "num-server-rounds": 3, "node-wait-s": 0.0}
    grid = LocalGrid(client_app, 3, config)
    grid.offline = {102}
    grid.before = lambda msg, ctx: (msg.content.config_records["round"]["round"] == 2
                                    and grid.offline.clear())

    # Execute
    _, report = run_fog(config, grid=grid)

    # Assert
    assert [r["nodes"] for r in report["rounds"]] == [["p0", "p1"], ["p0", "p1"], list(NODES)]
    assert len(report["rounds"][2]["delivered"]["p2"]) == 6
    _assert_everyone_got_everything_once(report)


def test_corrupt_uploads_are_refused_and_the_rest_encoded(tiny_config, run_fog) -> None:
    # Prepare: in round 1, p0's first JPEG is cut in transit and its second box is outside
    def corrupting_app(msg: Message, context: Context) -> Message:
        reply = client_app(msg, context)
        if (msg.metadata.message_type == "query.collect" and context.node_config["partition-id"]
                == 0 and msg.content.config_records["round"]["round"] == 1):
            cut, outside = content_to_uploads(reply.content)
            half = cut.jpeg[: len(cut.jpeg) // 2]
            uploads = [Upload(frame_id(half), half, cut.box, cut.label, cut.name),
                       Upload(outside.frame_id, outside.jpeg, (500.0, 500.0, 5.0, 5.0),
                              outside.label, outside.name)]
            reply = Message(uploads_to_content(uploads, read_node_report(reply.content)),
                            reply_to=msg)
        return reply

    # Execute
    _, report = run_fog(tiny_config, app=corrupting_app)

    # Assert
    rejected = report["summary"]["rejected"]
    assert [r["node"] for r in rejected] == ["p0", "p0"]
    assert "cannot read image" in rejected[0]["reason"]
    assert "outside" in rejected[1]["reason"]
    counts = report["summary"]["frames_per_node"]
    # the frame cut in transit is uploaded again (under its real id) in round 2 and accepted;
    # the frame with a bad box is acknowledged as refused and never uploaded again
    assert report["rounds"][1]["collected"]["p0"] == 2
    assert counts["p0"] == {"collected": 4, "encoded": 2, "received": 6}
    assert counts["p1"] == {"collected": 3, "encoded": 3, "received": 5}
    assert report["rounds"][0]["encoded_now"] == 4


def test_encode_cache_is_hit_on_restart(tiny_config, run_fog, monkeypatch) -> None:
    # Prepare
    _, first = run_fog(tiny_config, run_id=1)

    def no_encoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("the fog encoded again instead of using its cache")

    monkeypatch.setattr(rinr_core.codecs.inr, "encode_frames", no_encoding)

    # Execute: a restarted fog (new run, fresh edges) sees the same frames
    _, second = run_fog({**tiny_config, "run-dir": tiny_config["run-dir"] + "2"}, run_id=2)

    # Assert
    assert sum(r["encoded_now"] for r in first["rounds"]) == 9
    assert sum(r["encoded_now"] for r in second["rounds"]) == 0
    assert sum(r["cache_hits"] for r in second["rounds"]) == 9
    assert all(f["cached"] for f in second["frames"].values())
    assert {k: f["bytes"] for k, f in first["frames"].items()} == {
        k: f["bytes"] for k, f in second["frames"].items()}


def test_byte_ledger_equals_the_deflated_message_sizes(tiny_config, run_fog) -> None:
    # Execute
    grid, report = run_fog(tiny_config)

    # Assert: recomputed here from the messages the grid really moved
    def deflated(message: Message) -> int:
        return sum(len(obj.deflate()) for obj in nested_objects(message).values())

    ledger = report["ledger"]
    assert sorted(e["wire_bytes"] for e in ledger if e["direction"] == "down") == sorted(
        deflated(m) for m in grid.sent)
    assert sorted(e["wire_bytes"] for e in ledger if e["direction"] == "up") == sorted(
        deflated(m) for m in grid.received)
    assert Counter(e["phase"] for e in ledger) == {"collect": 12, "broadcast": 12}
    summary = report["summary"]
    broadcast = [e for e in ledger if e["phase"] == "broadcast" and e["direction"] == "down"]
    assert sum(e["payload_bytes"] for e in broadcast) == summary["delivered_payload_bytes"]
    assert sum(e["jpeg_relay_bytes"] - e["wire_bytes"] + e["payload_bytes"] for e in broadcast
               ) == summary["delivered_jpeg_bytes"]
    assert summary["total_bytes"] == sum(e["wire_bytes"] for e in ledger)


def test_jpeg_codec_relays_the_original_jpegs(tiny_config, run_fog) -> None:
    # Execute
    _, report = run_fog({**tiny_config, "codec": "jpeg"})

    # Assert
    summary = report["summary"]
    assert summary["payload_ratio_vs_jpeg"] == 1.0
    assert summary["total_bytes"] == summary["jpeg_relay_total_bytes"]
    items = Path(tiny_config["edge-dir"]) / "run-1" / "node-p0" / "items"
    config = RuntimeConfig.from_run_config(tiny_config)
    p1_jpegs = {f.frame_id: f.jpeg for f in load_node_frames(config, 1, 3).frames}
    relayed = {p.stem: p.read_bytes() for p in items.glob("*.jpg")}
    assert relayed and all(p1_jpegs[fid] == data for fid, data in relayed.items()
                           if fid in p1_jpegs)


def test_report_files_are_written(tiny_config, run_fog) -> None:
    # Execute
    _, report = run_fog(tiny_config)

    # Assert
    run_dir = Path(tiny_config["run-dir"])
    assert (run_dir / "report.png").stat().st_size > 1000
    markdown = (run_dir / "report.md").read_text()
    assert "## Bytes moved" in markdown and "| p0 | 3 | 3 | 6 |" in markdown
    assert report["run_config"]["codec"] == "residual-inr"
    assert report["summary"]["mean_psnr"]["psnr_full"] > 10


def test_an_unreadable_reply_makes_the_run_completed_with_errors(tiny_config, run_fog) -> None:
    # Prepare: in round 1, p0's collect reply has its report but no frame list
    def garbling_app(msg: Message, context: Context) -> Message:
        reply = client_app(msg, context)
        if (msg.metadata.message_type == "query.collect" and context.node_config["partition-id"]
                == 0 and msg.content.config_records["round"]["round"] == 1):
            reply = Message(RecordDict({"node": reply.content.config_records["node"]}),
                            reply_to=msg)
        return reply

    # Execute
    _, report = run_fog(tiny_config, app=garbling_app)

    # Assert: reported against p0, which uploads again in round 2
    summary = report["summary"]
    assert summary["status"] == "completed_with_errors"
    assert [(e["round"], e["phase"], e["node"]) for e in summary["errors"]] == [
        (1, "collect", "p0")]
    assert "unreadable collect reply" in summary["errors"][0]["reason"]
    assert summary["frames_per_node"]["p0"]["encoded"] == 3
    markdown = (Path(tiny_config["run-dir"]) / "report.md").read_text()
    assert "Status **completed_with_errors**" in markdown and "round 1 collect p0" in markdown


def _trainer_app(msg: Message, context: Context) -> Message:
    """The edge ClientApp, but train and evaluate answer at once (no YOLO): node p<i> returns
    weights of value i from 3 training frames, and mAP50 0.5 on 1 held-out frame."""
    kind = msg.metadata.message_type
    if kind not in ("train", "evaluate"):
        return client_app(msg, context)
    index = int(context.node_config["partition-id"])
    content = RecordDict({"node": NodeReport(f"p{index}").to_record()})
    if kind == "train":
        content["metrics"] = metrics_to_record({"num_train": 3, "map50": 0.1 * index,
                                                "map50_95": 0.0})
        content["weights"] = weights_to_record([np.full(4, float(index), np.float32)])
    else:
        content["metrics"] = metrics_to_record({"num_val": 1, "map50": 0.5, "map50_95": 0.2})
    return Message(content, reply_to=msg)


def test_federated_rounds_send_flowers_global_model(tiny_config, run_fog) -> None:
    # Execute
    grid, report = run_fog({**tiny_config, "train": True, "aggregation": "fedavg"},
                           app=_trainer_app)

    # Assert: round 1 averages models trained from scratch; round 2 starts from that mean
    assert report["summary"]["status"] == "completed"
    sent = [m for m in grid.sent if m.metadata.message_type == "train"]
    assert [len(m.content.array_records) for m in sent] == [0, 0, 0, 1, 1, 1]
    assert all(np.allclose(record_to_weights(m.content.array_records["weights"])[0], 1.0)
               for m in sent[3:])
    first, second = report["rounds"]
    assert first["aggregate"]["train"]["map50"] == pytest.approx(0.1)
    assert second["aggregate"]["evaluate"]["map50"] == pytest.approx(0.5)
    assert sorted(second["evaluate"]) == list(NODES)


def test_a_fog_side_exception_fails_the_run_and_blames_no_node(tiny_config, run_fog,
                                                              monkeypatch) -> None:
    # Prepare: the fog's own handling of readable train replies fails
    def broken_layout(*args: object) -> None:
        raise KeyError("fog bug")

    monkeypatch.setattr(fog.strategy, "layout_of", broken_layout)
    config = {**tiny_config, "train": True, "aggregation": "fedavg"}

    # Execute
    with pytest.raises(KeyError, match="fog bug"):
        run_fog(config, app=_trainer_app)

    # Assert: the report is written, says failed, and no node is blamed
    report = json.loads((Path(tiny_config["run-dir"]) / "report.json").read_text())
    assert report["summary"]["status"] == "failed"
    assert report["summary"]["errors"] == []


def test_an_unknown_run_config_key_fails_the_run(tiny_config, run_fog) -> None:
    with pytest.raises(Exception, match="unknown run_config keys"):
        run_fog({**tiny_config, "rounds": 3})


def test_a_node_that_lost_its_store_gets_everything_again(tiny_config, run_fog) -> None:
    # Prepare: p1 restarts with an empty disk before round 2
    import shutil

    def before(msg: Message, context: Context) -> None:
        if (context.node_config["partition-id"] == 1 and msg.metadata.message_type ==
                "query.collect" and msg.content.config_records["round"]["round"] == 2):
            shutil.rmtree(Path(tiny_config["edge-dir"]) / "run-1" / "node-p1")

    # Execute
    _, report = run_fog(tiny_config, before=before)

    # Assert: its old uploads are recognised (not encoded again), and it is sent all it lacks
    first, second = report["rounds"]
    assert second["collected"]["p1"] == 1 and second["encoded_now"] == 3
    assert len(first["delivered"]["p1"]) == 4 and len(second["delivered"]["p1"]) == 6
    others = {fid for fid, f in report["frames"].items() if f["owner"] != "p1"}
    assert _store_ids(tiny_config, 1, "p1") == others


def test_ten_nodes(tiny_config, run_fog) -> None:
    # Prepare
    from fog.local_grid import LocalGrid

    config = {**tiny_config, "num-server-rounds": 1, "min-nodes": 10, "frames-per-node": 2,
              "val-every": 2, "frame-width": 32, "frame-height": 32, "inr-steps": 2}
    grid = LocalGrid(client_app, 10, config)

    # Execute
    _, report = run_fog(config, grid=grid)

    # Assert
    counts = report["summary"]["frames_per_node"]
    assert len(counts) == 10
    assert all(c == {"collected": 1, "encoded": 1, "received": 9} for c in counts.values())


SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.mark.shared_data
def test_real_sequences_one_per_node(tiny_config, run_fog) -> None:
    # Prepare
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real sequences not present at {SHARED_DATA}")
    config = {**tiny_config, "num-server-rounds": 1, "data": str(SHARED_DATA),
              "frames-per-node": 3, "val-every": 3, "max-side": 64}

    # Execute
    _, report = run_fog(config)

    # Assert: 3 nodes take the first 3 of the 4 sequences (sorted by name)
    counts = report["summary"]["frames_per_node"]
    assert counts == {n: {"collected": 2, "encoded": 2, "received": 4} for n in NODES}
    assert max(f["width"] for f in report["frames"].values()) == 64
