"""The detector both apps train: YOLOv8 through Ultralytics, fully offline.

This package is the only place in rinr that imports ``ultralytics`` (lazily, after
:func:`prepare_offline`):

- :func:`write_dataset` lays out frames in the YOLO folder format with a ``data.yaml``;
- :func:`train` fine-tunes a detector, optionally starting from aggregated weights, with
  backprop (Ultralytics' trainer) or forward gradients (:class:`ForwardSettings`,
  :mod:`rinr_runtime.detector.forward`), the whole model or a trainable part;
- :func:`evaluate` measures mAP on a dataset's ``val`` split;
- :func:`get_weights` / :func:`set_weights` move weights in and out of a model as a list of
  ``float32`` arrays that are safe to average (order: :mod:`rinr_runtime.detector.model`).
"""

from rinr_runtime.detector.dataset import LabelledImage, write_dataset
from rinr_runtime.detector.forward import ForwardSettings
from rinr_runtime.detector.model import (
    TrainSettings,
    build_model,
    get_weights,
    resolve_device,
    set_weights,
    weight_names,
    weights_nbytes,
)
from rinr_runtime.detector.offline import FONT_NAMES, default_config_dir, prepare_offline
from rinr_runtime.detector.training import TrainOutcome, evaluate, train

__all__ = [
    "FONT_NAMES",
    "ForwardSettings",
    "LabelledImage",
    "TrainOutcome",
    "TrainSettings",
    "build_model",
    "default_config_dir",
    "evaluate",
    "get_weights",
    "prepare_offline",
    "resolve_device",
    "set_weights",
    "train",
    "weight_names",
    "weights_nbytes",
    "write_dataset",
]
