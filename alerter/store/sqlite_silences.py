"""SQLite ``SilenceStore``."""

from __future__ import annotations

import json
from datetime import datetime

from alerter.store.base import Silence
from alerter.store.sqlite_db import SqliteDatabase, as_int, as_str, dt, str_or_none, ts


def _matchers(text: object) -> dict[str, str]:
    raw = json.loads(as_str(text))
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


class SqliteSilences(SqliteDatabase):
    """Silences in the SQLite state file."""

    def add_silence(
        self,
        rule: str | None,
        matchers: dict[str, str],
        starts_at: datetime,
        ends_at: datetime,
        comment: str = "",
        created_by: str = "",
    ) -> int:
        with self.transaction():
            cur = self._db.execute(
                "INSERT INTO silences (rule, matchers, starts_at, ends_at, comment, created_by) "
                "VALUES (?,?,?,?,?,?)",
                (
                    rule,
                    json.dumps(matchers, sort_keys=True),
                    ts(starts_at),
                    ts(ends_at),
                    comment,
                    created_by,
                ),
            )
            return int(cur.lastrowid or 0)

    def silences(self, now: datetime | None = None) -> list[Silence]:
        query = "SELECT id, rule, matchers, starts_at, ends_at, comment, created_by FROM silences"
        args: tuple[object, ...] = ()
        if now is not None:
            query += " WHERE starts_at<=? AND ends_at>?"
            args = (ts(now), ts(now))
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [
            Silence(
                id=as_int(r[0]),
                rule=str_or_none(r[1]),
                matchers=_matchers(r[2]),
                starts_at=dt(r[3]),
                ends_at=dt(r[4]),
                comment=as_str(r[5]),
                created_by=as_str(r[6]),
            )
            for r in rows
        ]

    def remove_silence(self, silence_id: int) -> bool:
        with self.transaction():
            cur = self._db.execute("DELETE FROM silences WHERE id=?", (silence_id,))
            return cur.rowcount > 0

    def prune_silences(self, before: datetime) -> dict[str, int]:
        with self.transaction():
            cur = self._db.execute("DELETE FROM silences WHERE ends_at<?", (ts(before),))
            return {"silences": cur.rowcount}
