"""Injected faults for soak and load tests: a node that fails or goes silent, at random, seeded.

With ``chaos-rate = p > 0`` (``run_config``; 0 in every real run) each message a node gets
is, with probability ``p``, answered by an error (half of those) or not at all within
``round-timeout-s`` (the node sleeps past it, then fails: the fog has gone on). Draws depend
only on ``seed``, the node, the round and the message type, so a soak run is reproducible.
"""

from __future__ import annotations

import hashlib
import random
import time

from rinr_core.errors import RinrError
from rinr_runtime.config import RuntimeConfig


class InjectedFault(RinrError):
    """A fault injected by ``chaos-rate`` (never raised in a real run)."""


def draw(seed: int, node: str, server_round: int, phase: str) -> tuple[float, float]:
    """Two reproducible uniform draws for one message of one node."""
    text = f"{seed}/{node}/{server_round}/{phase}".encode()
    rng = random.Random(int.from_bytes(hashlib.sha256(text).digest()[:8], "little"))
    return rng.random(), rng.random()


def maybe_fail(config: RuntimeConfig, node: str, server_round: int, phase: str) -> None:
    """Raise (or go silent, then raise) for this message when the chaos draw says so."""
    if config.chaos_rate <= 0:
        return
    hit, kind = draw(config.seed, node, server_round, phase)
    if hit >= config.chaos_rate:
        return
    if kind < 0.5:
        raise InjectedFault(f"chaos: node {node} fails its {phase} in round {server_round}")
    time.sleep(config.round_timeout_s + 2.0)  # silent: the fog stops waiting first
    raise InjectedFault(f"chaos: node {node} was silent in its {phase} of round {server_round}")
