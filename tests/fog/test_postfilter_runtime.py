"""``post-filter = "lut"``: the fog trains a post-filter, every node gets it once and uses it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from flwr.app import Context, Message

from edge.node import EdgeNode
from edge.store import NodeStore
from rinr_core.codecs import get_container
from rinr_core.lut import LutFilter, unpack
from rinr_runtime.config import RuntimeConfig
from rinr_runtime.records import KIND_RLUT, array_to_bytes, bytes_to_array

NODES = ("p0", "p1", "p2")


def test_every_frame_and_the_post_filter_reach_every_node_exactly_once(tiny_config,
                                                                       run_fog) -> None:
    # Prepare
    run_config = {**tiny_config, "post-filter": "lut", "post-filter-steps": 20}

    # Execute: 3 nodes, 2 rounds, residual-inr
    _, report = run_fog(run_config)

    # Assert: every frame reached every other node once, as without a post-filter
    assert report["summary"]["status"] == "completed"
    pairs = [(node, fid) for r in report["rounds"] for node, ids in r["delivered"].items()
             for fid in ids]
    expected = {(node, fid) for fid, f in report["frames"].items() for node in NODES
                if node != f["owner"]}
    assert len(pairs) == len(set(pairs)) and set(pairs) == expected

    # Assert: each post-filter the fog trained went to each node exactly once
    post = report["postfilter"]
    versions = [t["id"] for t in post["trainings"] if t["id"]]
    assert versions and post["trainings"][0]["round"] == 1 and post["trainings"][0]["gain_db"] > 0
    assert post["sent"] == {node: dict.fromkeys(versions, 1) for node in NODES}
    assert 0 < post["trainings"][0]["bytes"] <= 64 * 1024
    # its bytes are in the byte ledger: the first broadcast carries them beside the frames
    first = [e for e in report["ledger"] if e["round"] == 1 and e["phase"] == "broadcast"
             and e["direction"] == "down"]
    delivered = report["rounds"][0]["delivered_bytes"]
    assert all(e["payload_bytes"] >= delivered.get(e["node"], 0) + post["trainings"][0]["bytes"]
               for e in first)

    # Assert: each node holds the newest post-filter and applies it to what it decodes
    config = RuntimeConfig.from_run_config(run_config)
    for partition, node in enumerate(NODES):
        root = Path(tiny_config["edge-dir"]) / "run-1" / f"node-{node}"
        store = NodeStore(root)
        luts = [item for item in store.items() if item.kind == KIND_RLUT]
        assert [item.frame_id for item in luts] == versions
        assert versions[-1] in store.held_ids()
        lut = LutFilter(unpack(store.read(luts[-1])))
        frames = [item for item in store.items() if item.kind != KIND_RLUT]
        plain = get_container(frames[0].kind).decode([store.read(i) for i in frames], "cpu")
        decoded = EdgeNode(config, node, partition, 3, root).decode_received()
        assert not decoded.broken and len(decoded.frames) == len(frames)
        by_id = {f.name: f.image for f in decoded.frames}
        for item, image in zip(frames, plain, strict=True):
            assert np.array_equal(by_id[item.frame_id], lut.apply(image))


def test_a_post_filter_damaged_in_transfer_is_refused_and_sent_again(tiny_config,
                                                                     run_fog) -> None:
    # Prepare: flip a byte of the post-filter item node 1 gets in round 1
    def before(msg: Message, context: Context) -> None:
        if (context.node_config["partition-id"] != 1
                or msg.metadata.message_type != "query.broadcast"
                or msg.content.config_records["round"]["round"] != 1):
            return
        items = msg.content.array_records["items"]
        for fid in [f for f in items.keys() if f.startswith("postfilter-")]:
            data = bytearray(array_to_bytes(items[fid]))
            data[len(data) // 2] ^= 0x01
            items[fid] = bytes_to_array(bytes(data))

    run_config = {**tiny_config, "post-filter": "lut", "post-filter-steps": 20}

    # Execute
    _, report = run_fog(run_config, before=before)

    # Assert: node 1 refused it (checksum), got it again in round 2, and holds it intact
    version = report["postfilter"]["trainings"][0]["id"]
    broken = [b for r in report["rounds"] for b in r["broken"] if b["frame"] == version]
    assert [b["node"] for b in broken] == ["p1"] and "CRC-32" in broken[0]["reason"]
    assert report["postfilter"]["sent"]["p1"][version] == 2
    assert report["postfilter"]["sent"]["p0"][version] == 1
    store = NodeStore(Path(tiny_config["edge-dir"]) / "run-1" / "node-p1")
    assert version in store.held_ids()
    item = next(i for i in store.items() if i.frame_id == version)
    unpack(store.read(item))  # intact
    assert report["summary"]["status"] == "completed"
