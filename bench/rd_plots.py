"""The plot of ``bench/rd.py``: object and background PSNR against bytes, per sequence."""

from __future__ import annotations

from pathlib import Path

from rd_config import CODEC_TITLES, VIDEO_CODECS, SequenceResult
from rd_grid import curve_points

from rinr_core.container import MODES


def _mean(rows: list[dict], key: str) -> float:
    values = [r[key] for r in rows if r.get(key) is not None and r[key] == r[key]]
    return sum(values) / len(values) if values else float("nan")


def _grid_marks(ax, result: SequenceResult, key: str) -> None:  # type: ignore[no-untyped-def]
    """The grid section on one axis: grid's curve (and AVIF on the same frames), grid and stream at
    the targets, the camera's JPEG."""
    g = result.grid
    if not g:
        return
    curve = g.get("curve")
    if curve:
        n = curve["frames"]
        pts = sorted(curve_points(g), key=lambda p: p["bytes"])
        ax.plot([p["bytes"] for p in pts], [p[key] for p in pts], "-", color="tab:red", lw=2, marker="D",
                label=f"grid curve (first {n} frame(s))")
        ax.plot([p["bytes"] for p in curve["avif"]], [p[key] for p in curve["avif"]], "--", color="tab:purple",
                lw=1, label=f"AVIF (first {n} frame(s))")
    for part, marker, color, title in (("per_frame", "P", "tab:red", "grid at the targets"),
                                       ("stream", "*", "darkred", "grid stream at the targets")):
        rows = g.get(part, {}).get("rows")
        if rows:
            ax.plot(_mean(rows, "bytes"), _mean(rows, key), marker, color=color, ms=14, ls="none",
                    label=f"{title} ({len(rows)} frames)")
    cam = g.get("camera_jpeg")
    if cam:
        ax.plot(_mean(cam, "bytes"), _mean(cam, key), "v", color="black", ms=10, ls="none", label="camera JPEG")


def plot_sequence(result: SequenceResult, path: Path) -> Path:
    """Object and background PSNR against bytes: classic curves, INR points, target lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.4), layout="constrained")
    colors = {"jpeg": "tab:gray", "webp": "tab:green", "avif": "tab:purple", "roi-jpeg": "tab:brown",
              "bs": "tab:blue", "be": "tab:cyan", "de": "tab:olive", "re": "tab:orange", "qre": "tab:red"}
    markers = {"fast": "o", "paper": "s"}
    for ax, key, target in ((axes[0], "psnr_object", result.targets["object_db"]),
                            (axes[1], "psnr_background", result.targets["background_db"])):
        for codec, points in result.sweep.items():
            ax.plot([p["bytes"] for p in points], [p[key] for p in points], "-", color=colors[codec],
                    lw=1.4, marker=".", label=CODEC_TITLES[codec])
        for run_name, run in result.runs.items():
            for s in run["summary"]:
                if s["mode"] in MODES:
                    size = 12 if s["mode"] == "bs" else 8  # BS can coincide with BE: keep it visible
                    ax.plot(s["bytes"], s[key], markers.get(run_name, "D"), color=colors[s["mode"]], ms=size,
                            mfc=colors[s["mode"]] if run_name == "fast" else "none", mew=1.8,
                            label=f"{s['mode'].upper()} ({run_name})", ls="none")
        for codec, marker in zip(VIDEO_CODECS, ("*", "X"), strict=True):
            s = result.video.get("codecs", {}).get(codec, {}).get("summary")
            if s:
                ax.plot(s["bytes"], s[key], marker, color="black" if codec == "res-nerv" else "tab:pink", ms=13,
                        ls="none", label=f"{CODEC_TITLES[codec]} (first {result.video['frames']} frames)")
        _grid_marks(ax, result, key)
        ax.axhline(target, color="black", ls=":", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("bytes per frame")
        ax.set_ylabel(f"{'object' if key == 'psnr_object' else 'background'} PSNR (dB)")
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center", fontsize=8)
    w, h = result.size
    video = f"; Res-NeRV/NeRV: first {result.video['frames']} frames" if result.video else ""
    fig.suptitle(f"{result.name}: {len(result.frame_names)} frame(s) at {w}x{h}{video}, mean per frame "
                 f"(dotted: targets {result.targets['object_db']:g} / {result.targets['background_db']:g} dB)",
                 fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
