"""PostgreSQL incidents role: one row per incident, at most one open per (rule, group)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from alerter.domain import Incident, SeriesKey, Severity, key_json
from alerter.domain import key_from_json as key_from
from alerter.store.postgres_db import PgBase, dt, dt_not_null, ts

_COLUMNS = (
    "id, rule, grp, status, severity, opened_at, first_window, last_window, "
    "last_anomalous_window, observed, expected, peak_score, normal_streak, excess, currency, "
    "resolved_at, last_notified_at, revision, notified_delta, provisional, withdrawn"
)


def _incident(row: Any) -> Incident:
    return Incident(
        id=int(row[0]),
        rule=str(row[1]),
        group=key_from(str(row[2])),
        status=str(row[3]),
        severity=Severity(str(row[4])),
        opened_at=dt_not_null(row[5]),
        first_window=dt_not_null(row[6]),
        last_window=dt_not_null(row[7]),
        last_anomalous_window=dt_not_null(row[8]),
        observed=Decimal(str(row[9])),
        expected=Decimal(str(row[10])),
        peak_score=float(row[11]),
        normal_streak=int(row[12]),
        excess=Decimal(str(row[13])),
        currency=str(row[14]),
        resolved_at=dt(row[15]),
        last_notified_at=dt(row[16]),
        revision=int(row[17]),
        notified_delta=Decimal(str(row[18])),
        provisional=bool(row[19]),
        withdrawn=bool(row[20]),
    )


class PostgresIncidents(PgBase):
    """Incidents in PostgreSQL."""

    def open_incident(self, rule: str, group: SeriesKey) -> Incident | None:
        row = self._one(
            f"SELECT {_COLUMNS} FROM incidents "  # noqa: S608
            "WHERE rule=%s AND grp=%s AND status='open'",
            (rule, key_json(group)),
        )
        return None if row is None else _incident(row)

    def last_incident(self, rule: str, group: SeriesKey) -> Incident | None:
        row = self._one(
            f"SELECT {_COLUMNS} FROM incidents "  # noqa: S608
            "WHERE rule=%s AND grp=%s ORDER BY id DESC LIMIT 1",
            (rule, key_json(group)),
        )
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
            incident.provisional,
            incident.withdrawn,
        )
        with self.transaction():
            if incident.id == 0:
                row = self._one(
                    "INSERT INTO incidents (rule, grp, status, severity, opened_at, "
                    "first_window, last_window, last_anomalous_window, observed, expected, "
                    "peak_score, normal_streak, excess, currency, resolved_at, last_notified_at, "
                    "revision, notified_delta, provisional, withdrawn) "
                    "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s) "
                    "RETURNING id",
                    values,
                )
                return replace(incident, id=int(row[0]))
            self._exec(
                "UPDATE incidents SET rule=%s, grp=%s, status=%s, severity=%s, opened_at=%s, "
                "first_window=%s, last_window=%s, last_anomalous_window=%s, observed=%s, "
                "expected=%s, peak_score=%s, normal_streak=%s, excess=%s, currency=%s, "
                "resolved_at=%s, last_notified_at=%s, revision=%s, notified_delta=%s, "
                "provisional=%s, withdrawn=%s WHERE id=%s",
                (*values, incident.id),
            )
            return incident

    def incidents(self, status: str | None = None) -> list[Incident]:
        if status is None:
            rows = self._rows(f"SELECT {_COLUMNS} FROM incidents ORDER BY id")  # noqa: S608
        else:
            rows = self._rows(
                f"SELECT {_COLUMNS} FROM incidents WHERE status=%s ORDER BY id",  # noqa: S608
                (status,),
            )
        return [_incident(r) for r in rows]

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
