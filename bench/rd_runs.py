"""Whole runs of ``bench/rd.py``: measure, rebuild from a saved ``rd.json``, or reuse part of one.

:func:`measure` measures every sequence; :func:`load_report` rebuilds a report from a saved
``rd.json`` without encoding; :func:`measure_reusing_frames` copies its per-frame sections and
measures only the sequence codecs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from common import environment, log
from rd_config import NAME, RdConfig, Report, SequenceResult, config_from_dict
from rd_frames import classic_targets, jpeg_quality, mean_sweep, qre_targets, run_inr, spread_frames
from rd_plots import plot_sequence
from rd_video import measure_video

from rinr_core.classic import CLASSIC_CODECS
from rinr_core.evaluation import comparison_picture


def measure_sequence(path: Path, config: RdConfig, out: Path) -> SequenceResult | None:
    """All measurements of one sequence, plus its plot and comparison picture in ``out``."""
    frames, indices = spread_frames(path, config.frames, config.max_side)
    if not frames:
        log(f"{path.name}: no usable frames, skipped")
        return None
    result = SequenceResult(name=path.name, size=(frames[0].width, frames[0].height),
                            frame_names=[f.name for f in frames], frame_indices=indices,
                            boxes=[f.box for f in frames], source_jpeg_quality=jpeg_quality(frames[0].meta["path"]))
    for spec in config.runs:
        log(f"{path.name}: {len(frames)} frame(s) at {result.size[0]}x{result.size[1]}, "
            f"preset {spec.preset}, modes {','.join(spec.modes)} ...")
        ev, run = run_inr(frames, spec, config.device)
        result.runs[spec.name] = run
        log(f"  {run['seconds']:.0f} s")
        if spec is config.runs[0]:
            picture = out / f"{NAME}_{path.name}_frame.png"
            comparison_picture(ev, picture, columns=("jpeg", "avif", "roi-jpeg", "bs", "qre"))
            result.pictures.append(picture.name)
    result.sweep = {codec: mean_sweep(frames, codec) for codec in CLASSIC_CODECS}
    result.targets = classic_targets(frames, config)
    result.targets["qre"] = qre_targets(result.runs, result.targets["best_per_frame"], config.background_db,
                                        config.object_db)
    if config.sequence_frames:
        result.video = measure_video(path, config)
    result.pictures.insert(0, plot_sequence(result, out / f"{NAME}_{path.name}.png").name)
    return result


def measure(config: RdConfig, dirs: Sequence[Path], out: Path, command: str) -> Report:
    """Measure every sequence in ``dirs``; plots and pictures go to ``out``."""
    env = environment(config.device)
    start = time.perf_counter()
    results, skipped = [], []
    for path in dirs:
        res = measure_sequence(path, config, out)
        if res is None:
            skipped.append(f"{path.name} (no usable frames)")
        else:
            results.append(res)
    return Report(results, config, env, time.perf_counter() - start, command, skipped)


def _saved_result(item: dict[str, Any], config: RdConfig) -> SequenceResult:
    res = SequenceResult(**{**item, "size": tuple(item["size"]), "boxes": [tuple(b) for b in item["boxes"]]})
    res.targets["qre"] = qre_targets(res.runs, res.targets["best_per_frame"], config.background_db, config.object_db)
    return res


def load_report(path: Path, out: Path) -> Report:
    """A report rebuilt from a saved ``rd.json``: QRE verdicts and plots are recomputed, nothing is re-encoded.

    The comparison pictures need the decoded frames, so the ones already in ``out`` are kept.
    """
    data = json.loads(Path(path).read_text())
    config = config_from_dict(data["config"])
    results = []
    for item in data["sequences"]:
        res = _saved_result(item, config)
        res.pictures[0] = plot_sequence(res, out / res.pictures[0]).name
        results.append(res)
    return Report(results, config, data["environment"], data["seconds"], data["command"], data["skipped"],
                  data.get("reused"))


def measure_reusing_frames(saved_path: Path, config: RdConfig, out: Path, command: str) -> Report:
    """Per-frame sections copied from a saved ``rd.json``; the sequence codecs measured now with ``config``.

    The sequences, frames, INR runs and targets are the saved run's; the comparison pictures
    already in ``out`` are kept (they need the decoded frames of that run).
    """
    data = json.loads(Path(saved_path).read_text())
    if data.get("reused"):
        raise SystemExit(f"error: {saved_path} itself reused per-frame results; point --reuse-frames at the "
                         f"rd.json of a full run ({data['reused']['command']})")
    saved = config_from_dict(data["config"])
    config = replace(saved, device=config.device, sequence_frames=config.sequence_frames,
                     nerv_preset=config.nerv_preset, nerv_epochs=config.nerv_epochs, nerv_bpp=config.nerv_bpp,
                     aim_targets=config.aim_targets, object_steps=config.object_steps)
    env = environment(config.device)
    start = time.perf_counter()
    results = []
    for item in data["sequences"]:
        res = _saved_result({**item, "video": {}}, config)
        if config.sequence_frames:
            res.video = measure_video(config.data_dir / res.name, config)
        res.pictures[0] = plot_sequence(res, out / res.pictures[0]).name
        results.append(res)
    reused = {"path": str(saved_path), "command": data["command"], "environment": data["environment"],
              "seconds": data["seconds"]}
    return Report(results, config, env, time.perf_counter() - start, command, data["skipped"], reused)
