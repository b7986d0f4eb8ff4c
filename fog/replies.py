"""Reading the edges' replies: the one place where a malformed reply is the node's fault.

Every hook of :class:`fog.strategy.RinrStrategy` reads each reply with one of the readers
here before it changes any state. A reader only parses the reply's records (with
:mod:`rinr_runtime.records`); whatever parsing raises for malformed content (a missing record
or field: ``KeyError``; a value of the wrong type: ``TypeError``/``ValueError``; lists that
disagree: ``BadFrameError``/``PayloadError``) becomes :class:`UnreadableReply`, which the
strategy reports against the node and skips. Everything after reading is the fog's own
logic: its exceptions are not caught, so a fog bug fails the run instead of being blamed on
a node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from flwr.app import ArrayRecord, Message, RecordDict

from rinr_core.errors import RinrError
from rinr_runtime.records import NodeReport, Upload, content_to_uploads, read_node_report

T = TypeVar("T")

MALFORMED = (KeyError, TypeError, ValueError, RinrError)
"""What parsing a reply's records raises when the content is malformed."""


class UnreadableReply(RinrError):
    """A reply the fog cannot read: the node's fault; it is reported and skipped."""


def read(phase: str, reply: Message, reader: Callable[[RecordDict], T]) -> T:
    """``reader(reply.content)``; a malformed reply raises :class:`UnreadableReply`.

    Raises
    ------
    UnreadableReply
        ``reader`` raised one of :data:`MALFORMED`; the message names the phase and the cause.
    """
    try:
        return reader(reply.content)
    except MALFORMED as exc:
        raise UnreadableReply(f"unreadable {phase} reply: {type(exc).__name__}: {exc}") from exc


def reply_key(reply: Message) -> str | None:
    """The node key a reply's ``"node"`` record names (``None``: no key; never raises)."""
    if reply.has_error():
        return None
    record = reply.content.config_records.get("node")
    key = record.get("key") if record is not None else None
    return key if isinstance(key, str) and key else None


@dataclass
class CollectReply:
    """A collect reply: the node's report and its uploads."""

    node: NodeReport
    uploads: list[Upload]


def read_collect(content: RecordDict) -> CollectReply:
    """Read a collect reply."""
    return CollectReply(read_node_report(content), content_to_uploads(content))


def read_broadcast(content: RecordDict) -> NodeReport:
    """Read a broadcast reply (what the node stored, what it holds)."""
    return read_node_report(content)


def _metrics(content: RecordDict) -> dict[str, float | int]:
    """The ``"metrics"`` record as numbers (a list value is malformed)."""
    metrics = dict(content.metric_records["metrics"])
    bad = sorted(k for k, v in metrics.items() if isinstance(v, list))
    if bad:
        raise TypeError(f"metrics {bad} are lists; each metric must be one number")
    return metrics


@dataclass
class TrainReply:
    """A train reply: the node's metrics, its training frames and its weights (if sent)."""

    metrics: dict[str, float | int]
    num_train: int
    weights: ArrayRecord | None


def read_train(content: RecordDict, layout: dict[str, tuple[int, ...]] | None = None
               ) -> TrainReply:
    """Read a train reply; weights must be finite and, given ``layout``, of that layout.

    Raises
    ------
    ValueError
        The weights hold NaN or infinite values, or do not have the names and shapes of
        ``layout`` (the global model's).
    """
    metrics = _metrics(content)
    weights = content.array_records.get("weights")
    if weights is not None:
        shapes = {name: tuple(array.shape) for name, array in weights.items()}
        if layout is not None and shapes != layout:
            raise ValueError(f"its {len(shapes)} weight arrays do not match the global model's "
                             f"{len(layout)} (names or shapes differ); every node must build "
                             "the same model YAML with the same class-names")
        broken = [name for name, array in weights.items() if not np.all(np.isfinite(array.numpy()))]
        if broken:
            raise ValueError(f"weight arrays {broken[:5]} hold NaN or infinite values")
    return TrainReply(metrics, int(metrics.get("num_train", 0)), weights)


@dataclass
class EvaluateReply:
    """An evaluate reply: the global model's metrics on the node's held-out frames."""

    metrics: dict[str, float | int]
    num_val: int


def read_evaluate(content: RecordDict) -> EvaluateReply:
    """Read an evaluate reply."""
    metrics = _metrics(content)
    return EvaluateReply(metrics, int(metrics.get("num_val", 0)))
