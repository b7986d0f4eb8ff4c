"""The report's strip of original vs delivered frames (``fog.preview``) on real runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

import fog.server_app as server_app_module
from rinr_core.metrics import psnr


@pytest.mark.parametrize("codec", ["residual-inr", "grid", "jpeg"])
def test_the_strip_shows_what_the_edges_decode_one_frame_per_node(tiny_config, run_fog,
                                                                  monkeypatch, codec) -> None:
    seen: dict = {}
    real = server_app_module.preview_pairs

    def spy(strategy, device=None):
        pairs = real(strategy, device)
        firsts: dict = {}
        for entry in strategy.catalog.values():
            firsts.setdefault(entry.owner, entry.frame_id)
        seen.update(pairs=pairs, firsts=firsts)
        return pairs

    monkeypatch.setattr(server_app_module, "preview_pairs", spy)
    _, report = run_fog({**tiny_config, "codec": codec, "num-server-rounds": 1})
    assert report["summary"]["status"] == "completed"
    owners = [owner for owner, _, _ in seen["pairs"]]
    assert sorted(owners) == sorted(report["summary"]["frames_per_node"])
    for owner, original, delivered in seen["pairs"]:
        assert original.shape == delivered.shape == (32, 48, 3)
        measured = report["frames"][seen["firsts"][owner]].get("psnr_full")
        if codec == "jpeg":  # the relay delivers the uploaded JPEG itself
            assert (original == delivered).all()
        else:  # the fog's own measurement of that frame, from the same pixels
            assert psnr(original, delivered) == pytest.approx(measured, abs=0.05)
    plot = Image.open(Path(tiny_config["run-dir"]) / "report.png")
    assert plot.height == 720  # charts (400 px) + the two strip rows
