"""Delivery bookkeeping: broken deliveries re-sent from a fresh encode, a bound, and what is missing.

An edge that cannot store an item (its payload fails its check on arrival) reports the frame
as broken. The fog then encodes that frame again from its JPEG, bypassing the encode cache,
so the next round sends new bytes rather than the same damaged ones. After
:data:`MAX_DELIVERY_ATTEMPTS` failed deliveries of one frame the run stops trying and reports
the frame by name as undeliverable. At the end of a run, :meth:`DeliveryLedger.missing` says
which shareable frames a live node still lacks: a run completes only when that is empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_DELIVERY_ATTEMPTS = 3
"""Failed deliveries of one frame (to any node) after which it is reported undeliverable."""


@dataclass
class DeliveryLedger:
    """Failed deliveries per frame, the frames given up on, and the frames to encode afresh."""

    max_attempts: int = MAX_DELIVERY_ATTEMPTS
    failures: dict[str, int] = field(default_factory=dict)
    undeliverable: dict[str, str] = field(default_factory=dict)  # frame id -> last reason
    refresh: set[str] = field(default_factory=set)  # frames to encode again before resending

    def broken(self, frame_id: str, reason: str, *, re_encodable: bool) -> None:
        """A node could not store ``frame_id``: encode it afresh, or give up after the bound."""
        count = self.failures.get(frame_id, 0) + 1
        self.failures[frame_id] = count
        if count >= self.max_attempts:
            self.undeliverable[frame_id] = (f"{count} failed deliveries; last: {reason}")
            self.refresh.discard(frame_id)
        elif re_encodable:
            self.refresh.add(frame_id)

    def take_refresh(self) -> set[str]:
        """The frames to encode afresh now (the set is emptied)."""
        out, self.refresh = self.refresh, set()
        return out

    def missing(self, lacking: dict[str, list[str]]) -> dict[str, list[str]]:
        """``lacking`` (node -> frames it does not hold) without the undeliverable frames."""
        out = {node: [f for f in frames if f not in self.undeliverable]
               for node, frames in lacking.items()}
        return {node: frames for node, frames in sorted(out.items()) if frames}
