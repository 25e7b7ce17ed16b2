"""``SqliteStore``: the default state. Incidents, outbox, silences and marks in one SQLite
file; cost points in a DuckDB file beside it (``state.db.points.duckdb``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from alerter.domain import CostPoint, Coverage, SeriesKey
from alerter.errors import StoreError
from alerter.sources.base import FetchResult
from alerter.store.base import StoredSeries, UpsertReport
from alerter.store.duck_points import DuckPoints
from alerter.store.point_rows import points_path
from alerter.store.sqlite_actions import SqliteIncidentActions
from alerter.store.sqlite_db import as_int
from alerter.store.sqlite_incidents import SqliteIncidents
from alerter.store.sqlite_marks import SqliteMarks
from alerter.store.sqlite_outbox import SqliteOutbox
from alerter.store.sqlite_silences import SqliteSilences

log = logging.getLogger(__name__)


def sqlite_path(state: str, base: Path) -> str:
    """``sqlite:///x.db``, ``sqlite://:memory:``, ``:memory:`` or a plain path (relative to base)."""
    raw = state
    if raw.startswith("sqlite:///"):
        raw = raw[len("sqlite:///") :]
    elif raw.startswith("sqlite://"):
        raw = raw[len("sqlite://") :]
    if raw == ":memory:":
        return raw
    if "://" in raw:
        raise StoreError(f"unsupported state URL scheme in {state!r} (use a SQLite path)")
    path = Path(raw).expanduser()
    return str(path if path.is_absolute() else base / path)


class SqliteStore(SqliteIncidents, SqliteOutbox, SqliteSilences, SqliteMarks):
    """State in one SQLite file (WAL journal), locked to one process; safe across threads.

    Points go to ``DuckPoints``, set up at once by the daemon (``lock=True``) and on first
    use otherwise (``status`` and ``silence`` never open it); the points file is held only
    while in use (a cycle), so commands can read it beside a running daemon. Point writes
    commit on their own, before the cycle's SQLite transaction; ``consumed_seq`` makes
    the judge see them again if that transaction is lost.
    """

    def __init__(self, path: str, *, lock: bool = True) -> None:
        super().__init__(path, lock=lock)
        self._points: DuckPoints | None = None
        self.actions = SqliteIncidentActions(self._db, self._lock)
        """The incident-actions role (``store/actions.py``)."""
        if lock or path == ":memory:":
            self.points  # noqa: B018 - the daemon's writes always join both files

    @property
    def points(self) -> DuckPoints:
        with self._lock:
            if self._points is None:
                # a command beside a running daemon reads the points file between the
                # daemon's cycles (read-only; it waits for a cycle to end)
                writer = self._state_lock is not None or self.path == ":memory:"
                self._points = DuckPoints(
                    points_path(self.path),
                    read_only=not writer,
                    lock_wait=30.0 if writer else 120.0,
                )
                if writer:
                    self._import_legacy_points(self._points)
            return self._points

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction over both files: point writes inside it commit just
        before the SQLite transaction and roll back with it."""
        with self._lock, super().transaction():
            points = self._points
            with points.joined() if points is not None else nullcontext():
                yield

    def close(self) -> None:
        with self._lock:
            if self._points is not None:
                self._points.close()
                self._points = None
            super().close()

    def _import_legacy_points(self, points: DuckPoints) -> None:
        """Move points a state file of an earlier version kept in SQLite (once)."""
        if points.last_seq() or not self._db.execute("SELECT 1 FROM points LIMIT 1").fetchone():
            return
        seq = as_int(self._db.execute("SELECT max(seq) FROM points").fetchone()[0])
        sources = [r[0] for r in self._db.execute("SELECT DISTINCT source FROM points")]
        for source in sources:
            rows = self._db.execute(
                "SELECT series, start, end, amount, quantity, currency FROM points WHERE source=?",
                (source,),
            ).fetchall()
            dec = pa.decimal128(38, 10)
            table = pa.table(
                {
                    "key": pa.array([r[0] for r in rows], pa.string()),
                    "start": pa.array([r[1] for r in rows], pa.int64()),
                    "end": pa.array([r[2] for r in rows], pa.int64()),
                    "amount": pa.array(
                        [Decimal(r[3]).quantize(Decimal("1e-10")) for r in rows], dec
                    ),
                    "quantity": pa.array(
                        [
                            None if r[4] is None else Decimal(r[4]).quantize(Decimal("1e-10"))
                            for r in rows
                        ],
                        dec,
                    ),
                    "currency": pa.array([r[5] for r in rows], pa.string()),
                }
            )
            points.import_table(source, table, seq)
            log.info("points_imported source=%s points=%d", source, len(rows))
            cover = self._db.execute(
                "SELECT scope, start, end FROM coverage WHERE source=?", (source,)
            ).fetchall()
            points.import_coverage(source, [(str(c), int(s), int(e)) for c, s, e in cover])
        with self.transaction():
            self._db.execute("DELETE FROM points")

    # -- points (delegated) ----------------------------------------------------------------
    def upsert(self, source: str, result: FetchResult, now: datetime) -> UpsertReport:
        return self.points.upsert(source, result, now)

    def written(
        self, source: str, after_seq: int, before: datetime
    ) -> list[tuple[SeriesKey, datetime]]:
        return self.points.written(source, after_seq, before)

    def revised_since(self, source: str, after_seq: int) -> list[tuple[SeriesKey, datetime]]:
        return self.points.revised_since(source, after_seq)

    def load_series(self, source: str, since: datetime, until: datetime) -> StoredSeries:
        return self.points.load_series(source, since, until)

    def load_points(self, source: str, since: datetime, until: datetime) -> list[CostPoint]:
        return self.points.load_points(source, since, until)

    def load_coverage(self, source: str, since: datetime, until: datetime) -> list[Coverage]:
        return self.points.load_coverage(source, since, until)

    def revisions(self, source: str, key: SeriesKey, start: datetime) -> list[Decimal]:
        return self.points.revisions(source, key, start)

    def prune_points(self, source: str, before: datetime) -> dict[str, int]:
        return self.points.prune_points(source, before)

    def trim_cache(self, source: str, before: datetime) -> None:
        self.points.trim_cache(source, before)

    # -- all roles ---------------------------------------------------------------------------
    def prune(
        self, source: str, points_before: datetime, history_before: datetime
    ) -> dict[str, int]:
        deleted = self.prune_points(source, points_before)
        with self.transaction():
            deleted |= self.prune_outbox(history_before)
            deleted |= self.prune_incidents(history_before)
            deleted |= self.prune_silences(history_before)
        return deleted

    def counts(self) -> dict[str, int]:
        """Rows per table, for status and soak checks."""
        with self._lock:
            counts = self.points.counts()
            for table in ("incidents", "outbox"):
                counts[table] = int(
                    self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
                )
        return counts
