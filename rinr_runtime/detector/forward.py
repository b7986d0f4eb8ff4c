"""Forward gradients for YOLOv8: gradient estimates from forward passes only, in fixed point.

After "Stepping Forward on the Last Mile" (Feng et al., NeurIPS 2024). Backprop keeps every
activation of the trainable part until the backward pass; a forward gradient needs only what
inference needs. For a random direction ``u`` in the space of the trainable weights ``w``,
the directional derivative ``d = grad L(w) . u`` is measured with forward passes, and
``d * u`` is an estimate of the gradient: for ``u ~ N(0, I)``, ``E[(grad L . u) u] = grad L``.

Estimators (:class:`ForwardSettings` ``estimator``):

- ``spsa`` (default, the paper's choice): two forward passes at ``w + u`` and ``w - u``
  with ``u = eps * r * z``, ``z ~ N(0, I)``; ``d = (L(w + u) - L(w - u)) / 2``. Only
  inference runs (``torch.no_grad()``), and it works unchanged in fixed point: ``w``, ``u``
  and ``w +- u`` are all on the ``b``-bit weight grid (:mod:`rinr_runtime.detector.quantized`).
- ``jvp``: the exact directional derivative by forward-mode differentiation
  (``torch.func.jvp`` over ``torch.func.functional_call`` of the trainable modules), which
  carries one tangent next to each live activation: about twice inference memory, still
  nothing kept for a backward pass. Through fake-quantized activations the tangent passes
  straight through.

The update: with ``c_k`` the derivative along ``r * z_k`` (``d_k / eps`` for ``spsa``), the
step's estimate is ``g = mean_k c_k z_k``, whose expectation is ``r * grad L``; the momentum
``m`` of the estimates moves the weights by ``w -= lr * r * m / rms(m)`` (normalized, so the
step size does not depend on the number of weights or the loss scale), with ``lr`` decaying
linearly to ``final_lr * lr``. ``g / r`` is an unbiased estimate of ``grad L`` itself
(:func:`estimate_gradient`). Only one trainable tensor's ``z`` exists at a time: a direction
is regenerated from its seed whenever it is needed again.

Variance reduction (the paper's enhancements that help here):

- ``directions`` random directions per step, averaged (n-SPSA);
- layer-wise perturbation scaling (``layer_scaling``): ``r`` is each output channel's
  largest weight magnitude (each 1-D tensor's, for biases and BatchNorm terms), so every
  layer is perturbed in proportion to its own range, as the fixed-point grid does anyway
  (one code is ``max|w_c| / qmax``); the step then follows ``r**2 * grad L``, a per-weight
  preconditioned gradient. Off: ``r = 1``;
- ``sign``: sign-m-SPSA, ``c_k = sign(d_k)``: the magnitude of a noisy loss difference no
  longer weighs the direction (measured here: slower than the plain estimate, so off);
- momentum over steps (``momentum``), which averages the estimates of successive steps.

The frozen part of the model (all modules before the trainable ones, see
:mod:`rinr_runtime.detector.forward_parts`) runs once per batch under ``torch.no_grad()``,
``prefix_chunk`` images at a time, and only the outputs the trainable part reads are kept.
BatchNorm layers use their running statistics (a fixed-point device folds them into the
convolutions); the trainable part's BatchNorm affine terms still train.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rinr_core.errors import require
from rinr_runtime.detector.forward_parts import SplitModel
from rinr_runtime.detector.quantized import (
    activation_modules,
    check_bits,
    quantize_weights_,
    quantized_activations,
    snap_,
    stochastic_round,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

ESTIMATORS = ("spsa", "jvp")


@dataclass(frozen=True)
class ForwardSettings:
    """How the forward-gradient trainer estimates and applies its updates.

    Parameters
    ----------
    directions
        Random directions per step (each costs two forward passes of the trainable part
        with ``spsa``, one forward-mode pass with ``jvp``).
    bits
        0: float32; 16 or 8: fixed-point weights, activations and perturbations (see
        :mod:`rinr_runtime.detector.quantized`).
    estimator
        ``spsa`` or ``jvp`` (see the module docstring).
    epsilon
        ``spsa`` perturbation size relative to ``r`` (with layer scaling: a fraction of each
        channel's weight range); ``jvp`` does not use it.
    lr
        Step size. With ``normalize`` the step is ``w -= lr * r * m / rms(m)``: every weight
        moves by about ``lr`` times its channel's range ``r`` (1 without layer scaling);
        without it, ``w -= lr * r * m``. ``m`` is the momentum of the estimates.
    final_lr
        The step size decays linearly over training to ``final_lr * lr`` (Ultralytics'
        trainer decays its learning rate linearly too).
    momentum
        Momentum of the estimates over steps (0: each step uses its own estimate only).
    layer_scaling, sign
        Layer-wise perturbation scaling and sign-m-SPSA (see the module docstring).
    normalize
        Normalize the step by the root mean square of ``m`` (a forward-gradient estimate in
        ``P`` dimensions from ``K`` directions is about ``sqrt(P / K)`` times longer than the
        gradient, so a fixed step size would depend on ``P / K`` and on the loss scale).
    prefix_chunk
        Images per forward pass of the frozen prefix (0: the whole batch at once); only
        memory changes, as BatchNorm uses running statistics.
    seed
        Seeds the random directions and the stochastic rounding.
    """

    directions: int = 8
    bits: int = 0
    estimator: str = "spsa"
    epsilon: float = 0.01
    lr: float = 5e-3
    final_lr: float = 0.1
    momentum: float = 0.9
    layer_scaling: bool = True
    sign: bool = False
    normalize: bool = True
    prefix_chunk: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        check_bits(self.bits)
        checks = {
            "directions": self.directions >= 1,
            "estimator": self.estimator in ESTIMATORS,
            "epsilon": math.isfinite(self.epsilon) and self.epsilon > 0,
            "lr": math.isfinite(self.lr) and self.lr > 0,
            "final_lr": 0 <= self.final_lr <= 1,
            "momentum": 0 <= self.momentum < 1,
            "prefix_chunk": self.prefix_chunk >= 0,
        }
        require(checks, lambda name: getattr(self, name), "ForwardSettings",
                f"need directions >= 1, estimator in {ESTIMATORS}, epsilon > 0, lr > 0, "
                "0 <= final_lr <= 1, 0 <= momentum < 1 and prefix_chunk >= 0")


# --- the estimator and the update -----------------------------------------------------------


def _layer_scale(param: torch.Tensor) -> torch.Tensor:
    """``r`` of the layer-wise scaling: per output channel max |w| (per tensor for 1-D)."""
    mags = param.detach().abs()
    if param.dim() >= 2:
        r = mags.reshape(param.shape[0], -1).amax(dim=1).reshape(-1, *([1] * (param.dim() - 1)))
    else:
        r = mags.amax().reshape(1)
    return r.clamp_min(1e-3)


class ForwardGradient:
    """Estimates forward gradients of the detection loss and updates the trainable weights.

    Parameters
    ----------
    split
        The model cut into frozen prefix and trainable suffix.
    criterion
        Ultralytics' ``v8DetectionLoss`` of the model (``criterion(preds, batch)``).
    settings
        Directions, bits, estimator, step size, ...
    proximal_mu
        FedProx weight: the exact gradient ``mu * (w - w0)`` of ``mu/2 ||w - w0||^2`` is added
        to every estimate, ``w0`` the trainable weights when training starts.
    """

    def __init__(self, split: SplitModel, criterion: Any, settings: ForwardSettings,
                 proximal_mu: float = 0.0) -> None:
        import torch

        self.split = split
        self.criterion = criterion
        self.settings = settings
        self.bits = settings.bits
        device = split.params[0].device if split.params else torch.device("cpu")
        self.generator = torch.Generator(device=device)  # stochastic rounding
        self.generator.manual_seed(settings.seed)
        self._directions_rng = torch.Generator(device=device)  # re-seeded per direction
        self._drawn = 0
        self.scales: dict[int, torch.Tensor] = {}
        self.act_modules: list[torch.nn.Module] = []
        if self.bits:
            names = {id(p): n for n, p in split.model.named_parameters()}
            grid = quantize_weights_(split.model, self.bits)
            self.scales = {i: grid[names[id(p)]] for i, p in enumerate(split.params)
                           if names[id(p)] in grid}
            self.act_modules = activation_modules(split.model)
        self.r = [_layer_scale(p) if settings.layer_scaling else torch.ones(1, device=p.device)
                  for p in split.params]
        self.momentum = [torch.zeros_like(p) for p in split.params]
        self.mu = proximal_mu
        self.anchor = [p.detach().clone() for p in split.params] if proximal_mu > 0 else []

    def state_tensors(self) -> list[torch.Tensor]:
        """Tensors the trainer keeps across steps (for the memory count)."""
        return [*self.momentum, *self.anchor, *self.r, *self.scales.values()]

    def frozen(self, img: torch.Tensor) -> tuple[list[Any], Any]:
        """The frozen prefix's outputs for ``img``, computed ``prefix_chunk`` images at a time.

        Each chunk's outputs are copied into tensors for the whole batch, allocated once: the
        peak is the kept outputs plus one chunk's inference memory.
        """
        import torch

        chunk = self.settings.prefix_chunk or img.shape[0]
        if chunk >= img.shape[0]:
            with torch.no_grad(), quantized_activations(self.act_modules, self.bits):
                return self.split.frozen(img)
        cache: list[Any] = []
        last: Any = None
        with torch.no_grad(), quantized_activations(self.act_modules, self.bits):
            for start in range(0, img.shape[0], chunk):
                part, out = self.split.frozen(img[start:start + chunk])
                if last is None:
                    cache = [None if t is None else t.new_empty((img.shape[0], *t.shape[1:]))
                             for t in part]
                    last = out.new_empty((img.shape[0], *out.shape[1:]))
                for whole, piece in zip(cache, part, strict=True):
                    if whole is not None:
                        whole[start:start + piece.shape[0]].copy_(piece)
                last[start:start + out.shape[0]].copy_(out)
                del part, out
        return cache, last

    def loss(self, cache: list[Any], x: Any,
             batch: dict[str, Any]) -> torch.Tensor:
        """The detection loss (Ultralytics' sum over the batch) of the trainable part."""
        with quantized_activations(self.act_modules, self.bits):
            preds = self.split.trainable(cache, x)
        return self.criterion(preds, batch)[0].sum()

    def _directions(self, seed: int) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """Direction ``seed``, one trainable tensor at a time: ``(index, z, u)``.

        ``z`` is unit normal and ``u = r * z`` (``jvp``) or ``eps * r * z`` (``spsa``, rounded
        to whole codes of the weight grid when quantized; ``z`` is then ``u / (eps * r)``,
        the direction actually taken). The same seed gives the same tensors again, so a
        direction is never held whole: only one tensor's ``z`` and ``u`` exist at a time.
        """
        import torch

        rng = self._directions_rng
        rng.manual_seed(seed)
        for index, (param, r) in enumerate(zip(self.split.params, self.r, strict=True)):
            z = torch.randn(param.shape, generator=rng, device=param.device)
            if self.settings.estimator == "jvp":
                yield index, z, z * r
                continue
            u = z * r * self.settings.epsilon
            if index in self.scales:  # perturbations on the fixed-point grid: whole codes
                scale = self.scales[index]
                u.div_(scale).round_().mul_(scale)
                z = u / (r * self.settings.epsilon)
            yield index, z, u

    def perturbations(self, seed: int) -> list[torch.Tensor]:
        """The whole perturbation ``u`` of direction ``seed`` (for checks; training never holds it)."""
        return [u for _, _, u in self._directions(seed)]

    def step(self, batch: dict[str, Any], progress: float = 0.0) -> float:
        """Estimate the gradient on ``batch`` and update the weights; return the batch loss.

        ``progress`` (0 at the first step, 1 after the last) sets the decayed step size. The
        loss returned is the mean of the perturbed losses (``spsa``) or the loss at ``w``
        (``jvp``), both before the update.
        """
        for buf in self.momentum:
            buf.mul_(self.settings.momentum)
        loss, used = self.accumulate(batch, self.momentum)
        if self.mu > 0:  # the proximal term's exact gradient, in the same (r-scaled) space
            for buf, p, w0, r in zip(self.momentum, self.split.params, self.anchor, self.r,
                                     strict=True):
                buf.add_((p.detach() - w0) * r, alpha=self.mu)
        if used:
            self._apply(1.0 - (1.0 - self.settings.final_lr) * min(max(progress, 0.0), 1.0))
        return loss

    def accumulate(self, batch: dict[str, Any], into: list[torch.Tensor]) -> tuple[float, int]:
        """Add this batch's estimate ``mean_k c_k z_k`` to ``into``; return (loss, directions used).

        ``c_k`` is the directional derivative along ``u_k = r z_k``: ``d_k`` (``jvp``),
        ``d_k / eps`` (``spsa``), or its sign (``sign``). Without ``sign`` the estimate's
        expectation is ``r * grad L`` (``grad L`` with ``layer_scaling=False``).
        """
        s = self.settings
        cache, x = self.frozen(batch["img"])
        losses: list[float] = []
        for _ in range(s.directions):
            seed = s.seed * 1_000_003 + self._drawn
            self._drawn += 1
            run = self._spsa if s.estimator == "spsa" else self._jvp
            value, derivative = run(cache, x, batch, seed)
            if not (math.isfinite(value) and math.isfinite(derivative)):
                continue  # a diverged evaluation says nothing about the gradient
            losses.append(value)
            slope = derivative if s.estimator == "jvp" else derivative / s.epsilon
            coeff = math.copysign(1.0, slope) if s.sign else slope
            for index, z, _ in self._directions(seed):
                into[index].add_(z, alpha=coeff / s.directions)
        return (float(sum(losses) / len(losses)) if losses else float("nan")), len(losses)

    def _spsa(self, cache: list[Any], x: Any, batch: dict[str, Any],
              seed: int) -> tuple[float, float]:
        """Two-point estimate along direction ``seed``: (mean loss, (L(w+u) - L(w-u)) / 2)."""
        import torch

        params = self.split.params
        with torch.no_grad():
            for i, _, u in self._directions(seed):
                params[i].add_(u)
            plus = float(self.loss(cache, x, batch))
            for i, _, u in self._directions(seed):
                params[i].sub_(u, alpha=2.0)
            minus = float(self.loss(cache, x, batch))
            for i, _, u in self._directions(seed):
                params[i].add_(u)
                if i in self.scales:  # undo float rounding drift: back onto the grid
                    snap_(params[i].data, self.scales[i], self.bits)
        return (plus + minus) / 2, (plus - minus) / 2

    def _jvp(self, cache: list[Any], x: Any, batch: dict[str, Any],
             seed: int) -> tuple[float, float]:
        """Forward-mode estimate along direction ``seed``: (loss, exact derivative along u)."""
        from torch.func import functional_call, jvp

        primals = {n: p.detach() for n, p in zip(self.split.names, self.split.params, strict=True)}
        tangents = {self.split.names[i]: u for i, _, u in self._directions(seed)}

        def loss_of(params: dict[str, torch.Tensor]) -> torch.Tensor:
            with quantized_activations(self.act_modules, self.bits):
                preds = functional_call(self.split.suffix, params, (cache, x))
            return self.criterion(preds, batch)[0].sum()

        out = jvp(loss_of, (primals,), (tangents,))
        return float(out[0]), float(out[1])

    def _apply(self, decay: float = 1.0) -> None:
        """``w -= lr * r * m / rms(m)`` (normalized) or ``w -= lr * r * m``; see ForwardSettings.

        Fixed-point weights round their new codes stochastically (unbiased).
        """
        import torch

        lr = self.settings.lr * decay
        if self.settings.normalize:
            total = sum(float(buf.square().sum()) for buf in self.momentum)
            count = sum(buf.numel() for buf in self.momentum)
            rms = math.sqrt(total / max(count, 1))
            if not (rms > 0 and math.isfinite(rms)):
                return
            lr /= rms
        limit = (1 << (self.bits - 1)) - 1 if self.bits else 0
        with torch.no_grad():
            for i, (p, buf, r) in enumerate(zip(self.split.params, self.momentum, self.r,
                                                strict=True)):
                if i not in self.scales:
                    p.sub_(buf * r, alpha=lr)
                    continue
                scale = self.scales[i]
                codes = stochastic_round((p - lr * buf * r) / scale, self.generator)
                p.copy_(codes.clamp_(-limit, limit) * scale)


def estimate_gradient(split: SplitModel, criterion: Any, batch: dict[str, Any],
                      settings: ForwardSettings) -> list[torch.Tensor]:
    """One forward-gradient estimate on ``batch``, per trainable tensor; weights unchanged.

    ``mean_k c_k z_k / r`` (:meth:`ForwardGradient.accumulate`): without ``sign`` its
    expectation is the backprop gradient of the loss, with or without layer scaling (exactly
    with ``jvp``, up to ``O(epsilon**2)`` with ``spsa``). With ``bits`` > 0 the model's weights
    are first snapped to their grid.
    """
    import torch

    engine = ForwardGradient(split, criterion, settings)
    estimate = [torch.zeros_like(p) for p in split.params]
    engine.accumulate(batch, estimate)
    return [e / r for e, r in zip(estimate, engine.r, strict=True)]
