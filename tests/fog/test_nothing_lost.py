"""Nothing lost, nothing hidden: damaged caches and deliveries are re-encoded, or reported."""

from __future__ import annotations

from pathlib import Path

from flwr.app import Context, Message

from rinr_runtime.records import array_to_bytes, bytes_to_array

NODES = ("p0", "p1", "p2")


def _pairs(report: dict) -> list[tuple[str, str]]:
    return [(node, fid) for r in report["rounds"] for node, ids in r["delivered"].items()
            for fid in ids]


def _expected(report: dict) -> set[tuple[str, str]]:
    return {(node, fid) for fid, f in report["frames"].items() for node in NODES
            if node != f["owner"]}


def test_a_damaged_encode_cache_is_re_encoded_and_every_frame_arrives(tiny_config,
                                                                     run_fog) -> None:
    # Prepare: one run fills the cache; then one byte of every cached payload is flipped
    _, first = run_fog({**tiny_config, "num-server-rounds": 1, "frames-per-round": 0})
    cached = sorted(Path(tiny_config["cache-dir"]).rglob("*.rinr"))
    assert cached
    for path in cached:
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x10
        path.write_bytes(bytes(data))

    # Execute: a second run over the same frames, in 3 rounds, with the damaged cache
    run_config = {**tiny_config, "num-server-rounds": 3, "frames-per-round": 0,
                  "run-dir": tiny_config["run-dir"] + "2"}
    _, report = run_fog(run_config, run_id=2)

    # Assert: nothing was served from the damaged entries; every frame arrived exactly once
    rounds = report["rounds"]
    assert sum(r["cache_corrupt"] for r in rounds) == len(cached)
    assert sum(r["cache_hits"] for r in rounds) == 0
    pairs = _pairs(report)
    assert len(pairs) == len(set(pairs)) and set(pairs) == _expected(report)
    assert report["summary"]["status"] == "completed"
    assert report["summary"]["delivered_frames"] == len(_expected(report))


def _tamper(node: int, rounds: set[int], only: list[str]):
    """A hook that flips a byte of ``node``'s broadcast items in ``rounds``."""

    def before(msg: Message, context: Context) -> None:
        if (context.node_config["partition-id"] != node
                or msg.metadata.message_type != "query.broadcast"
                or msg.content.config_records["round"]["round"] not in rounds):
            return
        items = msg.content.array_records["items"]
        for fid in list(items.keys()):
            if only and fid != only[0]:
                continue
            only[:] = only or [fid]  # keep damaging the same frame
            data = bytearray(array_to_bytes(items[fid]))
            data[len(data) // 2] ^= 0x01
            items[fid] = bytes_to_array(bytes(data))

    return before


def test_a_frame_reported_broken_is_sent_again_from_a_fresh_encode(tiny_config,
                                                                  run_fog) -> None:
    # Prepare: p1's copy of one frame is damaged in transit in round 1 only
    damaged: list[str] = []
    run_config = {**tiny_config, "num-server-rounds": 2, "frames-per-round": 0}

    # Execute
    _, report = run_fog(run_config, before=_tamper(1, {1}, damaged))

    # Assert: p1 reported it, the fog encoded it again, and p1 got it in round 2
    first, second = report["rounds"]
    assert [b["frame"] for b in first["broken"]] == damaged
    assert first["reencoded"] == damaged
    assert damaged[0] in second["delivered"]["p1"]
    pairs = _pairs(report)
    assert len(pairs) == len(set(pairs)) and set(pairs) == _expected(report)
    assert report["summary"]["status"] == "completed"


def test_a_frame_that_never_arrives_is_named_and_the_run_is_not_completed(tiny_config,
                                                                         run_fog) -> None:
    # Prepare: the same frame is damaged on its way to p1 in every round
    damaged: list[str] = []
    run_config = {**tiny_config, "num-server-rounds": 4, "frames-per-round": 0}

    # Execute
    _, report = run_fog(run_config, before=_tamper(1, {1, 2, 3, 4}, damaged))

    # Assert: after 3 failed deliveries it is given up on, by name; everything else arrived
    summary = report["summary"]
    assert summary["status"] == "incomplete"
    assert list(summary["undeliverable"]) == damaged
    assert "3 failed deliveries" in summary["undeliverable"][damaged[0]]
    assert set(_pairs(report)) == _expected(report) - {("p1", damaged[0])}
    from fog.report_views import format_summary

    assert f"UNDELIVERABLE {damaged[0]}" in format_summary(report)


def test_an_item_damaged_in_a_nodes_store_arrives_again_next_round(tiny_config,
                                                                  run_fog) -> None:
    # Prepare: between rounds 1 and 2, one item in p1's store is cut short (a disk fault)
    from edge.store import NodeStore
    from fog.report_views import format_summary

    damaged: list[str] = []

    def before(msg: Message, context: Context) -> None:
        if (context.node_config["partition-id"] == 1 and not damaged
                and msg.metadata.message_type == "query.collect"
                and msg.content.config_records["round"]["round"] == 2):
            store = NodeStore(Path(tiny_config["edge-dir"]) / "run-1" / "node-p1")
            item = store.items()[0]
            path = store.item_path(item.frame_id, item.kind)
            path.write_bytes(path.read_bytes()[:10])
            damaged.append(item.frame_id)

    # Execute
    _, report = run_fog({**tiny_config, "frames-per-round": 0}, before=before)

    # Assert: p1 stopped reporting it as held, and the fog sent it again in round 2
    assert damaged and damaged[0] in report["rounds"][1]["delivered"]["p1"]
    assert report["summary"]["status"] == "completed" and not report["summary"]["missing"]
    assert "MISSING" not in format_summary(report)
