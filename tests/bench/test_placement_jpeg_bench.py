"""``bench/placement_jpeg.py``: the placement model's default JPEG is the camera's JPEG."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rinr_runtime.planning import DEFAULT_JPEG_BYTES

REPO = Path(__file__).resolve().parents[2]


def test_camera_jpeg_sizes_are_measured_with_the_source_tables(shared_data: Path,
                                                               tmp_path: Path) -> None:
    # Execute: every 40th frame of each sequence at 640x360
    done = subprocess.run([sys.executable, "bench/placement_jpeg.py", "--stride", "40", "--json",
                           "--out", str(tmp_path), "--data", str(shared_data)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=True)
    data = json.loads(done.stdout)

    # Assert: the source's own tables, smaller than quality 95 for every sequence, and the
    # committed default is the full measurement (every 4th frame) of the same quantity
    assert len(data["sequences"]) == 4
    for row in data["sequences"]:
        assert row["jpeg_source"] == ["source-tables"]
        assert row["camera_bytes"] < row["q95_bytes"]
    measured = json.loads((REPO / "docs" / "results" / "placement_jpeg.json").read_text())
    assert round(measured["camera_jpeg_bytes"]) == DEFAULT_JPEG_BYTES
    assert abs(data["camera_jpeg_bytes"] - DEFAULT_JPEG_BYTES) < 0.25 * DEFAULT_JPEG_BYTES
