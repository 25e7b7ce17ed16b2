"""One group's incident through its judged windows: the per-group decision of a judging pass.

``track`` steps the (rule, group) incident through the windows in order with the pure
``lifecycle.advance``, saves each change (inside the caller's transaction) and returns the
changes worth a notification, each with its ``Reason`` (``first``, ``escalated``,
``late_data``, ``repeat_due``, ``resolved``, and for an early alert once its window
settled ``confirmed`` or ``withdrawn``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from alerter.domain import Incident, Reason, SeriesKey
from alerter.incidents import lifecycle


class IncidentBook(Protocol):
    """The incident store's part that tracking needs."""

    def last_incident(self, rule: str, group: SeriesKey) -> Incident | None:
        """The most recent incident of (rule, group), open or resolved."""
        ...

    def save_incident(self, incident: Incident) -> Incident:
        """Insert (``id == 0``) or update; returns it with its id."""
        ...


@dataclass(frozen=True, slots=True)
class Change:
    """An incident change worth a notification, at judged column ``column``."""

    column: int
    window: lifecycle.JudgedWindow
    incident: Incident
    reason: Reason
    at: datetime
    """When it happened (the cycle's now; a backtest's window end plus settle delay)."""


def track(
    book: IncidentBook,
    incident: Incident | None,
    windows: Iterable[tuple[int, lifecycle.JudgedWindow]],
    at: Callable[[lifecycle.JudgedWindow], datetime],
    policy: lifecycle.Policy,
    rule: str,
    group: SeriesKey,
) -> list[Change]:
    """Step the group's open ``incident`` (None: none open) through ``windows`` (column,
    judged window), oldest first. A revised window older than the open incident is late
    data for the group's last (resolved) incident. Every changed incident is saved."""
    changes: list[Change] = []
    for column, window in windows:
        when = at(window)
        current = incident
        if window.revised and (current is None or window.start < current.first_window):
            current = book.last_incident(rule, group)
        new, reason = lifecycle.advance(current, window, when, policy, rule, group)
        if new is not None and new != current:
            new = book.save_incident(new)
        if new is not None and new.status == "open":
            incident = new
        elif new is not None and current is incident:
            incident = None
        if reason is not Reason.NONE and new is not None:
            changes.append(Change(column, window, new, reason, when))
    return changes
