"""Files that are either complete or absent: written to a temporary file, then renamed.

Readers (other processes included) see a file's old content or its new content, never part
of it, and a crash leaves at most a hidden ``.<name>.<pid>.<random>.tmp`` file next to it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def _replacing(path: Path, fsync: bool) -> Iterator[BinaryIO]:
    """A new file in ``path``'s folder that replaces ``path`` once the block ends without error."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    # O_EXCL: a name no other writer uses; mode 0o666 & ~umask like any new file.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            yield file
            if fsync:
                file.flush()
                os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_atomic(path: str | Path, data: bytes, *, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` through a unique temporary file in its folder and a rename.

    ``fsync=True`` flushes the data to the disk before the rename (it then survives a power
    cut too, at the cost of a disk sync). Returns ``path``.
    """
    path = Path(path)
    with _replacing(path, fsync) as file:
        file.write(data)
    return path


def copy_atomic(source: str | Path, target: str | Path, *, fsync: bool = False) -> Path:
    """Copy file ``source`` to ``target`` the way :func:`write_atomic` writes. Returns ``target``."""
    target = Path(target)
    with Path(source).open("rb") as src, _replacing(target, fsync) as file:
        shutil.copyfileobj(src, file)
    return target
