"""The trainable part of a detection model: ``trainable`` specs and the frozen/trainable split.

``trainable`` says which modules of ``model.model`` train, for both trainers: ``all``, ``head``
(the last module, Ultralytics' ``Detect``) or ``last:N`` (the last N modules). Everything
before them is frozen; Ultralytics' DFL convolution is always frozen. :class:`SplitModel`
runs the frozen prefix and the trainable suffix separately, so that the forward-gradient
trainer computes the prefix once per batch and keeps only the outputs the suffix reads.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from rinr_core.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

TRAINABLE_HELP = "`all`, `head` (the Detect module) or `last:N` (the last N modules of the model)"


def trainable_split(spec: str, num_modules: int) -> int:
    """Index of the first trainable module of ``model.model`` for a ``trainable`` spec.

    ``all`` -> 0, ``head`` -> the last module (Ultralytics' ``Detect``), ``last:N`` ->
    ``num_modules - N``. Everything before the index is frozen.
    """
    text = spec.strip().lower()
    if text == "all":
        return 0
    if text == "head":
        return num_modules - 1
    if text.startswith("last:"):
        count = text.removeprefix("last:")
        if count.isdigit() and 1 <= int(count) <= num_modules:
            return num_modules - int(count)
        raise ConfigError(f"trainable={spec!r}: N in last:N must be 1..{num_modules} "
                          "(the model's number of modules)")
    raise ConfigError(f"trainable={spec!r} is not one of {TRAINABLE_HELP}")


def freeze_layers(spec: str, num_modules: int) -> list[int]:
    """Ultralytics' ``freeze`` list for a spec: the indices of the frozen modules."""
    return list(range(trainable_split(spec, num_modules)))


def _is_trainable(name: str) -> bool:
    """Whether a parameter of a trainable module trains (Ultralytics always freezes DFL)."""
    return ".dfl" not in f".{name}"


class SplitModel:
    """A detection model cut into a frozen prefix and a trainable suffix.

    Parameters
    ----------
    model
        An Ultralytics ``DetectionModel``.
    split
        Index of the first trainable module (:func:`trainable_split`).
    """

    def __init__(self, model: Any, split: int) -> None:
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
        self.names = [n for n, _ in suffix.named_parameters() if _is_trainable(n)]
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
