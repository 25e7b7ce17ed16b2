"""The ``Tags`` column of one FOCUS file -> one text column per wanted tag key.

Tags are JSON objects (or Parquet maps) written by whoever labels the resources, so a
key or value may be anything JSON can spell. What is kept:

- a row whose Tags is not a JSON object (or not text or a map at all) counts without
  tags, reported;
- a tag whose key cannot name a dimension (a control character such as NUL, a lone
  surrogate, more than ``MAX_DIMENSION_VALUE`` characters) or whose value cannot be
  stored as text (a lone surrogate) is dropped from its row, reported with the key;
  the row and its other tags count;
- keys that differ only in case are distinct tags (as in AWS and Azure). SQL never
  uses a key as a name: the columns are ``_tag:N`` and ``dimensions`` maps them to
  ``tag.KEY``.
"""

from __future__ import annotations

import fnmatch
import json
import unicodedata
from dataclasses import dataclass, field

import pyarrow as pa

from alerter.domain import MAX_DIMENSION_VALUE

SHOWN_KEY = 40
"""Characters of a bad key shown in a problem message."""


@dataclass
class TagColumns:
    """The table with the tag columns added, and what could not be read."""

    table: pa.Table
    dimensions: dict[str, str] = field(default_factory=dict)
    """Added column -> its dimension name, ``tag.KEY``."""
    broken: list[int] = field(default_factory=list)
    """Rows whose Tags is not a JSON object: they count without tags."""
    dropped: dict[int, list[str]] = field(default_factory=dict)
    """Row -> why each tag dropped from it was dropped (one line per tag)."""
    unread: str | None = None
    """Why the whole column was not read (a type that is neither text nor a map)."""


def tag_columns(table: pa.Table, patterns: tuple[str, ...], taken: set[str]) -> TagColumns:
    """Add a column for every tag key matching one of ``patterns`` (globs) whose
    ``tag.KEY`` name is not in ``taken``; rows without the key hold ``""``."""
    if not patterns or "Tags" not in table.column_names:
        return TagColumns(table)
    column = _as_text(table.column("Tags"))
    if column is None:
        return TagColumns(table, unread=f"Tags is {table.schema.field('Tags').type}, not text")
    encoded = column.dictionary_encode().combine_chunks()
    parsed: list[dict[str, str]] = []
    broken: set[int] = set()
    drops: dict[int, list[str]] = {}
    verdicts: dict[str, str | None] = {}
    for i, raw in enumerate(encoded.dictionary.to_pylist()):
        tags = _parse(raw)
        if tags is None:
            broken.add(i)
            parsed.append({})
            continue
        kept: dict[str, str] = {}
        for key, value in tags.items():
            if not any(fnmatch.fnmatchcase(key, p) for p in patterns):
                continue
            if key not in verdicts:
                verdicts[key] = _bad_key(key)
            why = verdicts[key]
            text = "" if value is None else (value if isinstance(value, str) else json.dumps(value))
            if why is None and _has_surrogate(text):
                why = "its value is not valid text (a lone surrogate)"
            if why is not None:
                drops.setdefault(i, []).append(f"tag {_shown(key)} dropped: {why}")
                continue
            kept[key] = text
        parsed.append(kept)
    out = TagColumns(table)
    indices = encoded.indices
    for key in sorted({k for tags in parsed for k in tags}):
        name = f"tag.{key}"
        if name in taken:
            continue
        lookup = pa.array([tags.get(key, "") for tags in parsed], pa.string())
        column_name = f"_tag:{len(out.dimensions)}"
        out.table = out.table.append_column(column_name, lookup.take(indices))
        out.dimensions[column_name] = name
    if broken or drops:
        for row, code in enumerate(indices.to_pylist()):
            if code in broken:
                out.broken.append(row)
            elif code in drops:
                out.dropped[row] = drops[code]
    return out


def _as_text(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """Tags as JSON text per row (a map is written as JSON); None for other types."""
    kind = column.type
    if pa.types.is_map(kind):
        values = [
            None if m is None else json.dumps({str(k): v for k, v in m}) for m in column.to_pylist()
        ]
        return pa.chunked_array([pa.array(values, pa.string())])
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return column
    try:
        return column.cast(pa.string())
    except pa.ArrowException:
        return None


def _parse(raw: str | None) -> dict[str, object] | None:
    """The tags of one Tags text ({} for empty or ``NULL``); None when not an object."""
    text = (raw or "").strip()
    if not text or text.upper() == "NULL":
        return {}
    try:
        tags = json.loads(text)
    except (ValueError, RecursionError):  # ValueError: also a number of 5000 digits
        return None
    return tags if isinstance(tags, dict) else None


def _bad_key(key: str) -> str | None:
    """Why ``key`` cannot name a dimension, or None when it can."""
    if len(key) > MAX_DIMENSION_VALUE:
        return f"the key is longer than {MAX_DIMENSION_VALUE} characters"
    if _has_surrogate(key):
        return "the key is not valid text (a lone surrogate)"
    if any(unicodedata.category(c) == "Cc" for c in key):
        return "the key has a control character"
    return None


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _shown(key: str) -> str:
    return repr(key) if len(key) <= SHOWN_KEY else repr(key[:SHOWN_KEY]) + "..."
