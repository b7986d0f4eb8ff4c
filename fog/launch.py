"""Run the app with ``flwr run .`` on a private local SuperLink, and leave nothing running.

``flwr run`` (Flower 1.41) talks to the SuperLink named in ``$FLWR_HOME/config.toml``; for the
magic address ``:local:`` it would start a detached ``flower-superlink --simulation`` on a
machine-wide default port and leave it running. :class:`LocalSuperLink` instead starts that
SuperLink itself, on free ports, with a project-local ``FLWR_HOME``, runtime dependency
installation and update checks off, and the project's virtual environment first on
``PATH`` (and Ray's log deduplication off, so every node's lines show); it stops the SuperLink and everything it started (the process groups of all its
descendants) on exit, also after an error, Ctrl-C or SIGTERM. ``flwr run`` then finds the SuperLink already up and uses it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rinr_core.errors import RinrError

FLWR_CONFIG = """[superlink]
default = "local"

[superlink.local]
address = ":local:"
"""
_RUN_ID = re.compile(r"Successfully started run (\d+)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def toml_value(value: bool | int | float | str) -> str:
    """A run_config value in TOML syntax."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def write_run_config(overrides: dict, path: Path) -> Path:
    """Write run_config overrides as a TOML file for ``flwr run --run-config <file>``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k} = {toml_value(v)}\n" for k, v in overrides.items()))
    return path


@dataclass
class FlwrRun:
    """The outcome of one ``flwr run``: its id, final status and log file."""

    run_id: str | None
    status: str
    details: str
    log_path: Path
    seconds: float

    @property
    def ok(self) -> bool:
        """Whether the run finished successfully."""
        return self.status == "finished:completed"


class LocalSuperLink:
    """A private local simulation SuperLink for ``flwr run .`` (see the module docstring).

    Use as a context manager; :meth:`run` submits the app and waits for it.
    """

    def __init__(self, project_dir: Path, flwr_home: Path | None = None,
                 echo: Callable[[str], None] = print) -> None:
        self.project_dir = Path(project_dir).resolve()
        self.flwr_home = Path(flwr_home or self.project_dir / ".flwr").resolve()
        self.echo = echo
        self.port = free_port()
        self.control_port = free_port()
        self.process: subprocess.Popen | None = None
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            **os.environ,
            "FLWR_HOME": str(self.flwr_home),
            "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1",
            "FLWR_DISABLE_UPDATE_CHECK": "1",
            "FLWR_LOCAL_SUPERLINK_HTTP_API_PORT": str(self.port),
            "FLWR_LOCAL_CONTROL_API_PORT": str(self.control_port),
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
            "RAY_DEDUP_LOGS": "0",  # show every node's log lines, not "repeated 2x"
        }

    def _flwr(self) -> str:
        """The ``flwr`` executable of this interpreter's environment."""
        path = Path(sys.executable).parent / "flwr"
        if not path.is_file():
            raise RinrError(f"{path} not found; install the project with `pip install -e .`")
        return str(path)

    def start(self, timeout: float = 60.0) -> None:
        """Start ``flower-superlink --simulation`` and wait until it answers."""
        self.flwr_home.mkdir(parents=True, exist_ok=True)
        config = self.flwr_home / "config.toml"
        if not config.is_file():
            config.write_text(FLWR_CONFIG)
        runtime = self.flwr_home / "local-superlink"
        runtime.mkdir(parents=True, exist_ok=True)
        binary = Path(sys.executable).parent / "flower-superlink"
        command = [
            str(binary), "--insecure", "--simulation", "--isolation", "subprocess",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--database", str(runtime / "state.db"), "--log-file", str(runtime / "superlink.log"),
        ]
        self.process = subprocess.Popen(  # noqa: S603 - fixed command of this environment
            command, cwd=self.project_dir, env=self.env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RinrError(f"flower-superlink exited with code {self.process.returncode}; "
                                f"see {runtime / 'superlink.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.3)
        raise RinrError(f"flower-superlink did not open port {self.port} within {timeout:g} s")

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the SuperLink and everything it started (SIGTERM, then SIGKILL).

        ``flower-superexec`` starts each run's ``flwr-simulation`` (and Ray) in a session of
        its own, so the process groups of all the SuperLink's descendants are collected first
        and signalled together with the SuperLink's group.
        """
        if self.process is None:
            return
        groups = {self.process.pid} | {process_group_of(pid) for pid in process_descendants(self.process.pid)}
        groups.discard(os.getpgid(0))  # never this program's own group
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            for group in groups:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(group, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and any(group_alive(g) for g in groups):
                self.process.poll()
                time.sleep(0.2)
            if not any(group_alive(g) for g in groups):
                break
        self.process.poll()
        self.process = None

    def __enter__(self) -> LocalSuperLink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self, overrides: dict, run_dir: Path, *, num_nodes: int, num_cpus: int = 1,
            num_gpus: float = 0.0, timeout: float = 900.0,
            show: Callable[[str], bool] = lambda line: "[rinr]" in line) -> FlwrRun:
        """Submit the app with ``flwr run . --stream`` and wait until it finishes.

        Every log line goes to ``run_dir/flwr-run.log``; lines for which ``show`` is true are
        echoed. On timeout (or Ctrl-C) the run is stopped with ``flwr stop``.
        """
        run_dir.mkdir(parents=True, exist_ok=True)
        config_file = write_run_config(overrides, run_dir / "run-config.toml")
        federation = (f"num-supernodes={num_nodes} client-resources-num-cpus={int(num_cpus)} "
                      f"client-resources-num-gpus={toml_value(float(num_gpus))}")
        command = [self._flwr(), "run", ".", "--run-config", str(config_file),
                   "--federation-config", federation, "--stream"]
        log_path = run_dir / "flwr-run.log"
        start = time.monotonic()
        run_id = None
        with log_path.open("w") as log, subprocess.Popen(  # noqa: S603
            command, cwd=self.project_dir, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, bufsize=1,
        ) as proc:
            try:
                for line in _lines_until(proc, start + timeout):
                    log.write(line)
                    run_id = run_id or _match_run_id(line)
                    if show(line):
                        self.echo(line.rstrip())
                if proc.poll() is None:
                    raise TimeoutError(f"flwr run did not finish within {timeout:g} s")
            except BaseException:
                if run_id:
                    self._call(["stop", run_id])
                proc.kill()
                raise
        status, details = self.status(run_id) if run_id else ("not-started", "no run id")
        return FlwrRun(run_id, status, details, log_path, time.monotonic() - start)

    def status(self, run_id: str) -> tuple[str, str]:
        """``(status, details)`` of a run, from ``flwr ls --format json``."""
        out = self._call(["ls", "--run-id", run_id, "--format", "json"])
        try:
            run = json.loads(out)["runs"][0]
            return str(run.get("status", "unknown")), str(run.get("status-details", ""))
        except (ValueError, KeyError, IndexError):
            return "unknown", out[-500:]

    def _call(self, args: list[str]) -> str:
        """Run a short ``flwr`` command; return its standard output."""
        result = subprocess.run(  # noqa: S603
            [self._flwr(), *args], cwd=self.project_dir, env=self.env, capture_output=True,
            text=True, timeout=120, check=False,
        )
        return result.stdout


def _match_run_id(line: str) -> str | None:
    match = _RUN_ID.search(line)
    return match.group(1) if match else None


def _lines_until(proc: subprocess.Popen, deadline: float):
    """Yield the process's output lines until it exits or ``deadline`` passes."""
    import selectors

    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=1.0):
                if proc.poll() is not None:
                    return
                continue
            line = proc.stdout.readline()
            if not line:
                proc.wait()
                return
            yield line


def _stat(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state, ppid, pgrp, ...)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_group_of(pid: int) -> int:
    """Process group id of ``pid`` (``pid`` itself when it is gone)."""
    fields = _stat(pid)
    return int(fields[2]) if fields else pid


def process_descendants(root: int) -> list[int]:
    """Ids of every live descendant of process ``root``."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(entry.name)) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def group_alive(group: int) -> bool:
    """Whether any process of process group ``group`` is still alive (zombies excluded)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(entry.name)) is not None:
            if int(fields[2]) == group and fields[0] != "Z":
                return True
    return False
