"""Run the app as an in-process Flower simulation (Ray), with a real ``run_config``.

``flwr.simulation.run_simulation`` gives both apps an empty ``run_config``. This module goes
one level lower (Flower 1.41's ``_run_simulation``, a private function) so the ServerApp and
every ClientApp see the same ``run_config``: ``[tool.flwr.app.config]`` of the project's
``pyproject.toml`` merged with ``overrides``, exactly as ``flwr run . --run-config`` does.
Used by the end-to-end test and as the fallback of ``make demo``; ``flwr run .`` is the
normal way to run the app.
"""

from __future__ import annotations

from pathlib import Path

from flwr.app import Context, RecordDict
from flwr.common.config import get_fused_config_from_dir
from flwr.common.constant import RUN_ID_NUM_BYTES, SUPERLINK_NODE_ID, TASK_ID_NUM_BYTES
from flwr.server.superlink.linkstate.utils import generate_rand_int_from_bytes
from flwr.simulation.run_simulation import _run_simulation
from flwr.supercore.constant import NOOP_FEDERATION_ID
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity
from flwr.supercore.telemetry import EventType

PROJECT_DIR = Path(__file__).resolve().parents[1]


def backend_config(num_cpus: float = 1.0, num_gpus: float = 0.0) -> dict:
    """Ray resources per virtual node (``num_gpus > 0`` lets the nodes see the GPU)."""
    return {"client_resources": {"num_cpus": num_cpus, "num_gpus": num_gpus}}


def run_inprocess(overrides: dict | None = None, *, num_nodes: int = 3,
                  app_dir: Path = PROJECT_DIR, num_cpus: float = 1.0,
                  num_gpus: float = 0.0) -> Context:
    """Run the ServerApp and ``num_nodes`` virtual ClientApps in this process; return the
    ServerApp's final context (``context.state["report"]`` names the report files).

    Raises
    ------
    ValueError
        An override key is not in ``[tool.flwr.app.config]``.
    RuntimeError
        The ServerApp failed (Flower re-raises its exception).
    """
    from edge.client_app import app as client_app
    from fog.server_app import app as server_app

    overrides = dict(overrides or {})
    run_config = get_fused_config_from_dir(Path(app_dir), overrides)
    run = Run.create_empty(run_id=generate_rand_int_from_bytes(RUN_ID_NUM_BYTES))
    run.override_config = overrides
    run.primary_task_id = generate_rand_int_from_bytes(TASK_ID_NUM_BYTES)
    run.federation_id = NOOP_FEDERATION_ID
    TaskIdentity.task_id = 1
    TaskIdentity.run_id = run.run_id
    TaskIdentity.node_id = SUPERLINK_NODE_ID
    context = Context(run_id=run.run_id, node_id=0, node_config={}, state=RecordDict(),
                      run_config=run_config)
    result = _run_simulation(
        num_supernodes=num_nodes,
        exit_event=EventType.PYTHON_API_RUN_SIMULATION_LEAVE,
        client_app=client_app,
        server_app=server_app,
        backend_config=backend_config(num_cpus, num_gpus),
        server_app_context=context,
        app_dir=str(app_dir),
        run=run,
        is_app=True,
    )
    return result.context
