"""PostgreSQL points role: cost points, revisions and coverage, shared by every replica."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import numpy as np

from alerter.domain import CostPoint, Coverage, SeriesKey, key_json
from alerter.domain import key_from_json as key_from
from alerter.sources.base import FetchResult
from alerter.store.base import StoredSeries, UpsertReport
from alerter.store.mirror import SeriesMirror
from alerter.store.point_rows import plain
from alerter.store.postgres_db import PgBase, dt, ts

_EPOCH = datetime.fromtimestamp(0, UTC)


def _table_points(source: str, result: FetchResult) -> list[CostPoint]:
    """``result.table`` rows as points (the PostgreSQL backend stores rows, not columns)."""
    if result.table is None:
        return []
    return [
        replace(
            p,
            amount=plain(p.amount),
            quantity=None if p.quantity is None else plain(p.quantity),
        )
        for p in FetchResult([], [], table=result.table).all_points(source)
    ]


class PostgresPoints(PgBase):
    """Points in PostgreSQL: one fetch serves every replica, and a new lease holder
    judges with the full history at once (no backfill on failover)."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._mirrors: dict[str, SeriesMirror] = {}
        self._series_ids: dict[str, int] = {}
        self._series_names: dict[int, tuple[SeriesKey, str]] = {}
        self._on_rollback.append(self._mirrors.clear)  # they may hold rolled-back rows

    def upsert(self, source: str, result: FetchResult, now: datetime) -> UpsertReport:
        stamp = ts(now)
        revised: list[tuple[SeriesKey, datetime]] = []
        unchanged = 0
        names: dict[SeriesKey, str] = {}
        rows = [
            (
                names.get(p.key) or names.setdefault(p.key, key_json(p.key)),
                ts(p.start),
                ts(p.end),
                str(p.amount),
                None if p.quantity is None else str(p.quantity),
                p.currency,
                p,
            )
            for p in [*result.points, *_table_points(source, result)]
        ]
        with self.transaction():
            seq = int(self._one("SELECT nextval('point_seq')")[0])
            existing: dict[tuple[str, int], tuple[str, str | None, int]] = {}
            if rows:
                lo = min(r[1] for r in rows)
                hi = max(r[1] for r in rows)
                for series, start, amount, quantity, revision in self._rows(
                    "SELECT series, w_start, amount, quantity, revision FROM points "
                    "WHERE source=%s AND w_start>=%s AND w_start<=%s",
                    (source, lo, hi),
                ):
                    existing[(series, start)] = (amount, quantity, revision)
            inserts: list[tuple[object, ...]] = []
            history: list[tuple[object, ...]] = []
            updates: list[tuple[object, ...]] = []
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
            self._copy(
                "COPY points (source, series, w_start, w_end, amount, quantity, currency, "
                "updated_at, seq) FROM STDIN",
                inserts,
            )
            self._many(
                "INSERT INTO point_revisions (source, series, w_start, revision, amount, "
                "quantity, replaced_at) VALUES (%s,%s,%s,%s,%s,%s,%s)",
                history,
            )
            self._many(
                "UPDATE points SET amount=%s, quantity=%s, revision=revision+1, updated_at=%s, "
                "seq=%s WHERE source=%s AND series=%s AND w_start=%s",
                updates,
            )
            for cov in result.coverage:
                self._cover(source, key_json(cov.scope), ts(cov.start), ts(cov.end))
        return UpsertReport(new=len(inserts), revised=revised, unchanged=unchanged, seq=seq)

    def _cover(self, source: str, scope: str, start: int, end: int) -> None:
        """Record coverage, merged with overlapping or adjoining intervals of the scope."""
        rows = self._rows(
            "DELETE FROM coverage WHERE source=%s AND scope=%s AND w_start<=%s AND w_end>=%s "
            "RETURNING w_start, w_end",
            (source, scope, end, start),
        )
        if rows:
            start = min(start, *(r[0] for r in rows))
            end = max(end, *(r[1] for r in rows))
        self._exec(
            "INSERT INTO coverage (source, scope, w_start, w_end) VALUES (%s,%s,%s,%s)",
            (source, scope, start, end),
        )

    def written(
        self, source: str, after_seq: int, before: datetime
    ) -> list[tuple[SeriesKey, datetime]]:
        rows = self._rows(
            "SELECT series, w_start FROM points "
            "WHERE source=%s AND seq>%s AND revision=0 AND w_start<%s",
            (source, after_seq, ts(before)),
        )
        return [(key_from(series), dt(start) or before) for series, start in rows]

    def revised_since(self, source: str, after_seq: int) -> list[tuple[SeriesKey, datetime]]:
        rows = self._rows(
            "SELECT series, w_start FROM points WHERE source=%s AND seq>%s AND revision>0",
            (source, after_seq),
        )
        return [(key_from(series), dt(start) or _EPOCH) for series, start in rows]

    def load_series(self, source: str, since: datetime, until: datetime) -> StoredSeries:
        """Served from an in-memory mirror of the source's recent points, refreshed with
        only the rows written since the last read (the write sequence; one writer per
        source at a time, the lease holder, so a source's writes commit in seq order)."""
        with self._lock:
            lo = ts(since)
            mirror = self._mirrors.get(source)
            if mirror is None or lo < mirror.since:
                mirror = self._mirrors[source] = SeriesMirror(since=lo)
            rows = self._rows(
                "SELECT series, w_start, amount::double precision, currency, seq FROM points "
                "WHERE source=%s AND seq>%s AND w_start>=%s",
                (source, mirror.seq, mirror.since),
            )
            if rows:
                series, starts, amounts, currencies, seqs = zip(*rows, strict=True)
                ids = self._series_ids
                for name, currency in zip(series, currencies, strict=True):
                    if name not in ids:
                        ids[name] = len(ids)
                        self._series_names[ids[name]] = (key_from(name), currency)
                mirror.merge(
                    np.fromiter((ids[name] for name in series), np.int64, len(series)),
                    np.fromiter(starts, np.int64, len(starts)),
                    np.fromiter(amounts, np.float64, len(amounts)),
                    int(max(seqs)),
                    self._series_names,
                )
            return mirror.view(lo, ts(until))

    def trim_cache(self, source: str, before: datetime) -> None:
        """Let the mirror forget points older than ``before`` (no reader needs them)."""
        with self._lock:
            mirror = self._mirrors.get(source)
            if mirror is not None:
                mirror.trim(ts(before))

    def load_points(self, source: str, since: datetime, until: datetime) -> list[CostPoint]:
        rows = self._rows(
            "SELECT series, w_start, w_end, amount, quantity, currency FROM points "
            "WHERE source=%s AND w_start>=%s AND w_start<%s ORDER BY w_start, series",
            (source, ts(since), ts(until)),
        )
        return [
            CostPoint(
                source,
                key_from(series),
                dt(start) or since,
                dt(end) or until,
                Decimal(amount),
                None if quantity is None else Decimal(quantity),
                currency,
            )
            for series, start, end, amount, quantity, currency in rows
        ]

    def load_coverage(self, source: str, since: datetime, until: datetime) -> list[Coverage]:
        rows = self._rows(
            "SELECT scope, w_start, w_end FROM coverage "
            "WHERE source=%s AND w_end>%s AND w_start<%s",
            (source, ts(since), ts(until)),
        )
        return [
            Coverage(start=dt(s) or since, end=dt(e) or until, scope=key_from(scope))
            for scope, s, e in rows
        ]

    def revisions(self, source: str, key: SeriesKey, start: datetime) -> list[Decimal]:
        """Earlier amounts of one point, oldest first."""
        rows = self._rows(
            "SELECT amount FROM point_revisions WHERE source=%s AND series=%s AND w_start=%s "
            "ORDER BY revision",
            (source, key_json(key), ts(start)),
        )
        return [Decimal(r[0]) for r in rows]

    def prune_points(self, source: str, before: datetime) -> dict[str, int]:
        cut = ts(before)
        with self.transaction():
            deleted = {
                "points": self._exec(
                    "DELETE FROM points WHERE source=%s AND w_start<%s", (source, cut)
                ),
                "point_revisions": self._exec(
                    "DELETE FROM point_revisions WHERE source=%s AND w_start<%s", (source, cut)
                ),
                "coverage": self._exec(
                    "DELETE FROM coverage WHERE source=%s AND w_end<=%s", (source, cut)
                ),
            }
            # trimmed intervals that would collide with a kept one are dropped first
            self._exec(
                "DELETE FROM coverage c WHERE source=%s AND w_start<%s AND EXISTS (SELECT 1 "
                "FROM coverage k WHERE k.source=c.source AND k.scope=c.scope AND k.w_start=%s)",
                (source, cut, cut),
            )
            deleted["coverage_trimmed"] = self._exec(
                "UPDATE coverage SET w_start=%s WHERE source=%s AND w_start<%s",
                (cut, source, cut),
            )
        return deleted
