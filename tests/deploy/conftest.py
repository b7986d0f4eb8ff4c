"""Fixtures for the deployment tests: tool checks and a tiny run_config."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
REQUIRED_TOOLS = ("openssl", "ssh-keygen", "bash")


def missing_tools() -> list[str]:
    """Tools the deployment tests need that this machine lacks."""
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    missing += [name for name in ("flower-superlink", "flower-supernode", "flwr")
                if not (BIN / name).is_file()]
    return missing


@pytest.fixture(scope="session")
def deploy_tools() -> None:
    """Skip the test when openssl, ssh-keygen or Flower's executables are missing."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"deployment tests need {', '.join(missing)} (not found on this machine)")


def _tiny(folder: Path, **overrides: object) -> dict:
    return {
        "num-server-rounds": 1, "min-nodes": 3, "node-wait-s": 90.0, "round-timeout-s": 300.0,
        "frame-width": 48, "frame-height": 32, "frames-per-node": 4, "frames-per-round": 0,
        "val-every": 4, "inr-steps": 20, "train": False, "run-dir": str(folder / "report"),
        "cache-dir": str(folder / "cache"), "edge-dir": str(folder / "edge"), **overrides,
    }


@pytest.fixture(scope="session")
def tiny_run_config() -> Callable[..., dict]:
    """``(folder, **overrides) -> run_config``: 3 nodes, 48x32 generated frames, 4 per node,
    20 INR steps, no YOLO; reports, cache and edge state under ``folder``."""
    return _tiny
