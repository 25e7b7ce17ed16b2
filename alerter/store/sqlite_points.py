"""SQLite ``PointStore`` (row per point): the small-state and legacy points backend."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import numpy as np

from alerter.domain import CostPoint, Coverage, SeriesKey
from alerter.domain import key_from_json as _key_from
from alerter.domain import key_json as _key_json
from alerter.sources.base import FetchResult
from alerter.store.base import StoredSeries, UpsertReport
from alerter.store.sqlite_db import SqliteDatabase, dt, dt_or_none, ts

_ts = ts
_dt = dt_or_none


class SqlitePoints(SqliteDatabase):
    """Points, revisions and coverage in the SQLite state file."""

    def __init__(self, path: str, *, lock: bool = True) -> None:
        super().__init__(path, lock=lock)
        self._mirrors: dict[str, _Mirror] = {}
        self._on_rollback.append(self._mirrors.clear)  # mirrors may hold rolled-back rows

    def upsert(self, source: str, result: FetchResult, now: datetime) -> UpsertReport:
        stamp = _ts(now)
        revised: list[tuple[SeriesKey, datetime]] = []
        unchanged = 0
        names: dict[SeriesKey, str] = {}
        rows = [
            (
                names.get(p.key) or names.setdefault(p.key, _key_json(p.key)),
                _ts(p.start),
                _ts(p.end),
                str(p.amount),
                None if p.quantity is None else str(p.quantity),
                p.currency,
                p,
            )
            for p in result.points
        ]
        with self.transaction():
            # the sequence is read inside the write transaction, never cached: another
            # writer's rows must not look like this one's
            seq = 1 + int(
                self._db.execute("SELECT coalesce(max(seq), 0) FROM points").fetchone()[0]
            )
            existing: dict[tuple[str, int], tuple[str, str | None, int]] = {}
            if rows:
                lo = min(r[1] for r in rows)
                hi = max(r[1] for r in rows)
                for series, start, amount, quantity, revision in self._db.execute(
                    "SELECT series, start, amount, quantity, revision FROM points "
                    "WHERE source=? AND start>=? AND start<=?",
                    (source, lo, hi),
                ):
                    existing[(series, start)] = (amount, quantity, revision)
            inserts = []
            history = []
            updates = []
            for series, start, end, amount, quantity, currency, point in rows:
                old = existing.get((series, start))
                if old is None:
                    inserts.append(
                        (source, series, start, end, amount, quantity, currency, stamp, seq)
                    )
                    existing[(series, start)] = (amount, quantity, 0)
                elif old[0] == amount or Decimal(old[0]) == point.amount:
                    unchanged += 1
                else:
                    history.append((source, series, start, old[2], old[0], old[1], stamp))
                    updates.append((amount, quantity, stamp, seq, source, series, start))
                    existing[(series, start)] = (amount, quantity, old[2] + 1)
                    revised.append((point.key, point.start))
            self._db.executemany(
                "INSERT INTO points (source, series, start, end, amount, quantity, currency, "
                "revision, updated_at, seq) VALUES (?,?,?,?,?,?,?,0,?,?)",
                inserts,
            )
            self._db.executemany(
                "INSERT INTO point_revisions (source, series, start, revision, amount, quantity, "
                "replaced_at) VALUES (?,?,?,?,?,?,?)",
                history,
            )
            self._db.executemany(
                "UPDATE points SET amount=?, quantity=?, revision=revision+1, updated_at=?, seq=? "
                "WHERE source=? AND series=? AND start=?",
                updates,
            )
            for cov in result.coverage:
                self._cover(source, _key_json(cov.scope), _ts(cov.start), _ts(cov.end))
        return UpsertReport(new=len(inserts), revised=revised, unchanged=unchanged, seq=seq)

    def _cover(self, source: str, scope: str, start: int, end: int) -> None:
        """Record coverage, merged with overlapping or adjoining intervals of the scope."""
        rows = self._db.execute(
            "SELECT start, end FROM coverage WHERE source=? AND scope=? AND start<=? AND end>=?",
            (source, scope, end, start),
        ).fetchall()
        if rows:
            start = min(start, *(r[0] for r in rows))
            end = max(end, *(r[1] for r in rows))
            self._db.executemany(
                "DELETE FROM coverage WHERE source=? AND scope=? AND start=?",
                [(source, scope, r[0]) for r in rows],
            )
        self._db.execute(
            "INSERT INTO coverage (source, scope, start, end) VALUES (?,?,?,?)",
            (source, scope, start, end),
        )

    def written(
        self, source: str, after_seq: int, before: datetime
    ) -> list[tuple[SeriesKey, datetime]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT series, start FROM points "
                "WHERE source=? AND seq>? AND revision=0 AND start<?",
                (source, after_seq, _ts(before)),
            ).fetchall()
        return [(_key_from(series), _dt(start) or before) for series, start in rows]

    def revised_since(self, source: str, after_seq: int) -> list[tuple[SeriesKey, datetime]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT series, start FROM points WHERE source=? AND seq>? AND revision>0",
                (source, after_seq),
            ).fetchall()
        return [(_key_from(series), dt(start)) for series, start in rows]

    def prune_points(self, source: str, before: datetime) -> dict[str, int]:
        cut = _ts(before)
        statements = {
            "points": ("DELETE FROM points WHERE source=? AND start<?", (source, cut)),
            "point_revisions": (
                "DELETE FROM point_revisions WHERE source=? AND start<?",
                (source, cut),
            ),
            "coverage": ("DELETE FROM coverage WHERE source=? AND end<=?", (source, cut)),
            "coverage_trimmed": (
                "UPDATE OR REPLACE coverage SET start=? WHERE source=? AND start<?",
                (cut, source, cut),
            ),
        }
        deleted: dict[str, int] = {}
        with self.transaction():
            for table, (sql, args) in statements.items():
                deleted[table] = self._db.execute(sql, args).rowcount
        return deleted

    def load_series(self, source: str, since: datetime, until: datetime) -> StoredSeries:
        """Served from an in-memory mirror of the source's recent points, refreshed with
        only the rows written since the last read (the write sequence)."""
        with self._lock:
            lo = _ts(since)
            mirror = self._mirrors.get(source)
            if mirror is None or lo < mirror.since:
                mirror = _Mirror(since=lo, seq=0)
                self._mirrors[source] = mirror
            rows = self._db.execute(
                "SELECT series, start, amount, currency, seq FROM points "
                "WHERE source=? AND seq>? AND start>=?",
                (source, mirror.seq, mirror.since),
            ).fetchall()
            mirror.merge(rows)
            return mirror.view(lo, _ts(until))

    def trim_cache(self, source: str, before: datetime) -> None:
        """Let the mirror forget points older than ``before`` (no reader needs them)."""
        with self._lock:
            mirror = self._mirrors.get(source)
            if mirror is not None:
                mirror.trim(_ts(before))

    def load_points(self, source: str, since: datetime, until: datetime) -> list[CostPoint]:
        """Exact stored points with ``since <= start < until`` (for replays)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT series, start, end, amount, quantity, currency FROM points "
                "WHERE source=? AND start>=? AND start<? ORDER BY start, series",
                (source, _ts(since), _ts(until)),
            ).fetchall()
        return [
            CostPoint(
                source,
                _key_from(series),
                _dt(start) or since,
                _dt(end) or until,
                Decimal(amount),
                None if quantity is None else Decimal(quantity),
                currency,
            )
            for series, start, end, amount, quantity, currency in rows
        ]

    def load_coverage(self, source: str, since: datetime, until: datetime) -> list[Coverage]:
        with self._lock:
            rows = self._db.execute(
                "SELECT scope, start, end FROM coverage WHERE source=? AND end>? AND start<?",
                (source, _ts(since), _ts(until)),
            ).fetchall()
        return [
            Coverage(start=_dt(s) or since, end=_dt(e) or until, scope=_key_from(scope))
            for scope, s, e in rows
        ]

    def revisions(self, source: str, key: SeriesKey, start: datetime) -> list[Decimal]:
        """Earlier amounts of one point, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT amount FROM point_revisions WHERE source=? AND series=? AND start=? "
                "ORDER BY revision",
                (source, _key_json(key), _ts(start)),
            ).fetchall()
        return [Decimal(r[0]) for r in rows]


class _Mirror:
    """Columnar copy of one source's points with ``start >= since``, up to write ``seq``."""

    def __init__(self, since: int, seq: int) -> None:
        self.since = since
        self.seq = seq
        self.keys: list[SeriesKey] = []
        self.currencies: list[str] = []
        self.slots: dict[str, int] = {}
        self.key_index = np.empty(0, dtype=np.int64)
        self.starts = np.empty(0, dtype=np.int64)
        self.amounts = np.empty(0, dtype=np.float64)

    def merge(self, rows: list[tuple[str, int, str, str, int]]) -> None:
        if not rows:
            return
        series, starts, amounts, currencies, seqs = zip(*rows, strict=True)
        slots = self.slots
        for name, currency in zip(series, currencies, strict=True):
            if name not in slots:
                slots[name] = len(self.keys)
                self.keys.append(_key_from(name))
                self.currencies.append(currency)
        index = np.fromiter([slots[name] for name in series], np.int64, len(series))
        key_index = np.concatenate([self.key_index, index])
        start_arr = np.concatenate([self.starts, np.fromiter(starts, np.int64, len(starts))])
        amount_arr = np.concatenate([self.amounts, np.array(amounts, dtype=np.float64)])
        # keep the newest value of each (series, start): later rows win
        code = key_index * (1 << 34) + start_arr  # exact to the second until year 2514
        _, last = np.unique(code[::-1], return_index=True)
        keep = np.sort(len(code) - 1 - last)
        self.key_index, self.starts, self.amounts = (
            key_index[keep],
            start_arr[keep],
            amount_arr[keep],
        )
        self.seq = max(self.seq, max(seqs))

    def view(self, since: int, until: int) -> StoredSeries:
        mask = (self.starts >= since) & (self.starts < until)
        return StoredSeries(
            list(self.keys),
            self.key_index[mask],
            self.starts[mask],
            self.amounts[mask],
            list(self.currencies),
        )

    def trim(self, before: int) -> None:
        if before <= self.since:
            return
        keep = self.starts >= before
        self.key_index, self.starts, self.amounts = (
            self.key_index[keep],
            self.starts[keep],
            self.amounts[keep],
        )
        self.since = before
