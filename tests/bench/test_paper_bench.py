"""``bench/paper.py --quick``: the five figures and the claims table, end to end at toy sizes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_paper_run_writes_five_figures_and_the_claims(tmp_path: Path) -> None:
    # Prepare: a fresh cache, so every encode and training run really happens
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    # Execute
    done = subprocess.run(
        [sys.executable, "bench/paper.py", "--quick", "--json", "--threads", "1", "--device", "cpu",
         "--out", str(tmp_path), "--cache", str(tmp_path / "cache")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)

    # Assert: it ran, wrote five PNGs, and every figure's numbers are there
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads(done.stdout)
    assert len(data["figures"]) == 5
    assert all((tmp_path / name).read_bytes()[:4] == b"\x89PNG" for name in data["figures"])
    settings = {m["setting"] for m in data["ablation_means"]}
    assert {"camera JPEG", "BS (Rapid-INR)", "QRE (Residual-INR)", "Res-NeRV", "grid"} <= settings
    qre = next(m for m in data["ablation_means"] if m["setting"].startswith("QRE"))
    assert qre["bytes_per_frame"] > 0 and qre["psnr_object"] > 5
    summary = {s["setting"]: s for s in data["sweep"]["summary"]}
    assert summary["JPEG (camera)"]["delta_map50_95"]["mean"] == 0.0
    assert all(0.0 <= s["map50_95"]["mean"] <= 1.0 for s in summary.values())
    assert {p["codec"] for p in data["parity"]} == {"jpeg", "qre"}
    devices = data["devices"]
    fog = devices["curves"]["fog (JPEG uploads, weights down)"]
    assert devices["devices"][0] == 2 and devices["devices"][-1] == 50 and len(fog) == 49
    edge = devices["curves"]["qre edge"]
    assert all(b > a for a, b in zip(edge, edge[1:], strict=False))
    runs = {(r["curve"], r["placement"]): r for r in data["device_runs"]}
    assert set(runs) == {("jpeg", "edge"), ("qre", "edge"),
                         ("fog (JPEG uploads, weights down)", "fog")}
    assert runs[("qre", "edge")]["codec"] == "residual-inr"
    assert all(r["devices"] == 2 and r["measured_bytes"] > 0 for r in runs.values())
    assert all(abs(r["model_error"]) < 0.05 for r in runs.values())
    assert all(abs(r["delivered_model_error"]) < 0.05 for r in runs.values())
    assert runs[("qre", "edge")]["delivered_payload_bytes"] == runs[("qre", "edge")]["payload_bytes"]
    fog_run = runs[("fog (JPEG uploads, weights down)", "fog")]
    assert fog_run["measured_by_phase"]["evaluate"]["down"] > 2 * devices["model_bytes"] * 0.99
    assert devices["measured"]["qre edge"] == {"devices": [2],
                                               "bytes": [runs[("qre", "edge")]["measured_bytes"]]}
    assert isinstance(data["devices_paper_scale"]["crossover"]["residual-inr"], int)
    assert all(r["round"]["train_s"] > 0 for r in data["latency"])
    page = (tmp_path / "paper.md").read_text()
    assert "5.16x" in page and "2.9x" in page and "Bytes at parity" in page
