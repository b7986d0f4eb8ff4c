"""The train and evaluate phases' aggregation, done by Flower's own strategies.

:class:`fog.strategy.RinrStrategy` runs the rounds; its collect and broadcast phases are the
runtime's own, but for ``train`` and ``evaluate`` it hands over to a strategy of
``flwr.serverapp.strategy``, chosen by the ``aggregation`` key of the run config
(:data:`STRATEGIES`):

- ``fedavg``: ``FedAvg``, the mean of the edges' weights weighted by their training frames;
- ``fedprox``: ``FedProx``, FedAvg at the fog; its ``configure_train`` sends ``proximal-mu``
  and every edge adds ``mu/2 ||w - w_global||^2`` to its YOLOv8 loss
  (:func:`rinr_runtime.detector.train`);
- ``fedavgm``: ``FedAvgM``, FedAvg with server momentum :data:`SERVER_MOMENTUM` at server
  learning rate :data:`FEDAVGM_LR` (an effective step of ``lr / (1 - momentum) = 1``);
- ``fedadam``, ``fedyogi``, ``fedadagrad``: the server-side adaptive optimizers, with
  ``eta =`` :data:`SERVER_ETA` and ``tau =`` :data:`SERVER_TAU` (Flower's default
  ``eta = 0.1`` moves every YOLOv8 weight by about 0.06 per round: far too much).

Conventions are Flower's: a train message carries the global model as an ArrayRecord
(``"weights"``) and a ConfigRecord (``"round"``: the runtime's round number and flags, plus
Flower's ``server-round`` and, with FedProx, ``proximal-mu``); every edge reply is read by
:mod:`fog.replies`, then handed to the Flower strategy as a Flower-shaped reply (one
ArrayRecord, one MetricRecord weighted by ``num-examples``: the node's training frames, or
its held-out frames in ``evaluate``). Server-side optimizers keep their state between rounds
and get the previous global ArrayRecord from ``configure_train``, as in ``Strategy.start``.

Round 1 has no global model yet: the fog sends no weights (as the placement model in
:mod:`rinr_runtime.planning` counts them), every edge starts from the same seeded model YAML,
a plain ``FedAvg`` averages the replies, and that average is the first global model. From
round 2 on the configured strategy runs, with the global model in every train message. With ``independent`` nothing
is aggregated at training; a ``FedAvg`` only averages the evaluate metrics (fog placement).

Weight codec (``weight-codec``): Flower's strategies only ever see float32 arrays. Every
weight message leaving the fog is encoded for its node after ``configure_*``
(:class:`rinr_runtime.weight_link.FogWeights`: a delta against what the node holds, or full
weights), and every reply's weights are decoded (:meth:`Aggregator.decoded`) before
``aggregate_train``; with ``fp32`` both are the identity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from flwr.app import (
    Array,
    ArrayRecord,
    ConfigRecord,
    Message,
    MessageType,
    MetricRecord,
    RecordDict,
)
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAdagrad, FedAdam, FedAvg, FedAvgM, FedProx, FedYogi

from rinr_core.errors import RinrError
from rinr_runtime.config import RuntimeConfig
from rinr_runtime.flower_compat import Run
from rinr_runtime.records import round_record
from rinr_runtime.weight_link import BASES_KEY, FogWeights, initial_model

INDEPENDENT = "independent"
WEIGHTS = "weights"
"""Name of the ArrayRecord with the YOLO weights (``arrayrecord_key`` of the strategies)."""
ROUND = "round"
"""Name of the ConfigRecord of every fog message (``configrecord_key`` of the strategies)."""
NUM_EXAMPLES = "num-examples"
"""Flower's weighting key (``weighted_by_key``) in the MetricRecord of a reply."""
SERVER_ETA = 1e-2
SERVER_TAU = 1e-3
FEDAVGM_LR = 0.1
SERVER_MOMENTUM = 0.9

Layout = dict[str, tuple[int, ...]]
"""Array name -> shape of a weights ArrayRecord."""


def _common() -> dict[str, object]:
    """Settings every strategy shares: all the nodes the fog asks, the runtime's record names."""
    return {"fraction_train": 1.0, "fraction_evaluate": 1.0, "min_train_nodes": 0,
            "min_evaluate_nodes": 0, "min_available_nodes": 0, "weighted_by_key": NUM_EXAMPLES,
            "arrayrecord_key": WEIGHTS, "configrecord_key": ROUND}


STRATEGIES: dict[str, Callable[[RuntimeConfig], FedAvg]] = {
    "fedavg": lambda config: FedAvg(**_common()),
    "fedprox": lambda config: FedProx(**_common(), proximal_mu=config.proximal_mu),
    "fedavgm": lambda config: FedAvgM(**_common(), server_learning_rate=FEDAVGM_LR,
                                      server_momentum=SERVER_MOMENTUM),
    "fedadam": lambda config: FedAdam(**_common(), eta=SERVER_ETA, tau=SERVER_TAU),
    "fedyogi": lambda config: FedYogi(**_common(), eta=SERVER_ETA, tau=SERVER_TAU),
    "fedadagrad": lambda config: FedAdagrad(**_common(), eta=SERVER_ETA, tau=SERVER_TAU),
}
"""``aggregation`` name -> the Flower strategy it runs (``independent``: none)."""


def flower_strategy(config: RuntimeConfig) -> FedAvg:
    """The Flower strategy of ``config.aggregation`` (``FedAvg`` for ``independent``).

    Raises
    ------
    RinrError
        ``config.aggregation`` names no strategy here (a name added to
        ``rinr_runtime.planning.AGGREGATIONS`` without one in :data:`STRATEGIES`).
    """
    if config.aggregation == INDEPENDENT:
        return FedAvg(**_common())
    if config.aggregation not in STRATEGIES:
        raise RinrError(f"aggregation {config.aggregation!r} has no Flower strategy in "
                        f"fog.aggregation.STRATEGIES; use one of {sorted(STRATEGIES)}")
    return STRATEGIES[config.aggregation](config)


class NodeView(Grid):
    """A Grid that only lists the given nodes: Flower's ``configure_*`` samples from it.

    Flower's strategies pick their nodes with ``grid.get_node_ids()``; the fog has already
    chosen them (the nodes that answered this round's collect), so the strategy sees exactly
    those. It sends nothing: :mod:`fog.server_app` moves every message.
    """

    def __init__(self, node_ids: Iterable[int]) -> None:
        self._node_ids = sorted(node_ids)

    def get_node_ids(self) -> Iterable[int]:
        """The given node ids."""
        return list(self._node_ids)

    def _refuse(self) -> RinrError:
        return RinrError("NodeView only lists nodes for a Flower strategy; send messages "
                         "through the ServerApp's Grid")

    def set_run(self, run: Run) -> None:
        """Not supported (raises)."""
        raise self._refuse()

    @property
    def run(self) -> Run:
        """Not supported (raises)."""
        raise self._refuse()

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int,
                       group_id: str, ttl: float | None = None) -> Message:
        """Not supported (raises)."""
        raise self._refuse()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Not supported (raises)."""
        raise self._refuse()

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        """Not supported (raises)."""
        raise self._refuse()

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None
                         ) -> Iterable[Message]:
        """Not supported (raises)."""
        raise self._refuse()


@dataclass
class Result:
    """One node's readable reply, as the aggregation needs it.

    Attributes
    ----------
    node_id
        The node that replied.
    num_examples
        Its training frames (train) or held-out frames (evaluate): the averaging weight.
    metrics
        Its numeric metrics.
    weights
        Its trained weights (train replies only).
    """

    node_id: int
    num_examples: int
    metrics: Mapping[str, float | int] = field(default_factory=dict)
    weights: ArrayRecord | None = None


def layout_of(arrays: ArrayRecord) -> Layout:
    """The names and shapes of a weights ArrayRecord."""
    return {name: tuple(array.shape) for name, array in arrays.items()}


def as_float32(arrays: ArrayRecord) -> ArrayRecord:
    """``arrays`` as ``float32`` (server optimizers compute in float64; weights travel as float32)."""
    return ArrayRecord({name: Array(np.ascontiguousarray(array.numpy(), dtype=np.float32))
                        for name, array in arrays.items()})


class Aggregator:
    """The Flower strategy of the run, and the global model it aggregates (module docstring)."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.name = config.aggregation
        self.federated = config.aggregation != INDEPENDENT
        self.strategy = flower_strategy(config)
        self.first = FedAvg(**_common())  # round 1: no global model to start from
        self.global_arrays: ArrayRecord | None = None
        self._requests: dict[tuple[str, int], Message] = {}
        self._from_global = False
        initial = partial(initial_model, config.model, config.class_names, config.seed)
        self.link = FogWeights(config.weight_codec, config.weight_bits,
                               initial=initial if self.federated else None)
        self._asked: dict[str, list[int]] = {}  # message type -> nodes sent weights or asked

    def layout(self) -> Layout | None:
        """Names and shapes of the global model's arrays (``None``: no global model yet)."""
        return layout_of(self.global_arrays) if self.global_arrays is not None else None

    def _sent(self, messages: Iterable[Message], server_round: int) -> list[Message]:
        """Flower's messages with the round as group id, in node order; kept for the replies.

        The weights of each message are encoded for its node (weight codec); a train message
        that asks for weights lists the bases the node's reply may be a delta against.
        """
        out = []
        for message in sorted(messages, key=lambda m: m.metadata.dst_node_id):
            content = RecordDict(dict(message.content.items()))
            node_id = message.metadata.dst_node_id
            kind = message.metadata.message_type
            if WEIGHTS in content.array_records:
                content[WEIGHTS] = self.link.for_node(node_id, content.array_records[WEIGHTS])
            round_config = content.config_records[ROUND]
            if self.link.messages and bool(round_config.get("return-weights", False)):
                content[ROUND] = ConfigRecord({**round_config,
                                               BASES_KEY: self.link.uplink_bases(node_id)})
            if WEIGHTS in content.array_records or kind == MessageType.TRAIN:
                self._asked.setdefault(kind, []).append(node_id)
            out.append(Message(content, dst_node_id=node_id, message_type=message.metadata.message_type,
                               group_id=str(server_round)))
            self._requests[(out[-1].metadata.message_type, node_id)] = out[-1]
        return out

    def train_messages(self, server_round: int, node_ids: Iterable[int]) -> list[Message]:
        """The train messages: Flower's ``configure_train`` once there is a global model."""
        self._asked[MessageType.TRAIN] = []
        config = round_record(server_round, **{"return-weights": self.federated})
        nodes = NodeView(node_ids)
        self._from_global = self.federated and self.global_arrays is not None
        if self._from_global:
            assert self.global_arrays is not None
            return self._sent(self.strategy.configure_train(server_round, self.global_arrays,
                                                            config, nodes), server_round)
        return self._sent([Message(RecordDict({ROUND: config}), dst_node_id=nid,
                                   message_type=MessageType.TRAIN)
                           for nid in nodes.get_node_ids()], server_round)

    def evaluate_messages(self, server_round: int, node_ids: Iterable[int]) -> list[Message]:
        """The evaluate messages of Flower's ``configure_evaluate`` (the global model)."""
        if self.global_arrays is None:
            raise RinrError("no global model to evaluate yet; train first")
        self._asked[MessageType.EVALUATE] = []
        return self._sent(self.strategy.configure_evaluate(
            server_round, self.global_arrays, round_record(server_round), NodeView(node_ids)),
            server_round)

    def decoded(self, content: RecordDict) -> RecordDict:
        """``content`` with its weights (a weight message) decoded to float32 arrays.

        Raises
        ------
        PayloadError
            The weights cannot be decoded (the reply is unreadable).
        """
        if WEIGHTS not in content.array_records or not self.link.messages:
            return content
        out = RecordDict(dict(content.items()))
        out[WEIGHTS] = self.link.decode(content.array_records[WEIGHTS])
        return out

    def settle(self, message_type: str, reported: Mapping[int, str]) -> None:
        """After a phase: the base each readable reply names is what its node holds; nodes
        that were sent weights but gave no readable reply get full weights next time."""
        self.link.settle(self._asked.pop(message_type, []), dict(reported))

    def _replies(self, message_type: str, results: list[Result]) -> list[Message]:
        """Each result as a reply the way Flower's strategies expect it (module docstring)."""
        shared = set.intersection(*(set(r.metrics) for r in results)) - {NUM_EXAMPLES}
        replies = []
        for result in results:
            content = RecordDict({"metrics": MetricRecord(
                {NUM_EXAMPLES: result.num_examples,
                 **{k: v for k, v in result.metrics.items() if k in shared}})})
            if result.weights is not None:
                content[WEIGHTS] = result.weights
            replies.append(Message(content, reply_to=self._requests[(message_type,
                                                                       result.node_id)]))
        return replies

    def aggregate_train(self, server_round: int, results: list[Result]) -> dict[str, float] | None:
        """Aggregate the trained weights into the new global model; return the mean metrics.

        ``results`` must all carry weights of one layout (see :meth:`layout`).
        """
        if not self.federated or not results:
            return None
        strategy = self.strategy if self._from_global else self.first
        arrays, metrics = strategy.aggregate_train(server_round,
                                                   self._replies(MessageType.TRAIN, results))
        if arrays is not None:
            self.global_arrays = as_float32(arrays)
        return dict(metrics) if metrics is not None else None

    def aggregate_evaluate(self, server_round: int, results: list[Result]
                           ) -> dict[str, float] | None:
        """The metrics of the global model, averaged over the nodes by their held-out frames."""
        if not results:
            return None
        metrics = self.strategy.aggregate_evaluate(server_round,
                                                   self._replies(MessageType.EVALUATE, results))
        return dict(metrics) if metrics is not None else None

