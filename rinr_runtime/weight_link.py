"""Weight messages in the runtime: what the fog and each edge encode, and the bases they share.

With ``weight-codec = "fp32"`` weights travel as today, as float32 Arrays of an ArrayRecord
(what Flower's strategies read). With any other codec every weight message is one
:mod:`rinr_core.weights` message in a ``uint8`` Array (:func:`rinr_runtime.records.weights_message_to_record`),
and both directions send deltas against weights both sides hold:

- **fog -> edge** (:class:`FogWeights`): the global model as a delta against the model the
  node holds (the one it decoded from the fog's last message, which the node names in every
  reply: ``NodeReport.weights_base``); a ``keep`` message (header only) when the node holds
  it already (the train message after an evaluate phase); full weights when the node holds
  nothing the fog knows, or its last weight message failed (resync).
- **edge -> fog** (:class:`EdgeWeights`): the trained weights as a delta against a base the
  fog lists in its train message (``"weights-bases"`` in the ``"round"`` record: the global
  model it just sent, and the initial model both sides build from the model YAML and seed),
  with error feedback: the residual of the node's last upload is added to the next one. The
  fog adds the decoded update to the exact global model the node's copy stands for, so the
  downlink's quantization error never enters the aggregate (error feedback both ways).

A weight message that cannot be applied (truncated, corrupt, unknown version, a delta against
a base the receiver lacks) is refused: the edge raises :class:`~rinr_core.errors.PayloadError`
(an error reply) and drops its base, and the fog forgets what the node held, so the next
message to that node carries full weights. A reply the fog cannot decode is that node's
unreadable reply.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from flwr.app import ArrayRecord

from rinr_core.errors import PayloadError
from rinr_core.weights import (
    Encoded,
    apply_delta,
    decode_weights,
    encode_weights,
    get_weight_codec,
    keep_message,
    weights_id,
)
from rinr_runtime.records import (
    record_to_weights,
    record_to_weights_message,
    weights_message_to_record,
    weights_to_record,
)

PLAIN = "fp32"
"""The codec that sends float32 Arrays as before (no weight message, no deltas)."""
BASES_KEY = "weights-bases"
"""``"round"`` entry of a train message: ids of the bases the fog can decode a reply against."""
Initial = Callable[[], tuple[list[np.ndarray], list[str]]]
"""Builds the initial model both sides can make: its weights and their names."""


@functools.lru_cache(maxsize=4)
def _initial(model: str, classes: tuple[str, ...], seed: int, stamp: float
             ) -> tuple[tuple[np.ndarray, ...], tuple[str, ...]]:
    from rinr_runtime import detector

    built = detector.build_model(detector.TrainSettings(model=model, seed=seed), list(classes))
    return tuple(detector.get_weights(built)), tuple(detector.weight_names(built))


def initial_model(model: str, classes: Sequence[str], seed: int = 0
                  ) -> tuple[list[np.ndarray], list[str]]:
    """Weights and names of the detector built from ``model`` (cached per process).

    A ``.pt`` path is keyed by its modification time too, so a changed file is built again.
    """
    path = Path(model).expanduser()
    stamp = path.stat().st_mtime if path.suffix == ".pt" and path.is_file() else 0.0
    weights, names = _initial(model, tuple(classes), seed, stamp)
    return [w.copy() for w in weights], list(names)


def _uses_messages(codec: str) -> bool:
    return get_weight_codec(codec).name != PLAIN


class FogWeights:
    """The fog's side: per node, the weights it holds; encoding and decoding against them.

    Parameters
    ----------
    codec, bits
        ``weight-codec`` and ``weight-bits`` of the run.
    initial
        Builds the initial model (the base of an edge's first upload); ``None``: none.
    """

    def __init__(self, codec: str, bits: int, initial: Initial | None = None) -> None:
        self.codec, self.bits = codec, bits
        self.messages = _uses_messages(codec)
        self._initial = initial
        self._initial_id: str | None = None
        self._names: list[str] | None = None
        self.bases: dict[str, list[np.ndarray]] = {}
        self.made_from: dict[str, str] = {}  # base id -> id of the weights it stands for
        self.exact: dict[str, list[np.ndarray]] = {}  # base id -> the weights it stands for
        self.held: dict[int, str] = {}  # node -> base it confirmed holding
        self.sent: dict[int, str] = {}  # node -> base its last weight message gives it
        self._encoded: dict[tuple[str, str], Encoded] = {}  # (base, target) -> message
        self._last: tuple[ArrayRecord, list[np.ndarray], str] | None = None

    def initial_id(self) -> str:
        """Id of the initial model (``""`` without one); builds it on first use."""
        if self._initial_id is None:
            self._initial_id = ""
            if self._initial is not None:
                weights, names = self._initial()
                self._initial_id = weights_id(weights)
                self.bases[self._initial_id] = weights
                self.made_from[self._initial_id] = self._initial_id
                self.exact[self._initial_id] = weights
                self._names = names
        return self._initial_id

    def uplink_bases(self, node_id: int) -> list[str]:
        """Bases a node's reply may be a delta against: what it will hold, the initial model."""
        return [i for i in (self.sent.get(node_id, self.held.get(node_id, "")),
                            self.initial_id()) if i]

    def for_node(self, node_id: int, arrays: ArrayRecord) -> ArrayRecord:
        """The weights record to send ``node_id``: ``arrays`` encoded against what it holds."""
        if not self.messages:
            return arrays
        if self._last is None or self._last[0] is not arrays:  # one record for every node
            target = [np.asarray(w, np.float32) for w in record_to_weights(arrays)]
            self._last = (arrays, target, weights_id(target))
        _, target, target_id = self._last
        self.initial_id()
        base_id = self.held.get(node_id, "")
        if base_id not in self.bases:
            base_id = ""
        if base_id and self.made_from.get(base_id) == target_id:
            self.sent[node_id] = base_id
            return weights_message_to_record(keep_message(base_id, self.codec))
        key = (base_id, target_id)
        if key not in self._encoded:
            self._encoded = {k: v for k, v in self._encoded.items() if k[1] == target_id}
            self._encoded[key] = encode_weights(
                target, self.codec, self.bits, base=self.bases.get(base_id) if base_id else None,
                base_id=base_id or None, names=self._names)
        encoded = self._encoded[key]
        self.bases[encoded.weights_id] = encoded.weights
        self.made_from[encoded.weights_id] = target_id
        self.exact[encoded.weights_id] = target
        self.sent[node_id] = encoded.weights_id
        return weights_message_to_record(encoded.data)

    def _lookup(self, base_id: str) -> list[np.ndarray] | None:
        return self.bases.get(base_id)

    def decode(self, record: ArrayRecord) -> ArrayRecord:
        """A reply's weights record as float32 arrays (a plain record is returned as it is).

        A delta is checked against the base it names (the node's copy), then added to the
        exact weights that base stands for: the downlink's quantization error stays out of
        the aggregate, and the next downlink delta corrects it (error feedback both ways).

        Raises
        ------
        PayloadError
            The message is damaged, or a delta against a base the fog does not hold.
        """
        data = record_to_weights_message(record)
        if data is None:
            return record
        self.initial_id()
        decoded = decode_weights(data, self._lookup)
        if decoded.delta and decoded.base_id in self.exact:
            return weights_to_record(apply_delta(data, self.exact[decoded.base_id]))
        return weights_to_record(decoded.weights)

    def settle(self, node_ids: Sequence[int], reported: dict[int, str]) -> None:
        """After a phase: each node in ``reported`` holds the base it names; the other nodes
        of ``node_ids`` (error, unreadable or missing replies) are resynced next time."""
        for node_id in node_ids:
            self.sent.pop(node_id, None)
            base = reported.get(node_id, "")
            if base and base in self.bases:
                self.held[node_id] = base
            else:
                self.held.pop(node_id, None)
        keep = {*self.held.values(), *self.sent.values(), self._initial_id or ""}
        for base_id in [b for b in self.bases if b not in keep]:
            del self.bases[base_id]
            self.made_from.pop(base_id, None)
            self.exact.pop(base_id, None)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class EdgeWeights:
    """An edge's side: the global model it holds (its base) and its upload residual, on disk.

    Parameters
    ----------
    folder
        Where the base (``held.rnwt``, its id in ``held.id``) and the residual
        (``residual.rnwt``) are kept, as exact ``fp32`` weight messages; ``initial.id``
        names the initial model once the node has built it (it is a base too).
    codec, bits
        ``weight-codec`` and ``weight-bits`` of the run.
    initial
        Builds the initial model (a base the fog may list for a first upload).
    """

    def __init__(self, folder: Path, codec: str, bits: int, initial: Initial | None = None
                 ) -> None:
        self.folder = Path(folder)
        self.codec, self.bits = codec, bits
        self.messages = _uses_messages(codec)
        self._initial = initial

    @property
    def _held(self) -> Path:
        return self.folder / "held.rnwt"

    @property
    def _residual(self) -> Path:
        return self.folder / "residual.rnwt"

    def _read_id(self, name: str) -> str:
        path = self.folder / name
        return path.read_text().strip() if self.messages and path.is_file() else ""

    def held_id(self) -> str:
        """Id of the weights the node holds as its base: the last global model it decoded,
        else the initial model once it has built it (``""``: none)."""
        return self._read_id("held.id") or self._read_id("initial.id")

    def _initial_weights(self) -> tuple[list[np.ndarray], list[str], str] | None:
        """The initial model, its names and id (remembered on disk), or ``None``."""
        if self._initial is None:
            return None
        weights, names = self._initial()
        ident = weights_id(weights)
        if self._read_id("initial.id") != ident:
            _write_atomic(self.folder / "initial.id", ident.encode())
        return weights, names, ident

    def _load(self, path: Path) -> list[np.ndarray] | None:
        try:
            return decode_weights(path.read_bytes()).weights
        except (OSError, PayloadError):
            return None

    def _hold(self, weights: list[np.ndarray], ident: str) -> None:
        _write_atomic(self._held, encode_weights(weights, PLAIN).data)
        _write_atomic(self.folder / "held.id", ident.encode())

    def drop(self) -> None:
        """Forget every base (the fog resyncs with full weights)."""
        for name in ("held.id", "held.rnwt", "initial.id"):
            (self.folder / name).unlink(missing_ok=True)

    def _lookup(self, base_id: str) -> list[np.ndarray] | None:
        if not base_id:
            return None
        if base_id == self._read_id("held.id"):
            return self._load(self._held)
        if base_id == self._read_id("initial.id"):
            initial = self._initial_weights()
            return initial[0] if initial is not None and initial[2] == base_id else None
        return None

    def receive(self, record: ArrayRecord) -> list[np.ndarray]:
        """The weights a fog record carries; a weight message becomes the node's new base.

        Raises
        ------
        PayloadError
            The message cannot be applied; the node drops its base (module docstring).
        """
        data = record_to_weights_message(record)
        if data is None:
            return record_to_weights(record)
        try:
            decoded = decode_weights(data, self._lookup)
        except PayloadError as exc:
            self.drop()
            raise type(exc)(f"weights refused: {exc}; this node dropped its base, so the fog "
                            "sends full weights next time") from exc
        if not decoded.keep:
            self._hold(decoded.weights, decoded.weights_id)
        return decoded.weights

    def reply(self, weights: Sequence[np.ndarray], bases: Sequence[str]) -> ArrayRecord:
        """``weights`` as the fog asked for them: a delta against one of ``bases`` when the
        node holds it, with the last upload's residual added (error feedback)."""
        if not self.messages:
            return weights_to_record(weights)
        base, base_id, names = None, "", None
        held = self._read_id("held.id")
        if held and held in bases:
            base, base_id = self._load(self._held), held
        initial = self._initial_weights()
        if initial is not None:
            names = initial[1]
            if base is None and initial[2] in bases:
                base, base_id = initial[0], initial[2]
        residual = self._load(self._residual)
        if residual is not None and [r.shape for r in residual] != [np.shape(w) for w in weights]:
            residual = None
        encoded = encode_weights(weights, self.codec, self.bits, base=base,
                                 base_id=base_id or None, residual=residual, names=names)
        _write_atomic(self._residual, encode_weights(encoded.residual, PLAIN).data)
        return weights_message_to_record(encoded.data)
