"""Weight codecs: what a federation sends instead of float32 weights, behind one interface.

``fp32`` (exact), ``fp16``, ``int8`` (per-output-channel scale and zero point) and ``sgq``
(stripe-wise group quantization, 2-8 bits, entropy-coded) share one interface
(:class:`WeightCodec`, :mod:`rinr_core.weights.base`) and one registry; a weight message
(:mod:`rinr_core.weights.format`) is versioned and CRC-checked and says how each tensor was
stored; :mod:`rinr_core.weights.delta` encodes full weights or deltas against a base both
sides hold, with error feedback.

>>> from rinr_core.weights import decode_weights, encode_weights
>>> sent = encode_weights(weights, "sgq", bits=4)                       # doctest: +SKIP
>>> update = encode_weights(new, "sgq", 4, base=sent.weights)          # doctest: +SKIP
>>> decode_weights(update.data, {sent.weights_id: sent.weights}).weights  # doctest: +SKIP
"""

from rinr_core.weights import floats as _floats  # noqa: F401  (registers fp32, fp16)
from rinr_core.weights import int8 as _int8  # noqa: F401  (registers int8)
from rinr_core.weights import sgq as _sgq  # noqa: F401  (registers sgq)

# isort: split
from rinr_core.weights.base import (
    EncodedTensor,
    TensorInfo,
    TensorMethod,
    WeightCodec,
    all_weight_codecs,
    get_method,
    get_weight_codec,
    register_codec,
    register_method,
    weight_codec_names,
)
from rinr_core.weights.delta import (
    Decoded,
    Encoded,
    MissingBaseError,
    apply_delta,
    decode_weights,
    encode_weights,
    keep_message,
    message_base,
    weights_id,
)
from rinr_core.weights.format import MAGIC, VERSION, WeightMessage, pack_message, unpack_message

__all__ = [
    "MAGIC", "VERSION", "Decoded", "Encoded", "EncodedTensor", "MissingBaseError",
    "TensorInfo", "TensorMethod", "WeightCodec", "WeightMessage", "all_weight_codecs", "apply_delta",
    "decode_weights", "encode_weights", "get_method", "get_weight_codec", "keep_message",
    "message_base", "pack_message", "register_codec", "register_method", "unpack_message",
    "weight_codec_names", "weights_id",
]
