"""``bench/edge_training.py --quick --json``: the benchmark runs end to end at tiny sizes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_benchmark_prints_both_trainers(seq_dir: Callable[[str], Path],
                                              tmp_path: Path) -> None:
    # Prepare: the two real sequences it uses (skips where ../shared/data is absent)
    seq_dir("vot_bag")
    seq_dir("uav123_boat1")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    # Execute
    done = subprocess.run(
        [sys.executable, "bench/edge_training.py", "--quick", "--json", "--threads", "1",
         "--device", "cpu", "--out", str(tmp_path)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)

    # Assert: one JSON object with both trainers' memory, mAP and time; files written
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(done.stdout)
    for trainer in ("backprop", "forward_gradient"):
        for key in ("peak_mem_mb", "map50_95", "train_s"):
            assert isinstance(data[trainer][key], (int, float)), (trainer, key)
        assert data[trainer]["peak_mem_mb"] > 0
    assert sorted(data["forward_gradient"]["bits"]) == ["0", "16", "8"]
    assert data["targets"]["memory_ratio"]
    assert (tmp_path / "edge_training.md").is_file() and (tmp_path / "edge_training.json").is_file()
