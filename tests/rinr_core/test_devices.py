"""Tests for device resolution: validated names, no silent CPU fallback."""

from __future__ import annotations

import pytest
import torch

from rinr_core.devices import (
    DeviceUnavailableError,
    check_device_name,
    describe_device,
    resolve_device,
)
from rinr_core.errors import ConfigError


@pytest.mark.parametrize("name", ["0", "gpu", "cuda0", "CUDA", "cuda:x"])
def test_names_torch_would_misread_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="not a torch device"):
        check_device_name(name)


def test_empty_means_cuda_when_present() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("").type == expected and resolve_device(None).type == expected
    assert resolve_device("cpu") == torch.device("cpu")
    assert describe_device(torch.device("cpu")) == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_visible_gpu_is_an_error_not_a_fallback() -> None:
    with pytest.raises(DeviceUnavailableError, match="no CUDA device is visible"):
        resolve_device("cuda")


def test_cuda_device_is_described_with_its_name(cuda_device: str) -> None:
    device = resolve_device(cuda_device)
    assert device.type == "cuda" and describe_device(device).startswith("cuda:")
