"""The codec registry: every codec registers here once; everything else looks codecs up by name."""

from __future__ import annotations

from rinr_core.codecs.base import KINDS, Codec, Container
from rinr_core.errors import ConfigError

_CODECS: dict[str, Codec] = {}
_BY_NAME: dict[str, Codec] = {}
_BY_RUNTIME_NAME: dict[str, Codec] = {}
_CONTAINERS: dict[str, Container] = {}


def register_container(container: Container) -> Container:
    """Add a payload format (codecs name theirs in :attr:`Codec.container`)."""
    if container.name in _CONTAINERS and _CONTAINERS[container.name] is not container:
        raise ConfigError(f"container {container.name!r} is already registered")
    _CONTAINERS[container.name] = container
    return container


def get_container(name: str) -> Container:
    """The payload format ``name``; :class:`ConfigError` (with the known ones) if there is none."""
    try:
        return _CONTAINERS[name]
    except KeyError:
        raise ConfigError(f"unknown payload format {name!r}; known: {sorted(_CONTAINERS)}") from None


def register(codec: Codec) -> Codec:
    """Add ``codec`` under all of its names; a name taken by another codec is refused."""
    if codec.container not in _CONTAINERS:
        raise ConfigError(f"codec {codec.name!r}: register its container {codec.container!r} first")
    if codec.kind not in KINDS:
        raise ConfigError(f"codec {codec.name!r} has kind {codec.kind!r}; use one of {KINDS}")
    taken = [n for n in codec.names if n in _BY_NAME and _BY_NAME[n].name != codec.name]
    runtime = codec.runtime_name
    others = {n: c for n, c in _BY_RUNTIME_NAME.items() if c.name != codec.name}
    taken += [n for n in codec.aliases if n in others]  # an alias may not hide a runtime name
    if runtime and (runtime in others or (runtime in _BY_NAME and runtime != _BY_NAME[runtime].name
                                          and _BY_NAME[runtime].name != codec.name)):
        taken.append(f"runtime {runtime}")
    if taken:
        raise ConfigError(f"codec {codec.name!r}: the name(s) {taken} are already registered")
    _CODECS[codec.name] = codec
    for name in codec.names:
        _BY_NAME[name] = codec
    if runtime:
        _BY_RUNTIME_NAME[runtime] = codec
    return codec


def get_codec(name: str) -> Codec:
    """The codec called ``name``: its registry name or an alias, else its runtime name.

    Raises
    ------
    ConfigError
        No codec has that name; the message lists the names there are.
    """
    key = name.strip().lower()
    found = _BY_NAME.get(key) or _BY_RUNTIME_NAME.get(key)
    if found is None:
        known = sorted({*_BY_NAME, *_BY_RUNTIME_NAME})
        raise ConfigError(f"unknown codec {name!r}; choose one of {', '.join(known)} "
                          "(`rinr codecs` lists them)")
    return found


def get_runtime_codec(name: str) -> Codec:
    """The codec the runtime's ``codec = name`` means (runtime names first, then registry names).

    Raises
    ------
    ConfigError
        No codec the runtime can broadcast has that name.
    """
    key = name.strip().lower()
    found = _BY_RUNTIME_NAME.get(key)
    if found is None:
        raise ConfigError(f"codec {name!r} cannot be broadcast by the runtime; choose one of "
                          f"{', '.join(_BY_RUNTIME_NAME)} (`rinr codecs` lists them)")
    return found


def all_codecs() -> list[Codec]:
    """Every registered codec, in registration order."""
    return list(_CODECS.values())


def codec_names(*, kind: str | None = None, family: str | None = None,
                runtime: bool = False) -> tuple[str, ...]:
    """Registry names (with ``runtime=True``: the runtime's names) of the matching codecs."""
    picked = [c for c in _CODECS.values()
              if (kind is None or c.kind == kind) and (family is None or c.family == family)
              and (not runtime or c.runtime_name)]
    return tuple(str(c.runtime_name) if runtime else c.name for c in picked)
