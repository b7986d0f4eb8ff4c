"""The forward-gradient trainer: the same data, loss and validation as backprop training.

:func:`train_forward` is :func:`rinr_runtime.detector.train`'s ``forward-gradient`` branch.
Batches come from Ultralytics' own ``build_yolo_dataset``/``build_dataloader`` on the same
``data.yaml`` with the same augmentation settings as the backprop trainer (the batch dict
``img``, ``cls``, ``bboxes``, ``batch_idx``); the loss is Ultralytics' ``v8DetectionLoss``
(``model.init_criterion()``) with its default box/cls/dfl gains; the final metrics come from
:func:`rinr_runtime.detector.evaluate` on the ``val`` split. The estimator and the update
are :class:`rinr_runtime.detector.forward.ForwardGradient`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from copy import deepcopy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rinr_core.errors import ConfigError
from rinr_runtime.detector.forward import ForwardGradient, ForwardSettings
from rinr_runtime.detector.forward_memory import StepMemory, StepMeter, module_tensors
from rinr_runtime.detector.forward_parts import SplitModel, part_filter, trainable_split
from rinr_runtime.detector.model import (
    TrainSettings,
    _model_source,
    build_model,
    get_weights,
    resolve_device,
    set_weights,
)
from rinr_runtime.detector.offline import prepare_offline

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

    from rinr_runtime.detector.training import TrainOutcome

StepCallback = Callable[[int, float, Any], None]
"""``callback(step, train_seconds, model)`` after every step (its own time is not counted)."""


def torch_device(device: str) -> torch.device:
    """Ultralytics' device spelling (``"cpu"``, ``"0"``, ``"cuda:1"``) as a torch device."""
    import torch

    return torch.device(f"cuda:{device}" if device.isdigit() else device)


def hyperparameters(settings: TrainSettings) -> Any:
    """Ultralytics' default configuration with the run's image size, batch and augmentation."""
    prepare_offline()
    from ultralytics.cfg import get_cfg

    return get_cfg(overrides={"imgsz": settings.imgsz, "batch": settings.batch,
                              "mosaic": settings.mosaic, "seed": settings.seed,
                              "workers": settings.workers, "task": "detect", "mode": "train"})


def train_loader(data_yaml: Path, settings: TrainSettings, cfg: Any, stride: int,
                 device: torch.device) -> tuple[Any, dict[str, Any]]:
    """Ultralytics' training dataloader of ``data_yaml`` (augmenting, shuffled) and its data dict."""
    prepare_offline()
    from ultralytics.data import build_dataloader, build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    data = check_det_dataset(str(Path(data_yaml).resolve()))
    dataset = build_yolo_dataset(cfg, data["train"], settings.batch, data, mode="train",
                                 stride=stride)
    loader = build_dataloader(dataset, settings.batch, settings.workers, shuffle=True,
                              device=device)
    return loader, data


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    """The batch on ``device`` with images as float in [0, 1] (as Ultralytics' trainer does)."""
    import torch

    out = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    out["img"] = out["img"].float() / 255
    return out


def prepare_model(model: Any, cfg: Any) -> Any:
    """``model`` ready for forward passes only: hyperparameters set, no autograd, BN frozen.

    Returns Ultralytics' detection loss of the model.
    """
    import torch

    model.args = cfg
    model.train()  # the Detect head returns its raw training outputs
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()  # running statistics, as a fixed-point device (BN folded) has
    for param in model.parameters():
        param.requires_grad_(False)
    return model.init_criterion()


def save_checkpoint(model: Any, path: Path, settings: TrainSettings) -> Path:
    """Save ``model`` as an Ultralytics checkpoint (fp16 copy, like Ultralytics' own)."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    copy = deepcopy(model).half()
    for param in copy.parameters():
        param.requires_grad_(False)
    torch.save({"model": copy, "ema": None, "epoch": settings.epochs,
                "train_args": {"imgsz": settings.imgsz, "batch": settings.batch}}, path)
    return path


def train_forward(
    data_yaml: Path,
    settings: TrainSettings,
    forward: ForwardSettings,
    *,
    trainable: str = "head",
    init_weights: Sequence[np.ndarray] | None = None,
    workdir: Path,
    proximal_mu: float = 0.0,
    callback: StepCallback | None = None,
) -> TrainOutcome:
    """Fine-tune a YOLOv8 detector with forward gradients (see :mod:`rinr_runtime.detector.forward`).

    Parameters
    ----------
    data_yaml, settings, init_weights, workdir, proximal_mu
        As for :func:`rinr_runtime.detector.train`; ``settings.epochs`` passes over the
        training split, one update per batch. ``settings.lr0`` (when set) replaces
        ``forward.lr``.
    forward
        Directions, bits, estimator and step size.
    trainable
        Which part trains (:func:`rinr_runtime.detector.forward_parts.trainable_split`).
    callback
        Called after every step, e.g. to measure mAP over steps (not counted as training time).

    Returns
    -------
    TrainOutcome
        Weights (the dequantized fixed-point weights when ``forward.bits`` > 0), a checkpoint
        (``workdir/forward/last.pt``) and metrics: those of backprop training plus ``steps``,
        ``loss_first``/``loss_last`` (mean batch loss of the first and last epoch: Ultralytics'
        loss summed over a batch's images, at the perturbed weights),
        ``forward_gradient`` (1), ``fg_directions``, ``fg_bits``, ``trainable_params`` and
        the peak memory of one step (``peak_mem_mb``, ``resident_mem_mb``,
        ``transient_mem_mb``; :mod:`rinr_runtime.detector.forward_memory`).
    """
    prepare_offline()
    from ultralytics.utils.torch_utils import init_seeds

    from rinr_runtime.detector.training import TrainOutcome, evaluate

    _model_source(settings.model)
    if not (proximal_mu >= 0 and np.isfinite(proximal_mu)):
        raise ConfigError(f"proximal_mu={proximal_mu!r}; it must be a finite number >= 0")
    if settings.lr0 is not None and settings.lr0 > 0:
        forward = ForwardSettings(**{**forward.__dict__, "lr": settings.lr0})
    device = torch_device(resolve_device(settings.device))
    init_seeds(settings.seed)
    cfg = hyperparameters(settings)
    model = build_model(settings, _class_names(data_yaml))
    if init_weights is not None:
        set_weights(model, init_weights)
    model.to(device)
    criterion = prepare_model(model, cfg)
    stride = max(int(model.stride.max()), 32)  # type: ignore[operator]
    loader, data = train_loader(data_yaml, settings, cfg, stride, device)
    split = SplitModel(model, trainable_split(trainable, len(model.model)),  # type: ignore[arg-type]
                       part_filter(trainable))
    engine = ForwardGradient(split, criterion, forward, proximal_mu=proximal_mu)
    total = settings.epochs * len(loader)
    measure_at = 1 if total > 1 else 0
    meter, memory = StepMeter(device), None
    losses: list[list[float]] = []
    step, seconds = 0, 0.0
    for _ in range(settings.epochs):
        losses.append([])
        for raw in loader:
            start = time.perf_counter()
            if step == measure_at:
                meter.start([*module_tensors(model), *engine.state_tensors()])
            losses[-1].append(engine.step(to_device(raw, device), progress=step / total))
            if step == measure_at:
                memory = meter.stop()
            seconds += time.perf_counter() - start
            step += 1
            if callback is not None:
                callback(step, seconds, model)
    weights_path = save_checkpoint(model, Path(workdir) / "forward" / "last.pt", settings)
    metrics: dict[str, float | int] = {
        **evaluate(model, data_yaml, settings, workdir=Path(workdir)),
        "train_seconds": seconds, "epochs": settings.epochs, "imgsz": settings.imgsz,
        "num_train": len(loader.dataset), "num_val": _count_images(data.get("val")),
        "steps": step, "loss_first": _mean(losses[0]), "loss_last": _mean(losses[-1]),
        **forward_metrics(forward, split, memory),
    }
    return TrainOutcome(weights=get_weights(model), weights_path=weights_path, metrics=metrics)


def forward_metrics(forward: ForwardSettings, split: SplitModel,
                    memory: StepMemory | None) -> dict[str, float | int]:
    """The metrics that say a forward-gradient trainer ran, on what, and its peak memory."""
    return {"forward_gradient": 1, "fg_directions": forward.directions, "fg_bits": forward.bits,
            "trainable_params": int(sum(p.numel() for p in split.params)),
            **(memory.metrics() if memory is not None else {})}


def _class_names(data_yaml: Path) -> list[str]:
    """Class names of ``data_yaml`` in index order."""
    from ultralytics.data.utils import check_det_dataset

    names = check_det_dataset(str(Path(data_yaml).resolve()))["names"]
    return [names[i] for i in sorted(names)] if isinstance(names, dict) else list(names)


def _count_images(folder: Any) -> int:
    """Number of image files in a dataset split folder (0 when missing)."""
    if not folder:
        return 0
    path = Path(folder)
    suffixes = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
    return sum(1 for f in path.iterdir() if f.suffix.lower() in suffixes) if path.is_dir() else 0


def _mean(values: list[float]) -> float:
    """Mean of the finite values (NaN when there are none)."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def dataset_loss(model: Any, data_yaml: Path, settings: TrainSettings, split: str = "train"
                 ) -> float:
    """Mean detection loss per image of ``model`` on a split, without augmentation.

    The loss the trainers minimise (Ultralytics' ``v8DetectionLoss``, BatchNorm on its running
    statistics), on the split's images letterboxed to ``settings.imgsz``; ``model`` is left
    unchanged (a copy is evaluated). :func:`loss_items` has its parts.
    """
    return loss_items(model, data_yaml, settings, split)["loss"]


def loss_items(model: Any, data_yaml: Path, settings: TrainSettings, split: str = "train"
               ) -> dict[str, float]:
    """:func:`dataset_loss` and its parts: ``loss``, ``box_loss``, ``cls_loss``, ``dfl_loss``
    (per image, with Ultralytics' gains) and ``top_score``, the median over images of the
    highest class score the model gives any anchor of an image.
    """
    prepare_offline()
    import torch
    from ultralytics.data import build_dataloader, build_yolo_dataset
    from ultralytics.data.utils import check_det_dataset

    from rinr_runtime.detector.model import _module

    device = torch_device(resolve_device(settings.device))
    cfg = hyperparameters(settings)
    data = check_det_dataset(str(Path(data_yaml).resolve()))
    dataset = build_yolo_dataset(cfg, data[split], settings.batch, data, mode="val", stride=32)
    loader = build_dataloader(dataset, settings.batch, 0, shuffle=False, device=device)
    clone = deepcopy(_module(model)).float().to(device)
    criterion = prepare_model(clone, cfg)
    sums: dict[str, float] = {}
    top: list[torch.Tensor] = []
    images = 0
    with torch.no_grad():
        for raw in loader:
            batch = to_device(raw, device)
            preds = clone(batch["img"])
            loss, parts = criterion(preds, batch)
            count = int(batch["img"].shape[0])
            sums["loss"] = sums.get("loss", 0.0) + float(loss.sum())
            for name, value in parts.items():  # batch means of each part
                sums[name] = sums.get(name, 0.0) + float(value) * count
            top.append(preds["scores"].sigmoid().amax(dim=(1, 2)))
            images += count
    out = {name: total / max(images, 1) for name, total in sums.items()}
    out["top_score"] = float(torch.cat(top).median()) if top else float("nan")
    return out
