"""Series keys written by SQL in ``columnar`` are exactly ``key_json(make_key(...))``, the
keys the row reader (and every other source) stores, whatever the dimension values hold."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from alerter.domain import key_json, make_key
from alerter.sources.columnar import CsvLayout, _key_sql, read_csv_windows
from tests.conftest import T0

VALUES = [
    "plain",
    "",  # an empty field: DuckDB reads NULL, the row reader ""
    'with "quotes"',
    "back\\slash",
    "tab\there",
    "ctrl\x01char",
    "Ünïcödé 日本 🙂",
    "line\u2028separator",  # not escaped by json.dumps(ensure_ascii=False)
    "del\x7fchar",
    "a" * 256,  # as long as a value may be
    "b" * 257,  # capped
    "é" * 200,  # 400 bytes, 200 characters: not capped
    "é" * 300,  # capped
    "ends with \\",
    "slash/and'apostrophe",
]


def _write(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(header)
        out.writerows(rows)


def _keys(path: Path, dims: tuple[str, ...]) -> set[str]:
    layout = CsvLayout("ts", "amount", dims, timedelta(hours=1), "USD")
    got = read_csv_windows([path], layout, T0, T0 + timedelta(days=1))
    assert got.fallback == []
    assert got.table is not None
    return {k for batch in got.table for k in batch.column("key").to_pylist()}


@pytest.mark.parametrize(
    "dims",
    [("sku", "customer"), ("customer",), ("zone", "customer", "sku")],
    ids=["two-unsorted", "one", "three"],
)
def test_sql_keys_equal_key_json_of_the_row_reader(tmp_path, dims):
    header = ["ts", "amount", "customer", "sku", "zone"]
    rows = [
        [f"2026-09-07T0{i % 3}:00:00Z", "1.5", value, VALUES[-1 - i], VALUES[(i * 7) % len(VALUES)]]
        for i, value in enumerate(VALUES)
    ]
    path = tmp_path / "d.csv"
    _write(path, header, rows)
    with path.open(newline="", encoding="utf-8") as f:
        expected = {key_json(make_key({d: row[d] for d in dims})) for row in csv.DictReader(f)}
    assert _keys(path, dims) == expected


def test_no_dimensions_is_one_empty_key(tmp_path):
    path = tmp_path / "d.csv"
    _write(path, ["ts", "amount"], [["2026-09-07T00:00:00Z", "1"], ["2026-09-07T01:00:00Z", "2"]])
    assert _keys(path, ()) == {key_json(make_key({}))}


def test_sql_names_every_plain_value_itself_and_leaves_the_rest_to_python():
    # the SQL half alone: plain values get key_json's text, the others are left to Python
    key, plain = _key_sql(["sku", "customer"])
    db = duckdb.connect()
    for value in VALUES:
        got = db.execute(
            f"SELECT {plain}, {key} FROM (SELECT ?::VARCHAR AS d0, 'c1' AS d1)",
            [value or None],
        ).fetchall()[0]
        escapes = any(c in value for c in '"\\') or any(ord(c) < 0x20 for c in value)
        if len(value.encode()) <= 256 and not escapes:
            assert got == (True, key_json(make_key({"sku": value, "customer": "c1"})))
        else:
            assert got[0] is False
