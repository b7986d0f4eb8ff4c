"""The markdown page of ``bench/gpu.py`` (``docs/results/gpu.md``)."""

from __future__ import annotations

from typing import Any

from common import environment_line

from rinr_core.tables import markdown_table

PAPER_TRAINING_SPEEDUP = 2.9
PAPER_REDUCTION = 5.16


def _f(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _bytes_table(runs: list[dict[str, Any]]) -> str:
    jpeg = next(r for r in runs if r["codec"] == "jpeg")
    rows = []
    for r in runs:
        phases = r["bytes_by_phase"]
        psnr = r["mean_psnr"]
        rows.append([
            r["title"], r["uploaded_frames"], r["delivered_frames"],
            _f(r["mean_upload_bytes"], 0), _f(r["mean_payload_bytes"], 0),
            f"{r['total_bytes']:,}", f"{jpeg['total_bytes'] / r['total_bytes']:.2f}x",
            f"{sum(phases.get('collect', {}).values()):,}",
            f"{sum(phases.get('broadcast', {}).values()):,}",
            _f(r["encode_fps"], 2), _f(psnr.get("psnr_full"), 2), _f(psnr.get("psnr_object"), 2),
            _f(r["seconds"])])
    return markdown_table(
        ["codec", "frames uploaded", "frames delivered", "camera JPEG B / frame",
         "payload B / frame", "all bytes (ledger)", "JPEG run / run", "collect B",
         "broadcast B", "fog encode frames/s", "PSNR full dB", "PSNR object dB", "run s"], rows)


def _parts_tables(parts: dict[str, Any]) -> list[str]:
    decode = markdown_table(
        ["frames", "grouped frames/s", "one-by-one frames/s", "grouped speedup"],
        [[parts["frames"], _f(parts["grouped_decode_fps"]), _f(parts["one_by_one_decode_fps"]),
          f"{parts['grouped_speedup']:.2f}x"]])
    train = markdown_table(
        ["feed", "s / epoch", "CPU s / epoch", "frames / s", "loss (first -> last epoch)"],
        [["INRs rendered on the device (QRE paper)", _f(parts["inr_epoch_s"], 2),
          _f(parts["inr_cpu_s"], 2), _f(parts["inr_train_fps"]),
          " / ".join(f"{g['training']['inr']['loss'][0]:.2f} -> {g['training']['inr']['loss'][-1]:.2f}"
                     for g in parts["groups"])],
         ["camera JPEGs decoded on the CPU", _f(parts["jpeg_epoch_s"], 2),
          _f(parts["jpeg_cpu_s"], 2), _f(parts["jpeg_train_fps"]),
          " / ".join(f"{g['training']['jpeg']['loss'][0]:.2f} -> {g['training']['jpeg']['loss'][-1]:.2f}"
                     for g in parts["groups"])]])
    sizes = ", ".join(f"{g['frames']} at {g['size']}" for g in parts["groups"])
    return [f"Frames: {sizes}; encoded with QRE (`paper`) in one batched call per size at "
            f"{parts['encode_fps']:.2f} frames/s (no Flower, no cache: the encoder alone).", "",
            "### Grouped vs one-by-one decoding (QRE payloads)", "",
            decode, "", "### CPU-free training: YOLOv8n fed by INRs vs by JPEGs", "", train, "",
            f"Speedup (JPEG-fed / INR-fed seconds per epoch): **{parts['training_speedup']:.2f}x** "
            f"(the paper reports {PAPER_TRAINING_SPEEDUP}x); CPU seconds per epoch "
            f"{parts['jpeg_cpu_s']:.2f} (JPEG) vs {parts['inr_cpu_s']:.2f} (INR)."]


def _verdicts(result: dict[str, Any]) -> list[str]:
    runs, parts = result["runs"], result["parts"]
    jpeg = next(r for r in runs if r["codec"] == "jpeg")
    lines = []
    for r in runs:
        if r["codec"] == "jpeg":
            continue
        ratio = jpeg["total_bytes"] / r["total_bytes"]
        verdict = (f"{ratio:.2f}x fewer bytes than the JPEG relay run (a win" if ratio > 1
                   else f"{1 / ratio:.2f}x the JPEG relay run's bytes (we lose")
        lines.append(f"- {r['title']}: {verdict}; the paper reports up to {PAPER_REDUCTION}x "
                     "fewer among 10 devices).")
    speed = parts["training_speedup"]
    lines.append(f"- CPU-free training: {speed:.2f}x vs the paper's {PAPER_TRAINING_SPEEDUP}x: "
                 + ("met." if speed >= PAPER_TRAINING_SPEEDUP else "missed."))
    lines.append(f"- Grouped decoding: {parts['grouped_speedup']:.2f}x the speed of one-by-one "
                 "decoding" + ("." if parts["grouped_speedup"] > 1 else ": no gain here."))
    within = result["seconds"] <= result["time_limit_s"]
    lines.append(f"- Whole benchmark: {result['seconds']:.0f} s "
                 + (f"(target <= {result['time_limit_s']} s on one GPU: "
                    + ("met" if within else "missed") + ")." if result["device"].startswith("cuda")
                    else "(the 8-minute target applies to a GPU run)."))
    return lines


def render_markdown(result: dict[str, Any]) -> str:
    """The page: the GPU status line, the tables, the verdicts."""
    spec, env = result["spec"], result["environment"]
    on_gpu = result["device"].startswith("cuda")
    status = ("" if on_gpu else
              "**This benchmark has not run on a GPU yet.** No GPU was available where it was "
              "written. The figures below come from `--quick` on a CPU at tiny sizes: they are "
              "evidence that the code path works end to end, not results; none of them is the "
              "paper-scale measurement. On a GPU run `.venv/bin/python bench/gpu.py` "
              "(`make bench-gpu`) and commit what it writes.")
    side = spec["max_side"] or "native"
    steps = spec["qre_steps"] or 10_000
    lines = ["# Paper-scale GPU benchmark", ""] + ([status, ""] if status else []) + [
        f"Command: `{result['command']}`", "", f"Machine: {environment_line(env)}.", "",
        f"Setting: {spec['nodes']} nodes, {spec['frames_per_node']} frames per node (every "
        f"{spec['val_every']}th held out, never sent), longer side {side} px (never enlarged), "
        f"from `../shared/data` (nodes share the 4 sequences, interleaving their frames). "
        f"QRE: `paper` preset architecture, {steps:,} fitting steps per INR "
        f"({'the paper' if steps == 10_000 else 'fewer than the paper'}'s 10,000: a `.rinr`'s "
        "size is fixed by its architecture, so bytes do not depend on the steps; encode "
        f"frames/s do). Res-NeRV: `{spec['nerv_preset']}` preset. Grid stream: "
        f"`{spec['grid_preset']}` preset. Whole run {result['seconds']:.0f} s ("
        + ", ".join(f"{k} {v:.0f} s" for k, v in result["part_seconds"].items()) + ").", "",
        "## Bytes moved (each run's own ledger: 1 round, `placement = edge`, YOLOv8 not trained)",
        "",
        "The real ServerApp and ClientApps exchange Flower messages on an in-process grid "
        "(`fog.local_grid.LocalGrid`: no Ray; every node runs in the benchmark's process on the "
        "same device, one after another, so *run s* is not a deployment's wall time).", "",
        "The JPEG relay sends the camera's JPEG (`rinr_core.images.camera_jpeg`: the source "
        "file's own quantization tables); its mean bytes per frame is the *camera JPEG* column.",
        "", _bytes_table(result["runs"]), "",
        "## Decoding and training on the device", "", *_parts_tables(result["parts"]), "",
        "## Targets", "", *_verdicts(result), "",
        "`rinr plan --devices 10 --criterion time --throughputs docs/results/gpu.json` prices "
        "the placements with this run's `encode_fps`, `decode_fps`, `edge_train_fps` (INR-fed) "
        "and `fog_train_fps` (JPEG-fed)" + ("." if on_gpu else
                                            ", once the file holds a GPU run (these tiny-CPU "
                                            "rates are no planning input)."), ""]
    return "\n".join(lines)
