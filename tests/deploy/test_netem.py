"""The shaped link: namespaces + veth + tc tbf at 2 MB/s (skipped where that is impossible)."""

from __future__ import annotations

import subprocess

import pytest

from deploy.netem import DEFAULT_RATE, ShapedLink, transfer_times, unavailable_reason
from rinr_core.errors import RinrError


@pytest.fixture(scope="module")
def can_shape() -> None:
    """Skip unless this machine lets us create namespaces and tbf qdiscs (root, iproute2)."""
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(f"no shaped link here: {reason}")


def namespaces() -> str:
    """The output of ``ip netns list``."""
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                          check=True).stdout


def test_link_carries_2_mb_per_second_and_is_removed_afterwards(can_shape: None) -> None:
    # Prepare
    link = ShapedLink()

    # Execute
    with link:
        existed = all(ns in namespaces() for ns in link.namespaces.values())
        seconds = link.send(2 * DEFAULT_RATE)

    # Assert: 4 MB take about 2 s at 2 MB/s (TCP overhead makes it a little slower)
    assert existed
    assert 0.8 * DEFAULT_RATE < 2 * DEFAULT_RATE / seconds < 1.05 * DEFAULT_RATE
    assert not any(ns in namespaces() for ns in link.namespaces.values())


def test_latency_needs_netem_and_a_refusal_leaves_nothing_behind(can_shape: None) -> None:
    # Prepare
    link = ShapedLink(delay_ms=20.0)

    # Execute: kernels without sch_netem refuse the delay with a clear message
    try:
        with link:
            seconds = link.send(DEFAULT_RATE // 10)
        refused = None
    except RinrError as exc:
        refused = str(exc)

    # Assert
    if refused is not None:
        assert "cannot add latency" in refused
    else:
        assert seconds > 0.02
    assert not any(ns in namespaces() for ns in link.namespaces.values())


def test_transfer_times_compare_a_run_with_its_jpeg_relay(can_shape: None) -> None:
    # Prepare: the byte counts of a run report (broadcast phase, fog -> edges)
    report = {"summary": {"codec": "residual-inr",
                          "bytes_by_phase": {"broadcast": {"down": 400_000}},
                          "jpeg_relay_bytes_by_phase": {"broadcast": {"down": 1_600_000}}}}

    # Execute
    with ShapedLink() as link:
        times = transfer_times(report, link)

    # Assert: four times the bytes take about four times as long on the 2 MB/s link
    assert times["residual-inr"]["bytes"] == 400_000
    assert 3.0 < times["jpeg relay"]["seconds"] / times["residual-inr"]["seconds"] < 5.0
