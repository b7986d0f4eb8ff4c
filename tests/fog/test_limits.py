"""Bounded inputs: limits per frame and per node, with reasons; duplicate identities refused."""

from __future__ import annotations

import pytest
from flwr.app import Context, Message

from fog.encoder import check_upload
from rinr_core.errors import BadFrameError
from rinr_core.images import encode_image
from rinr_core.synthetic import generate_sequence
from rinr_runtime.records import Upload, frame_id

NODES = ("p0", "p1", "p2")


def _upload(width: int = 48, height: int = 32) -> Upload:
    frame = generate_sequence(1, width=width, height=height, seed=9)[0]
    jpeg = encode_image(frame.image, "JPEG", 90)
    return Upload(frame_id(jpeg), jpeg, frame.box, "object")


def test_a_frame_over_the_byte_limit_is_refused_with_the_reason() -> None:
    upload = _upload()
    with pytest.raises(BadFrameError, match="over max-frame-bytes = 100"):
        check_upload(upload, max_bytes=100)
    assert check_upload(upload, max_bytes=len(upload.jpeg)).width == 48


def test_a_frame_over_the_pixel_limit_is_refused_from_its_header() -> None:
    # a 4096x4096 JPEG that claims more pixels than allowed is never decoded
    import numpy as np

    big = encode_image(np.zeros((4096, 4096, 3), np.uint8), "JPEG", 10)
    upload = Upload(frame_id(big), big, (1.0, 1.0, 8.0, 8.0), "object")
    with pytest.raises(BadFrameError, match="4096x4096 pixels, over max-frame-pixels"):
        check_upload(upload, max_pixels=4096 * 4096 - 1)


def test_frames_over_a_nodes_round_budget_are_deferred_not_lost(tiny_config, run_fog) -> None:
    # Prepare: each node has 3 shareable frames; the fog takes at most 2 per node per round
    run_config = {**tiny_config, "num-server-rounds": 2, "frames-per-round": 0,
                  "max-upload-frames": 2}

    # Execute
    _, report = run_fog(run_config)

    # Assert: round 1 deferred one frame per node, round 2 took it; every frame arrived once
    first, second = report["rounds"]
    assert {n: d["frames"] for n, d in first["deferred"].items()} == dict.fromkeys(NODES, 1)
    assert all("max-upload-frames = 2" in d["reason"] for d in first["deferred"].values())
    assert first["collected"] == dict.fromkeys(NODES, 2)
    assert second["collected"] == dict.fromkeys(NODES, 1) and not second["deferred"]
    pairs = [(node, fid) for r in report["rounds"] for node, ids in r["delivered"].items()
             for fid in ids]
    expected = {(node, fid) for fid, f in report["frames"].items() for node in NODES
                if node != f["owner"]}
    assert len(pairs) == len(set(pairs)) and set(pairs) == expected
    assert report["summary"]["status"] == "completed"


def test_two_nodes_claiming_one_identity_are_detected(tiny_config, run_fog) -> None:
    # Prepare: the third node is misconfigured with the second one's partition id
    from edge.client_app import app as client_app

    def twin(message: Message, context: Context) -> Message:
        if context.node_config["partition-id"] == 2:
            context.node_config["partition-id"] = 1
        return client_app(message, context)

    # Execute
    _, report = run_fog({**tiny_config, "num-server-rounds": 1}, app=twin)

    # Assert: the twin is refused with a clear message; the run does not say completed
    errors = report["summary"]["errors"]
    assert errors and all("duplicate node identity 'p1'" in e["reason"] for e in errors)
    assert report["summary"]["status"] == "completed_with_errors"
    assert set(report["rounds"][0]["collected"]) == {"p0", "p1"}
