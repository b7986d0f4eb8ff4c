"""Tables for reports and terminals: one markdown and one aligned plain-text formatter.

Both take column titles and rows of cells; a cell that is not a string goes through
:func:`format_cell` (floats with a fixed number of decimals, None and NaN as a dash).
Alignment is one letter per column, ``"l"`` or ``"r"``; by default the first column is
left-aligned and the rest right-aligned (a label, then numbers). This module imports nothing
from the project, so every layer can use it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

MISSING = "–"
"""What an absent value (None, NaN) shows as."""

Digits = int | Sequence[int]
"""Decimals of float cells: one count for every column, or one per column."""


def format_cell(value: Any, digits: int = 2) -> str:
    """One cell as text: floats with ``digits`` decimals, ints as is, None/NaN as a dash.

    Booleans read ``yes``/``no``; strings are kept as they are.
    """
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return MISSING if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def _alignment(align: Sequence[str] | None, columns: int) -> list[str]:
    """Validated per-column alignment (default: left, then right)."""
    chosen = list(align) if align is not None else ["l"] + ["r"] * (columns - 1)
    if len(chosen) != columns:
        raise ValueError(f"align has {len(chosen)} entries for {columns} columns")
    bad = [a for a in chosen if a not in ("l", "r")]
    if bad:
        raise ValueError(f"align entries must be 'l' or 'r', got {bad!r}")
    return chosen


def _cells(headers: Sequence[str], rows: Sequence[Sequence[Any]], digits: Digits) -> list[list[str]]:
    """Every row's cells as text, checked to be as many as the headers."""
    per_column = [digits] * len(headers) if isinstance(digits, int) else list(digits)
    if len(per_column) != len(headers):
        raise ValueError(f"digits has {len(per_column)} entries for {len(headers)} columns")
    out = []
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row {row!r} has {len(row)} cells for {len(headers)} columns")
        out.append([format_cell(c, d) for c, d in zip(row, per_column, strict=True)])
    return out


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *,
                   align: Sequence[str] | None = None, digits: Digits = 2) -> str:
    """A markdown (GitHub) table, without a trailing newline.

    Parameters
    ----------
    headers
        Column titles.
    rows
        One sequence of cells per row, as long as ``headers``; ``|`` in a cell is escaped.
    align
        Per column ``"l"`` or ``"r"``; default: left for the first column, right for the rest.
    digits
        Decimals of float cells, for all columns or per column.
    """
    rule = ["---:" if a == "r" else "---" for a in _alignment(align, len(headers))]
    lines = [[*headers], rule, *_cells(headers, rows, digits)]
    return "\n".join("| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in lines)


def text_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *,
               align: Sequence[str] | None = None, digits: Digits = 2,
               widths: Sequence[int] | None = None, gap: str = " ") -> str:
    """A plain-text table with aligned columns, for a terminal (no trailing spaces or newline).

    Parameters
    ----------
    headers, rows, align, digits
        As for :func:`markdown_table` (cells are not escaped).
    widths
        Least width per column; a column is widened to its longest cell.
    gap
        What separates two columns.
    """
    aligned = _alignment(align, len(headers))
    lines = [[*headers], *_cells(headers, rows, digits)]
    least = list(widths) if widths is not None else [0] * len(headers)
    if len(least) != len(headers):
        raise ValueError(f"widths has {len(least)} entries for {len(headers)} columns")
    sizes = [max(w, *(len(line[i]) for line in lines)) for i, w in enumerate(least)]

    def join(line: list[str]) -> str:
        padded = (c.rjust(n) if a == "r" else c.ljust(n)
                  for c, n, a in zip(line, sizes, aligned, strict=True))
        return gap.join(padded).rstrip()

    return "\n".join(join(line) for line in lines)
