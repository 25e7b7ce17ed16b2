"""SQLite ``MarkStore``: polls, rule progress, point writes judged, files read."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from alerter.sources.base import FileMark
from alerter.store.base import PollStatus
from alerter.store.sqlite_db import SqliteDatabase, as_int, as_str, dt, dt_or_none, str_or_none, ts


class SqliteMarks(SqliteDatabase):
    """Progress marks in the SQLite state file."""

    def record_poll(
        self,
        source: str,
        at: datetime,
        *,
        ok: bool,
        error: str | None,
        points: int,
        errors: int,
        backfilled: bool | None = None,
    ) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO poll_status (source, last_attempt_at, last_success_at, last_error, "
                "backfilled, points, errors) VALUES (?,?,?,?,?,?,?) "
                "ON CONFLICT (source) DO UPDATE SET last_attempt_at=excluded.last_attempt_at, "
                "last_success_at=coalesce(excluded.last_success_at, last_success_at), "
                "last_error=excluded.last_error, backfilled=max(backfilled, excluded.backfilled), "
                "points=excluded.points, errors=excluded.errors",
                (
                    source,
                    ts(at),
                    ts(at) if ok else None,
                    error,
                    1 if (ok if backfilled is None else backfilled) else 0,
                    points,
                    errors,
                ),
            )

    def poll_status(self) -> list[PollStatus]:
        with self._lock:
            rows = self._db.execute(
                "SELECT source, last_attempt_at, last_success_at, last_error, backfilled, points, "
                "errors FROM poll_status ORDER BY source"
            ).fetchall()
        return [
            PollStatus(
                source=as_str(r[0]),
                last_attempt_at=dt_or_none(r[1]),
                last_success_at=dt_or_none(r[2]),
                last_error=str_or_none(r[3]),
                backfilled=bool(r[4]),
                points=as_int(r[5]),
                errors=as_int(r[6]),
            )
            for r in rows
        ]

    def judged_through(self, rule: str) -> datetime | None:
        with self._lock:
            row = self._db.execute(
                "SELECT judged_through FROM rule_state WHERE rule=?", (rule,)
            ).fetchone()
        return None if row is None else dt_or_none(row[0])

    def set_judged_through(self, rule: str, when: datetime) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO rule_state (rule, judged_through) VALUES (?, ?) "
                "ON CONFLICT (rule) DO UPDATE SET judged_through=excluded.judged_through",
                (rule, ts(when)),
            )

    def consumed_seq(self, source: str) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT consumed_seq FROM source_marks WHERE source=?", (source,)
            ).fetchone()
        return 0 if row is None else as_int(row[0])

    def set_consumed_seq(self, source: str, seq: int) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO source_marks (source, consumed_seq) VALUES (?, ?) "
                "ON CONFLICT (source) DO UPDATE SET consumed_seq=excluded.consumed_seq",
                (source, seq),
            )

    def file_marks(self, source: str) -> dict[str, FileMark]:
        with self._lock:
            rows = self._db.execute(
                "SELECT path, size, mtime_ns, etag, read_since, read_until, data_end, fingerprint "
                "FROM file_marks WHERE source=?",
                (source,),
            ).fetchall()
        return {
            as_str(r[0]): FileMark(
                path=as_str(r[0]),
                size=as_int(r[1]),
                mtime_ns=as_int(r[2]),
                etag=str_or_none(r[3]),
                read_since=dt(r[4]),
                read_until=dt(r[5]),
                data_end=dt_or_none(r[6]),
                fingerprint=str_or_none(r[7]),
            )
            for r in rows
        }

    def set_file_marks(self, source: str, marks: Sequence[FileMark]) -> None:
        with self.transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO file_marks (source, path, size, mtime_ns, etag, "
                "read_since, read_until, data_end, fingerprint) VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (
                        source,
                        m.path,
                        m.size,
                        m.mtime_ns,
                        m.etag,
                        ts(m.read_since),
                        ts(m.read_until),
                        None if m.data_end is None else ts(m.data_end),
                        m.fingerprint,
                    )
                    for m in marks
                ],
            )
