"""Run the app as an in-process Flower simulation (Ray), with a real ``run_config``.

This uses Flower's public ``flwr.simulation.run_simulation`` (deprecated in favour of
``flwr run``, but public in 1.41 and 1.42), which gives both apps an empty ``run_config``. So
that the ServerApp and every ClientApp see the same ``run_config`` as under
``flwr run . --run-config`` (``[tool.flwr.app.config]`` of the project's ``pyproject.toml``
merged with ``overrides``), both apps are wrapped: each call gets its Flower ``Context`` with
that ``run_config``. The apps are the components ``pyproject.toml`` names
(``[tool.flwr.app.components]``), imported by name as ``flwr run`` does, so this fog module
does not import the edge package. Used by the end-to-end tests and as the fallback of
``make demo``; ``flwr run .`` is the normal way to run the app.
"""

from __future__ import annotations

import dataclasses
from importlib import import_module
from pathlib import Path

from flwr.app import Context, Message
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.simulation import run_simulation

from fog.launch import gpu_share
from rinr_core.errors import ConfigError
from rinr_core.toml import tomllib

PROJECT_DIR = Path(__file__).resolve().parents[1]

RunConfig = dict[str, bool | int | float | str]


def backend_config(num_cpus: float = 1.0, num_gpus: float = 0.0) -> dict:
    """Ray resources per virtual node (``num_gpus > 0`` lets the nodes see the GPU)."""
    return {"client_resources": {"num_cpus": num_cpus, "num_gpus": num_gpus}}


def _flwr_app(app_dir: Path) -> dict:
    """The ``[tool.flwr.app]`` table of ``app_dir/pyproject.toml``."""
    path = Path(app_dir) / "pyproject.toml"
    try:
        return tomllib.loads(path.read_text())["tool"]["flwr"]["app"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path} has no readable [tool.flwr.app] table ({exc}); run from "
                          "the project folder or pass app_dir") from exc


def fused_run_config(app_dir: Path, overrides: dict | None = None) -> RunConfig:
    """``[tool.flwr.app.config]`` of ``app_dir`` with ``overrides`` applied, as ``flwr run`` does.

    Raises
    ------
    ConfigError
        An override key is not in ``[tool.flwr.app.config]`` (a ``ValueError``).
    """
    defaults = dict(_flwr_app(app_dir).get("config", {}))
    unknown = sorted(set(overrides or {}) - set(defaults))
    if unknown:
        raise ConfigError(f"run_config overrides {unknown} are not keys of "
                          "[tool.flwr.app.config] in pyproject.toml; check their spelling")
    return {**defaults, **dict(overrides or {})}


def load_component(reference: str) -> object:
    """The object a ``"module:attribute"`` reference names (``[tool.flwr.app.components]``)."""
    module, _, attribute = reference.partition(":")
    return getattr(import_module(module), attribute)


class ConfiguredClientApp(ClientApp):
    """``app`` with ``run_config`` in every node's context (``run_simulation`` gives none)."""

    def __init__(self, app: ClientApp, run_config: RunConfig) -> None:
        super().__init__()
        self.app = app
        self.run_config = dict(run_config)

    def __call__(self, message: Message, context: Context) -> Message:
        """Run ``app`` on ``message`` with the run's ``run_config``."""
        return self.app(message, dataclasses.replace(context, run_config=dict(self.run_config)))


def configured_server_app(app: ServerApp, run_config: RunConfig, contexts: list[Context]
                          ) -> ServerApp:
    """``app`` with ``run_config`` in its context; that context is appended to ``contexts``."""
    wrapper = ServerApp()

    @wrapper.main()
    def main(grid: Grid, context: Context) -> None:
        configured = dataclasses.replace(context, run_config=dict(run_config))
        contexts.append(configured)
        app(grid=grid, context=configured)

    return wrapper


def run_inprocess(overrides: dict | None = None, *, num_nodes: int = 3,
                  app_dir: Path = PROJECT_DIR, num_cpus: float = 1.0,
                  num_gpus: float | None = None) -> Context:
    """Run the ServerApp and ``num_nodes`` virtual ClientApps in this process; return the
    ServerApp's final context (``context.state["report"]`` names the report files).

    ``num_gpus`` is each node's GPU share (default: :func:`gpu_share`).

    Raises
    ------
    ValueError
        An override key is not in ``[tool.flwr.app.config]`` (:class:`ConfigError`).
    Exception
        The ServerApp failed: Flower re-raises its exception.
    """
    run_config = fused_run_config(app_dir, overrides)
    if num_gpus is None:
        num_gpus = gpu_share(num_nodes, run_config)
    components = _flwr_app(app_dir)["components"]
    server_app = load_component(components["serverapp"])
    client_app = load_component(components["clientapp"])
    if not isinstance(server_app, ServerApp) or not isinstance(client_app, ClientApp):
        raise ConfigError(f"[tool.flwr.app.components] of {app_dir}/pyproject.toml must name "
                          "a ServerApp and a ClientApp")
    contexts: list[Context] = []
    run_simulation(server_app=configured_server_app(server_app, run_config, contexts),
                   client_app=ConfiguredClientApp(client_app, run_config),
                   num_supernodes=num_nodes, backend_config=backend_config(num_cpus, num_gpus))
    if not contexts:
        raise ConfigError("the simulation ended before the ServerApp started; see Flower's log")
    return contexts[0]
