"""Whole runs of ``bench/rd.py``: measure, rebuild from a saved ``rd.json``, or reuse part of one.

:func:`measure` measures every sequence; :func:`load_report` rebuilds a report from a saved
``rd.json`` without encoding; :func:`measure_reusing_frames` copies its per-frame sections (and,
asked to, its sequence-codec sections) and measures the rest.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from common import environment, log
from rd_config import DEFAULT_MAX_SIDE, NAME, RdConfig, Report, SequenceResult, config_from_dict
from rd_frames import classic_targets, jpeg_quality, mean_sweep, qre_targets, run_inr, spread_frames
from rd_grid import measure_grid
from rd_plots import plot_sequence
from rd_video import measure_video

from rinr_core.classic import CLASSIC_CODECS
from rinr_core.evaluation import comparison_picture


def _stem(config: RdConfig) -> str:
    """Names of a run's pictures: ``rd``, or ``rd-320`` and so on at another size than the default."""
    return NAME if config.max_side == DEFAULT_MAX_SIDE else f"{NAME}-{config.max_side}"


def measure_sequence(path: Path, config: RdConfig, out: Path, command: str = "") -> SequenceResult | None:
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
            picture = out / f"{_stem(config)}_{path.name}_frame.png"
            comparison_picture(ev, picture, columns=("jpeg", "avif", "roi-jpeg", "bs", "qre"))
            result.pictures.append(picture.name)
    result.sweep = {codec: mean_sweep(frames, codec) for codec in CLASSIC_CODECS}
    result.targets = classic_targets(frames, config)
    result.targets["qre"] = qre_targets(result.runs, result.targets["best_per_frame"], config.background_db,
                                        config.object_db)
    if config.sequence_frames:
        result.video = measure_video(path, config)
    result.grid = measure_grid(path, frames, result, config)
    result.grid["sources"] = dict.fromkeys(set(result.grid) - {"sources"}, command)
    result.grid["history"] = [command]
    result.pictures.insert(0, plot_sequence(result, out / f"{_stem(config)}_{path.name}.png").name)
    return result


def measure(config: RdConfig, dirs: Sequence[Path], out: Path, command: str,
            progress: Callable[[Report], None] | None = None) -> Report:
    """Measure every sequence in ``dirs``; plots and pictures go to ``out``; ``progress`` gets the
    report of the sequences measured so far after each one."""
    env = environment(config.device)
    start = time.perf_counter()
    results, skipped = [], []
    for path in dirs:
        res = measure_sequence(path, config, out, command)
        if res is None:
            skipped.append(f"{path.name} (no usable frames)")
        else:
            results.append(res)
            if progress is not None and path != dirs[-1]:
                progress(Report(list(results), config, env, time.perf_counter() - start, command, list(skipped)))
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
                  data.get("reused"), data.get("reused_video"))


def _merged_curve(saved: dict[str, Any], fresh: dict[str, Any]) -> dict[str, Any]:
    """A saved grid curve with fresh points added (a fresh point replaces a saved one of the same lambda)."""
    lambdas = {p["lambda"] for p in fresh["points"]}
    points = [p for p in saved["points"] if p["lambda"] not in lambdas] + fresh["points"]
    return {**fresh, "points": sorted(points, key=lambda p: p["lambda"])}


def _grid_fields(now: RdConfig, saved: RdConfig | None) -> dict[str, Any]:
    """The grid section's counts: ``now``'s, or where ``now`` skips a part (0) and a ``saved``
    config is given, the saved one's (that part is reused)."""
    def pick(name: str) -> Any:
        value = getattr(now, name)
        return getattr(saved, name) if saved is not None and not value else value

    lambdas = now.grid_lambdas
    if saved is not None and (not now.grid_curve_frames or now.grid_curve_frames == saved.grid_curve_frames):
        lambdas = tuple(sorted(set(saved.grid_lambdas) | (set(now.grid_lambdas) if now.grid_curve_frames else set())))
    return {"grid_frames": pick("grid_frames"), "grid_curve_frames": pick("grid_curve_frames"),
            "grid_stream_frames": pick("grid_stream_frames"), "grid_lambdas": lambdas}


def _source(data: dict[str, Any], path: Path) -> dict[str, Any]:
    """Where a saved file's per-frame sections were measured: the file's own run, or the run it reused."""
    if data.get("reused"):
        return data["reused"]
    return {"path": str(path), "command": data["command"], "environment": data["environment"],
            "seconds": data["seconds"]}


def measure_reusing_frames(saved_path: Path, config: RdConfig, out: Path, command: str, *,
                           reuse_video: bool = False, reuse_grid: bool = False,
                           progress: Callable[[Report], None] | None = None) -> Report:
    """Per-frame sections copied from a saved ``rd.json``; the rest measured now with ``config``.

    The sequences, frames, INR runs and targets are the saved run's (when that run itself
    reused them, the report names the run that measured them); with ``reuse_video`` the
    sequence-codec sections are the saved run's too. The grid section is measured now; with
    ``reuse_grid`` only its parts asked for now (a nonzero frame count) are, the others are the
    saved run's (each part names the command that measured it). The comparison pictures already
    in ``out`` are kept (they need the decoded frames of that run).
    """
    data = json.loads(Path(saved_path).read_text())
    saved = config_from_dict(data["config"])
    keep = ("sequence_frames", "nerv_preset", "nerv_epochs", "nerv_bpp", "aim_targets", "object_steps")
    video_fields = {} if reuse_video else {k: getattr(config, k) for k in keep}
    now = config
    config = replace(saved, device=config.device, grid_steps=config.grid_steps, **video_fields,
                     **_grid_fields(now, saved if reuse_grid else None))
    env = environment(config.device)
    start = time.perf_counter()
    results: list[SequenceResult] = []
    reused_video = None
    if reuse_video:
        reused_video = data.get("reused_video") or {"path": str(saved_path), "command": data["command"],
                                                    "environment": data["environment"], "seconds": data["seconds"]}
    for item in data["sequences"]:
        if progress is not None and results:
            progress(Report(list(results), config, env, time.perf_counter() - start, command, data["skipped"],
                            _source(data, saved_path), reused_video))
        saved_grid = item.get("grid", {}) if reuse_grid else {}
        res = _saved_result({**item, "video": item.get("video", {}) if reuse_video else {}, "grid": {}}, config)
        if config.sequence_frames and not reuse_video:
            res.video = measure_video(config.data_dir / res.name, config)
        frames, _ = spread_frames(config.data_dir / res.name, config.frames, config.max_side)
        if [f.name for f in frames] != res.frame_names:
            raise SystemExit(f"error: {res.name}: the frames now found ({[f.name for f in frames]}) are not the "
                             f"saved run's ({res.frame_names}); measure afresh without --reuse-frames")
        fresh = measure_grid(config.data_dir / res.name, frames, res, replace(config, **_grid_fields(now, None)))
        older = saved_grid.get("sources") or dict.fromkeys(set(saved_grid) - {"sources", "history"}, data["command"])
        sources = {**older, **dict.fromkeys(set(fresh) - {"sources", "history"}, command)}
        if "curve" in fresh and saved_grid.get("curve", {}).get("frames") == fresh["curve"]["frames"]:
            fresh["curve"] = _merged_curve(saved_grid["curve"], fresh["curve"])
        history = saved_grid.get("history") or list(dict.fromkeys(older.values()))
        res.grid = {**saved_grid, **fresh, "sources": sources, "history": [*history, command]}
        res.pictures[0] = plot_sequence(res, out / res.pictures[0]).name
        results.append(res)
    return Report(results, config, env, time.perf_counter() - start, command, data["skipped"],
                  _source(data, saved_path), reused_video)
