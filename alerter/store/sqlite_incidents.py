"""SQLite ``IncidentStore``: one open incident per (rule, group)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from alerter.domain import Incident, SeriesKey, key_json
from alerter.store.rows import (
    INCIDENT_COLUMNS,
    incident_from_row,
    incident_insert,
    incident_update,
    incident_values,
    ts,
)
from alerter.store.sqlite_db import SqliteDatabase

_COLUMNS = INCIDENT_COLUMNS
_INSERT = incident_insert("?")
_UPDATE = incident_update("?")


class SqliteIncidents(SqliteDatabase):
    """Incidents in the SQLite state file."""

    def open_incident(self, rule: str, group: SeriesKey) -> Incident | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM incidents "  # noqa: S608
                "WHERE rule=? AND grp=? AND status='open'",
                (rule, key_json(group)),
            ).fetchone()
        return None if row is None else incident_from_row(row)

    def last_incident(self, rule: str, group: SeriesKey) -> Incident | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM incidents "  # noqa: S608
                "WHERE rule=? AND grp=? ORDER BY id DESC LIMIT 1",
                (rule, key_json(group)),
            ).fetchone()
        return None if row is None else incident_from_row(row)

    def save_incident(self, incident: Incident) -> Incident:
        values = incident_values(incident)
        with self.transaction():
            if incident.id == 0:
                cur = self._db.execute(_INSERT, values)
                return replace(incident, id=int(cur.lastrowid or 0))
            self._db.execute(_UPDATE, (*values, incident.id))
            return incident

    def incidents(self, status: str | None = None) -> list[Incident]:
        query = f"SELECT {_COLUMNS} FROM incidents"  # noqa: S608
        args: tuple[object, ...] = ()
        if status is not None:
            query += " WHERE status=?"
            args = (status,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [incident_from_row(r) for r in rows]

    def prune_incidents(self, before: datetime) -> dict[str, int]:
        old = ts(before)
        with self.transaction():
            refs = self._db.execute(
                "DELETE FROM delivery_refs WHERE incident_id IN (SELECT id FROM incidents "
                "WHERE status='resolved' AND resolved_at<?) AND incident_id NOT IN "
                "(SELECT incident_id FROM outbox)",
                (old,),
            ).rowcount
            incidents = self._db.execute(
                "DELETE FROM incidents WHERE status='resolved' AND resolved_at<? AND id NOT IN "
                "(SELECT incident_id FROM outbox)",
                (old,),
            ).rowcount
        return {"delivery_refs": refs, "incidents": incidents}
