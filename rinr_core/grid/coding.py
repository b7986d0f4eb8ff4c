"""Entropy coding of a grid codec's numbers with ``constriction``'s ANS coder.

Network weights: each tensor's integer codes under a zero-mean discretized Laplace whose
ladder index (:mod:`rinr_core.grid.laplace`) the encoder picks per tensor. Latents: per
latent, the Laplace the integer entropy model (:class:`~rinr_core.grid.arm.IntArm`) predicts
from its context (:mod:`rinr_core.grid.context`), coarsest level first, wavefront by
wavefront. Symbols are coded as *chunks* in decoding order; :func:`encode_chunks` pushes
them onto one ANS stack (last chunk first) so a decoder pops them in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import constriction
import numpy as np

from rinr_core.errors import MalformedPayloadError
from rinr_core.grid.arch import GridArch
from rinr_core.grid.arm import IntArm, QuantTensor
from rinr_core.grid.context import contexts, level_plan, level_shift, moved
from rinr_core.grid.laplace import (
    LADDER,
    centred_probabilities,
    scale_index,
    symbol_probabilities,
)
from rinr_core.grid.skip import flag_probabilities, grid_shape
from rinr_core.grid.skip import masks as skip_masks

_MODEL = constriction.stream.model.Categorical(perfect=False)


@dataclass
class Chunk:
    """Symbols (``0 .. n - 1`` after offsetting) and their probabilities: one row per symbol
    (``[count, n]``), or one row shared by all (``[n]``)."""

    symbols: np.ndarray
    probabilities: np.ndarray


def _coder_model(probabilities: np.ndarray) -> tuple[object, tuple[np.ndarray, ...]]:
    if probabilities.ndim == 1:
        return constriction.stream.model.Categorical(probabilities, perfect=False), ()
    return _MODEL, (probabilities,)


def encode_chunks(chunks: Sequence[Chunk]) -> np.ndarray:
    """One ANS stream (``uint32`` words) holding every chunk, decodable in order."""
    coder = constriction.stream.stack.AnsCoder()
    for chunk in reversed(chunks):
        if chunk.symbols.size:
            model, params = _coder_model(chunk.probabilities)
            coder.encode_reverse(chunk.symbols.astype(np.int32), model, *params)
    return np.asarray(coder.get_compressed(), dtype=np.uint32)


def chunk_bits(chunk: Chunk) -> float:
    """Ideal bits of a chunk under its (normalized) probabilities (no coder overhead)."""
    p = chunk.probabilities
    if p.ndim == 1:
        q = p / p.sum()
        return float(-np.log2(np.maximum(q[chunk.symbols], 1e-12)).sum())
    rows = p[np.arange(p.shape[0]), chunk.symbols] / p.sum(axis=1)
    return float(-np.log2(np.maximum(rows, 1e-12)).sum())


class Decoder:
    """Pops chunks off an ANS stream; any failure is a :class:`MalformedPayloadError`."""

    def __init__(self, words: np.ndarray) -> None:
        try:
            self.coder = constriction.stream.stack.AnsCoder(np.asarray(words, dtype=np.uint32))
        except (ValueError, RuntimeError) as exc:
            raise MalformedPayloadError(f"the entropy-coded data cannot be read: {exc}") from exc

    def pop(self, count: int, probabilities: np.ndarray) -> np.ndarray:
        """``count`` symbols (``int64``) under ``probabilities`` (as in :class:`Chunk`)."""
        if count == 0:
            return np.zeros(0, np.int64)
        model, params = _coder_model(probabilities)
        try:
            return np.asarray(self.coder.decode(model, *params) if params else
                              self.coder.decode(model, count), dtype=np.int64)
        except (ValueError, RuntimeError, OverflowError) as exc:
            raise MalformedPayloadError(f"the entropy-coded data is damaged: {exc}") from exc

    def finish(self) -> None:
        """Raise unless every word was used (a stream with data left over is damaged)."""
        if not self.coder.is_empty():
            raise MalformedPayloadError("the entropy-coded data has words left after the last "
                                        "symbol; the payload is damaged")


# --- network weights ----------------------------------------------------------------------


def weight_limit(tensors: Sequence[QuantTensor]) -> int:
    """The largest code magnitude of some tensors (at least 1): their symbol range."""
    return max([1, *(int(np.abs(t.codes).max()) for t in tensors if t.codes.size)])


def best_weight_index(codes: np.ndarray, limit: int) -> int:
    """The ladder index whose zero-mean Laplace codes ``codes`` in the fewest bits."""
    flat = codes.reshape(-1)
    guess = int(scale_index(np.log2(max(float(np.abs(flat).mean()), 2.0**-6))))
    best, best_bits = guess, float("inf")
    for index in range(max(0, guess - 3), min(LADDER, guess + 4)):
        bits = chunk_bits(Chunk(flat + limit, centred_probabilities(index, limit)))
        if bits < best_bits:
            best, best_bits = index, bits
    return best


def weight_chunks(tensors: Sequence[QuantTensor], indices: Sequence[int], limit: int) -> list[Chunk]:
    """One chunk per tensor (its codes under its ladder index)."""
    return [Chunk(t.codes.reshape(-1) + limit, centred_probabilities(i, limit))
            for t, i in zip(tensors, indices, strict=True)]


def weight_bits(tensors: Sequence[QuantTensor]) -> float:
    """Ideal bits of tensors, each under its best index (for the encoder's searches)."""
    limit = weight_limit(tensors)
    return sum(chunk_bits(c) for c in weight_chunks(
        tensors, [best_weight_index(t.codes, limit) for t in tensors], limit))


def decode_weights(decoder: Decoder, shapes: Sequence[tuple[int, ...]], exponents: Sequence[int],
                   indices: Sequence[int], limit: int) -> list[QuantTensor]:
    """Inverse of :func:`weight_chunks`."""
    out = []
    for shape, exponent, index in zip(shapes, exponents, indices, strict=True):
        count = int(np.prod(shape))
        codes = decoder.pop(count, centred_probabilities(index, limit)) - limit
        out.append(QuantTensor(codes.reshape(shape), exponent))
    return out


# --- latents ----------------------------------------------------------------------------------


def _previous(arch: GridArch, previous: Sequence[np.ndarray] | None, shapes: Sequence[tuple[int, int]],
              shift: tuple[int, int], level: int) -> np.ndarray | None:
    """The previous frame's latents of ``level``, moved and flattened (zeros for intra);
    ``None`` for a model without temporal inputs."""
    if previous is None:
        return None if not arch.temporal else np.zeros(shapes[level][0] * shapes[level][1], np.int64)
    return moved(previous[level], level_shift(shift, level))


def skip_chunk(flags: np.ndarray, code: int) -> Chunk:
    """A frame's skip flags (1: skipped) under its stored probability."""
    return Chunk(flags.reshape(-1).astype(np.int64), flag_probabilities(code))


def latent_chunks(arch: GridArch, arm: IntArm, levels: Sequence[np.ndarray], limit: int,
                  previous: Sequence[np.ndarray] | None, shift: tuple[int, int],
                  skipped: Sequence[np.ndarray] | None = None) -> list[Chunk]:
    """One chunk per level, coarsest first, each in coding order (:mod:`~rinr_core.grid.context`).

    ``previous``: the reference frame's levels (``None``: intra). ``skipped``: per level, the
    latents a skip block keeps from the previous frame (not coded; they must equal it).
    """
    shapes = [z.shape for z in levels]
    chunks = []
    for level in reversed(range(arch.levels)):
        plan = level_plan(*shapes[level], arch.context)
        coarse = levels[level + 1].reshape(-1) if level + 1 < arch.levels else None
        prev = _previous(arch, previous, shapes, shift, level)
        keep = np.arange(len(plan.flat))
        if skipped is not None:
            keep = keep[~skipped[level].reshape(-1)[plan.flat]]
        ctx = contexts(plan, plan.buffer(levels[level]), keep, coarse,
                       prev if arch.temporal else None, int(previous is not None))
        mean, index = arm(ctx)
        symbols = levels[level].reshape(-1)[plan.flat[keep]]
        chunks.append(Chunk(symbols + limit, symbol_probabilities(limit, index, mean)))
    return chunks


def decode_latents(decoder: Decoder, arch: GridArch, arm: IntArm, height: int, width: int,
                   limit: int, previous: Sequence[np.ndarray] | None,
                   shift: tuple[int, int], skip_code: int = 0) -> list[np.ndarray]:
    """Inverse of :func:`skip_chunk` (when ``skip_code``) and :func:`latent_chunks`: every
    level (finest first) as ``int64`` arrays, decoded a wavefront at a time."""
    shapes = arch.latent_shapes(height, width)
    skipped: list[np.ndarray] | None = None
    if skip_code:
        if previous is None:
            raise MalformedPayloadError("a frame without a previous frame cannot skip blocks")
        rows, cols = grid_shape(height, width)
        flags = decoder.pop(rows * cols, flag_probabilities(skip_code)).reshape(rows, cols)
        skipped = skip_masks(flags, shapes, height, width)
    levels: list[np.ndarray] = [np.zeros(s, np.int64) for s in shapes]
    for level in reversed(range(arch.levels)):
        plan = level_plan(*shapes[level], arch.context)
        coarse = levels[level + 1].reshape(-1) if level + 1 < arch.levels else None
        prev = _previous(arch, previous, shapes, shift, level)
        buffer = plan.buffer()
        coded = np.ones(len(plan.flat), bool)
        if skipped is not None and prev is not None:
            coded = ~skipped[level].reshape(-1)[plan.flat]
            buffer[plan.padded[~coded]] = prev[plan.flat[~coded]]
        for start, stop in zip(plan.cuts[:-1], plan.cuts[1:], strict=True):
            positions = np.flatnonzero(coded[start:stop]) + start
            if not positions.size:
                continue
            mean, index = arm(contexts(plan, buffer, positions, coarse,
                                       prev if arch.temporal else None, int(previous is not None)))
            symbols = decoder.pop(positions.size, symbol_probabilities(limit, index, mean)) - limit
            buffer[plan.padded[positions]] = symbols
        levels[level] = plan.level(buffer)
    return levels
