"""The edge node's store on disk: deliveries once, acks merged, weights kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.records import Ack, Delivery
from edge.store import NodeStore


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
