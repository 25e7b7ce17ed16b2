"""``focus``: FOCUS 1.0-1.2 cost exports (AWS, Azure, Google Cloud, OCI), from files or object storage.

Each fetch lists the export (``exports.resolve``), reads the files it has not read
yet or that changed (by etag, size or mtime; unchanged ones come from memory), sums
every file per (series, window) exactly (``focus_table.read_focus``), and adds the
files up. What counts:

- every row whose ``ChargeCategory`` is in ``charge_categories`` (default: all, so
  the sums equal the bill); ``ChargeCategory`` is a dimension, so credits and
  adjustments are series of their own that rules can filter or group;
- a row that cannot count (null or bad cost or period) is skipped, logged with
  ``file:line``, counted in ``FetchResult.skipped_rows`` (the ``alerter_rows_skipped``
  metric) and summarised in the cycle's errors; ``strict = true`` rejects the file;
- a window that a ``ChargeClass = Correction`` row touches is sent again whole, even
  outside the fetched range, so the correction lands as a revision of that window;
- a cell (series, window) that an earlier fetch had and a newer delivery no longer
  has is sent as zero, so a replaced delivery replaces, not adds.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Literal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from alerter.domain import Coverage, key_json, make_key
from alerter.errors import BadResponse, SourceError
from alerter.sources.base import (
    POINT_SCHEMA,
    FetchResult,
    FileMark,
    SourceConfig,
    SourceContext,
)
from alerter.sources.exports import Layout, period_range, resolve
from alerter.sources.focus_table import FileSums, FocusSpec, read_focus
from alerter.sources.objectstore import ObjectInfo, ObjectStore, is_remote
from alerter.timeparse import floor_time

log = logging.getLogger(__name__)

DIMENSIONS = (
    "ServiceName",
    "SkuId",
    "RegionId",
    "SubAccountId",
    "ChargeCategory",
    "BillingCurrency",
)
"""A series key holds its currency, so two currencies of one service are two series."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_NAMED = 3
"""Failed files named in the "nothing covered" error; the rest are counted."""


class FocusConfig(SourceConfig):
    """A ``[sources.NAME]`` table with ``type = "focus"``."""

    type: Literal["focus"] = "focus"
    path: str = Field(
        description="A glob of FOCUS files (CSV plain or .gz, Parquet), a folder, or an "
        "export's root; local (relative to the config) or s3://, az://, abfs://, gs://."
    )
    layout: Layout = Field(
        default="auto",
        description='"files", "aws" (Data Exports manifests), "azure" (export run manifests) '
        'or "auto" (by the manifests found under path).',
    )
    endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (http allowed), e.g. MinIO or R2."
    )
    window: Literal["hour", "day"] = Field(
        default="day", description="Aggregate into hourly or daily windows."
    )
    cost_column: Literal["BilledCost", "EffectiveCost", "ListCost", "ContractedCost"] = Field(
        default="BilledCost", description="Which FOCUS cost column is the amount."
    )
    extra_dimensions: list[str] = Field(
        default_factory=list,
        description="More columns that identify a series besides ServiceName, SkuId, "
        "RegionId, SubAccountId and ChargeCategory, e.g. x_UsageType, oci_CompartmentName.",
    )
    tags: list[str] = Field(
        default_factory=list,
        description='Tag keys exposed as `tag.KEY` dimensions (globs; ["*"] for all).',
    )
    charge_categories: list[str] | None = Field(
        default=None,
        description="ChargeCategory values to count (default: all, e.g. Usage, Purchase, "
        "Tax, Credit, Adjustment).",
    )
    strict: bool = Field(
        default=False, description="Reject a whole file for one bad row (default: skip the row)."
    )

    @field_validator("extra_dimensions")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        if any(not v.strip() for v in value):
            raise ValueError("dimension names must not be empty")
        return value


@dataclass(frozen=True)
class _Read:
    fingerprint: str
    sums: FileSums | None
    error: str | None = None


class FocusSource:
    """Sums FOCUS rows per (dimensions, window) from files, folders or cloud exports."""

    type: ClassVar[str] = "focus"
    replayable: ClassVar[bool] = True
    Config: ClassVar[builtins.type[SourceConfig]] = FocusConfig

    def __init__(self, name: str, config: SourceConfig, context: SourceContext) -> None:
        assert isinstance(config, FocusConfig)
        self.name = name
        self.config = config
        self.context = context
        self._store: ObjectStore | None = None
        self._cache: dict[str, _Read] = {}
        self._sent: pa.Table | None = None
        self.reads = 0
        """Files parsed so far (unchanged files are not parsed again)."""

    @staticmethod
    def known_dimensions(config: SourceConfig) -> list[str]:
        """Every dimension a series of this source can have (tag keys may be globs)."""
        assert isinstance(config, FocusConfig)
        return [*DIMENSIONS, *config.extra_dimensions, *(f"tag.{t}" for t in config.tags)]

    @property
    def step(self) -> timedelta:
        return timedelta(hours=1) if self.config.window == "hour" else timedelta(days=1)

    @property
    def spec(self) -> FocusSpec:
        cfg = self.config
        return FocusSpec(
            cost_column=cfg.cost_column,
            dimensions=tuple(dict.fromkeys([*DIMENSIONS, *cfg.extra_dimensions])),
            tags=tuple(cfg.tags),
            step_us=int(self.step.total_seconds()) * 1_000_000,
            categories=None if cfg.charge_categories is None else frozenset(cfg.charge_categories),
            strict=cfg.strict,
        )

    def _path(self) -> str:
        path = self.config.path
        return path if is_remote(path) else os.path.normpath(self.context.resolve(path))

    def _objects(self) -> ObjectStore:
        if self._store is None:
            self._store = ObjectStore(self._path(), self.context.env, self.config.endpoint_url)
        return self._store

    def _read_one(self, store: ObjectStore, obj: ObjectInfo, spec: FocusSpec) -> _Read:
        cached = self._cache.get(obj.url)
        if cached is not None and cached.fingerprint == obj.fingerprint:
            return cached
        self.reads += 1
        try:
            sums = read_focus(obj.url, store.read(obj.url), spec)
        except SourceError as exc:
            read = _Read(obj.fingerprint, None, str(exc))
        else:
            read = _Read(obj.fingerprint, sums)
            for problem in sums.problems:
                log.warning("focus_row_skipped source=%s where=%s", self.name, problem)
            log.info(
                "focus_file_read source=%s file=%s rows=%d counted=%d skipped=%d excluded=%d",
                self.name,
                obj.url,
                sums.rows,
                sums.counted,
                sums.skipped,
                sums.excluded,
            )
        self._cache[obj.url] = read
        return read

    def _unchanged(self, files: list[ObjectInfo], since: datetime) -> list[FileMark] | None:
        """The marks of ``files`` when every one was read before (by this process or
        one before it), is unchanged and was read from ``since`` or earlier; else None."""
        if self.context.marks is None or self._cache or not files:
            return None  # this process reads from memory; after a restart, from marks
        known = self.context.marks.file_marks(self.name)
        found = []
        for obj in files:
            mark = known.get(obj.url)
            if (
                mark is None
                or (mark.size, mark.etag or "") != (obj.size, obj.version)
                or mark.read_since > since
                or (mark.data_end is not None and mark.data_end > mark.read_until)
            ):
                return None
            found.append(mark)
        return found

    def _read(self, since: datetime, until: datetime) -> FetchResult:
        store = self._objects()
        path = self._path()
        found = resolve(store, path, self.config.layout)
        errors = [f"source {self.name}: {e}" for e in found.errors]
        if not found.files and not found.errors:
            return FetchResult([], [], [f"source {self.name}: no FOCUS file at {path}"])
        same = self._unchanged(found.files, since)
        if same is not None and not errors:
            log.debug("focus_unchanged source=%s files=%d", self.name, len(same))
            return FetchResult([], [], [], file_marks=same)
        spec = self.spec
        tables: list[pa.Table] = []
        marks: list[FileMark] = []
        skipped = 0
        # windows an unread delivery or an unreadable file may hold: unknown, not zero
        unknown = [period_range(p) for p in found.unread]
        lost = unknown.count(None)  # unread deliveries of unknown period
        anywhere: list[str] = []  # failed files that may hold any window
        for obj in found.files:
            fresh = obj.url not in self._cache or (
                self._cache[obj.url].fingerprint != obj.fingerprint
            )
            read = self._read_one(store, obj, spec)
            if read.sums is None:
                errors.append(f"source {self.name}: {read.error}")
                span = period_range(found.period_of.get(obj.url))
                unknown.append(span)
                if span is None:
                    anywhere.append(obj.url)
                continue
            tables.append(read.sums.table)
            marks.append(_mark(obj, read.sums, since, until, spec.step_us))
            if fresh and read.sums.problems:
                skipped += read.sums.skipped
                errors.append(
                    f"source {self.name}: {read.sums.problems[0]} ({read.sums.skipped} row(s) "
                    f"of {obj.url} skipped, {len(read.sums.problems)} problem(s) logged)"
                )
        current = {o.url for o in found.files}
        for url in [u for u in self._cache if u not in current]:
            del self._cache[url]  # deleted or replaced files: forget them
        if None in unknown:  # a failed part of unknown period: nothing is known
            errors.append(
                f"source {self.name}: nothing covered this cycle: {_culprits(anywhere, lost)}"
            )
            tables = []
        table, coverage = self._merge(tables, since, until, spec, [u for u in unknown if u])
        return FetchResult(
            [], coverage, errors, table=table, file_marks=marks, skipped_rows=skipped
        )

    def _merge(
        self,
        tables: list[pa.Table],
        since: datetime,
        until: datetime,
        spec: FocusSpec,
        unknown: list[tuple[datetime, datetime]],
    ) -> tuple[pa.Table | None, list[Coverage]]:
        """All files' cells added up per (series, window, currency) as ``POINT_SCHEMA``
        columns: the fetched range, plus every window a correction touches; none in the
        ``unknown`` spans (a failed delivery's period), which stay uncovered."""
        if not tables:
            return None, []
        dims = list(dict.fromkeys(c for t in tables for c in t.column_names[:-5]))
        step = spec.step_us
        lo = int((floor_time(since, self.step) - EPOCH).total_seconds()) * 1_000_000
        hi = int((until - EPOCH).total_seconds()) * 1_000_000
        aligned = [_with_columns(t, dims) for t in tables]
        # the SQL names dimensions dN: tag keys may differ only in case, and DuckDB's
        # names do not
        quoted = [f"d{i}" for i in range(len(dims))]
        dim_list = "".join(f"{d}, " for d in quoted)
        con = duckdb.connect(config={"threads": 1, "memory_limit": "1GB"})
        try:
            con.register("cells", pa.concat_tables(aligned))
            span = con.execute('SELECT min("window"), max("window") FROM cells').fetchall()[0]
            con.execute(
                f"""
                CREATE TEMP TABLE merged AS
                WITH summed AS (
                  SELECT {dim_list} currency, "window", sum(amount) AS amount,
                         sum(quantity) AS quantity, bool_or(corrected) AS corrected
                  FROM cells GROUP BY ALL
                ), fixed AS (SELECT DISTINCT "window" FROM summed WHERE corrected)
                SELECT {dim_list} currency, "window", amount, quantity FROM summed
                WHERE ("window" >= ? AND "window" < ?)
                   OR "window" IN (SELECT "window" FROM fixed)
                """,
                [lo, hi],
            )
            fixed = [
                r[0]
                for r in con.execute(
                    'SELECT DISTINCT "window" FROM cells WHERE corrected '
                    'AND ("window" < ? OR "window" >= ?)',
                    [lo, hi],
                ).fetchall()
            ]
            # one key string per series (not per point), joined back in DuckDB
            series = con.execute(
                f"SELECT DISTINCT {', '.join(quoted) or '1'} FROM merged"
            ).fetchall()
            keys = pa.table(
                {
                    **{
                        f"k{i}": pa.array([r[i] for r in series], pa.string())
                        for i in range(len(dims))
                    },
                    "key": pa.array(
                        [key_json(make_key(zip(dims, r, strict=True))) for r in series], pa.string()
                    ),
                }
            )
            con.register("keys", keys)
            on = " AND ".join(f"m.{d} = k.k{i}" for i, d in enumerate(quoted)) or "TRUE"
            table = con.sql(
                f"""
                SELECT k.key, m."window" // 1000000 AS start,
                       (m."window" + {step}) // 1000000 AS "end",
                       CAST(m.amount AS DECIMAL(38,10)) AS amount,
                       CAST(m.quantity AS DECIMAL(38,10)) AS quantity, m.currency
                FROM merged m JOIN keys k ON {on}
                ORDER BY start, k.key
                """
            ).to_arrow_table()
        except duckdb.Error as exc:
            raise BadResponse(f"source {self.name}: cannot add up the files: {exc}") from None
        finally:
            con.close()
        coverage: list[Coverage] = []
        if span and span[0] is not None:
            first = max(span[0], lo)
            last = min(span[1] + step, hi)
            if last > first:
                coverage.append(_coverage(first, last))
        coverage += [_coverage(w, w + step) for w in sorted(fixed)]
        if unknown:
            coverage = [part for c in coverage for part in _without(c, unknown)]
            starts = table.column("start").to_numpy()
            keep = np.zeros(len(starts), bool)
            for c in coverage:
                keep |= (starts >= int(c.start.timestamp())) & (starts < int(c.end.timestamp()))
            table = table.filter(pa.array(keep))
        table = pa.concat_tables([table.cast(POINT_SCHEMA), self._vanished(table, coverage)])
        return table, coverage

    def _vanished(self, table: pa.Table, coverage: list[Coverage]) -> pa.Table:
        """Zero rows for cells sent before that a newer delivery no longer has."""
        cells = table.select(["key", "start", "currency"])
        before, self._sent = self._sent, cells
        if before is None or not coverage:
            return POINT_SCHEMA.empty_table()
        con = duckdb.connect(config={"threads": 1})
        try:
            con.register("before", before)
            con.register("now", cells)
            spans = " OR ".join(
                f"(b.start >= {int(c.start.timestamp())} AND b.start < {int(c.end.timestamp())})"
                for c in coverage
            )
            step = int(self.step.total_seconds())
            gone = con.sql(
                f"""
                SELECT b.key, b.start, b.start + {step} AS "end",
                       CAST(0 AS DECIMAL(38,10)) AS amount,
                       CAST(NULL AS DECIMAL(38,10)) AS quantity, b.currency
                FROM before b ANTI JOIN now n
                  ON b.key = n.key AND b.start = n.start AND b.currency = n.currency
                WHERE {spans}
                """
            ).to_arrow_table()
        finally:
            con.close()
        return gone.cast(POINT_SCHEMA)

    async def fetch(self, since: datetime, until: datetime) -> FetchResult:
        return await asyncio.to_thread(self._read, since, until)

    async def aclose(self) -> None:
        self._cache.clear()


def _with_columns(table: pa.Table, dims: list[str]) -> pa.Table:
    """The table with every dimension column (absent ones as empty strings), in order,
    named ``d0``, ``d1``, ..."""
    cols = []
    for d in dims:
        if d in table.column_names:
            cols.append(table.column(d))
        else:
            cols.append(pa.array([""] * table.num_rows, pa.string()))
    rest = ["currency", "window", "amount", "quantity", "corrected"]
    names = [f"d{i}" for i in range(len(dims))]
    return pa.table(cols + [table.column(c) for c in rest], names=[*names, *rest])


def _culprits(urls: list[str], deliveries: int) -> str:
    """What leaves every window unknown: failed files (the first few named) and unread
    deliveries of unknown period (their manifests are named in errors of their own)."""
    parts = []
    if urls:
        more = len(urls) - MAX_NAMED
        shown = ", ".join(urls[:MAX_NAMED]) + (f" and {more} more file(s)" if more > 0 else "")
        parts.append(f"{shown} failed")
    if deliveries:
        parts.append(f"{deliveries} delivery(ies) of unknown period could not be read")
    return "; ".join(parts) + " and may hold any window"


def _mark(
    obj: ObjectInfo, sums: FileSums, since: datetime, until: datetime, step_us: int
) -> FileMark:
    """What was read from ``obj``: ``data_end`` is the end of its last window."""
    windows = sums.table.column("window")
    last = pc.max(windows).as_py() if len(windows) else None
    return FileMark(
        path=obj.url,
        size=obj.size,
        mtime_ns=int(obj.modified * 1e9),
        etag=obj.version or None,
        read_since=since,
        read_until=until,
        data_end=None if last is None else EPOCH + timedelta(microseconds=last + step_us),
    )


def _without(span: Coverage, unknown: list[tuple[datetime, datetime]]) -> list[Coverage]:
    """The parts of ``span`` outside every ``unknown`` range."""
    parts = [(span.start, span.end)]
    for lo, hi in unknown:
        parts = [
            piece
            for a, b in parts
            for piece in ((a, min(b, lo)), (max(a, hi), b))
            if piece[1] > piece[0]
        ]
    return [Coverage(a, b) for a, b in parts]


def _coverage(start_us: int, end_us: int) -> Coverage:
    return Coverage(
        EPOCH + timedelta(microseconds=start_us), EPOCH + timedelta(microseconds=end_us)
    )


__all__ = ["DIMENSIONS", "FocusConfig", "FocusSource"]
