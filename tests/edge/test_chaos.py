"""Injected faults (soak tests only): reproducible, at the configured rate, off by default."""

from __future__ import annotations

import pytest

from edge.chaos import InjectedFault, draw, maybe_fail
from rinr_runtime.config import RuntimeConfig


def test_draws_are_reproducible_and_depend_on_node_round_and_phase() -> None:
    assert draw(0, "p1", 2, "train") == draw(0, "p1", 2, "train")
    assert len({draw(0, n, r, "train") for n in ("p0", "p1") for r in (1, 2)}) == 4


def test_the_rate_is_the_share_of_messages_that_fail() -> None:
    hits = sum(draw(3, f"p{n}", r, "query.collect")[0] < 0.1 for n in range(50) for r in range(20))
    assert 60 <= hits <= 140  # 1000 draws at 0.1


def test_no_fault_is_injected_by_default() -> None:
    config = RuntimeConfig.from_run_config({})
    assert config.chaos_rate == 0.0
    for r in range(50):
        maybe_fail(config, "p0", r, "query.collect")


def test_an_injected_failure_raises_with_its_reason() -> None:
    config = RuntimeConfig.from_run_config({"chaos-rate": 1.0})
    failing = next(r for r in range(100) if draw(0, "p0", r, "train")[1] < 0.5)
    with pytest.raises(InjectedFault, match=f"fails its train in round {failing}"):
        maybe_fail(config, "p0", failing, "train")
