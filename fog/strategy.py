"""The fog's round logic: a strategy with configure/aggregate hooks for each phase.

One round: **collect** (every node replies with its new frames) -> **encode** (checked,
batched, cached) -> **broadcast** (each node gets exactly the frames it lacks: one item per
frame, or with a video codec per node's stream the updates it lacks or the whole stream,
see :mod:`fog.streams`) -> **train** (edges fine-tune YOLOv8; with a federated
``aggregation`` Flower's strategy of that name aggregates their weights, see
:mod:`fog.aggregation`) -> **evaluate** (the global model on every node's held-out frames,
when there is one; Flower's strategy averages the metrics). Collect and broadcast are the
runtime's own phases. With ``placement = fog`` the fog trains on the collected JPEGs itself
and only the weights travel (evaluate phase); nothing is broadcast.

Placement: right after the first collect that brings frames (round 1 normally), before
anything is encoded or broadcast, the strategy feeds the sizes measured in this run (mean
uploaded JPEG, the codec's exact payload size for the uploaded boxes, the detector's weights,
the nodes that replied) to the placement model (:mod:`rinr_runtime.planning`). With
``placement = auto`` the model's choice is used for the rest of the run; with ``edge`` or
``fog`` the configured placement is kept and the model's advice is only reported. Either way
the run report says which placement ran, why, and what the model predicted it would move.

Who holds what: the strategy knows each node by its stable key (``p<partition id>``), and
trusts what a node reports holding in every reply (its store on disk) over what it was sent.
A node that missed a round, or restarted, therefore gets exactly what it lacks when it comes
back, and no frame is sent to a node twice. The strategy moves no messages itself:
:mod:`fog.server_app` sends what ``configure_*`` returns and passes the good replies to
``aggregate_*``.

Whose fault: every ``aggregate_*`` hook first reads each reply (:mod:`fog.replies`); a reply
that cannot be read is reported as that node's error and skipped. What the fog does with the
replies it read is not guarded: a fog-side exception propagates and fails the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from logging import INFO, WARNING
from pathlib import Path
from typing import TypeVar

import numpy as np
from flwr.app import Message, MessageType, RecordDict
from flwr.common import log

from fog.aggregation import Aggregator, Layout, Result, layout_of
from fog.delivery import DeliveryLedger
from fog.encoder import EncodedFrame, EncodeOutcome, FogEncoder
from fog.placement import detector_size, measured_plan_inputs, timed_advice
from fog.postfilter import FogPostFilter
from fog.replies import (
    CollectReply,
    EvaluateReply,
    TrainReply,
    UnreadableReply,
    read,
    read_broadcast,
    read_collect,
    read_evaluate,
    read_train,
    reply_key,
)
from fog.report import RunReport
from rinr_core.errors import RinrError
from rinr_runtime.config import AUTO, RuntimeConfig, yolo_settings
from rinr_runtime.planning import (
    PlanInputs,
    Recommendation,
    recommend,
)
from rinr_runtime.records import (
    KIND_RINRS,
    Ack,
    Delivery,
    NodeReport,
    Upload,
    brought_ids,
    content_to_deliveries,
    deliveries_to_content,
    expect_fields,
    held_digest,
    read_node_report,
    record_to_weights,
    round_record,
    weights_to_record,
)

T = TypeVar("T")


@dataclass
class NodeState:
    """What the fog knows about one edge node."""

    key: str
    node_id: int
    held: set[str] = field(default_factory=set)
    accepted: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    num_val: int = 0
    resend: set[str] = field(default_factory=set)  # streams to send whole (an update failed)
    expect: set[str] | None = None  # the held set the last message asked the node to confirm
    arriving: list[str] = field(default_factory=list)  # ids the last broadcast brings it


def ack_of(state: NodeState | None) -> Ack:
    """The ack of a node's uploads: every frame the fog took or refused."""
    if state is None:
        return Ack()
    return Ack(list(state.accepted), list(state.rejected), list(state.rejected.values()))


class RinrStrategy:
    """State and hooks of the fog's rounds (see the module docstring)."""

    def __init__(self, config: RuntimeConfig, encoder: FogEncoder, report: RunReport,
                 workdir: Path) -> None:
        self.config = config
        self.encoder = encoder
        self.report = report
        self.workdir = Path(workdir)
        self.catalog: dict[str, EncodedFrame] = {}
        self.nodes: dict[str, NodeState] = {}
        self.keys: dict[int, str] = {}
        self.aggregator = Aggregator(config)
        self.placement = "edge" if config.placement == AUTO else config.placement
        self.advice: Recommendation | None = None
        self.plan_inputs: PlanInputs | None = None  # the sizes the first advice was given for
        self.timed = False  # whether the time advice (after the first trained round) was given
        self._sent: dict[str, list[tuple[tuple[str, ...], int]]] = {}  # node -> (frames, bytes)
        self.uploads: dict[str, tuple[str, Upload]] = {}  # frame id -> (owner, its upload)
        self.deliveries = DeliveryLedger()
        self.live: set[str] = set()  # nodes that answered the last broadcast
        self.postfilter = FogPostFilter.for_config(config, encoder, report)

    # --- nodes ------------------------------------------------------------------------------

    def label(self, node_id: int) -> str:
        """The node's key if known, else ``n<node id>``."""
        return self.keys.get(node_id, f"n{node_id}")

    def identify(self, node_id: int, reply: Message) -> str:
        """Learn the node's key from a reply's ``"node"`` record; return its label."""
        key = reply_key(reply)
        if key is not None:
            self.keys[node_id] = key
            state = self.nodes.setdefault(key, NodeState(key, node_id))
            state.node_id = node_id
        return self.label(node_id)

    def _state(self, node_id: int) -> NodeState | None:
        key = self.keys.get(node_id)
        return self.nodes.get(key) if key is not None else None

    def _each(self, server_round: int, phase: str, replies: dict[int, Message],
              reader: Callable[[RecordDict], T], apply: Callable[[NodeState, T], None]) -> None:
        """Read every reply with ``reader``, then ``apply`` what was read (see the module docstring).

        A reply that cannot be read is reported as its node's error and skipped; an exception
        of ``apply`` (fog-side logic) propagates.
        """
        claimed: dict[str, int] = {}  # node key -> the node id that used it in this phase
        for node_id, reply in sorted(replies.items()):
            key = reply_key(reply)
            if key is not None and claimed.setdefault(key, node_id) != node_id:
                reason = (f"duplicate node identity {key!r}: node {node_id} claims the key node "
                          f"{claimed[key]} already uses; its reply is refused (give every "
                          "SuperNode its own partition-id in --node-config)")
                log(WARNING, "[rinr] round %d %s: %s", server_round, phase, reason)
                self.report.error(server_round, phase, f"n{node_id}", reason)
                continue
            label = self.identify(node_id, reply)
            state = self._state(node_id)
            try:
                if state is None:
                    raise UnreadableReply(f"unreadable {phase} reply: it has no 'node' record "
                                          "naming the node")
                parsed = read(phase, reply, reader)
            except UnreadableReply as exc:
                log(WARNING, "[rinr] round %d %s %s: %s", server_round, phase, label, exc)
                self.report.error(server_round, phase, label, str(exc))
                continue
            apply(state, parsed)

    # --- collect ------------------------------------------------------------------------------

    def configure_collect(self, server_round: int, node_ids: Iterable[int]) -> list[Message]:
        """Ask every node for its new frames (and tell it which of its frames the fog has)."""
        messages = []
        for nid in node_ids:
            state = self._state(nid)
            if state is not None:
                state.expect = set(state.held)
            expect = expect_fields(None if state is None else state.expect)
            messages.append(Message(
                RecordDict({"round": round_record(server_round, **expect),
                            **ack_of(state).records()}),
                dst_node_id=nid, message_type="query.collect", group_id=str(server_round)))
        return messages

    def held_of(self, server_round: int, phase: str, state: NodeState, node: NodeReport
                ) -> set[str] | None:
        """The frames a node holds: its list, or the set it confirmed by digest
        (:meth:`rinr_runtime.records.NodeReport.confirmed`); ``None`` (reported as the node's
        error) when it confirmed a set the fog did not ask about."""
        if not node.held_digest:
            return set(node.held)
        if state.expect is not None and node.held_digest == held_digest(state.expect):
            return set(state.expect)
        reason = (f"confirmed holding the frame set {node.held_digest}, which the fog did not "
                  "expect; its frames count as not held until it lists them (next message)")
        log(WARNING, "[rinr] round %d %s %s: %s", server_round, phase, state.key, reason)
        self.report.error(server_round, phase, state.key, reason)
        return None

    def aggregate_collect(self, server_round: int, replies: dict[int, Message]
                          ) -> list[tuple[str, Upload]]:
        """Read the uploads; return the ``(owner, upload)`` pairs the fog does not have yet."""
        record = self.report.round(server_round)
        new: list[tuple[str, Upload]] = []
        seen: set[str] = set()

        def apply(state: NodeState, reply: CollectReply) -> None:
            self.report.set_device(state.key, reply.node.device)
            state.held = self.held_of(server_round, "collect", state, reply.node) or set()
            state.num_val = reply.node.num_val
            count = size = deferred = 0
            for upload in reply.uploads:
                fid = upload.frame_id
                if fid in state.rejected or fid in state.accepted or fid in seen:
                    continue
                if fid in self.catalog:  # the same JPEG from another node: already here
                    state.accepted.append(fid)
                    continue
                if (count + 1 > self.config.max_upload_frames
                        or size + len(upload.jpeg) > self.config.max_upload_bytes):
                    deferred += 1  # not acknowledged: the node uploads it again next round
                    continue
                seen.add(fid)
                new.append((state.key, upload))
                count += 1
                size += len(upload.jpeg)
            if deferred:
                reason = (f"{deferred} frame(s) over this round's max-upload-frames = "
                          f"{self.config.max_upload_frames} or max-upload-bytes = "
                          f"{self.config.max_upload_bytes}; deferred to the next round")
                record.deferred[state.key] = {"frames": deferred, "reason": reason}
                log(INFO, "[rinr] round %d collect %s: %s", server_round, state.key, reason)
            record.collected[state.key] = record.collected.get(state.key, 0) + count
            record.nodes.append(state.key)

        self._each(server_round, "collect", replies, read_collect, apply)
        return new

    # --- placement ----------------------------------------------------------------------------

    def choose_placement(self, server_round: int, uploads: list[tuple[str, Upload]],
                         devices: int) -> str:
        """Ask the placement model once, at the first collect with uploads; return the placement.

        With ``placement = auto`` the model's choice holds from now on (until then the run
        behaves as ``edge``: there is nothing to broadcast); otherwise the configured
        placement stays and the advice is only reported.
        """
        if self.advice is not None or not uploads or devices < 1:
            return self.placement
        auto = self.config.placement == AUTO
        try:
            model = detector_size(self.config) if self.config.train else (0, 0)
            inputs = measured_plan_inputs(self.config, [u for _, u in uploads], devices, model)
            self.advice = recommend(inputs, self.config.codec)
        except RinrError as exc:
            if auto:
                raise
            log(INFO, "[rinr] round %d placement: %s as configured; no advice: %s",
                server_round, self.placement, exc)
            return self.placement
        self.plan_inputs = inputs
        by_time = self.config.placement_criterion == "time" and self.config.train
        if auto and by_time:
            reason = ("placement-criterion = time: round 1 trains at the edges to measure the "
                      "speeds; by bytes the placement model would choose "
                      f"{self.advice.reason}")
        elif auto:
            self.placement = self.advice.placement
            reason = f"the placement model chose {self.advice.reason}"
        else:
            reason = f"set in the run config; the placement model would choose {self.advice.reason}"
        self.report.set_placement(self.config.placement, self.placement, server_round, reason,
                                  self.advice, inputs)
        log(INFO, "[rinr] round %d placement: %s", server_round, reason)
        return self.placement

    def reconsider_placement(self, server_round: int) -> None:
        """After the first round that trained: the placement by time, from that round's speeds.

        :func:`fog.placement.timed_advice` reads the fog encode, edge decode and training
        speeds this round measured. With ``placement = auto`` and ``placement-criterion =
        time`` its choice holds from the next round on; otherwise it is only logged.
        """
        record = self.report.round(server_round)
        if self.timed or self.plan_inputs is None or not record.train:
            return
        self.timed = True
        advice, inputs, rates = timed_advice(self.config, self.plan_inputs, record)
        switch = (self.config.placement == AUTO and self.config.placement_criterion == "time"
                  and advice is not None)
        if not switch:
            log(INFO, "[rinr] round %d placement by time (advice only): %s; %s", server_round,
                advice.reason if advice is not None else "none", rates)
            return
        assert advice is not None
        self.advice, self.placement = advice, advice.placement
        reason = f"the placement model chose by time {advice.reason} ({rates})"
        self.report.set_placement(self.config.placement, self.placement, server_round + 1,
                                  reason, advice, inputs)
        log(INFO, "[rinr] from round %d placement: %s", server_round + 1, reason)

    # --- encode -------------------------------------------------------------------------------

    def encode(self, server_round: int, uploads: list[tuple[str, Upload]]) -> EncodeOutcome:
        """Check and encode new uploads into the catalog (JPEGs only, with fog placement)."""
        relay = self.placement == "fog"
        outcome = self.encoder.encode(uploads, relay=relay)
        record = self.report.round(server_round)
        self.uploads.update({u.frame_id: (owner, u) for owner, u in uploads})
        for entry in outcome.encoded:
            self.catalog[entry.frame_id] = entry
            self.nodes[entry.owner].accepted.append(entry.frame_id)
            self.report.add_frame(entry.frame_id, entry.owner, entry.kind, entry.jpeg_bytes,
                                  entry.metrics, entry.cached)
        for rejection in outcome.rejected:
            self.nodes[rejection.owner].rejected[rejection.frame_id] = rejection.reason
            record.rejected.append({"node": rejection.owner, "frame": rejection.frame_id,
                                    "reason": rejection.reason})
            log(INFO, "[rinr] round %d: refused %s from %s: %s", server_round,
                rejection.frame_id, rejection.owner, rejection.reason)
        record.encoded_now += outcome.encoded_now
        record.cache_hits += outcome.cache_hits
        record.cache_corrupt += outcome.cache_corrupt
        record.encode_seconds += outcome.seconds
        if self.postfilter is not None and not relay:  # trained, or checked for drift
            self.postfilter.observe(server_round, outcome.encoded)
        return outcome

    # --- broadcast ----------------------------------------------------------------------------

    def pending(self, state: NodeState) -> list[EncodedFrame]:
        """Catalog frames ``state``'s node neither holds nor uploaded, in catalog order
        (frames given up on as undeliverable are not sent again)."""
        own = set(state.accepted)
        gone = self.deliveries.undeliverable
        return [e for fid, e in self.catalog.items()
                if fid not in state.held and fid not in own and e.owner != state.key
                and fid not in gone]

    def missing(self) -> dict[str, list[str]]:
        """Shareable frames each live node still lacks (undeliverable ones aside)."""
        lacking = {key: [e.frame_id for e in self.pending(state)]
                   for key, state in self.nodes.items() if key in self.live}
        return self.deliveries.missing(lacking)

    def refresh_broken(self, server_round: int) -> None:
        """Encode afresh, bypassing the cache, every frame a node reported broken."""
        todo = [self.uploads[f] for f in sorted(self.deliveries.take_refresh()) if f in self.uploads]
        if not todo:
            return
        outcome = self.encoder.encode(todo, relay=self.placement == "fog", fresh=True)
        for entry in outcome.encoded:
            self.catalog[entry.frame_id] = entry
        self.report.round(server_round).reencoded += [e.frame_id for e in outcome.encoded]
        log(INFO, "[rinr] round %d: %d frame(s) a node reported broken encoded afresh",
            server_round, len(outcome.encoded))

    def deliveries_for(self, state: NodeState) -> list[Delivery]:
        """The items that bring ``state``'s node every frame it lacks.

        One item per ``.rinr`` or JPEG frame; for a video codec, per stream, the updates
        after what the node holds, or the whole stream (:meth:`fog.streams.Stream.deliveries`).
        With ``post-filter = lut``, first the post-filter when the node lacks it
        (:mod:`fog.postfilter`).
        """
        deliveries: list[Delivery] = ([] if self.postfilter is None
                                      else self.postfilter.deliveries(state.key, state.held))
        streams: list[str] = []
        for e in self.pending(state):
            if e.kind != KIND_RINRS:
                deliveries.append(Delivery(e.frame_id, e.kind, e.data, e.box, e.label, e.owner))
            elif e.stream not in streams:
                streams.append(e.stream)
        for sid in streams:
            stream = self.encoder.streams.streams[sid]  # type: ignore[union-attr]
            deliveries += stream.deliveries(state.held, whole=sid in state.resend)
            state.resend.discard(sid)
        return deliveries

    def configure_broadcast(self, server_round: int, node_ids: Iterable[int]) -> list[Message]:
        """Send each node exactly the frames it lacks, with the ack of its uploads."""
        messages = []
        for nid in node_ids:
            state = self._state(nid)
            if state is None:
                continue
            deliveries = self.deliveries_for(state)
            self._sent[state.key] = [(d.carried, len(d.data)) for d in deliveries]
            state.arriving = brought_ids(deliveries)
            state.expect = state.held | set(state.arriving)
            content = deliveries_to_content(server_round, deliveries, ack_of(state), state.expect)
            messages.append(Message(content, dst_node_id=nid, message_type="query.broadcast",
                                    group_id=str(server_round)))
        return messages

    def jpeg_delta(self, message: Message) -> int:
        """JPEG bytes minus payload bytes of the frames a broadcast message carries."""
        if message.metadata.message_type != "query.broadcast":
            return 0
        return sum(sum(self.catalog[fid].jpeg_bytes for fid in d.carried) - len(d.data)
                   for d in content_to_deliveries(message.content))

    def aggregate_broadcast(self, server_round: int, replies: dict[int, Message]) -> None:
        """Record what each node stored (a delivery counts once it is confirmed)."""
        record = self.report.round(server_round)

        def apply(state: NodeState, node: NodeReport) -> None:
            sent = self._sent.get(state.key, [])
            held = self.held_of(server_round, "broadcast", state, node)
            # confirmed by digest: it stored everything the message brought
            stored_ids = (state.arriving if node.held_digest and held is not None
                          else node.stored)
            stored = set(stored_ids)
            state.held = held if held is not None else set()
            record.delivered[state.key] = [fid for fid in stored_ids
                                           if any(fid in frames for frames, _ in sent)]
            # an item's bytes count once any frame it carries is stored
            record.delivered_bytes[state.key] = sum(size for frames, size in sent
                                                    if stored.intersection(frames))
            record.broken += [{"node": state.key, "frame": fid, "reason": why}
                              for fid, why in zip(node.broken, node.reasons, strict=False)]
            self.live.add(state.key)
            for fid, why in zip(node.broken, node.reasons, strict=False):
                entry = self.catalog.get(fid)
                if entry is not None:
                    self.deliveries.broken(fid, why, re_encodable=not entry.stream)
            # a stream whose item could not be stored is sent whole next time
            state.resend |= {self.catalog[fid].stream for fid in node.broken
                             if fid in self.catalog and self.catalog[fid].stream}

        self.live = set()
        self._each(server_round, "broadcast", replies, read_broadcast, apply)
        self.refresh_broken(server_round)

    # --- train ----------------------------------------------------------------------------------

    @property
    def federated(self) -> bool:
        """Whether the edges' weights are aggregated into one global model."""
        return self.aggregator.federated

    @property
    def global_weights(self) -> list[np.ndarray] | None:
        """The global model (``rinr_runtime.detector.get_weights`` order), if there is one."""
        arrays = self.aggregator.global_arrays
        return record_to_weights(arrays) if arrays is not None else None

    @global_weights.setter
    def global_weights(self, weights: list[np.ndarray] | None) -> None:
        self.aggregator.global_arrays = weights_to_record(weights) if weights is not None else None

    def configure_train(self, server_round: int, node_ids: Iterable[int]) -> list[Message]:
        """Ask every node to fine-tune (from the global model, once a federation has one)."""
        return self.aggregator.train_messages(server_round, node_ids)

    def aggregate_train(self, server_round: int, replies: dict[int, Message]) -> None:
        """Keep each node's metrics; aggregate the returned weights (federated runs).

        Weights that do not have the layout of the global model (in round 1: of the first
        node's weights) make the reply unreadable.
        """
        record = self.report.round(server_round)
        results: list[Result] = []
        expected: list[Layout | None] = [self.aggregator.layout()]
        reported: dict[int, str] = {}  # node -> the weights base it holds now

        def reader(content: RecordDict) -> tuple[TrainReply, str]:
            return (read_train(self.aggregator.decoded(content), expected[0]),
                    read_node_report(content).weights_base)

        def apply(state: NodeState, read: tuple[TrainReply, str]) -> None:
            reply, reported[state.node_id] = read
            record.train[state.key] = reply.metrics
            if self.federated and reply.weights is not None and reply.num_train > 0:
                expected[0] = expected[0] or layout_of(reply.weights)
                results.append(Result(state.node_id, reply.num_train, reply.metrics,
                                      reply.weights))

        self._each(server_round, "train", replies, reader, apply)
        self.aggregator.settle(MessageType.TRAIN, reported)
        metrics = self.aggregator.aggregate_train(server_round, results)
        if metrics is not None:
            record.aggregate["train"] = metrics
        self.reconsider_placement(server_round)

    def train_at_fog(self, server_round: int) -> None:
        """Fine-tune YOLOv8 at the fog on every collected JPEG (``placement = fog``)."""
        from rinr_core.frames import Frame
        from rinr_core.images import load_image
        from rinr_runtime import detector

        frames = [Frame(load_image(e.jpeg), e.box, e.frame_id, e.label)
                  for e in self.catalog.values()]
        if not frames:
            log(INFO, "[rinr] round %d: no frames at the fog yet; not training", server_round)
            return
        # The fog holds no held-out frames (they never leave the edges): Ultralytics needs a
        # val split, so it checks the fit on the training frames; edges measure real accuracy.
        data_yaml = detector.write_dataset(frames, frames, self.workdir / "fog-dataset",
                                       list(self.config.class_names))
        outcome = detector.train(data_yaml, yolo_settings(self.config),
                             init_weights=self.global_weights, workdir=self.workdir / "fog-yolo")
        self.global_weights = outcome.weights
        self.report.round(server_round).train["fog"] = {
            **{k: v for k, v in outcome.metrics.items() if not k.startswith("map")},
            "num_train": len(frames),
        }
        self.reconsider_placement(server_round)

    # --- evaluate -------------------------------------------------------------------------------

    def wants_evaluate(self) -> bool:
        """Whether there is a global model to evaluate on the edges."""
        return self.config.train and self.aggregator.global_arrays is not None and (
            self.federated or self.placement == "fog")

    def configure_evaluate(self, server_round: int, node_ids: Iterable[int]) -> list[Message]:
        """Send the global weights to every node for evaluation on its held-out frames."""
        return self.aggregator.evaluate_messages(server_round, node_ids)

    def aggregate_evaluate(self, server_round: int, replies: dict[int, Message]) -> None:
        """Keep each node's metrics of the global model, and their average (Flower's strategy)."""
        record = self.report.round(server_round)
        results: list[Result] = []
        reported: dict[int, str] = {}  # node -> the weights base it holds now

        def reader(content: RecordDict) -> tuple[EvaluateReply, str]:
            return read_evaluate(content), read_node_report(content).weights_base

        def apply(state: NodeState, read: tuple[EvaluateReply, str]) -> None:
            reply, reported[state.node_id] = read
            record.evaluate[state.key] = reply.metrics
            if reply.num_val > 0:
                results.append(Result(state.node_id, reply.num_val, reply.metrics))

        self._each(server_round, "evaluate", replies, reader, apply)
        self.aggregator.settle(MessageType.EVALUATE, reported)
        metrics = self.aggregator.aggregate_evaluate(server_round, results)
        if metrics is not None:
            record.aggregate["evaluate"] = metrics
