"""rinr_core: the Residual-INR codec library (no Flower inside).

The public API is re-exported here; see the modules for details.
"""

from rinr_core.codec import CodecSettings, EncodeResult, encode, encode_frame, encode_frames
from rinr_core.datasets import LoadedFrames, load_sequence
from rinr_core.decoding import decode, decode_many
from rinr_core.errors import (
    BadFrameError,
    ConfigError,
    InvalidBoxError,
    PayloadError,
    RinrError,
    UnreadableImageError,
)
from rinr_core.frames import Frame, SkippedFrame
from rinr_core.presets import PRESETS, get_preset
from rinr_core.warmstart import WarmState

__all__ = [
    "PRESETS",
    "BadFrameError",
    "CodecSettings",
    "ConfigError",
    "EncodeResult",
    "Frame",
    "InvalidBoxError",
    "LoadedFrames",
    "PayloadError",
    "RinrError",
    "SkippedFrame",
    "UnreadableImageError",
    "WarmState",
    "decode",
    "decode_many",
    "encode",
    "encode_frame",
    "encode_frames",
    "get_preset",
    "load_sequence",
]
