"""The app on Flower's Deployment Engine: real SuperLink and SuperNodes, TLS, node auth, faults.

One cluster for the module (started with the deploy/ scripts on loopback): a
``flower-superlink`` with TLS and SuperNode authentication, three registered
``flower-supernode`` processes (node 0 reads its own camera folder and node 1 keeps its state
in its own folder, both set with ``--node-config``). The tests run in file order; the last one
stops everything and checks that no process the module started is left.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.cluster import Cluster
from edge.store import NodeStore
from rinr_core.datasets import write_otb
from rinr_core.synthetic import generate_sequence
from rinr_runtime.records import frame_id

pytestmark = pytest.mark.slow

NODES = ("p0", "p1", "p2")
ROUND_TIMEOUT_S = 90.0  # backstop; a dead node is reported when its heartbeat lapses


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, deploy_tools: None) -> Iterator[Cluster]:
    """The module's SuperLink and three SuperNodes (see the module docstring)."""
    root = tmp_path_factory.mktemp("cluster")
    write_otb(generate_sequence(4, width=48, height=32, seed=7), root / "camera-0", quality=90)
    cluster = Cluster(root, num_nodes=3, threads=1, spare_keys=("intruder",))
    try:
        cluster.setup({0: {"data": root / "camera-0"}, 1: {"edge_dir": root / "edge-p1"}})
        yield cluster
    finally:
        cluster.__exit__()


def load_report(run_dir: Path) -> dict:
    """The fog's ``report.json`` of a run."""
    return json.loads((run_dir / "report.json").read_text())


def node_folder(cluster: Cluster, run_config: dict, run_id: str, node: str) -> Path:
    """Where node ``node`` keeps its state in run ``run_id`` (node 1 has its own edge-dir)."""
    edge_dir = cluster.root / "edge-p1" if node == "p1" else Path(run_config["edge-dir"])
    return edge_dir / f"run-{run_id}" / f"node-{node}"


def frames_by_owner(report: dict) -> dict[str, set[str]]:
    """Frame ids the fog encoded, by the node that uploaded them."""
    owners: dict[str, set[str]] = {node: set() for node in NODES}
    for fid, frame in report["frames"].items():
        owners[frame["owner"]].add(fid)
    return owners


def assert_nothing_lost(cluster: Cluster, report: dict, run_config: dict, run_id: str,
                        per_node: int) -> None:
    """Every node: collected = encoded = ``per_node``; it holds every other node's frames."""
    summary = report["summary"]
    owners = frames_by_owner(report)
    for node in NODES:
        counts = summary["frames_per_node"][node]
        others = set().union(*(owners[n] for n in NODES if n != node))
        held = set(NodeStore(node_folder(cluster, run_config, run_id, node)).held_ids())
        assert counts["collected"] == counts["encoded"] == per_node, (node, counts)
        assert counts["received"] == len(others) == per_node * (len(NODES) - 1), (node, counts)
        assert held == others, node


def test_supernode_with_unregistered_key_is_refused(cluster: Cluster) -> None:
    # Prepare: a key pair that exists but was never registered on the SuperLink
    assert (cluster.keys / "intruder.pub").is_file()

    # Execute
    intruder = cluster.start_node(1, key="intruder", label="intruder")
    code = intruder.process.wait(timeout=90)

    # Assert: refused at once (Flower's exit code 305), the registered nodes stay connected
    assert code != 0
    assert "Exit Code: 305" in intruder.log()
    assert "Failed to activate SuperNode" in intruder.log()
    assert all(cluster.nodes[node].alive for node in NODES)


def test_three_supernodes_run_the_app_over_tls_to_completion(
        cluster: Cluster, tmp_path: Path, tiny_run_config) -> None:
    # Prepare
    run_config = tiny_run_config(tmp_path)
    camera = sorted((cluster.root / "camera-0" / "img").iterdir())
    camera_ids = {frame_id(path.read_bytes()) for path in camera[:3]}  # the 4th is held out

    # Execute
    run = cluster.submit(run_config, "e2e")
    completed = run.wait(timeout=600) == 0

    # Assert
    assert completed, run.proc.log()[-3000:]
    report = load_report(tmp_path / "report")
    assert report["summary"]["status"] == "completed"
    assert report["summary"]["errors"] == []
    assert_nothing_lost(cluster, report, run_config, run.run_id, per_node=3)
    assert frames_by_owner(report)["p0"] == camera_ids  # node 0 read its --node-config data
    assert all(frame["kind"] == "rinr" for frame in report["frames"].values())
    assert "https://127.0.0.1" in cluster.superlink.log()  # served over TLS


def test_killed_supernode_catches_up_when_it_comes_back(
        cluster: Cluster, tmp_path: Path, tiny_run_config) -> None:
    # Prepare: 4 rounds; each node captures one new frame in rounds 1-3 (round 4: none)
    run_config = tiny_run_config(tmp_path, **{"num-server-rounds": 4, "frames-per-round": 1,
                                              "round-timeout-s": ROUND_TIMEOUT_S})
    node_id = cluster.wait_connected("p2")

    # Execute: kill -9 node 2 while its ClientApp works on round 2's collect; once the fog
    # has gone on without it (its heartbeat lapsed), bring it back
    run = cluster.submit(run_config, "kill")
    cluster.nodes["p2"].wait_for(
        r"ROUND 2\][^\n]*\n[^\n]*Receiving: query\.collect[\s\S]*?Start `flwr-clientapp`", 400)
    cluster.kill_node("p2")
    run.wait_for(r"round 2 collect: 2/3 replies", ROUND_TIMEOUT_S + 60)
    node_id_after = cluster.restart_node("p2")
    code = run.wait(timeout=600)

    # Assert: round 2 went on without node 2, which later got every frame it missed; the run
    # says it lost replies (completed_with_errors: run.sh exits 3), and lost no frame
    assert code == 3, run.proc.log()[-3000:]
    report = load_report(tmp_path / "report")
    rounds = {r["round"]: r for r in report["rounds"]}
    assert report["summary"]["status"] == "completed_with_errors"
    assert set(rounds[2]["delivered"]) == {"p0", "p1"}
    assert {e["node"] for e in report["summary"]["errors"]} == {"p2"}
    assert 2 in {e["round"] for e in report["summary"]["errors"]}
    missed = set(rounds[2]["delivered"]["p0"]) | set(rounds[2]["delivered"]["p1"])
    caught_up = set(rounds[3]["delivered"].get("p2", [])) | set(rounds[4]["delivered"].get("p2", []))
    assert missed and missed <= caught_up
    assert_nothing_lost(cluster, report, run_config, run.run_id, per_node=3)
    assert node_id_after == node_id  # an authenticated node keeps its id across restarts


def test_restarted_fog_resumes_from_its_encode_cache(
        cluster: Cluster, tmp_path: Path, tiny_run_config) -> None:
    # Prepare: a run that captures frames 0-1 of each node in round 1, frame 2 in round 2;
    # one frame per encode call, slow enough (600 steps) to be caught in the middle
    cache = tmp_path / "cache"
    first = cluster.submit(tiny_run_config(tmp_path / "first", **{
        "num-server-rounds": 2, "frames-per-round": 2, "cache-dir": str(cache),
        "encode-batch": 1, "inr-steps": 600}), "fog-crash")
    deadline = time.monotonic() + 400
    while len(list(cache.rglob("*.rinr"))) < 2:
        assert time.monotonic() < deadline, first.proc.log()[-3000:]
        time.sleep(0.05)

    # Execute: kill -9 the fog (SuperLink and ServerApp) in the middle of round 1's encode
    # phase, restart it on the same database, and run again over the same cache, all
    # frames at once
    cluster.kill_superlink()
    first.proc.stop(timeout=5)
    encoded_before_crash = len(list(cache.rglob("*.rinr")))
    cluster.start_superlink()
    run_config = tiny_run_config(tmp_path / "second", **{
        "cache-dir": str(cache), "encode-batch": 1, "inr-steps": 600})
    second = cluster.submit(run_config, "fog-resume")
    completed = second.wait(timeout=600) == 0

    # Assert: what was encoded before the crash came from the cache; only the rest was new
    assert completed, second.proc.log()[-3000:]
    report = load_report(tmp_path / "second" / "report")
    assert 2 <= encoded_before_crash < 6  # killed mid-encode (round 1 has 6 frames)
    rounds = report["rounds"][0]
    assert (rounds["encoded_now"], rounds["cache_hits"]) == (9 - encoded_before_crash,
                                                             encoded_before_crash)
    assert rounds["cache_corrupt"] == 0  # a kill -9 leaves no half-written entry
    assert len(list(cache.rglob("*.rinr"))) == 9
    assert sum(frame["cached"] for frame in report["frames"].values()) == encoded_before_crash
    assert_nothing_lost(cluster, report, run_config, second.run_id, per_node=3)


def test_every_process_the_tests_started_is_stopped(cluster: Cluster) -> None:
    # Prepare
    started = list(cluster.processes())
    assert len(started) >= 5  # SuperLink, 3 SuperNodes, the refused node, runs

    # Execute
    cluster.stop()

    # Assert: every process has exited, and none with this cluster's marker is left
    assert all(proc.returncode is not None for proc in started)
    assert cluster.leftovers() == []
