"""DuckDB SQL for FOCUS columns as Arrow read them: quoted names and literals, text with
``NULL``/empty as null, numbers without NaN or infinities, periods as epoch microseconds.
Used by ``focus_table.py``: column names are quoted and literals escaped here."""

from __future__ import annotations

import json

import pyarrow as pa


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(table: pa.Table, column: str) -> str:
    """SQL for a column as trimmed text, ``NULL``/empty as null."""
    if column not in table.column_names:
        return "NULL"
    col = _q(column)
    if column in _cleaned(table):
        return col
    if pa.types.is_string(table.schema.field(column).type) or pa.types.is_large_string(
        table.schema.field(column).type
    ):
        return f"CASE WHEN upper(trim({col})) IN ('', 'NULL') THEN NULL ELSE trim({col}) END"
    return f"CAST({col} AS VARCHAR)"


def _typed(table: pa.Table, column: str, sql_type: str) -> str:
    if column not in table.column_names:
        return f"CAST(NULL AS {sql_type})"
    kind = table.schema.field(column).type
    if pa.types.is_floating(kind):
        # NaN and infinities are not amounts
        col = _q(column)
        return f"CASE WHEN isfinite({col}) THEN TRY_CAST({col} AS {sql_type}) END"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return f"TRY_CAST({_text(table, column)} AS {sql_type})"
    return f"TRY_CAST({_q(column)} AS {sql_type})"


def _epoch(table: pa.Table, column: str) -> str:
    """SQL for a period column as epoch microseconds (null when not a timestamp)."""
    if f"_us:{column}" in table.column_names:
        return _q(f"_us:{column}")
    return f"epoch_us({_typed(table, column, 'TIMESTAMPTZ')})"


def _cleaned(table: pa.Table) -> set[str]:
    meta = table.schema.metadata or {}
    return set(json.loads(meta.get(b"cleaned", b"[]")))


def _is_text(kind: pa.DataType) -> bool:
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
