"""Throughputs measured in a run: round 1's speeds price the placements by time.

Also ``rinr plan --devices 10 --criterion time --json``, which reads the throughputs
``bench/throughputs.py`` measured (``docs/results/throughputs.json``) when none is given.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fog.placement import round_throughputs, timed_advice
from fog.report import RoundRecord
from rinr_runtime.config import RuntimeConfig
from rinr_runtime.planning import PlanInputs, estimate
from rinr_runtime.planning.cli import DEFAULT_THROUGHPUTS
from rinr_runtime.planning.throughputs import Throughputs, apply_throughputs

REPO = Path(__file__).resolve().parents[2]


def _edge_round() -> RoundRecord:
    """A round in which the fog encoded 6 frames in 3 s and two edges decoded and trained."""
    record = RoundRecord(round=1, encoded_now=6, encode_seconds=3.0)
    record.train = {
        "p0": {"num_received": 3, "decode_seconds": 0.5, "num_train": 6, "epochs": 2,
               "train_seconds": 4.0, "trained": 1},
        "p1": {"num_received": 3, "decode_seconds": 1.0, "num_train": 6, "epochs": 2,
               "train_seconds": 6.0, "trained": 1},
    }
    return record


def _inputs(**changes) -> PlanInputs:
    base = {"devices": 2, "frames_per_device": 3,
            "payload_bytes": {"jpeg": 5000.0, "residual-inr": 3500.0}, "model_bytes": 1e6}
    return PlanInputs(**{**base, **changes})


def test_round_speeds_become_the_models_throughputs() -> None:
    # Execute
    measured = round_throughputs(RuntimeConfig.from_run_config({}), _edge_round())

    # Assert: 6 frames / 3 s; 6 received / 1.5 s; (12/4 + 12/6) / 2 images/s
    assert measured.encode_fps == {"residual-inr": 2.0}
    assert measured.decode_fps == {"residual-inr": 4.0}
    assert measured.edge_train_fps == pytest.approx(2.5)
    assert measured.fog_train_fps == pytest.approx(2.5) and "fog did not train" in measured.note


def test_a_relay_codec_has_no_encode_speed_and_a_fog_round_lends_its_rate() -> None:
    # Prepare: the fog trained (placement fog), nothing was decoded at the edges
    record = RoundRecord(round=1, encoded_now=4, encode_seconds=0.01)
    record.train = {"fog": {"num_train": 8, "epochs": 1, "train_seconds": 2.0}}

    # Execute
    measured = round_throughputs(RuntimeConfig.from_run_config({"codec": "jpeg"}), record)

    # Assert
    assert measured.encode_fps == {} and measured.decode_fps == {}
    assert measured.fog_train_fps == measured.edge_train_fps == 4.0
    assert "edges did not train" in measured.note


def test_timed_advice_prices_by_time_or_says_what_is_missing() -> None:
    config = RuntimeConfig.from_run_config({})

    # Execute
    advice, timed, rates = timed_advice(config, _inputs(), _edge_round())
    missing, _, why = timed_advice(config, _inputs(), RoundRecord(round=1))

    # Assert: every time column is filled from the round's speeds, and the choice is by time
    assert advice is not None and advice.criterion == "time"
    edge = estimate(timed, "residual-inr", "edge")
    assert edge.encode_s == pytest.approx(2 * 3 / 2.0) and edge.decode_s == pytest.approx(3 / 4.0)
    assert "fog encode 2, edge decode 4 frames/s" in rates
    assert missing is None and "no time advice" in why


def test_given_rates_win_over_measured_ones() -> None:
    merged = apply_throughputs(_inputs(edge_train_fps=9.0, decode_fps={"residual-inr": 7.0}),
                               Throughputs({"residual-inr": 1.0}, {"residual-inr": 2.0}, 3.0, 4.0))
    assert merged.edge_train_fps == 9.0 and merged.fog_train_fps == 4.0
    assert merged.decode_fps == {"residual-inr": 7.0} and merged.encode_fps == {"residual-inr": 1.0}


@pytest.mark.skipif(not DEFAULT_THROUGHPUTS.is_file(), reason="no measured throughputs here")
def test_plan_criterion_time_recommends_from_the_measured_times() -> None:
    # Execute: the command of the issue, as a user types it
    done = subprocess.run([sys.executable, "-m", "rinr_runtime.cli", "plan", "--devices", "10",
                           "--criterion", "time", "--json"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=True)
    plan = json.loads(done.stdout)

    # Assert: the rates are the measured ones, every time column is filled, the choice is by time
    measured = json.loads(DEFAULT_THROUGHPUTS.read_text())
    assert plan["inputs"]["throughputs"] == str(DEFAULT_THROUGHPUTS)
    assert plan["inputs"]["edge_train_fps"] == measured["edge_train_fps"]
    assert plan["inputs"]["encode_fps"]["residual-inr"] == measured["encode_fps"]["residual-inr"]
    assert plan["criterion"] == "time" and plan["recommended"] in ("edge", "fog")
    rows = {(e["codec"], e["placement"]): e for e in plan["estimates"]}
    assert all(rows[("residual-inr", p)]["total_s"] is not None for p in ("edge", "fog"))
    faster = min(("edge", "fog"), key=lambda p: rows[("residual-inr", p)]["total_s"])
    assert plan["recommended"] == faster and "takes" in plan["reason"]
