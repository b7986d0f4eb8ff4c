"""Weight codecs: every codec keeps its promised per-tensor bound; the message format refuses
damage; deltas need their base."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from rinr_core.errors import (
    ChecksumMismatchError,
    ConfigError,
    MalformedPayloadError,
    NotARinrFileError,
    PayloadError,
    TruncatedPayloadError,
    UnsupportedVersionError,
)
from rinr_core.weights import (
    MissingBaseError,
    decode_weights,
    encode_weights,
    get_weight_codec,
    keep_message,
    unpack_message,
    weight_codec_names,
    weights_id,
)
from rinr_core.weights.affine import grid_params
from rinr_core.weights.format import DELTA, KEEP
from rinr_core.weights.sgq import FP16_CHOICE, allocate, relative_error

CODECS = [("fp32", 4), ("fp16", 4), ("int8", 8), ("sgq", 2), ("sgq", 3), ("sgq", 4),
          ("sgq", 8)]


def _tensors() -> list[np.ndarray]:
    """Tensors of the kinds a detector sends, including awkward ones."""
    rng = np.random.default_rng(0)
    heavy = rng.laplace(0, 0.02, (64, 32, 3, 3)).astype(np.float32)
    heavy[3, 4, 1, 1] = 0.9  # one outlier channel
    return [
        rng.normal(0, 0.05, (32, 16, 3, 3)).astype(np.float32),  # conv kernel
        rng.uniform(-0.2, 0.2, (300, 7)).astype(np.float32),  # > 256 channels: u16 order
        heavy,
        rng.normal(1, 0.1, 48).astype(np.float32),  # BN weight
        np.abs(rng.normal(5, 3, 48)).astype(np.float32) + 1e-3,  # running variance
        np.full((16, 8, 1, 1), 0.25, np.float32),  # constant
        np.zeros(10, np.float32),  # an unchanged layer in a delta
        (rng.normal(0, 1e-9, (8, 8))).astype(np.float32),  # a tiny update
        (rng.normal(0, 1e5, (4, 5))).astype(np.float32),  # beyond float16's range
        np.array(3.5, np.float32),  # a scalar
        rng.normal(0, 1, (1, 1)).astype(np.float32),  # one element
    ]


def _names(count: int) -> list[str]:
    return [f"model.{i}.bn.running_var" if i == 4 else f"model.{i}.weight" for i in range(count)]


def test_the_registry_lists_every_codec_and_refuses_unknown_names() -> None:
    assert weight_codec_names()[:4] == ["fp32", "fp16", "int8", "sgq"]
    assert get_weight_codec("sgq").uses_bits and get_weight_codec("fp32").lossless
    with pytest.raises(ConfigError, match="unknown weight codec 'zip'.*sgq"):
        get_weight_codec("zip")


@pytest.mark.parametrize(("codec", "bits"), CODECS)
def test_decoding_stays_within_every_tensors_promised_bound(codec: str, bits: int) -> None:
    # Prepare
    weights = _tensors()

    # Execute
    encoded = encode_weights(weights, codec, bits, names=_names(len(weights)))
    decoded = decode_weights(encoded.data)

    # Assert: the bound the encoder promised and the one read back agree, and hold
    assert decoded.bounds == pytest.approx(encoded.bounds, rel=1e-12, abs=0)
    for w, d, bound in zip(weights, decoded.weights, decoded.bounds, strict=True):
        assert d.shape == w.shape and d.dtype == np.float32
        assert float(np.max(np.abs(d.astype(np.float64) - w), initial=0.0)) <= bound
    assert decoded.weights_id == encoded.weights_id == weights_id(encoded.weights)
    # ... and the promise is not vacuous: a quantized tensor's bound is at most one step of
    # a grid spanning the tensor's whole range at its bit width (fp16: 2^-10 of max|w|)
    for w, stored, bound in zip(weights, unpack_message(encoded.data).tensors, decoded.bounds,
                                strict=True):
        top = float(np.max(np.abs(w), initial=0.0))
        if stored.bits:
            assert bound <= float(w.max() - w.min()) / (2**stored.bits - 1) + 1e-6 * top
        else:
            assert bound <= 2.0**-10 * top + 2.0**-24
    if codec == "fp32":
        assert all(np.array_equal(w, d) for w, d in zip(weights, decoded.weights, strict=True))


@pytest.mark.parametrize("bits", [2, 4, 8])
def test_sgq_bound_is_half_a_stripe_step(bits: int) -> None:
    # Prepare: one kernel, quantized alone at ``bits`` (no allocation)
    from rinr_core.weights.sgq import SGQ_METHOD

    w = np.random.default_rng(1).normal(0, 0.1, (64, 64, 3, 3)).astype(np.float32)

    # Execute
    stored = SGQ_METHOD.encode(w, bits)
    decoded = SGQ_METHOD.decode(stored.data, stored.shape, bits)

    # Assert: the error stays within the promise, which is about range / (2 (2^b - 1))
    error = float(np.max(np.abs(decoded.astype(np.float64) - w)))
    assert error <= stored.bound
    assert stored.bound <= float(w.max() - w.min()) / (2**bits - 1)


def test_stored_grids_cover_their_range() -> None:
    # Prepare: awkward ranges for float16 parameters
    lo = np.array([-1.0001, 0.0, 1e-7, -3.3e4, 5.0])
    hi = np.array([2.5, 0.0, 2e-7, 3.1e4, 5.0])

    # Execute
    lo16, scale16 = grid_params(lo, hi, 15, exponent=1)

    # Assert
    lo_a, scale_a = lo16.astype(np.float64) * 2, scale16.astype(np.float64) * 2
    assert np.all(lo_a <= lo) and np.all(lo_a + 15 * scale_a >= hi)


def test_sgq_sizes_shrink_with_bits_and_beat_the_float_codecs() -> None:
    weights = [np.random.default_rng(2).normal(0, 0.05, (128, 64, 3, 3)).astype(np.float32)]
    sizes = {(c, b): len(encode_weights(weights, c, b).data) for c, b in CODECS}
    assert sizes[("fp32", 4)] > sizes[("fp16", 4)] > sizes[("int8", 8)] > sizes[("sgq", 4)]
    assert sizes[("sgq", 4)] > sizes[("sgq", 3)] > sizes[("sgq", 2)]
    assert sizes[("fp32", 4)] / sizes[("sgq", 4)] > 8  # normal weights entropy-code below 4 bits


def test_allocation_gives_sensitive_small_tensors_more_bits_within_the_budget() -> None:
    # Prepare: one large kernel and small vectors (a BN layer's statistics)
    rng = np.random.default_rng(3)
    weights = [rng.normal(0, 0.05, (256, 128, 3, 3)).astype(np.float32),
               rng.normal(1, 0.1, 256).astype(np.float32),
               np.abs(rng.normal(2, 1, 256)).astype(np.float32)]
    infos = [type("Info", (), {"is_norm_stat": n})() for n in (False, False, True)]

    # Execute
    widths = allocate(weights, 4, infos)  # type: ignore[arg-type]

    # Assert: the vectors get more bits (the running statistics most), the kernel stays
    # near 4 bits, and the budget holds
    assert widths[0] in (3, 4) and 6 <= widths[1] <= widths[2]
    spent = sum(w.size * (16 if b == FP16_CHOICE else b) for w, b in zip(weights, widths,
                                                                          strict=True))
    assert spent <= (4 + 0.0625) * sum(w.size for w in weights)
    assert relative_error(weights[0], 3) > relative_error(weights[0], 4)


@pytest.mark.parametrize("method_name", ["raw32", "fp16", "const", "affine", "sgq", "sgq-packed"])
def test_every_method_refuses_a_payload_cut_short_or_with_bytes_left_over(
        method_name: str) -> None:
    # Prepare: one tensor stored by the method (its payload, without the message's CRC)
    from rinr_core.weights.base import get_method
    from rinr_core.weights.floats import CONST, FP16, RAW32
    from rinr_core.weights.int8 import AFFINE
    from rinr_core.weights.sgq import SGQ

    ids = {"raw32": RAW32, "fp16": FP16, "const": CONST, "affine": AFFINE, "sgq": SGQ,
           "sgq-packed": SGQ}
    rng = np.random.default_rng(5)
    # uniform codes do not entropy-code below their width: sgq stores them plainly packed
    w = (rng.uniform(-1, 1, (40, 9)) if method_name == "sgq-packed"
         else rng.normal(0, 0.1, (40, 9))).astype(np.float32)
    if method_name == "const":
        w = np.full((40, 9), 0.5, np.float32)
    method = get_method(ids[method_name])
    stored = method.encode(w, 4)
    if method_name.startswith("sgq"):
        packed = bool(stored.data[0] & 2)
        assert packed == (method_name == "sgq-packed")

    # Execute / Assert: the whole payload decodes; one byte fewer or more is refused
    assert method.decode(stored.data, stored.shape, 4).shape == w.shape
    for damaged in (stored.data[:-1], stored.data[:3], b"", stored.data + b"\x00"):
        with pytest.raises(MalformedPayloadError, match="re-send|re-encode|unexpected bytes"):
            method.decode(damaged, stored.shape, 4)


# --- the message format --------------------------------------------------------------------


def _message() -> bytes:
    return encode_weights(_tensors(), "sgq", 4).data


def test_a_truncated_message_is_refused() -> None:
    data = _message()
    for cut in (0, 3, 10, 60, len(data) // 2, len(data) - 1):
        with pytest.raises(TruncatedPayloadError):
            decode_weights(data[:cut])


def test_a_corrupted_byte_is_refused_anywhere() -> None:
    data = _message()
    for position in (40, 80, len(data) // 3, len(data) - 10, len(data) - 1):
        damaged = bytearray(data)
        damaged[position] ^= 0x5A
        with pytest.raises(PayloadError):
            decode_weights(bytes(damaged))
    damaged = bytearray(data)
    damaged[len(data) // 2] ^= 1
    with pytest.raises(ChecksumMismatchError):
        decode_weights(bytes(damaged))


def _resealed(data: bytes, position: int, value: int) -> bytes:
    """``data`` with one byte changed and a valid CRC again (a writer's bug or a newer one)."""
    body = bytearray(data[:-4])
    body[position] = value
    return bytes(body) + struct.pack("<I", zlib.crc32(bytes(body)))


def test_unknown_versions_codecs_and_methods_are_refused() -> None:
    data = _message()
    with pytest.raises(UnsupportedVersionError, match="version 2"):
        decode_weights(data[:4] + b"\x02" + data[5:])
    with pytest.raises(UnsupportedVersionError, match="codec id 200"):
        decode_weights(_resealed(data, 5, 200))
    table = 4 + 4 + 4 + 4 + 32  # the first tensor entry follows the header
    with pytest.raises(UnsupportedVersionError, match="tensor method 99"):
        decode_weights(_resealed(data, table, 99))
    with pytest.raises(MalformedPayloadError):
        decode_weights(_resealed(data, 6, 0x80))  # unknown flag
    with pytest.raises(NotARinrFileError):
        decode_weights(b"RINR" + data[4:])
    with pytest.raises(MalformedPayloadError):
        decode_weights(data + b"\x00")


# --- deltas and their bases ------------------------------------------------------------------


def test_a_delta_needs_its_base_and_gives_the_named_weights() -> None:
    # Prepare
    rng = np.random.default_rng(4)
    base = [rng.normal(0, 0.1, (32, 16, 3, 3)).astype(np.float32), np.ones(32, np.float32)]
    new = [b + rng.normal(0, 1e-3, b.shape).astype(np.float32) for b in base]
    sent = encode_weights(base, "sgq", 4)
    update = encode_weights(new, "sgq", 4, base=sent.weights)

    # Execute
    decoded = decode_weights(update.data, {sent.weights_id: sent.weights})

    # Assert
    assert unpack_message(update.data).flags == DELTA and decoded.delta
    assert decoded.base_id == sent.weights_id and decoded.weights_id == update.weights_id
    assert all(np.array_equal(a, b) for a, b in zip(decoded.weights, update.weights,
                                                    strict=True))
    for w, d, bound in zip(new, decoded.weights, decoded.bounds, strict=True):
        assert np.max(np.abs(d - w)) <= bound + 1e-7  # the delta's bound, plus the add
    with pytest.raises(MissingBaseError, match="does not hold"):
        decode_weights(update.data, {})
    with pytest.raises(MalformedPayloadError, match="base differs"):
        other = [b + np.float32(1e-3) for b in sent.weights]
        decode_weights(update.data, {sent.weights_id: other})


def test_a_keep_message_returns_the_held_weights() -> None:
    held = [np.arange(6, dtype=np.float32).reshape(2, 3)]
    ident = weights_id(held)
    data = keep_message(ident)
    assert len(data) < 100 and unpack_message(data).flags == KEEP
    assert np.array_equal(decode_weights(data, {ident: held}).weights[0], held[0])
    with pytest.raises(MissingBaseError):
        decode_weights(data, {ident: [held[0] + 1]})


def test_bad_inputs_are_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError, match="NaN or infinite"):
        encode_weights([np.array([1.0, np.nan], np.float32)], "int8")
    with pytest.raises(ConfigError, match="other arrays"):
        encode_weights([np.zeros(3, np.float32)], "sgq", base=[np.zeros(4, np.float32)])
