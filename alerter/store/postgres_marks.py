"""PostgreSQL marks role: last poll per source and how far each rule was judged."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from alerter.sources.base import FileMark
from alerter.store.base import PollStatus
from alerter.store.postgres_db import PgBase, dt, dt_not_null, ts


class PostgresMarks(PgBase):
    """Progress marks in PostgreSQL."""

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
            self._exec(
                "INSERT INTO poll_status (source, last_attempt_at, last_success_at, last_error, "
                "backfilled, points, errors) VALUES (%s,%s,%s,%s,%s,%s,%s) "
                "ON CONFLICT (source) DO UPDATE SET last_attempt_at=excluded.last_attempt_at, "
                "last_success_at=coalesce(excluded.last_success_at, "
                "poll_status.last_success_at), last_error=excluded.last_error, "
                "backfilled=(poll_status.backfilled OR excluded.backfilled), "
                "points=excluded.points, errors=excluded.errors",
                (
                    source,
                    ts(at),
                    ts(at) if ok else None,
                    error,
                    bool(ok if backfilled is None else backfilled),
                    points,
                    errors,
                ),
            )

    def poll_status(self) -> list[PollStatus]:
        rows = self._rows(
            "SELECT source, last_attempt_at, last_success_at, last_error, backfilled, points, "
            "errors FROM poll_status ORDER BY source"
        )
        return [
            PollStatus(r[0], dt(r[1]), dt(r[2]), r[3], bool(r[4]), int(r[5]), int(r[6]))
            for r in rows
        ]

    def judged_through(self, rule: str) -> datetime | None:
        row = self._one("SELECT judged_through FROM rule_state WHERE rule=%s", (rule,))
        return None if row is None else dt(row[0])

    def set_judged_through(self, rule: str, when: datetime) -> None:
        with self.transaction():
            self._exec(
                "INSERT INTO rule_state (rule, judged_through) VALUES (%s, %s) "
                "ON CONFLICT (rule) DO UPDATE SET judged_through=excluded.judged_through",
                (rule, ts(when)),
            )

    def consumed_seq(self, source: str) -> int:
        row = self._one("SELECT consumed_seq FROM source_marks WHERE source=%s", (source,))
        return 0 if row is None else int(row[0])

    def set_consumed_seq(self, source: str, seq: int) -> None:
        with self.transaction():
            self._exec(
                "INSERT INTO source_marks (source, consumed_seq) VALUES (%s, %s) "
                "ON CONFLICT (source) DO UPDATE SET consumed_seq=excluded.consumed_seq",
                (source, seq),
            )

    def file_marks(self, source: str) -> dict[str, FileMark]:
        rows = self._rows(
            "SELECT path, size, mtime_ns, etag, read_since, read_until, data_end, fingerprint "
            "FROM file_marks WHERE source=%s",
            (source,),
        )
        return {
            str(r[0]): FileMark(
                path=str(r[0]),
                size=int(r[1]),
                mtime_ns=int(r[2]),
                etag=None if r[3] is None else str(r[3]),
                read_since=dt_not_null(r[4]),
                read_until=dt_not_null(r[5]),
                data_end=dt(r[6]),
                fingerprint=None if r[7] is None else str(r[7]),
            )
            for r in rows
        }

    def set_file_marks(self, source: str, marks: Sequence[FileMark]) -> None:
        with self.transaction():
            self._many(
                "INSERT INTO file_marks (source, path, size, mtime_ns, etag, read_since, "
                "read_until, data_end, fingerprint) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s) "
                "ON CONFLICT (source, path) DO UPDATE SET size=excluded.size, "
                "mtime_ns=excluded.mtime_ns, etag=excluded.etag, "
                "read_since=excluded.read_since, read_until=excluded.read_until, "
                "data_end=excluded.data_end, fingerprint=excluded.fingerprint",
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
