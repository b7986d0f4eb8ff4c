"""The fog ServerApp: waits for the edges, runs the rounds, writes the run report.

Each phase of a round sends what the strategy's ``configure_*`` hook builds, waits for the
replies (at most ``round-timeout-s``), records every message in the byte ledger, logs and
skips error replies and missing replies, and hands the good replies to ``aggregate_*``. The
round goes on with the nodes that answered; a node that failed catches up in a later round.
The report (``report.json``, ``report.md``, ``report.png``) is written to ``run-dir`` at the
end, also when the run fails, and its path is left in ``context.state["report"]``.

The run ends ``completed`` only when every node answered every phase readably;
``completed_with_errors`` when some reply was lost, an error or unreadable (the report lists
each: round, phase, node, reason); ``failed`` when the fog itself raised (the exception
propagates, so Flower marks the run failed too). The last log line says which, in a form
``deploy/run.sh`` reads: ``[rinr] run status: <status>``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from logging import INFO, WARNING
from pathlib import Path

from flwr.app import ConfigRecord, Context, Message
from flwr.common import log
from flwr.serverapp import Grid, ServerApp

from fog.encode_cache import EncodeCache
from fog.encoder import FogEncoder
from fog.preview import preview_pairs
from fog.report import COMPLETED, RunReport
from fog.report_views import format_summary
from fog.strategy import RinrStrategy
from rinr_core.devices import describe_device, resolve_device
from rinr_core.errors import RinrError
from rinr_runtime.config import DEFAULTS, RuntimeConfig, default_run_dir, resolve_path

app = ServerApp()


@app.main()
def main(grid: Grid, context: Context) -> None:
    """Run the configured rounds on ``grid`` (see the module docstring)."""
    config = RuntimeConfig.from_run_config(context.run_config)
    run_dir = resolve_path(config.run_dir) if config.run_dir else default_run_dir()
    report = RunReport({**DEFAULTS, **dict(context.run_config)}, run_dir)
    cache = EncodeCache(resolve_path(config.cache_dir) if config.cache_dir else None)
    strategy = RinrStrategy(config, FogEncoder(config, cache), report, workdir=run_dir)
    log(INFO, "[rinr] fog: codec %s, placement %s, aggregation %s, %d round(s); report in %s",
        config.codec, config.placement, config.aggregation, config.num_server_rounds, run_dir)
    try:
        # CUDA asked for but not visible fails the run here: the fog never falls back to the CPU
        report.set_device("fog", describe_device(resolve_device(config.torch_device)))
        log(INFO, "[rinr] fog: computing on %s", report.devices["fog"])
        wait_for_nodes(grid, config.min_nodes, config.node_wait_s)
        for server_round in range(1, config.num_server_rounds + 1):
            run_round(grid, strategy, server_round)
        report.complete(strategy.missing(), strategy.deliveries.undeliverable)
        report.preview = preview(strategy, config.torch_device)
    except BaseException:
        report.fail()
        raise
    finally:
        report.finished = time.time()
        paths = report.write()
        context.state["report"] = ConfigRecord({k: str(p) for k, p in paths.items()})
        log(INFO, "[rinr] report written to %s\n%s", paths["json"], format_summary(report.to_dict()))
        log(INFO if report.status == COMPLETED else WARNING,
            "[rinr] run status: %s (%d error(s) and missing replies, %d node(s) missing frames, "
            "%d undeliverable frame(s); see %s)", report.status, len(report.errors()),
            len(report.missing), len(report.undeliverable), paths["json"])


def preview(strategy: RinrStrategy, device: str | None) -> list:
    """The report's strip of original vs delivered frames (:mod:`fog.preview`); empty, with a
    warning, when a broadcast payload cannot be decoded here (the edges report it too)."""
    try:
        return preview_pairs(strategy, device)
    except RinrError as exc:
        log(WARNING, "[rinr] fog: no preview strip in report.png: %s", exc)
        return []


def wait_for_nodes(grid: Grid, min_nodes: int, timeout: float, settle: float = 1.0) -> list[int]:
    """Wait until ``min_nodes`` are connected and their number is stable for ``settle`` s.

    Returns the node ids. After ``timeout`` seconds it goes on with the nodes present.

    Raises
    ------
    RinrError
        No node at all connected within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    ids = sorted(grid.get_node_ids())
    while len(ids) < min_nodes and time.monotonic() < deadline:
        time.sleep(0.2)
        ids = sorted(grid.get_node_ids())
    while time.monotonic() < deadline:  # let nodes that register at the same time arrive
        time.sleep(settle)
        later = sorted(grid.get_node_ids())
        if len(later) == len(ids):
            break
        ids = later
    if not ids:
        raise RinrError(
            f"no edge node connected within {timeout:g} s; start SuperNodes (or a simulation "
            "with num-supernodes >= 1), or raise node-wait-s"
        )
    if len(ids) < min_nodes:
        log(WARNING, "[rinr] only %d of min-nodes=%d node(s) connected after %g s; going on",
            len(ids), min_nodes, timeout)
    return ids


def exchange(grid: Grid, strategy: RinrStrategy, server_round: int, phase: str,
             messages: list[Message]) -> dict[int, Message]:
    """Send ``messages``, record every message in the ledger, return the good replies by node.

    Error replies and missing replies are logged and reported; they do not stop the round.
    """
    if not messages:
        return {}
    report = strategy.report
    timeout = strategy.config.round_timeout_s
    start = time.perf_counter()
    replies = list(grid.send_and_receive(messages, timeout=timeout))
    pending = {m.metadata.message_id: m for m in messages}
    good: dict[int, Message] = {}
    for reply in replies:
        request = pending.pop(reply.metadata.reply_to_message_id, None)
        if request is None:
            continue
        node_id = request.metadata.dst_node_id
        label = strategy.identify(node_id, reply)
        report.ledger.record(server_round, phase, label, "down", request,
                             jpeg_delta=strategy.jpeg_delta(request))
        report.ledger.record(server_round, phase, label, "up", reply)
        if reply.has_error():
            reason = f"error reply (code {reply.error.code}): {reply.error.reason}"
            _problem(strategy, server_round, phase, label, reason)
            continue
        good[node_id] = reply
    for request in pending.values():
        label = strategy.label(request.metadata.dst_node_id)
        report.ledger.record(server_round, phase, label, "down", request,
                             jpeg_delta=strategy.jpeg_delta(request))
        _problem(strategy, server_round, phase, label, f"no reply within {timeout:g} s")
    log(INFO, "[rinr] round %d %s: %d/%d replies in %.1f s", server_round, phase, len(good),
        len(messages), time.perf_counter() - start)
    return good


def _problem(strategy: RinrStrategy, server_round: int, phase: str, label: str,
             reason: str) -> None:
    """Log and report a failed or missing reply."""
    log(WARNING, "[rinr] round %d %s: node %s skipped: %s", server_round, phase, label,
        reason[:500])
    strategy.report.error(server_round, phase, label, reason[:2000])


def _phase(grid: Grid, strategy: RinrStrategy, server_round: int, phase: str,
           configure: Callable[[int, list[int]], list[Message]],
           aggregate: Callable[[int, dict[int, Message]], None], node_ids: list[int]) -> list[int]:
    """One phase: configure, exchange, aggregate; returns the nodes that answered."""
    replies = exchange(grid, strategy, server_round, phase, configure(server_round, node_ids))
    aggregate(server_round, replies)
    return sorted(replies)


def run_round(grid: Grid, strategy: RinrStrategy, server_round: int) -> None:
    """Collect -> (place) -> encode -> broadcast -> train -> evaluate, with the nodes that answer.

    The placement is settled after the first collect with frames (``placement = auto``: by
    the placement model, from the sizes measured in this run).
    """
    start = time.perf_counter()
    config = strategy.config
    node_ids = sorted(grid.get_node_ids())
    replies = exchange(grid, strategy, server_round, "collect",
                       strategy.configure_collect(server_round, node_ids))
    uploads = strategy.aggregate_collect(server_round, replies)
    alive = sorted(nid for nid in replies if strategy.keys.get(nid) in strategy.nodes)
    placement = strategy.choose_placement(server_round, uploads, len(alive))
    outcome = strategy.encode(server_round, uploads)
    log(INFO, "[rinr] round %d encode: %d new frame(s), %d from cache, %d refused, %.1f s",
        server_round, outcome.encoded_now, outcome.cache_hits, len(outcome.rejected),
        outcome.seconds)
    if placement == "edge":
        _phase(grid, strategy, server_round, "broadcast", strategy.configure_broadcast,
               strategy.aggregate_broadcast, alive)
        if config.train:
            _phase(grid, strategy, server_round, "train", strategy.configure_train,
                   strategy.aggregate_train, alive)
    elif config.train:
        strategy.train_at_fog(server_round)
    if strategy.wants_evaluate():
        _phase(grid, strategy, server_round, "evaluate", strategy.configure_evaluate,
               strategy.aggregate_evaluate, alive)
    record = strategy.report.round(server_round)
    record.seconds = round(time.perf_counter() - start, 2)
    record.fog_rss_mb, record.fog_peak_rss_mb = fog_memory_mb()


def fog_memory_mb() -> tuple[float, float]:
    """The fog process's resident memory now and its peak so far (MB)."""
    import resource

    import psutil

    now = psutil.Process().memory_info().rss / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return round(now, 1), round(max(now, peak), 1)


def report_path(context: Context) -> Path | None:
    """The ``report.json`` path a finished ServerApp left in its context, if any."""
    record = context.state.config_records.get("report")
    return Path(str(record["json"])) if record is not None else None
