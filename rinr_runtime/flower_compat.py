"""Every private Flower API the runtime relies on, in one place, each with the reason why.

Flower's public API (``flwr.app``, ``flwr.serverapp``, ``flwr.clientapp``, ``flwr.simulation``,
``flwr.common``) covers the apps themselves. A few things the runtime does have no public
equivalent in Flower 1.41: measuring a message as Flower transfers it, and standing in for
the SuperLink in tests (:class:`fog.local_grid.LocalGrid`). They are wrapped here, so that a
Flower upgrade that moves or changes one of them breaks this module only, and
``tests/rinr_runtime/test_flower_compat.py`` says which one, for which Flower version.

Nothing else in ``rinr_runtime``, ``fog`` or ``edge`` may import from a private Flower module
(``flwr.supercore``, ``flwr.server``, ``flwr.common.constant``, ...).
"""

from __future__ import annotations

from importlib.metadata import version

from flwr.app import Message
from flwr.common.constant import ErrorCode
from flwr.supercore.inflatable.inflatable_object import InflatableObject, get_all_nested_objects
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

FLOWER_VERSION = version("flwr")
"""The installed Flower release (the compat checks name it when they fail)."""

CLIENT_APP_RAISED_EXCEPTION: int = ErrorCode.CLIENT_APP_RAISED_EXCEPTION
"""The error code of the error reply Flower makes when a ClientApp raises.

Why private: ``ErrorCode`` lives in ``flwr.common.constant``, which ``flwr.common`` does not
export. :class:`fog.local_grid.LocalGrid` uses it to answer exactly as the simulation engine
does when a ClientApp fails.
"""

__all__ = [
    "CLIENT_APP_RAISED_EXCEPTION",
    "FLOWER_VERSION",
    "Run",
    "assign_message_id",
    "empty_run",
    "nested_objects",
    "set_task_identity",
]


def nested_objects(message: Message) -> dict[str, InflatableObject]:
    """Every distinct object Flower transfers for ``message`` (itself included), by object id.

    Why private: Flower 1.41 moves a message as a tree of content-addressed objects
    (Message -> RecordDict -> records -> Arrays -> chunks), each as ``obj.deflate()`` bytes and
    identical objects once. ``get_all_nested_objects`` (``flwr.supercore.inflatable``) is how
    Flower itself walks that tree; the byte ledger (:func:`rinr_runtime.records.message_wire_bytes`)
    needs exactly the same walk, and no public function gives it.
    """
    return get_all_nested_objects(message)


def set_task_identity(run_id: int = 1, node_id: int = 0, task_id: int = 1) -> None:
    """Let instruction ``Message`` s be created outside a running ServerApp (tests, LocalGrid).

    Why private: ``Message(content, dst_node_id, message_type)`` reads the run id, source node
    id and task id of its metadata from the class attributes of ``TaskIdentity``
    (``flwr.supercore.task_identity``), which Flower sets only when it starts a ServerApp. A
    ServerApp run on :class:`fog.local_grid.LocalGrid` (and a strategy hook called directly in
    a unit test) has no such start, so the identity is set here (node id 0 is the ServerApp).
    """
    TaskIdentity.run_id, TaskIdentity.node_id, TaskIdentity.task_id = run_id, node_id, task_id


def assign_message_id(message: Message, message_id: str) -> None:
    """Give a pushed instruction message its id, as the SuperLink does when it accepts it.

    Why private: ``Metadata.message_id`` is a read-only property; the SuperLink and Flower's
    own in-memory Grid (``flwr.superlink.grid.inmemory_grid``) write ``_message_id`` into the
    metadata's ``__dict__``. :class:`fog.local_grid.LocalGrid` stands in for the SuperLink, and
    replies made with ``Message(content, reply_to=message)`` then carry the id in
    ``reply_to_message_id``.
    """
    message.metadata.__dict__["_message_id"] = message_id


def empty_run(run_id: int) -> Run:
    """An empty ``Run`` record with ``run_id``, for a Grid that is not backed by a SuperLink.

    Why private: the abstract ``flwr.serverapp.Grid`` declares ``run`` and ``set_run`` with
    ``flwr.supercore.run.Run``, so any Grid implementation (:class:`fog.local_grid.LocalGrid`,
    :class:`fog.aggregation.NodeView`) must hold one.
    """
    return Run.create_empty(run_id=run_id)
