"""PostgreSQL silences role."""

from __future__ import annotations

import json
from datetime import datetime

from alerter.domain import Silence
from alerter.store.postgres_db import PgBase, dt_not_null, ts


class PostgresSilences(PgBase):
    """Silences in PostgreSQL."""

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
            row = self._one(
                "INSERT INTO silences (rule, matchers, starts_at, ends_at, comment, created_by) "
                "VALUES (%s,%s,%s,%s,%s,%s) RETURNING id",
                (
                    rule,
                    json.dumps(matchers, sort_keys=True),
                    ts(starts_at),
                    ts(ends_at),
                    comment,
                    created_by,
                ),
            )
            return int(row[0])

    def silences(self, now: datetime | None = None) -> list[Silence]:
        query = "SELECT id, rule, matchers, starts_at, ends_at, comment, created_by FROM silences"
        if now is None:
            rows = self._rows(query + " ORDER BY id")
        else:
            rows = self._rows(
                query + " WHERE starts_at<=%s AND ends_at>%s ORDER BY id", (ts(now), ts(now))
            )
        return [
            Silence(
                int(r[0]), r[1], json.loads(r[2]), dt_not_null(r[3]), dt_not_null(r[4]), r[5], r[6]
            )
            for r in rows
        ]

    def remove_silence(self, silence_id: int) -> bool:
        with self.transaction():
            return self._exec("DELETE FROM silences WHERE id=%s", (silence_id,)) > 0

    def prune_silences(self, before: datetime) -> dict[str, int]:
        with self.transaction():
            return {"silences": self._exec("DELETE FROM silences WHERE ends_at<%s", (ts(before),))}
