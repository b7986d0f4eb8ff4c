"""Shared helpers of the benchmarks under ``bench/``: options, environment, result files.

Importing this module puts the repository root on ``sys.path``, so ``python bench/X.py`` finds
the project's packages without an install; tables come from :mod:`rinr_core.tables`. Every
benchmark prints a markdown table, can print one JSON object instead (``--json``; all
other messages then go to stderr), and writes ``<name>.md`` and ``<name>.json`` (plus its
plots) to ``docs/results/``. ``--quick`` runs a tiny configuration that only checks the script
works; its files go to ``out/bench-quick/`` so the committed results are not overwritten.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "docs" / "results"
QUICK_DIR = REPO_ROOT / "out" / "bench-quick"
SHARED_DATA_DIR = REPO_ROOT.parent / "shared" / "data"
if str(REPO_ROOT) not in sys.path:
    sys.path.append(str(REPO_ROOT))  # after the installed packages: an install still wins


def bench_parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark takes.

    ``--json`` (print one JSON object on stdout), ``--out DIR`` (where result files go),
    ``--quick`` (tiny run to check the script), ``--threads N`` (torch CPU threads) and
    ``--device`` (``cpu``, ``cuda``, ...; default: ``cuda`` when available).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"folder for the result files (default {RESULTS_DIR.relative_to(REPO_ROOT)}, "
                             f"or {QUICK_DIR.relative_to(REPO_ROOT)} with --quick)")
    parser.add_argument("--quick", action="store_true", help="tiny configuration: checks the script runs")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice; use 1 on a busy machine)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    return parser


def output_dir(args: argparse.Namespace) -> Path:
    """The folder result files go to: ``--out``, else the quick folder or ``docs/results``."""
    if args.out is not None:
        return Path(args.out)
    return QUICK_DIR if args.quick else RESULTS_DIR


def apply_threads(threads: int | None) -> None:
    """Set torch's CPU thread count when ``threads`` is given."""
    if threads is not None:
        import torch

        torch.set_num_threads(max(1, threads))


def log(message: str) -> None:
    """Print a progress message to stderr (stdout is kept for the table or the JSON)."""
    print(message, file=sys.stderr, flush=True)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_revision() -> str | None:
    """The repository's commit, with ``+ uncommitted changes`` when tracked files differ (None outside git)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(REPO_ROOT), *args], capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + (" + uncommitted changes" if dirty else "")


def environment(device: str | None = None) -> dict[str, Any]:
    """What the numbers were measured on: date, CPU, torch, threads and the compute device."""
    import PIL
    import torch

    resolved = device or ("cuda" if torch.cuda.is_available() else "cpu")
    info: dict[str, Any] = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "pillow": PIL.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "device": resolved,
    }
    revision = git_revision()
    if revision is not None:
        info["git"] = revision
    if hasattr(os, "getloadavg"):
        info["load_average"] = round(os.getloadavg()[0], 2)  # other work on the machine at start
    if resolved.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(resolved))
    return info


def environment_line(env: dict[str, Any]) -> str:
    """One human-readable line describing :func:`environment`'s result."""
    device = env["device"] + (f" ({env['gpu']})" if "gpu" in env else "")
    return (f"{env['date']}; {env['cpu']}, {env['cpu_count']} CPUs, torch {env['torch']} with "
            f"{env['torch_threads']} thread(s), Pillow {env['pillow']}, Python {env['python']}; "
            f"device {device}"
            + (f"; load average {env['load_average']} at start" if "load_average" in env else "")
            + (f"; code at git {env['git']}" if "git" in env else ""))


def reproduce_command(script: str | Path | None = None, argv: Sequence[str] | None = None) -> str:
    """The shell command that reruns this benchmark with the same options, from the repo root."""
    script_path = Path(script or sys.argv[0]).resolve()
    try:
        shown = str(script_path.relative_to(REPO_ROOT))
    except ValueError:
        shown = str(script_path)
    args = list(sys.argv[1:] if argv is None else argv)
    return shlex.join([".venv/bin/python", shown, *args])


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _finite(value: Any) -> Any:
    """NaN and infinities become None (JSON has no NaN), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def to_json(data: Any) -> str:
    """``data`` as strict JSON text (NaN -> null, numpy values as Python numbers)."""
    return json.dumps(_finite(json.loads(json.dumps(data, default=_json_default))), indent=1,
                      allow_nan=False)


def write_results(out_dir: Path, name: str, markdown: str, data: Any) -> list[Path]:
    """Write ``<name>.md`` and ``<name>.json`` to ``out_dir`` (created); return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path, json_path = out_dir / f"{name}.md", out_dir / f"{name}.json"
    md_path.write_text(markdown.rstrip() + "\n")
    json_path.write_text(to_json(data) + "\n")
    return [md_path, json_path]
