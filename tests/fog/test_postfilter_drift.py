"""The fog's post-filter: trained on the first frames, kept while it helps, retrained on drift."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fog.postfilter import FogPostFilter, postfilter_bytes_per_frame
from fog.report import RunReport
from rinr_core.lut import unpack
from rinr_core.lut.format import size_bound
from rinr_core.lut.network import LutSpec
from rinr_core.synthetic import generate_sequence
from rinr_runtime.config import RuntimeConfig

torch.set_num_threads(1)


def _frames(count: int, seed: int) -> list[np.ndarray]:
    return [f.image for f in generate_sequence(count, width=48, height=32, seed=seed)]


def _blurred(image: np.ndarray) -> np.ndarray:
    padded = np.pad(image.astype(np.float64), ((1, 1), (1, 1), (0, 0)), mode="edge")
    h, w = image.shape[:2]
    return np.round(sum(padded[dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)) / 9
                    ).astype(np.uint8)


def _darker(image: np.ndarray) -> np.ndarray:
    return np.clip(image.astype(int) - 14, 0, 255).astype(np.uint8)


def test_the_post_filter_is_kept_while_it_helps_and_retrained_when_it_drifts(tmp_path: Path
                                                                             ) -> None:
    # Prepare: a fog post-filter (the encoder is not needed when pairs are given)
    config = RuntimeConfig.from_run_config({"post-filter": "lut", "post-filter-steps": 80})
    report = RunReport({}, tmp_path)
    fog = FogPostFilter(config, encoder=None, report=report)  # type: ignore[arg-type]
    blur = [(_blurred(f), f) for f in _frames(6, seed=3)]
    dark = [(_darker(f), f) for f in _frames(3, seed=4)]

    # Execute: first frames (trained), more of the same (kept), another degradation (drift)
    fog.observe_pairs(1, blur[:4])
    first = fog.lut_id
    sent_first = fog.deliveries("p0", held=set())
    fog.observe_pairs(2, blur[4:])
    kept = fog.lut_id
    fog.observe_pairs(3, dark)

    # Assert
    trainings, checks = report.postfilter["trainings"], report.postfilter["checks"]
    assert [t["round"] for t in trainings] == [1, 3] and first and kept == first
    assert fog.lut_id != first and trainings[1]["gain_db"] > 1.0
    assert [c["retrain"] for c in checks] == [False, True]
    assert checks[1]["gain_db"] < 0.5 * checks[1]["trained_gain_db"]
    assert [d.frame_id for d in sent_first] == [first] and unpack(sent_first[0].data).meta["round"] == 1
    # a node holding the old post-filter gets the new one, once; one holding it gets nothing
    assert [d.frame_id for d in fog.deliveries("p0", held={first})] == [fog.lut_id]
    assert fog.deliveries("p0", held={first, fog.lut_id}) == []
    assert report.postfilter["sent"] == {"p0": {first: 1, fog.lut_id: 1}}


def test_the_placement_model_amortizes_one_post_filter_per_node_over_its_frames() -> None:
    bound = size_bound(LutSpec())
    assert postfilter_bytes_per_frame(10, 5) == bound / 40
    assert postfilter_bytes_per_frame(0, 1) == bound  # at least one frame
