"""Encoding weights in full or as deltas against a base both sides hold, with error feedback.

**Ids.** :func:`weights_id` is a content hash (sha256 of every array's shape and float32
bytes, first 16 bytes). Decoding is deterministic IEEE float32 arithmetic, so a sender that
decodes its own message holds bit for bit what the receiver holds, with the same id: that
id names the base of the next delta, and every message names the id its receiver must end
with (``result``), which the receiver checks.

**Deltas.** :func:`encode_weights` with a ``base`` codes ``target - base`` and the receiver
adds the decoded delta to its copy of the base. A receiver that lacks the base (or holds
another one) refuses the message with :class:`MissingBaseError`; the sender then sends full
weights (no base).

**Error feedback.** Quantization leaves a residual ``e = target - decoded``. It is never
lost: the next delta carries it. When the base is the receiver's own reconstruction
(fog -> edges: the edge holds the model it decoded), ``target' - base`` already contains
``e``. When the base is something else (edge -> fog: the new global model the edge just
received), pass the previous ``residual``: it is added to the delta, and the new residual
(:attr:`Encoded.residual`) is returned for the next round.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rinr_core.errors import ConfigError, MalformedPayloadError, PayloadError
from rinr_core.weights.base import (
    TensorInfo,
    get_method,
    get_weight_codec,
    weight_codec_by_id,
)
from rinr_core.weights.format import (
    DELTA,
    ID_BYTES,
    KEEP,
    NO_ID,
    WeightMessage,
    pack_message,
    tensor_bounds,
    unpack_message,
)

Weights = list[np.ndarray]
BaseLookup = Mapping[str, Sequence[np.ndarray]] | Callable[[str], Sequence[np.ndarray] | None]
"""Where a decoder finds the base a delta names: a mapping or a function of the id."""


class MissingBaseError(PayloadError):
    """A delta names a base this side does not hold (never had it, or holds another one).

    The receiver refuses the message; the sender must send full weights (resync).
    """


def weights_id(weights: Sequence[np.ndarray]) -> str:
    """Content id of float32 weights: 32 hex digits of sha256 over shapes and bytes."""
    digest = hashlib.sha256()
    for w in weights:
        array = np.asarray(w, dtype="<f4", order="C")
        digest.update(np.asarray(array.shape, "<u8").tobytes())
        digest.update(array.tobytes())
    return digest.hexdigest()[: 2 * ID_BYTES]


def _id_bytes(text: str) -> bytes:
    return bytes.fromhex(text) if text else NO_ID


def _id_text(raw: bytes) -> str:
    return "" if raw == NO_ID else raw.hex()


def _as_float32(weights: Sequence[np.ndarray], what: str) -> Weights:
    arrays = [np.asarray(w, dtype=np.float32, order="C") for w in weights]
    broken = [i for i, a in enumerate(arrays) if not np.all(np.isfinite(a))]
    if broken:
        raise ConfigError(f"{what} arrays {broken[:5]} hold NaN or infinite values; "
                          "weights must be finite to be encoded")
    return arrays


def _check_shapes(target: Sequence[np.ndarray], other: Sequence[np.ndarray], what: str) -> None:
    if len(target) != len(other) or any(a.shape != b.shape for a, b in
                                        zip(target, other, strict=False)):
        raise ConfigError(f"the {what} has other arrays than the weights ({len(other)} vs "
                          f"{len(target)}, or shapes differ); both must come from one model")


@dataclass(frozen=True)
class Encoded:
    """An encoded weight message and what its receiver will hold.

    Attributes
    ----------
    data
        The message (:mod:`rinr_core.weights.format`).
    weights
        The weights the receiver decodes (bit for bit).
    weights_id
        Their id (:func:`weights_id`), the ``result`` of the message.
    base_id
        The base a delta applies to (``""``: full weights).
    residual
        ``target (+ previous residual) - weights``: what error feedback carries into the
        next delta.
    bounds
        The error bound each tensor promises (of the delta, for a delta).
    """

    data: bytes
    weights: Weights
    weights_id: str
    base_id: str
    residual: Weights
    bounds: list[float]


def encode_weights(weights: Sequence[np.ndarray], codec: str = "sgq", bits: int = 4, *,
                   base: Sequence[np.ndarray] | None = None, base_id: str | None = None,
                   residual: Sequence[np.ndarray] | None = None,
                   names: Sequence[str] | None = None) -> Encoded:
    """Encode ``weights`` with ``codec``: in full, or as a delta against ``base``.

    Parameters
    ----------
    weights
        Float arrays (a model's weights in a fixed order).
    codec, bits
        A registered weight codec (:func:`rinr_core.weights.weight_codec_names`) and its bit
        width (used by codecs with ``uses_bits``).
    base, base_id
        The weights both sides hold and their id (computed when not given).
    residual
        Error feedback: the previous message's residual, added to what is coded now.
    names
        Tensor names (``state_dict`` keys), which codecs may use as hints.

    Raises
    ------
    ConfigError
        Unknown codec, weights that are not finite, or a base or residual of other shapes.
    """
    spec = get_weight_codec(codec)
    target = _as_float32(weights, "weight")
    intended = target
    if residual is not None:
        extra = _as_float32(residual, "residual")
        _check_shapes(target, extra, "residual")
        intended = [np.add(a, e, dtype=np.float32) for a, e in zip(target, extra, strict=True)]
    coded = intended
    flags, base_raw, held = 0, NO_ID, None
    if base is not None:
        held = _as_float32(base, "base")
        _check_shapes(target, held, "base")
        base_id = base_id or weights_id(held)
        coded = [np.subtract(a, b, dtype=np.float32) for a, b in zip(intended, held, strict=True)]
        flags, base_raw = DELTA, _id_bytes(base_id)
    infos = [TensorInfo(names[i] if names is not None else str(i), i) for i in range(len(coded))]
    tensors = spec.encode_tensors(coded, bits, infos)
    decoded = [get_method(t.method).decode(t.data, t.shape, t.bits) for t in tensors]
    result = decoded if held is None else [np.add(b, d, dtype=np.float32)
                                           for b, d in zip(held, decoded, strict=True)]
    result_id = weights_id(result)
    data = pack_message(WeightMessage(spec.codec_id, flags, base_raw, _id_bytes(result_id),
                                      tensors))
    left = [np.subtract(a, r, dtype=np.float32) for a, r in zip(intended, result, strict=True)]
    return Encoded(data, result, result_id, base_id or "", left, [t.bound for t in tensors])


def keep_message(base_id: str, codec: str = "sgq") -> bytes:
    """A message that tells the receiver to keep the weights ``base_id`` it holds (no tensors)."""
    spec = get_weight_codec(codec)
    raw = _id_bytes(base_id)
    return pack_message(WeightMessage(spec.codec_id, KEEP, raw, raw, []))


@dataclass(frozen=True)
class Decoded:
    """A decoded weight message: the weights, their id, and what the message was."""

    weights: Weights
    weights_id: str
    base_id: str
    codec: str
    delta: bool
    keep: bool
    bounds: list[float]


def _find(bases: BaseLookup | None, base_id: str) -> Weights | None:
    if bases is None:
        return None
    found = bases(base_id) if callable(bases) else bases.get(base_id)
    return None if found is None else [np.asarray(b, dtype=np.float32) for b in found]


def message_base(data: bytes) -> str:
    """The base id a message needs (``""``: full weights); checks the message first."""
    message = unpack_message(data)
    return _id_text(message.base_id) if message.delta or message.keep else ""


def decode_weights(data: bytes, bases: BaseLookup | None = None) -> Decoded:
    """Decode a weight message; a delta or keep message takes its base from ``bases``.

    Raises
    ------
    MissingBaseError
        The message needs a base that ``bases`` does not hold (send full weights instead).
    MalformedPayloadError
        The decoded weights do not have the id the message names (the bases differ), or a
        tensor does not parse.
    PayloadError
        Truncated, corrupt or unknown-version message (:mod:`rinr_core.weights.format`).
    """
    message = unpack_message(data)
    codec = weight_codec_by_id(message.codec_id).name
    base_id, result_id = _id_text(message.base_id), _id_text(message.result_id)
    held = None
    if message.delta or message.keep:
        held = _find(bases, base_id)
        if held is None:
            raise MissingBaseError(f"weight message is a {'keep' if message.keep else 'delta'} "
                                   f"against weights {base_id}, which this side does not hold; "
                                   "the sender must send full weights")
    if message.keep:
        assert held is not None
        if weights_id(held) != base_id:
            raise MissingBaseError(f"the weights held as {base_id} have another content; "
                                   "the sender must send full weights")
        return Decoded(held, base_id, base_id, codec, False, True, [])
    decoded = [get_method(t.method).decode(t.data, t.shape, t.bits) for t in message.tensors]
    if held is not None:
        if [d.shape for d in decoded] != [b.shape for b in held]:
            raise MissingBaseError(f"the weights held as {base_id} do not have the message's "
                                   "shapes; the sender must send full weights")
        decoded = [np.add(b, d, dtype=np.float32) for b, d in zip(held, decoded, strict=True)]
    if weights_id(decoded) != result_id:
        raise MalformedPayloadError(f"decoded weights are not {result_id} as the message says: "
                                    "this side's base differs from the sender's; resync with "
                                    "full weights")
    return Decoded(decoded, result_id, base_id, codec, message.delta, False,
                   tensor_bounds(message.tensors))


def apply_delta(data: bytes, onto: Sequence[np.ndarray]) -> Weights:
    """The delta a message carries, added to ``onto`` instead of the base it names.

    For a sender that keeps an exact copy of what its receiver's base approximates (the fog
    keeps the global model it aggregated; the edges hold its decoded copy): adding an edge's
    update to the exact copy keeps the downlink's quantization error out of the aggregate,
    so it is corrected by the next downlink delta (error feedback in both directions). No id
    check: ``onto`` is not the base.

    Raises
    ------
    MalformedPayloadError
        The message is no delta, or ``onto`` has other shapes.
    PayloadError
        Truncated, corrupt or unknown-version message.
    """
    message = unpack_message(data)
    if not message.delta:
        raise MalformedPayloadError("apply_delta needs a delta message; decode full weights "
                                    "with decode_weights")
    decoded = [get_method(t.method).decode(t.data, t.shape, t.bits) for t in message.tensors]
    if [d.shape for d in decoded] != [np.shape(o) for o in onto]:
        raise MalformedPayloadError("the delta's shapes differ from the weights it is added to")
    return [np.add(np.asarray(o, np.float32), d, dtype=np.float32)
            for o, d in zip(onto, decoded, strict=True)]
