"""An edge node's own frames: where they come from, when they are captured, which are held out.

A node's frames are generated scenes (``data = ""``, one scene per partition id) or frames of
a real OTB/YOLO sequence (``data`` names the folders; node ``p`` takes folder ``p mod n``, and
nodes that share a folder take interleaved frames so no frame belongs to two nodes). Each
frame is kept as the JPEG the node's camera produced: that is what is uploaded, and what the
held-out frames are evaluated against.

Capture schedule: with ``frames-per-round = k > 0`` the node has captured its first ``r * k``
frames in round ``r`` (all of them when ``k = 0``). Every ``val-every``-th frame (the 5th,
10th, ... by default) is held out for validation and never leaves the node.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rinr_core.datasets import load_sequence
from rinr_core.errors import ConfigError, DatasetError
from rinr_core.frames import Box, Frame, SkippedFrame
from rinr_core.images import encode_image, load_image
from rinr_core.synthetic import generate_partition
from rinr_runtime.config import RuntimeConfig
from rinr_runtime.records import Upload, frame_id


@dataclass(frozen=True)
class OwnFrame:
    """One frame of the node: its camera JPEG, object box and class label."""

    frame_id: str
    jpeg: bytes
    box: Box
    label: str
    name: str
    index: int
    held_out: bool

    def to_frame(self) -> Frame:
        """The frame's pixels as decoded from its JPEG (what the node's camera delivered)."""
        return Frame(load_image(self.jpeg, name=self.name), self.box, self.name, self.label)

    def to_upload(self) -> Upload:
        """This frame as an upload to the fog."""
        return Upload(self.frame_id, self.jpeg, tuple(float(v) for v in self.box), self.label,
                      self.name)


@dataclass
class NodeFrames:
    """All frames of one node, the frames that could not be used, and where they came from."""

    frames: list[OwnFrame]
    skipped: list[SkippedFrame]
    source: str

    def captured(self, server_round: int, frames_per_round: int) -> list[OwnFrame]:
        """The frames captured by round ``server_round`` (1-based)."""
        if frames_per_round <= 0:
            return list(self.frames)
        return self.frames[: max(0, server_round) * frames_per_round]

    def train_frames(self, server_round: int, frames_per_round: int) -> list[OwnFrame]:
        """Captured frames that may be shared (not held out)."""
        return [f for f in self.captured(server_round, frames_per_round) if not f.held_out]

    def val_frames(self, server_round: int, frames_per_round: int) -> list[OwnFrame]:
        """Captured frames held out for validation."""
        return [f for f in self.captured(server_round, frames_per_round) if f.held_out]


def load_node_frames(config: RuntimeConfig, partition_id: int, num_partitions: int) -> NodeFrames:
    """The frames of node ``partition_id`` out of ``num_partitions`` (see the module docstring).

    Raises
    ------
    DatasetError
        ``data`` names no usable OTB/YOLO folder.
    ConfigError
        ``partition_id`` is negative.
    """
    if partition_id < 0:
        raise ConfigError(f"partition id must be >= 0, got {partition_id}")
    if not config.data.strip():
        frames = generate_partition(
            partition_id, config.frames_per_node, width=config.frame_width,
            height=config.frame_height, seed=config.seed,
        )
        for frame in frames:
            frame.meta["jpeg"] = encode_image(frame.image, "JPEG", config.jpeg_quality)
        return _own_frames(frames, [], f"generated scene {partition_id}", config)
    paths = sequence_paths(config.data)
    path, share, shares = assign_sequence(paths, partition_id, max(num_partitions, 1))
    loaded = load_sequence(path, limit=config.frames_per_node * shares,
                           max_side=config.max_side or None, keep_jpeg=True)
    mine = loaded.frames[share::shares][: config.frames_per_node]
    source = f"{path} (frames {share}::{shares})" if shares > 1 else str(path)
    return _own_frames(mine, loaded.skipped, source, config)


def _own_frames(frames: list[Frame], skipped: list[SkippedFrame], source: str,
                config: RuntimeConfig) -> NodeFrames:
    """Turn frames with ``meta["jpeg"]`` into :class:`OwnFrame` s, mapping labels to classes."""
    own: list[OwnFrame] = []
    skipped = list(skipped)
    for frame in frames:
        label = class_of(frame.label, config.class_names)
        if label is None:
            skipped.append(SkippedFrame(frame.name, f"label {frame.label!r} is not in "
                                                    f"class-names {list(config.class_names)}"))
            continue
        jpeg = frame.meta["jpeg"]
        index = len(own)
        own.append(OwnFrame(frame_id(jpeg), jpeg, frame.box, label, frame.name, index,
                            held_out=(index + 1) % config.val_every == 0))
    return NodeFrames(own, skipped, source)


def class_of(label: str, class_names: tuple[str, ...]) -> str | None:
    """The class of ``label``: the only class in single-class runs, else ``label`` if known."""
    if len(class_names) == 1:
        return class_names[0]
    return label if label in class_names else None


def sequence_paths(data: str) -> list[Path]:
    """The dataset folders ``data`` names, in order.

    ``data`` is a comma-separated list of OTB/YOLO folders, or one folder whose subfolders
    (sorted by name) are such folders.

    Raises
    ------
    DatasetError
        A named folder does not exist, or a parent folder holds no dataset folder.
    """
    names = [p.strip() for p in data.split(",") if p.strip()]
    paths = [Path(n).expanduser() for n in names]
    for path in paths:
        if not path.is_dir():
            raise DatasetError(f"data folder {path} does not exist; fix the `data` run_config key")
    if len(paths) == 1 and not _is_dataset(paths[0]):
        children = sorted(p for p in paths[0].iterdir() if p.is_dir() and _is_dataset(p))
        if not children:
            raise DatasetError(
                f"{paths[0]} is neither an OTB/YOLO folder nor a folder of them; expected "
                "img/ + groundtruth_rect.txt, or images/ + labels/"
            )
        return children
    return paths


def _is_dataset(path: Path) -> bool:
    """Whether ``path`` looks like an OTB sequence or a YOLO dataset folder."""
    return (path / "img").is_dir() or ((path / "images").is_dir() and (path / "labels").is_dir())


def assign_sequence(paths: list[Path], partition_id: int, num_partitions: int
                    ) -> tuple[Path, int, int]:
    """The folder of node ``partition_id``, its share index and the number of nodes sharing it."""
    count = len(paths)
    index = partition_id % count
    sharing = [p for p in range(max(num_partitions, partition_id + 1)) if p % count == index]
    return paths[index], sharing.index(partition_id), len(sharing)
