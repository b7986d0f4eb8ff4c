"""``rinr postfilter train`` and ``--post-filter`` on ``rinr decode`` / ``decode-seq``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rinr_core.cli import main
from rinr_core.datasets import write_otb
from rinr_core.decoding import decode
from rinr_core.lut import LutFilter, unpack
from rinr_core.synthetic import generate_sequence

torch.set_num_threads(1)


def _json_out(capsys: pytest.CaptureFixture[str]) -> dict:
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return json.loads(out[0])


@pytest.fixture(scope="module")
def sequence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_otb(generate_sequence(4, width=48, height=32, seed=5),
                     tmp_path_factory.mktemp("seq") / "seq")


def test_train_then_decode_with_the_post_filter(sequence: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # Prepare / Execute: train on 3 frames (1 held out) of a fast QRE encode
    lut = tmp_path / "qre.rlut"
    code = main(["postfilter", "train", str(sequence), "--codec", "residual-inr", "--frames", "4",
                 "--holdout", "1", "--codec-steps", "20", "--steps", "30", "--max-side", "48",
                 "-o", str(lut), "--json"])

    # Assert: the JSON says what was trained and what it cost; the file is what it says
    assert code == 0
    result = _json_out(capsys)
    assert {"lut_bytes", "psnr_before", "psnr_after", "train_s", "holdout_psnr_before",
            "holdout_psnr_after", "apply_s_per_frame", "decode_s_per_frame"} <= set(result)
    assert result["lut_bytes"] == lut.stat().st_size <= 64 * 1024
    assert (result["codec"], result["frames"], result["width"]) == ("qre", 3, 48)
    assert result["psnr_after"] > result["psnr_before"]
    tables = unpack(lut.read_bytes())
    assert tables.meta["codec"] == "qre" and tables.meta["frames"] == 3

    # Execute: encode one frame, decode it with and without the post-filter
    frame = sequence / "img" / sorted(p.name for p in (sequence / "img").iterdir())[0]
    x, y, w, h = (sequence / "groundtruth_rect.txt").read_text().splitlines()[0].split(",")
    rinr = tmp_path / "f.rinr"
    assert main(["encode", str(frame), "--bbox", f"{x},{y},{w},{h}", "--steps", "20",
                 "-o", str(rinr)]) == 0
    capsys.readouterr()
    plain, filtered = tmp_path / "plain.png", tmp_path / "filtered.png"
    assert main(["decode", str(rinr), "-o", str(plain)]) == 0
    assert main(["decode", str(rinr), "--post-filter", str(lut), "-o", str(filtered)]) == 0

    # Assert: the filtered PNG is the decoded frame through the filter, pixel for pixel
    decoded = decode(rinr.read_bytes(), "cpu")
    assert np.array_equal(np.asarray(Image.open(plain)), decoded)
    assert np.array_equal(np.asarray(Image.open(filtered)), LutFilter(tables).apply(decoded))


def test_decode_seq_applies_the_post_filter(sequence: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    # Prepare: a tiny NeRV stream and a post-filter trained for it
    stream, lut = tmp_path / "s.rinrs", tmp_path / "nerv.rlut"
    assert main(["encode-seq", str(sequence), "--codec", "nerv", "--epochs", "3",
                 "--max-side", "48", "-o", str(stream)]) == 0
    assert main(["postfilter", "train", str(sequence), "--codec", "nerv", "--frames", "4",
                 "--nerv-epochs", "3", "--steps", "20", "--max-side", "48", "-o", str(lut)]) == 0
    capsys.readouterr()

    # Execute
    plain, filtered = tmp_path / "plain", tmp_path / "filtered"
    assert main(["decode-seq", str(stream), "-o", str(plain), "--json"]) == 0
    assert main(["decode-seq", str(stream), "--post-filter", str(lut), "-o", str(filtered),
                 "--json"]) == 0

    # Assert
    out = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(line)["frames"] for line in out] == [4, 4]
    lut_filter = LutFilter(unpack(lut.read_bytes()))
    for path in sorted(plain.iterdir()):
        expected = lut_filter.apply(np.asarray(Image.open(path)))
        assert np.array_equal(np.asarray(Image.open(filtered / path.name)), expected)


def test_a_damaged_post_filter_is_refused_with_a_message(sequence: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    rinr, lut = tmp_path / "f.rinr", tmp_path / "bad.rlut"
    frame = sorted((sequence / "img").iterdir())[0]
    assert main(["encode", str(frame), "--bbox", "2,2,10,10", "--steps", "10", "-o", str(rinr)]) == 0
    lut.write_bytes(b"RLUT\x01\x00" + bytes(20))
    assert main(["decode", str(rinr), "--post-filter", str(lut), "-o", str(tmp_path / "x.png")]) == 2
    assert ".rlut" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
