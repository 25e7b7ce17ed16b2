"""One FOCUS file (CSV plain or gzip, or Parquet) -> exact sums per (series, window).

Reading rules, as real exports need them (the FinOps Foundation sample, AWS Data
Exports, Azure Cost Management exports):

- the format is told by the bytes: Parquet (``PAR1``), gzip (``1f 8b``), else CSV;
- CSV cells are text, so account ids keep their leading zeros; ``NULL`` (any case)
  and empty cells are null;
- a timestamp without a UTC offset (``2024-09-18 22:00:00``) is UTC, as the FOCUS
  spec says all its timestamps are; one with an offset is converted to UTC;
- a row that cannot count (no valid ``ChargePeriodStart``/``End`` or cost, or an end
  before the start) is *skipped* and reported as ``file:line: why``; with
  ``strict`` the whole file is rejected instead;
- a charge spanning several windows (a daily row in hourly windows) is split in
  proportion to time;
- money stays exact: ``DECIMAL(38,18)`` in DuckDB, ``Decimal`` out.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from alerter.errors import BadResponse
from alerter.sources.focus_sql import _epoch, _is_text, _sql_str, _text, _typed
from alerter.sources.focus_tags import TagColumns, tag_columns

REQUIRED = ("ChargePeriodStart", "ChargePeriodEnd")
OPTIONAL = ("BillingCurrency", "ConsumedQuantity", "ChargeCategory", "ChargeClass", "Tags")
MAX_WINDOWS_PER_ROW = 50_000
"""A charge period longer than this many windows is a bad row (it would blow up memory)."""
MAX_REPORTED = 20
"""Located problems kept per file; the rest are counted."""
AMOUNT = pa.decimal128(38, 18)
FIRST_US = -62_135_596_800_000_000 + 86_400_000_000
"""0001-01-02T00:00:00Z in epoch microseconds: earlier windows do not fit a datetime."""
LAST_US = 253_402_214_400_000_000
"""9999-12-31T00:00:00Z: a window ending later does not fit a datetime."""


@dataclass(frozen=True)
class FocusSpec:
    """What to read from every file of one source."""

    cost_column: str
    dimensions: tuple[str, ...]
    tags: tuple[str, ...]
    step_us: int
    categories: frozenset[str] | None = None
    """ChargeCategory values to count (None: all)."""
    strict: bool = False


@dataclass
class FileSums:
    """The sums of one file: an Arrow table with the dimension columns, ``currency``,
    ``window`` (epoch microseconds), ``amount``, ``quantity`` and ``corrected`` (some
    row of that cell has ``ChargeClass = Correction``)."""

    name: str
    table: pa.Table
    rows: int = 0
    counted: int = 0
    excluded: int = 0
    skipped: int = 0
    problems: list[str] = field(default_factory=list)


def read_focus(name: str, data: bytes, spec: FocusSpec) -> FileSums:
    """Parse and sum one file. Raises ``BadResponse`` (naming ``name``) when the file
    cannot be read at all, misses a required column, or (``strict``) has a bad row."""
    table, locate = _load(name, data, spec)
    return _sum(name, table, locate, spec)


# -- loading -----------------------------------------------------------------------------


def _wanted(spec: FocusSpec) -> list[str]:
    return list(dict.fromkeys([*REQUIRED, spec.cost_column, *OPTIONAL, *spec.dimensions]))


def _load(name: str, data: bytes, spec: FocusSpec) -> tuple[pa.Table, _Locator]:
    if data[:4] == b"PAR1":
        return _load_parquet(name, data, spec), _ParquetLocator(name)
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise BadResponse(f"{name}: not a readable gzip file: {exc}") from None
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    return _load_csv(name, data, spec), _CsvLocator(name, data)


def _load_parquet(name: str, data: bytes, spec: FocusSpec) -> pa.Table:
    try:
        pf = pq.ParquetFile(io.BytesIO(data))
        present = set(pf.schema_arrow.names)
        _require(name, sorted(present), spec)
        table = pf.read(columns=[c for c in _wanted(spec) if c in present])
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise BadResponse(f"{name}: not a readable Parquet file: {exc}") from None
    return table


def _header(name: str, data: bytes) -> list[str]:
    first = data.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    try:
        return next(csv.reader([first.rstrip("\r")]), [])
    except csv.Error as exc:
        raise BadResponse(f"{name}:1: unreadable header: {exc}") from None


def _load_csv(name: str, data: bytes, spec: FocusSpec) -> pa.Table:
    header = _header(name, data)
    _require(name, header, spec)
    wanted = [c for c in _wanted(spec) if c in header]
    try:
        return pacsv.read_csv(
            io.BytesIO(data),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(wanted, pa.string()),
                include_columns=wanted,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowException, ValueError):
        # Malformed rows (wrong field count, bad UTF-8): the slow reader keeps the good
        # rows and locates the bad ones.
        return _load_csv_slowly(name, data, header, wanted)


def _load_csv_slowly(name: str, data: bytes, header: list[str], wanted: list[str]) -> pa.Table:
    text = io.StringIO(data.decode("utf-8", errors="replace"), newline="")
    reader = csv.reader(text)
    index = {c: header.index(c) for c in wanted}
    columns: dict[str, list[str]] = {c: [] for c in wanted}
    bad: list[tuple[int, str]] = []
    lines: list[int] = []
    try:
        next(reader, None)
        start = reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if not row:
                continue
            if len(row) != len(header):
                bad.append((line, f"{len(row)} fields, the header has {len(header)}"))
                continue
            lines.append(line)
            for c, i in index.items():
                columns[c].append(row[i])
    except csv.Error as exc:
        bad.append((reader.line_num, f"CSV error: {exc}; the rest of the file is not read"))
    table = pa.table({c: pa.array(v, pa.string()) for c, v in columns.items()})
    table = table.append_column("_line", pa.array(lines, pa.int64()))
    return table.replace_schema_metadata(
        {b"bad": json.dumps(bad).encode()}  # rows that never made it into the table
    )


def _require(name: str, header: list[str], spec: FocusSpec) -> None:
    missing = [c for c in (*REQUIRED, spec.cost_column) if c not in header]
    if missing:
        shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
        raise BadResponse(f"{name}:1: missing FOCUS column(s) {', '.join(missing)} (have: {shown})")


# -- locating rows -------------------------------------------------------------------------


class _Locator:
    def where(self, table: pa.Table, rows: list[int]) -> dict[int, str]:
        raise NotImplementedError


class _ParquetLocator(_Locator):
    def __init__(self, name: str) -> None:
        self.name = name

    def where(self, table: pa.Table, rows: list[int]) -> dict[int, str]:
        return {r: f"{self.name}: row {r + 1}" for r in rows}


class _CsvLocator(_Locator):
    """Line numbers of CSV rows, found only when some row is bad (a second pass)."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self.data = data

    def where(self, table: pa.Table, rows: list[int]) -> dict[int, str]:
        if not rows:
            return {}
        if "_line" in table.column_names:
            lines = table.column("_line").to_pylist()
            return {r: f"{self.name}:{lines[r]}" for r in rows}
        wanted = set(rows)
        found: dict[int, str] = {}
        for i, line in enumerate(self._record_lines()):
            if i in wanted:
                found[i] = f"{self.name}:{line}"
                if len(found) == len(wanted):
                    break
        return {r: found.get(r, f"{self.name}: row {r + 1}") for r in rows}

    def _record_lines(self) -> Iterator[int]:
        reader = csv.reader(io.StringIO(self.data.decode("utf-8", errors="replace"), newline=""))
        next(reader, None)
        start = reader.line_num + 1
        for row in reader:
            line, start = start, reader.line_num + 1
            if row:
                yield line


# -- summing -------------------------------------------------------------------------------


def _preclean(table: pa.Table, spec: FocusSpec, extra: list[str]) -> pa.Table:
    """Clean the text columns that repeat (periods, dimensions, currency, category) once
    per distinct value instead of once per row: trimmed, ``NULL``/empty as null; and
    parse the distinct period texts to epoch microseconds (``_us:COLUMN``)."""
    repeating = [
        *REQUIRED,
        "BillingCurrency",
        "ChargeCategory",
        "ChargeClass",
        *spec.dimensions,
        *extra,
    ]
    cleaned: list[str] = []
    uniques: dict[str, tuple[list[str | None], pa.Array]] = {}
    for column in dict.fromkeys(repeating):
        if column not in table.column_names or not _is_text(table.schema.field(column).type):
            continue
        encoded = table.column(column).dictionary_encode().combine_chunks()
        values = [
            None if v is None or v.strip().upper() in ("", "NULL") else v.strip()
            for v in encoded.dictionary.to_pylist()
        ]
        index = table.schema.get_field_index(column)
        table = table.set_column(index, column, pa.array(values, pa.string()).take(encoded.indices))
        cleaned.append(column)
        if column in REQUIRED:
            uniques[column] = (values, encoded.indices)
    if uniques:
        con = duckdb.connect(config={"threads": 1})
        try:
            con.execute("SET TimeZone = 'UTC'")
            for column, (values, indices) in uniques.items():
                con.register("u", pa.table({"v": pa.array(values, pa.string())}))
                parsed = con.sql(
                    "SELECT epoch_us(TRY_CAST(v AS TIMESTAMPTZ)) AS us FROM u"
                ).to_arrow_table()
                con.unregister("u")
                table = table.append_column(
                    f"_us:{column}", parsed.column("us").combine_chunks().take(indices)
                )
        finally:
            con.close()
    meta = dict(table.schema.metadata or {})
    meta[b"cleaned"] = json.dumps(cleaned).encode()
    return table.replace_schema_metadata(meta)


def _sum(name: str, table: pa.Table, locate: _Locator, spec: FocusSpec) -> FileSums:
    pre_bad: list[tuple[int, str]] = []
    meta = table.schema.metadata or {}
    if b"bad" in meta:
        pre_bad = [(int(line), why) for line, why in json.loads(meta[b"bad"])]
    tags = tag_columns(table, spec.tags, set(spec.dimensions))
    table = _preclean(tags.table, spec, list(tags.dimensions))
    table = table.append_column("_row", pa.array(range(table.num_rows), pa.int64()))
    # dimension -> its column; the SQL names them _dN (tag keys and DuckDB's
    # case-insensitive names must not meet), renamed back at the end
    columns = {d: d for d in spec.dimensions} | {n: c for c, n in tags.dimensions.items()}
    dims = list(columns)
    step = spec.step_us
    dim_sql = ", ".join(
        f"coalesce({_text(table, c)}, '') AS _d{i}" if c in table.column_names else f"'' AS _d{i}"
        for i, c in enumerate(columns.values())
    )
    dim_list = ", ".join(f"_d{i}" for i in range(len(dims)))
    category = _text(table, "ChargeCategory")
    con = duckdb.connect(config={"threads": 2, "memory_limit": "1GB"})
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("raw", table)
        con.execute(
            f"""
            CREATE TEMP VIEW r AS
            SELECT _row,
              {_text(table, REQUIRED[0])} AS s_raw, {_text(table, REQUIRED[1])} AS e_raw,
              {_text(table, spec.cost_column)} AS c_raw,
              {_epoch(table, REQUIRED[0])} AS s,
              {_epoch(table, REQUIRED[1])} AS e,
              {_typed(table, spec.cost_column, "DECIMAL(38,18)")} AS amount,
              {_typed(table, "ConsumedQuantity", "DECIMAL(38,18)")} AS quantity,
              coalesce({_text(table, "BillingCurrency")}, 'USD') AS currency,
              coalesce({category}, '') AS category,
              coalesce({_text(table, "ChargeClass")}, '') AS charge_class
              {", " + dim_sql if dim_sql else ""}
            FROM raw
            """
        )
        con.execute(
            f"""
            CREATE TEMP VIEW judged AS
            SELECT *, CASE
              WHEN s IS NULL THEN 'ChargePeriodStart is ' || coalesce('not a timestamp: ' || s_raw, 'null')
              WHEN e IS NULL THEN 'ChargePeriodEnd is ' || coalesce('not a timestamp: ' || e_raw, 'null')
              WHEN amount IS NULL THEN {_sql_str(spec.cost_column)} || ' is '
                   || coalesce('not a decimal amount: ' || c_raw, 'null')
              WHEN e < s THEN 'ChargePeriodEnd is before ChargePeriodStart'
              WHEN s < {FIRST_US} OR e > {LAST_US} - {step}
                THEN 'charge period outside the years 1 to 9999: '
                     || coalesce(s_raw, '?') || ' to ' || coalesce(e_raw, '?')
              WHEN (e - s) // {step} > {MAX_WINDOWS_PER_ROW}
                THEN 'charge period spans more than {MAX_WINDOWS_PER_ROW} windows'
              END AS why
            FROM r
            """
        )
        bad = con.execute(
            "SELECT _row, why, s_raw, e_raw, c_raw FROM judged WHERE why IS NOT NULL ORDER BY _row"
        ).fetchall()
        rows = table.num_rows
        cats = sorted(spec.categories) if spec.categories is not None else None
        keep = "why IS NULL" + (
            " AND category IN (" + ", ".join(_sql_str(c) for c in cats) + ")"
            if cats is not None
            else ""
        )
        counted = int(con.execute(f"SELECT count(*) FROM judged WHERE {keep}").fetchall()[0][0])
        excluded = rows - len(bad) - counted
        out = con.sql(
            f"""
            WITH good AS (
              SELECT *, s - ((s % {step}) + {step}) % {step} AS w0,
                     greatest(e, s + 1) AS e1 FROM judged WHERE {keep}
            ), spread AS (
              SELECT g.*, w FROM good g,
                unnest(generate_series(g.w0, g.e1 - 1, {step})) AS t(w)
            )
            SELECT {dim_list + "," if dim_list else ""} currency, w AS "window",
              sum(CASE WHEN e <= s OR (s >= w AND e <= w + {step}) THEN amount
                  ELSE CAST(CAST(amount AS DOUBLE) * (least(e, w + {step}) - greatest(s, w))
                            / (e - s) AS DECIMAL(38,18)) END) AS amount,
              sum(CASE WHEN quantity IS NULL THEN NULL
                  WHEN e <= s OR (s >= w AND e <= w + {step}) THEN quantity
                  ELSE CAST(CAST(quantity AS DOUBLE) * (least(e, w + {step}) - greatest(s, w))
                            / (e - s) AS DECIMAL(38,18)) END) AS quantity,
              bool_or(lower(charge_class) = 'correction') AS corrected
            FROM spread
            GROUP BY ALL
            """
        ).to_arrow_table()
    except duckdb.Error as exc:
        raise BadResponse(f"{name}: cannot sum the rows: {exc}") from None
    finally:
        con.close()
    found = locate.where(table, [r for r, *_ in bad[:MAX_REPORTED]])
    problems = [f"{where}: {why}" for where, why in ((f"{name}:{ln}", w) for ln, w in pre_bad)]
    problems += [f"{found[r]}: {why}" for r, why, *_ in bad[:MAX_REPORTED]]
    skipped = len(bad) + len(pre_bad)
    problems += _tag_problems(name, tags, locate, table)
    if spec.strict and (skipped or tags.broken or tags.dropped or tags.unread):
        raise BadResponse(
            problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )
    out = out.rename_columns([*dims, *out.column_names[len(dims) :]])
    return FileSums(
        name,
        out.cast(_out_schema(dims)),
        rows=rows + len(pre_bad),
        counted=counted,
        excluded=excluded,
        skipped=skipped,
        problems=problems[: MAX_REPORTED * 2],
    )


def _tag_problems(name: str, tags: TagColumns, locate: _Locator, table: pa.Table) -> list[str]:
    """One line per row without its tags and per tag dropped, the first rows only."""
    problems = [f"{name}: {tags.unread}; the rows count without tags"] if tags.unread else []
    rows = sorted([*tags.broken, *tags.dropped])[:MAX_REPORTED]
    where = locate.where(table, rows)
    for r in rows:
        if r in tags.dropped:
            problems += [f"{where[r]}: {why}; the row counts without it" for why in tags.dropped[r]]
        else:
            problems.append(f"{where[r]}: Tags is not a JSON object; the row counts without tags")
    return problems


def _out_schema(dims: list[str]) -> pa.Schema:
    return pa.schema(
        [
            *(pa.field(d, pa.string()) for d in dims),
            pa.field("currency", pa.string()),
            pa.field("window", pa.int64()),
            pa.field("amount", AMOUNT),
            pa.field("quantity", AMOUNT),
            pa.field("corrected", pa.bool_()),
        ]
    )


def empty_sums(name: str, dims: list[str]) -> pa.Table:
    return _out_schema(dims).empty_table()
