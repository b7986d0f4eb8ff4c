"""The ``rinr`` command line: JSON shapes other tools rely on, and clear errors."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rinr_core.cli import main
from rinr_core.datasets import write_otb
from rinr_core.images import encode_image
from rinr_core.synthetic import generate_sequence

ENCODE_KEYS = {"bytes", "psnr_full", "psnr_object", "psnr_background", "mode", "width", "height", "macs_per_pixel"}


@pytest.fixture(scope="module")
def image_file(tmp_path_factory) -> tuple[Path, tuple[int, int, int, int]]:
    frame = generate_sequence(1, width=64, height=40, seed=4)[0]
    path = tmp_path_factory.mktemp("img") / "frame.jpg"
    path.write_bytes(encode_image(frame.image, "JPEG", 95))
    return path, frame.box


def _json_out(capsys) -> dict:
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return json.loads(out[0])


def test_encode_json_and_decode_round_trip(image_file, tmp_path, capsys):
    path, (x, y, w, h) = image_file
    out = tmp_path / "f.rinr"
    code = main(["encode", str(path), "--bbox", f"{x},{y},{w},{h}", "--steps", "30", "--max-side", "48",
                 "-o", str(out), "--json"])
    assert code == 0
    result = _json_out(capsys)
    assert ENCODE_KEYS <= set(result)
    assert (result["width"], result["height"], result["mode"]) == (48, 30, "qre")
    assert result["bytes"] == out.stat().st_size
    png = tmp_path / "f.png"
    assert main(["decode", str(out), "-o", str(png)]) == 0
    assert np.asarray(Image.open(png)).shape == (30, 48, 3)


def test_encode_bad_inputs_exit_with_a_message(image_file, tmp_path, capsys):
    path, _ = image_file
    assert main(["encode", str(path), "--bbox", "500,500,5,5", "-o", str(tmp_path / "x.rinr")]) == 2
    assert "outside" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(path.read_bytes()[:200])
    assert main(["encode", str(corrupt), "--bbox", "1,1,5,5", "-o", str(tmp_path / "y.rinr")]) == 2
    assert "cannot read image" in capsys.readouterr().err


def test_decode_of_tampered_file_says_so(image_file, tmp_path, capsys):
    path, (x, y, w, h) = image_file
    out = tmp_path / "t.rinr"
    assert main(["encode", str(path), "--bbox", f"{x},{y},{w},{h}", "--steps", "5", "-o", str(out)]) == 0
    data = bytearray(out.read_bytes())
    data[50] ^= 1
    out.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["decode", str(out), "-o", str(tmp_path / "t.png")]) == 2
    assert "checksum" in capsys.readouterr().err
    out.write_bytes(bytes(data[:30]))
    assert main(["decode", str(out), "-o", str(tmp_path / "t.png")]) == 2
    assert "truncated" in capsys.readouterr().err


def test_eval_json_has_a_row_per_mode_and_a_picture(tmp_path, capsys):
    seq = write_otb(generate_sequence(2, width=48, height=32, seed=9), tmp_path / "seq")
    code = main(["eval", str(seq), "--frames", "2", "--steps", "20", "--modes", "bs,qre,jpeg,roi-jpeg",
                 "--out", str(tmp_path / "out"), "--json"])
    assert code == 0
    result = _json_out(capsys)
    assert [s["mode"] for s in result["summary"]] == ["bs", "qre", "jpeg", "roi-jpeg"]
    assert len(result["rows"]) == 8
    qre = next(s for s in result["summary"] if s["mode"] == "qre")
    jpeg = next(s for s in result["summary"] if s["mode"] == "jpeg")
    assert jpeg["bytes"] <= qre["bytes"]  # classic peers run at the QRE byte budget
    assert Path(result["picture"]).is_file()


def test_bench_speed_json_keys(capsys):
    code = main(["bench", "speed", "--frames", "2", "--steps", "20", "--max-side", "48", "--json"])
    assert code == 0
    result = _json_out(capsys)
    assert result["warm_over_cold_steps"] > 0
    assert result["grouped_over_single_decode_speed"] > 0
    assert result["grouped_identical_to_single"] is True


def test_console_script_runs_as_a_module():
    proc = subprocess.run([sys.executable, "-m", "rinr_core.cli", "--help"], capture_output=True, text=True)
    assert proc.returncode == 0 and "encode" in proc.stdout
