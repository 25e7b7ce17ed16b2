"""SQLite ``IncidentStore``: one open incident per (rule, group)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from alerter.domain import Incident, SeriesKey, Severity, key_from_json, key_json
from alerter.store.sqlite_db import (
    SqliteDatabase,
    as_float,
    as_int,
    as_str,
    dt,
    dt_or_none,
    ts,
)

_COLUMNS = (
    "id, rule, grp, status, severity, opened_at, first_window, last_window, "
    "last_anomalous_window, observed, expected, peak_score, normal_streak, excess, currency, "
    "resolved_at, last_notified_at, revision, notified_delta, provisional, withdrawn"
)


def _incident(row: tuple[object, ...]) -> Incident:
    return Incident(
        id=as_int(row[0]),
        rule=as_str(row[1]),
        group=key_from_json(as_str(row[2])),
        status=as_str(row[3]),
        severity=Severity(as_str(row[4])),
        opened_at=dt(row[5]),
        first_window=dt(row[6]),
        last_window=dt(row[7]),
        last_anomalous_window=dt(row[8]),
        observed=Decimal(as_str(row[9])),
        expected=Decimal(as_str(row[10])),
        peak_score=as_float(row[11]),
        normal_streak=as_int(row[12]),
        excess=Decimal(as_str(row[13])),
        currency=as_str(row[14]),
        resolved_at=dt_or_none(row[15]),
        last_notified_at=dt_or_none(row[16]),
        revision=as_int(row[17]),
        notified_delta=Decimal(as_str(row[18])),
        provisional=bool(row[19]),
        withdrawn=bool(row[20]),
    )


class SqliteIncidents(SqliteDatabase):
    """Incidents in the SQLite state file."""

    def open_incident(self, rule: str, group: SeriesKey) -> Incident | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM incidents "  # noqa: S608
                "WHERE rule=? AND grp=? AND status='open'",
                (rule, key_json(group)),
            ).fetchone()
        return None if row is None else _incident(row)

    def last_incident(self, rule: str, group: SeriesKey) -> Incident | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM incidents "  # noqa: S608
                "WHERE rule=? AND grp=? ORDER BY id DESC LIMIT 1",
                (rule, key_json(group)),
            ).fetchone()
        return None if row is None else _incident(row)

    def save_incident(self, incident: Incident) -> Incident:
        values = (
            incident.rule,
            key_json(incident.group),
            incident.status,
            incident.severity.value,
            ts(incident.opened_at),
            ts(incident.first_window),
            ts(incident.last_window),
            ts(incident.last_anomalous_window),
            str(incident.observed),
            str(incident.expected),
            incident.peak_score,
            incident.normal_streak,
            str(incident.excess),
            incident.currency,
            None if incident.resolved_at is None else ts(incident.resolved_at),
            None if incident.last_notified_at is None else ts(incident.last_notified_at),
            incident.revision,
            str(incident.notified_delta),
            int(incident.provisional),
            int(incident.withdrawn),
        )
        with self.transaction():
            if incident.id == 0:
                cur = self._db.execute(
                    f"INSERT INTO incidents ({_COLUMNS.removeprefix('id, ')}) "  # noqa: S608
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    values,
                )
                return replace(incident, id=int(cur.lastrowid or 0))
            self._db.execute(
                "UPDATE incidents SET rule=?, grp=?, status=?, severity=?, opened_at=?, "
                "first_window=?, last_window=?, last_anomalous_window=?, observed=?, expected=?, "
                "peak_score=?, normal_streak=?, excess=?, currency=?, resolved_at=?, "
                "last_notified_at=?, revision=?, notified_delta=?, provisional=?, withdrawn=? "
                "WHERE id=?",
                (*values, incident.id),
            )
            return incident

    def incidents(self, status: str | None = None) -> list[Incident]:
        query = f"SELECT {_COLUMNS} FROM incidents"  # noqa: S608
        args: tuple[object, ...] = ()
        if status is not None:
            query += " WHERE status=?"
            args = (status,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [_incident(r) for r in rows]

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
