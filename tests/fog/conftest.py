"""Fixtures for the fog tests: a tiny run_config and a ServerApp runner on a LocalGrid."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from flwr.app import Context, RecordDict

from edge.client_app import app as client_app
from fog.launch import LocalSuperLink
from fog.local_grid import LocalGrid
from fog.report import load_report
from fog.server_app import app as server_app
from fog.server_app import report_path

torch.set_num_threads(1)

PROJECT_DIR = Path(__file__).resolve().parents[2]


TINY_DETECTOR = """\
nc: 1
backbone:
  - [-1, 1, Conv, [8, 3, 2]]
  - [-1, 1, Conv, [16, 3, 2]]
  - [-1, 1, Conv, [16, 3, 2]]
head:
  - [[2], 1, Detect, [nc]]
"""
"""A one-level YOLOv8-style detector (about 0.24 MB of weights instead of yolov8n's 12 MB):
training in a test takes seconds, and at test scale frames can outweigh the weights."""


@pytest.fixture
def tiny_detector(tmp_path: Path) -> str:
    """Path of :data:`TINY_DETECTOR` written as a model YAML (the run config's ``model``)."""
    model = tmp_path / "tiny-detector.yaml"
    model.write_text(TINY_DETECTOR)
    return str(model)


@pytest.fixture
def tiny_config(tmp_path: Path) -> dict:
    """Three-node, two-round run on 48x32 generated frames; no YOLO training."""
    return {
        "num-server-rounds": 2, "min-nodes": 3, "node-wait-s": 1.0, "frame-width": 48,
        "frame-height": 32, "frames-per-node": 4, "frames-per-round": 2, "val-every": 4,
        "inr-steps": 10, "train": False, "run-dir": str(tmp_path / "run"),
        "cache-dir": str(tmp_path / "cache"), "edge-dir": str(tmp_path / "edge"),
    }


RunFog = Callable[..., tuple[LocalGrid, dict]]


@pytest.fixture
def run_fog() -> RunFog:
    """Run the ServerApp on a LocalGrid of 3 nodes; return the grid and the report."""

    def run(run_config: dict, *, app: Callable = client_app, run_id: int = 1,
            before: Callable | None = None, grid: LocalGrid | None = None
            ) -> tuple[LocalGrid, dict]:
        grid = grid or LocalGrid(app, num_nodes=3, run_config=run_config, run_id=run_id,
                                 before=before)
        context = Context(run_id=run_id, node_id=0, node_config={}, state=RecordDict(),
                          run_config=run_config)
        server_app(grid=grid, context=context)
        return grid, json.loads(report_path(context).read_text())

    return run


@pytest.fixture
def flwr_run(tmp_path: Path) -> Callable[..., dict]:
    """Run the app through a real ``flwr run .`` on a private local SuperLink (``nodes``
    SuperNodes, stores under the config's ``edge-dir``, no encode cache); check that it
    completed without errors and return its report."""

    def run(overrides: dict, *, nodes: int = 3, timeout: float = 400) -> dict:
        run_dir = tmp_path / "flwr-run"
        config = {**overrides, "node-wait-s": 60.0, "run-dir": str(run_dir), "cache-dir": ""}
        with LocalSuperLink(PROJECT_DIR, flwr_home=tmp_path / "flwr",
                            echo=lambda line: None) as link:
            result = link.run(config, run_dir, num_nodes=nodes, timeout=timeout)
        assert result.ok, (result.status, result.details, result.log_path.read_text()[-3000:])
        report = load_report(run_dir / "report.json")
        assert report["summary"]["status"] == "completed" and report["summary"]["errors"] == []
        return report

    return run


def delivered_exactly_once(report: dict, nodes: tuple[str, ...]) -> bool:
    """Whether every frame of ``report`` reached every node but its owner exactly once and
    no node reported a frame broken."""
    pairs = [(node, fid) for r in report["rounds"] for node, ids in r["delivered"].items()
             for fid in ids]
    expected = {(node, fid) for fid, f in report["frames"].items() for node in nodes
                if node != f["owner"]}
    return (len(pairs) == len(set(pairs)) and set(pairs) == expected
            and all(not r["broken"] for r in report["rounds"]))


@pytest.fixture
def exactly_once() -> Callable[[dict, tuple[str, ...]], bool]:
    """:func:`delivered_exactly_once`, for tests."""
    return delivered_exactly_once
