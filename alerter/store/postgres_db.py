"""PostgreSQL plumbing shared by the role files: connection, migrations, transactions, fences.

One connection (autocommit, explicit transactions) guarded by a lock, as the SQLite
store does; a lost connection (a server restart, or the server ending the session of a
process that was paused inside a transaction) is opened again on the next call. No
session state is relied on (no session advisory locks, no prepared statements, only
``SET LOCAL``), so it works behind PgBouncer in transaction pooling mode.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import psycopg

from alerter.errors import FencingRejected, StoreError
from alerter.store.leases import Fence

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x616C657274  # "alert": the transaction-level advisory lock of migrations


def is_postgres_url(state: str) -> bool:
    """True for ``postgresql://`` and ``postgres://`` state URLs."""
    return state.startswith(("postgresql://", "postgres://"))


def redact_url(url: str) -> str:
    """The URL without its password (for logs and errors)."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def ts(value: datetime) -> int:
    return int(value.timestamp())


def dt(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def dt_not_null(value: int) -> datetime:
    """A timestamp column declared NOT NULL, as an aware UTC datetime."""
    return datetime.fromtimestamp(value, UTC)


def migrations() -> list[tuple[int, str]]:
    folder = resources.files("alerter.store") / "pg_migrations"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def connect(url: str) -> psycopg.Connection[Any]:
    """An autocommit connection (transactions are explicit); raises ``StoreError``."""
    try:
        return psycopg.connect(url, autocommit=True, prepare_threshold=None, connect_timeout=10)
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to state database {redact_url(url)}: {exc}") from None


def migrate(conn: psycopg.Connection[Any], url: str) -> int:
    """Apply pending migrations, each in its own transaction under a transaction-level
    advisory lock, so replicas starting together apply each version exactly once.
    Returns the schema version."""
    known = migrations()
    latest = known[-1][0] if known else 0
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
    for version, sql in known:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
            current = int(row[0]) if row else 0
            if current > latest:
                raise StoreError(
                    f"state database {redact_url(url)} has schema version {current}, newer "
                    f"than this alerter knows ({latest}); upgrade alerter"
                )
            if version <= current:
                continue
            try:
                conn.execute(sql.encode())
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
            except psycopg.Error as exc:
                raise StoreError(
                    f"migration pg_migrations/{version:04d} failed on {redact_url(url)}: {exc}"
                ) from None
            log.info("store_migrated url=%s version=%d", redact_url(url), version)
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


class PgBase:
    """Connection, lock, nesting transactions and the per-thread fence of the store."""

    idle_timeout_ms = 30_000
    """A session idle inside a transaction longer than this is ended by the server (a
    paused replica must not keep a lease row locked)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.RLock()
        self._depth = 0
        self._local = threading.local()
        self._on_rollback: list[Callable[[], None]] = []
        """Called after a rollback (caches that may hold rolled-back rows drop them)."""
        self._conn: psycopg.Connection[Any] | None = connect(url)
        try:
            self.version = migrate(self._conn, url)
        except psycopg.Error as exc:
            self._conn.close()
            raise StoreError(f"cannot migrate state database {redact_url(url)}: {exc}") from None
        except BaseException:
            self._conn.close()
            raise

    # -- connection --------------------------------------------------------------------
    def _db(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            if conn is not None and self._depth:
                raise StoreError(f"connection to {redact_url(self.url)} lost in a transaction")
            self._conn = conn = connect(self.url)
        return conn

    def _rows(self, sql: str, args: tuple[object, ...] | dict[str, object] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._db().execute(sql.encode(), args).fetchall()
            except psycopg.Error as exc:
                raise StoreError(f"state database {redact_url(self.url)}: {exc}") from None

    def _one(self, sql: str, args: tuple[object, ...] | dict[str, object] = ()) -> Any:
        rows = self._rows(sql, args)
        return rows[0] if rows else None

    def _exec(self, sql: str, args: tuple[object, ...] | dict[str, object] = ()) -> int:
        """Run one statement (in the current transaction, if any); rows affected."""
        with self._lock:
            try:
                return self._db().execute(sql.encode(), args).rowcount
            except psycopg.Error as exc:
                raise StoreError(f"state database {redact_url(self.url)}: {exc}") from None

    def _many(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        if not rows:
            return
        with self._lock:
            try:
                with self._db().cursor() as cur:
                    cur.executemany(sql.encode(), rows)
            except psycopg.Error as exc:
                raise StoreError(f"state database {redact_url(self.url)}: {exc}") from None

    def _copy(self, sql: str, rows: list[tuple[object, ...]]) -> None:
        """Bulk insert with ``COPY ... FROM STDIN`` (many new points at once)."""
        if not rows:
            return
        with self._lock:
            try:
                with self._db().cursor() as cur, cur.copy(sql.encode()) as copy:
                    for row in rows:
                        copy.write_row(row)
            except psycopg.Error as exc:
                raise StoreError(f"state database {redact_url(self.url)}: {exc}") from None

    # -- transactions --------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A write transaction; nested calls join the outer one. Under ``fenced()``, the
        lease is re-checked (and locked against takeover) just before the commit."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            conn = self._db()
            try:
                with conn.transaction():
                    self._depth = 1
                    conn.execute(
                        "SELECT set_config('idle_in_transaction_session_timeout', %s, true)",
                        (str(self.idle_timeout_ms),),
                    )
                    yield
                    fence: Fence | None = getattr(self._local, "fence", None)
                    if fence is not None:
                        self._check_fence(conn, fence)
            except psycopg.Error as exc:
                self._rolled_back()
                raise StoreError(f"state database {redact_url(self.url)}: {exc}") from None
            except BaseException:
                self._rolled_back()
                raise
            finally:
                self._depth = 0

    def _rolled_back(self) -> None:
        for hook in self._on_rollback:
            hook()

    def _check_fence(self, conn: psycopg.Connection[Any], fence: Fence) -> None:
        row = conn.execute(
            "SELECT token FROM leases WHERE source=%s AND holder=%s AND token=%s "
            "AND expires_at > clock_timestamp() FOR SHARE",
            (fence.source, fence.holder, fence.token),
        ).fetchone()
        if row is None:
            raise FencingRejected(
                f"lease of source {fence.source!r} (token {fence.token}) is no longer held by "
                f"{fence.holder}: the cycle's writes were rolled back"
            )

    @contextmanager
    def fenced(self, fence: Fence | None) -> Iterator[None]:
        """Writes of this thread commit only while ``fence`` still holds its lease."""
        previous = getattr(self._local, "fence", None)
        self._local.fence = fence
        try:
            yield
        finally:
            self._local.fence = previous

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def schema_version(self) -> int:
        row = self._one("SELECT coalesce(max(version), 0) FROM schema_migrations")
        return int(row[0]) if row else 0
