"""The grid stream codec: a camera's frames share networks; each frame ships latents only.

Encoding a stream (:func:`encode_stream`): its first :data:`BASE_FRAMES` frames are fitted
together with one shared synthesis and entropy model (a temporal model: each frame's latents
are coded against the previous frame's, shifted by the global motion phase correlation
finds); the networks are quantized and sent once. Every later frame is fitted with the
networks frozen, one after the other, its latents warm-started from the previous frame's
(moved by the global motion, and inside the object box by the box's displacement), and
where copying the previous frame's latents is cheaper than coding new ones its blocks are
*skipped* (:mod:`rinr_core.grid.skip`: one flag per 16x16 block). A frame the frozen networks
miss by more than :attr:`~rinr_core.grid.settings.GridSettings.refresh_db` starts a new
network version (:func:`_fit_rest`). New frames of a later round
(:func:`update_stream`) are fitted the same way against the last frame of the stream the
receivers hold, and ship as an update segment (:func:`~rinr_core.grid.stream_format.merge`
appends it). Rate control and metrics work as for the per-frame codec; ``bytes`` per frame
is the frame's own record plus an equal share of the segment's networks and header.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from rinr_core.errors import ConfigError, PayloadError
from rinr_core.frames import Box, Frame
from rinr_core.grid.arch import STREAM_ARCH, GridArch
from rinr_core.grid.arm import IntArm, QuantTensor
from rinr_core.grid.coding import (
    Decoder,
    decode_latents,
    decode_weights,
    encode_chunks,
    latent_chunks,
    skip_chunk,
    weight_chunks,
)
from rinr_core.grid.context import SHIFT_STEPS, level_shift
from rinr_core.grid.decode import pick, render
from rinr_core.grid.encode import grid_metrics, latent_limit, net_record, to_tensor
from rinr_core.grid.fit import FitState, Problem
from rinr_core.grid.model import latent_bit_map, shift_grid, synthesize
from rinr_core.grid.rate import FitOutcome, FrameFit, fit_frames, shortfall
from rinr_core.grid.records import crc_of, wide_box
from rinr_core.grid.settings import GridSettings
from rinr_core.grid.skip import PROBABILITY_STEPS, SAFETY, allowed, choose, probability_code
from rinr_core.grid.skip import masks as skip_masks
from rinr_core.grid.stream_format import (
    GridStream,
    StreamFrame,
    StreamNet,
    merge,
    pack_frame_record,
    pack_stream,
    unpack_stream,
)
from rinr_core.images import resize_frame
from rinr_core.sequence.settings import SequenceResult, UpdateResult
from rinr_core.warmstart import estimate_shift

BASE_FRAMES = 2
"""Frames of a new stream that train its networks together."""
MAX_SHIFT = 127
"""Largest stored motion (quarter pixels)."""
REFRESH_GAIN_DB = 1.0
"""How much closer to its targets (dB) a new network version must bring a stale frame."""


def _moved_error(previous: np.ndarray, current: np.ndarray, dx: int, dy: int) -> float:
    h, w = previous.shape[:2]
    rows = np.clip(np.arange(h) - dy, 0, h - 1)
    cols = np.clip(np.arange(w) - dx, 0, w - 1)
    moved = previous[rows][:, cols].astype(np.float64)
    return float(((moved - current) ** 2).mean())


def estimate_motion(previous: np.ndarray, current: np.ndarray) -> tuple[int, int]:
    """Global motion ``current(p) ~ previous(p - d)`` in quarter pixels (phase correlation).

    A shift that does not bring ``previous`` closer to ``current`` than no shift at all (a
    blurry reconstruction, a scene change) is refused: ``(0, 0)``.
    """
    dx, dy = estimate_shift(previous, current)
    shift = (int(np.clip(round(dx * SHIFT_STEPS), -MAX_SHIFT, MAX_SHIFT)),
             int(np.clip(round(dy * SHIFT_STEPS), -MAX_SHIFT, MAX_SHIFT)))
    whole = (round(shift[0] / SHIFT_STEPS), round(shift[1] / SHIFT_STEPS))
    if whole != (0, 0) and (_moved_error(previous, current, *whole)
                            >= _moved_error(previous, current, 0, 0)):
        return (0, 0)
    return shift


def _prepare(frames: Sequence[Frame], max_side: int | None,
             size: tuple[int, int] | None = None) -> list[Frame]:
    out = [resize_frame(f, max_side) if max_side else f for f in frames]
    if not out:
        raise ConfigError("a stream needs at least one frame")
    sizes = {(f.width, f.height) for f in out} | ({size} if size else set())
    if len(sizes) != 1:
        raise ConfigError(f"all frames of a stream must have one size, got {sorted(sizes)}; "
                          "resize them (max_side) to a common size first")
    return out


def _levels_tensor(levels: Sequence[np.ndarray], device: torch.device) -> list[torch.Tensor]:
    return [torch.from_numpy(z.astype(np.float32))[None, None].to(device) for z in levels]


def _level_box(box: Box, level: int, height: int, width: int) -> tuple[int, int, int, int]:
    """A box's ``(y0, y1, x0, x1)`` on a level's grid (covering every latent it touches)."""
    x, y, w, h = box
    scale = 2**level
    return (y // scale, min(height, -(-(y + h) // scale)), x // scale, min(width, -(-(x + w) // scale)))


def warm_latents(reference: Sequence[torch.Tensor], reference_box: Box,
                 boxes: Sequence[Box], moved: Sequence[tuple[int, int]]) -> list[torch.Tensor]:
    """Starting latents of frames from the reference frame's (encoder side only).

    Each frame's levels are the reference's moved by the frame's global motion ``moved``
    (quarter pixels, relative to the reference); inside the frame's object box they are the
    reference's object latents moved by the box's displacement, so a moving object starts
    where it now is.
    """
    out = []
    for level, z in enumerate(reference):
        h, w = z.shape[-2:]
        frames = []
        for box, motion in zip(boxes, moved, strict=True):
            start = shift_grid(z, level_shift(motion, level)).clone()
            y0, y1, x0, x1 = _level_box(box, level, h, w)
            dx = (2 * box[0] + box[2] - 2 * reference_box[0] - reference_box[2]) * 2
            dy = (2 * box[1] + box[3] - 2 * reference_box[1] - reference_box[3]) * 2
            sx, sy = level_shift((dx, dy), level)
            rows = (torch.arange(y0, y1, device=z.device) - sy).clamp(0, h - 1)
            cols = (torch.arange(x0, x1, device=z.device) - sx).clamp(0, w - 1)
            start[..., y0:y1, x0:x1] = z.index_select(-2, rows).index_select(-1, cols)
            frames.append(start)
        out.append(torch.cat(frames))
    return out


def _skip_blocks(problem: Problem, state: FitState, fit: FrameFit, settings: GridSettings
                 ) -> np.ndarray:
    """The blocks of a fitted frame (batch of one) where copying the previous frame's latents
    is cheaper than coding its own (:func:`rinr_core.grid.skip.choose`)."""
    arch, ref = problem.arch, problem.reference
    assert ref is not None  # warm frames always have a previous frame
    weights = problem.weight_map(torch.tensor([fit.lambdas[0]]), torch.tensor([fit.lambdas[1]]))
    with torch.no_grad():
        hard = [torch.round(z) for z in state.latents]
        copies = [shift_grid(z, level_shift(problem.shifts[0], level)) for level, z in enumerate(ref)]
        fitted = synthesize(arch, state.networks, hard, problem.height, problem.width)
        copied = synthesize(arch, state.networks, copies, problem.height, problem.width)
        errors = [(weights * (x - problem.images) ** 2).sum(dim=1)[0] for x in (fitted, copied)]
        copy_mse = ((torch.round(copied.clamp(0, 1) * 255) - problem.images * 255) ** 2
                    ).mean(dim=1)[0]
        bit_map = latent_bit_map(arch, state.networks, hard, problem.previous(hard),
                                 problem.shifts, problem.flags() if arch.temporal else None)[0]
    per_level, start = [], 0
    for h, w in arch.latent_shapes(problem.height, problem.width):
        per_level.append(bit_map[start : start + h * w].reshape(h, w))
        start += h * w
    target = settings.target_background_db
    max_mse = None if target is None else SAFETY * 255.0**2 / 10 ** (target / 10)
    may = allowed(copy_mse, problem.boxes[0], max_mse)
    return choose(errors[0], errors[1], per_level, problem.height * problem.width, may)


def _flag_bits(flags: np.ndarray | None) -> float:
    if flags is None or not flags.any():
        return 0.0
    p = probability_code(flags) / PROBABILITY_STEPS
    return float(-(flags * np.log2(p) + (~flags) * np.log2(1 - p)).sum())


def _warm_frame(arch: GridArch, nets: list[QuantTensor], frame: Frame, shift: tuple[int, int],
                reference: Sequence[np.ndarray], reference_box: Box, lambdas: tuple[float, float],
                settings: GridSettings, device: torch.device) -> FrameFit:
    """Fit one frame under frozen networks, warm-started from the previous frame's latents.

    After a first round the frame's skip blocks are chosen (:mod:`rinr_core.grid.skip`) and
    the other rounds fit the rest; the cheaper of the two outcomes that is closer to the
    targets is kept.
    """
    ref = _levels_tensor(reference, device)
    state = FitState(warm_latents(ref, reference_box, [frame.box], [shift]), [])
    images = to_tensor([frame], device)
    plain = Problem(arch, images, [frame.box], shared=True, reference=ref, shifts=[shift])
    first = fit_frames(plain, [frame.image], replace(settings, warm_rounds=1), state=state,
                       networks=[nets], lambdas=[lambdas], round_steps=settings.warm_steps).frames[0]
    flags = _skip_blocks(plain, state, first, settings)
    if settings.warm_rounds == 1 and not flags.any():
        return first
    skipping = Problem(arch, images, [frame.box], shared=True, reference=ref, shifts=[shift],
                       skip=[flags] if flags.any() else None)
    rest = replace(settings, warm_rounds=max(1, settings.warm_rounds - 1))
    second = fit_frames(skipping, [frame.image], rest, state=state, networks=[nets],
                        lambdas=[first.lambdas], round_steps=settings.warm_steps).frames[0]

    def score(fit: FrameFit) -> tuple[float, float]:
        return (-shortfall(fit.psnrs, settings), -(fit.bits + _flag_bits(fit.skip)))

    return max((first, second), key=score)


def _code_frame(arch: GridArch, nets: list[QuantTensor], net_id: int, index: int, box: Box,
                fit: FrameFit, previous: Sequence[np.ndarray] | None, shift: tuple[int, int],
                size: tuple[int, int]) -> StreamFrame:
    limit = latent_limit(fit.levels)
    arm = IntArm(nets[len(arch.synthesis_shapes):])
    chunks, code, skipped = [], 0, None
    if fit.skip is not None and fit.skip.any() and previous is not None:
        code = probability_code(fit.skip)
        chunks.append(skip_chunk(fit.skip, code))
        skipped = skip_masks(fit.skip, arch.latent_shapes(*size), *size)
    chunks += latent_chunks(arch, arm, fit.levels, limit, previous, shift, skipped)
    return StreamFrame(index, net_id, box, shift, previous is not None, limit,
                       encode_chunks(chunks), code)


def _fit_head(arch: GridArch, frames: Sequence[Frame], shifts: Sequence[tuple[int, int]],
              settings: GridSettings, device: torch.device) -> FitOutcome:
    """Cold fit of frames that train one network version together, the first coded alone."""
    problem = Problem(arch, to_tensor(frames, device), [f.box for f in frames], shared=True,
                      shifts=[(0, 0), *shifts[1 : len(frames)]])
    return fit_frames(problem, [f.image for f in frames], settings)


@dataclass
class _Fitted:
    """Fits of a run of stream frames and the network versions they need.

    ``versions[k]`` is 0 for the networks the run started with, ``j >= 1`` for
    ``new_nets[j - 1]``; ``intra[k]``: frame ``k`` is coded without the frame before it (the
    first of a new version).
    """

    fits: list[FrameFit] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    intra: list[bool] = field(default_factory=list)
    new_nets: list[list[QuantTensor]] = field(default_factory=list)

    def add(self, fit: FrameFit, version: int, intra: bool = False) -> None:
        self.fits.append(fit)
        self.versions.append(version)
        self.intra.append(intra)


def _stale(fit: FrameFit, settings: GridSettings, achievable: float) -> bool:
    """Whether a warm frame misses its targets by more than :attr:`GridSettings.refresh_db`
    beyond ``achievable`` (what cold fits missed by: a small step budget misses everywhere)."""
    return (settings.refresh_db is not None and settings.targeted
            and shortfall(fit.psnrs, settings) > settings.refresh_db + achievable)


def _fit_rest(arch: GridArch, nets: list[QuantTensor], frames: Sequence[Frame],
              shifts: Sequence[tuple[int, int]], reference: Sequence[np.ndarray],
              reference_box: Box, lambdas: tuple[float, float], settings: GridSettings,
              device: torch.device, achievable: float = 0.0, out: _Fitted | None = None
              ) -> _Fitted:
    """Warm fits of ``frames``, one after the other, each against the frame before it.

    A frame the networks no longer fit (:func:`_stale`: the content drifted from the frames
    they were trained on; ``achievable``: how far the cold fit of those frames missed) starts
    a new network version when that brings it at least :data:`REFRESH_GAIN_DB` closer to its
    targets: it and the next frame are fitted cold, and the frames after them warm under the
    new networks. A cold fit that does not help sets how far later frames may miss first.
    The fits are added to ``out`` (the stream's head, for a base) and returned.
    """
    out = out or _Fitted()
    current, version, k = nets, 0, 0
    while k < len(frames):
        fit = _warm_frame(arch, current, frames[k], shifts[k], reference, reference_box, lambdas,
                          settings, device)
        head = None
        if _stale(fit, settings, achievable):
            head = _fit_head(arch, frames[k : k + BASE_FRAMES], shifts[k : k + BASE_FRAMES],
                             settings, device)
            misses = [shortfall(f.psnrs, settings) for f in head.frames]
            achievable = max(misses)
            if misses[0] > shortfall(fit.psnrs, settings) - REFRESH_GAIN_DB:
                head = None
        if head is None:
            out.add(fit, version)
            reference, reference_box, lambdas = fit.levels, frames[k].box, fit.lambdas
            k += 1
            continue
        out.new_nets.append(head.networks[0])
        current, version = head.networks[0], len(out.new_nets)
        for j, head_fit in enumerate(head.frames):
            out.add(head_fit, version, intra=j == 0)
        k += len(head.frames)
        reference, reference_box, lambdas = head.frames[-1].levels, frames[k - 1].box, \
            head.frames[-1].lambdas
    return out


def _stream_net(nets: list[QuantTensor]) -> StreamNet:
    """One network version as stored: its record and its entropy-coded weights."""
    record, indices = net_record(nets)
    return StreamNet(record, encode_chunks(weight_chunks(nets, indices, record.weight_limit)))


def _code_frames(arch: GridArch, versions: Sequence[list[QuantTensor]], ids: Sequence[int],
                 frames: Sequence[Frame], fitted: _Fitted, first: int,
                 previous: Sequence[np.ndarray] | None, shifts: Sequence[tuple[int, int]]
                 ) -> list[StreamFrame]:
    """Stream records of fitted frames (``ids``: the stored id of each version)."""
    coded = []
    for k, (f, fit) in enumerate(zip(frames, fitted.fits, strict=True)):
        v, alone = fitted.versions[k], fitted.intra[k] or previous is None
        coded.append(_code_frame(arch, versions[v], ids[v], first + k, f.box, fit,
                                 None if alone else previous, (0, 0) if alone else shifts[k],
                                 (f.height, f.width)))
        previous = fit.levels
    return coded


def _measure(data: bytes, merged: bytes, frames: Sequence[Frame], first: int, arch: GridArch,
             seconds: float, fits: Sequence[FrameFit], device: torch.device) -> list[dict]:
    """Per-frame metrics of the frames ``data`` adds, decoded from the whole stream."""
    parsed = unpack_stream(data)
    wide = wide_box(parsed.width, parsed.height)
    own = [len(pack_frame_record(f, wide)) for f in parsed.frames]
    shared = (len(data) - sum(own)) / len(own)
    indices = list(range(first, first + len(frames)))
    decoded = decode_stream(merged, indices, device)
    out = []
    for f, image, size, fit, index in zip(frames, decoded, own, fits, indices, strict=True):
        m = grid_metrics(f, shared + size, image, arch, "grid", fit, seconds)
        m.update({"frame": f.name, "index": index, "own_bytes": size})
        out.append(m)
    return out


def encode_stream(frames: Sequence[Frame], settings: GridSettings | None = None) -> SequenceResult:
    """Encode a camera's frames (one size, capture order) into a grid stream base.

    Returns
    -------
    SequenceResult
        ``payload`` (the stream), the frames as encoded, per-frame metrics (the ``rinr
        encode`` keys; ``bytes`` amortized) and a summary.
    """
    settings = settings or GridSettings()
    arch = settings.arch or STREAM_ARCH
    device = pick(settings.device)
    frames = _prepare(frames, settings.max_side)
    start = time.perf_counter()
    shifts = [(0, 0)] + [estimate_motion(a.image, b.image) for a, b in zip(frames[:-1], frames[1:], strict=True)]
    head = frames[:BASE_FRAMES]
    outcome = _fit_head(arch, head, shifts, settings, device)
    fitted = _Fitted()
    for k, fit in enumerate(outcome.frames):
        fitted.add(fit, 0, intra=k == 0)
    base_seconds = time.perf_counter() - start
    if len(frames) > len(head):
        last = outcome.frames[-1]
        _fit_rest(arch, outcome.networks[0], frames[len(head):], shifts[len(head):],
                  last.levels, head[-1].box, last.lambdas, settings, device,
                  max(shortfall(f.psnrs, settings) for f in outcome.frames), fitted)
    versions = [outcome.networks[0], *fitted.new_nets]
    stored = [_stream_net(n) for n in versions]
    coded = _code_frames(arch, versions, range(len(versions)), frames, fitted, 0, None, shifts)
    stream = GridStream(frames[0].width, frames[0].height, arch, stored, coded,
                        hint=fitted.fits[-1].lambdas)
    data = pack_stream(stream)
    seconds = time.perf_counter() - start
    metrics = _measure(data, data, frames, 0, arch, seconds / len(frames), fitted.fits,
                       device)
    summary = {"codec": "grid", "frames": len(frames), "total_bytes": len(data),
               "network_bytes": sum(len(n.words) * 4 + 2 + 2 * len(v)
                                    for n, v in zip(stored, versions, strict=True)),
               "network_versions": len(stored), "network_weights": arch.num_params,
               "base_fit_seconds": base_seconds, "encode_seconds": seconds}
    return SequenceResult(data, frames, metrics, summary)


def stream_numbers(stream: GridStream, upto: int | None = None
                   ) -> tuple[list[list[QuantTensor]], dict[int, list[np.ndarray]]]:
    """The networks and the latents of every frame (up to index ``upto``) of a whole stream.

    Raises
    ------
    PayloadError
        The stream is an update (merge it into its base first), or its data is damaged.
    """
    if stream.is_update:
        raise PayloadError("this grid stream is an update: merge it into its base with "
                           "rinr_core.grid.stream_format.merge(base, update) and decode the result")
    arch = stream.arch
    nets = []
    for net in stream.nets:
        decoder = Decoder(net.words)
        nets.append(decode_weights(decoder, arch.tensor_shapes, net.record.exponents,
                                   net.record.indices, net.record.weight_limit))
        decoder.finish()
    arms = [IntArm(n[len(arch.synthesis_shapes):]) for n in nets]
    levels: dict[int, list[np.ndarray]] = {}
    previous: list[np.ndarray] | None = None
    for frame in stream.frames:
        if upto is not None and frame.index > upto:
            break
        decoder = Decoder(frame.words)
        lv = decode_latents(decoder, arch, arms[frame.net], stream.height, stream.width,
                            frame.latent_limit, previous if frame.inter else None, frame.shift,
                            frame.skip)
        decoder.finish()
        levels[frame.index] = previous = lv
    return nets, levels


def decode_stream(payload: bytes, indices: Sequence[int] | None = None,
                  device: str | torch.device | None = None) -> list[np.ndarray]:
    """Decode frames of a whole grid stream (``None``: all, in order) to ``uint8`` images.

    Decoding frame ``k`` alone decodes the latents of the frames before it (entropy decoding
    only) and renders ``k`` alone, so one-by-one and grouped decoding give the same pixels.
    """
    stream = unpack_stream(payload)
    held = {f.index: f for f in stream.frames}
    wanted = list(held) if indices is None else list(indices)
    missing = [i for i in wanted if i not in held]
    if missing:
        raise ConfigError(f"frame index(es) {missing} are not in this grid stream (it holds "
                          f"{min(held, default=0)}..{max(held, default=-1)})")
    nets, levels = stream_numbers(stream, max(wanted, default=-1))
    return [render(stream.arch, nets[held[i].net], levels[i], stream.height, stream.width, device)
            for i in wanted]


def stream_boxes(payload: bytes) -> dict[int, Box]:
    """``{frame index: object box}`` of a grid stream (base or update), in stored order."""
    return {f.index: f.box for f in unpack_stream(payload).frames}


def update_stream(base: bytes, frames: Sequence[Frame], settings: GridSettings | None = None
                  ) -> UpdateResult:
    """Append new frames to a whole grid stream: an update segment with their latents only.

    The frames are fitted under the stream's latest networks, warm-started from its last
    frame (motion-compensated). Returns the update (``payload``), the merged stream and the
    new frames' metrics.
    """
    settings = settings or GridSettings()
    device = pick(settings.device)
    parsed = unpack_stream(base)
    if parsed.is_update:
        raise ConfigError("the base of an update must be a whole grid stream, not another update; "
                          "merge it first")
    frames = _prepare(frames, settings.max_side, (parsed.width, parsed.height))
    start = time.perf_counter()
    nets, levels = stream_numbers(parsed)
    last = parsed.frames[-1]
    net_id = len(parsed.nets) - 1
    last_image = render(parsed.arch, nets[last.net], levels[last.index], parsed.height,
                        parsed.width, device)
    images = [last_image] + [f.image for f in frames]
    shifts = [estimate_motion(a, b) for a, b in zip(images[:-1], images[1:], strict=True)]
    fitted = _fit_rest(parsed.arch, nets[net_id], frames, shifts, levels[last.index], last.box,
                       parsed.hint, settings, device)
    versions = [nets[net_id], *fitted.new_nets]
    ids = [net_id, *range(len(parsed.nets), len(parsed.nets) + len(fitted.new_nets))]
    coded = _code_frames(parsed.arch, versions, ids, frames, fitted, last.index + 1,
                         levels[last.index], shifts)
    update = GridStream(parsed.width, parsed.height, parsed.arch,
                        [_stream_net(n) for n in fitted.new_nets], coded,
                        first_index=last.index + 1, first_net=len(parsed.nets),
                        base_crc=crc_of(base), hint=fitted.fits[-1].lambdas)
    data = pack_stream(update)
    merged = merge(base, data)
    seconds = time.perf_counter() - start
    metrics = _measure(data, merged, frames, last.index + 1, parsed.arch, seconds / len(frames),
                       fitted.fits, device)
    storage = "networks" if fitted.new_nets else "latents"
    summary = {"frames": len(frames), "update_bytes": len(data), "storage": storage,
               "network_versions": len(fitted.new_nets), "encode_seconds": seconds}
    return UpdateResult(data, merged, frames, metrics, storage, summary)
