"""What an edge node does for each fog message: upload, store, train, evaluate.

:class:`EdgeNode` is the ClientApp's logic without Flower records (``edge/client_app.py``
converts). Everything it keeps lives on disk in a :class:`~edge.store.NodeStore` keyed by run
and partition id, so it works whether the node's process lives for the whole run (simulation)
or is started afresh for every message (Deployment Engine).

Training set of a round: the node's own captured frames that are not held out (decoded from
their JPEGs, as the camera delivered them) plus every frame received from other nodes,
decoded from its INR (grouped decoding, on the GPU when present), from its node's ``.rinrs``
stream (video codecs: a stream's frames in one batched call) or, with ``codec = jpeg``, from
the relayed JPEG. Validation set: the node's own held-out frames, decoded from their
original JPEGs; they never leave the node.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from logging import INFO
from pathlib import Path

import numpy as np
from flwr.app import Context
from flwr.common.logger import log

from edge.data import NodeFrames, class_of, load_node_frames
from edge.postfilter import apply_post_filter, split_post_filter
from edge.store import NodeStore, StoredItem
from rinr_core.codecs import get_container
from rinr_core.devices import describe_device, resolve_device
from rinr_core.errors import BadFrameError, ConfigError, PayloadError
from rinr_core.frames import Frame
from rinr_runtime.config import RuntimeConfig, resolve_path, yolo_settings
from rinr_runtime.records import Ack, Delivery, NodeReport, Upload
from rinr_runtime.weight_link import EdgeWeights, initial_model


def node_key(context: Context) -> str:
    """The node's stable name: ``p<partition id>`` when it has one, else ``n<node id>``."""
    if "partition-id" in context.node_config:
        return f"p{int(context.node_config['partition-id'])}"
    return f"n{context.node_id}"


@dataclass
class Decoded:
    """Frames decoded from the store, and the ones that could not be decoded (with reasons)."""

    frames: list[Frame]
    broken: dict[str, str]
    seconds: float


class EdgeNode:
    """One edge node's behaviour (see the module docstring)."""

    def __init__(self, config: RuntimeConfig, key: str, partition_id: int, num_partitions: int,
                 root: Path) -> None:
        self.config = config
        self.key = key
        self.partition_id = partition_id
        self.num_partitions = num_partitions
        self.store = NodeStore(root)
        self._frames: NodeFrames | None = None
        # the device named in the run config, or cuda when present; CUDA asked for but not
        # visible raises DeviceUnavailableError here: the node refuses the work, never
        # silently decoding and training on the CPU
        self.device = describe_device(resolve_device(config.torch_device))
        # the global model it holds (base of weight deltas) and its upload residual
        self.weights = EdgeWeights(
            self.store.root / "weights", config.weight_codec, config.weight_bits,
            initial=partial(initial_model, config.model, config.class_names, config.seed))

    @classmethod
    def from_context(cls, context: Context) -> EdgeNode:
        """The node of a ClientApp ``Context`` (run_config, partition id, run id)."""
        config = RuntimeConfig.from_run_config(context.run_config)
        key = node_key(context)
        partition_id = int(context.node_config.get("partition-id", 0))
        num_partitions = int(context.node_config.get("num-partitions", 1))
        root = resolve_path(config.edge_dir) / f"run-{context.run_id}" / f"node-{key}"
        return cls(config, key, partition_id, num_partitions, root)

    @property
    def frames(self) -> NodeFrames:
        """The node's own frames (loaded on first use)."""
        if self._frames is None:
            self._frames = load_node_frames(self.config, self.partition_id, self.num_partitions)
        return self._frames

    def report(self, server_round: int, *, with_held: bool = True,
               **fields: list[str]) -> NodeReport:
        """The node's report for a reply: what it holds, how many frames it has.

        ``with_held=False`` leaves out the held frame ids (train and evaluate replies: the
        fog reads them from collect and broadcast replies only, and the list grows with
        every frame the node holds).
        """
        per_round = self.config.frames_per_round
        return NodeReport(
            key=self.key, held=self.store.held_ids() if with_held else [],
            num_own=len(self.frames.captured(server_round, per_round)),
            num_val=len(self.frames.val_frames(server_round, per_round)), device=self.device,
            weights_base=self.weights.held_id(), **fields,
        )

    # --- collect and receive -----------------------------------------------------------------

    def collect(self, server_round: int, ack: Ack | None) -> list[Upload]:
        """New shareable frames the fog has not acknowledged yet (held-out ones never leave)."""
        if ack is not None:
            self.store.record_ack(ack)
        done = self.store.acked()
        own = self.frames.train_frames(server_round, self.config.frames_per_round)
        uploads = [f.to_upload() for f in own if f.frame_id not in done]
        log(INFO, "[rinr] %s round %d: uploading %d new frame(s)", self.key, server_round,
            len(uploads))
        return uploads

    def receive(self, server_round: int, deliveries: list[Delivery], ack: Ack | None
                ) -> NodeReport:
        """Store the deliveries that are intact; report what was stored and what was broken."""
        if ack is not None:
            self.store.record_ack(ack)
        good, broken, reasons, streamed = [], [], [], []
        for delivery in deliveries:
            try:
                if _is_stream(delivery.kind):
                    streamed += self.store.add_stream(delivery, server_round)
                    continue
                _check_delivery(delivery)
                good.append(delivery)
            except (PayloadError, BadFrameError) as exc:
                ids = delivery.held_ids
                broken += ids
                reasons += [str(exc)] * len(ids)
        stored = self.store.add(good, server_round) + streamed
        log(INFO, "[rinr] %s round %d: stored %d frame(s), %d broken", self.key, server_round,
            len(stored), len(broken))
        return self.report(server_round, stored=stored, broken=broken, reasons=reasons)

    # --- datasets ------------------------------------------------------------------------------

    def decode_received(self) -> Decoded:
        """Decode every stored frame: INRs in groups (one batched call; streams one call
        each), JPEGs one by one; then the post-filter the fog sent, if any (``edge.postfilter``)."""
        start = time.perf_counter()
        lut, items = split_post_filter(self.store, self.store.items())
        broken: dict[str, str] = {}
        frames: list[Frame] = []
        groups: dict[str, list[tuple[StoredItem, bytes, str]]] = {}  # payload format -> items
        streams: dict[str, list[tuple[StoredItem, str]]] = {}
        for item in items:
            label = class_of(item.label, self.config.class_names)
            if label is None:
                broken[item.frame_id] = f"label {item.label!r} is not in class-names"
                continue
            if _is_stream(item.kind):
                streams.setdefault(item.stream, []).append((item, label))
                continue
            try:
                data = self.store.read(item)
                get_container(item.kind).check(data)  # a broken payload is skipped here
                groups.setdefault(item.kind, []).append((item, data, label))
            except (OSError, PayloadError, BadFrameError, ConfigError) as exc:
                broken[item.frame_id] = str(exc)
        for kind, members in groups.items():
            frames += self._decode_group(kind, members, broken)
        for stream, members in streams.items():
            frames += self._decode_stream(stream, members, broken)
        return Decoded(apply_post_filter(lut, frames), broken, time.perf_counter() - start)

    def _decode_group(self, kind: str, members: list[tuple[StoredItem, bytes, str]],
                      broken: dict[str, str]) -> list[Frame]:
        """Frames of one payload format, decoded in one grouped call (INRs batched)."""
        container = get_container(kind)
        images = container.decode([data for _, data, _ in members], self.config.torch_device)
        out = []
        for (item, data, label), image in zip(members, images, strict=True):
            box = container.box_of(data) if container.box_of else item.box
            try:
                out.append(Frame(image, box, item.frame_id, label))
            except BadFrameError as exc:
                broken[item.frame_id] = str(exc)
        return out

    def _decode_stream(self, stream: str, members: list[tuple[StoredItem, str]],
                       broken: dict[str, str]) -> list[Frame]:
        """Frames of one stored stream, decoded together by its payload format (NeRV or
        grid, told apart by its magic number); on failure all are broken."""
        try:
            data = self.store.stream_path(stream).read_bytes()
            decode_frames = get_container(members[0][0].kind).decode_frames
            if decode_frames is None:
                raise PayloadError(f"payload format {members[0][0].kind!r} is not a stream format")
            images = decode_frames(data, [item.index for item, _ in members],
                                   self.config.torch_device)
        except (OSError, PayloadError, ConfigError) as exc:
            broken.update({item.frame_id: f"stream {stream}: {exc}" for item, _ in members})
            return []
        return [Frame(image, item.box, item.frame_id, label)
                for (item, label), image in zip(members, images, strict=True)]

    def _own(self, server_round: int, held_out: bool) -> list[Frame]:
        per_round = self.config.frames_per_round
        chosen = (self.frames.val_frames if held_out else self.frames.train_frames)(
            server_round, per_round)
        return [f.to_frame() for f in chosen]

    # --- train and evaluate ------------------------------------------------------------------

    def train(self, server_round: int, init_weights: list[np.ndarray] | None,
              proximal_mu: float = 0.0
              ) -> tuple[dict[str, float | int], list[np.ndarray] | None]:
        """Fine-tune YOLOv8 on own + received frames; metrics on the held-out original JPEGs.

        Starts from ``init_weights`` (the fog's global model) when given, else from the node's
        own model of the previous round, else from the model YAML. With ``proximal_mu > 0``
        (FedProx) and a global model, the loss gets ``proximal_mu/2 ||w - w_global||^2``; the
        metrics say which mu was applied (``proximal_mu``). Returns the metrics and the new
        weights (``None`` when there was nothing to train on).
        """
        from rinr_runtime import detector

        decoded = self.decode_received()
        train = self._own(server_round, held_out=False) + decoded.frames
        val = self._own(server_round, held_out=True)
        mu = proximal_mu if init_weights is not None else 0.0  # no global model: nothing to pull to
        counts = {"num_own": len(train) - len(decoded.frames), "num_received": len(decoded.frames),
                  "num_broken": len(decoded.broken), "decode_seconds": decoded.seconds,
                  "proximal_mu": mu}
        if not train or not val:
            log(INFO, "[rinr] %s round %d: %d train / %d val frames; not training", self.key,
                server_round, len(train), len(val))
            return {**counts, "num_train": len(train), "num_val": len(val), "trained": 0}, None
        data_yaml = detector.write_dataset(train, val, self.store.dataset_dir,
                                       list(self.config.class_names))
        start = init_weights if init_weights is not None else self.store.load_weights()
        forward = (detector.ForwardSettings(directions=self.config.fg_directions,
                                            bits=self.config.fg_bits, seed=self.config.seed)
                   if self.config.edge_training == "forward-gradient" else None)
        outcome = detector.train(data_yaml, yolo_settings(self.config), init_weights=start,
                                 workdir=self.store.yolo_dir, proximal_mu=mu,
                                 trainable=self.config.trainable, forward=forward)
        self.store.save_weights(outcome.weights)
        metrics = {**counts, **outcome.metrics, "trained": 1}
        log(INFO, "[rinr] %s round %d: trained on %d frames (%d received): mAP50 %.3f "
            "mAP50-95 %.3f", self.key, server_round, len(train), len(decoded.frames),
            metrics["map50"], metrics["map50_95"])
        return metrics, outcome.weights

    def evaluate(self, server_round: int, weights: list[np.ndarray]) -> dict[str, float | int]:
        """mAP of ``weights`` on the node's held-out original JPEGs."""
        from rinr_runtime import detector

        val = self._own(server_round, held_out=True)
        if not val:
            return {"num_val": 0}
        settings = yolo_settings(self.config)
        model = detector.build_model(settings, list(self.config.class_names))
        detector.set_weights(model, weights)
        folder = self.store.root / "eval-dataset"
        data_yaml = detector.write_dataset(val, val, folder, list(self.config.class_names))
        metrics = detector.evaluate(model, data_yaml, settings, workdir=folder)
        log(INFO, "[rinr] %s round %d: global model mAP50 %.3f mAP50-95 %.3f", self.key,
            server_round, metrics["map50"], metrics["map50_95"])
        return {**metrics, "num_val": len(val)}


def _is_stream(kind: str) -> bool:
    """Whether items of this payload format are stream segments (stored merged)."""
    try:
        return get_container(kind).stream
    except ConfigError:
        return False  # refused by _check_delivery with the reason


def _check_delivery(delivery: Delivery) -> None:
    """Raise PayloadError/BadFrameError when a delivery cannot be decoded later."""
    try:
        container = get_container(delivery.kind)
    except ConfigError as exc:
        raise PayloadError(f"item {delivery.frame_id}: {exc}") from None
    container.check(delivery.data)
