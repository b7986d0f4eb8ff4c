"""rinr plan --throughputs: measured rates fill the time columns and drive --criterion time."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rinr_core.errors import ConfigError
from rinr_runtime.cli import main
from rinr_runtime.planning.throughputs import load_throughputs


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "throughputs.json"
    path.write_text(json.dumps(data))
    return path


def test_measured_rates_fill_the_time_columns_and_pick_by_time(tmp_path: Path, capsys) -> None:
    # Prepare: an edge that trains slowly and a fog that trains fast
    path = _write(tmp_path, {"encode_fps": {"residual-inr": 4.0}, "decode_fps":
                             {"residual-inr": 100.0, "jpeg": 800.0}, "edge_train_fps": 2.0,
                             "fog_train_fps": 200.0})

    # Execute
    assert main(["plan", "--devices", "10", "--criterion", "time", "--throughputs", str(path),
                 "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)

    # Assert: the measured rates were used; the fog's fast training decides by time
    assert plan["inputs"]["edge_train_fps"] == 2.0 and plan["inputs"]["throughputs"] == str(path)
    assert plan["criterion"] == "time" and plan["recommended"] == "fog"
    assert "training at the fog takes" in plan["reason"]


def test_rates_are_read_and_bad_files_are_refused_with_what_to_do(tmp_path: Path) -> None:
    good = _write(tmp_path, {"encode_fps": {"residual-inr": 4.0}, "edge_train_fps": 2.0})
    assert load_throughputs(good).encode_fps == {"residual-inr": 4.0}
    with pytest.raises(ConfigError, match="positive"):
        load_throughputs(_write(tmp_path, {"decode_fps": {"jpeg": -1}}))
    with pytest.raises(ConfigError, match="bench/throughputs.py"):
        load_throughputs(tmp_path / "absent.json")
