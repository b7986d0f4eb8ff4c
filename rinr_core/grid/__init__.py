"""The grid codec: content-adaptive latent-grid INRs with a learned, exact entropy model.

In the style of Cool-chic and C3: a pyramid of 1-channel latent grids, bilinearly upsampled
and decoded by a tiny synthesis MLP, entropy-coded under Laplaces that an integer
autoregressive model predicts from already decoded latents. Frames are fitted by rate +
lambda x distortion, the object box weighted higher, with rate control toward PSNR targets.
Two payload formats: a per-frame ``.rinr`` version 2 (networks + latents,
:mod:`~rinr_core.grid.format`) and a stream (networks sent once, frames as latents coded
against the previous frame, :mod:`~rinr_core.grid.stream_format`).

Modules, one concept each: :mod:`~rinr_core.grid.arch` (shapes), :mod:`~rinr_core.grid.laplace`
(exact probability tables), :mod:`~rinr_core.grid.context` (contexts and coding order),
:mod:`~rinr_core.grid.arm` (integer entropy model), :mod:`~rinr_core.grid.model` (torch
networks), :mod:`~rinr_core.grid.coding` (ANS coding), :mod:`~rinr_core.grid.records`,
:mod:`~rinr_core.grid.format`, :mod:`~rinr_core.grid.stream_format` (bytes),
:mod:`~rinr_core.grid.fit` (training), :mod:`~rinr_core.grid.netquant` (weight steps),
:mod:`~rinr_core.grid.rate` (rate control), :mod:`~rinr_core.grid.encode` (per-frame codec),
:mod:`~rinr_core.grid.decode` and :mod:`~rinr_core.grid.stream` (stream codec).
"""

from rinr_core.grid.arch import FRAME_ARCH, STREAM_ARCH, GridArch
from rinr_core.grid.decode import decode_frame, decode_frames
from rinr_core.grid.encode import encode_grid_frames
from rinr_core.grid.settings import DEFAULT_LAMBDA, OBJECT_WEIGHT, GridSettings

__all__ = [
    "DEFAULT_LAMBDA", "FRAME_ARCH", "OBJECT_WEIGHT", "STREAM_ARCH", "GridArch", "GridSettings",
    "decode_frame", "decode_frames", "encode_grid_frames",
]
