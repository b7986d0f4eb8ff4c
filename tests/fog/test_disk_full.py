"""A node whose disk fills up during a broadcast reports it, and gets its frames once there is room."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


def _mount_tmpfs(path: Path, size: str) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                            capture_output=True)
    return result.returncode == 0


def test_a_full_disk_during_a_broadcast_is_reported_and_the_frames_come_later(
        tiny_config, run_fog, tmp_path: Path) -> None:
    # Prepare: node p1's store lives on a 24 kB tmpfs (too small for round 1's items)
    from flwr.app import Context, Message

    node_dir = Path(tiny_config["edge-dir"]) / "run-1" / "node-p1"
    if os.geteuid() != 0 or not _mount_tmpfs(node_dir, "24k"):
        pytest.skip("needs root and tmpfs mounts (a real small filesystem)")

    def grow_disk(msg: Message, context: Context) -> None:
        if (msg.metadata.message_type == "query.collect"
                and msg.content.config_records["round"]["round"] == 2):
            subprocess.run(["mount", "-o", "remount,size=4m", str(node_dir)], check=True)

    from edge.client_app import app as client_app

    def app(message: Message, context: Context) -> Message:
        grow_disk(message, context)
        return client_app(message, context)

    try:
        # Execute: 2 rounds, all frames in round 1 (120x80 frames: items of a few kB each)
        run_config = {**tiny_config, "frame-width": 120, "frame-height": 80,
                      "frames-per-round": 0, "frames-per-node": 8, "codec": "png"}
        _, report = run_fog(run_config, app=app)
    finally:
        subprocess.run(["umount", "-l", str(node_dir)], capture_output=True)

    # Assert: p1 said its disk was full in round 1, and got every frame in round 2
    first, second = report["rounds"]
    failures = [e for e in first["errors"] if e["node"] == "p1"]
    assert failures and any("No space left" in e["reason"] for e in failures)
    expected = {fid for fid, f in report["frames"].items() if f["owner"] != "p1"}
    got = set(first["delivered"].get("p1", [])) | set(second["delivered"].get("p1", []))
    assert got == expected
    assert report["summary"]["status"] == "completed_with_errors"
    assert not report["summary"]["missing"]
