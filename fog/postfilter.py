"""The fog's look-up post-filter (``post-filter = "lut"``): trained once, refreshed, sent once.

The fog holds both the uploaded originals and exactly what its edges will decode, so after
the first encode step that brings frames it decodes them as an edge would, trains a
post-filter (:mod:`rinr_core.lut`) on up to :data:`TRAIN_FRAMES` (decoded, original) pairs,
and sends its ``.rlut`` once to every node that does not hold it (one ``rlut`` item in the
broadcast, counted in the byte ledger like any item; the edge applies it to every frame it
decodes, before YOLO). On each later encode step it measures the post-filter's PSNR gain on
the new frames; when the mean falls below half the gain it had on its training frames
(:data:`DRIFT_SHARE`), it trains a new one on the new frames and sends that once to each
node. One post-filter per run: the run has one codec setting.

The report's ``postfilter`` section lists every training (round, frames, gain, bytes, id),
every drift check and, per node, how many times each post-filter was sent.
"""

from __future__ import annotations

from logging import INFO
from typing import TYPE_CHECKING, Any

import numpy as np
from flwr.common import log

from rinr_core.codecs import get_container
from rinr_core.codecs.postfilter import CONTAINER_RLUT
from rinr_core.images import load_image
from rinr_core.lut import LutFilter, LutSpec, LutTrainSettings, mean_psnr, pack, train_lut
from rinr_core.lut.format import size_bound
from rinr_runtime.config import RuntimeConfig
from rinr_runtime.records import KIND_JPEG, KIND_RINRS, Delivery, frame_id

if TYPE_CHECKING:  # pragma: no cover - typing only
    from fog.encoder import EncodedFrame, FogEncoder
    from fog.report import RunReport

TRAIN_FRAMES = 16
"""Most (decoded, original) pairs one training uses: the most recent frames."""
DRIFT_SHARE = 0.5
"""Retrain when the gain on new frames is below this share of the trained gain."""
HOLDOUT_EVERY = 4
"""Every 4th training pair is held out: a post-filter is sent only if it helps those."""
SOURCE = "fog"


def postfilter_bytes_per_frame(frames_per_device: float, devices: int) -> float:
    """The post-filter's bytes per received frame for the placement model: one ``.rlut`` per
    node (its size bound, :func:`rinr_core.lut.format.size_bound`) over the frames each node
    receives (``frames_per_device`` from each of the other ``devices - 1`` nodes)."""
    received = max(1.0, frames_per_device * max(1, devices - 1))
    return size_bound(LutSpec()) / received


class FogPostFilter:
    """The run's post-filter at the fog (see the module docstring)."""

    def __init__(self, config: RuntimeConfig, encoder: FogEncoder, report: RunReport) -> None:
        self.config = config
        self.encoder = encoder
        self.report = report
        self.spec = LutSpec()
        self.settings = LutTrainSettings(steps=config.post_filter_steps, seed=config.seed)
        self.lut: LutFilter | None = None
        self.data = b""
        self.lut_id = ""
        self.trained_gain = 0.0
        self.sent: dict[str, dict[str, int]] = {}  # node -> post-filter id -> times sent
        report.postfilter.update(spec=self.spec.describe(), trainings=[], checks=[],
                                 sent=self.sent)

    @classmethod
    def for_config(cls, config: RuntimeConfig, encoder: FogEncoder, report: RunReport
                   ) -> FogPostFilter | None:
        """The post-filter of a run with ``post-filter = "lut"`` (else ``None``)."""
        return cls(config, encoder, report) if config.post_filter == "lut" else None

    # --- training ---------------------------------------------------------------------------

    def pairs(self, entries: list[EncodedFrame]) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(decoded, original)`` of the encoded frames, decoded as their edges will."""
        out: list[tuple[np.ndarray, np.ndarray]] = []
        frames = [e for e in entries if e.kind != KIND_JPEG]
        by_kind: dict[str, list[EncodedFrame]] = {}
        for entry in frames:
            by_kind.setdefault(entry.kind, []).append(entry)
        for kind, members in by_kind.items():
            container = get_container(kind)
            if kind == KIND_RINRS:
                decoded = self._stream_frames(members)
            else:
                decoded = container.decode([e.data for e in members], self.config.torch_device)
            for entry, image in zip(members, decoded, strict=True):
                original = load_image(entry.jpeg)
                if original.shape == image.shape:
                    out.append((image, original))
        return out

    def _stream_frames(self, members: list[EncodedFrame]) -> list[np.ndarray]:
        streams = self.encoder.streams
        assert streams is not None  # a stream item comes from the stream encoder
        decode_frames = get_container(KIND_RINRS).decode_frames
        assert decode_frames is not None
        images: dict[str, np.ndarray] = {}
        for sid in dict.fromkeys(e.stream for e in members):
            stream = streams.streams[sid]
            wanted = [e.frame_id for e in members if e.stream == sid]
            order = [stream.frames.index(fid) for fid in wanted]
            for fid, image in zip(wanted, decode_frames(stream.merged, order,
                                                        self.config.torch_device), strict=True):
                images[fid] = image
        return [images[e.frame_id] for e in members]

    def observe(self, server_round: int, entries: list[EncodedFrame]) -> None:
        """Train on the first frames; on later ones check the gain and retrain on drift."""
        fresh = [e for e in entries if e.kind != KIND_JPEG]
        if fresh:
            self.observe_pairs(server_round, self.pairs(fresh))

    def observe_pairs(self, server_round: int, pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """:meth:`observe` on ``(decoded, original)`` pairs of the frames just encoded."""
        if not pairs:
            return
        if self.lut is not None:
            gain = self._gain(self.lut, pairs)
            drifted = gain < DRIFT_SHARE * self.trained_gain
            self.report.postfilter["checks"].append(
                {"round": server_round, "frames": len(pairs), "gain_db": gain,
                 "trained_gain_db": self.trained_gain, "retrain": drifted})
            if not drifted:
                return
            log(INFO, "[rinr] round %d post-filter: gain %.2f dB on %d new frame(s), under "
                "half the trained %.2f dB; training a new one", server_round, gain, len(pairs),
                self.trained_gain)
        self._train(server_round, pairs[-TRAIN_FRAMES:])

    @staticmethod
    def _gain(lut: LutFilter, pairs: list[tuple[np.ndarray, np.ndarray]]) -> float:
        decoded = [d for d, _ in pairs]
        originals = [o for _, o in pairs]
        return mean_psnr(originals, lut.apply_many(decoded)) - mean_psnr(originals, decoded)

    def _train(self, server_round: int, pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Train on ``pairs`` less every :data:`HOLDOUT_EVERY`-th; send it only if it helps
        the held-out ones (or, with too few frames to hold any out, its training frames)."""
        held = pairs[HOLDOUT_EVERY - 1::HOLDOUT_EVERY] if len(pairs) >= HOLDOUT_EVERY else []
        fit = [p for i, p in enumerate(pairs) if (i + 1) % HOLDOUT_EVERY or not held]
        meta = {"codec": self.config.codec_spec.name, "round": server_round, "frames": len(fit)}
        trained = train_lut([d for d, _ in fit], [o for _, o in fit], self.spec,
                            self.settings, meta=meta)
        lut = LutFilter(trained.tables)
        fit_gain = self._gain(lut, fit)
        gain = self._gain(lut, held) if held else fit_gain
        trained.tables.meta.update(gain_db=fit_gain, heldout_gain_db=gain if held else None)
        data = pack(trained.tables)
        entry: dict[str, Any] = {"round": server_round, "frames": len(fit),
                                 "heldout_frames": len(held), "gain_db": fit_gain,
                                 "heldout_gain_db": gain if held else None, "bytes": len(data),
                                 "train_s": trained.train_s, "sent": gain > 0}
        if gain <= 0:  # it would not help: keep what the nodes have (if anything)
            entry["id"] = None
            self.report.postfilter["trainings"].append(entry)
            log(INFO, "[rinr] round %d post-filter: no gain on %s frames (%.2f dB); not sent",
                server_round, "held-out" if held else "its training", gain)
            return
        self.lut, self.data, self.trained_gain = lut, data, gain
        self.lut_id = f"postfilter-{frame_id(data)[:16]}"
        entry["id"] = self.lut_id
        self.report.postfilter["trainings"].append(entry)
        log(INFO, "[rinr] round %d post-filter %s: %d bytes, +%.2f dB on %d held-out frame(s) "
            "(+%.2f on %d training frames), trained in %.1f s", server_round, self.lut_id,
            len(data), gain, len(held), fit_gain, len(fit), trained.train_s)

    # --- broadcast --------------------------------------------------------------------------

    def deliveries(self, node: str, held: set[str]) -> list[Delivery]:
        """The current post-filter for ``node`` when it does not hold it (else nothing)."""
        if not self.lut_id or self.lut_id in held:
            return []
        counts = self.sent.setdefault(node, {})
        counts[self.lut_id] = counts.get(self.lut_id, 0) + 1
        return [Delivery(self.lut_id, CONTAINER_RLUT, self.data, (0, 0, 0, 0), "", SOURCE)]

