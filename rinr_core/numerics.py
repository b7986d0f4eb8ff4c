"""Numerically defined GPU arithmetic for fitting and rendering: float32, no TF32, fixed algorithms.

On Ampere, Hopper and Orin GPUs PyTorch may run float32 matmuls and cuDNN convolutions in
TF32 (10-bit mantissa), and cuDNN may pick a different convolution algorithm per run. Then
the fog's residuals and PSNRs would not match what an edge decodes. Every fitting and
rendering entry point of ``rinr_core`` runs inside :func:`exact_float32`, which turns both
off and restores the caller's settings afterwards (Ultralytics sets its own for training).

What follows: on one device, decoding is bit-identical run to run and grouped decoding equals
one-by-one decoding. Across devices (CPU vs CUDA) results agree to float32 rounding: decoded
pixels may differ by one 8-bit level on a few pixels (tested where a GPU is present).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import torch

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def exact_float32() -> Iterator[None]:
    """Run the block with TF32 off and deterministic cuDNN algorithms; restore afterwards."""
    cudnn = torch.backends.cudnn
    saved = (torch.backends.cuda.matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark,
             cudnn.deterministic, torch.get_float32_matmul_precision())
    torch.backends.cuda.matmul.allow_tf32 = False
    cudnn.allow_tf32 = False
    cudnn.benchmark = False
    cudnn.deterministic = True
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        (torch.backends.cuda.matmul.allow_tf32, cudnn.allow_tf32, cudnn.benchmark,
         cudnn.deterministic) = saved[:4]
        torch.set_float32_matmul_precision(saved[4])


def float32_exact(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorator: run ``fn`` inside :func:`exact_float32`."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with exact_float32():
            return fn(*args, **kwargs)

    return wrapper
