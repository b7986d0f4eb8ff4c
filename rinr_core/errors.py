"""Exception types raised by rinr.

Every error says what was wrong and what to do about it. Catch :class:`RinrError` to handle
all of them; the subclasses let callers skip exactly what is broken (one frame, one payload).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping


class RinrError(Exception):
    """Base class of every error raised by rinr."""


class ConfigError(RinrError, ValueError):
    """An option, preset or run_config value is invalid."""


def require(checks: Mapping[str, bool], value: Callable[[str], object], what: str,
            hint: str) -> None:
    """Raise :class:`ConfigError` naming every check of ``checks`` that is false.

    ``checks`` maps a name to whether its value is valid and ``value(name)`` gives the value
    shown; the message reads ``invalid {what}: name=value, ...; {hint}``.
    """
    bad = [name for name, ok in checks.items() if not ok]
    if bad:
        shown = ", ".join(f"{name}={value(name)!r}" for name in bad)
        raise ConfigError(f"invalid {what}: {shown}; {hint}")


# --- input frames -------------------------------------------------------------------------


class BadFrameError(RinrError, ValueError):
    """A frame cannot be used (unreadable image, invalid box, ...); skip it, keep the rest."""


class UnreadableImageError(BadFrameError):
    """The image bytes or file cannot be decoded (corrupt, truncated, not an image)."""


class InvalidBoxError(BadFrameError):
    """The object box is malformed: NaN, non-positive size, or entirely outside the image."""


class DatasetError(RinrError, ValueError):
    """A dataset folder is not in a layout rinr understands (OTB or YOLO)."""


# --- .rinr / .rinrs payloads --------------------------------------------------------------


class PayloadError(RinrError, ValueError):
    """A .rinr payload cannot be decoded; the payload is broken, never decoded silently."""


class NotARinrFileError(PayloadError):
    """The bytes do not start with the .rinr magic number: not a .rinr payload at all."""


class UnsupportedVersionError(PayloadError):
    """The payload was written by a container version this build does not read."""


class TruncatedPayloadError(PayloadError):
    """The payload ends early: it was cut off in transfer or on disk."""


class ChecksumMismatchError(PayloadError):
    """The payload's checksum does not match its content: it was corrupted or tampered with."""


class MalformedPayloadError(PayloadError):
    """The payload's checksum is right but its fields are inconsistent (a writer bug)."""
