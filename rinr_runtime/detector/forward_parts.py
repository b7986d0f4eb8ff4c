"""The trainable part of a detection model: ``trainable`` specs and the frozen/trainable split.

``trainable`` says which modules of ``model.model`` train, for both trainers: ``all``, ``head``
(the last module, Ultralytics' ``Detect``) or ``last:N`` (the last N modules). Everything
before them is frozen; Ultralytics' DFL convolution is always frozen. Two smaller parts of the
head: ``head:cls`` (Detect's classification branch ``cv3``, the box branch ``cv2`` frozen)
and ``head:cls-out`` (only the classification branch's output 1x1 convolutions
``cv3.<level>.2``: ``(channels + 1) * classes`` weights per level, 195 for a one-class
YOLOv8n), small enough for a forward-gradient estimate to point near the gradient. :class:`SplitModel`
runs the frozen prefix and the trainable suffix separately, so that the forward-gradient
trainer computes the prefix once per batch and keeps only the outputs the suffix reads.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rinr_core.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

TRAINABLE_HELP = ("`all`, `head` (the Detect module), `last:N` (the last N modules of the model), "
                  "`head:cls` (Detect's classification branch) or `head:cls-out` (its output "
                  "1x1 convolutions)")
HEAD_PARTS = ("head:cls", "head:cls-out")
MAX_LEVELS = 8
"""Detect levels named in Ultralytics' ``freeze`` list for the head parts (YOLOv8 has 3)."""


def trainable_split(spec: str, num_modules: int) -> int:
    """Index of the first trainable module of ``model.model`` for a ``trainable`` spec.

    ``all`` -> 0, ``head`` -> the last module (Ultralytics' ``Detect``), ``last:N`` ->
    ``num_modules - N``. Everything before the index is frozen.
    """
    text = spec.strip().lower()
    if text == "all":
        return 0
    if text == "head" or text in HEAD_PARTS:
        return num_modules - 1
    if text.startswith("last:"):
        count = text.removeprefix("last:")
        if count.isdigit() and 1 <= int(count) <= num_modules:
            return num_modules - int(count)
        raise ConfigError(f"trainable={spec!r}: N in last:N must be 1..{num_modules} "
                          "(the model's number of modules)")
    raise ConfigError(f"trainable={spec!r} is not one of {TRAINABLE_HELP}")


def freeze_layers(spec: str, num_modules: int) -> list[int | str]:
    """Ultralytics' ``freeze`` list for a spec: the indices of the frozen modules.

    For the head parts, also the frozen branches of the head by name (``"22.cv2"``, ...):
    Ultralytics freezes every parameter whose name contains ``model.<entry>.``.
    """
    split = trainable_split(spec, num_modules)
    frozen: list[int | str] = list(range(split))
    text = spec.strip().lower()
    if text in HEAD_PARTS:
        frozen.append(f"{split}.cv2")
    if text == "head:cls-out":
        frozen += [f"{split}.cv3.{level}.{i}" for level in range(MAX_LEVELS) for i in (0, 1)]
    return frozen


def part_filter(spec: str) -> Callable[[str], bool]:
    """Whether a parameter of the trainable modules (named as in the suffix) trains.

    Ultralytics always freezes DFL; ``head:cls`` keeps only ``cv3``, ``head:cls-out`` only
    its ``cv3.<level>.2`` output convolutions.
    """
    text = spec.strip().lower()

    def keep(name: str) -> bool:
        dotted = f".{name}"
        if ".dfl" in dotted:
            return False
        if text == "head:cls":
            return ".cv3." in dotted
        if text == "head:cls-out":
            return re.search(r"\.cv3\.\d+\.2\.", dotted) is not None
        return True

    return keep


class SplitModel:
    """A detection model cut into a frozen prefix and a trainable suffix.

    Parameters
    ----------
    model
        An Ultralytics ``DetectionModel``.
    split
        Index of the first trainable module (:func:`trainable_split`).
    keep
        Which parameters of the trainable modules train (:func:`part_filter`; default: all
        but DFL's).
    """

    def __init__(self, model: Any, split: int, keep: Callable[[str], bool] | None = None) -> None:
        import torch

        self.model = model
        self.split = split
        layers = list(model.model)
        self.prefix_layers = layers[:split]
        self.save = set(model.save)
        suffix = _suffix_class()(torch.nn.ModuleList(layers[split:]), self.save)
        self.suffix = suffix
        sources = {j for m in layers[split:] for j in ([m.f] if isinstance(m.f, int) else m.f)}
        self.needed = {j for j in sources if 0 <= j < split}
        keep = keep or part_filter("all")
        self.names = [n for n, _ in suffix.named_parameters() if keep(n)]
        params = dict(suffix.named_parameters())
        self.params = [params[n] for n in self.names]

    def frozen(self, img: torch.Tensor) -> tuple[list[Any], Any]:
        """Run the frozen prefix; keep only the outputs the suffix reads (call under no_grad)."""
        y, x = _run_layers(self.prefix_layers, self.save, [], img)
        return [t if i in self.needed else None for i, t in enumerate(y)], x

    def trainable(self, cache: list[Any], x: Any) -> Any:
        """Run the trainable suffix on the prefix's outputs; return the model's predictions."""
        return self.suffix(cache, x)


def _run_layers(layers: Any, save: set[int], cache: list[Any], x: Any) -> tuple[list[Any], Any]:
    """Ultralytics' ``_predict_once`` loop over ``layers``, continuing from ``cache``."""
    y = list(cache)
    for m in layers:
        if m.f != -1:
            x = y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f]
        x = m(x)
        y.append(x if m.i in save else None)
    return y, x


@functools.cache
def _suffix_class() -> type:
    """The torch module that runs the trainable layers (built lazily: torch imports late)."""
    import torch

    class Suffix(torch.nn.Module):
        """The trainable layers of a detection model, as one module for ``functional_call``."""

        def __init__(self, layers: torch.nn.ModuleList, save: set[int]) -> None:
            super().__init__()
            self.layers = layers
            self.save = save

        def forward(self, cache: list[Any], x: Any) -> Any:
            """Predictions of the model from the frozen prefix's outputs."""
            return _run_layers(self.layers, self.save, cache, x)[1]

    return Suffix
