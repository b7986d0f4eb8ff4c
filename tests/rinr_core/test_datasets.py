"""Tests for rinr_core.datasets: OTB and YOLO readers and writers, bad frames, real sequences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from rinr_core.datasets import iter_sequence, load_sequence, write_otb, write_yolo
from rinr_core.errors import ConfigError, DatasetError
from rinr_core.frames import Frame, SkippedFrame
from rinr_core.images import encode_image
from rinr_core.synthetic import generate_sequence


def _otb_folder(root: Path, boxes: list[str], num_images: int, name: str = "walker") -> Path:
    """An OTB sequence of ``num_images`` 32x24 JPEGs with the given groundtruth lines."""
    folder = root / name
    (folder / "img").mkdir(parents=True)
    for i in range(num_images):
        image = np.full((24, 32, 3), 10 * i, np.uint8)
        (folder / "img" / f"{i + 1:04d}.jpg").write_bytes(encode_image(image))
    (folder / "groundtruth_rect.txt").write_text("\n".join(boxes) + "\n")
    return folder


@pytest.mark.parametrize("separator", [",", "\t", " ", ", "])
def test_otb_separators(tmp_path: Path, separator: str) -> None:
    # Prepare
    lines = [separator.join(["1", "2", "10", "8"]), separator.join(["3.5", "4", "10.25", "8"])]
    folder = _otb_folder(tmp_path, lines, 2)

    # Execute
    loaded = load_sequence(folder)

    # Assert
    assert [f.box for f in loaded.frames] == [(1, 2, 10, 8), (3, 4, 11, 8)]
    assert loaded.skipped == []
    assert [f.name for f in loaded.frames] == ["0001", "0002"]
    assert {f.label for f in loaded.frames} == {"walker"}


def test_otb_blank_lines_are_ignored(tmp_path: Path) -> None:
    folder = _otb_folder(tmp_path, ["", "1,1,5,5", "", "2,2,5,5", "   "], 2)

    loaded = load_sequence(folder)

    assert [f.box for f in loaded.frames] == [(1, 1, 5, 5), (2, 2, 5, 5)]


def test_bad_frames_are_skipped_with_reasons_and_the_rest_load(tmp_path: Path) -> None:
    # Prepare: 8 frames; #2 corrupt JPEG, #3 NaN box, #4 box outside, #5 w=0, #6 bad line,
    # and only 7 groundtruth lines for 8 images
    lines = [
        "1,1,5,5",
        "1,1,5,5",
        "NaN,NaN,NaN,NaN",
        "100,100,5,5",
        "1,1,0,5",
        "1,1,five,5",
        "2,2,5,5",
    ]
    folder = _otb_folder(tmp_path, lines, 8)
    (folder / "img" / "0002.jpg").write_bytes(b"\xff\xd8\xff\xe0 garbage")

    # Execute
    loaded = load_sequence(folder)

    # Assert
    assert [f.name for f in loaded.frames] == ["0001", "0007"]
    reasons = {s.name: s.reason for s in loaded.skipped}
    assert set(reasons) == {"0002", "0003", "0004", "0005", "0006", "0008"}
    assert "cannot read image" in reasons["0002"]
    assert "NaN" in reasons["0003"]
    assert "outside" in reasons["0004"]
    assert "non-positive size" in reasons["0005"]
    assert "not all values are numbers" in reasons["0006"]
    assert "no groundtruth line" in reasons["0008"] and "7 lines for 8 images" in reasons["0008"]


def test_stride_and_limit(tmp_path: Path) -> None:
    # Prepare: frame 3 (index 2) is bad
    lines = ["1,1,5,5"] * 2 + ["nan,1,5,5"] + ["1,1,5,5"] * 7
    folder = _otb_folder(tmp_path, lines, 10)

    # Execute
    strided = load_sequence(folder, stride=2, limit=3)

    # Assert: indices 0, 2 (skipped), 4, 6 -- the limit counts loaded frames only
    assert [f.meta["index"] for f in strided.frames] == [0, 4, 6]
    assert [s.name for s in strided.skipped] == ["0003"]


def test_invalid_options_raise_config_error(tmp_path: Path) -> None:
    folder = _otb_folder(tmp_path, ["1,1,5,5"], 1)
    with pytest.raises(ConfigError, match="stride"):
        load_sequence(folder, stride=0)
    with pytest.raises(ConfigError, match="limit"):
        load_sequence(folder, limit=-1)


def test_unknown_layout_says_what_is_expected(tmp_path: Path) -> None:
    (tmp_path / "stuff").mkdir()
    with pytest.raises(DatasetError, match="OTB.*YOLO"):
        load_sequence(tmp_path / "stuff")
    with pytest.raises(DatasetError, match="does not exist"):
        load_sequence(tmp_path / "missing")


def test_otb_without_groundtruth_is_a_dataset_error(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    with pytest.raises(DatasetError, match="groundtruth_rect.txt"):
        load_sequence(tmp_path)


def test_write_otb_round_trip(tmp_path: Path) -> None:
    # Prepare
    frames = generate_sequence(5, width=64, height=48, seed=3)

    # Execute
    folder = write_otb(frames, tmp_path / "seq")
    loaded = load_sequence(folder)

    # Assert: same boxes, near-identical pixels, OTB naming
    assert [f.box for f in loaded.frames] == [f.box for f in frames]
    assert [f.name for f in loaded.frames] == ["000001", "000002", "000003", "000004", "000005"]
    diff = np.abs(loaded.frames[0].image.astype(int) - frames[0].image.astype(int)).mean()
    assert diff < 6


def test_write_otb_refuses_a_folder_with_images(tmp_path: Path, synthetic_frames) -> None:
    write_otb(synthetic_frames, tmp_path)
    with pytest.raises(DatasetError, match="already holds images"):
        write_otb(synthetic_frames, tmp_path)


def test_write_yolo_round_trip(tmp_path: Path) -> None:
    # Prepare: two labels, two sizes
    frames = generate_sequence(3, width=64, height=48, seed=1, label="car")
    frames += generate_sequence(2, width=80, height=40, seed=2, label="boat")

    # Execute
    folder = write_yolo(frames, tmp_path / "yolo")
    loaded = load_sequence(folder)

    # Assert: boxes within 1 px, labels from data.yaml, absolute path in data.yaml
    assert len(loaded.frames) == 5 and loaded.skipped == []
    for original, read in zip(frames, loaded.frames, strict=True):
        assert np.abs(np.subtract(original.box, read.box)).max() <= 1
    assert [f.label for f in loaded.frames] == ["car"] * 3 + ["boat"] * 2
    data = yaml.safe_load((folder / "data.yaml").read_text())
    assert Path(data["path"]).is_absolute() and data["names"] == {0: "car", 1: "boat"}
    assert load_sequence(folder / "data.yaml").frames[0].box == loaded.frames[0].box


def test_write_yolo_rejects_unknown_labels(tmp_path: Path, synthetic_frames) -> None:
    with pytest.raises(DatasetError, match="not in class_names"):
        write_yolo(synthetic_frames, tmp_path, class_names=["person"])


def test_yolo_splits_largest_box_and_missing_labels(tmp_path: Path) -> None:
    # Prepare: images/train + images/val; no data.yaml
    image = encode_image(np.zeros((40, 100, 3), np.uint8))
    for split in ("train", "val"):
        (tmp_path / "images" / split).mkdir(parents=True)
        (tmp_path / "labels" / split).mkdir(parents=True)
    (tmp_path / "images" / "train" / "a.jpg").write_bytes(image)
    (tmp_path / "images" / "train" / "b.jpg").write_bytes(image)
    (tmp_path / "images" / "val" / "c.jpg").write_bytes(image)
    (tmp_path / "images" / "val" / "d.jpg").write_bytes(image)
    (tmp_path / "labels" / "train" / "a.txt").write_text("0 0.1 0.1 0.1 0.1\n3 0.5 0.5 0.2 0.5\n")
    (tmp_path / "labels" / "val" / "c.txt").write_text("\n")
    (tmp_path / "labels" / "val" / "d.txt").write_text("1 0.5 0.5 0.2\n")

    # Execute
    loaded = load_sequence(tmp_path)

    # Assert
    assert [(f.name, f.box, f.label) for f in loaded.frames] == [("a", (40, 10, 20, 20), "class3")]
    reasons = {s.name: s.reason for s in loaded.skipped}
    assert "no label file" in reasons["b"]
    assert "empty" in reasons["c"]
    assert "expected 5 numbers" in reasons["d"]


def test_keep_jpeg_stores_original_bytes_and_path(tmp_path: Path) -> None:
    # Prepare
    folder = _otb_folder(tmp_path, ["1,1,5,5"] * 2, 2)

    # Execute
    full = load_sequence(folder, keep_jpeg=True)
    resized = load_sequence(folder, keep_jpeg=True, max_side=16)
    plain = load_sequence(folder)

    # Assert: originals at full size; re-encoded when resized; path always set
    first = full.frames[0]
    assert first.meta["jpeg"] == (folder / "img" / "0001.jpg").read_bytes()
    assert first.meta["jpeg_is_original"] is True
    assert first.meta["path"] == str(folder / "img" / "0001.jpg")
    small = resized.frames[0]
    assert small.width == 16 and small.meta["jpeg_is_original"] is False
    assert small.meta["jpeg"].startswith(b"\xff\xd8\xff") and small.meta["source_size"] == (32, 24)
    assert "jpeg" not in plain.frames[0].meta and "path" in plain.frames[0].meta


def test_a_resized_frame_is_re_encoded_at_the_sources_own_quality(tmp_path: Path) -> None:
    # Prepare: a camera that wrote quality-40 JPEGs
    from io import BytesIO

    from PIL import Image

    image = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    (tmp_path / "img").mkdir()
    Image.fromarray(image).save(tmp_path / "img" / "0001.jpg", quality=40)
    (tmp_path / "groundtruth_rect.txt").write_text("10,10,20,20\n")
    source_tables = Image.open(tmp_path / "img" / "0001.jpg").quantization

    # Execute
    frame = load_sequence(tmp_path, keep_jpeg=True, max_side=40).frames[0]

    # Assert: the relay baseline is the camera's quality, not a quality-95 re-encode
    relayed = Image.open(BytesIO(frame.meta["jpeg"]))
    assert frame.meta["jpeg_source"] == "source-tables"
    assert relayed.quantization == source_tables and relayed.size == (40, 30)
    q95 = len(encode_image(frame.image, "JPEG", 95))
    assert len(frame.meta["jpeg"]) < q95


def test_iter_sequence_is_lazy(tmp_path: Path) -> None:
    # Prepare
    folder = _otb_folder(tmp_path, ["1,1,5,5"] * 3, 3)
    items = iter_sequence(folder)

    # Execute: take one item, then remove the file of the last frame
    first = next(items)
    (folder / "img" / "0003.jpg").unlink()
    rest = list(items)

    # Assert: the third file was only read after the first item was handed out
    assert isinstance(first, Frame)
    assert isinstance(rest[-1], SkippedFrame) and "cannot read file" in rest[-1].reason


README_FRAME_COUNTS = {
    "Crossing": (120, (360, 240)),
    "vot_bag": (196, (480, 360)),
    "uav123_boat1": (301, (1280, 720)),
    "uav123_wakeboard7": (67, (1280, 720)),
}


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["Crossing", "vot_bag"])
def test_real_small_sequences_load_completely(seq_dir, name: str) -> None:
    # Prepare
    count, size = README_FRAME_COUNTS[name]

    # Execute: every frame, shrunk to keep the test fast
    loaded = load_sequence(seq_dir(name), max_side=96)

    # Assert: the README's frame count, nothing skipped (vot_bag has float boxes)
    assert len(loaded.frames) == count and loaded.skipped == []
    assert loaded.frames[0].meta["source_size"] == size
    assert all(f.label == name for f in loaded.frames)


@pytest.mark.shared_data
def test_real_vot_bag_float_boxes(seq_dir) -> None:
    # Prepare: first line is 292.23,128.36,145.96,132.47
    folder = seq_dir("vot_bag")

    # Execute
    loaded = load_sequence(folder, limit=2, keep_jpeg=True)

    # Assert: floor of the corner, ceil of the far edge
    assert loaded.frames[0].box == (292, 128, 147, 133)
    assert loaded.frames[0].meta["jpeg_is_original"] is True


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["uav123_boat1", "uav123_wakeboard7"])
def test_real_large_sequences_list_all_frames(seq_dir, name: str) -> None:
    # Prepare
    count, size = README_FRAME_COUNTS[name]

    # Execute: a strided sample, resized (full 1280x720 decodes are slow on one core)
    stride = 30
    loaded = load_sequence(seq_dir(name), stride=stride, max_side=160)

    # Assert: the strided sample covers the README's frame count
    expected = len(range(0, count, stride))
    assert len(loaded.frames) + len(loaded.skipped) == expected
    assert len(loaded.frames) >= expected - 1
    assert loaded.frames[0].meta["source_size"] == size
    assert max(loaded.frames[0].width, loaded.frames[0].height) == 160
