"""Add a SuperLink connection to Flower's connection file, ``$FLWR_HOME/config.toml``.

``flwr run . NAME`` (Flower 1.41) finds the SuperLink ``NAME`` in that file as a
``[superlink.NAME]`` table with ``address`` and either ``root-certificates`` (TLS) or
``insecure = true``. The file may hold other connections (the CLI writes ``local`` and
``supergrid``); they are kept.

Usage::

    python -m deploy.connection NAME HOST:PORT --ca ca.crt [--default] [--flwr-home DIR]
    python -m deploy.connection NAME HOST:PORT --insecure
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import tomli_w

from rinr_core.errors import ConfigError
from rinr_core.toml import tomllib


def flwr_home(path: str | Path | None = None) -> Path:
    """Flower's home folder: ``path``, else ``$FLWR_HOME``, else ``~/.flwr``."""
    return Path(path or os.environ.get("FLWR_HOME") or Path.home() / ".flwr").expanduser()


def add_connection(name: str, address: str, *, root_certificates: Path | None = None,
                   insecure: bool = False, make_default: bool = False,
                   home: Path | None = None) -> Path:
    """Write ``[superlink.<name>]`` into ``<home>/config.toml``; return the file's path.

    Raises
    ------
    ConfigError
        Neither or both of ``root_certificates`` and ``insecure`` were given, the certificate
        file is missing, the address has no port, or the existing file is not valid TOML.
    """
    if (root_certificates is None) == (not insecure):
        raise ConfigError("give the CA certificate (--ca ca.crt) for TLS, or --insecure; "
                          "exactly one of the two")
    if ":" not in address or not address.rsplit(":", 1)[1].isdigit():
        raise ConfigError(f"address {address!r} must be HOST:PORT, e.g. 192.168.1.10:9092")
    entry: dict[str, object] = {"address": address}
    if root_certificates is not None:
        cert = Path(root_certificates).expanduser().resolve()
        if not cert.is_file():
            raise ConfigError(f"CA certificate {cert} not found; copy ca.crt from the fog node")
        entry["root-certificates"] = str(cert)
    else:
        entry["insecure"] = True
    path = flwr_home(home) / "config.toml"
    config = _read(path)
    superlinks = config.setdefault("superlink", {})
    superlinks[name] = entry
    if make_default or "default" not in superlinks:
        superlinks["default"] = name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomli_w.dumps(config))
    return path


def _read(path: Path) -> dict:
    """The parsed config file, or an empty config when there is none."""
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix or remove it") from exc


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m deploy.connection",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("name", help="connection name, used as `flwr run . NAME`")
    parser.add_argument("address", help="SuperLink HOST:PORT")
    parser.add_argument("--ca", type=Path, help="CA certificate (ca.crt) to verify the SuperLink")
    parser.add_argument("--insecure", action="store_true", help="no TLS (test networks only)")
    parser.add_argument("--default", action="store_true", help="make it the default connection")
    parser.add_argument("--flwr-home", type=Path, help="Flower's home (default $FLWR_HOME, ~/.flwr)")
    args = parser.parse_args(argv)
    try:
        path = add_connection(args.name, args.address, root_certificates=args.ca,
                              insecure=args.insecure, make_default=args.default,
                              home=args.flwr_home)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"[deploy] connection {args.name!r} -> {args.address} written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
