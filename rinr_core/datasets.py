"""Reading and writing labelled frame sequences in OTB and YOLO folder layouts.

Two layouts are understood, detected from the folder's content:

- **OTB**: ``img/*.jpg|jpeg|png`` (sorted by name) and ``groundtruth_rect.txt`` with one
  ``x,y,w,h`` line per frame (commas, tabs or spaces; blank lines ignored).
- **YOLO**: ``images/`` and ``labels/`` (optionally with split subfolders such as
  ``images/train``), one ``class cx cy w h`` line per object in normalized coordinates, class
  names from ``data.yaml``.

Frames are read one file at a time; a frame that cannot be used (unreadable image, bad or
missing box) is reported as a :class:`~rinr_core.frames.SkippedFrame` and the rest go on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import yaml
from PIL import Image

from rinr_core.errors import BadFrameError, ConfigError, DatasetError
from rinr_core.frames import Box, Frame, SkippedFrame
from rinr_core.images import camera_jpeg, encode_image, load_image, resize_frame

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
OTB_GROUNDTRUTH = "groundtruth_rect.txt"
YOLO_DATA_FILES = ("data.yaml", "data.yml", "dataset.yaml")
_LAYOUTS_HELP = (
    "expected an OTB sequence (img/*.jpg + groundtruth_rect.txt) "
    "or a YOLO dataset (images/ + labels/, optional data.yaml)"
)
_JPEG_MAGIC = b"\xff\xd8\xff"
_SEPARATORS = re.compile(r"[,\s]+")


@dataclass
class LoadedFrames:
    """The frames read from a dataset folder, the frames skipped (with reasons) and the source."""

    frames: list[Frame]
    skipped: list[SkippedFrame]
    source: str


@dataclass
class _Item:
    """One frame to read: its image file, its raw box (or why it has none) and its label."""

    index: int
    image_path: Path
    box: tuple[float, ...] | None  # pixels for OTB, normalized cx,cy,w,h for YOLO
    label: str
    problem: str | None = None
    normalized: bool = False


def load_sequence(
    path: str | Path,
    *,
    limit: int | None = None,
    max_side: int | None = None,
    stride: int = 1,
    keep_jpeg: bool = False,
) -> LoadedFrames:
    """Read the labelled frames of an OTB sequence or a YOLO dataset folder.

    Parameters
    ----------
    path
        The sequence folder (or a YOLO ``data.yaml`` inside it).
    limit
        Stop after this many frames were loaded (skipped frames do not count).
    max_side
        Shrink frames whose longer side exceeds this (see :func:`resize_frame`).
    stride
        Take every ``stride``-th frame of the sequence, starting with the first.
    keep_jpeg
        Store the JPEG the camera would send for ``frame.image`` in ``frame.meta["jpeg"]``:
        the original file bytes when the file is a JPEG loaded at full size, else a re-encode
        at the source's own quality (its quantization tables and chroma subsampling;
        :func:`~rinr_core.images.camera_jpeg`). ``meta["jpeg_source"]`` says which
        (``original``, ``source-tables`` or ``quality-75`` for a non-JPEG source), and
        ``meta["jpeg_is_original"]`` whether the bytes are the file's.

    Returns
    -------
    LoadedFrames
        Frames get ``name`` = file stem, ``meta["path"]`` (source file), ``meta["index"]``
        (position in the full sequence) and ``meta["source_size"]`` (``(W, H)`` on disk).

    Raises
    ------
    DatasetError
        ``path`` is not an OTB or YOLO folder.
    ConfigError
        ``limit``, ``stride`` or ``max_side`` is invalid.
    """
    frames: list[Frame] = []
    skipped: list[SkippedFrame] = []
    for item in iter_sequence(
        path, limit=limit, max_side=max_side, stride=stride, keep_jpeg=keep_jpeg
    ):
        if isinstance(item, Frame):
            frames.append(item)
        else:
            skipped.append(item)
    return LoadedFrames(frames=frames, skipped=skipped, source=str(Path(path)))


def iter_sequence(
    path: str | Path,
    *,
    limit: int | None = None,
    max_side: int | None = None,
    stride: int = 1,
    keep_jpeg: bool = False,
) -> Iterator[Frame | SkippedFrame]:
    """Yield the frames of a dataset folder one at a time (arguments as :func:`load_sequence`).

    The layout is detected (and errors raised) on the first ``next()``.
    """
    if stride < 1:
        raise ConfigError(f"stride must be at least 1, got {stride}")
    if limit is not None and limit < 0:
        raise ConfigError(f"limit must be >= 0 or None, got {limit}")
    if max_side == 0:
        max_side = None  # 0 keeps the size, as everywhere in rinr
    if max_side is not None and max_side < 2:
        raise ConfigError(f"max_side must be 0 or None (keep the size) or at least 2 pixels, "
                          f"got {max_side}")
    taken = 0
    for item in _list_items(Path(path))[::stride]:
        if limit is not None and taken >= limit:
            return
        result = _read_item(item, max_side=max_side, keep_jpeg=keep_jpeg)
        taken += isinstance(result, Frame)
        yield result


def _list_items(path: Path) -> list[_Item]:
    """Detect the layout of ``path`` and list its frames, without reading any image."""
    if path.is_file() and path.suffix in (".yaml", ".yml"):
        path = path.parent
    if not path.is_dir():
        raise DatasetError(f"dataset folder {path} does not exist; {_LAYOUTS_HELP}")
    if (path / "img").is_dir():
        return _list_otb(path)
    if (path / "images").is_dir() and (path / "labels").is_dir():
        return _list_yolo(path)
    raise DatasetError(f"{path} is not a dataset folder rinr understands: {_LAYOUTS_HELP}")


def _natural_key(path: Path) -> list[int | str]:
    """Sort key that orders ``frame2`` before ``frame10`` (same as by name for padded numbers)."""
    text = path.as_posix().lower()
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _image_files(folder: Path, recursive: bool) -> list[Path]:
    """Image files under ``folder``, in natural name order."""
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    files = [p for p in candidates if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    return sorted(files, key=lambda p: _natural_key(p.relative_to(folder)))


# --- OTB ----------------------------------------------------------------------------------


def _list_otb(path: Path) -> list[_Item]:
    """List an OTB sequence: images of ``img/`` paired in order with groundtruth lines."""
    gt_file = path / OTB_GROUNDTRUTH
    if not gt_file.is_file():
        raise DatasetError(
            f"{path} has img/ but no {OTB_GROUNDTRUTH}; add one x,y,w,h line per frame"
        )
    lines = [ln.strip() for ln in gt_file.read_text(errors="replace").splitlines()]
    lines = [ln for ln in lines if ln]
    images = _image_files(path / "img", recursive=False)
    label = path.resolve().name
    items = []
    for index, image_path in enumerate(images):
        if index >= len(lines):
            problem: str | None = (
                f"no groundtruth line for this frame ({OTB_GROUNDTRUTH} has {len(lines)} lines "
                f"for {len(images)} images)"
            )
            items.append(_Item(index, image_path, None, label, problem))
            continue
        box, problem = _parse_numbers(lines[index], count=4)
        items.append(_Item(index, image_path, box, label, problem))
    return items


def _parse_numbers(line: str, count: int) -> tuple[tuple[float, ...] | None, str | None]:
    """Parse ``count`` numbers separated by commas/tabs/spaces; return (values, problem)."""
    parts = [p for p in _SEPARATORS.split(line.strip()) if p]
    if len(parts) != count:
        return None, f"bad box line {line!r}: expected {count} numbers, got {len(parts)}"
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        return None, f"bad box line {line!r}: not all values are numbers"
    if not all(math.isfinite(v) for v in values):
        return None, f"bad box line {line!r}: NaN or infinite value (object not visible?)"
    return values, None


# --- YOLO ---------------------------------------------------------------------------------


def _list_yolo(path: Path) -> list[_Item]:
    """List a YOLO dataset: every image under ``images/`` with its largest labelled box."""
    names = _yolo_class_names(path)
    items = []
    for index, image_path in enumerate(_image_files(path / "images", recursive=True)):
        relative = image_path.relative_to(path / "images")
        label_file = (path / "labels" / relative).with_suffix(".txt")
        box, label, problem = _parse_yolo_labels(label_file, names)
        items.append(_Item(index, image_path, box, label, problem, normalized=True))
    return items


def _yolo_class_names(path: Path) -> dict[int, str]:
    """Class names from the dataset's data.yaml ``names:`` (list or mapping); empty if none."""
    for file_name in YOLO_DATA_FILES:
        data_file = path / file_name
        if data_file.is_file():
            try:
                data = yaml.safe_load(data_file.read_text()) or {}
            except yaml.YAMLError as exc:
                raise DatasetError(f"cannot parse {data_file}: {exc}; fix the YAML") from exc
            names = data.get("names") if isinstance(data, dict) else None
            if isinstance(names, list):
                return {i: str(n) for i, n in enumerate(names)}
            if isinstance(names, dict):
                return {int(k): str(v) for k, v in names.items()}
            return {}
    return {}


def _parse_yolo_labels(
    label_file: Path, names: dict[int, str]
) -> tuple[tuple[float, ...] | None, str, str | None]:
    """Return (largest normalized box, its class name, problem) of one YOLO label file."""
    if not label_file.is_file():
        return None, "", f"no label file {label_file.name} (frame has no labelled object)"
    lines = [ln for ln in label_file.read_text(errors="replace").splitlines() if ln.strip()]
    if not lines:
        return None, "", f"label file {label_file.name} is empty (frame has no labelled object)"
    best: tuple[float, ...] | None = None
    for line in lines:
        values, problem = _parse_numbers(line, count=5)
        if problem is not None:
            return None, "", f"{label_file.name}: {problem} (class cx cy w h)"
        assert values is not None  # _parse_numbers gives values when there is no problem
        if best is None or values[3] * values[4] > best[3] * best[4]:
            best = values
    assert best is not None  # lines is not empty
    class_id = int(best[0])
    return best[1:], names.get(class_id, f"class{class_id}"), None


# --- reading one frame --------------------------------------------------------------------


def _read_item(item: _Item, *, max_side: int | None, keep_jpeg: bool) -> Frame | SkippedFrame:
    """Load one listed frame, or say why it cannot be used."""
    name = item.image_path.stem
    if item.problem is not None:
        return SkippedFrame(name, f"{item.image_path}: {item.problem}")
    try:
        data = item.image_path.read_bytes()
    except OSError as exc:
        return SkippedFrame(name, f"{item.image_path}: cannot read file: {exc}")
    try:
        image = load_image(data, name=str(item.image_path))
        height, width = image.shape[:2]
        box = _pixel_box(item, width, height)
        meta = {"path": str(item.image_path), "index": item.index, "source_size": (width, height)}
        frame = Frame(image, cast(Box, box), name, item.label, meta)  # Frame rounds the box
        if max_side is not None:
            frame = resize_frame(frame, max_side)
    except BadFrameError as exc:
        return SkippedFrame(name, f"{item.image_path}: {exc}")
    if keep_jpeg:  # what the camera would send: its file, or a re-encode at its own quality
        original = frame.width == width and data.startswith(_JPEG_MAGIC)
        if original:
            frame.meta["jpeg"], frame.meta["jpeg_source"] = data, "original"
        else:
            frame.meta["jpeg"], frame.meta["jpeg_source"] = camera_jpeg(data, frame.image)
        frame.meta["jpeg_is_original"] = original
    return frame


def _pixel_box(item: _Item, width: int, height: int) -> tuple[float, ...]:
    """The item's box in pixels ``(x, y, w, h)`` for an image of ``width`` x ``height``."""
    assert item.box is not None  # an item without a box has a problem and is not read
    if not item.normalized:
        return item.box
    cx, cy, w, h = item.box
    # round away float noise so an integer box written by write_yolo reads back exactly
    return (
        round((cx - w / 2) * width, 3),
        round((cy - h / 2) * height, 3),
        round(w * width, 3),
        round(h * height, 3),
    )


# --- writing ------------------------------------------------------------------------------


def _prepare_folder(folder: Path, image_dir: str) -> Path:
    """Create ``folder/image_dir``; refuse to mix frames with a sequence already there."""
    target = folder / image_dir
    target.mkdir(parents=True, exist_ok=True)
    if _image_files(target, recursive=True):
        raise DatasetError(f"{target} already holds images; write to an empty or new folder")
    return target


def write_otb(frames: list[Frame], folder: Path, quality: int = 95) -> Path:
    """Write ``frames`` as an OTB sequence: ``img/%06d.jpg`` + ``groundtruth_rect.txt``.

    Images are numbered from 1 in list order; returns ``folder``.

    Raises
    ------
    DatasetError
        ``folder/img`` already holds images.
    """
    folder = Path(folder)
    img_dir = _prepare_folder(folder, "img")
    lines = []
    for number, frame in enumerate(frames, start=1):
        (img_dir / f"{number:06d}.jpg").write_bytes(encode_image(frame.image, "JPEG", quality))
        lines.append(",".join(str(v) for v in frame.box))
    (folder / OTB_GROUNDTRUTH).write_text("".join(f"{ln}\n" for ln in lines))
    return folder


def write_yolo(
    frames: list[Frame],
    folder: Path,
    class_names: list[str] | None = None,
    quality: int = 95,
) -> Path:
    """Write ``frames`` as a YOLO dataset: ``images/``, ``labels/`` and ``data.yaml``.

    ``data.yaml`` has an absolute ``path:`` and uses ``images`` for both ``train`` and ``val``
    (Ultralytics needs both keys). Class ids index ``class_names``; by default the frames'
    labels in order of first appearance. Returns ``folder`` (``folder / "data.yaml"`` is what
    Ultralytics' ``train(data=...)`` takes).

    Raises
    ------
    DatasetError
        A frame's label is not in ``class_names``, or ``folder/images`` already holds images.
    """
    folder = Path(folder)
    names = (
        list(class_names)
        if class_names is not None
        else list(dict.fromkeys(f.label for f in frames))
    )
    ids = _class_ids(names)
    img_dir = _prepare_folder(folder, "images")
    write_yolo_split(frames, img_dir, folder / "labels", ids, image_format="JPEG",
                     quality=quality, first=1)
    return write_data_yaml(folder, {"train": "images", "val": "images"}, names).parent


def _class_ids(names: Sequence[str]) -> dict[str, int]:
    """Class name -> YOLO class id; refuses an empty or repeated list."""
    if not names or len(set(names)) != len(names):
        raise DatasetError(f"class_names must be non-empty and unique, got {list(names)}")
    return {n: i for i, n in enumerate(names)}


def write_yolo_split(frames: Sequence[Frame], image_dir: Path, label_dir: Path,
                     class_ids: dict[str, int], *, image_format: str = "PNG", quality: int = 95,
                     first: int = 0, split: str = "") -> None:
    """Write frames' images and YOLO label files (``NNNNNN.{png,jpg}`` / ``NNNNNN.txt``).

    PNG keeps pixels exactly (decoded reconstructions, held-out originals); JPEG is for
    exported sequences. Raises :class:`DatasetError` for a label not in ``class_ids``.
    """
    image_dir.mkdir(parents=True, exist_ok=True)
    label_dir.mkdir(parents=True, exist_ok=True)
    suffix = ".png" if image_format == "PNG" else ".jpg"
    where = f"{split} " if split else ""
    for number, frame in enumerate(frames, start=first):
        if frame.label not in class_ids:
            raise DatasetError(
                f"{where}frame {number - first} has label {frame.label!r}, which is not in "
                f"class_names {list(class_ids)}; add it to class_names"
            )
        stem = f"{number:06d}"
        if image_format == "PNG":
            Image.fromarray(frame.image).save(image_dir / f"{stem}.png", compress_level=1)
        else:
            (image_dir / f"{stem}{suffix}").write_bytes(encode_image(frame.image, "JPEG", quality))
        (label_dir / f"{stem}.txt").write_text(_yolo_line(frame, class_ids[frame.label]) + "\n")


def write_data_yaml(folder: Path, splits: Mapping[str, str], class_names: Sequence[str]) -> Path:
    """Write ``folder/data.yaml`` (absolute ``path``, the split folders, class names); return it."""
    data = {"path": str(Path(folder).resolve()), **splits, "names": dict(enumerate(class_names))}
    target = Path(folder) / "data.yaml"
    target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return target


def _yolo_line(frame: Frame, class_id: int) -> str:
    """The normalized ``class cx cy w h`` label line of ``frame``'s box."""
    x, y, w, h = frame.box
    cx, cy = (x + w / 2) / frame.width, (y + h / 2) / frame.height
    return f"{class_id} {cx:.8f} {cy:.8f} {w / frame.width:.8f} {h / frame.height:.8f}"
