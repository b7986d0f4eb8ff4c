"""Flower's connection file: add a SuperLink without losing the connections already there."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.connection import add_connection, main
from rinr_core.errors import ConfigError
from rinr_core.toml import tomllib

EXISTING = """[superlink]
default = "local"

[superlink.local]
address = ":local:"

[superlink.local.options]
num-supernodes = 3
"""


def test_tls_connection_is_added_next_to_existing_ones(tmp_path: Path) -> None:
    # Prepare
    (tmp_path / "config.toml").write_text(EXISTING)
    ca = tmp_path / "ca.crt"
    ca.write_text("cert")

    # Execute
    path = add_connection("fog", "10.0.0.5:9092", root_certificates=ca, make_default=True,
                          home=tmp_path)

    # Assert
    config = tomllib.loads(path.read_text())
    assert config["superlink"]["default"] == "fog"
    assert config["superlink"]["fog"] == {"address": "10.0.0.5:9092",
                                          "root-certificates": str(ca)}
    assert config["superlink"]["local"] == {"address": ":local:",
                                            "options": {"num-supernodes": 3}}


def test_first_connection_becomes_the_default_and_insecure_is_explicit(tmp_path: Path) -> None:
    # Execute
    path = add_connection("lab", "127.0.0.1:9092", insecure=True, home=tmp_path / "new")

    # Assert
    config = tomllib.loads(path.read_text())
    assert config["superlink"] == {"default": "lab",
                                   "lab": {"address": "127.0.0.1:9092", "insecure": True}}


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "exactly one"),
    ({"insecure": True, "root_certificates": Path("ca.crt")}, "exactly one"),
    ({"root_certificates": Path("/no/ca.crt")}, "not found"),
])
def test_bad_connections_are_refused(tmp_path: Path, kwargs: dict, message: str) -> None:
    # Execute / Assert
    with pytest.raises(ConfigError, match=message):
        add_connection("x", "10.0.0.5:9092", home=tmp_path, **kwargs)


def test_command_line_reports_errors_with_exit_code_2(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    # Execute
    code = main(["x", "no-port", "--insecure", "--flwr-home", str(tmp_path)])

    # Assert
    assert code == 2
    assert "HOST:PORT" in capsys.readouterr().err
    assert not (tmp_path / "config.toml").exists()
