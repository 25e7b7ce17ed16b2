"""SQLite ``OutboxStore``: durable notifications, one queue per (incident, notifier)."""

from __future__ import annotations

from datetime import datetime

from alerter.domain import Notification
from alerter.notify import payload
from alerter.store.base import OutboxItem
from alerter.store.sqlite_db import SqliteDatabase, as_int, as_str, dt, dt_or_none, str_or_none, ts

_COLUMNS = (
    "id, incident_id, notifier, event, payload, status, attempts, next_attempt_at, last_error, "
    "created_at"
)


def _item(row: tuple[object, ...]) -> OutboxItem:
    return OutboxItem(
        id=as_int(row[0]),
        incident_id=as_int(row[1]),
        notifier=as_str(row[2]),
        event=as_str(row[3]),
        payload=as_str(row[4]),
        status=as_str(row[5]),
        attempts=as_int(row[6]),
        next_attempt_at=dt(row[7]),
        last_error=str_or_none(row[8]),
        created_at=dt_or_none(row[9]),
    )


class SqliteOutbox(SqliteDatabase):
    """The outbox in the SQLite state file."""

    def enqueue(self, msg: Notification, notifier: str, now: datetime) -> int:
        with self.transaction():
            cur = self._db.execute(
                "INSERT INTO outbox (incident_id, notifier, event, payload, status, attempts, "
                "next_attempt_at, created_at) VALUES (?,?,?,?,'pending',0,?,?)",
                (
                    msg.incident_id,
                    notifier,
                    msg.event.value,
                    payload.dumps(msg),
                    ts(now),
                    ts(now),
                ),
            )
            return int(cur.lastrowid or 0)

    def due(self, now: datetime, limit: int = 100) -> list[OutboxItem]:
        # The head of each (incident, notifier) queue only, so an update never overtakes
        # the post it updates.
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM outbox o WHERE status='pending' "  # noqa: S608
                "AND id = (SELECT min(id) FROM outbox p WHERE p.status='pending' "
                "AND p.incident_id=o.incident_id AND p.notifier=o.notifier) "
                "AND next_attempt_at<=? ORDER BY id LIMIT ?",
                (ts(now), limit),
            ).fetchall()
        return [_item(r) for r in rows]

    def mark_sent(self, item_id: int, ref: str | None, now: datetime) -> None:
        with self.transaction():
            row = self._db.execute(
                "SELECT incident_id, notifier FROM outbox WHERE id=?", (item_id,)
            ).fetchone()
            self._db.execute(
                "UPDATE outbox SET status='sent', sent_at=?, attempts=attempts+1, last_error=NULL "
                "WHERE id=?",
                (ts(now), item_id),
            )
            if ref is not None and row is not None:
                self._db.execute(
                    "INSERT INTO delivery_refs (incident_id, notifier, ref) VALUES (?,?,?) "
                    "ON CONFLICT (incident_id, notifier) DO NOTHING",
                    (row[0], row[1], ref),
                )

    def mark_retry(self, item_id: int, at: datetime, error: str) -> None:
        with self.transaction():
            self._db.execute(
                "UPDATE outbox SET attempts=attempts+1, next_attempt_at=?, last_error=? WHERE id=?",
                (ts(at), error, item_id),
            )

    def mark_failed(self, item_id: int, error: str) -> None:
        with self.transaction():
            self._db.execute(
                "UPDATE outbox SET status='failed', attempts=attempts+1, last_error=? WHERE id=?",
                (error, item_id),
            )

    def defer(self, item_id: int, at: datetime) -> None:
        with self.transaction():
            self._db.execute("UPDATE outbox SET next_attempt_at=? WHERE id=?", (ts(at), item_id))

    def sent_since(self, notifier: str, since: datetime) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT count(*) FROM outbox WHERE notifier=? AND status='sent' AND sent_at>=?",
                (notifier, ts(since)),
            ).fetchone()
        return int(row[0])

    def outbox_items(self, status: str | None = None) -> list[OutboxItem]:
        query = f"SELECT {_COLUMNS} FROM outbox"  # noqa: S608
        args: tuple[object, ...] = ()
        if status is not None:
            query += " WHERE status=?"
            args = (status,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [_item(r) for r in rows]

    def delivery_ref(self, incident_id: int, notifier: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT ref FROM delivery_refs WHERE incident_id=? AND notifier=?",
                (incident_id, notifier),
            ).fetchone()
        return None if row is None else str(row[0])

    # -- silences ------------------------------------------------------------------------------

    def prune_outbox(self, before: datetime) -> dict[str, int]:
        old = ts(before)
        with self.transaction():
            cur = self._db.execute(
                "DELETE FROM outbox WHERE status!='pending' AND created_at<? AND incident_id IN "
                "(SELECT id FROM incidents WHERE status='resolved' AND resolved_at<?)",
                (old, old),
            )
            return {"outbox": cur.rowcount}
