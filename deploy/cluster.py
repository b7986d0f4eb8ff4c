"""A real SuperLink and SuperNodes on one machine, started with the deploy/ scripts.

:class:`Cluster` is what the deployment tests use and what ``python -m deploy.cluster`` runs
for a try-out: it creates a CA, the SuperLink's certificate and one key pair per node
(``make-certs.sh``, ``make-node-keys.sh``), starts ``flower-superlink`` with TLS and SuperNode
authentication (``start-superlink.sh``), registers the node keys (``register-nodes.sh``),
starts one ``flower-supernode`` per node with its ``--node-config`` (``start-supernode.sh``),
adds the connection to a private ``FLWR_HOME`` (``add-connection.sh``) and submits the app with
``run.sh`` (``flwr run . NAME``). Every process starts in a session of its own and carries a
marker in its environment; :meth:`Cluster.stop` stops each process tree (children that Flower
starts in sessions of their own included) and :meth:`Cluster.leftovers` finds any process that
still carries the marker. Ports are free ports on the loopback interface.

Usage (a try-out on one machine, everything stopped at the end)::

    python -m deploy.cluster [--nodes 3] [--rounds 2] [--set key=value ...]
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from fog.launch import free_port, stop_processes, stop_tree, write_run_config
from rinr_core.errors import RinrError

DEPLOY_DIR = Path(__file__).resolve().parent
PROJECT_DIR = DEPLOY_DIR.parent
MARKER = "RINR_CLUSTER_ID"
"""Environment variable set in every process a :class:`Cluster` starts (inherited by children)."""
_RUN_ID = re.compile(r"Successfully started run (\d+)")


# --- process trees -----------------------------------------------------------------------------


def marked_processes(marker: str) -> list[int]:
    """Ids of live processes (zombies excluded) whose environment has ``MARKER=marker``."""
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error):
            if (process.environ().get(MARKER) == marker
                    and process.status() != psutil.STATUS_ZOMBIE):
                found.append(process.pid)
    return found


@dataclass
class Proc:
    """One started process: its command, log file and handle."""

    name: str
    command: list[str]
    log_path: Path
    process: subprocess.Popen | None = None
    offset: int = 0

    def start(self, env: dict[str, str], cwd: Path) -> Proc:
        """Start the command in a session of its own, output appended to the log file."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.offset = len(self.log())
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - the deploy scripts, fixed arguments
                self.command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        return self

    @property
    def alive(self) -> bool:
        """Whether the process is running."""
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit code once it has exited, else ``None``."""
        return None if self.process is None else self.process.poll()

    def log(self) -> str:
        """Everything the process has written so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.is_file() else ""

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        """Wait until the log written since :meth:`start` matches ``pattern``; return the match.

        Raises
        ------
        RinrError
            The pattern did not appear within ``timeout`` seconds, or the process exited first.
        """
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            match = regex.search(self.log(), self.offset)
            if match:
                return match
            if not self.alive:
                raise RinrError(f"{self.name} exited (code {self.returncode}) before printing "
                                f"{pattern!r}; see {self.log_path}")
            if time.monotonic() > deadline:
                raise RinrError(f"{self.name} did not print {pattern!r} within {timeout:g} s; "
                                f"see {self.log_path}")
            time.sleep(0.25)

    def stop(self, timeout: float = 15.0, *, hard: bool = False) -> None:
        """Stop the process tree (see :func:`stop_tree`)."""
        if self.process is not None:
            stop_tree(self.process, timeout, hard=hard)


@dataclass
class RunHandle:
    """A submitted run: ``run.sh``'s process, its log (the ServerApp's streamed log) and id."""

    proc: Proc
    run_id: str | None = None

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        """Wait until the streamed log matches ``pattern``."""
        return self.proc.wait_for(pattern, timeout)

    def wait(self, timeout: float) -> int:
        """Wait for the run to end; return ``run.sh``'s exit code.

        0: completed; 3: completed with errors (lost replies or node errors, all listed in the
        report); anything else: failed.
        """
        assert self.proc.process is not None
        try:
            code = self.proc.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise RinrError(f"the run did not finish within {timeout:g} s; "
                            f"see {self.proc.log_path}") from exc
        match = _RUN_ID.search(self.proc.log())
        self.run_id = match.group(1) if match else None
        return code


@dataclass
class Cluster:
    """A SuperLink and ``num_nodes`` SuperNodes on the loopback interface (see module docstring).

    ``threads > 0`` caps the CPU threads of every process (``OMP_NUM_THREADS``), for shared
    test machines. Use as a context manager, or call :meth:`setup` and :meth:`stop`.
    """

    root: Path
    num_nodes: int = 3
    project_dir: Path = PROJECT_DIR
    name: str = "rinr-test"
    marker: str = field(default_factory=lambda: uuid.uuid4().hex)
    threads: int = 0
    spare_keys: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    superlink: Proc | None = None
    nodes: dict[str, Proc] = field(default_factory=dict)
    runs: list[RunHandle] = field(default_factory=list)
    others: list[Proc] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        self.certs = self.root / "certs"
        self.keys = self.root / "keys"
        self.cli_home = self.root / "cli"

    # --- environment -------------------------------------------------------------------------

    def env(self, flwr_home: Path) -> dict[str, str]:
        """The environment of a started process: venv first on PATH, private FLWR_HOME, marker."""
        bin_dir = str(Path(sys.executable).parent)
        return {
            **os.environ,
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            "RINR_VENV": str(Path(sys.executable).parent.parent),
            "FLWR_HOME": str(flwr_home),
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
            "PYTHONUNBUFFERED": "1",
            MARKER: self.marker,
            **({"OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads)}
               if self.threads else {}),
        }

    def script(self, name: str, *args: str, home: Path | None = None,
               check: bool = True, timeout: float = 120.0) -> subprocess.CompletedProcess:
        """Run a deploy/ script to completion; raise RinrError when it fails and ``check``."""
        result = subprocess.run(  # noqa: S603 - deploy scripts of this repository
            [str(DEPLOY_DIR / name), *args], cwd=self.root, env=self.env(home or self.cli_home),
            capture_output=True, text=True, timeout=timeout, check=False,
        )
        if check and result.returncode != 0:
            raise RinrError(f"deploy/{name} {' '.join(args)} failed (code {result.returncode}): "
                            f"{result.stderr.strip()[-2000:]}")
        return result

    @property
    def address(self) -> str:
        """The SuperLink's ``HOST:PORT``."""
        return f"127.0.0.1:{self.port}"

    @staticmethod
    def node_name(partition_id: int) -> str:
        """The key name of node ``partition_id``."""
        return f"edge-{partition_id}"

    # --- set-up ------------------------------------------------------------------------------

    def make_pki(self) -> None:
        """Create the CA, the SuperLink certificate and a key pair per node and spare key name."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.script("make-certs.sh", "--out", str(self.certs), "--days", "2")
        names = [self.node_name(p) for p in range(self.num_nodes)] + list(self.spare_keys)
        self.script("make-node-keys.sh", "--out", str(self.keys), *names)

    def start_superlink(self, timeout: float = 60.0) -> Proc:
        """Start (or restart) the SuperLink with TLS and SuperNode authentication; wait for it."""
        if self.superlink is not None:
            if self.superlink.alive:
                raise RinrError("the SuperLink is already running")
            self.others.append(self.superlink)
        state = self.root / "superlink"
        proc = Proc("superlink", [str(DEPLOY_DIR / "start-superlink.sh"), "--certs",
                                  str(self.certs), "--host", "127.0.0.1", "--port",
                                  str(self.port), "--state-dir", str(state)],
                    state / "stdout.log")
        self.superlink = proc.start(self.env(state / "flwr-home"), state)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.alive:
                raise RinrError(f"flower-superlink exited with code {proc.returncode}; "
                                f"see {proc.log_path}")
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return proc
            time.sleep(0.25)
        raise RinrError(f"flower-superlink did not open port {self.port} within {timeout:g} s")

    def connect_cli(self) -> None:
        """Add the SuperLink to the private FLWR_HOME of ``flwr`` (TLS with the test CA)."""
        self.script("add-connection.sh", self.name, self.address, "--ca",
                    str(self.certs / "ca.crt"), "--default")

    def register(self, *names: str) -> dict[str, int]:
        """Register the public keys of ``names``; return their node ids."""
        pubs = [str(self.keys / f"{name}.pub") for name in names]
        out = self.script("register-nodes.sh", self.name, *pubs).stdout
        ids = {}
        for line in out.splitlines():
            path, _, node_id = line.rpartition(" ")
            ids[Path(path).name.removesuffix(".pub")] = int(node_id)
        return ids

    def start_node(self, partition_id: int, *, key: str | None = None, data: Path | None = None,
                   device: str = "cpu", edge_dir: Path | None = None,
                   label: str | None = None) -> Proc:
        """Start the SuperNode of ``partition_id`` with its key (or ``key``'s) and node config.

        The process is kept as ``nodes[label]`` (default ``p<partition_id>``).
        """
        label = label or f"p{partition_id}"
        home = self.root / "nodes" / label
        args = ["--superlink", self.address, "--partition-id", str(partition_id),
                "--num-partitions", str(self.num_nodes), "--port", str(free_port()),
                "--key", str(self.keys / (key or self.node_name(partition_id))),
                "--ca", str(self.certs / "ca.crt"), "--device", device]
        if data is not None:
            args += ["--data", str(data)]
        if edge_dir is not None:
            args += ["--edge-dir", str(edge_dir)]
        old = self.nodes.get(label)
        if old is not None:
            if old.alive:
                raise RinrError(f"node {label} is already running")
            self.others.append(old)
        proc = Proc(f"supernode {label}", [str(DEPLOY_DIR / "start-supernode.sh"), *args],
                    home / "stdout.log")
        self.nodes[label] = proc.start(self.env(home / "flwr-home"), home)
        return proc

    def wait_connected(self, label: str, timeout: float = 60.0) -> int:
        """Wait until node ``label`` (``p<partition id>``) is accepted; return its node id."""
        match = self.nodes[label].wait_for(r"SuperNode ID: (\d+)", timeout)
        return int(match.group(1))

    def restart_node(self, label: str, timeout: float = 150.0, retry_s: float = 2.0,
                     **options: object) -> int:
        """Start node ``label`` again until the SuperLink accepts it; return its node id.

        After a ``kill -9`` the SuperLink counts the node online until its heartbeat lapses
        (Flower 1.41: 2 x 30 s); until then it refuses the node's activation (exit code 305),
        so this retries like a supervisor with ``Restart=always`` would.
        """
        partition_id = int(label.removeprefix("p"))
        deadline = time.monotonic() + timeout
        while True:
            proc = self.start_node(partition_id, label=label, **options)
            try:
                return self.wait_connected(label, timeout=max(1.0, deadline - time.monotonic()))
            except RinrError:
                if proc.alive or time.monotonic() > deadline or "Exit Code: 305" not in proc.log():
                    raise
            time.sleep(retry_s)

    def setup(self, node_options: dict[int, dict] | None = None) -> Cluster:
        """Certificates and keys, the SuperLink, registrations and all nodes, connected."""
        atexit.register(self.stop)
        self.make_pki()
        self.start_superlink()
        self.connect_cli()
        self.register(*(self.node_name(p) for p in range(self.num_nodes)))
        for partition_id in range(self.num_nodes):
            self.start_node(partition_id, **(node_options or {}).get(partition_id, {}))
        for partition_id in range(self.num_nodes):
            self.wait_connected(f"p{partition_id}")
        return self

    # --- runs --------------------------------------------------------------------------------

    def submit(self, overrides: dict, label: str = "run") -> RunHandle:
        """Submit the app with ``run.sh`` and the run_config ``overrides``; do not wait."""
        folder = self.root / "runs" / f"{label}-{len(self.runs)}"
        config = write_run_config(overrides, folder / "run-config.toml")
        proc = Proc(f"flwr run ({label})", [str(DEPLOY_DIR / "run.sh"), self.name,
                                            "--run-config", str(config)], folder / "flwr-run.log")
        handle = RunHandle(proc.start(self.env(self.cli_home), self.project_dir))
        self.runs.append(handle)
        return handle

    # --- faults and tear-down ----------------------------------------------------------------

    def kill_node(self, label: str) -> None:
        """``kill -9`` node ``label`` and the ClientApp processes it started."""
        self.nodes[label].stop(hard=True)

    def kill_superlink(self) -> None:
        """``kill -9`` the SuperLink and everything it started (the ServerApp included)."""
        if self.superlink is not None:
            self.superlink.stop(hard=True)

    def processes(self) -> Iterator[Proc]:
        """Every process started, runs first, the SuperLink last."""
        yield from (run.proc for run in self.runs)
        yield from self.others
        yield from self.nodes.values()
        if self.superlink is not None:
            yield self.superlink

    def stop(self) -> None:
        """Stop every run, node and the SuperLink (each process tree, SIGTERM then SIGKILL)."""
        for proc in self.processes():
            proc.stop(timeout=10.0)

    def leftovers(self) -> list[int]:
        """Processes started by this cluster that are still alive (should be none after stop)."""
        return marked_processes(self.marker)

    def __enter__(self) -> Cluster:
        return self.setup()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        stop_processes(self.leftovers(), hard=True)


# --- command line --------------------------------------------------------------------------------


def _parse_set(items: list[str]) -> dict:
    """``["k=v", ...]`` (TOML values) -> dict."""
    from rinr_core.toml import tomllib

    return {k: tomllib.loads(f"v = {v}")["v"] for k, _, v in (i.partition("=") for i in items)}


def main(argv: list[str] | None = None) -> int:
    """Start a local cluster, run the app once, print the report summary, stop everything."""
    from fog.report import load_report
    from fog.report_views import format_summary

    parser = argparse.ArgumentParser(prog="python -m deploy.cluster",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--root", type=Path, default=PROJECT_DIR / "runs" / "deploy-cluster")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    root = args.root.resolve() / time.strftime("%Y%m%d-%H%M%S")
    run_dir = root / "report"
    overrides = {"num-server-rounds": args.rounds, "min-nodes": args.nodes,
                 "run-dir": str(run_dir), "cache-dir": str(root / "encode-cache"),
                 "edge-dir": str(root / "edge"), **_parse_set(args.set)}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with Cluster(root, args.nodes) as cluster:
        print(f"[cluster] SuperLink {cluster.address} (TLS, node auth), {args.nodes} SuperNodes; "
              f"logs under {root}")
        run = cluster.submit(overrides)
        code = run.wait(args.timeout)
    outcome = {0: "completed", 3: "completed with errors"}.get(code, "FAILED")
    print(f"[cluster] run {run.run_id}: {outcome}; "
          f"log {run.proc.log_path}")
    if (run_dir / "report.json").is_file():
        print(format_summary(load_report(run_dir / "report.json")))
    print(json.dumps({"leftover_processes": cluster.leftovers()}))
    return code if code in (0, 3) else 1


if __name__ == "__main__":
    raise SystemExit(main())
