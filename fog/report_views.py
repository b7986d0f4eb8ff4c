"""The run report as people read it: the terminal summary, ``report.md`` and ``report.png``.

Everything here reads the JSON form of a :class:`fog.report.RunReport` (``report.json``), so a
saved report can be shown again (``python -m fog.demo`` and ``deploy/cluster.py`` do).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def human_bytes(count: float | None) -> str:
    """``1234567`` -> ``"1.23 MB"`` (decimal units)."""
    if count is None:
        return "-"
    for unit in ("B", "kB", "MB", "GB"):
        if abs(count) < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.2f} {unit}"
        count /= 1000
    return f"{count:.2f} GB"



def _placement_lines(summary: dict) -> list[str]:
    """Which placement ran and why, and the bytes the model predicted for it."""
    placement = summary.get("placement") or {}
    chosen = placement.get("chosen")
    if chosen is None:
        return [f"placement {placement.get('requested') or '-'}: undecided "
                f"({placement.get('reason', '-')})"]
    predicted, measured = placement["predicted_total_bytes"], summary["total_bytes"]
    error = f"{(predicted - measured) / measured:+.1%}" if measured else "-"
    return [f"placement {chosen} (requested {placement['requested']}): {placement['reason']}",
            f"placement model predicted {human_bytes(predicted)} for this run, measured "
            f"{human_bytes(measured)} (model error {error})"]


# --- text, markdown, plot ---------------------------------------------------------------------


def _bytes_rows(summary: dict) -> list[tuple[str, str, str, str]]:
    """(phase, up, down, JPEG-relay total) rows and a total row, as text."""
    rows = []
    actual, relay = summary["bytes_by_phase"], summary["jpeg_relay_bytes_by_phase"]
    for phase in actual:
        up, down = actual[phase]["up"], actual[phase]["down"]
        rows.append((phase, human_bytes(up), human_bytes(down),
                     human_bytes(relay[phase]["up"] + relay[phase]["down"])))
    ups = sum(actual[p]["up"] for p in actual)
    downs = sum(actual[p]["down"] for p in actual)
    rows.append(("total", human_bytes(ups), human_bytes(downs),
                 human_bytes(summary["jpeg_relay_total_bytes"])))
    return rows


def _loss_lines(summary: dict) -> list[str]:
    """What did not arrive: frames live nodes lack and frames given up on, by name."""
    lines = [f"MISSING at {node}: {len(ids)} frame(s): {', '.join(ids[:5])}"
             + (" ..." if len(ids) > 5 else "") for node, ids in summary.get("missing", {}).items()]
    lines += [f"UNDELIVERABLE {fid}: {why}" for fid, why in summary.get("undeliverable", {}).items()]
    return lines


def _device_lines(summary: dict) -> list[str]:
    """``devices: fog cpu, p0 cuda:0 (...)``: where the fog and each node computed."""
    devices = summary.get("devices") or {}
    if not devices:
        return []
    fog = [f"fog {devices['fog']}"] if "fog" in devices else []
    return ["devices: " + ", ".join(fog + [f"{k} {v}" for k, v in devices.items() if k != "fog"])]


def _map_rows(table: dict) -> list[tuple[str, str]]:
    return [
        (node, "  ".join(f"r{r}: {m['map50']:.3f} / {m['map50_95']:.3f}"
                         for r, m in sorted(rounds.items(), key=lambda x: int(x[0]))))
        for node, rounds in sorted(table.items())
    ]


def format_summary(report: dict) -> str:
    """A plain-text summary table of a report (what ``make demo`` prints)."""
    s = report["summary"]
    lines = [
        f"codec {s['codec']}  status {s['status']}  {s['seconds']} s",
        *_placement_lines(s),
        *_device_lines(s),
        *_loss_lines(s),
        "",
        f"{'phase':<10} {'up (edge->fog)':>15} {'down (fog->edge)':>17} {'JPEG relay':>12}",
    ]
    for phase, up, down, relay in _bytes_rows(s):
        lines.append(f"{phase:<10} {up:>15} {down:>17} {relay:>12}")
    lines += [
        "",
        f"delivered frames: {s['delivered_frames']}  payloads {human_bytes(s['delivered_payload_bytes'])}"
        f" vs their JPEGs {human_bytes(s['delivered_jpeg_bytes'])}",
        f"JPEG relay / {s['codec']}: payloads {s['payload_ratio_vs_jpeg'] or '-'}x, all traffic"
        f" {s['total_ratio_vs_jpeg'] or '-'}x (above 1: {s['codec']} moves fewer bytes)",
        "mean PSNR of delivered frames (dB): "
        + "  ".join(f"{k.removeprefix('psnr_')} {v if v is not None else '-'}"
                    for k, v in s["mean_psnr"].items()),
        "frames per node (collected / encoded / received): "
        + "  ".join(f"{n} {c['collected']}/{c['encoded']}/{c['received']}"
                    for n, c in s["frames_per_node"].items()),
    ]
    for title, key in (("mAP50 / mAP50-95 after local training", "map"),
                       ("mAP50 / mAP50-95 of the global model", "global_map")):
        if s[key]:
            lines += ["", f"{title} (held-out original JPEGs):"]
            lines += [f"  {node:<6} {text}" for node, text in _map_rows(s[key])]
    finals = [m["map50"] for t in (s["map"], s["global_map"]) for r in t.values()
              for m in r.values()]
    if finals and max(finals) < 0.05:
        lines.append("  (near zero: YOLOv8n from scratch, few epochs on few frames; raise "
                     "epochs and frames-per-node for a meaningful accuracy)")
    if s["rejected"]:
        lines += ["", f"refused uploads: {len(s['rejected'])}"]
        lines += [f"  {x['node']} {x['frame']}: {x['reason']}" for x in s["rejected"]]
    if s["errors"]:
        lines += ["", f"errors and missing replies: {len(s['errors'])}"]
        lines += [f"  round {e['round']} {e['phase']} {e['node']}: {e['reason'][:160]}"
                  for e in s["errors"]]
    return "\n".join(lines)


def format_markdown(report: dict) -> str:
    """The report as a markdown page (``report.md``)."""
    s = report["summary"]
    rc = report["run_config"]
    out = [
        f"# rinr run report: codec `{s['codec']}`",
        "",
        f"Status **{s['status']}**, {s['seconds']} s. Settings: "
        + ", ".join(f"`{k}={v}`" for k, v in sorted(rc.items())),
        "",
        "## Placement",
        "",
        *(f"{line[0].upper()}{line[1:].rstrip('.')}." for line in _placement_lines(s)),
        "",
        "## Bytes moved",
        "",
        "Sizes are the deflated Flower message objects (what Flower 1.41 transfers). "
        "*JPEG relay* is the same traffic with the original JPEGs broadcast in place of the "
        "payloads.",
        "",
        "| phase | up (edge->fog) | down (fog->edge) | JPEG relay (up+down) |",
        "|---|---:|---:|---:|",
    ]
    out += [f"| {p} | {u} | {d} | {r} |" for p, u, d, r in _bytes_rows(s)]
    out += [
        "",
        f"Delivered frames: {s['delivered_frames']}; payloads "
        f"{human_bytes(s['delivered_payload_bytes'])} vs JPEGs "
        f"{human_bytes(s['delivered_jpeg_bytes'])}. JPEG relay bytes / {s['codec']} bytes: "
        f"payloads **{s['payload_ratio_vs_jpeg'] or '-'}x**, all traffic "
        f"**{s['total_ratio_vs_jpeg'] or '-'}x** (above 1: fewer bytes than the relay).",
        "",
        "## Frames and quality",
        "",
        "| node | collected | encoded | received |",
        "|---|---:|---:|---:|",
    ]
    out += [f"| {n} | {c['collected']} | {c['encoded']} | {c['received']} |"
            for n, c in s["frames_per_node"].items()]
    out += ["", "Mean PSNR of the delivered frames against the uploaded JPEGs (dB): "
            + ", ".join(f"{k.removeprefix('psnr_')} {v if v is not None else '-'}"
                        for k, v in s["mean_psnr"].items()), ""]
    for title, key in (("Detection after local training", "map"),
                       ("Detection of the global model", "global_map")):
        if s[key]:
            out += [f"## {title}", "", "mAP50 / mAP50-95 on each node's held-out original JPEGs.",
                    "", "| node | per round |", "|---|---|"]
            out += [f"| {n} | {t} |" for n, t in _map_rows(s[key])]
            out.append("")
    if s["rejected"] or s["errors"]:
        out += ["## Problems", ""]
        out += [f"- refused {x['node']} {x['frame']}: {x['reason']}" for x in s["rejected"]]
        out += [f"- round {e['round']} {e['phase']} {e['node']}: {e['reason'][:300]}"
                for e in s["errors"]]
        out.append("")
    out += ["![bytes and mAP](report.png)", ""]
    return "\n".join(out)


def plot_report(report: dict, path: Path, strip: Sequence[tuple[str, Any, Any]] = ()) -> None:
    """Bytes per phase (actual vs JPEG relay) and mAP50 per node and round, as a PNG; under
    them, with ``strip`` (``(node, original, delivered)`` images, :mod:`fog.preview`), a row
    of originals over what the edges decoded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = report["summary"]
    columns = max(len(strip), 2)
    fig = plt.figure(figsize=(10, 4 + (3.2 if strip else 0)))
    grid = fig.add_gridspec(3 if strip else 1, 2 * columns,
                            height_ratios=[4, 1.6, 1.6] if strip else [1])
    left = fig.add_subplot(grid[0, :columns])
    right = fig.add_subplot(grid[0, columns:])
    phases = list(s["bytes_by_phase"])
    actual = [sum(s["bytes_by_phase"][p].values()) / 1e6 for p in phases]
    relay = [sum(s["jpeg_relay_bytes_by_phase"][p].values()) / 1e6 for p in phases]
    xs = range(len(phases))
    left.bar([x - 0.2 for x in xs], actual, width=0.4, label=f"{s['codec']}")
    left.bar([x + 0.2 for x in xs], relay, width=0.4, label="JPEG relay")
    left.set_xticks(list(xs), phases)
    left.set_ylabel("MB on the wire")
    left.set_title("Bytes moved per phase")
    left.legend()
    table = s["global_map"] or s["map"]
    for node, rounds in sorted(table.items()):
        order = sorted(rounds, key=int)
        right.plot([int(r) for r in order], [rounds[r]["map50"] for r in order], "o-", label=node)
    all_rounds = sorted({int(r) for rounds in table.values() for r in rounds})
    right.set_xticks(all_rounds or [1])
    right.set_ylim(-0.02, 1.02)
    right.set_xlabel("round")
    right.set_ylabel("mAP50 (held-out JPEGs)")
    right.set_title("Detection" if table else "Detection (no training in this run)")
    if table:
        right.legend()
    for col, (node, original, delivered) in enumerate(strip):
        for row, (image, what) in enumerate(((original, "uploaded JPEG"),
                                            (delivered, f"decoded {s['codec']}"))):
            ax = fig.add_subplot(grid[row + 1, 2 * col:2 * col + 2])
            ax.imshow(image)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{node}: {what}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
