"""The edge ClientApp: Flower handlers that turn fog messages into :class:`~edge.node.EdgeNode` calls.

Handlers (message type -> handler):

- ``query.collect``: upload the node's new frames (JPEG + box + class).
- ``query.broadcast``: store the delivered INRs (or relayed JPEGs) that are intact.
- ``train``: decode everything held, fine-tune YOLOv8 (from the fog's global model when it
  sends one; with FedProx's ``proximal-mu`` in the ``"round"`` config, with the proximal
  term), evaluate on held-out original JPEGs; return metrics (and weights when the fog asks
  for them: a federated ``aggregation``).
- ``evaluate``: evaluate the fog's global weights on the held-out original JPEGs.

Weights in and out go through the node's :class:`rinr_runtime.weight_link.EdgeWeights`
(``weight-codec``): a weight message is decoded against the model the node holds (a damaged
one is refused: an error reply, and the fog resyncs), and trained weights go back as a delta
with error feedback.

Every reply carries the node's report (``"node"``: its key and the frames it holds), which is
how the fog knows what to send it next. Collect and broadcast replies confirm the held set the
fog's message expected by its digest instead of listing it, and list it in full only when it
differs (:meth:`rinr_runtime.records.NodeReport.confirmed`). An exception in a handler becomes
an error reply that the fog logs and skips; the node's state on disk is unchanged by a failed
step.

On the Deployment Engine a SuperNode may set its own ``data``, ``device`` and ``edge-dir``
with ``flower-supernode --node-config`` (see :func:`node_of`).
"""

from __future__ import annotations

import dataclasses

from flwr.app import Context, Message, RecordDict
from flwr.clientapp import ClientApp

from edge.chaos import maybe_fail
from edge.node import EdgeNode
from rinr_runtime.config import node_run_config
from rinr_runtime.records import (
    brought_ids,
    content_to_deliveries,
    expected_held,
    metrics_to_record,
    read_ack,
    read_round,
    uploads_to_content,
)
from rinr_runtime.weight_link import BASES_KEY

app = ClientApp()


def node_of(context: Context) -> EdgeNode:
    """The edge node of ``context``, with the SuperNode's own settings from its ``node_config``.

    ``data``, ``device`` and ``edge-dir`` in ``node_config`` (``flower-supernode --node-config``)
    override the run's values. A node given its own ``data`` folder (its camera's frames) uses
    all of that folder's frames: it is not split with other nodes by partition id.
    """
    local = dataclasses.replace(
        context, run_config=node_run_config(context.run_config, context.node_config))
    node = EdgeNode.from_context(local)
    if str(context.node_config.get("data", "")).strip():
        node.partition_id, node.num_partitions = 0, 1
    return node


def _round(msg: Message) -> int:
    return int(read_round(msg.content)["round"])


def _node(msg: Message, context: Context) -> EdgeNode:
    """The node for this message (and, in soak tests only, an injected fault: ``chaos-rate``)."""
    node = node_of(context)
    maybe_fail(node.config, node.key, _round(msg), msg.metadata.message_type)
    return node


@app.query("collect")
def collect(msg: Message, context: Context) -> Message:
    """Reply with the node's frames that the fog does not have yet."""
    node = _node(msg, context)
    server_round = _round(msg)
    uploads = node.collect(server_round, read_ack(msg.content))
    report = node.report(server_round).confirmed(expected_held(msg.content))
    return Message(uploads_to_content(uploads, report), reply_to=msg)


@app.query("broadcast")
def broadcast(msg: Message, context: Context) -> Message:
    """Store the delivered frames; reply with what was stored and what is held."""
    node = _node(msg, context)
    server_round = _round(msg)
    deliveries = content_to_deliveries(msg.content)
    report = node.receive(server_round, deliveries, read_ack(msg.content))
    report = report.confirmed(expected_held(msg.content), brought_ids(deliveries))
    return Message(RecordDict({"node": report.to_record()}), reply_to=msg)


@app.train()
def train(msg: Message, context: Context) -> Message:
    """Fine-tune on own + received frames; reply with metrics (and weights when asked)."""
    node = _node(msg, context)
    server_round = _round(msg)
    records = msg.content.array_records
    init = node.weights.receive(records["weights"]) if "weights" in records else None
    settings = read_round(msg.content)
    mu = float(settings.get("proximal-mu", 0.0))  # sent by Flower's FedProx
    metrics, weights = node.train(server_round, init, proximal_mu=mu)
    content = RecordDict({"metrics": metrics_to_record(metrics)})
    if weights is not None and bool(settings.get("return-weights", False)):
        bases = settings.get(BASES_KEY, [])
        content["weights"] = node.weights.reply(
            weights, [str(b) for b in bases] if isinstance(bases, list) else [])
    # after reply: the weight bases it holds; the fog reads held frames only from collect and
    # broadcast replies, so this one does not list them
    content["node"] = node.report(server_round, with_held=False).to_record()
    return Message(content, reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """Evaluate the fog's weights on the node's held-out original JPEGs."""
    node = _node(msg, context)
    server_round = _round(msg)
    metrics = node.evaluate(server_round, node.weights.receive(msg.content.array_records["weights"]))
    content = RecordDict({"metrics": metrics_to_record(metrics),
                          "node": node.report(server_round, with_held=False).to_record()})
    return Message(content, reply_to=msg)
