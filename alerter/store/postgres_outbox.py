"""PostgreSQL outbox role: rows claimed by any replica with ``FOR UPDATE SKIP LOCKED``.

``due`` claims the head of each (incident, notifier) queue for this replica: a claim is
a per-row lease (``claimed_by``, ``claim_until`` on the database clock) with a
``claim_token`` that grows on every claim by a new holder (or after a claim lapsed: this
replica taking its own live claim again only extends it, so its per-notifier delivery
threads, which each claim every due row, do not void one another's claims).
``claim_valid`` re-checks the claim right before a send, and every acknowledgement (``mark_*``, ``defer``) lands only with the
token that claimed the row, so a replica that was paused past its claim neither sends
nor overwrites what another replica recorded since.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from alerter import payload
from alerter.domain import Notification
from alerter.store.base import OutboxItem
from alerter.store.postgres_db import PgBase, dt, dt_not_null, ts

log = logging.getLogger(__name__)

_COLUMNS = (
    "id, incident_id, notifier, event, payload, status, attempts, next_attempt_at, "
    "last_error, created_at"
)


_CLAIM = (
    "WITH heads AS (SELECT o.id FROM outbox o WHERE o.status='pending' "  # noqa: S608
    "AND o.next_attempt_at<=%(now)s "
    "AND o.id = (SELECT min(p.id) FROM outbox p WHERE p.status='pending' "
    "AND p.incident_id=o.incident_id AND p.notifier=o.notifier) "
    "AND (o.claim_until IS NULL OR o.claim_until<=clock_timestamp() OR o.claimed_by=%(me)s) "
    "ORDER BY o.id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) "
    "UPDATE outbox SET claimed_by=%(me)s, claim_token=CASE WHEN outbox.claimed_by=%(me)s "
    "AND outbox.claim_until>clock_timestamp() THEN outbox.claim_token "
    "ELSE outbox.claim_token+1 END, "
    "claim_until=clock_timestamp() + %(ttl)s * interval '1 second' "
    "FROM heads WHERE outbox.id=heads.id RETURNING "
    + ", ".join(f"outbox.{c.strip()}" for c in _COLUMNS.split(","))
    + ", outbox.claim_token"
)


def _item(row: Any) -> OutboxItem:
    return OutboxItem(
        id=int(row[0]),
        incident_id=int(row[1]),
        notifier=str(row[2]),
        event=str(row[3]),
        payload=str(row[4]),
        status=str(row[5]),
        attempts=int(row[6]),
        next_attempt_at=dt_not_null(row[7]),
        last_error=None if row[8] is None else str(row[8]),
        created_at=dt(row[9]),
    )


class PostgresOutbox(PgBase):
    """The outbox in PostgreSQL, delivered by whichever replica claims a row first."""

    holder: str
    claim_ttl: float

    def _init_outbox(self, holder: str, claim_ttl: float) -> None:
        self.holder = holder
        self.claim_ttl = claim_ttl
        self._claims: dict[int, int] = {}
        self._claims_lock = threading.Lock()
        self.rejections = 0
        """Acknowledgements and sends refused because the claim was lost."""

    def enqueue(self, msg: Notification, notifier: str, now: datetime) -> int:
        with self.transaction():
            row = self._one(
                "INSERT INTO outbox (incident_id, source, notifier, event, payload, status, "
                "attempts, next_attempt_at, created_at) "
                "VALUES (%s,%s,%s,%s,%s,'pending',0,%s,%s) RETURNING id",
                (
                    msg.incident_id,
                    msg.source,
                    notifier,
                    msg.event.value,
                    payload.dumps(msg),
                    ts(now),
                    ts(now),
                ),
            )
            return int(row[0])

    def due(self, now: datetime, limit: int = 100) -> list[OutboxItem]:
        """Claim and return the due heads of the queues no other replica holds a live
        claim on (this replica's own claims are taken again)."""
        with self.transaction():
            rows = self._rows(
                _CLAIM,
                {"now": ts(now), "me": self.holder, "limit": limit, "ttl": self.claim_ttl},
            )
        rows.sort(key=lambda r: int(r[0]))
        with self._claims_lock:
            for row in rows:
                self._claims[int(row[0])] = int(row[-1])
        return [_item(r) for r in rows]

    def claim_valid(self, item_id: int) -> bool:
        """Whether this replica still holds its claim on the item (checked right before a
        send). Items never claimed through ``due`` are not fenced."""
        with self._claims_lock:
            token = self._claims.get(item_id)
        if token is None:
            return True
        row = self._one(
            "SELECT 1 FROM outbox WHERE id=%s AND claimed_by=%s AND claim_token=%s "
            "AND status='pending' AND claim_until>clock_timestamp()",
            (item_id, self.holder, token),
        )
        if row is None:
            self._reject(item_id, "send")
            return False
        return True

    def _reject(self, item_id: int, what: str) -> None:
        self.rejections += 1
        log.warning("fencing_rejected item=%d action=%s reason=claim_lost", item_id, what)

    def _ack(self, item_id: int, sets: str, args: tuple[object, ...], what: str) -> bool:
        """Apply ``sets`` to the item if our claim on it still stands; release the claim."""
        with self._claims_lock:
            token = self._claims.pop(item_id, None)
        if token is None:
            count = self._exec(
                f"UPDATE outbox SET {sets}, claimed_by=NULL, claim_until=NULL "  # noqa: S608
                "WHERE id=%s",
                (*args, item_id),
            )
            return count > 0
        count = self._exec(
            f"UPDATE outbox SET {sets}, claimed_by=NULL, claim_until=NULL "  # noqa: S608
            "WHERE id=%s AND claimed_by=%s AND claim_token=%s AND status='pending'",
            (*args, item_id, self.holder, token),
        )
        if count == 0:
            self._reject(item_id, what)
        return count > 0

    def mark_sent(self, item_id: int, ref: str | None, now: datetime) -> None:
        with self.transaction():
            if not self._ack(
                item_id,
                "status='sent', sent_at=%s, attempts=attempts+1, last_error=NULL",
                (ts(now),),
                "mark_sent",
            ):
                return
            if ref is not None:
                self._exec(
                    "INSERT INTO delivery_refs (incident_id, notifier, ref) "
                    "SELECT incident_id, notifier, %s FROM outbox WHERE id=%s "
                    "ON CONFLICT (incident_id, notifier) DO NOTHING",
                    (ref, item_id),
                )

    def mark_retry(self, item_id: int, at: datetime, error: str) -> None:
        with self.transaction():
            self._ack(
                item_id,
                "attempts=attempts+1, next_attempt_at=%s, last_error=%s",
                (ts(at), error),
                "mark_retry",
            )

    def mark_failed(self, item_id: int, error: str) -> None:
        with self.transaction():
            self._ack(
                item_id,
                "status='failed', attempts=attempts+1, last_error=%s",
                (error,),
                "mark_failed",
            )

    def defer(self, item_id: int, at: datetime) -> None:
        with self.transaction():
            self._ack(item_id, "next_attempt_at=%s", (ts(at),), "defer")

    def sent_since(self, notifier: str, since: datetime) -> int:
        row = self._one(
            "SELECT count(*) FROM outbox WHERE notifier=%s AND status='sent' AND sent_at>=%s",
            (notifier, ts(since)),
        )
        return int(row[0])

    def outbox_items(self, status: str | None = None) -> list[OutboxItem]:
        if status is None:
            rows = self._rows(f"SELECT {_COLUMNS} FROM outbox ORDER BY id")  # noqa: S608
        else:
            rows = self._rows(
                f"SELECT {_COLUMNS} FROM outbox WHERE status=%s ORDER BY id",  # noqa: S608
                (status,),
            )
        return [_item(r) for r in rows]

    def delivery_ref(self, incident_id: int, notifier: str) -> str | None:
        row = self._one(
            "SELECT ref FROM delivery_refs WHERE incident_id=%s AND notifier=%s",
            (incident_id, notifier),
        )
        return None if row is None else str(row[0])

    def prune_outbox(self, before: datetime) -> dict[str, int]:
        old = ts(before)
        with self.transaction():
            return {
                "outbox": self._exec(
                    "DELETE FROM outbox WHERE status!='pending' AND created_at<%s AND "
                    "incident_id IN (SELECT id FROM incidents WHERE status='resolved' AND "
                    "resolved_at<%s)",
                    (old, old),
                )
            }
