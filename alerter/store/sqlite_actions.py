"""SQLite incident actions (migration 0010): history, acknowledgements, baseline restarts."""

from __future__ import annotations

import sqlite3
import threading

from alerter.store.rows import Row
from alerter.store.sql_actions import SqlIncidentActions


class SqliteIncidentActions(SqlIncidentActions):
    """Incident actions on the store's connection (statements join its open transaction)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock

    def _rows(self, sql: str, args: tuple[object, ...]) -> list[Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _count(self, sql: str, args: tuple[object, ...]) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount
