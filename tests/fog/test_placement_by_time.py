"""``placement = auto`` with ``placement-criterion = time``: round 1 trains at the edges and
measures the speeds; from round 2 the placement model's choice by time, from those speeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.client_app import app as client_app
from fog.local_grid import LocalGrid
from fog.report import report_plan_inputs
from rinr_runtime.planning import estimate

TINY_DETECTOR = """\
nc: 1
backbone:
  - [-1, 1, Conv, [8, 3, 2]]
  - [-1, 1, Conv, [16, 3, 2]]
head:
  - [[1], 1, Detect, [nc]]
"""


def test_auto_by_time_decides_after_round_1_from_its_measured_speeds(tiny_config: dict,
                                                                      run_fog, tmp_path: Path):
    # Prepare: 2 nodes, 2 rounds, Residual-INR, YOLO training on a tiny detector
    model = tmp_path / "tiny-detector.yaml"
    model.write_text(TINY_DETECTOR)
    config = {**tiny_config, "min-nodes": 2, "frames-per-round": 0, "frames-per-node": 8,
              "codec": "residual-inr", "placement": "auto", "placement-criterion": "time",
              "train": True, "model": str(model), "epochs": 1, "imgsz": 32, "batch": 6}

    # Execute
    _, report = run_fog(config, grid=LocalGrid(client_app, 2, config))

    # Assert: round 1 ran at the edges (it decoded and trained there)
    first = report["rounds"][0]
    assert all(first["train"][k]["trained"] == 1 for k in ("p0", "p1"))
    assert all(first["train"][k]["num_received"] == 6 for k in ("p0", "p1"))
    # ...and the choice, by time from round 2, rests on round 1's measured speeds
    placement = report["placement"]
    assert (placement["requested"], placement["round"]) == ("auto", 2)
    assert placement["advice"]["criterion"] == "time"
    assert "by time" in placement["reason"] and "measured in round 1" in placement["reason"]
    inputs = placement["inputs"]
    encode_s = first["encode_seconds"]
    assert inputs["encode_fps"]["residual-inr"] == pytest.approx(first["encoded_now"] / encode_s)
    assert inputs["edge_train_fps"] > 0 and inputs["decode_fps"]["residual-inr"] > 0
    timed = report_plan_inputs(report)
    assert timed is not None
    edge, fog = (estimate(timed, "residual-inr", p) for p in ("edge", "fog"))
    faster = "fog" if fog.total_s < edge.total_s else "edge"
    assert placement["chosen"] == faster == report["summary"]["placement"]["chosen"]
