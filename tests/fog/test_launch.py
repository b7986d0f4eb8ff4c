"""`flwr run` helpers: run_config files, and a private SuperLink that leaves nothing behind."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from fog.launch import LocalSuperLink, group_alive, toml_value, write_run_config
from rinr_core.toml import tomllib


def test_run_config_file_is_valid_toml(tmp_path: Path) -> None:
    # Prepare
    overrides = {"codec": 'we"ird', "train": False, "epochs": 2, "lr0": 0.01, "data": "a,b"}

    # Execute
    path = write_run_config(overrides, tmp_path / "rc.toml")

    # Assert
    assert tomllib.loads(path.read_text()) == overrides
    assert toml_value(True) == "true" and toml_value(1.0) == "1.0"


@pytest.mark.slow
def test_local_superlink_starts_on_private_ports_and_stops_everything(tmp_path: Path) -> None:
    # Prepare
    superlink = LocalSuperLink(Path(__file__).resolve().parents[2], flwr_home=tmp_path / "flwr")

    # Execute
    with superlink:
        group = superlink.process.pid
        with socket.create_connection(("127.0.0.1", superlink.port), timeout=2):
            pass
        env = superlink.env

    # Assert
    assert not group_alive(group)
    assert superlink.process is None
    assert (tmp_path / "flwr" / "config.toml").read_text().count(":local:") == 1
    assert env["FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION"] == "1"
    assert env["FLWR_HOME"] == str(tmp_path / "flwr")


def test_virtual_nodes_get_a_gpu_share_only_when_a_gpu_is_there_and_wanted() -> None:
    import torch

    from fog.launch import gpu_share

    assert gpu_share(4, {"device": "cpu"}) == 0.0
    expected = 0.25 if torch.cuda.is_available() else 0.0
    assert gpu_share(4) == expected and gpu_share(4, {"device": "cuda"}) == expected
