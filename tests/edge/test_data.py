"""An edge node's own frames: sources, capture schedule, held-out split, sharing a sequence."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.data import assign_sequence, load_node_frames, sequence_paths
from rinr_core.datasets import write_otb
from rinr_core.errors import DatasetError
from rinr_core.synthetic import generate_sequence
from rinr_runtime.config import RuntimeConfig

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def _config(**values: object) -> RuntimeConfig:
    return RuntimeConfig.from_run_config(values)


def test_generated_frames_are_held_out_every_kth_and_captured_per_round() -> None:
    # Prepare
    config = _config(**{"frames-per-node": 10, "val-every": 4, "frame-width": 48,
                        "frame-height": 32})

    # Execute
    frames = load_node_frames(config, partition_id=1, num_partitions=3)

    # Assert
    assert len(frames.frames) == 10
    assert [f.index for f in frames.frames if f.held_out] == [3, 7]
    assert len({f.frame_id for f in frames.frames}) == 10
    assert len(frames.captured(1, 4)) == 4 and len(frames.captured(3, 4)) == 10
    assert len(frames.captured(1, 0)) == 10
    assert [f.index for f in frames.train_frames(2, 4)] == [0, 1, 2, 4, 5, 6]
    first = frames.frames[0].to_frame()
    assert (first.width, first.height) == (48, 32)


def test_nodes_get_different_scenes() -> None:
    # Prepare
    config = _config(**{"frames-per-node": 3, "frame-width": 32, "frame-height": 32})

    # Execute
    ids = [{f.frame_id for f in load_node_frames(config, p, 2).frames} for p in (0, 1)]

    # Assert
    assert not ids[0] & ids[1]


def test_nodes_sharing_a_sequence_take_disjoint_frames(tmp_path: Path) -> None:
    # Prepare
    write_otb(generate_sequence(8, width=32, height=32, seed=5), tmp_path / "seq")
    config = _config(data=str(tmp_path / "seq"), **{"frames-per-node": 4, "max-side": 0})

    # Execute
    parts = [load_node_frames(config, p, 2) for p in (0, 1)]

    # Assert
    names = [[f.name for f in part.frames] for part in parts]
    assert names == [["000001", "000003", "000005", "000007"],
                     ["000002", "000004", "000006", "000008"]]
    assert all(f.label == "object" for part in parts for f in part.frames)


def test_a_parent_folder_expands_to_its_sequences(tmp_path: Path) -> None:
    # Prepare
    for name in ("b_seq", "a_seq"):
        write_otb(generate_sequence(2, width=32, height=32), tmp_path / name)
    (tmp_path / "not_a_dataset").mkdir()

    # Execute
    paths = sequence_paths(str(tmp_path))

    # Assert
    assert [p.name for p in paths] == ["a_seq", "b_seq"]


def test_missing_data_folder_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        sequence_paths(str(tmp_path / "nope"))
    with pytest.raises(DatasetError, match="neither"):
        sequence_paths(str(tmp_path))


def test_assign_sequence_wraps_and_counts_sharers() -> None:
    paths = [Path("a"), Path("b"), Path("c")]
    assert assign_sequence(paths, 0, 3) == (Path("a"), 0, 1)
    assert assign_sequence(paths, 4, 7) == (Path("b"), 1, 2)
    assert assign_sequence(paths, 6, 7) == (Path("a"), 2, 3)


@pytest.mark.shared_data
def test_real_sequences_one_per_node() -> None:
    # Prepare
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real sequences not present at {SHARED_DATA}")
    config = _config(data=str(SHARED_DATA), **{"frames-per-node": 3, "max-side": 96})

    # Execute
    frames = [load_node_frames(config, p, 4) for p in range(4)]

    # Assert
    assert len({fr.source for fr in frames}) == 4
    assert all(len(fr.frames) == 3 for fr in frames)
    assert all(max(f.to_frame().image.shape[:2]) <= 96 for fr in frames for f in fr.frames)
