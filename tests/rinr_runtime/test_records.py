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
    expected_held,
    frame_id,
    held_digest,
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


def test_a_report_confirms_the_expected_held_set_by_its_digest_alone() -> None:
    # Prepare: a broadcast expecting {a, b, c}; the node stored c and holds a, b, c
    report = NodeReport("p1", held=["b", "a", "c"], stored=["c"], num_own=2)
    content = deliveries_to_content(1, [], Ack(), expected={"a", "b", "c"})

    # Execute
    confirmed = report.confirmed(expected_held(content))
    sent = NodeReport.from_record(confirmed.to_record())

    # Assert: no lists travel, the digest stands for them; the record is smaller
    assert expected_held(content) == held_digest(["c", "b", "a"]) != held_digest(["a", "b"])
    assert (sent.held, sent.stored, sent.held_digest) == ([], [], held_digest("abc"))
    assert (sent.key, sent.num_own) == ("p1", 2)
    assert len(confirmed.to_record()) < len(report.to_record())


def test_a_report_lists_everything_when_it_holds_other_frames_or_some_broke() -> None:
    # Prepare
    holds_more = NodeReport("p1", held=["a", "b", "x"], stored=["b"])
    broke = NodeReport("p1", held=["a", "b"], stored=["b"], broken=["c"], reasons=["crc"])

    stored_less = NodeReport("p1", held=["a", "b"], stored=["b"])
    expected = held_digest(["a", "b"])

    # Execute / Assert: a different set, a broken item, fewer stored than the message brought
    # (a stream sent whole again), or no expectation: the full report
    assert holds_more.confirmed(held_digest(["a", "b"])) == holds_more
    assert stored_less.confirmed(expected, ["a", "b"]) == stored_less
    assert stored_less.confirmed(expected, ["b"]).held_digest == expected
    assert broke.confirmed(expected) == broke
    assert NodeReport("p1", held=["a"]).confirmed(None).held == ["a"]
    assert expected_held(deliveries_to_content(1, [], Ack())) is None
    assert NodeReport.from_record(broke.to_record()) == broke


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


def test_an_empty_ack_is_not_sent_and_a_partial_one_keeps_its_lists() -> None:
    # Execute
    empty = deliveries_to_content(1, [], Ack())
    taken = deliveries_to_content(1, [], Ack(["mine"]))

    # Assert: no record for nothing (a node merges acks, so it loses nothing); no empty lists
    assert "ack" not in empty.config_records and read_ack(empty) is None
    assert list(taken.config_records["ack"]) == ["accepted"]
    assert read_ack(taken) == Ack(["mine"])


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
