"""A SuperNode's own settings (``--node-config``) reach the edge node, and nothing else does."""

from __future__ import annotations

from pathlib import Path

from flwr.app import Context, RecordDict

from edge.client_app import node_of
from rinr_core.datasets import write_otb
from rinr_core.synthetic import generate_sequence
from rinr_runtime.config import node_run_config
from rinr_runtime.records import frame_id


def context(node_config: dict, run_config: dict) -> Context:
    """A ClientApp context of run 7."""
    return Context(run_id=7, node_id=123, node_config=node_config, state=RecordDict(),
                   run_config=run_config)


def test_node_values_win_for_node_keys_only() -> None:
    # Prepare
    run_config = {"data": "/fog/view", "device": "cuda", "edge-dir": "runs/edge", "epochs": 3}
    node_config = {"partition-id": 1, "num-partitions": 2, "device": "cpu", "epochs": 9}

    # Execute
    merged = node_run_config(run_config, node_config)

    # Assert
    assert merged == {"data": "/fog/view", "device": "cpu", "edge-dir": "runs/edge", "epochs": 3}


def test_node_with_its_own_camera_folder_uses_all_of_its_frames(tmp_path: Path) -> None:
    # Prepare: node 2 of 3 points at its own OTB folder and its own state folder
    camera = write_otb(generate_sequence(5, width=48, height=32, seed=3), tmp_path / "cam")
    node_config = {"partition-id": 2, "num-partitions": 3, "data": str(camera),
                   "device": "cpu", "edge-dir": str(tmp_path / "state")}
    run_config = {"frames-per-node": 5, "val-every": 5, "edge-dir": str(tmp_path / "shared")}

    # Execute
    node = node_of(context(node_config, run_config))

    # Assert: every frame of the folder is the node's (not every 3rd), state under its folder
    files = sorted((camera / "img").iterdir())
    assert [f.frame_id for f in node.frames.frames] == [frame_id(p.read_bytes()) for p in files]
    assert node.key == "p2"
    assert node.config.device == "cpu"
    assert node.store.root == tmp_path / "state" / "run-7" / "node-p2"


def test_node_without_node_settings_keeps_the_run_settings(tmp_path: Path) -> None:
    # Prepare
    run_config = {"frames-per-node": 4, "frame-width": 32, "frame-height": 32,
                  "edge-dir": str(tmp_path / "edge")}

    # Execute
    node = node_of(context({"partition-id": 1, "num-partitions": 3}, run_config))

    # Assert
    assert (node.partition_id, node.num_partitions) == (1, 3)
    assert node.config.data == "" and node.config.device == ""
    assert node.store.root == tmp_path / "edge" / "run-7" / "node-p1"
    assert node.frames.source == "generated scene 1"
