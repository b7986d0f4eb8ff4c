"""YOLOv8 fine-tuning and evaluation with Ultralytics, fully offline.

This is the only module of rinr that imports ``ultralytics``. It hides the library's
online habits behind :func:`prepare_offline` (called first by every other function) and
offers what the edge devices and the fog node need for federated training:

- :func:`write_dataset` lays out frames in the YOLO folder format with a ``data.yaml``;
- :func:`train` fine-tunes a detector, optionally starting from FedAvg weights;
- :func:`evaluate` measures mAP on a dataset's ``val`` split;
- :func:`get_weights` / :func:`set_weights` move weights in and out of a model as a list of
  ``float32`` arrays that are safe to average.

Ultralytics is imported lazily, after :func:`prepare_offline` has set its environment, so
importing this module is cheap and never triggers Ultralytics' import-time checks.

Weight order
------------
Weights are the model's ``state_dict()`` entries **in state_dict order, floating-point
entries only**: every parameter plus the BatchNorm running means and variances. Integer
buffers (BatchNorm ``num_batches_tracked``) are left out: averaging counters means nothing,
and Ultralytics' BatchNorm layers use a fixed momentum, so the counters never affect results.
Two models built from the same model YAML and the same number of classes have the same order.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from rinr_core.errors import ConfigError, DatasetError
from rinr_core.frames import Box, Frame

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

log = logging.getLogger(__name__)

FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
"""Font files Ultralytics looks for in its config dir (and would otherwise download)."""

_SETTINGS_OFF = {
    "sync": False,
    "clearml": False,
    "comet": False,
    "dvc": False,
    "mlflow": False,
    "raytune": False,  # importing ray (installed with flwr[simulation]) costs seconds
    "tensorboard": False,
    "wandb": False,
    "vscode_msg": False,
    "openvino_msg": False,
}
_prepared_dir: Path | None = None

LabelledImage = tuple[np.ndarray, Box, str]


# --- offline setup --------------------------------------------------------------------------


def default_config_dir() -> Path:
    """Return the Ultralytics config folder used when none is given.

    ``$YOLO_CONFIG_DIR`` when already set (deployments may pin it), else a per-user folder
    in the system temp directory; never ``~/.config``.
    """
    if env := os.environ.get("YOLO_CONFIG_DIR"):
        return Path(env).expanduser()
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"rinr-yolo-{uid}"


def prepare_offline(config_dir: Path | None = None) -> Path:
    """Make Ultralytics work with no network, then import it; return its config folder.

    Sets ``YOLO_CONFIG_DIR`` and ``YOLO_OFFLINE=1`` (and ``YOLO_VERBOSE=False`` unless set)
    before Ultralytics is imported, puts a TTF font where Ultralytics looks for
    ``Arial.ttf`` (copied from matplotlib's bundled DejaVuSans), and turns off settings
    sync and the third-party logger integrations. Idempotent: later calls return the
    folder of the first one.

    Parameters
    ----------
    config_dir
        Folder for Ultralytics' settings and fonts (its ``YOLO_CONFIG_DIR``). Default:
        :func:`default_config_dir`.

    Returns
    -------
    Path
        The effective ``YOLO_CONFIG_DIR``.
    """
    global _prepared_dir
    if _prepared_dir is not None:
        if config_dir is not None and Path(config_dir).resolve() != _prepared_dir:
            log.warning(
                "Ultralytics is already set up with config dir %s; ignoring %s",
                _prepared_dir,
                config_dir,
            )
        return _prepared_dir
    wanted = Path(config_dir or default_config_dir()).expanduser().resolve()
    wanted.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_CONFIG_DIR"] = str(wanted)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ.setdefault("YOLO_VERBOSE", "False")

    import ultralytics.utils as uutils  # first import: reads the variables set above

    user_dir = Path(uutils.USER_CONFIG_DIR)
    if user_dir.parent.resolve() != wanted:
        log.warning(
            "ultralytics was imported before rinr set it up; it uses %s (not %s) and may "
            "have checked the network once at import",
            user_dir,
            wanted,
        )
    _install_fonts(user_dir)
    changes = {k: v for k, v in _SETTINGS_OFF.items() if uutils.SETTINGS.get(k) != v}
    if changes:
        uutils.SETTINGS.update(changes)
    _prepared_dir = user_dir.parent.resolve()
    return _prepared_dir


def _install_fonts(user_dir: Path) -> None:
    """Copy matplotlib's DejaVuSans to every font name Ultralytics would download."""
    missing = [user_dir / name for name in FONT_NAMES if not (user_dir / name).is_file()]
    if not missing:
        return
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if not source.is_file():
        raise ConfigError(
            f"no TTF font to give Ultralytics: {source} is missing; put any .ttf file at "
            f"{missing[0]} (Ultralytics would try to download Arial.ttf)"
        )
    user_dir.mkdir(parents=True, exist_ok=True)
    for target in missing:
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)  # atomic: parallel processes never see a half-written font


# --- settings and models --------------------------------------------------------------------


@dataclass
class TrainSettings:
    """How to build and fine-tune a YOLOv8 detector.

    Parameters
    ----------
    model
        A model YAML name or path (``"yolov8n.yaml"``, built from scratch, no download) or a
        path to an existing ``.pt`` checkpoint (its weights are transferred where shapes
        match). Hub names such as ``"yolov8n.pt"`` that are not files are refused: nothing
        can be downloaded.
    epochs, imgsz, batch
        Ultralytics training epochs, square input size in pixels, batch size.
    device
        ``"cpu"``, ``"0"`` (first GPU), ...; ``None`` picks ``"0"`` when CUDA is available.
    workers
        Dataloader worker processes (0 loads in the training process).
    seed
        Seeds model initialisation and Ultralytics' training.
    lr0
        Initial learning rate for AdamW; ``None`` keeps Ultralytics' automatic choice.
    warmup_epochs
        Ultralytics' learning-rate warm-up. Default 0: every federated round is a new training
        run, and a warm-up of at least 100 iterations per run would keep short fine-tuning rounds
        in warm-up forever.
    mosaic
        Mosaic augmentation probability (default 0: on a few dozen frames it slows learning).

    The nominal batch size (``nbs``) is set to ``batch`` so the optimizer steps every batch
    (Ultralytics accumulates gradients up to 64 images by default: 4 batches of 16 per step).
    Measured here: 38 generated frames at 128 px, batch 8, 60 epochs reached mAP50 0.995 /
    mAP50-95 0.82 with these settings; with Ultralytics' defaults 30 epochs stayed at 0.
    """

    model: str = "yolov8n.yaml"
    epochs: int = 1
    imgsz: int = 128
    batch: int = 16
    device: str | None = None
    workers: int = 0
    seed: int = 0
    lr0: float | None = None
    warmup_epochs: float = 0.0
    mosaic: float = 0.0

    def __post_init__(self) -> None:
        checks = {
            "epochs": self.epochs >= 1,
            "imgsz": self.imgsz >= 32,
            "batch": self.batch >= 1,
            "workers": self.workers >= 0,
            "lr0": self.lr0 is None or (math.isfinite(self.lr0) and self.lr0 >= 0),
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ConfigError(
                f"invalid TrainSettings {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}: "
                "need epochs>=1, imgsz>=32, batch>=1, workers>=0 and lr0 None or >=0"
            )


def resolve_device(device: str | None) -> str:
    """Return ``device``, or ``"0"`` when CUDA is available and ``"cpu"`` otherwise."""
    if device is not None:
        return device
    import torch

    return "0" if torch.cuda.is_available() else "cpu"


def _model_source(model: str) -> tuple[str, Path | None]:
    """Split ``model`` into (YAML config or "", weights path or None); refuse downloads."""
    if model.lower().endswith((".yaml", ".yml")):
        return model, None
    path = Path(model).expanduser()
    if path.suffix.lower() == ".pt" and path.is_file():
        return "", path.resolve()
    if path.suffix.lower() == ".pt":
        raise ConfigError(
            f"model {model!r} is not an existing file, and no downloads are possible here: "
            "pass the path of a local .pt weights file, or a model YAML such as "
            "'yolov8n.yaml' to train from scratch"
        )
    raise ConfigError(
        f"model {model!r} is neither a model YAML (e.g. 'yolov8n.yaml') nor a .pt weights file"
    )


def build_model(settings: TrainSettings, class_names: Sequence[str]) -> torch.nn.Module:
    """Build the detector ``settings.model`` describes, for ``class_names``.

    The result is deterministic for a given ``settings.seed`` (the global torch RNG is left
    untouched). Use ``get_weights(build_model(...))`` for a federation's initial weights.

    Returns
    -------
    ultralytics.nn.tasks.DetectionModel
        A float32 model on the CPU.
    """
    prepare_offline()
    import torch
    from ultralytics.nn.tasks import DetectionModel, load_checkpoint

    if not class_names:
        raise ConfigError("class_names is empty: a detector needs at least one class")
    cfg, weights_path = _model_source(settings.model)
    pretrained = load_checkpoint(weights_path)[0] if weights_path else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        model = DetectionModel(
            pretrained.yaml if pretrained is not None else cfg,
            nc=len(class_names),
            verbose=False,
        )
    if pretrained is not None:
        model.load(pretrained, verbose=False)
    model.names = dict(enumerate(class_names))
    return model


# --- weights ------------------------------------------------------------------------------


def _module(model: Any) -> torch.nn.Module:
    """Return the torch module inside an Ultralytics ``YOLO`` object, or ``model`` itself."""
    import torch

    inner = getattr(model, "model", None)
    if not isinstance(model, torch.nn.Module) and isinstance(inner, torch.nn.Module):
        return inner
    if isinstance(model, torch.nn.Module):
        return model
    raise ConfigError(f"expected a torch model or an Ultralytics YOLO object, got {type(model)}")


def _float_entries(model: Any) -> list[tuple[str, torch.Tensor]]:
    """The floating-point ``state_dict`` entries of ``model``, in state_dict order."""
    return [(k, v) for k, v in _module(model).state_dict().items() if v.is_floating_point()]


def weight_names(model: Any) -> list[str]:
    """Return the state_dict keys that :func:`get_weights` returns, in the same order."""
    return [name for name, _ in _float_entries(model)]


def get_weights(model: Any) -> list[np.ndarray]:
    """Return copies of ``model``'s floating-point state_dict tensors as ``float32`` arrays.

    See the module docstring for the order. ``model`` is a torch module or a ``YOLO`` object.
    """
    return [v.detach().cpu().float().numpy().copy() for _, v in _float_entries(model)]


def set_weights(model: Any, weights: Sequence[np.ndarray]) -> None:
    """Load arrays from :func:`get_weights` (or a FedAvg of them) into ``model`` in place.

    Raises
    ------
    ConfigError
        When the number or shapes of the arrays do not match the model, or a value is not
        finite.
    """
    import torch

    entries = _float_entries(model)
    if len(weights) != len(entries):
        raise ConfigError(
            f"got {len(weights)} weight arrays but the model has {len(entries)} float tensors: "
            "the weights come from another architecture; build every model from the same "
            "model YAML and class list"
        )
    arrays = [np.asarray(w) for w in weights]
    for (name, tensor), array in zip(entries, arrays, strict=True):
        if tuple(array.shape) != tuple(tensor.shape):
            raise ConfigError(
                f"weight {name!r} has shape {array.shape}, the model expects "
                f"{tuple(tensor.shape)}: check the model YAML and the number of classes"
            )
        if not np.all(np.isfinite(array)):
            raise ConfigError(f"weight {name!r} contains NaN or infinite values; not loading it")
    with torch.no_grad():
        for (_, tensor), array in zip(entries, arrays, strict=True):
            tensor.copy_(torch.from_numpy(array).to(device=tensor.device, dtype=tensor.dtype))


def weights_nbytes(weights: Sequence[np.ndarray]) -> int:
    """Return the total size in bytes of ``weights`` as they are (``float32``: 4 B a value)."""
    return int(sum(np.asarray(w).nbytes for w in weights))


# --- dataset ------------------------------------------------------------------------------


def _as_labelled(item: Frame | LabelledImage) -> LabelledImage:
    """Return a frame or an ``(image, box, label)`` tuple as a validated tuple."""
    if isinstance(item, Frame):
        return item.image, item.box, item.label
    image, box, label = item
    frame = Frame(image=np.asarray(image), box=box, label=label)  # validates image and box
    return frame.image, frame.box, frame.label


def _yolo_label(box: Box, width: int, height: int, class_id: int) -> str:
    """One YOLO label line: class, normalised centre x/y and width/height."""
    x, y, w, h = box
    xc, yc = (x + w / 2) / width, (y + h / 2) / height
    return f"{class_id} {xc:.8f} {yc:.8f} {w / width:.8f} {h / height:.8f}\n"


def _write_split(
    items: Sequence[Frame | LabelledImage], folder: Path, split: str, class_ids: dict[str, int]
) -> None:
    """Write one split's images (lossless PNG) and label files."""
    image_dir, label_dir = folder / "images" / split, folder / "labels" / split
    image_dir.mkdir(parents=True)
    label_dir.mkdir(parents=True)
    for i, item in enumerate(items):
        image, box, label = _as_labelled(item)
        if label not in class_ids:
            raise DatasetError(
                f"{split} frame {i} has label {label!r}, which is not in class_names "
                f"{list(class_ids)}; add it to class_names"
            )
        stem = f"{i:06d}"
        Image.fromarray(image).save(image_dir / f"{stem}.png", compress_level=1)
        height, width = image.shape[:2]
        (label_dir / f"{stem}.txt").write_text(_yolo_label(box, width, height, class_ids[label]))


def write_dataset(
    train: Sequence[Frame | LabelledImage],
    val: Sequence[Frame | LabelledImage],
    folder: Path,
    class_names: Sequence[str],
) -> Path:
    """Write frames as a YOLO dataset under ``folder``; return the ``data.yaml`` path.

    Layout: ``images/{train,val}/NNNNNN.png``, ``labels/{train,val}/NNNNNN.txt`` and
    ``data.yaml`` whose ``path`` is absolute, so Ultralytics never resolves it against its
    own datasets folder. Images are stored as lossless PNG: training images are typically
    decoded INR reconstructions, and validation images (the original JPEG frames, decoded)
    keep exactly their pixels. Existing ``images/`` and ``labels/`` subfolders of ``folder``
    are replaced; nothing else in it is touched.

    Parameters
    ----------
    train, val
        :class:`~rinr_core.frames.Frame` objects or ``(image, box, label)`` tuples, with a
        ``uint8`` HxWx3 image and an ``(x, y, w, h)`` pixel box.
    folder
        Dataset root; created if needed.
    class_names
        Class names; a frame's label must be one of them. Index = YOLO class id.
    """
    if not train or not val:
        raise DatasetError(
            f"need at least one train and one val frame, got {len(train)} train and "
            f"{len(val)} val; hold out some original frames for validation"
        )
    if not class_names or len(set(class_names)) != len(class_names):
        raise DatasetError(f"class_names must be non-empty and unique, got {list(class_names)}")
    root = Path(folder).expanduser().resolve()
    for sub in ("images", "labels"):
        shutil.rmtree(root / sub, ignore_errors=True)
    class_ids = {name: i for i, name in enumerate(class_names)}
    _write_split(train, root, "train", class_ids)
    _write_split(val, root, "val", class_ids)
    names = "".join(f"  {i}: {_yaml_str(n)}\n" for i, n in enumerate(class_names))
    data_yaml = root / "data.yaml"
    data_yaml.write_text(
        f"path: {_yaml_str(str(root))}\ntrain: images/train\nval: images/val\nnames:\n{names}",
        encoding="utf-8",
    )
    return data_yaml


def _yaml_str(text: str) -> str:
    """Quote ``text`` as a YAML double-quoted scalar (JSON strings are valid YAML)."""
    import json

    return json.dumps(text, ensure_ascii=False)


# --- training and evaluation ---------------------------------------------------------------


@dataclass
class TrainOutcome:
    """What :func:`train` returns.

    Attributes
    ----------
    weights
        The trained (EMA) weights, ``float32``, in :func:`get_weights` order.
    weights_path
        Ultralytics checkpoint of the same model (``best.pt``; stored by Ultralytics at fp16).
    metrics
        ``map50``, ``map50_95``, ``precision``, ``recall`` (final evaluation on the val split),
        ``train_seconds``, ``epochs``, ``imgsz``, ``num_train``, ``num_val``.
    """

    weights: list[np.ndarray]
    weights_path: Path
    metrics: dict[str, float | int] = field(default_factory=dict)


_METRIC_KEYS = {
    "map50": "metrics/mAP50(B)",
    "map50_95": "metrics/mAP50-95(B)",
    "precision": "metrics/precision(B)",
    "recall": "metrics/recall(B)",
}


def _detection_metrics(stats: dict[str, Any]) -> dict[str, float]:
    """Pick mAP50, mAP50-95, precision and recall out of Ultralytics' validation stats."""
    missing = [key for key in _METRIC_KEYS.values() if key not in stats]
    if missing:
        raise ConfigError(
            f"Ultralytics returned no {missing} (got {sorted(stats)}); validation failed"
        )
    return {name: float(stats[key]) for name, key in _METRIC_KEYS.items()}


def _amp(device: str) -> bool | str:
    """AMP mode that needs no download: bf16 on GPUs that have it, else off.

    Ultralytics' fp16 AMP check downloads a model first; bf16 skips that check.
    """
    if device == "cpu":
        return False
    import torch

    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else False


def _train_args(data_yaml: Path, settings: TrainSettings, workdir: Path) -> dict[str, Any]:
    """Ultralytics overrides for one quiet, offline fine-tuning run inside ``workdir``."""
    device = resolve_device(settings.device)
    args: dict[str, Any] = {
        "model": settings.model,
        "data": str(Path(data_yaml).resolve()),
        "epochs": settings.epochs,
        "imgsz": settings.imgsz,
        "batch": settings.batch,
        "device": device,
        "workers": settings.workers,
        "seed": settings.seed,
        "project": str(Path(workdir).resolve()),
        "name": "train",
        "exist_ok": True,
        "plots": False,
        "verbose": False,
        "val": False,  # Ultralytics still validates after the last epoch
        "amp": _amp(device),
        "nbs": settings.batch,
        "warmup_epochs": settings.warmup_epochs,
        "mosaic": settings.mosaic,
    }
    if settings.lr0 is not None:  # optimizer="auto" ignores lr0
        args.update(optimizer="AdamW", lr0=settings.lr0)
    return args


def train(
    data_yaml: Path,
    settings: TrainSettings,
    *,
    init_weights: Sequence[np.ndarray] | None = None,
    workdir: Path,
) -> TrainOutcome:
    """Fine-tune a YOLOv8 detector on a dataset from :func:`write_dataset`.

    Parameters
    ----------
    data_yaml
        Dataset description (absolute ``path``).
    settings
        Model, epochs, image size, device, ...
    init_weights
        Weights to start from (e.g. a FedAvg aggregate), in :func:`get_weights` order, for
        the same model and class count. ``None`` starts from ``settings.model``.
    workdir
        Ultralytics writes its run (``train/weights/best.pt``, label caches) here.

    Returns
    -------
    TrainOutcome
        Trained weights, checkpoint path, and metrics of the final evaluation on the val split.
    """
    prepare_offline()
    from ultralytics.models.yolo.detect import DetectionTrainer

    _model_source(settings.model)  # refuse a hub name before any dataset work
    trainer = DetectionTrainer(overrides=_train_args(data_yaml, settings, workdir))
    trainer.model = build_model(settings, list(trainer.data["names"].values()))
    if init_weights is not None:
        set_weights(trainer.model, init_weights)
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    weights_path = trainer.best if trainer.best.exists() else trainer.last
    metrics = {
        **_detection_metrics(trainer.metrics or {}),
        "train_seconds": seconds,
        "epochs": settings.epochs,
        "imgsz": settings.imgsz,
        "num_train": len(trainer.train_loader.dataset),
        "num_val": len(trainer.test_loader.dataset),
    }
    return TrainOutcome(
        weights=get_weights(trainer.ema.ema), weights_path=Path(weights_path), metrics=metrics
    )


def evaluate(
    weights_path_or_model: Path | str | Any,
    data_yaml: Path,
    settings: TrainSettings,
    *,
    workdir: Path | None = None,
) -> dict[str, float]:
    """Measure a detector on the ``val`` split of ``data_yaml``.

    Parameters
    ----------
    weights_path_or_model
        A ``.pt`` checkpoint path, a torch detection model or a ``YOLO`` object (left
        unchanged: a copy is evaluated).
    data_yaml
        Dataset description from :func:`write_dataset`.
    settings
        ``imgsz``, ``batch``, ``device`` and ``workers`` are used.
    workdir
        Where Ultralytics may write; default: the folder of ``data_yaml``.

    Returns
    -------
    dict
        ``map50``, ``map50_95``, ``precision``, ``recall``.
    """
    prepare_offline()
    from ultralytics.models.yolo.detect import DetectionValidator

    if isinstance(weights_path_or_model, (str, Path)):
        model: Any = str(Path(weights_path_or_model).expanduser().resolve())
        if not Path(model).is_file():
            raise ConfigError(f"weights file {model} does not exist; pass a trained .pt path")
    else:
        model = deepcopy(_module(weights_path_or_model)).float()  # the validator fuses layers
    args = {
        "data": str(Path(data_yaml).resolve()),
        "imgsz": settings.imgsz,
        "batch": settings.batch,
        "device": resolve_device(settings.device),
        "workers": settings.workers,
        "plots": False,
        "verbose": False,
        "rect": True,  # as during training's validation
        "split": "val",
    }
    save_dir = Path(workdir or Path(data_yaml).resolve().parent)
    validator = DetectionValidator(save_dir=save_dir, args=args)
    return _detection_metrics(validator(model=model))
