"""``bench/gpu.py``: the paper-scale GPU benchmark's code path, at tiny sizes on the CPU.

The quick run is the same code as the GPU run (simulations, ledger, decode speeds, the two
training feeds); asking for CUDA where there is none is refused, never run on the CPU.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rinr_runtime.planning.throughputs import load_throughputs

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is visible here")
def test_asking_for_cuda_without_one_is_refused_clearly(tmp_path: Path) -> None:
    # Execute: the default device is cuda
    done = subprocess.run([sys.executable, "bench/gpu.py", "--quick", "--out", str(tmp_path)],
                          cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120,
                          check=False)

    # Assert: refused with what to do, nothing measured or written
    assert done.returncode == 2, done.stderr[-2000:]
    assert "no CUDA device is visible" in done.stderr and "--device cpu" in done.stderr
    assert not (tmp_path / "gpu.json").exists()


@pytest.mark.slow
def test_quick_run_measures_every_part_on_the_device_asked(shared_data: Path,
                                                          tmp_path: Path) -> None:
    # Execute
    done = subprocess.run(
        [sys.executable, "bench/gpu.py", "--quick", "--device", "cpu", "--threads", "1",
         "--json", "--out", str(tmp_path), "--data", str(shared_data)],
        cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600, check=False)

    # Assert: one run per codec, each on the CPU asked for, bytes from its own ledger
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(done.stdout)
    runs = {r["codec"]: r for r in data["runs"]}
    assert sorted(runs) == ["grid", "jpeg", "res-nerv", "residual-inr"]
    for run in runs.values():
        assert set(run["devices"].values()) == {"cpu"} and len(run["devices"]) == 3
        assert run["total_bytes"] == sum(sum(p.values()) for p in run["bytes_by_phase"].values())
        assert run["delivered_frames"] == run["uploaded_frames"] > 0  # 2 nodes: each frame once
    jpeg = runs["jpeg"]
    assert jpeg["mean_payload_bytes"] == jpeg["mean_upload_bytes"]  # the relay sends the upload
    assert jpeg["total_bytes"] == jpeg["jpeg_relay_total_bytes"]
    assert runs["residual-inr"]["overrides"]["preset"] == "paper"
    assert all(runs[c]["encode_fps"] > 0 for c in ("residual-inr", "res-nerv", "grid"))

    # Assert: decode speeds and both training feeds measured, losses finite, ratios consistent
    parts = data["parts"]
    assert parts["frames"] == data["spec"]["train_frames"]
    assert parts["grouped_decode_fps"] > 0 and parts["one_by_one_decode_fps"] > 0
    for group in parts["groups"]:
        for feed in ("inr", "jpeg"):
            training = group["training"][feed]
            assert len(training["epoch_s"]) == data["spec"]["epochs"]
            assert all(math.isfinite(v) for v in training["loss"])
    assert parts["training_speedup"] == pytest.approx(parts["jpeg_epoch_s"] / parts["inr_epoch_s"])

    # Assert: the page says it is no GPU run; rinr plan can read the JSON's throughputs
    page = (tmp_path / "gpu.md").read_text()
    assert "has not run on a GPU yet" in page and data["command"] in page
    rates = load_throughputs(tmp_path / "gpu.json")
    assert rates.encode_fps["residual-inr"] == runs["residual-inr"]["encode_fps"]
    assert rates.edge_train_fps and rates.fog_train_fps
