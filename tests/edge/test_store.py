"""The edge node's store on disk: deliveries once, acks merged, weights kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.store import NodeStore
from rinr_core.errors import PayloadError
from rinr_runtime.records import Ack, Delivery


def _delivery(fid: str, kind: str = "rinr") -> Delivery:
    return Delivery(fid, kind, f"data-{fid}".encode(), (1, 2, 3, 4), "object", "p1")


def test_deliveries_are_stored_once_and_survive_a_restart(tmp_path: Path) -> None:
    # Prepare
    store = NodeStore(tmp_path)

    # Execute
    first = store.add([_delivery("a"), _delivery("b", "jpeg")], server_round=1)
    again = store.add([_delivery("b", "jpeg"), _delivery("c")], server_round=2)
    reopened = NodeStore(tmp_path)

    # Assert
    assert first == ["a", "b"] and again == ["c"]
    assert reopened.held_ids() == ["a", "b", "c"]
    items = {i.frame_id: i for i in reopened.items()}
    assert items["b"].kind == "jpeg" and items["c"].round == 2
    assert reopened.read(items["b"]) == b"data-b"
    assert reopened.item_path("b", "jpeg").suffix == ".jpg"


def test_acks_merge_and_keep_reasons(tmp_path: Path) -> None:
    # Prepare
    store = NodeStore(tmp_path)

    # Execute
    store.record_ack(Ack(["x"], ["bad"], ["corrupt JPEG"]))
    store.record_ack(Ack(["x", "y"], [], []))

    # Assert
    assert store.acked() == {"x", "y", "bad"}
    assert store.rejected() == {"bad": "corrupt JPEG"}


def test_weights_are_saved_and_loaded(tmp_path: Path) -> None:
    # Prepare
    store = NodeStore(tmp_path)
    weights = [np.ones((2, 2), np.float32), np.arange(3, dtype=np.float32)]

    # Execute
    before = store.load_weights()
    store.save_weights(weights)
    after = NodeStore(tmp_path).load_weights()

    # Assert
    assert before is None
    assert after is not None and all(np.array_equal(a, b) for a, b in zip(after, weights, strict=True))


# --- streams (video codecs) ------------------------------------------------------------------


def _stream_item(item_id: str, data: bytes, frames: tuple[str, ...], update: bool) -> Delivery:
    return Delivery(item_id, "rinrs", data, (0, 0, 0, 0), "", "p1", frames,
                    ("object",) * len(frames), "p1-48x32", update)


def test_a_stream_and_its_update_are_merged_and_indexed(tmp_path: Path, tiny_stream) -> None:
    # Prepare
    from rinr_core.sequence import frame_boxes

    store = NodeStore(tmp_path)

    # Execute
    first = store.add_stream(_stream_item("p1-48x32.0", tiny_stream.base, ("a", "b", "c"), False), 1)
    second = store.add_stream(_stream_item("p1-48x32.1", tiny_stream.update, ("d", "e"), True), 2)

    # Assert: the node holds exactly the fog's merged stream, each frame at its index and box
    assert first == ["a", "b", "c"] and second == ["d", "e"]
    assert store.stream_path("p1-48x32").read_bytes() == tiny_stream.merged
    items = {i.frame_id: i for i in NodeStore(tmp_path).items()}
    boxes = frame_boxes(tiny_stream.merged)
    assert [items[f].index for f in "abcde"] == [0, 1, 2, 3, 4]
    assert all(items[f].box == boxes[k] and items[f].stream == "p1-48x32"
               for k, f in enumerate("abcde"))


def test_a_whole_stream_again_adds_only_new_frames(tmp_path: Path, tiny_stream) -> None:
    # Prepare
    store = NodeStore(tmp_path)
    store.add_stream(_stream_item("p1-48x32.0", tiny_stream.base, ("a", "b", "c"), False), 1)

    # Execute
    stored = store.add_stream(_stream_item("p1-48x32.0-1", tiny_stream.merged, tuple("abcde"),
                                           False), 2)

    # Assert
    assert stored == ["d", "e"]
    assert store.held_ids() == list("abcde")


@pytest.mark.parametrize(
    ("setup", "item", "message"),
    [
        (None, ("u", "update", ("d", "e"), True), "does not hold"),
        ("base", ("u", "tampered", ("d", "e"), True), "checksum|truncated|another base"),
        ("base", ("u", "update", ("d",), True), "holds 2 frame"),
        (None, ("w", "update", ("d", "e"), False), "update"),
    ],
)
def test_bad_stream_items_are_refused_and_the_store_is_unchanged(
        tmp_path: Path, tiny_stream, setup: str | None, item: tuple, message: str) -> None:
    # Prepare
    store = NodeStore(tmp_path)
    if setup == "base":
        store.add_stream(_stream_item("b", tiny_stream.base, ("a", "b", "c"), False), 1)
    before = store.held_ids()
    item_id, which, frames, update = item
    data = tiny_stream.update
    if which == "tampered":
        data = data[:40] + bytes([data[40] ^ 0xFF]) + data[41:]

    # Execute / Assert
    with pytest.raises(PayloadError, match=message):
        store.add_stream(_stream_item(item_id, data, frames, update), 2)
    assert store.held_ids() == before
    if setup == "base":
        assert store.stream_path("p1-48x32").read_bytes() == tiny_stream.base


def test_an_unsafe_stream_id_is_refused(tmp_path: Path) -> None:
    # Execute / Assert
    with pytest.raises(PayloadError, match="invalid stream id"):
        NodeStore(tmp_path).stream_path("../../etc/passwd")


def test_frames_of_a_damaged_stream_are_not_reported_as_held(tmp_path: Path, tiny_stream) -> None:
    # Prepare
    store = NodeStore(tmp_path)
    store.add([_delivery("x")], server_round=1)
    store.add_stream(_stream_item("p1-48x32.0", tiny_stream.base, ("a", "b", "c"), False), 1)
    path = store.stream_path("p1-48x32")

    # Execute
    path.write_bytes(tiny_stream.base[:-1] + bytes([tiny_stream.base[-1] ^ 1]))
    damaged = store.held_ids()
    path.unlink()
    missing = store.held_ids()
    store.add_stream(_stream_item("p1-48x32.0", tiny_stream.base, ("a", "b", "c"), False), 2)

    # Assert: the other frames stay held; the stream is held again once it is re-sent
    assert damaged == missing == ["x"]
    assert store.held_ids() == ["x", "a", "b", "c"]
