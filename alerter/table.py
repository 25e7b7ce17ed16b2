"""Aligned text tables for the CLI (``status``, ``silence list``, ``series``)."""

from __future__ import annotations

from collections.abc import Sequence


def _cell(value: object) -> str:
    text = "-" if value is None or value == "" else str(value)
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, empty: str = "") -> str:
    """Columns padded to their widest cell, a header line, no trailing spaces.

    Returns ``empty`` (if given) instead of a header-only table when there are no rows.
    """
    if not rows and empty:
        return empty
    cells = [[_cell(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(t.ljust(w) for t, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)
