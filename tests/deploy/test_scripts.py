"""The deploy/ shell scripts: certificates, node keys, and the exact Flower command lines.

The start scripts ``exec`` Flower's executables; here ``RINR_VENV`` points them at stubs that
print their arguments, so the command lines are checked without starting anything.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from flwr.common.config import parse_config_args

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def script(name: str, *args: str, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess:
    """Run a deploy/ script; return the finished process (never raises on failure)."""
    return subprocess.run([str(DEPLOY / name), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60, check=False)


def openssl(*args: str) -> str:
    """Standard output of an openssl command."""
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout


@pytest.fixture
def stub_venv(tmp_path: Path) -> dict[str, str]:
    """An environment whose Flower executables print one argument per line and exit 0."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("flower-superlink", "flower-supernode"):
        stub = bin_dir / name
        stub.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n')
        stub.chmod(0o755)
    return {"RINR_VENV": str(tmp_path / "venv")}


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    """A CA and SuperLink certificate made by make-certs.sh (skips without openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    out = tmp_path / "certs"
    result = script("make-certs.sh", "--out", str(out), "--ip", "10.1.2.3", "--dns", "fog.lan")
    assert result.returncode == 0, result.stderr
    return out


def test_make_certs_signs_a_server_certificate_for_every_address(certs: Path) -> None:
    # Execute
    sans = openssl("x509", "-in", str(certs / "superlink.crt"), "-noout", "-ext",
                   "subjectAltName")
    usage = openssl("x509", "-in", str(certs / "superlink.crt"), "-noout", "-ext",
                    "extendedKeyUsage")
    verified = openssl("verify", "-CAfile", str(certs / "ca.crt"), str(certs / "superlink.crt"))

    # Assert
    for name in ("IP Address:127.0.0.1", "IP Address:10.1.2.3", "DNS:localhost", "DNS:fog.lan"):
        assert name in sans
    assert "TLS Web Server Authentication" in usage
    assert verified.strip().endswith(": OK")
    assert stat.S_IMODE((certs / "ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((certs / "superlink.key").stat().st_mode) == 0o600


def test_make_certs_never_replaces_a_ca_silently(certs: Path) -> None:
    # Prepare
    before = (certs / "ca.crt").read_bytes()

    # Execute
    result = script("make-certs.sh", "--out", str(certs))

    # Assert
    assert result.returncode == 2
    assert "--force" in result.stderr
    assert (certs / "ca.crt").read_bytes() == before


def test_make_node_keys_writes_ecdsa_384_pairs(tmp_path: Path) -> None:
    # Prepare
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed")

    # Execute
    result = script("make-node-keys.sh", "--out", str(tmp_path), "edge-0", "edge-1")
    bad = script("make-node-keys.sh", "--out", str(tmp_path), "edge 2")

    # Assert
    assert result.returncode == 0, result.stderr
    for name in ("edge-0", "edge-1"):
        fingerprint = subprocess.run(["ssh-keygen", "-l", "-f", str(tmp_path / f"{name}.pub")],
                                     capture_output=True, text=True, check=True).stdout
        assert fingerprint.startswith("384 ") and "(ECDSA)" in fingerprint
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert bad.returncode == 2 and "may use only" in bad.stderr


def test_superlink_is_secure_by_default(tmp_path: Path, certs: Path,
                                        stub_venv: dict[str, str]) -> None:
    # Execute
    result = script("start-superlink.sh", "--certs", str(certs), "--port", "9555",
                    "--state-dir", str(tmp_path / "state"), env=stub_venv)

    # Assert
    args = result.stdout.split("\n")
    assert result.returncode == 0, result.stderr
    assert "--enable-supernode-auth" in args and "--insecure" not in args
    assert args[args.index("--ssl-certfile") + 1] == str(certs / "superlink.crt")
    assert args[args.index("--ssl-keyfile") + 1] == str(certs / "superlink.key")
    assert args[args.index("--ssl-ca-certfile") + 1] == str(certs / "ca.crt")
    assert args[args.index("--database") + 1] == str(tmp_path / "state" / "superlink.db")
    assert "--disable-runtime-dependency-installation" in args
    assert args[args.index("--port") + 1] == "9555"
    assert "INSECURE" not in result.stderr


def test_superlink_without_certificates_refuses_to_start(tmp_path: Path,
                                                         stub_venv: dict[str, str]) -> None:
    # Execute
    result = script("start-superlink.sh", "--certs", str(tmp_path / "none"), "--state-dir",
                    str(tmp_path / "state"), env=stub_venv)

    # Assert
    assert result.returncode == 2
    assert "make-certs.sh" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "state").exists()


def test_insecure_superlink_only_when_asked_and_with_a_warning(
        tmp_path: Path, stub_venv: dict[str, str]) -> None:
    # Execute
    result = script("start-superlink.sh", "--insecure", "--state-dir", str(tmp_path),
                    env=stub_venv)

    # Assert
    args = result.stdout.split("\n")
    assert result.returncode == 0
    assert "--insecure" in args and "--enable-supernode-auth" not in args
    assert "WARNING: INSECURE MODE" in result.stderr


def test_supernode_gets_its_key_ca_and_node_config(tmp_path: Path, stub_venv: dict[str, str]
                                                   ) -> None:
    # Prepare
    key, ca, data = tmp_path / "edge-1", tmp_path / "ca.crt", tmp_path / "camera"
    key.write_text("k")
    ca.write_text("c")
    data.mkdir()

    # Execute
    result = script("start-supernode.sh", "--superlink", "10.0.0.5:9092", "--partition-id", "1",
                    "--num-partitions", "3", "--key", str(key), "--ca", str(ca), "--data",
                    str(data), "--device", "cuda:0", "--edge-dir", str(tmp_path / "state"),
                    env=stub_venv)

    # Assert: Flower's own parser reads the node config back
    args = result.stdout.split("\n")
    assert result.returncode == 0, result.stderr
    assert args[args.index("--superlink") + 1] == "10.0.0.5:9092"
    assert args[args.index("--auth-supernode-private-key") + 1] == str(key)
    assert args[args.index("--root-certificates") + 1] == str(ca)
    assert "--insecure" not in args
    node_config = parse_config_args([args[args.index("--node-config") + 1]])
    assert node_config == {"partition-id": 1, "num-partitions": 3, "data": str(data),
                           "device": "cuda:0", "edge-dir": str(tmp_path / "state")}


@pytest.mark.parametrize(("args", "message"), [
    (["--partition-id", "3", "--num-partitions", "3"], "--num-partitions must be"),
    (["--partition-id", "0", "--num-partitions", "3"], "private key"),
    (["--partition-id", "0", "--num-partitions", "3", "--data", "/no/such/dir"], "data folder"),
])
def test_supernode_refuses_bad_settings(args: list[str], message: str,
                                        stub_venv: dict[str, str]) -> None:
    # Execute
    result = script("start-supernode.sh", "--superlink", "h:1", *args, env=stub_venv)

    # Assert
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
