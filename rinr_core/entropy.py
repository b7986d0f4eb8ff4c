"""Entropy coding of quantized integer weights (ANS via ``constriction``), lossless and exact.

A *section* holds several *blocks* of integer symbols in ``[low, high]`` (one block per weight
tensor). Each block is stored the cheapest of three ways:

``raw``       plain ``bits``-bit packing (:func:`rinr_core.quantize.pack_bits`);
``laplace``   a two-sided geometric (discrete Laplace) model ``p(k) ~ r^|k - c|``;
``gaussian``  a discrete Gaussian ``p(k) ~ r^((k - c)^2)``.

A parametric block stores its integer centre ``c`` and ratio ``r`` (float64); the probability
table is rebuilt from them by **multiplications only** (no ``exp``/``log``, whose last bits differ
between platforms' math libraries), so an x86 encoder and an ARM decoder (a Jetson edge) build
bit-identical tables. All parametric blocks share one ANS stream (``constriction``'s
``AnsCoder``, a stack: blocks are pushed in reverse and popped in order).

Layout of a section (little-endian)::

    per block: method u8 (0 raw, 1 laplace, 2 gaussian) [, centre i32, ratio f64 if parametric]
    n_words u32, ANS words u32 x n_words            (0 words when no block is parametric)
    packed raw blocks, one after another             (each ``packed_size(n, width)`` bytes)

The block sizes and the symbol range are not stored: the container knows them (tensor shapes,
bit width). :func:`decode_blocks` raises :class:`MalformedPayloadError` for a section that does
not parse to exactly those sizes.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import constriction
import numpy as np

from rinr_core.errors import ConfigError, MalformedPayloadError
from rinr_core.quantize import MAX_BITS, QuantTensor, pack_bits, packed_size, unpack_bits

RAW, LAPLACE, GAUSSIAN = 0, 1, 2
METHODS = ("raw", "laplace", "gaussian")
_PARAMS = struct.Struct("<id")
_WORDS = struct.Struct("<I")
_TINY = 1e-30  # table entries below this are zero (constriction still gives them its minimum)
_MIN_PROB = 2.0**-24  # constriction's default precision: the cost of a near-zero entry


def _width(low: int, high: int) -> int:
    """Bits per symbol of raw packing for the range ``[low, high]`` (at least 2)."""
    return max(2, int(high - low).bit_length())


def _check_range(low: int, high: int) -> None:
    if high <= low or high - low >= 2**31:
        raise ConfigError(f"entropy coding needs low < high within 2^31 symbols, got [{low}, {high}]")


def model_table(method: int, centre: int, ratio: float, low: int, high: int) -> np.ndarray:
    """Unnormalized probabilities of the symbols ``low..high`` under a parametric block model.

    Built from ``ratio`` by repeated multiplication (``np.cumprod``), which is exact IEEE
    arithmetic on every platform; entries below 1e-30 are set to zero.
    """
    span = max(centre - low, high - centre) + 1
    by_distance: np.ndarray
    if method == LAPLACE:
        steps = np.full(span, ratio, dtype=np.float64)
        steps[0] = 1.0
        by_distance = np.cumprod(steps)
    elif method == GAUSSIAN:
        squares = np.full(span, ratio * ratio, dtype=np.float64)
        squares[0] = ratio
        increments = np.cumprod(squares)  # r^(2j+1)
        by_distance = np.cumprod(np.concatenate(([1.0], increments[:-1])))  # r^(j^2)
    else:
        raise ConfigError(f"no probability table for entropy method {method}")
    by_distance[by_distance < _TINY] = 0.0
    return by_distance[np.abs(np.arange(low, high + 1, dtype=np.int64) - centre)]


def _fit(method: int, symbols: np.ndarray) -> tuple[int, float]:
    """Integer centre and ratio of a parametric model for ``symbols`` (encoder side only)."""
    centre = int(np.round(np.median(symbols)))
    dist = np.abs(symbols - centre).astype(np.float64)
    if method == LAPLACE:
        scale = max(float(dist.mean()), 1e-3)
        ratio = float(np.exp(-1.0 / scale))
    else:
        var = max(float((dist**2).mean()), 1e-3)
        ratio = float(np.exp(-1.0 / (2.0 * var)))
    return centre, min(max(ratio, 1e-12), 1.0)


def _cost_bits(table: np.ndarray, symbols: np.ndarray, low: int) -> float:
    p = np.maximum(table / table.sum(), _MIN_PROB)
    return float(-np.log2(p[symbols - low]).sum())


@dataclass
class _Plan:
    method: int
    centre: int = 0
    ratio: float = 0.0


def _plan(symbols: np.ndarray, low: int, high: int) -> _Plan:
    """The cheapest way to store one block (estimated bits, parameters included)."""
    raw_bits = symbols.size * _width(low, high) if _width(low, high) <= MAX_BITS else float("inf")
    best, best_bits = _Plan(RAW), raw_bits
    if symbols.size == 0:
        return best
    for method in (LAPLACE, GAUSSIAN):
        centre, ratio = _fit(method, symbols)
        bits = _cost_bits(model_table(method, centre, ratio, low, high), symbols, low) + 8 * _PARAMS.size + 32
        if bits < best_bits:
            best, best_bits = _Plan(method, centre, ratio), bits
    if best.method == RAW and raw_bits == float("inf"):
        raise ConfigError(f"symbols in [{low}, {high}] are too wide to store raw and no model fits")
    return best


def _categorical(table: np.ndarray) -> constriction.stream.model.Categorical:
    return constriction.stream.model.Categorical(table, perfect=False)


def encode_blocks(blocks: Sequence[np.ndarray], low: int, high: int) -> bytes:
    """Entropy-code integer blocks with symbols in ``[low, high]`` into one section (see module doc).

    Raises
    ------
    ConfigError
        A symbol lies outside ``[low, high]``, or the range is empty or too wide.
    """
    _check_range(low, high)
    arrays = [np.asarray(b, dtype=np.int64).reshape(-1) for b in blocks]
    for a in arrays:
        if a.size and (int(a.min()) < low or int(a.max()) > high):
            raise ConfigError(f"symbols {int(a.min())}..{int(a.max())} are outside the range [{low}, {high}]")
    plans = [_plan(a, low, high) for a in arrays]
    head = bytearray()
    for plan in plans:
        head.append(plan.method)
        if plan.method != RAW:
            head += _PARAMS.pack(plan.centre, plan.ratio)
    coder = constriction.stream.stack.AnsCoder()
    for a, plan in reversed(list(zip(arrays, plans, strict=True))):
        if plan.method != RAW and a.size:
            table = model_table(plan.method, plan.centre, plan.ratio, low, high)
            coder.encode_reverse((a - low).astype(np.int32), _categorical(table))
    words = coder.get_compressed().astype("<u4") if any(p.method != RAW for p in plans) else np.zeros(0, "<u4")
    raw = [pack_bits(a - low, _width(low, high)) for a, p in zip(arrays, plans, strict=True) if p.method == RAW]
    return bytes(head) + _WORDS.pack(len(words)) + words.tobytes() + b"".join(raw)


def decode_blocks(data: bytes, sizes: Sequence[int], low: int, high: int) -> list[np.ndarray]:
    """Inverse of :func:`encode_blocks`: ``int64`` blocks of the given sizes.

    Raises
    ------
    MalformedPayloadError
        The section does not hold exactly ``sizes`` symbols in ``[low, high]``.
    """
    _check_range(low, high)
    data = bytes(data)
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(data):
            raise MalformedPayloadError(f"entropy-coded section ends early ({len(data)} bytes); re-encode it")
        pos += n
        return data[pos - n : pos]

    plans = []
    for _ in sizes:
        method = take(1)[0]
        if method == RAW:
            plans.append(_Plan(RAW))
        elif method in (LAPLACE, GAUSSIAN):
            centre, ratio = _PARAMS.unpack(take(_PARAMS.size))
            if not (0.0 <= ratio <= 1.0) or not (low <= centre <= high):
                raise MalformedPayloadError(f"invalid entropy model parameters (centre {centre}, ratio {ratio})")
            plans.append(_Plan(method, centre, ratio))
        else:
            raise MalformedPayloadError(f"unknown entropy coding method {method}")
    (n_words,) = _WORDS.unpack(take(_WORDS.size))
    words = np.frombuffer(take(4 * n_words), dtype="<u4").astype(np.uint32)
    out: list[np.ndarray | None] = [None] * len(sizes)
    try:
        coder = constriction.stream.stack.AnsCoder(words)
        for i, (n, plan) in enumerate(zip(sizes, plans, strict=True)):
            if plan.method != RAW:
                table = model_table(plan.method, plan.centre, plan.ratio, low, high)
                symbols = coder.decode(_categorical(table), n) if n else np.zeros(0, np.int32)
                out[i] = np.asarray(symbols, dtype=np.int64) + low
        leftover = not coder.is_empty()
    except (ValueError, RuntimeError, OverflowError) as exc:
        raise MalformedPayloadError(f"entropy-coded stream cannot be decoded: {exc}") from exc
    if leftover:
        raise MalformedPayloadError("entropy-coded stream has data left after the last block")
    width = _width(low, high)
    for i, (n, plan) in enumerate(zip(sizes, plans, strict=True)):
        if plan.method == RAW:
            out[i] = unpack_bits(take(packed_size(n, width)), n, width).astype(np.int64) + low
    if pos != len(data):
        raise MalformedPayloadError(f"{len(data) - pos} unexpected bytes after the entropy-coded blocks")
    for block in out:
        if block is not None and block.size and (int(block.min()) < low or int(block.max()) > high):
            raise MalformedPayloadError("entropy-coded symbols fall outside their range")
    return out  # type: ignore[return-value]


def code_range(bits: int) -> tuple[int, int]:
    """Symbol range of ``bits``-bit quantization codes."""
    return 0, 2**bits - 1


def delta_range(bits: int) -> tuple[int, int]:
    """Symbol range of differences between two ``bits``-bit codes."""
    return -(2**bits - 1), 2**bits - 1


def encode_tensors(tensors: Sequence[QuantTensor]) -> bytes:
    """Entropy-code the integer codes of quantized tensors of one bit width (one block each)."""
    bits = {t.bits for t in tensors}
    if len(bits) != 1:
        raise ConfigError(f"tensors of one section must share a bit width, got {sorted(bits)}")
    return encode_blocks([t.codes for t in tensors], *code_range(bits.pop()))


@dataclass(frozen=True)
class CodingStats:
    """Size of an entropy-coded section against plain bit packing of the same symbols."""

    symbols: int
    coded_bytes: int
    raw_bytes: int

    @property
    def bits_per_symbol(self) -> float:
        return 8.0 * self.coded_bytes / max(self.symbols, 1)

    @property
    def raw_bits_per_symbol(self) -> float:
        return 8.0 * self.raw_bytes / max(self.symbols, 1)


def coding_stats(section: bytes, sizes: Sequence[int], bits: int) -> CodingStats:
    """Bits per weight of an entropy-coded section vs ``bits``-bit packing (:func:`packed_size`)."""
    count = int(sum(sizes))
    return CodingStats(symbols=count, coded_bytes=len(section), raw_bytes=packed_size(count, bits))
