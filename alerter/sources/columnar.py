"""Columnar reading for file sources: DuckDB parses and sums CSV files into an Arrow table
of ``POINT_SCHEMA`` rows (no Python object per row), and file marks let an unchanged
file be skipped. Reusable by any file source (csv, FOCUS, object stores).

Rows DuckDB cannot parse exactly as ``parse_time``/``parse_amount`` would are not
guessed at: the caller reads that file with its row-by-row reader, which either accepts
it or names the file and line at fault.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from alerter.domain import MAX_DIMENSION_VALUE, Coverage, key_json, make_key
from alerter.errors import BadResponse
from alerter.sources.base import FileMark
from alerter.timeparse import floor_time

_END_OF_TIME = 253_402_300_800
"""10000-01-01T00:00:00Z in Unix seconds: no ``datetime`` reaches it."""
log = logging.getLogger(__name__)


def _has_offset(ts: str) -> str:
    """SQL: the text is a bare date or ends in a UTC offset (``Z``, ``+HH:MM``, ``+HHMM``).
    A timestamp without one is left to the row reader, which rejects it as
    ``parse_time`` does; a cheap test, as a regular expression per row costs more than
    the parse."""
    return (
        f"(length({ts}) = 10 OR right({ts}, 1) IN ('Z', 'z') "
        f"OR substr({ts}, length({ts}) - 5, 1) IN ('+', '-') "
        f"OR substr({ts}, length({ts}) - 4, 1) IN ('+', '-'))"
    )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


_PROBE = 1 << 16
"""Bytes hashed at each end of a file's content for its fingerprint."""


def fingerprint(path: Path, size: int) -> str | None:
    """A hash of the first and the last 64 KiB of the file's first ``size`` bytes, or None
    for a compressed file, or when those bytes do not end with a whole line (a file that
    grows must go on at a line start)."""
    if path.suffix.lower() == ".gz" or size <= 0:
        return None
    try:
        with path.open("rb") as f:
            head = f.read(min(size, _PROBE))
            f.seek(max(0, size - _PROBE))
            end = f.read(min(size, _PROBE))
    except OSError:
        return None
    if len(end) < min(size, _PROBE) or not end.endswith(b"\n"):
        return None
    digest = hashlib.blake2b(digest_size=16)
    digest.update(size.to_bytes(8, "big"))
    digest.update(head)
    digest.update(end)
    return digest.hexdigest()


def stat_mark(path: Path, since: datetime, until: datetime, data_end: datetime | None) -> FileMark:
    """The mark of a local file just read for ``[since, until)``."""
    st = path.stat()
    return FileMark(
        str(path),
        st.st_size,
        st.st_mtime_ns,
        None,
        since,
        until,
        data_end,
        fingerprint(path, st.st_size),
    )


@dataclass(frozen=True)
class CsvLayout:
    """Which columns hold what: a timestamp (RFC 3339), an amount, the dimensions."""

    timestamp: str
    amount: str
    dimensions: tuple[str, ...]
    step: timedelta
    currency: str


@dataclass
class ColumnarRead:
    """What ``read_csv_windows`` produced; ``fallback`` lists files to read row by row."""

    table: pa.RecordBatchReader | None
    coverage: list[Coverage]
    marks: list[FileMark]
    fallback: list[Path]
    spans: dict[Path, tuple[datetime, datetime]] = field(default_factory=dict)
    """First window start and last window end of each good file that held rows."""


ROW_READER_MAX_BYTES = 256 << 20
"""Largest file handed to the row-by-row reader when DuckDB refuses some of its rows: the
row reader holds a Python object per window, so a larger file gets an error from DuckDB's
own reading instead (naming the first row at fault)."""

_MEMORY_FLOOR = 1 << 30
_MEMORY_CAP = 4 << 30


def memory_for(files: Sequence[Path]) -> int:
    """DuckDB's memory limit for summing ``files``: 1 GB, or 0.8 of their size up to 4 GB
    (summing 67 M distinct (series, hour) rows of a 2.5 GB file needs about 2 GB; with
    less it fails rather than spills)."""
    total = 0
    for path in files:
        try:
            total += path.stat().st_size
        except OSError:
            continue
    return int(min(_MEMORY_CAP, max(_MEMORY_FLOOR, total * 0.8)))


def _connect(memory: int = _MEMORY_FLOOR) -> duckdb.DuckDBPyConnection:
    # a file-backed scratch database: its tables can leave memory when the aggregation
    # of a large file outgrows the memory limit (an in-memory one overshoots it)
    folder = tempfile.mkdtemp(prefix="alerter-read-")
    db = duckdb.connect(folder + "/scratch.duckdb")
    weakref.finalize(db, shutil.rmtree, folder, True)
    db.execute("SET TimeZone='UTC'").fetchall()
    db.execute(f"SET memory_limit='{memory // (1 << 20)}MB'").fetchall()
    db.execute("SET preserve_insertion_order=false").fetchall()
    db.execute(f"SET temp_directory={_text(tempfile.gettempdir() + '/alerter-duckdb')}").fetchall()
    return db


def read_csv_windows(
    files: Sequence[Path], layout: CsvLayout, since: datetime, until: datetime
) -> ColumnarRead:
    """Sum every file's amounts per (series, window) for windows in ``[since, until)``;
    rows of several files for one (series, window) are added up. Each good file covers
    the span of its windows (clipped to the range); a file DuckDB cannot read exactly is
    left in ``fallback``, untouched."""
    step = int(layout.step.total_seconds())
    dims = list(layout.dimensions)
    memory = memory_for(files)
    db = _connect(memory)
    try:
        good: list[str] = []
        coverage: list[Coverage] = []
        marks: list[FileMark] = []
        fallback: list[Path] = []
        spans: dict[Path, tuple[datetime, datetime]] = {}
        dim_cols = ", ".join(f"{_ident(d)} AS d{i}" for i, d in enumerate(dims))
        group = ", ".join([f"d{i}" for i in range(len(dims))] + ["w"])
        for n, path in enumerate(files):
            table = f"agg{n}"
            ts = f"trim({_ident(layout.timestamp)})"
            amount = f"trim({_ident(layout.amount)})"
            window = (
                f"CASE WHEN {_has_offset(ts)} THEN "
                f"(floor(epoch(try_cast({ts} AS TIMESTAMPTZ)))::BIGINT // {step}) * {step} END"
            )
            source = (
                f"read_csv({_text(str(path))}, header=true, all_varchar=true, "
                "strict_mode=true, auto_detect=true)"
            )
            try:
                db.execute(
                    f"CREATE TABLE {table} AS SELECT {group}, sum(a) AS amount, "  # noqa: S608
                    "count(*) - count(a) AS bad FROM (SELECT "
                    f"{dim_cols + ', ' if dims else ''}"
                    f"{window} AS w, try_cast({amount} AS DECIMAL(38,10)) AS a "
                    f"FROM {source}) GROUP BY ALL"
                ).fetchall()
                (bad, first, last) = db.execute(
                    f"SELECT coalesce(sum(bad), 0) + count(*) FILTER (WHERE w IS NULL), "  # noqa: S608
                    f"min(w), max(w) FROM {table}"
                ).fetchall()[0]
            except duckdb.OutOfMemoryException as exc:
                raise BadResponse(
                    f"{path}: summing it needed more than {memory >> 20} MB "
                    f"(DuckDB: {str(exc).splitlines()[0][:200]})"
                ) from None
            except duckdb.Error as exc:
                if _too_big_for_rows(path):
                    raise BadResponse(f"{path}: {str(exc).splitlines()[0][:300]}") from None
                # the row reader decides (and names the line); the reason is logged, as
                # the row reader is slow and memory-hungry on a large file
                log.warning("csv_columnar_fallback file=%s error=%s", path, str(exc)[:300])
                fallback.append(path)
                continue
            if bad:
                if _too_big_for_rows(path):
                    raise BadResponse(_first_bad_row(db, path, source, ts, window, amount, bad))
                fallback.append(path)
                continue
            if last is not None and int(last) + step >= _END_OF_TIME:
                raise BadResponse(
                    f"{path}: a window starting {datetime.fromtimestamp(int(last), UTC):%Y-%m-%dT%H:%M:%SZ} "
                    "would end after 9999-12-31: not a billing time"
                )
            good.append(table)
            data_end = None
            if first is not None and last is not None:
                first_at = datetime.fromtimestamp(int(first), UTC)
                data_end = datetime.fromtimestamp(int(last) + step, UTC)
                spans[path] = (first_at, data_end)
                start = max(first_at, floor_time(since, layout.step))
                end = min(data_end, until)
                if end > start:
                    coverage.append(Coverage(start, end))
            # a window starting before ``until`` was read whole, even if it ends after it
            # (an export holding the hour in progress): nothing was clipped
            read_to = until
            if data_end is not None and last is not None and int(last) < int(until.timestamp()):
                read_to = max(until, data_end)
            marks.append(stat_mark(path, since, read_to, data_end))
        summed = _sum_files(db, good, dims, layout, since, until) if good else None
    except BaseException:
        db.close()
        raise
    if summed is None:
        db.close()
    return ColumnarRead(summed, coverage, marks, fallback, spans)


def _too_big_for_rows(path: Path) -> bool:
    try:
        return path.stat().st_size > ROW_READER_MAX_BYTES
    except OSError:
        return False


def _first_bad_row(
    db: duckdb.DuckDBPyConnection,
    path: Path,
    source: str,
    ts: str,
    window: str,
    amount: str,
    bad: int,
) -> str:
    """The error for a file too large for the row reader: its first row DuckDB could not
    read exactly (its number among the data rows, and the two values)."""
    db.execute("SET preserve_insertion_order=true").fetchall()
    rows = db.execute(
        f"SELECT n, t, a FROM (SELECT row_number() OVER () AS n, {ts} AS t, {amount} AS a, "  # noqa: S608
        f"{window} AS w, try_cast({amount} AS DECIMAL(38,10)) AS d FROM {source}) "
        "WHERE w IS NULL OR d IS NULL ORDER BY n LIMIT 1"
    ).fetchall()
    where = ""
    if rows:
        n, t, a = rows[0]
        where = (
            f" the first is data row {n} (line {int(n) + 1} unless a field spans lines): "
            f"timestamp {str(t)[:40]!r}, amount {str(a)[:40]!r};"
        )
    return (
        f"{path}: {bad} row(s) are not an RFC 3339 time with a UTC offset and a decimal "
        f"amount;{where} the file is too large for the line-by-line reader "
        f"({ROW_READER_MAX_BYTES >> 20} MB), fix or remove those rows"
    )


@functools.lru_cache(maxsize=1 << 12)
def _key_name(dims: tuple[str, ...], values: tuple[str, ...]) -> str:
    """The stored key of one series whose values SQL does not write as ``key_json`` does
    (cached: a source polled every hour names the same series each time)."""
    return key_json(make_key(dict(zip(dims, values, strict=True))))


_PLAIN_MAX_BYTES = MAX_DIMENSION_VALUE
"""A value of at most this many bytes is never capped (``cap_value`` counts characters)."""


def _key_sql(dims: Sequence[str]) -> tuple[str, str]:
    """SQL for the stored key of a row of columns ``d0..dn`` (``dims[i]`` in ``di``),
    exactly as ``key_json(make_key(...))`` writes it when every value is plain (no
    character JSON escapes, short enough not to be capped; NULL is ""), and SQL that is
    true for such rows. Other rows are named in Python."""
    first: dict[str, int] = {}
    for i, name in enumerate(dims):
        first.setdefault(str(name), i)
    if not first:
        return "'[]'", "true"
    parts: list[str] = []
    plain: list[str] = []
    for n, name in enumerate(sorted(first)):
        value = f"coalesce(d{first[name]}, '')"
        head = ("[" if n == 0 else ",") + "[" + json.dumps(name, ensure_ascii=False) + ',"'
        parts += [_text(head), value, _text('"]')]
        # RE2: a control character, a double quote or a backslash
        plain.append(
            f"(strlen({value}) <= {_PLAIN_MAX_BYTES} "
            f"AND NOT regexp_matches({value}, '[\\x00-\\x1f\"\\\\]'))"
        )
    return " || ".join([*parts, "']'"]), " AND ".join(plain)


def _sum_files(
    db: duckdb.DuckDBPyConnection,
    tables: list[str],
    dims: list[str],
    layout: CsvLayout,
    since: datetime,
    until: datetime,
) -> pa.RecordBatchReader:
    """The summed rows, streamed (``POINT_SCHEMA`` without quantity) in batches."""
    step = int(layout.step.total_seconds())
    lo, hi = int(since.timestamp()), int(until.timestamp())
    dcols = [f"d{i}" for i in range(len(dims))]
    if len(tables) == 1:  # one file: already one row per (series, window)
        db.execute(
            f"CREATE TABLE summed AS SELECT {', '.join([*dcols, 'w'])}, amount "  # noqa: S608
            f"FROM {tables[0]} WHERE w >= {lo} AND w < {hi}"
        ).fetchall()
    else:
        union = " UNION ALL ".join(f"SELECT * FROM {t}" for t in tables)  # noqa: S608
        db.execute(
            f"CREATE TABLE summed AS SELECT {', '.join([*dcols, 'w'])}, "  # noqa: S608
            f"sum(amount) AS amount FROM ({union}) WHERE w >= {lo} AND w < {hi} GROUP BY ALL"
        ).fetchall()
    for t in tables:
        db.execute(f"DROP TABLE {t}").fetchall()
    # series keys are written by SQL, once per distinct series; the few whose values need
    # JSON escapes or capping are named in Python, exactly as key_json does
    key, plain = _key_sql(dims)
    distinct = f"SELECT DISTINCT {', '.join(dcols)} FROM summed" if dcols else "SELECT 1"  # noqa: S608
    db.execute(
        f"CREATE TABLE series_keys AS SELECT *, (row_number() OVER () - 1)::INTEGER AS kid, "  # noqa: S608
        f"CASE WHEN {plain} THEN {key} END AS key FROM ({distinct})"
    ).fetchall()
    odd = db.execute(
        f"SELECT kid{''.join(', ' + c for c in dcols)} FROM series_keys WHERE key IS NULL"  # noqa: S608
    ).fetchall()
    if odd:
        named = pa.table(
            {
                "kid": pa.array([row[0] for row in odd], pa.int32()),
                "name": pa.array(
                    [_key_name(tuple(dims), tuple(v or "" for v in row[1:])) for row in odd],
                    pa.string(),
                ),
            }
        )
        db.register("odd_keys", named)
        db.execute(
            "UPDATE series_keys SET key = o.name FROM odd_keys o WHERE series_keys.kid = o.kid"
        ).fetchall()
        db.unregister("odd_keys")
    names = db.sql("SELECT key FROM series_keys ORDER BY kid").to_arrow_table()
    join = " AND ".join(f"k.{c} IS NOT DISTINCT FROM s.{c}" for c in dcols) or "true"
    stream = db.sql(
        f'SELECT k.kid, s.w AS start, s.w + {step} AS "end", s.amount '  # noqa: S608
        f"FROM summed s JOIN series_keys k ON {join}"
    ).to_arrow_reader(1 << 17)
    dictionary = names.column(0).combine_chunks().cast(pa.string())
    currencies = pa.array([layout.currency], pa.string())

    def batches() -> Iterator[pa.RecordBatch]:
        # the connection lives as long as the stream: closed once it is read (or dropped)
        try:
            for got in stream:
                n = got.num_rows
                yield pa.record_batch(
                    [
                        pa.DictionaryArray.from_arrays(got.column(0).cast(pa.int32()), dictionary),
                        got.column(1).cast(pa.int64()),
                        got.column(2).cast(pa.int64()),
                        got.column(3).cast(pa.decimal128(38, 10)),
                        pa.DictionaryArray.from_arrays(
                            pa.array(np.zeros(n, dtype=np.int32)), currencies
                        ),
                    ],
                    schema=_STREAM_SCHEMA,
                )
        finally:
            db.close()

    return pa.RecordBatchReader.from_batches(_STREAM_SCHEMA, batches())


_STREAM_SCHEMA = pa.schema(
    [
        pa.field("key", pa.dictionary(pa.int32(), pa.string()), nullable=False),
        pa.field("start", pa.int64(), nullable=False),
        pa.field("end", pa.int64(), nullable=False),
        pa.field("amount", pa.decimal128(38, 10), nullable=False),
        pa.field("currency", pa.dictionary(pa.int32(), pa.string()), nullable=False),
    ]
)
