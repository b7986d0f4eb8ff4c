"""A codec known only to the registry runs through the fog and the edges unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.data import load_node_frames
from edge.store import NodeStore
from rinr_core.codecs import get_codec
from rinr_core.images import load_image
from rinr_runtime.config import RuntimeConfig

NODES = ("p0", "p1", "p2")


def test_png_frames_reach_every_other_node_exactly_once_and_without_loss(tiny_config,
                                                                         run_fog) -> None:
    # Prepare: `png` is registered by rinr_core/codecs/lossless.py alone
    run_config = {**tiny_config, "codec": "png"}
    config = RuntimeConfig.from_run_config(run_config)
    originals = {f.frame_id: load_image(f.jpeg) for p in range(3)
                 for f in load_node_frames(config, p, 3).frames}

    # Execute
    _, report = run_fog(run_config)

    # Assert: every frame reached every other node once, and decodes to the camera's pixels
    assert report["summary"]["status"] == "completed"
    pairs = [(node, fid) for r in report["rounds"] for node, ids in r["delivered"].items()
             for fid in ids]
    expected = {(node, fid) for fid, f in report["frames"].items() for node in NODES
                if node != f["owner"]}
    assert len(pairs) == len(set(pairs)) and set(pairs) == expected
    for node in NODES:
        store = NodeStore(Path(tiny_config["edge-dir"]) / "run-1" / f"node-{node}")
        items = store.items()
        assert items and {item.kind for item in items} == {"png"}
        decoded = get_codec("png").decode([store.read(item) for item in items])
        for item, image in zip(items, decoded, strict=True):
            assert np.array_equal(image, originals[item.frame_id])
