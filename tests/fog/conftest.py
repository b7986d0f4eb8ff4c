"""Fixtures for the fog tests: a tiny run_config and a ServerApp runner on a LocalGrid."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from flwr.app import Context, RecordDict

from edge.client_app import app as client_app
from fog.local_grid import LocalGrid
from fog.server_app import app as server_app
from fog.server_app import report_path

torch.set_num_threads(1)


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
