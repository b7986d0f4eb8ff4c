"""Video codecs in the runtime: per-node ``.rinrs`` streams, updates, whole resends, the cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from flwr.app import Message

import fog.streams
import rinr_core.codecs.video
from edge.node import EdgeNode
from fog.streams import Stream
from rinr_core.sequence import decode_sequence, unpack_sequence
from rinr_runtime.config import RuntimeConfig
from rinr_runtime.records import KIND_RINRS, Delivery, content_to_deliveries

NODES = ("p0", "p1", "p2")


# --- settings ----------------------------------------------------------------------------------


def test_run_config_keys_reach_the_sequence_settings() -> None:
    # Execute
    config = RuntimeConfig.from_run_config({
        "codec": "nerv", "nerv-preset": "compact", "nerv-epochs": 7, "nerv-bpp": 0.5,
        "target-background-db": 30.0, "target-object-db": 35.0, "inr-steps": 40,
        "object-bits": 12, "background-bits": 4, "inr-warm-start": False, "seed": 3})
    settings = fog.streams.sequence_settings(config)

    # Assert: unset keys (0) fall back to the sequence defaults
    assert (settings.codec, settings.nerv_preset, settings.epochs, settings.nerv_bpp) == (
        "nerv", "compact", 7, 0.5)
    assert (settings.background_db, settings.object_db) == (30.0, 35.0)
    assert (settings.object_steps, settings.object_bits, settings.nerv_bits) == (40, 12, 4)
    assert (settings.warm_start, settings.seed) == (False, 3)
    defaults = fog.streams.sequence_settings(RuntimeConfig.from_run_config({"codec": "res-nerv"}))
    assert (defaults.epochs, defaults.nerv_bpp, defaults.background_db, defaults.object_db,
            defaults.object_bits) == (None, None, None, None, 10)


# --- what a node is sent ----------------------------------------------------------------------


@pytest.fixture
def stream(tiny_stream) -> Stream:
    """A fog stream of 3 base frames (a, b, c) and one update (d, e)."""
    s = Stream("p0-48x32", "p0")
    s.append(tiny_stream.base, ["a", "b", "c"], ["object"] * 3)
    s.append(tiny_stream.update, ["d", "e"], ["object"] * 2)
    return s


def _shape(deliveries: list[Delivery]) -> list[tuple[str, bool, tuple[str, ...]]]:
    return [(d.frame_id, d.update, d.frames) for d in deliveries]


def test_the_merged_stream_equals_base_plus_update(stream: Stream, tiny_stream) -> None:
    # Assert
    assert stream.merged == tiny_stream.merged
    assert stream.frames == list("abcde")


@pytest.mark.parametrize(
    ("held", "whole", "expected"),
    [
        (set(), False, [("p0-48x32.0-1", False, tuple("abcde"))]),  # new node: whole, one item
        (set("abc"), False, [("p0-48x32.1", True, ("d", "e"))]),  # holds the base: the update
        (set("abcde"), False, []),  # holds everything
        (set("abcde"), True, []),
        (set("de"), False, [("p0-48x32.0-1", False, tuple("abcde"))]),  # not a prefix: whole
        (set("ab"), False, [("p0-48x32.0-1", False, tuple("abcde"))]),  # part of the base
        (set("abc"), True, [("p0-48x32.0-1", False, tuple("abcde"))]),  # update failed there
    ],
)
def test_a_node_gets_what_it_lacks_of_a_stream(stream: Stream, tiny_stream, held: set[str],
                                               whole: bool, expected: list) -> None:
    # Execute
    deliveries = stream.deliveries(held, whole=whole)

    # Assert
    assert _shape(deliveries) == expected
    for d in deliveries:
        assert d.kind == KIND_RINRS and d.stream == "p0-48x32" and d.source == "p0"
        assert d.data == (tiny_stream.update if d.update else tiny_stream.merged)


# --- end to end on a LocalGrid ------------------------------------------------------------------


@pytest.fixture
def stream_config(tiny_config: dict) -> dict:
    """Three rounds of Res-NeRV: 2 frames per node per round (the last round brings 1)."""
    return {**tiny_config, "codec": "res-nerv", "num-server-rounds": 3, "frames-per-node": 7,
            "frames-per-round": 2, "val-every": 4, "nerv-epochs": 2, "inr-steps": 8}


def _broadcasts(grid) -> dict[int, list[Delivery]]:
    """Round -> every delivery the fog sent."""
    out: dict[int, list[Delivery]] = {}
    for m in grid.sent:
        if m.metadata.message_type == "query.broadcast":
            rnd = int(m.content.config_records["round"]["round"])
            out.setdefault(rnd, []).extend(content_to_deliveries(m.content))
    return out


def _stream_files(edge_dir: str, run_id: int, node: str) -> dict[str, bytes]:
    folder = Path(edge_dir) / f"run-{run_id}" / f"node-{node}" / "items"
    return {p.stem: p.read_bytes() for p in folder.glob("*.rinrs")}


def _node(config: dict, key: str, run_id: int = 1) -> EdgeNode:
    root = Path(config["edge-dir"]) / f"run-{run_id}" / f"node-{key}"
    return EdgeNode(RuntimeConfig.from_run_config(config), key, int(key[1:]), 3, root)


def _assert_everyone_got_everything_once(report: dict) -> None:
    pairs = [(node, fid) for r in report["rounds"] for node, ids in r["delivered"].items()
             for fid in ids]
    assert len(pairs) == len(set(pairs)), "a frame reached a node twice"
    assert set(pairs) == {(node, fid) for fid, f in report["frames"].items() for node in NODES
                          if node != f["owner"]}


def test_streams_grow_by_updates_and_every_node_decodes_the_same_frames(stream_config,
                                                                         run_fog) -> None:
    # Execute
    grid, report = run_fog(stream_config)

    # Assert: every shared frame reaches every other node once, as a stream frame
    _assert_everyone_got_everything_once(report)
    assert {f["kind"] for f in report["frames"].values()} == {KIND_RINRS}
    assert report["summary"]["errors"] == [] and report["summary"]["status"] == "completed"
    sent = _broadcasts(grid)
    assert all(not d.update for d in sent[1])  # round 1: each stream's base
    assert sent[2] and all(d.update for d in sent[2])  # later rounds ship only updates
    assert all(d.frames for d in sent[2])
    # each node holds the others' streams byte for byte as the other nodes do
    files = {n: _stream_files(stream_config["edge-dir"], 1, n) for n in NODES}
    for owner in NODES:
        copies = [f for n, f in files.items() for sid, f in f.items() if sid.startswith(owner)]
        assert len(copies) == 2 and copies[0] == copies[1]
        assert not unpack_sequence(copies[0]).is_update
    # the frames a node trains on are its streams decoded
    decoded = _node(stream_config, "p1").decode_received()
    assert not decoded.broken
    assert len(decoded.frames) == sum(len(r["delivered"]["p1"]) for r in report["rounds"])
    p0 = next(f for sid, f in files["p1"].items() if sid.startswith("p0"))
    images = decode_sequence(p0)
    by_id = {f.name: f for f in decoded.frames}
    p0_ids = [fid for fid, f in report["frames"].items() if f["owner"] == "p0"]
    assert all((by_id[fid].image == images[k]).all() for k, fid in enumerate(p0_ids))
    # the summary's payload bytes are the broadcast items' bytes
    ledger = [e for e in report["ledger"] if e["phase"] == "broadcast" and e["direction"] == "down"]
    assert report["summary"]["delivered_payload_bytes"] == sum(e["payload_bytes"] for e in ledger)


def test_a_late_node_gets_each_stream_whole(stream_config, run_fog) -> None:
    # Prepare: p2 is offline for rounds 1-2
    from edge.client_app import app as client_app
    from fog.local_grid import LocalGrid

    config = {**stream_config, "node-wait-s": 0.0}
    grid = LocalGrid(client_app, 3, config)
    grid.offline = {102}
    grid.before = lambda msg, ctx: (msg.content.config_records["round"]["round"] == 2
                                    and grid.offline.clear())

    # Execute
    grid, report = run_fog(config, grid=grid)

    # Assert: in round 3 p2 gets one whole item per stream of p0 and p1
    items = [d for m in grid.sent if m.metadata.message_type == "query.broadcast"
             and m.metadata.dst_node_id == 102 for d in content_to_deliveries(m.content)]
    assert [(d.source, d.update) for d in items] == [("p0", False), ("p1", False)]
    _assert_everyone_got_everything_once(report)
    files = {n: _stream_files(config["edge-dir"], 1, n) for n in NODES}
    assert files["p2"] == {sid: f for sid, f in files["p1"].items() if sid.startswith("p0")} | {
        sid: f for sid, f in files["p0"].items() if sid.startswith("p1")}


def test_a_node_whose_stream_is_damaged_gets_it_whole_next_round(stream_config,
                                                                  run_fog) -> None:
    # Prepare: before round 2's broadcast, p1's copy of p0's stream is damaged on disk
    def before(msg: Message, context) -> None:
        if (context.node_config["partition-id"] == 1 and msg.metadata.message_type ==
                "query.broadcast" and msg.content.config_records["round"]["round"] == 2):
            items = Path(stream_config["edge-dir"]) / "run-1" / "node-p1" / "items"
            path = next(items.glob("p0-*.rinrs"))
            data = path.read_bytes()
            path.write_bytes(data[:-9])

    # Execute
    grid, report = run_fog(stream_config, before=before)

    # Assert: round 2's update could not be applied at p1 (reported), round 3 sent it whole
    second, third = report["rounds"][1], report["rounds"][2]
    assert {b["node"] for b in second["broken"]} == {"p1"}
    assert "truncated" in second["broken"][0]["reason"]
    assert {b["frame"] for b in second["broken"]} <= set(third["delivered"]["p1"])
    p1_items = [d for d in _broadcasts(grid)[3] if d.source == "p0" and d.update is False]
    assert len(p1_items) == 1 and len(p1_items[0].frames) == 5
    _assert_everyone_got_everything_once(report)
    assert not _node(stream_config, "p1").decode_received().broken


def test_a_node_that_lost_a_stream_file_gets_it_whole(stream_config, run_fog) -> None:
    # Prepare: p1's copy of p0's stream disappears before round 2's collect
    def before(msg: Message, context) -> None:
        if (context.node_config["partition-id"] == 1 and msg.metadata.message_type ==
                "query.collect" and msg.content.config_records["round"]["round"] == 2):
            items = Path(stream_config["edge-dir"]) / "run-1" / "node-p1"
            next(items.glob("items/p0-*.rinrs")).unlink()

    # Execute
    grid, report = run_fog(stream_config, before=before)

    # Assert: round 2 already sends p0's stream whole to p1; nothing broke, nothing twice
    whole = [d for d in _broadcasts(grid)[2] if d.source == "p0" and not d.update]
    assert len(whole) == 1 and report["rounds"][1]["broken"] == []
    _assert_everyone_got_everything_once(report)
    assert not _node(stream_config, "p1").decode_received().broken


def test_a_restarted_fog_rebuilds_its_streams_from_the_cache(stream_config, run_fog,
                                                             monkeypatch) -> None:
    # Prepare
    _, first = run_fog(stream_config, run_id=1)

    def no_encoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("the fog encoded again instead of using its cache")

    monkeypatch.setattr(rinr_core.codecs.video, "encode_sequence", no_encoding)
    monkeypatch.setattr(rinr_core.codecs.video, "update_sequence", no_encoding)

    # Execute
    _, second = run_fog({**stream_config, "run-dir": stream_config["run-dir"] + "2"}, run_id=2)

    # Assert
    assert sum(r["encoded_now"] for r in second["rounds"]) == 0
    assert sum(r["cache_hits"] for r in second["rounds"]) == len(first["frames"]) == 15
    assert _stream_files(stream_config["edge-dir"], 1, "p0") == _stream_files(
        stream_config["edge-dir"], 2, "p0")


# --- encode workers ---------------------------------------------------------------------------


def test_encode_workers_give_the_same_streams_as_one_process() -> None:
    # Prepare: two cameras' grid streams, a base then an update each, with no cache
    from fog.encode_cache import EncodeCache
    from rinr_core.images import encode_image
    from rinr_core.synthetic import generate_partition

    frames = {f"p{p}": generate_partition(p, 4, width=48, height=32) for p in range(2)}
    items = {owner: [(f"{owner}-{k}", encode_image(f.image, "JPEG", 90), f)
                     for k, f in enumerate(fs)] for owner, fs in frames.items()}

    def streams(workers: int) -> dict[str, list[bytes]]:
        config = RuntimeConfig.from_run_config({"codec": "grid", "inr-steps": 10,
                                                "nerv-preset": "quick",
                                                "encode-workers": workers})
        encoder = fog.streams.StreamEncoder(config, EncodeCache(None))
        for part in (slice(0, 2), slice(2, 4)):
            results = encoder.encode({o: its[part] for o, its in items.items()})
            assert [r.stream.owner for r in results] == list(items)
            assert all(not r.cached and len(r.metrics) == 2 for r in results)
        return {sid: [seg.data for seg in s.segments] for sid, s in encoder.streams.items()}

    # Execute
    alone, pooled = streams(1), streams(2)

    # Assert: the same segments, byte for byte, in the same streams
    assert list(alone) == ["p0-48x32", "p1-48x32"]
    assert pooled == alone
