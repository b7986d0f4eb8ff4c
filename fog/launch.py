"""Run the app with ``flwr run .`` on a private local SuperLink, and leave nothing running.

``flwr run`` (Flower 1.41) talks to the SuperLink named in ``$FLWR_HOME/config.toml``; for the
magic address ``:local:`` it would start a detached ``flower-superlink --simulation`` on a
machine-wide default port and leave it running. :class:`LocalSuperLink` instead starts that
SuperLink itself, on free ports, with a project-local ``FLWR_HOME``, runtime dependency
installation and update checks off, and the project's virtual environment first on
``PATH`` (and Ray's log deduplication off, so every node's lines show); it stops the
SuperLink and everything it started (all its descendants, :func:`stop_tree`) on exit, also
after an error, Ctrl-C or SIGTERM. ``flwr run`` then finds the SuperLink already up and uses it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import psutil

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


def gpu_share(num_nodes: int, overrides: dict | None = None) -> float:
    """The GPU share of each virtual node: ``1/num_nodes`` when CUDA is present or asked for.

    Flower's simulation gives a node 0 GPUs by default, and Ray then hides every GPU from it
    (``CUDA_VISIBLE_DEVICES=""``): the edges would decode and train on the CPU. ``device =
    "cpu"`` gives no share; with no GPU here the share is 0 (Ray would wait for one forever)
    and nodes that ask for CUDA refuse the work with a clear error instead of using the CPU.
    """
    import torch

    device = str((overrides or {}).get("device", ""))
    wants = device.startswith("cuda") or (not device and torch.cuda.is_available())
    return round(1.0 / max(1, num_nodes), 3) if wants and torch.cuda.is_available() else 0.0


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
        """Stop the SuperLink and everything it started (see :func:`stop_tree`)."""
        if self.process is None:
            return
        stop_tree(self.process, timeout)
        self.process = None

    def __enter__(self) -> LocalSuperLink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self, overrides: dict, run_dir: Path, *, num_nodes: int, num_cpus: int = 1,
            num_gpus: float | None = None, timeout: float = 900.0,
            show: Callable[[str], bool] = lambda line: "[rinr]" in line) -> FlwrRun:
        """Submit the app with ``flwr run . --stream`` and wait until it finishes.

        Every log line goes to ``run_dir/flwr-run.log``; lines for which ``show`` is true are
        echoed. On timeout (or Ctrl-C) the run is stopped with ``flwr stop``.
        """
        run_dir.mkdir(parents=True, exist_ok=True)
        if num_gpus is None:
            num_gpus = gpu_share(num_nodes, overrides)
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


# --- process trees -----------------------------------------------------------------------------


def _running(process: psutil.Process) -> bool:
    """Whether ``process`` still runs (a zombie, exited but not yet reaped, does not)."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _tree(processes: Iterable[psutil.Process]) -> set[psutil.Process]:
    """``processes`` and all their live descendants, never this program itself."""
    found = set()
    for process in processes:
        with contextlib.suppress(psutil.Error):
            found |= {process, *process.children(recursive=True)}
    return {p for p in found if p.pid != os.getpid()}


def stop_processes(pids: Iterable[int], timeout: float = 15.0, *, hard: bool = False) -> None:
    """Stop processes ``pids`` and every descendant: SIGTERM, then SIGKILL after ``timeout`` s.

    The descendants are collected before any signal (children started in sessions of their
    own included, and reached even after their parent is gone) and again before SIGKILL.
    ``hard=True`` sends SIGKILL at once (a power cut, ``kill -9``). Zombies count as stopped:
    their parents (or init) reap them.
    """
    roots = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            roots.append(psutil.Process(pid))
    alive = _tree(roots)
    steps = (("kill", 5.0),) if hard else (("terminate", timeout), ("kill", 5.0))
    for step, (action, wait) in enumerate(steps):
        if step:  # anything started meanwhile is reached too
            alive = _tree(alive)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                getattr(process, action)()
        deadline = time.monotonic() + wait
        while (alive := {p for p in alive if _running(p)}) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not alive:
            return


def stop_tree(process: subprocess.Popen, timeout: float = 15.0, *, hard: bool = False) -> None:
    """Stop a started process and every descendant (:func:`stop_processes`), then reap it."""
    stop_processes([process.pid], timeout, hard=hard)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=1.0)


def group_alive(group: int) -> bool:
    """Whether any process of process group ``group`` is still alive (zombies excluded)."""
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(process.pid) == group and _running(process):
                return True
    return False
