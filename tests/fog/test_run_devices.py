"""Where the fog and the nodes compute is resolved, reported, and never a silent CPU fallback."""

from __future__ import annotations

import pytest
import torch
from flwr.app import Context, Message

from rinr_core.devices import DeviceUnavailableError

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


def test_the_report_names_the_device_of_the_fog_and_of_every_node(tiny_config, run_fog) -> None:
    # Execute
    _, report = run_fog({**tiny_config, "num-server-rounds": 1, "device": "cpu"})

    # Assert
    assert report["summary"]["devices"] == {"fog": "cpu", "p0": "cpu", "p1": "cpu", "p2": "cpu"}
    assert report["summary"]["status"] == "completed"


@NO_CUDA
def test_a_fog_asked_for_cuda_without_one_fails_instead_of_using_the_cpu(tiny_config,
                                                                        run_fog) -> None:
    with pytest.raises(DeviceUnavailableError, match="no CUDA device is visible"):
        run_fog({**tiny_config, "device": "cuda"})


@NO_CUDA
def test_a_node_asked_for_cuda_without_one_refuses_and_the_run_says_so(tiny_config,
                                                                      run_fog) -> None:
    # Prepare: node p1's own config (flower-supernode --node-config) asks for cuda
    from edge.client_app import app as client_app

    def app_with_node_device(message: Message, context: Context) -> Message:
        if context.node_config["partition-id"] == 1:
            context.node_config["device"] = "cuda"
        return client_app(message, context)

    # Execute
    _, report = run_fog({**tiny_config, "num-server-rounds": 1}, app=app_with_node_device)

    # Assert: p1 did no work on the CPU; its errors are in the report; the run is not completed
    errors = report["summary"]["errors"]
    assert len({e["node"] for e in errors}) == 1  # p1 never replied, so it is known by node id
    assert all("no CUDA device is visible" in e["reason"] for e in errors)
    assert report["summary"]["status"] == "completed_with_errors"
    assert report["summary"]["devices"] == {"fog": "cpu", "p0": "cpu", "p2": "cpu"}
