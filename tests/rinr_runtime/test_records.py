"""Records layout: uploads, deliveries and weights survive the trip; sizes are the deflated objects."""

from __future__ import annotations

import numpy as np
import pytest
from flwr.app import Message, RecordDict

from rinr_core.errors import BadFrameError, PayloadError
from rinr_runtime.flower_compat import nested_objects, set_task_identity
from rinr_runtime.records import (
    Ack,
    Delivery,
    NodeReport,
    Upload,
    content_to_deliveries,
    content_to_uploads,
    deliveries_to_content,
    frame_id,
    message_wire_bytes,
    payload_bytes,
    read_ack,
    record_to_weights,
    uploads_to_content,
    weights_to_record,
)


def _upload(data: bytes) -> Upload:
    return Upload(frame_id(data), data, (1.0, 2.0, 3.0, 4.0), "object", "f0")


def test_uploads_round_trip_with_the_node_report() -> None:
    # Prepare
    uploads = [_upload(b"jpeg-one"), _upload(b"jpeg-two")]
    report = NodeReport("p3", held=["a", "b"], num_own=5, num_val=1)

    # Execute
    content = uploads_to_content(uploads, report)
    back = content_to_uploads(content)
    node = NodeReport.from_record(content.config_records["node"])

    # Assert
    assert back == uploads
    assert node == report


def test_uploads_with_disagreeing_lists_are_refused() -> None:
    # Prepare
    content = uploads_to_content([_upload(b"x")], NodeReport("p0"))
    content.config_records["frame-meta"]["labels"] = []

    # Execute / Assert
    with pytest.raises(BadFrameError, match="lists disagree"):
        content_to_uploads(content)


def test_deliveries_and_ack_round_trip() -> None:
    # Prepare
    deliveries = [Delivery("id1", "rinr", b"payload", (1, 2, 3, 4), "object", "p1"),
                  Delivery("id2", "jpeg", b"jpeg", (5, 6, 7, 8), "object", "p2")]
    ack = Ack(["mine"], ["bad"], ["corrupt"])

    # Execute
    content = deliveries_to_content(2, deliveries, ack)

    # Assert
    assert content_to_deliveries(content) == deliveries
    assert read_ack(content) == ack
    assert read_ack(RecordDict()) is None


def test_stream_deliveries_round_trip_with_their_frame_lists() -> None:
    # Prepare: a whole stream, an update, and a per-frame item in one message
    deliveries = [
        Delivery("p1-48x32.0-1", "rinrs", b"whole", (0, 0, 0, 0), "", "p1", ("a", "b", "c"),
                 ("object", "car", "object"), "p1-48x32", update=False),
        Delivery("p2-48x32.3", "rinrs", b"upd", (0, 0, 0, 0), "", "p2", ("d",), ("object",),
                 "p2-48x32", update=True),
        Delivery("id9", "rinr", b"payload", (1, 2, 3, 4), "object", "p1"),
    ]

    # Execute
    back = content_to_deliveries(deliveries_to_content(3, deliveries, Ack()))

    # Assert
    assert back == deliveries
    assert [d.carried for d in back] == [("a", "b", "c"), ("d",), ("id9",)]


def test_stream_deliveries_with_disagreeing_frame_lists_are_refused() -> None:
    # Prepare: one frame label missing
    content = deliveries_to_content(1, [Delivery("s.0", "rinrs", b"x", (0, 0, 0, 0), "", "p1",
                                                 ("a", "b"), ("object",), "s")], Ack())

    # Execute / Assert
    with pytest.raises(PayloadError, match="stream frames"):
        content_to_deliveries(content)


def test_deliveries_with_a_missing_payload_are_refused() -> None:
    # Prepare
    content = deliveries_to_content(1, [Delivery("id1", "rinr", b"p", (1, 2, 3, 4), "o", "p1")],
                                    Ack())
    del content.array_records["items"]["id1"]

    # Execute / Assert
    with pytest.raises(PayloadError):
        content_to_deliveries(content)


def test_weights_round_trip_as_float32() -> None:
    # Prepare
    weights = [np.arange(6, dtype=np.float64).reshape(2, 3), np.ones(4, np.float32)]

    # Execute
    back = record_to_weights(weights_to_record(weights))

    # Assert
    assert [w.dtype for w in back] == [np.float32, np.float32]
    assert all(np.array_equal(a, b) for a, b in zip(back, weights, strict=True))


def test_wire_bytes_count_every_distinct_object_once() -> None:
    # Prepare
    set_task_identity()
    blob = bytes(range(256)) * 40
    one = Message(uploads_to_content([_upload(blob)], NodeReport("p0")), dst_node_id=1,
                  message_type="query.collect")
    twice = Message(uploads_to_content([_upload(blob), _upload(blob + b"!")], NodeReport("p0")),
                    dst_node_id=1, message_type="query.collect")

    # Execute
    wire_one, wire_twice = message_wire_bytes(one), message_wire_bytes(twice)

    # Assert
    objects = nested_objects(one).values()
    assert wire_one == sum(len(o.deflate()) for o in objects)
    assert payload_bytes(one) == len(blob)
    assert wire_one > len(blob)
    assert len(blob) < wire_twice - wire_one < len(blob) + 1000
