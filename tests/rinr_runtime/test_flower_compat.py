"""The Flower APIs the runtime relies on still exist and behave as used (fails naming the version).

``rinr_runtime.flower_compat`` wraps Flower's private pieces; the public ones the fog relies on
for its semantics (the strategies' conventions, ``run_simulation``) are checked here too. A
failure here after a Flower upgrade says which piece changed: fix it in flower_compat.py (or in
fog/aggregation.py, fog/simulation.py for the public ones), not in the callers.
"""

from __future__ import annotations

import inspect
import typing
from importlib.metadata import version

import numpy as np
import pytest

FLOWER = version("flwr")
WRITTEN_FOR = "1.41"

try:
    from rinr_runtime import flower_compat
except ImportError as exc:  # a private module or name moved
    pytest.fail(f"Flower {FLOWER}: rinr_runtime.flower_compat cannot import a private Flower "
                f"API ({exc}); it was written for Flower {WRITTEN_FOR}: find the new location "
                "and update flower_compat.py", pytrace=False)

from flwr.app import Array, ArrayRecord, ConfigRecord, Error, Message, RecordDict  # noqa: E402
from flwr.serverapp import Grid  # noqa: E402
from flwr.serverapp.strategy import FedAdam, FedAvg, FedProx  # noqa: E402
from flwr.simulation import run_simulation  # noqa: E402


def _check(ok: bool, what: str) -> None:
    """Fail with a message naming the installed Flower version and what changed."""
    if not ok:
        pytest.fail(f"Flower {FLOWER} changed {what} (rinr_runtime.flower_compat and "
                    f"fog.aggregation were written for Flower {WRITTEN_FOR}); update them",
                    pytrace=False)


def _message() -> Message:
    flower_compat.set_task_identity(run_id=42)
    return Message(RecordDict({"a": ArrayRecord([np.arange(6, dtype=np.float32)]),
                               "c": ConfigRecord({"k": 1})}), dst_node_id=5, message_type="train")


def test_version_is_known() -> None:
    _check(flower_compat.FLOWER_VERSION == FLOWER, "its distribution metadata")


def test_set_task_identity_feeds_instruction_messages() -> None:
    # Execute
    message = _message()

    # Assert
    meta = message.metadata
    _check((meta.run_id, meta.src_node_id, meta.src_task_id) == (42, 0, 1),
           "TaskIdentity (Message() no longer reads run id, node id and task id from it)")


def test_assign_message_id_is_what_replies_point_to() -> None:
    # Prepare
    message = _message()

    # Execute
    flower_compat.assign_message_id(message, "m-1")
    reply = Message(RecordDict(), reply_to=message)

    # Assert
    _check(message.metadata.message_id == "m-1", "Metadata's private '_message_id' field")
    _check(reply.metadata.reply_to_message_id == "m-1", "how replies take the request's id")


def test_nested_objects_walk_the_whole_message_tree() -> None:
    # Execute
    objects = flower_compat.nested_objects(_message())

    # Assert
    kinds = {type(obj).__name__ for obj in objects.values()}
    _check({"Message", "RecordDict", "ArrayRecord", "ConfigRecord", "Array"} <= kinds,
           f"get_all_nested_objects (it returned objects of types {sorted(kinds)})")
    _check(all(isinstance(obj.deflate(), bytes) for obj in objects.values()),
           "InflatableObject.deflate (the bytes Flower transfers)")
    _check(list(objects.values())[-1].object_id == list(objects)[-1],
           "get_all_nested_objects (keys are no longer object ids)")


def test_empty_run_is_the_run_type_grids_declare() -> None:
    # Execute
    run = flower_compat.empty_run(7)

    # Assert
    _check(isinstance(run, flower_compat.Run) and run.run_id == 7, "Run.create_empty")
    hints = typing.get_type_hints(Grid.set_run)
    _check(hints.get("run") is flower_compat.Run, "the Run type of Grid.set_run")
    abstract = set(Grid.__abstractmethods__)
    _check(abstract == {"set_run", "run", "create_message", "get_node_ids", "push_messages",
                        "pull_messages", "send_and_receive"},
           f"Grid's abstract methods (now {sorted(abstract)}; LocalGrid and NodeView implement "
           "them)")


def test_client_app_error_code_makes_an_error_reply() -> None:
    # Execute
    reply = Message(Error(code=flower_compat.CLIENT_APP_RAISED_EXCEPTION, reason="boom"),
                    reply_to=_message())

    # Assert
    _check(isinstance(flower_compat.CLIENT_APP_RAISED_EXCEPTION, int), "ErrorCode")
    _check(reply.has_error() and reply.error.code == flower_compat.CLIENT_APP_RAISED_EXCEPTION,
           "error replies")


def test_strategies_keep_the_conventions_the_fog_uses() -> None:
    # Prepare
    params = inspect.signature(FedAvg.__init__).parameters
    _check({"weighted_by_key", "arrayrecord_key", "configrecord_key", "min_available_nodes"}
           <= set(params), "FedAvg's constructor")
    _check(params["weighted_by_key"].default == "num-examples", "FedAvg's weighting key")
    _check(list(inspect.signature(FedAvg.configure_train).parameters)
           == ["self", "server_round", "arrays", "config", "grid"], "configure_train's signature")
    _check(list(inspect.signature(FedAvg.aggregate_train).parameters)
           == ["self", "server_round", "replies"], "aggregate_train's signature")

    class Nodes:
        def get_node_ids(self) -> list[int]:
            return [1, 2]

    arrays = ArrayRecord({"w": Array(np.zeros(2, np.float32))})
    flower_compat.set_task_identity()

    # Execute
    prox = FedProx(min_available_nodes=0, min_train_nodes=0, proximal_mu=0.3,
                   arrayrecord_key="weights", configrecord_key="round")
    sent = list(prox.configure_train(4, arrays, ConfigRecord({"round": 4}), Nodes()))
    adam = FedAdam(min_available_nodes=0, min_train_nodes=0)
    adam.configure_train(1, arrays, ConfigRecord(), Nodes())

    # Assert
    _check(sorted(m.metadata.dst_node_id for m in sent) == [1, 2], "node sampling")
    config = sent[0].content["round"]
    _check(config["proximal-mu"] == 0.3 and config["server-round"] == 4,
           "FedProx's train config ('proximal-mu', 'server-round')")
    _check("weights" in sent[0].content.array_records, "arrayrecord_key")
    _check(set(getattr(adam, "current_arrays", None) or {}) == {"w"},
           "FedOpt.current_arrays (the previous global model, kept by configure_train)")


def test_run_simulation_takes_the_apps_and_the_backend_config() -> None:
    params = inspect.signature(run_simulation).parameters
    _check({"server_app", "client_app", "num_supernodes", "backend_config"} <= set(params),
           "flwr.simulation.run_simulation's parameters (fog.simulation.run_inprocess)")
