"""``deploy/run.sh`` fails unless the run completed without errors (with a stub ``flwr``)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"

FLWR_STUB = """#!/bin/sh
# flwr run: print the streamed log; flwr ls: the run's status; flwr log: the log afterwards
case "$1" in
    run) printf 'Successfully started run 1234\\n%s' "$STUB_STREAM" ;;
    ls) printf '{"runs": [{"run-id": 1234, "status": "%s"}]}\\n' "$STUB_FLOWER_STATUS" ;;
    log) printf '%s' "$STUB_LATER_LOG" ;;
esac
"""


def _run_sh(tmp_path: Path, flower: str, stream: str, later: str = "") -> int:
    """Exit code of ``deploy/run.sh NAME`` against a stub ``flwr``."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    stub = bin_dir / "flwr"
    stub.write_text(FLWR_STUB)
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    python = bin_dir / "python"
    if not python.exists():
        python.symlink_to(sys.executable)
    env = {**os.environ, "RINR_VENV": str(tmp_path / "venv"), "STUB_FLOWER_STATUS": flower,
           "STUB_STREAM": stream, "STUB_LATER_LOG": later}
    return subprocess.run([str(DEPLOY / "run.sh"), "conn"], capture_output=True, text=True,
                          env=env, timeout=60, check=False).returncode


def _status_line(status: str) -> str:
    return f"INFO :      [rinr] run status: {status} (0 error(s) and missing replies; see r)\n"


@pytest.mark.parametrize(("flower", "fog", "code"), [
    ("finished:completed", "completed", 0),
    ("finished:completed", "completed_with_errors", 3),
    ("finished:failed", "failed", 1),
    ("finished:completed", "running", 1),
])
def test_run_sh_exit_code_follows_flower_and_the_fog(tmp_path: Path, flower: str, fog: str,
                                                     code: int) -> None:
    assert _run_sh(tmp_path, flower, "[rinr] round 1 collect\n" + _status_line(fog)) == code


def test_run_sh_reads_the_fog_status_afterwards_when_the_stream_broke(tmp_path: Path) -> None:
    assert _run_sh(tmp_path, "finished:completed", "",
                   later=_status_line("completed_with_errors")) == 3
    assert _run_sh(tmp_path, "finished:completed", "", later="") == 1
