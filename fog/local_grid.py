"""A synchronous, in-process Grid: runs a ServerApp against a ClientApp with no Ray, no network.

For tests and debugging. Each pushed message is handed straight to the ClientApp with that
node's own :class:`~flwr.app.Context` (``partition-id``/``num-partitions`` as in a Flower
simulation, one persistent ``state`` per node); an exception in the ClientApp becomes an error
reply with ``ErrorCode.CLIENT_APP_RAISED_EXCEPTION``, as in the simulation engine. Nodes in
:attr:`LocalGrid.offline` are not listed and get nothing; nodes in :attr:`LocalGrid.silent`
are listed but never reply (a missing reply). Every message sent and received is kept in
:attr:`LocalGrid.sent` / :attr:`LocalGrid.received`.

It stands in for the SuperLink, so it needs three of Flower's private pieces (the task
identity, message ids, the ``Run`` record); they come from :mod:`rinr_runtime.flower_compat`.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable
from uuid import uuid4

from flwr.app import Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid

from rinr_runtime import flower_compat
from rinr_runtime.flower_compat import (
    CLIENT_APP_RAISED_EXCEPTION,
    Run,
    assign_message_id,
    empty_run,
)

Hook = Callable[[Message, Context], None]


def set_task_identity(run_id: int = 1) -> None:
    """Let instruction ``Message`` s be created outside a running ServerApp (tests).

    See :func:`rinr_runtime.flower_compat.set_task_identity`.
    """
    flower_compat.set_task_identity(run_id)


class LocalGrid(Grid):
    """Route every message synchronously to ``client_app`` (see the module docstring).

    Parameters
    ----------
    client_app
        The ClientApp every node runs.
    num_nodes
        Number of nodes; node ``i`` has node id ``100 + i`` and partition id ``i``.
    run_config
        The run_config every node sees.
    before
        Called with each message and its node's context before the ClientApp; raise in it to
        make that node fail (the reply becomes an error reply).
    """

    def __init__(self, client_app: ClientApp, num_nodes: int, run_config: dict | None = None,
                 *, run_id: int = 1, before: Hook | None = None) -> None:
        self._app = client_app
        self._run = empty_run(run_id)
        self.before = before
        self.contexts = {
            100 + i: Context(run_id=run_id, node_id=100 + i,
                             node_config={"partition-id": i, "num-partitions": num_nodes},
                             state=RecordDict(), run_config=dict(run_config or {}))
            for i in range(num_nodes)
        }
        self.offline: set[int] = set()
        self.silent: set[int] = set()
        self.sent: list[Message] = []
        self.received: list[Message] = []
        self._replies: dict[str, Message] = {}
        set_task_identity(run_id)

    def set_run(self, run: Run) -> None:
        """Replace the run."""
        self._run = run

    @property
    def run(self) -> Run:
        """The run."""
        return self._run

    def create_message(self, content: RecordDict, message_type: str, dst_node_id: int,
                       group_id: str, ttl: float | None = None) -> Message:
        """Build an instruction message (deprecated in Flower; kept for the interface)."""
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        """Ids of the nodes that are not :attr:`offline` (:attr:`silent` ones are listed)."""
        return [nid for nid in self.contexts if nid not in self.offline]

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        """Deliver each message; :attr:`offline` and :attr:`silent` nodes never answer."""
        ids = []
        for msg in messages:
            message_id = str(uuid4())
            assign_message_id(msg, message_id)
            self.sent.append(msg)
            ids.append(message_id)
            node_id = msg.metadata.dst_node_id
            if node_id in self.offline or node_id in self.silent:
                continue
            context = self.contexts[node_id]
            try:
                if self.before is not None:
                    self.before(msg, context)
                reply = self._app(msg, context)
            except Exception as exc:  # mirrors the simulation engine's error reply
                reason = f"{type(exc)}:<'{exc}'>\n{traceback.format_exc()}"
                reply = Message(Error(code=CLIENT_APP_RAISED_EXCEPTION, reason=reason),
                                reply_to=msg)
            self._replies[message_id] = reply
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        """The replies that arrived for ``message_ids``."""
        out = [self._replies.pop(m) for m in list(message_ids) if m in self._replies]
        self.received.extend(out)
        return out

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None
                         ) -> Iterable[Message]:
        """Push, then pull every reply at once (offline nodes are missing from the result)."""
        return self.pull_messages(self.push_messages(messages))
