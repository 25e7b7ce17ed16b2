"""SQLite incident actions (migration 0010): history, acknowledgements, baseline restarts."""

from __future__ import annotations

import sqlite3
import threading

from alerter.store.actions import Action, ActionRecord, BaselineRestart, IncidentRef
from alerter.store.rows import (
    ACTION_COLUMNS,
    REF_COLUMNS,
    RESTART_COLUMNS,
    action_from_row,
    action_values,
    ref_from_row,
    restart_from_row,
    restart_values,
)


class SqliteIncidentActions:
    """Incident actions on the store's connection (statements join its open transaction)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock

    def record(self, record: ActionRecord) -> bool:
        with self._lock:
            cur = self._db.execute(
                f"INSERT OR IGNORE INTO incident_actions ({ACTION_COLUMNS}) "  # noqa: S608
                "VALUES (?,?,?,?,?)",
                action_values(record),
            )
            return cur.rowcount > 0

    def history(self, incident_id: int) -> list[ActionRecord]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {ACTION_COLUMNS} FROM incident_actions "  # noqa: S608
                "WHERE incident_id=? ORDER BY at, id",
                (incident_id,),
            ).fetchall()
        return [action_from_row(r) for r in rows]

    def acknowledged(self, incident_ids: list[int] | None = None) -> set[int]:
        query = "SELECT DISTINCT incident_id FROM incident_actions WHERE action=?"
        args: list[object] = [Action.ACKNOWLEDGE.value]
        if incident_ids is not None:
            if not incident_ids:
                return set()
            query += f" AND incident_id IN ({','.join('?' * len(incident_ids))})"
            args += incident_ids
        with self._lock:
            return {int(r[0]) for r in self._db.execute(query, args).fetchall()}

    def incident(self, incident_id: int) -> IncidentRef | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {REF_COLUMNS} FROM incidents WHERE id=?",  # noqa: S608
                (incident_id,),
            ).fetchone()
        return None if row is None else ref_from_row(row)

    def add_restart(self, restart: BaselineRestart) -> None:
        with self._lock:
            self._db.execute(
                f"INSERT OR IGNORE INTO baseline_restarts ({RESTART_COLUMNS}) "  # noqa: S608
                "VALUES (?,?,?,?,?,?)",
                restart_values(restart),
            )

    def restarts(self, rule: str | None = None) -> list[BaselineRestart]:
        query = f"SELECT {RESTART_COLUMNS} FROM baseline_restarts"  # noqa: S608
        args: tuple[object, ...] = ()
        if rule is not None:
            query += " WHERE rule=?"
            args = (rule,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY since, rule, grp", args).fetchall()
        return [restart_from_row(r) for r in rows]

    def last_payload(self, incident_id: int) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT payload FROM outbox WHERE incident_id=? ORDER BY id DESC LIMIT 1",
                (incident_id,),
            ).fetchone()
        return None if row is None else str(row[0])
