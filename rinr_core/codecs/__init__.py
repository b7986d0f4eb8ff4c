"""One codec interface and one registry: every codec of rinr, looked up by name.

Adding a codec means writing its module (build a :class:`Codec`, call :func:`register`) and
importing it below; nothing else names codecs. ``rinr codecs`` lists them.
"""

from rinr_core.codecs import classic as _classic  # noqa: F401  (registers jpeg, webp, ...)
from rinr_core.codecs import inr as _inr  # noqa: F401  (registers bs, be, de, re, qre)
from rinr_core.codecs import lossless as _lossless  # noqa: F401  (registers png)
from rinr_core.codecs import postfilter as _postfilter  # noqa: F401  (registers the rlut format)
from rinr_core.codecs import video as _video  # noqa: F401  (registers res-nerv, nerv)

# isort: split
# after the paper's codecs, so the registry lists them first
from rinr_core.codecs import grid as _grid  # noqa: F401  (registers grid, grid-stream)
from rinr_core.codecs.base import (
    CONTAINER_JPEG,
    CONTAINER_RINR,
    CONTAINER_RINRS,
    FRAME,
    KINDS,
    STREAM,
    Codec,
    CodecOptions,
    Container,
    Geometry,
)
from rinr_core.codecs.registry import (
    all_codecs,
    codec_names,
    get_codec,
    get_container,
    get_runtime_codec,
    register,
    register_container,
)

__all__ = [
    "CONTAINER_JPEG", "CONTAINER_RINR", "CONTAINER_RINRS", "FRAME", "KINDS",
    "STREAM", "Codec", "CodecOptions", "Container", "Geometry", "all_codecs", "codec_names",
    "get_codec", "get_container", "get_runtime_codec", "register", "register_container",
]
