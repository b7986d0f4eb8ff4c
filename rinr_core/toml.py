"""TOML reading on every supported Python: ``from rinr_core.toml import tomllib``.

:mod:`tomllib` is in the standard library from Python 3.11; on 3.10 (the Jetson's JetPack 6)
its backport ``tomli`` (the same API) stands in.
"""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

__all__ = ["tomllib"]
