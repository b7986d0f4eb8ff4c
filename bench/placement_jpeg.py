"""The placement model's default JPEG size: the camera's JPEG of a 640x360 frame, measured.

Every ``--stride``-th frame of the four sequences in ``../shared/data``, resized to exactly
640x360 (Pillow LANCZOS, the paper's INR frame size: the UAV123 frames are shrunk, Crossing
and vot_bag enlarged) and re-encoded as the camera would send it
(:func:`rinr_core.images.camera_jpeg`: the source file's own quantization tables and chroma
subsampling). ``DEFAULT_JPEG_BYTES`` in ``rinr_runtime/planning/model.py`` is the mean of the
four sequence means; the quality-95 re-encode it replaced is measured beside it.

    .venv/bin/python bench/placement_jpeg.py [--stride 4] [--json]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from common import (
    SHARED_DATA_DIR,
    bench_parser,
    environment,
    environment_line,
    log,
    output_dir,
    reproduce_command,
    to_json,
    write_results,
)
from PIL import Image

from rinr_core.datasets import _image_files
from rinr_core.images import camera_jpeg, encode_image
from rinr_core.tables import markdown_table

NAME = "placement_jpeg"
SIZE = (640, 360)
SEQUENCES = ("Crossing", "vot_bag", "uav123_boat1", "uav123_wakeboard7")


def measure_sequence(folder: Path, stride: int) -> dict:
    """Mean bytes of the camera's JPEG and of a quality-95 re-encode at 640x360 for one sequence."""
    camera, q95, sources, native = [], [], set(), None
    for path in _image_files(folder / "img", recursive=False)[::stride]:
        data = path.read_bytes()
        with Image.open(path) as image:
            native = image.size
            pixels = np.asarray(image.convert("RGB").resize(SIZE, Image.Resampling.LANCZOS))
        jpeg, how = camera_jpeg(data, pixels)
        camera.append(len(jpeg))
        sources.add(how)
        q95.append(len(encode_image(pixels, "JPEG", 95)))
    return {"sequence": folder.name, "native": native, "frames": len(camera),
            "camera_bytes": float(np.mean(camera)), "q95_bytes": float(np.mean(q95)),
            "jpeg_source": sorted(sources)}


def main(argv: list[str] | None = None) -> int:
    """Measure; print the table (or JSON); write ``placement_jpeg.{md,json}``."""
    parser = bench_parser(__doc__.splitlines()[0])
    parser.add_argument("--stride", type=int, default=4)
    parser.add_argument("--data", type=Path, default=SHARED_DATA_DIR)
    args = parser.parse_args(argv)
    if not Path(args.data).is_dir():
        log(f"no sequences in {args.data} (shared data absent?): nothing to measure, skipped")
        return 0
    rows = [measure_sequence(Path(args.data) / name, args.stride) for name in SEQUENCES]
    camera = float(np.mean([r["camera_bytes"] for r in rows]))
    q95 = float(np.mean([r["q95_bytes"] for r in rows]))
    env = environment("cpu")
    data = {"benchmark": NAME, "command": reproduce_command(__file__, argv), "environment": env,
            "size": SIZE, "stride": args.stride, "sequences": rows,
            "camera_jpeg_bytes": camera, "q95_jpeg_bytes": q95}
    table = markdown_table(
        ["sequence", "native WxH", "frames", "camera's JPEG B", "quality-95 B", "made by"],
        [[r["sequence"], "x".join(map(str, r["native"])), r["frames"], f"{r['camera_bytes']:,.0f}",
          f"{r['q95_bytes']:,.0f}", ", ".join(r["jpeg_source"])] for r in rows]
        + [["**mean of the sequence means**", "", "", f"**{camera:,.0f}**", f"{q95:,.0f}", ""]])
    page = "\n".join([
        "# The placement model's default JPEG: the camera's JPEG at 640x360", "",
        f"Command: `{data['command']}`", "", f"Machine: {environment_line(env)}.", "",
        f"Every {args.stride}th frame of each sequence, resized to 640x360 (Pillow LANCZOS; "
        "the UAV123 frames are shrunk, Crossing and vot_bag enlarged), re-encoded with the "
        "source file's own quantization tables and subsampling (`rinr_core.images.camera_jpeg`, "
        "what an edge uploads and the JPEG relay sends). The quality-95 column is the re-encode "
        "the old default (63,909 B) came from.", "", table, "",
        f"`DEFAULT_JPEG_BYTES` (rinr_runtime/planning/model.py) = {camera:,.0f} B, the camera's "
        f"JPEG; the quality-95 re-encode is {q95 / camera:.2f}x larger. Enlarged frames "
        "(Crossing, vot_bag) are smoother than a real 640x360 camera's, so their files are "
        "smaller than such a camera would send: this default leans towards the JPEG side, "
        "i.e. it understates the INR codecs' savings rather than overstating them.", ""])
    write_results(output_dir(args), NAME, page, data)
    print(to_json(data) if args.json else page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
