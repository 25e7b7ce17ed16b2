"""PostgreSQL incidents role: one row per incident, at most one open per (rule, group)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from alerter.domain import Incident, SeriesKey, key_json
from alerter.store.postgres_db import PgBase, ts
from alerter.store.rows import (
    INCIDENT_COLUMNS,
    incident_from_row,
    incident_insert,
    incident_update,
    incident_values,
)

_COLUMNS = INCIDENT_COLUMNS
_INSERT = incident_insert("%s") + " RETURNING id"
_UPDATE = incident_update("%s")


class PostgresIncidents(PgBase):
    """Incidents in PostgreSQL."""

    def open_incident(self, rule: str, group: SeriesKey) -> Incident | None:
        row = self._one(
            f"SELECT {_COLUMNS} FROM incidents "  # noqa: S608
            "WHERE rule=%s AND grp=%s AND status='open'",
            (rule, key_json(group)),
        )
        return None if row is None else incident_from_row(row)

    def last_incident(self, rule: str, group: SeriesKey) -> Incident | None:
        row = self._one(
            f"SELECT {_COLUMNS} FROM incidents "  # noqa: S608
            "WHERE rule=%s AND grp=%s ORDER BY id DESC LIMIT 1",
            (rule, key_json(group)),
        )
        return None if row is None else incident_from_row(row)

    def save_incident(self, incident: Incident) -> Incident:
        values = incident_values(incident)
        with self.transaction():
            if incident.id == 0:
                row = self._one(_INSERT, values)
                return replace(incident, id=int(row[0]))
            self._exec(_UPDATE, (*values, incident.id))
            return incident

    def incidents(self, status: str | None = None) -> list[Incident]:
        if status is None:
            rows = self._rows(f"SELECT {_COLUMNS} FROM incidents ORDER BY id")  # noqa: S608
        else:
            rows = self._rows(
                f"SELECT {_COLUMNS} FROM incidents WHERE status=%s ORDER BY id",  # noqa: S608
                (status,),
            )
        return [incident_from_row(r) for r in rows]

    def prune_incidents(self, before: datetime) -> dict[str, int]:
        old = ts(before)
        with self.transaction():
            return {
                "delivery_refs": self._exec(
                    "DELETE FROM delivery_refs WHERE incident_id IN (SELECT id FROM incidents "
                    "WHERE status='resolved' AND resolved_at<%s) AND incident_id NOT IN "
                    "(SELECT incident_id FROM outbox)",
                    (old,),
                ),
                "incidents": self._exec(
                    "DELETE FROM incidents WHERE status='resolved' AND resolved_at<%s AND id NOT "
                    "IN (SELECT incident_id FROM outbox)",
                    (old,),
                ),
            }
