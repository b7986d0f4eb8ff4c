"""One interface for weight codecs, one for the per-tensor methods they use, and their registry.

A **weight codec** (:class:`WeightCodec`) turns a list of float32 arrays (a model's weights,
or a weight update) into one :class:`EncodedTensor` per array. It decides *how* each tensor
is stored, by picking a **tensor method** (:class:`TensorMethod`) and a bit width per tensor:
``fp32`` stores every tensor as it is, ``sgq`` picks stripe-wise group quantization at a bit
width chosen by a sensitivity measure. The decoder needs only the methods: every tensor of a
weight message (:mod:`rinr_core.weights.format`) names the method and bit width it was stored
with, so any build that knows the methods decodes a message of any codec.

Every method states the per-tensor error bound it promises (:meth:`TensorMethod.bound`): the
largest absolute difference between an element and its decoded value, computed from what the
payload stores (its scales), so a receiver can check it and tests do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rinr_core.errors import ConfigError, UnsupportedVersionError

FLOAT32_ROUNDING = 2.0**-24
"""Relative rounding of a float32 result: a decoded value ``v`` is within ``|v| * 2^-24`` of
the exact value of the stored grid point (round to nearest)."""


@dataclass(frozen=True)
class EncodedTensor:
    """One tensor as a weight message stores it.

    Attributes
    ----------
    method
        Id of the :class:`TensorMethod` that wrote ``data``.
    bits
        Bit width of its integer codes (0 for float and constant methods).
    shape
        The tensor's shape.
    data
        The method's payload.
    bound
        The largest absolute error of a decoded element the method promises (0: exact).
    """

    method: int
    bits: int
    shape: tuple[int, ...]
    data: bytes
    bound: float

    @property
    def size(self) -> int:
        """Number of elements."""
        return int(np.prod(self.shape, dtype=np.int64))


class TensorMethod(ABC):
    """How one tensor is stored: encode, decode, and the error bound its payload promises."""

    method_id: int
    name: str
    promise: str
    """The bound in words (``rinr weights --list`` and the README show it)."""

    @abstractmethod
    def encode(self, array: np.ndarray, bits: int) -> EncodedTensor:
        """Store ``array`` (float32) with ``bits``-bit codes (ignored by float methods)."""

    @abstractmethod
    def decode(self, data: bytes, shape: tuple[int, ...], bits: int) -> np.ndarray:
        """The float32 array of shape ``shape`` that ``data`` stores.

        Raises
        ------
        MalformedPayloadError
            ``data`` does not parse to ``shape``.
        """

    @abstractmethod
    def bound(self, data: bytes, shape: tuple[int, ...], bits: int) -> float:
        """The largest absolute error of a decoded element that ``data`` promises."""


@dataclass(frozen=True)
class TensorInfo:
    """What a codec may know about a tensor besides its values: its name and position."""

    name: str
    index: int

    @property
    def is_norm_stat(self) -> bool:
        """Whether it is a normalization layer's running mean or variance (by torch's names)."""
        return self.name.endswith(("running_mean", "running_var"))


class WeightCodec(ABC):
    """A policy that stores each tensor of a weight list with a :class:`TensorMethod`.

    Attributes
    ----------
    name
        Registry name (``fp32``, ``fp16``, ``int8``, ``sgq``).
    codec_id
        Its id in a weight message's header.
    lossless
        Whether decoding gives the arrays back bit for bit.
    uses_bits
        Whether the ``bits`` argument (``weight-bits``) changes what it does.
    description
        One line for listings.
    """

    name: str
    codec_id: int
    lossless: bool = False
    uses_bits: bool = False
    description: str = ""

    @abstractmethod
    def encode_tensors(self, arrays: Sequence[np.ndarray], bits: int,
                       infos: Sequence[TensorInfo]) -> list[EncodedTensor]:
        """One :class:`EncodedTensor` per array (float32), in order."""


# --- registry ----------------------------------------------------------------------------------

_METHODS: dict[int, TensorMethod] = {}
_CODECS: dict[str, WeightCodec] = {}


def register_method(method: TensorMethod) -> TensorMethod:
    """Add a tensor method; an id taken by another method is refused."""
    other = _METHODS.get(method.method_id)
    if other is not None and other is not method:
        raise ConfigError(f"tensor method id {method.method_id} is already {other.name!r}")
    _METHODS[method.method_id] = method
    return method


def get_method(method_id: int) -> TensorMethod:
    """The tensor method of ``method_id``.

    Raises
    ------
    UnsupportedVersionError
        No method has that id: the message was written by a newer rinr.
    """
    try:
        return _METHODS[method_id]
    except KeyError:
        raise UnsupportedVersionError(
            f"weight message uses tensor method {method_id}, which this build does not know "
            f"(known: {sorted(_METHODS)}); upgrade rinr on this node") from None


def register_codec(codec: WeightCodec) -> WeightCodec:
    """Add a weight codec; a name or id taken by another codec is refused."""
    taken = [c for c in _CODECS.values()
             if c is not codec and (c.name == codec.name or c.codec_id == codec.codec_id)]
    if taken:
        raise ConfigError(f"weight codec {codec.name!r} (id {codec.codec_id}) clashes with "
                          f"{taken[0].name!r} (id {taken[0].codec_id})")
    _CODECS[codec.name] = codec
    return codec


def get_weight_codec(name: str) -> WeightCodec:
    """The weight codec called ``name``.

    Raises
    ------
    ConfigError
        No codec has that name; the message lists the names there are.
    """
    try:
        return _CODECS[name]
    except KeyError:
        raise ConfigError(f"unknown weight codec {name!r}; choose one of "
                          f"{weight_codec_names()}") from None


def weight_codec_by_id(codec_id: int) -> WeightCodec:
    """The weight codec of a message header's id.

    Raises
    ------
    UnsupportedVersionError
        No codec has that id: the message was written by a newer rinr.
    """
    for codec in _CODECS.values():
        if codec.codec_id == codec_id:
            return codec
    raise UnsupportedVersionError(f"weight message names codec id {codec_id}, which this build "
                                  "does not know; upgrade rinr on this node")


def weight_codec_names() -> list[str]:
    """Names of the registered weight codecs, in registration order."""
    return list(_CODECS)


def all_weight_codecs() -> list[WeightCodec]:
    """The registered weight codecs, in registration order."""
    return list(_CODECS.values())
