"""Quantizing fitted networks: the power-of-two weight step that costs least overall.

For the synthesis, a coarser step saves weight bits and costs distortion; for the entropy
model, it saves weight bits and costs latent bits. Each network's step is chosen to minimize
its weight bits plus the rate-distortion loss of the frames it serves (per network: every
frame of a per-frame batch has its own), evaluated on the hard-rounded latents.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from rinr_core.grid.arm import QuantTensor, quantize
from rinr_core.grid.coding import weight_bits
from rinr_core.grid.fit import HARD, FitState, Problem, evaluate

SYNTHESIS_EXPONENTS = tuple(range(4, 13))
ARM_EXPONENTS = tuple(range(3, 11))


def network_tensors(nets: Sequence[Sequence[QuantTensor]], device: torch.device | str
                    ) -> list[torch.Tensor]:
    """Stored networks as the fit's tensors: tensor ``k`` stacked over the networks."""
    return [torch.from_numpy(np.stack([net[k].values() for net in nets])).to(device)
            for k in range(len(nets[0]))]


def _per_network(values: torch.Tensor, problem: Problem) -> np.ndarray:
    """Per-frame values summed per network."""
    arr = values.detach().cpu().numpy()
    return np.array([arr.sum()]) if problem.shared else arr


def quantize_networks(problem: Problem, state: FitState, weights: torch.Tensor
                      ) -> list[list[QuantTensor]]:
    """Each network's tensors quantized at its cheapest steps (see the module docstring).

    ``state`` is left as it is; :func:`network_tensors` turns the result into the tensors the
    decoder will have.
    """
    arch = problem.arch
    n_syn = len(arch.synthesis_shapes)
    pixels = problem.height * problem.width
    count = state.networks[0].shape[0]
    choice_syn = np.zeros(count, np.int64)
    choice_arm = np.zeros(count, np.int64)
    with torch.no_grad():
        for part, exponents, chosen in (("syn", SYNTHESIS_EXPONENTS, choice_syn),
                                        ("arm", ARM_EXPONENTS, choice_arm)):
            costs = []
            for e in exponents:
                picks = {k: (e if (k < n_syn) == (part == "syn") else -1)
                         for k in range(len(state.networks))}
                members = [k for k, v in picks.items() if v >= 0]
                nets = [[quantize(state.networks[k][n].cpu().numpy(), e) for k in members]
                        for n in range(count)]
                trial = list(state.networks)
                for k, values in zip(members, network_tensors(nets, problem.device),
                                     strict=True):
                    trial[k] = values
                bits, distortion = evaluate(problem, state.latents, trial, weights, HARD)
                loss = distortion if part == "syn" else bits / pixels
                wbits = np.array([weight_bits(net) for net in nets])
                costs.append(wbits / pixels + _per_network(loss, problem))
            chosen[:] = np.array(exponents)[np.argmin(np.stack(costs), axis=0)]
    nets = []
    for n in range(count):
        nets.append([quantize(t[n].cpu().numpy(), int(choice_syn[n] if k < n_syn else choice_arm[n]))
                     for k, t in enumerate(state.networks)])
    return nets
