"""Where to train: the placement model (bytes and time of edge vs fog training) and ``rinr plan``.

The equations are in ``docs/placement.md``. :mod:`~rinr_runtime.planning.model` holds the
inputs and the estimates, :mod:`~rinr_runtime.planning.sizes` the sizes it starts from and
:mod:`~rinr_runtime.planning.advice` the sweeps, crossover and recommendation.
"""

from rinr_runtime.planning.advice import (
    Recommendation,
    crossover_devices,
    recommend,
    sweep,
)
from rinr_runtime.planning.model import (
    AGGREGATIONS,
    CODECS,
    CRITERIA,
    DEFAULT_BANDWIDTH_MBPS,
    DEFAULT_BOX_AREA,
    DEFAULT_JPEG_BYTES,
    DEFAULT_PRESET,
    DIRECTIONS,
    MB,
    PEER,
    PHASES,
    PLACEMENTS,
    RUNTIME_CODECS,
    RUNTIME_PLACEMENTS,
    SEQUENCE_CODECS,
    Estimate,
    PlanInputs,
    WireOverhead,
    estimate,
    estimate_all,
    plan_codecs,
    reduction_vs_jpeg,
    reduction_vs_serverless,
)
from rinr_runtime.planning.sizes import (
    MODELS,
    ModelSize,
    WeightsSize,
    default_payload_bytes,
    inr_payload_bytes,
    model_size,
    sequence_payload_bytes,
    weights_size,
)

__all__ = [
    "AGGREGATIONS", "CODECS", "CRITERIA", "DEFAULT_BANDWIDTH_MBPS",
    "DEFAULT_BOX_AREA", "DEFAULT_JPEG_BYTES", "DEFAULT_PRESET", "DIRECTIONS", "MB", "MODELS",
    "PEER", "PHASES", "PLACEMENTS", "RUNTIME_CODECS", "RUNTIME_PLACEMENTS", "SEQUENCE_CODECS",
    "Estimate", "ModelSize", "PlanInputs", "Recommendation", "WireOverhead", "crossover_devices",
    "default_payload_bytes", "estimate", "estimate_all", "inr_payload_bytes", "model_size",
    "plan_codecs", "recommend", "reduction_vs_jpeg", "reduction_vs_serverless",
    "sequence_payload_bytes", "sweep", "WeightsSize", "weights_size",
]
