"""Shared pytest fixtures: the real sequences in ../shared/data and small generated frames."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from rinr_core.frames import Frame
from rinr_core.synthetic import generate_sequence

SHARED_DATA = (Path(__file__).parents[1] / ".." / "shared" / "data").resolve()

# Tests fit many tiny networks: one thread avoids oversubscribing the CPU (CI has 2 cores,
# shared with Ray workers in the simulation tests) and keeps timings predictable.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real sequences (``../shared/data``); skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (only on machines with ../shared)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def seq_dir(shared_data: Path) -> Callable[[str], Path]:
    """Function ``name -> Path`` of one real sequence; skips the test when it is absent."""

    def find(name: str) -> Path:
        folder = shared_data / name
        if not folder.is_dir():
            pytest.skip(f"real sequence {name!r} is absent from {shared_data}")
        return folder

    return find


@pytest.fixture
def synthetic_frames() -> list[Frame]:
    """Eight small generated frames (64x48, seed 0) with exact boxes."""
    return generate_sequence(8, width=64, height=48, seed=0)


@dataclass(frozen=True)
class TinyStream:
    """A real, tiny ``.rinrs`` stream: its frames, the base payload and one update."""

    frames: list[Frame]
    base: bytes
    update: bytes
    merged: bytes


@pytest.fixture(scope="session")
def tiny_stream() -> TinyStream:
    """Res-NeRV of 3 generated 48x32 frames plus an update with 2 more (a second or two)."""
    from rinr_core.nerv import NervArch
    from rinr_core.sequence import SequenceSettings, encode_sequence, update_sequence

    arch = NervArch(pe_levels=8, stem_hidden=16, base_channels=4, strides=(2, 2), widths=(8, 6))
    settings = SequenceSettings(arch=arch, epochs=3, qat_epochs=1, update_epochs=2,
                                object_steps=8, chains=1, device="cpu")
    frames = generate_sequence(5, width=48, height=32, seed=3)
    base = encode_sequence(frames[:3], settings).payload
    update = update_sequence(base, frames[3:], settings)
    return TinyStream(frames, base, update.payload, update.merged)


@pytest.fixture(scope="session")
def cuda_device() -> str:
    """``"cuda"`` for the CUDA variants of device tests; skips them where no GPU is visible."""
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device visible (CUDA variants run only on a GPU machine)")
    return "cuda"
