"""The ``rinr`` console script: the codec commands of :mod:`rinr_core.cli` plus ``rinr plan``."""

from __future__ import annotations

import argparse
import sys

from rinr_core import cli as core_cli
from rinr_runtime.planning.cli import add_parser as add_plan_parser


def build_parser() -> argparse.ArgumentParser:
    """Every ``rinr`` command: the codec library's and the runtime's."""
    parser = core_cli.build_parser()
    add_plan_parser(core_cli.subcommands(parser))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``rinr`` console script."""
    return core_cli.run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
