"""The incident-actions role: what people did to an incident from a chat message.

Backends implement ``IncidentActions`` in a file named by role (``sqlite_actions.py``,
``postgres_actions.py``); a store offers it as its ``actions`` attribute, found with
``actions_of``. The stored rows map to these types in ``store/rows.py``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from alerter.domain import SeriesKey


class Action(enum.StrEnum):
    """A button on an incident message; the value is stored and used as the action_id suffix."""

    ACKNOWLEDGE = "acknowledge"
    SILENCE_24H = "silence_24h"
    SILENCE_7D = "silence_7d"
    EXPECTED_CHANGE = "expected_change"


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One action in an incident's history."""

    incident_id: int
    action: Action
    actor: str
    at: datetime
    detail: str = ""


@dataclass(frozen=True, slots=True)
class BaselineRestart:
    """From ``since`` on, ``group`` of ``rule`` is judged only from windows at or after it."""

    rule: str
    group: SeriesKey
    since: datetime
    incident_id: int
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class IncidentRef:
    """The few facts about an incident an action needs."""

    id: int
    rule: str
    group: SeriesKey
    status: str
    first_window: datetime


@runtime_checkable
class IncidentActions(Protocol):
    """Durable incident actions; every method is atomic and joins the store's transaction."""

    def record(self, record: ActionRecord) -> bool:
        """Store ``record``; False (and nothing changed) when this incident already has
        this action, which makes a double click or a redelivered envelope a no-op."""
        ...

    def history(self, incident_id: int) -> list[ActionRecord]:
        """The incident's actions, oldest first."""
        ...

    def acknowledged(self, incident_ids: list[int] | None = None) -> set[int]:
        """Ids (among ``incident_ids``, or all) that were acknowledged."""
        ...

    def incident(self, incident_id: int) -> IncidentRef | None:
        """The incident's facts, or None. Inside a transaction, actions on this incident
        by other processes (replicas) wait until it ends, so each sees the others' history."""
        ...

    def add_restart(self, restart: BaselineRestart) -> None:
        """Record a baseline restart (idempotent per rule, group and ``since``)."""
        ...

    def restarts(self, rule: str | None = None) -> list[BaselineRestart]:
        """Baseline restarts of ``rule`` (or all), oldest ``since`` first."""
        ...

    def last_payload(self, incident_id: int) -> str | None:
        """The stored body (``payload.dumps``) of the incident's latest notification."""
        ...


def actions_of(store: object) -> IncidentActions | None:
    """The store's incident-actions role, or None for a store without one."""
    role = getattr(store, "actions", None)
    return role if isinstance(role, IncidentActions) else None
