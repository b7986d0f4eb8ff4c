"""YOLOv8 fine-tuning and evaluation with Ultralytics, fully offline.

Ultralytics is imported lazily, after :func:`~rinr_runtime.detector.offline.prepare_offline`
has set its environment, so importing this module is cheap and never triggers Ultralytics'
import-time checks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rinr_core.errors import ConfigError
from rinr_runtime.detector.forward import ForwardSettings
from rinr_runtime.detector.forward_memory import attach_step_meter
from rinr_runtime.detector.forward_parts import freeze_layers
from rinr_runtime.detector.model import (
    TrainSettings,
    _model_source,
    _module,
    build_model,
    get_weights,
    resolve_device,
    set_weights,
)
from rinr_runtime.detector.offline import prepare_offline

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


BF16_AMP_SINCE = (8, 4)
"""Ultralytics releases from which ``amp="bf16"`` is accepted (8.3 takes only a bool)."""


def _amp(device: str) -> bool | str:
    """AMP mode that needs no download: bf16 on GPUs that have it, else off.

    Ultralytics' fp16 AMP check downloads a model first; bf16 skips that check. Releases
    before 8.4 (allowed on Jetson) accept only a bool, so there AMP is off rather than fp16.
    Note for comparisons: Ultralytics validates in fp16 on a GPU during training, in fp32 on
    a CPU, so GPU and CPU mAPs of the same weights can differ slightly.
    """
    if device == "cpu":
        return False
    import torch
    import ultralytics

    release = tuple(int(p) for p in ultralytics.__version__.split(".")[:2])
    if release < BF16_AMP_SINCE:
        return False
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


def _proximal_trainer(base: type, mu: float) -> type:
    """``base`` (Ultralytics' ``DetectionTrainer``) with FedProx's proximal term of weight ``mu``.

    The objective becomes ``loss + mu/2 * ||w - w0||^2`` over the trainable parameters, ``w0``
    their values when training starts (the global model). Ultralytics' detection loss is the
    batch mean times the batch size, so before every optimizer step each parameter's gradient
    gets ``mu * (w - w0)`` times the images it summed over (batch size x accumulated batches),
    and times the AMP gradient scale when one is on. Built lazily: Ultralytics is imported late.
    """
    import torch

    class ProximalTrainer(base):
        """A detection trainer whose steps include the proximal term (see above)."""

        proximal_mu = mu

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.proximal_start: list[tuple[torch.nn.Parameter, torch.Tensor]] = []
            self.add_callback("on_train_start", ProximalTrainer.anchor)

        @staticmethod
        def anchor(trainer: ProximalTrainer) -> None:
            """Keep ``w0``: the trainable parameters once the model is on its device."""
            trainer.proximal_start = [(p, p.detach().clone()) for p in trainer.model.parameters()
                               if p.requires_grad]

        def optimizer_step(self) -> None:
            """Add the proximal gradient, then take Ultralytics' step."""
            scale = float(self.scaler.get_scale()) if self.scaler.is_enabled() else 1.0
            factor = self.proximal_mu * self.batch_size * max(int(self.accumulate), 1) * scale
            with torch.no_grad():
                for param, start in self.proximal_start:
                    if param.grad is not None:
                        param.grad.add_(param.detach() - start, alpha=factor)
            super().optimizer_step()

    return ProximalTrainer


def train(
    data_yaml: Path,
    settings: TrainSettings,
    *,
    init_weights: Sequence[np.ndarray] | None = None,
    workdir: Path,
    proximal_mu: float = 0.0,
    trainable: str = "all",
    forward: ForwardSettings | None = None,
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
    proximal_mu
        FedProx: weight ``mu`` of the proximal term ``mu/2 * ||w - w0||^2`` added to the loss,
        ``w0`` the starting weights (``init_weights``, the global model); 0 trains plainly.
    trainable
        Which part trains: ``all``, ``head`` or ``last:N`` (the rest is frozen;
        :mod:`rinr_runtime.detector.forward_parts`).
    forward
        ``None``: backprop with Ultralytics' trainer. Settings of the forward-gradient trainer
        (:func:`rinr_runtime.detector.forward_train.train_forward`) to train with it instead.

    Returns
    -------
    TrainOutcome
        Trained weights, checkpoint path, and metrics of the final evaluation on the val split,
        with ``forward_gradient`` (0 or 1), ``trainable_params`` and the peak memory of one
        training step (``peak_mem_mb``, ...; :mod:`rinr_runtime.detector.forward_memory`).
    """
    if forward is not None:
        from rinr_runtime.detector.forward_train import train_forward

        return train_forward(data_yaml, settings, forward, trainable=trainable,
                             init_weights=init_weights, workdir=workdir, proximal_mu=proximal_mu)
    prepare_offline()
    from ultralytics.models.yolo.detect import DetectionTrainer

    _model_source(settings.model)  # refuse a hub name before any dataset work
    if not (proximal_mu >= 0 and np.isfinite(proximal_mu)):
        raise ConfigError(f"proximal_mu={proximal_mu!r}; it must be a finite number >= 0")
    trainer_class = (_proximal_trainer(DetectionTrainer, proximal_mu) if proximal_mu > 0
                     else DetectionTrainer)
    trainer = trainer_class(overrides=_train_args(data_yaml, settings, workdir))
    trainer.model = build_model(settings, list(trainer.data["names"].values()))
    if init_weights is not None:
        set_weights(trainer.model, init_weights)
    frozen = freeze_layers(trainable, len(trainer.model.model))
    trainer.args.freeze = frozen or None  # read by Ultralytics when training starts
    meter = attach_step_meter(trainer)
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
        "forward_gradient": 0,
        "trainable_params": int(sum(p.numel() for p in trainer.model.parameters()
                                    if p.requires_grad)),
        **(meter.result.metrics() if meter.result is not None else {}),
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
