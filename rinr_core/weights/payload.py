"""A tensor method's payload: a fixed header, then sections, read back with every size checked.

Every tensor method (:mod:`~rinr_core.weights.floats`, :mod:`~rinr_core.weights.int8`,
:mod:`~rinr_core.weights.sgq`) stores a tensor as a little-endian ``struct`` header (possibly
empty) followed by sections of sizes the header and the tensor's shape determine: float
values, grid parameters, packed codes, an entropy-coded section. :func:`pack_payload` writes
one; :class:`PayloadReader` reads it, and refuses with
:class:`~rinr_core.errors.MalformedPayloadError` a payload shorter than what it must hold or
with bytes left over (the message's CRC has passed by then: such a payload was written wrong).
"""

from __future__ import annotations

import struct

import numpy as np

from rinr_core.errors import MalformedPayloadError
from rinr_core.quantize import packed_size, unpack_bits
from rinr_core.weights import affine


def pack_payload(header: struct.Struct, fields: tuple[int, ...], *sections: bytes) -> bytes:
    """``header`` packed with ``fields``, then ``sections`` one after another."""
    return b"".join([header.pack(*fields), *sections])


class PayloadReader:
    """Reads one payload front to back; every read checks the bytes are there.

    Parameters
    ----------
    data
        The method's payload.
    what
        The method's name, for the error messages.
    """

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.what, self.pos = data, what, 0

    def _fail(self, need: str) -> MalformedPayloadError:
        return MalformedPayloadError(f"{self.what} tensor holds {len(self.data)} bytes, {need}; "
                                     "re-send it")

    def _take(self, nbytes: int, need: str) -> int:
        start = self.pos
        if start + nbytes > len(self.data):
            raise self._fail(f"too few for {need}")
        self.pos += nbytes
        return start

    def header(self, layout: struct.Struct) -> tuple[int, ...]:
        """The fields of the fixed header ``layout``."""
        start = self._take(layout.size, "its header")
        return tuple(layout.unpack_from(self.data, start))

    def array(self, dtype: str, count: int, need: str) -> np.ndarray:
        """``count`` values of ``dtype`` (a read-only view)."""
        width = np.dtype(dtype).itemsize
        start = self._take(width * count, need)
        return np.frombuffer(self.data, dtype=dtype, count=count, offset=start)

    def params(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """``count`` stored ``(lo, scale)`` grid parameter pairs (:func:`affine.params_from`)."""
        return affine.params_from(self.array("<f2", 2 * count,
                                             f"{count} grid parameter pairs"))

    def rest(self) -> bytes:
        """Every byte not read yet (a section whose size only its own coding knows)."""
        start, self.pos = self.pos, len(self.data)
        return self.data[start:]

    def codes(self, count: int, bits: int) -> np.ndarray:
        """``count`` plainly packed ``bits``-bit codes, which must end the payload (int64)."""
        nbytes = packed_size(count, bits)
        if len(self.data) - self.pos != nbytes:
            raise self._fail(f"{len(self.data) - self.pos} of them codes, while {count} "
                             f"{bits}-bit codes need {nbytes}")
        return unpack_bits(self.rest(), count, bits).astype(np.int64)

    def finish(self) -> None:
        """Check that nothing is left over."""
        if self.pos != len(self.data):
            raise self._fail(f"{len(self.data) - self.pos} of them after its end")
