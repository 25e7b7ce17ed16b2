"""PostgreSQL leases role: one row per source, taken over when it expires (fencing tokens).

Plain rows and short transactions on the database clock, not advisory locks, so leases
work behind PgBouncer in transaction pooling mode. The store keeps a connection of its
own for leases, so a long judging transaction never delays a renewal.
"""

from __future__ import annotations

import psycopg

from alerter.errors import StoreError
from alerter.store.leases import LeaseGrant, LeaseRow
from alerter.store.postgres_db import PgBase, redact_url

_ACQUIRE = (
    # One reading of the clock per statement: two clock_timestamp() calls differ now and
    # then (a microsecond apart), and a taken lease then read as a renewal
    # (acquired_at <> renewed_at), so a replica that took a source over did not poll it
    # at once. ``excluded`` carries that one reading into the update.
    "INSERT INTO leases AS l (source, holder, token, acquired_at, renewed_at, expires_at) "
    "SELECT %(s)s, %(h)s, 1, n.t, n.t, n.t + %(ttl)s * interval '1 second' "
    "FROM (SELECT clock_timestamp() AS t) AS n "
    "ON CONFLICT (source) DO UPDATE SET "
    "token = CASE WHEN l.holder = excluded.holder AND l.expires_at > excluded.renewed_at "
    "THEN l.token ELSE l.token + 1 END, "
    "acquired_at = CASE WHEN l.holder = excluded.holder AND l.expires_at > excluded.renewed_at "
    "THEN l.acquired_at ELSE excluded.acquired_at END, "
    "takeovers = l.takeovers + CASE WHEN l.holder <> excluded.holder THEN 1 ELSE 0 END, "
    "holder = excluded.holder, renewed_at = excluded.renewed_at, "
    "expires_at = excluded.expires_at "
    "WHERE l.holder = excluded.holder OR l.expires_at <= excluded.renewed_at "
    "RETURNING token, acquired_at = renewed_at, "
    "extract(epoch FROM expires_at - clock_timestamp())"
)


class PostgresLeases(PgBase):
    """Leases in PostgreSQL, on a connection of their own."""

    lock_timeout_ms = 1000
    """How long an acquire waits for a lease row locked by a committing writer."""

    def acquire(self, source: str, holder: str, ttl: float) -> LeaseGrant | None:
        """Take or renew ``source``'s lease for ``ttl`` seconds; None when another holder's
        lease is still live (or its row stays locked past ``lock_timeout_ms``)."""
        with self._lock:
            conn = self._db()
            try:
                with conn.transaction():
                    conn.execute(
                        "SELECT set_config('lock_timeout', %s, true)",
                        (str(self.lock_timeout_ms),),
                    )
                    row = conn.execute(_ACQUIRE, {"s": source, "h": holder, "ttl": ttl}).fetchone()
            except psycopg.errors.LockNotAvailable:
                return None
            except psycopg.Error as exc:
                raise StoreError(f"state database {redact_url(self.url)}: {exc}") from None
        if row is None:
            return None
        return LeaseGrant(source, holder, int(row[0]), bool(row[1]), float(row[2]))

    def release(self, source: str, holder: str, token: int) -> bool:
        """End a lease now (a clean shutdown), so another replica need not wait the TTL."""
        return (
            self._exec(
                "UPDATE leases SET expires_at=clock_timestamp() "
                "WHERE source=%s AND holder=%s AND token=%s",
                (source, holder, token),
            )
            > 0
        )

    def leases(self) -> list[LeaseRow]:
        """Every lease row, live or expired, by source."""
        rows = self._rows(
            "SELECT source, holder, token, expires_at > clock_timestamp(), "
            "extract(epoch FROM expires_at - clock_timestamp()), takeovers "
            "FROM leases ORDER BY source"
        )
        return [
            LeaseRow(str(r[0]), str(r[1]), int(r[2]), bool(r[3]), float(r[4]), int(r[5]))
            for r in rows
        ]
