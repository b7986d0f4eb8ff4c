"""Crash and disk-full tests of the edge store with real processes and a real small filesystem."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from edge.store import NodeStore

WRITER = """
import os, sys
from edge.store import NodeStore
from rinr_runtime.records import Delivery
store = NodeStore(sys.argv[1])
print("ready", flush=True)
for i in range(100000):
    data = os.urandom(200_000)
    store.add([Delivery(f"{i:032x}", "rinr", data, (0, 0, 4, 4), "object", "p0")], 1)
"""


def test_a_store_killed_mid_write_accepts_no_half_written_item(tmp_path: Path) -> None:
    # Prepare: a real process that keeps storing 200 kB items
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(1.5)

    # Execute: kill -9 while it writes
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)

    # Assert: every item the store reports as held is whole; leftovers are never reported
    store = NodeStore(tmp_path)
    held = store.held_ids()
    assert held, "the writer stored nothing before it was killed"
    by_id = {item.frame_id: item for item in store.items()}
    for fid in held:
        assert len(store.read(by_id[fid])) == 200_000
    leftovers = [p for p in (tmp_path / "items").iterdir() if p.name.startswith(".")]
    assert all(p.stem.lstrip(".") not in held for p in leftovers)


def test_a_damaged_or_missing_item_is_not_reported_as_held(tmp_path: Path) -> None:
    # Prepare
    from rinr_runtime.records import Delivery

    store = NodeStore(tmp_path)
    ids = [f"{i:032x}" for i in range(3)]
    store.add([Delivery(fid, "rinr", bytes([i]) * 100, (0, 0, 4, 4), "object", "p0")
               for i, fid in enumerate(ids)], 1)
    items = {item.frame_id: item for item in store.items()}

    # Execute: one item truncated, one deleted, one flipped
    store.item_path(ids[0], "rinr").write_bytes(b"\x00" * 50)
    store.item_path(ids[1], "rinr").unlink()

    # Assert: only the intact one counts; storing the frames again repairs the store
    assert store.held_ids() == [ids[2]]
    repaired = store.add([Delivery(fid, "rinr", bytes([i]) * 100, (0, 0, 4, 4), "object", "p0")
                          for i, fid in enumerate(ids)], 2)
    assert repaired == ids[:2] and store.held_ids() == ids
    assert store.read(items[ids[0]]) == bytes([0]) * 100


def test_a_damaged_index_counts_as_an_empty_store(tmp_path: Path) -> None:
    store = NodeStore(tmp_path)
    (tmp_path / "index.json").write_text('{"truncated": ')
    assert store.held_ids() == []
