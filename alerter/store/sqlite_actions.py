"""SQLite incident actions (migration 0010): history, acknowledgements, baseline restarts."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime

from alerter.domain import SeriesKey
from alerter.store.actions import Action, ActionRecord, BaselineRestart, IncidentRef


def _ts(value: datetime) -> int:
    return int(value.timestamp())


def _dt(value: object) -> datetime:
    return datetime.fromtimestamp(int(value), UTC)  # type: ignore[call-overload]


def _key_json(key: SeriesKey) -> str:
    # the same text as incidents.grp, so restarts and incidents compare as strings
    return json.dumps([list(pair) for pair in key], separators=(",", ":"), ensure_ascii=False)


def _key_from(text: str) -> SeriesKey:
    return tuple((str(k), str(v)) for k, v in json.loads(text))


class SqliteIncidentActions:
    """Incident actions on the store's connection (statements join its open transaction)."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock) -> None:
        self._db = db
        self._lock = lock

    def record(self, record: ActionRecord) -> bool:
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO incident_actions (incident_id, action, actor, at, detail) "
                "VALUES (?,?,?,?,?)",
                (
                    record.incident_id,
                    record.action.value,
                    record.actor,
                    _ts(record.at),
                    record.detail,
                ),
            )
            return cur.rowcount > 0

    def history(self, incident_id: int) -> list[ActionRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT incident_id, action, actor, at, detail FROM incident_actions "
                "WHERE incident_id=? ORDER BY at, id",
                (incident_id,),
            ).fetchall()
        return [
            ActionRecord(int(r[0]), Action(r[1]), str(r[2]), _dt(r[3]), str(r[4])) for r in rows
        ]

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
                "SELECT id, rule, grp, status, first_window FROM incidents WHERE id=?",
                (incident_id,),
            ).fetchone()
        if row is None:
            return None
        return IncidentRef(
            int(row[0]), str(row[1]), _key_from(str(row[2])), str(row[3]), _dt(row[4])
        )

    def add_restart(self, restart: BaselineRestart) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO baseline_restarts (rule, grp, since, incident_id, actor, at) "
                "VALUES (?,?,?,?,?,?)",
                (
                    restart.rule,
                    _key_json(restart.group),
                    _ts(restart.since),
                    restart.incident_id,
                    restart.actor,
                    _ts(restart.at),
                ),
            )

    def restarts(self, rule: str | None = None) -> list[BaselineRestart]:
        query = "SELECT rule, grp, since, incident_id, actor, at FROM baseline_restarts"
        args: tuple[object, ...] = ()
        if rule is not None:
            query += " WHERE rule=?"
            args = (rule,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY since, rule, grp", args).fetchall()
        return [
            BaselineRestart(
                str(r[0]), _key_from(str(r[1])), _dt(r[2]), int(r[3]), str(r[4]), _dt(r[5])
            )
            for r in rows
        ]

    def last_payload(self, incident_id: int) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT payload FROM outbox WHERE incident_id=? ORDER BY id DESC LIMIT 1",
                (incident_id,),
            ).fetchone()
        return None if row is None else str(row[0])
