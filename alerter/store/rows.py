"""Stored rows as domain types, shared by the SQLite and PostgreSQL roles.

Both backends store the same columns in the same forms (times as Unix seconds, money as
exact decimal text, group keys as ``key_json``), so one mapping serves both: the column
readers, incidents, and the incident-actions rows (``store/actions.py``). Only the SQL
differs between backends. A value of the wrong type is a corrupt row: ``StoreError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from alerter.domain import Incident, Severity, key_from_json, key_json
from alerter.errors import StoreError
from alerter.store.actions import Action, ActionRecord, BaselineRestart, IncidentRef

Row = Sequence[object]


# -- column readers -----------------------------------------------------------------------
def ts(value: datetime) -> int:
    """Aware datetime -> Unix seconds (the stored form of every time)."""
    return int(value.timestamp())


def ts_or_none(value: datetime | None) -> int | None:
    return None if value is None else ts(value)


def dt(value: object) -> datetime:
    """Stored Unix seconds -> aware UTC datetime."""
    return datetime.fromtimestamp(as_int(value), UTC)


def dt_or_none(value: object) -> datetime | None:
    return None if value is None else dt(value)


def as_int(value: object) -> int:
    """A stored integer column (both drivers give int; anything else is a corrupt row)."""
    if isinstance(value, int):
        return value
    raise StoreError(f"corrupt state: expected an integer, got {type(value).__name__}")


def as_str(value: object) -> str:
    return value if isinstance(value, str) else str(value)


def as_float(value: object) -> float:
    if isinstance(value, int | float):
        return float(value)
    raise StoreError(f"corrupt state: expected a number, got {type(value).__name__}")


def str_or_none(value: object) -> str | None:
    return None if value is None else as_str(value)


# -- incidents ----------------------------------------------------------------------------
INCIDENT_COLUMNS = (
    "id, rule, grp, status, severity, opened_at, first_window, last_window, "
    "last_anomalous_window, observed, expected, peak_score, normal_streak, excess, currency, "
    "resolved_at, last_notified_at, revision, notified_delta, provisional, withdrawn"
)
"""The ``incidents`` columns, in the order ``incident_from_row`` reads them."""


def incident_insert(mark: str) -> str:
    """The INSERT of a new incident (every column but ``id``, values as
    ``incident_values``); ``mark`` is the driver's placeholder (``?`` or ``%s``)."""
    names = INCIDENT_COLUMNS.removeprefix("id, ")
    return f"INSERT INTO incidents ({names}) VALUES ({', '.join([mark] * 20)})"  # noqa: S608


def incident_update(mark: str) -> str:
    """The UPDATE of an incident by id (values: ``incident_values`` then the id)."""
    names = INCIDENT_COLUMNS.split(", ")[1:]
    sets = ", ".join(f"{name}={mark}" for name in names)
    return f"UPDATE incidents SET {sets} WHERE id={mark}"  # noqa: S608


def incident_from_row(row: Row) -> Incident:
    """An ``incidents`` row selected as ``INCIDENT_COLUMNS``."""
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


def incident_values(incident: Incident) -> tuple[object, ...]:
    """The stored values of every column but ``id``, in ``INCIDENT_COLUMNS`` order
    (flags as bool: SQLite stores them as 1/0, PostgreSQL as BOOLEAN)."""
    return (
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
        ts_or_none(incident.resolved_at),
        ts_or_none(incident.last_notified_at),
        incident.revision,
        str(incident.notified_delta),
        incident.provisional,
        incident.withdrawn,
    )


# -- incident actions ---------------------------------------------------------------------
ACTION_COLUMNS = "incident_id, action, actor, at, detail"
RESTART_COLUMNS = "rule, grp, since, incident_id, actor, at"
REF_COLUMNS = "id, rule, grp, status, first_window"


def action_values(record: ActionRecord) -> tuple[object, ...]:
    """An ``incident_actions`` row's values, in ``ACTION_COLUMNS`` order."""
    return (record.incident_id, record.action.value, record.actor, ts(record.at), record.detail)


def action_from_row(row: Row) -> ActionRecord:
    return ActionRecord(
        as_int(row[0]), Action(as_str(row[1])), as_str(row[2]), dt(row[3]), as_str(row[4])
    )


def restart_values(restart: BaselineRestart) -> tuple[object, ...]:
    """A ``baseline_restarts`` row's values, in ``RESTART_COLUMNS`` order (the group as
    ``incidents.grp`` stores it, so the two compare as text)."""
    return (
        restart.rule,
        key_json(restart.group),
        ts(restart.since),
        restart.incident_id,
        restart.actor,
        ts(restart.at),
    )


def restart_from_row(row: Row) -> BaselineRestart:
    return BaselineRestart(
        as_str(row[0]),
        key_from_json(as_str(row[1])),
        dt(row[2]),
        as_int(row[3]),
        as_str(row[4]),
        dt(row[5]),
    )


def ref_from_row(row: Row) -> IncidentRef:
    """An incident selected as ``REF_COLUMNS``."""
    return IncidentRef(
        as_int(row[0]), as_str(row[1]), key_from_json(as_str(row[2])), as_str(row[3]), dt(row[4])
    )
