"""DuckDB ``PointStore``: cost points as columns in a file beside the state (one writer).

Why DuckDB: points are append-mostly columns read in ranges and compared in bulk
(revisions); DuckDB stores them compressed, joins an incoming batch against the stored
range in one vectorised statement, takes Arrow tables without a copy per row and hands
numpy arrays to the detector. Money is ``DECIMAL(38,10)`` (exact); revisions keep the
old amount; coverage is kept per scope, merged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from alerter.domain import CostPoint, Coverage, SeriesKey, key_from_json, key_json
from alerter.errors import StoreError
from alerter.sources.base import FetchResult
from alerter.store.base import StoredSeries, UpsertReport
from alerter.store.duck_file import DuckFile
from alerter.store.mirror import SeriesMirror
from alerter.store.point_rows import plain, point_batches, points_table, stored_key
from alerter.store.sqlite_db import dt, ts

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name VARCHAR PRIMARY KEY, value BIGINT);
CREATE TABLE IF NOT EXISTS series (
    source VARCHAR NOT NULL, id BIGINT NOT NULL, key VARCHAR NOT NULL
);
ALTER TABLE series ADD COLUMN IF NOT EXISTS currency VARCHAR;
CREATE TABLE IF NOT EXISTS points (
    source VARCHAR NOT NULL, series BIGINT NOT NULL, start BIGINT NOT NULL,
    "end" BIGINT NOT NULL, amount DECIMAL(38,10) NOT NULL, quantity DECIMAL(38,10),
    currency VARCHAR NOT NULL, revision INTEGER NOT NULL, updated_at BIGINT NOT NULL,
    seq BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS point_revisions (
    source VARCHAR NOT NULL, series BIGINT NOT NULL, start BIGINT NOT NULL,
    revision INTEGER NOT NULL, amount DECIMAL(38,10) NOT NULL, quantity DECIMAL(38,10),
    replaced_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS coverage (
    source VARCHAR NOT NULL, scope VARCHAR NOT NULL, start BIGINT NOT NULL, "end" BIGINT NOT NULL
);
INSERT INTO meta VALUES ('seq', 0), ('schema', 1) ON CONFLICT DO NOTHING;
"""


class DuckPoints(DuckFile):
    """Points, revisions and coverage in a DuckDB file (``:memory:`` for scratch stores)."""

    def __init__(
        self,
        path: str,
        *,
        memory_limit: str = "512MB",
        read_only: bool = False,
        lock_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._mirrors: dict[str, SeriesMirror] = {}
        self._keys: dict[str, dict[int, tuple[SeriesKey, str]]] = {}
        self._no_currency: set[str] = set()  # sources with series still waiting for one
        super().__init__(
            path,
            schema=_SCHEMA,
            memory_limit=memory_limit,
            read_only=read_only,
            lock_wait=lock_wait,
            sleep=sleep,
        )

    def _forget(self) -> None:
        self._mirrors.clear()  # they may hold rows that were just rolled back
        self._keys.clear()

    def last_seq(self) -> int:
        with self._session():
            return self._scalar("SELECT value FROM meta WHERE name='seq'")

    # -- writing ---------------------------------------------------------------------------
    def upsert(self, source: str, result: FetchResult, now: datetime) -> UpsertReport:
        tables = [points_table(result.points)]
        if result.table is not None:
            tables.append(result.table)
        try:
            with self._write() as db:
                seq = self._scalar("SELECT value FROM meta WHERE name='seq'") + 1
                new = unchanged = 0
                revised: list[tuple[SeriesKey, datetime]] = []
                # a source with no points yet takes every row as new, without comparing
                fresh = not self._scalar(
                    "SELECT count(*) FROM (SELECT 1 FROM points WHERE source=? LIMIT 1)",
                    [source],
                )
                batches = (b for t in tables for b in point_batches(t))
                # the batches of one stream share its dictionary of series keys: their ids
                # are looked up once (only within this upsert, which may roll back)
                known: dict[str, tuple[pa.Array, np.ndarray]] = {}
                for i, table in enumerate(batches):
                    if fresh and i:
                        # a first load larger than one batch is committed batch by batch:
                        # DuckDB holds uncommitted rows in memory. Safe: the points carry
                        # this seq and consumed_seq has not moved, so a cycle that fails
                        # after this is judged again
                        db.execute("UPDATE meta SET value=? WHERE name='seq'", [seq]).fetchall()
                        db.execute("COMMIT").fetchall()
                        db.execute("BEGIN TRANSACTION").fetchall()
                    n, u, r = self._upsert_table(
                        db, source, table, ts(now), seq, fresh=fresh, known=known
                    )
                    new, unchanged = new + n, unchanged + u
                    revised += r
                self._cover(
                    db,
                    source,
                    [(key_json(c.scope), ts(c.start), ts(c.end)) for c in result.coverage],
                )
                db.execute("UPDATE meta SET value=? WHERE name='seq'", [seq]).fetchall()
        except duckdb.Error as exc:
            raise StoreError(f"points file {self.path}: upsert of {source} failed: {exc}") from exc
        return UpsertReport(new=new, revised=revised, unchanged=unchanged, seq=seq)

    def _series_ids(
        self, db: duckdb.DuckDBPyConnection, source: str, keys: pa.Array
    ) -> tuple[np.ndarray, bool]:
        """Stored ids of ``keys`` (distinct strings), adding the unknown ones (then True)."""
        wanted = pa.table({"i": pa.array(np.arange(len(keys), dtype=np.int64)), "key": keys})
        db.register("wanted_keys", wanted)
        try:
            first = self._scalar("SELECT coalesce(max(id), 0) FROM series WHERE source=?", [source])
            added = db.execute(
                "INSERT INTO series (source, id, key) SELECT ?, ? + row_number() OVER (), w.key "
                "FROM (SELECT DISTINCT key FROM wanted_keys) w ANTI JOIN (SELECT key FROM series "
                "WHERE source=?) s ON s.key = w.key",
                [source, first, source],
            ).fetchall()
            got = db.execute(
                "SELECT s.id FROM wanted_keys w LEFT JOIN (SELECT key, id FROM series "
                "WHERE source=?) s ON s.key = w.key ORDER BY w.i",
                [source],
            ).fetchnumpy()
        finally:
            db.unregister("wanted_keys")
        return np.asarray(got["id"], dtype=np.int64), bool(added and added[0][0])

    def _upsert_table(
        self,
        db: duckdb.DuckDBPyConnection,
        source: str,
        table: pa.Table,
        now: int,
        seq: int,
        *,
        fresh: bool = False,
        known: dict[str, tuple[pa.Array, np.ndarray]] | None = None,
    ) -> tuple[int, int, list[tuple[SeriesKey, datetime]]]:
        keys = table.column("key").combine_chunks()
        if not pa.types.is_dictionary(keys.type):
            keys = pc.dictionary_encode(keys)
        dictionary = keys.dictionary.cast(pa.string())
        last = None if known is None else known.get("keys")
        if last is not None and last[0].equals(dictionary):
            ids, added = last[1], source in self._no_currency
        else:
            ids, added = self._series_ids(db, source, dictionary)
            if known is not None:
                known["keys"] = (dictionary, ids)
        series = pa.array(ids[np.asarray(keys.indices.to_numpy(zero_copy_only=False))])
        incoming = pa.table(
            {
                "series": series,
                "start": table.column("start"),
                "end": table.column("end"),
                "amount": table.column("amount").cast(pa.decimal128(38, 10)),
                "quantity": (
                    table.column("quantity").cast(pa.decimal128(38, 10))
                    if "quantity" in table.column_names
                    else pa.nulls(table.num_rows, pa.decimal128(38, 10))
                ),
                "currency": table.column("currency").cast(pa.string()),
            }
        )
        lo = pc.min(incoming.column("start")).as_py()
        hi = pc.max(incoming.column("start")).as_py()
        db.register("incoming", incoming)
        if added:  # a new series keeps the currency of its first point
            db.execute(
                "UPDATE series SET currency = c.currency FROM (SELECT series, "
                "arg_min(currency, start) AS currency FROM incoming GROUP BY series) c "
                "WHERE series.source=? AND series.id = c.series AND series.currency IS NULL",
                [source],
            ).fetchall()
            # series named by the stream but without a row in this batch wait for a later one
            if self._scalar(
                "SELECT count(*) FROM series WHERE source=? AND currency IS NULL", [source]
            ):
                self._no_currency.add(source)
            else:
                self._no_currency.discard(source)
        stored = not fresh and self._scalar(
            "SELECT count(*) FROM (SELECT 1 FROM points WHERE source=? AND start BETWEEN ? AND ? "
            "LIMIT 1)",
            [source, lo, hi],
        )
        if not stored:  # a first load: every row is new, nothing to compare
            try:
                db.execute(
                    'INSERT INTO points SELECT ?, series, start, "end", amount, quantity, '
                    "currency, 0, ?, ? FROM incoming",
                    [source, now, seq],
                ).fetchall()
            finally:
                db.unregister("incoming")
            return incoming.num_rows, 0, []
        try:
            db.execute(
                "CREATE OR REPLACE TEMP TABLE cmp AS SELECT i.*, p.amount AS old_amount, "
                "p.quantity AS old_quantity, p.revision AS old_revision FROM incoming i "
                "LEFT JOIN (SELECT series, start, amount, quantity, revision FROM points "
                "WHERE source=? AND start BETWEEN ? AND ?) p USING (series, start)",
                [source, lo, hi],
            ).fetchall()
        finally:
            db.unregister("incoming")
        counts = db.execute(
            "SELECT count(*) FILTER (WHERE old_amount IS NULL), "
            "count(*) FILTER (WHERE old_amount = amount) FROM cmp"
        ).fetchall()[0]
        new, unchanged = int(counts[0]), int(counts[1])
        db.execute(
            'INSERT INTO points SELECT ?, series, start, "end", amount, quantity, currency, 0, '
            "?, ? FROM cmp WHERE old_amount IS NULL",
            [source, now, seq],
        ).fetchall()
        changed = db.execute(
            "SELECT s.key, c.start FROM cmp c JOIN (SELECT id, key FROM series WHERE source=?) s "
            "ON s.id = c.series WHERE c.old_amount <> c.amount",
            [source],
        ).fetchall()
        if changed:
            db.execute(
                "INSERT INTO point_revisions SELECT ?, series, start, old_revision, old_amount, "
                "old_quantity, ? FROM cmp WHERE old_amount <> amount",
                [source, now],
            ).fetchall()
            db.execute(
                "UPDATE points SET amount=c.amount, quantity=c.quantity, "
                "revision=points.revision+1, updated_at=?, seq=? FROM cmp c "
                "WHERE points.source=? AND points.series=c.series AND points.start=c.start "
                "AND c.old_amount <> c.amount",
                [now, seq, source],
            ).fetchall()
        db.execute("DROP TABLE cmp").fetchall()
        revised = [(key_from_json(str(k)), dt(s)) for k, s in changed]
        return new, unchanged, revised

    def import_table(self, source: str, table: pa.Table, seq: int) -> None:
        """Store ``table`` (``POINT_SCHEMA``) as written by upsert ``seq`` (legacy import)."""
        with self._write() as db:
            self._upsert_table(db, source, table, 0, seq)
            db.execute(
                "UPDATE meta SET value=greatest(value, ?) WHERE name='seq'", [seq]
            ).fetchall()

    def import_coverage(self, source: str, intervals: list[tuple[str, int, int]]) -> None:
        """Store coverage intervals ``(scope JSON, start, end)`` (legacy import)."""
        with self._write() as db:
            self._cover(db, source, intervals)

    def _cover(
        self, db: duckdb.DuckDBPyConnection, source: str, intervals: list[tuple[str, int, int]]
    ) -> None:
        """Record coverage ``(scope, start, end)``, merged per scope with overlapping or
        adjoining intervals, in one statement for all of them (an API source covers each
        customer's scope: thousands per cycle)."""
        if not intervals:
            return
        db.register(
            "cov_in",
            pa.table(
                {
                    "scope": pa.array([i[0] for i in intervals], pa.string()),
                    "start": pa.array([i[1] for i in intervals], pa.int64()),
                    "end": pa.array([i[2] for i in intervals], pa.int64()),
                }
            ),
        )
        try:
            db.execute(
                "CREATE OR REPLACE TEMP TABLE cov_merged AS "
                'WITH cov_all AS (SELECT scope, start, "end" FROM coverage WHERE source=? AND '
                'scope IN (SELECT scope FROM cov_in) UNION ALL SELECT scope, start, "end" '
                'FROM cov_in), ordered AS (SELECT scope, start, "end", max("end") OVER '
                '(PARTITION BY scope ORDER BY start, "end" ROWS BETWEEN UNBOUNDED PRECEDING AND '
                "1 PRECEDING) AS reach FROM cov_all), islands AS (SELECT scope, start, "
                '"end", sum(CASE WHEN reach IS NULL OR start > reach THEN 1 ELSE 0 END) OVER '
                '(PARTITION BY scope ORDER BY start, "end" ROWS UNBOUNDED PRECEDING) AS island '
                'FROM ordered) SELECT scope, min(start) AS start, max("end") AS "end" '
                "FROM islands GROUP BY scope, island",
                [source],
            ).fetchall()
            db.execute(
                "DELETE FROM coverage WHERE source=? AND scope IN (SELECT scope FROM cov_in)",
                [source],
            ).fetchall()
            db.execute(
                'INSERT INTO coverage SELECT ?, scope, start, "end" FROM cov_merged', [source]
            ).fetchall()
            db.execute("DROP TABLE cov_merged").fetchall()
        finally:
            db.unregister("cov_in")

    def prune_points(self, source: str, before: datetime) -> dict[str, int]:
        cut = ts(before)
        deleted: dict[str, int] = {}
        with self._write() as db:
            for table, sql, args in (
                ("points", "DELETE FROM points WHERE source=? AND start<?", [source, cut]),
                (
                    "point_revisions",
                    "DELETE FROM point_revisions WHERE source=? AND start<?",
                    [source, cut],
                ),
                ("coverage", 'DELETE FROM coverage WHERE source=? AND "end"<=?', [source, cut]),
                (
                    "coverage_trimmed",
                    "UPDATE coverage SET start=? WHERE source=? AND start<?",
                    [cut, source, cut],
                ),
            ):
                rows = db.execute(sql, args).fetchall()
                deleted[table] = int(rows[0][0]) if rows else 0
        return deleted

    def trim_cache(self, source: str, before: datetime) -> None:
        with self._lock:  # the mirror only: no connection
            mirror = self._mirrors.get(source)
            if mirror is not None:
                mirror.trim(ts(before))

    # -- reading ---------------------------------------------------------------------------
    def _key_names(self, source: str) -> dict[int, tuple[SeriesKey, str]]:
        """Key and currency of each stored series id of ``source`` (cached; a series keeps
        the currency of its first point)."""
        known = self._keys.setdefault(source, {})
        if len(known) >= self._scalar("SELECT count(*) FROM series WHERE source=?", [source]):
            return known
        rows = self._db.execute(
            "SELECT id, key, currency FROM series WHERE source=?", [source]
        ).fetchall()
        if any(c is None for _i, _k, c in rows):  # written before series kept a currency
            rows = self._db.execute(
                "SELECT s.id, s.key, c.currency FROM series s LEFT JOIN (SELECT series, "
                "arg_min(currency, start) AS currency FROM points WHERE source=? "
                "GROUP BY series) c ON c.series = s.id WHERE s.source=?",
                [source, source],
            ).fetchall()
        for i, k, c in rows:
            if int(i) not in known:
                known[int(i)] = (stored_key(str(k)), str(c or ""))
        return known

    def load_series(self, source: str, since: datetime, until: datetime) -> StoredSeries:
        """Served from an in-memory mirror of the source's recent points, refreshed with
        only the rows written since the last read (the write sequence)."""
        with self._session():
            lo = ts(since)
            mirror = self._mirrors.get(source)
            if mirror is None or lo < mirror.since:
                mirror = SeriesMirror(since=lo)
                self._mirrors[source] = mirror
            seq = self._scalar("SELECT value FROM meta WHERE name='seq'")
            self._refresh(mirror, source, seq)
            mirror.seq = max(mirror.seq, seq)
            return mirror.view(lo, ts(until))

    def _refresh(self, mirror: SeriesMirror, source: str, through: int) -> None:
        """Merge the points written in ``(mirror.seq, through]`` with ``start >=
        mirror.since`` into the mirror: batch by batch into a grid when they share one
        window length (no copy of them all at once; when they also share the grid's
        phase, DuckDB gives each row its column), else gathered into arrays sized up
        front and merged together."""
        where = "WHERE source=? AND seq>? AND seq<=? AND start>=?"
        args: list[object] = [source, mirror.seq, through, mirror.since]
        # the phase of each window start within its own length: one phase for all (and
        # one length) lets DuckDB give each row its grid column
        phase = 'CASE WHEN "end" > start THEN start % ("end" - start) END'
        n, short, long, first, last, phase_lo, phase_hi = self._db.execute(
            f'SELECT count(*), min("end" - start), max("end" - start), min(start), max(start), '  # noqa: S608
            f"min({phase}), max({phase}) FROM points {where}",
            args,
        ).fetchall()[0]
        n = int(n or 0)
        if not n:
            return
        step = int(short) if short == long and short and short > 0 else None
        names = self._key_names(source)  # before the stream: one open result at a time
        mirror.reserve(len(names), int(first), int(last), step)
        columns = (
            step is not None
            and int(first) >= 0
            and phase_lo == phase_hi
            and mirror.dense
            and mirror.step == step
            and int(first) >= mirror.origin
            and (int(first) - mirror.origin) % step == 0
        )
        if columns:  # every row lands in the grid: DuckDB gives its column
            reader = self._db.sql(
                f"SELECT series, ((start - {mirror.origin}) // {step})::INTEGER AS col, "  # noqa: S608
                f"CAST(amount AS DOUBLE) AS amount FROM points {where}",
                params=args,
            ).to_arrow_reader(1 << 20)
            for batch in reader:
                got = [np.asarray(batch.column(i).to_numpy()) for i in range(3)]
                mirror.place_columns(got[0].astype(np.int64, copy=False), got[1], got[2], names)
            return
        reader = self._db.sql(
            f"SELECT series, start, CAST(amount AS DOUBLE) AS amount FROM points {where}",  # noqa: S608
            params=args,
        ).to_arrow_reader(1 << 20)
        batched = step is not None and (mirror.dense or mirror.empty)
        ids = np.empty(0 if batched else n, dtype=np.int64)
        starts = np.empty(0 if batched else n, dtype=np.int64)
        amounts = np.empty(0 if batched else n, dtype=np.float64)
        at = 0
        for batch in reader:
            got = [np.asarray(batch.column(i).to_numpy()) for i in range(3)]
            if batched:
                mirror.merge(
                    got[0].astype(np.int64, copy=False), got[1], got[2], through, names, step
                )
                continue
            k = min(batch.num_rows, n - at)
            ids[at : at + k] = got[0][:k]
            starts[at : at + k] = got[1][:k]
            amounts[at : at + k] = got[2][:k]
            at += k
        if not batched and at:
            ids, starts, amounts = ids[:at], starts[:at], amounts[:at]
            mirror.merge(ids, starts, amounts, through, names, step)

    def load_points(self, source: str, since: datetime, until: datetime) -> list[CostPoint]:
        with self._session():
            rows = self._db.execute(
                'SELECT s.key, p.start, p."end", p.amount, p.quantity, p.currency FROM points p '
                "JOIN series s ON s.source=p.source AND s.id=p.series "
                "WHERE p.source=? AND p.start>=? AND p.start<? ORDER BY p.start, s.key",
                [source, ts(since), ts(until)],
            ).fetchall()
        return [
            CostPoint(
                source,
                key_from_json(str(k)),
                dt(s),
                dt(e),
                plain(a),
                None if q is None else plain(q),
                str(c),
            )
            for k, s, e, a, q, c in rows
        ]

    def load_coverage(self, source: str, since: datetime, until: datetime) -> list[Coverage]:
        with self._session():
            rows = self._db.execute(
                'SELECT scope, start, "end" FROM coverage WHERE source=? AND "end">? AND start<?',
                [source, ts(since), ts(until)],
            ).fetchall()
        return [Coverage(start=dt(s), end=dt(e), scope=key_from_json(str(sc))) for sc, s, e in rows]

    def revisions(self, source: str, key: SeriesKey, start: datetime) -> list[Decimal]:
        with self._session():
            rows = self._db.execute(
                "SELECT r.amount FROM point_revisions r JOIN series s ON s.source=r.source "
                "AND s.id=r.series WHERE r.source=? AND s.key=? AND r.start=? ORDER BY r.revision",
                [source, key_json(key), ts(start)],
            ).fetchall()
        return [plain(r[0]) for r in rows]

    def _keyed(
        self, source: str, where: str, args: list[object]
    ) -> list[tuple[SeriesKey, datetime]]:
        """(key, window start) of the points of ``source`` matching ``where``; keys come
        from the cached id -> key map (a late hour of 100,000 series parsed as many JSON
        keys)."""
        with self._session():
            got = self._db.execute(
                f"SELECT series, start FROM points WHERE source=? AND {where}",  # noqa: S608
                [source, *args],
            ).fetchnumpy()
            ids = np.asarray(got["series"], dtype=np.int64)
            if not ids.size:
                return []
            names = self._key_names(source)
        # as columns: one datetime per distinct start (a late hour is one), no row tuples
        stamps, at = np.unique(np.asarray(got["start"], dtype=np.int64), return_inverse=True)
        when = [dt(int(s)) for s in stamps.tolist()]
        keys = [names[i][0] for i in ids.tolist()]
        return list(zip(keys, [when[j] for j in at.tolist()], strict=True))

    def written(
        self, source: str, after_seq: int, before: datetime
    ) -> list[tuple[SeriesKey, datetime]]:
        return self._keyed(source, "seq>? AND revision=0 AND start<?", [after_seq, ts(before)])

    def revised_since(self, source: str, after_seq: int) -> list[tuple[SeriesKey, datetime]]:
        return self._keyed(source, "seq>? AND revision>0", [after_seq])

    def counts(self) -> dict[str, int]:
        with self._session():
            return {
                t: self._scalar(f"SELECT count(*) FROM {t}")  # noqa: S608
                for t in ("points", "point_revisions", "coverage")
            }
