"""A run's final status: ``completed`` only without errors; ``make demo`` fails otherwise."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

import fog.demo
from fog.report import RunReport, load_report


def _report(folder: Path, errors: int) -> Path:
    """A finished run's ``report.json`` with ``errors`` lost replies."""
    report = RunReport({"codec": "residual-inr"}, folder)
    for node in range(errors):
        report.error(1, "collect", f"p{node}", "no reply within 5 s")
    report.complete()
    return report.write()["json"]


def test_status_is_completed_only_without_errors(tmp_path: Path) -> None:
    clean = load_report(_report(tmp_path / "a", errors=0))
    lossy = load_report(_report(tmp_path / "b", errors=2))
    assert clean["summary"]["status"] == "completed"
    assert lossy["summary"]["status"] == "completed_with_errors"
    assert [(e["round"], e["phase"], e["node"]) for e in lossy["summary"]["errors"]] == [
        (1, "collect", "p0"), (1, "collect", "p1")]
    assert fog.demo.unsuccessful({"jpeg": clean, "residual-inr": lossy}) == {
        "residual-inr": "completed_with_errors"}


@pytest.mark.parametrize(("errors", "code"), [(0, 0), (1, 1)])
def test_demo_exits_non_zero_unless_the_run_completed(tmp_path: Path, monkeypatch, capsys,
                                                      errors: int, code: int) -> None:
    # Prepare: the run itself is replaced by its report
    def run_one(args: argparse.Namespace, codec: str, superlink: object) -> Path:
        return _report(tmp_path / codec, errors)

    monkeypatch.setattr(fog.demo, "run_one", run_one)

    # Execute
    result = fog.demo.main(["--inprocess", "--codec", "jpeg"])

    # Assert
    assert result == code
    assert ("ended completed_with_errors" in capsys.readouterr().err) == bool(errors)
