"""Where a key of a TOML document is written: its line, for located error messages.

``tomllib`` returns plain data without positions, so this reads the text once more,
line by line: table headers (``[a.b]``, ``[a."b-c"]``), assignments (``k = ``,
dotted ``a.b = ``) and the keys of one-line inline tables (``k = {x = 1}``).
Multi-line arrays and strings are skipped. Good enough to point a person at a line;
never used to read values.
"""

from __future__ import annotations

import re

Path = tuple[str, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")
_INLINE_KEY = re.compile(r"[{,]\s*(\"[^\"]*\"|'[^']*'|[A-Za-z0-9_-]+)\s*=")


def split_key(text: str) -> Path | None:
    """``a."b.c".d`` -> ``("a", "b.c", "d")``; None if ``text`` is not a key."""
    parts: list[str] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            return None
        if text[i] in "\"'":
            end = text.find(text[i], i + 1)
            if end < 0:
                return None
            parts.append(text[i + 1 : end])
            i = end + 1
        else:
            match = _BARE.match(text, i)
            if not match:
                return None
            parts.append(match.group(0))
            i = match.end()
        while i < n and text[i] in " \t":
            i += 1
        if i < n:
            if text[i] != ".":
                return None
            i += 1
    return tuple(parts) if parts else None


def _assignment(line: str) -> tuple[str, str] | None:
    """(key text, value text) of ``key = value``, respecting quoted keys."""
    i, n, quote = 0, len(line), ""
    while i < n:
        ch = line[i]
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "=":
            return line[:i], line[i + 1 :]
        elif ch == "#":
            return None
        i += 1
    return None


def _depth_change(value: str) -> int:
    depth, quote = 0, ""
    for ch in value:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
    return depth


def key_lines(text: str) -> dict[Path, int]:
    """Every table and key path of the document, mapped to its 1-based line."""
    found: dict[Path, int] = {}
    table: Path = ()
    depth = 0
    multiline = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if multiline:
            if multiline in line:
                multiline = ""
            continue
        if depth > 0:
            depth += _depth_change(line)
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            inner = line.lstrip("[").split("]", 1)[0]
            key = split_key(inner)
            if key is not None:
                table = key
                for cut in range(1, len(table) + 1):
                    found.setdefault(table[:cut], number)
            continue
        assignment = _assignment(line)
        if assignment is None:
            continue
        key = split_key(assignment[0])
        if key is None:
            continue
        full = table + key
        for cut in range(len(table) + 1, len(full) + 1):
            found.setdefault(full[:cut], number)
        value = assignment[1].strip()
        for marker in ('"""', "'''"):
            if value.startswith(marker) and value.count(marker) == 1:
                multiline = marker
        if value.startswith("{"):
            for match in _INLINE_KEY.finditer(value):
                name = match.group(1).strip("\"'")
                found.setdefault((*full, name), number)
        depth = max(0, _depth_change(value))
    return found


def line_of(lines: dict[Path, int], path: Path) -> int | None:
    """The line of ``path``, else of its nearest written parent, else None."""
    for cut in range(len(path), 0, -1):
        if path[:cut] in lines:
            return lines[path[:cut]]
    return None


_AT = re.compile(r"^(.*?)\s*\(at line (\d+), column (\d+)\)$")


def syntax_error(shown: str, message: str) -> str:
    """``file:2:9: invalid value`` from tomllib's ``Invalid value (at line 2, column 9)``."""
    match = _AT.match(message)
    if not match:
        return f"{shown}: {message}"
    text = match.group(1)
    return f"{shown}:{match.group(2)}:{match.group(3)}: TOML syntax: {text[:1].lower()}{text[1:]}"
