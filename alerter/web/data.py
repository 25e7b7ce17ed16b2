"""The web UI's only door to the state: incidents, deliveries, silences, polls, coverage.

Every read and write the UI does goes through ``UiData``, so moving the UI to other
store interfaces (role-sized protocols, another backend) is a change to this file
alone. It uses the current ``Store`` methods; methods that the current store lacks
(acknowledgements, per-attempt delivery history) answer from what it has and say so
in their docstrings.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerter.domain import Coverage, Incident, Notification
from alerter.incidents.silences import matching_silence
from alerter.notify import payload
from alerter.store.base import OutboxItem, PollStatus, Silence, Store


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """An incident with what the list page needs beside it."""

    incident: Incident
    silenced_by: int | None
    acknowledged: bool


class UiData:
    """Reads and writes of the web UI, over a ``Store``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    # -- incidents --------------------------------------------------------------------
    def incidents(self, now: datetime, recent: timedelta) -> list[IncidentRow]:
        """Open incidents, and those resolved within ``recent`` before ``now``."""
        active = self.store.silences(now)
        since = now - recent
        by_rule: dict[str, list[Silence]] = {}  # the silences whose rule glob fits, per rule
        rows = []
        for inc in self.store.incidents():
            if inc.status != "open" and (inc.resolved_at is None or inc.resolved_at < since):
                continue
            candidates = by_rule.get(inc.rule)
            if candidates is None:
                candidates = by_rule[inc.rule] = [s for s in active if _rule_fits(s, inc.rule)]
            hit = matching_silence(candidates, inc.rule, inc.group) if candidates else None
            rows.append(IncidentRow(inc, hit.id if hit else None, self.acknowledged(inc)))
        return rows

    def incident(self, incident_id: int, now: datetime) -> IncidentRow | None:
        for inc in self.store.incidents():
            if inc.id == incident_id:
                hit = matching_silence(self.store.silences(now), inc.rule, inc.group)
                return IncidentRow(inc, hit.id if hit else None, self.acknowledged(inc))
        return None

    def opened_since(self, since: datetime) -> list[Incident]:
        """Incidents opened at or after ``since`` (open or resolved), for alert rates."""
        return [i for i in self.store.incidents() if i.opened_at >= since]

    def acknowledged(self, incident: Incident) -> bool:
        """Whether someone acknowledged the incident; the current store keeps no
        acknowledgements, so this is the incident's ``acknowledged`` field when present."""
        return bool(getattr(incident, "acknowledged", False))

    # -- deliveries -------------------------------------------------------------------
    def deliveries(self, incident_id: int) -> list[OutboxItem]:
        """Every outbox row of the incident, oldest first: one per (event, notifier),
        with its attempts, status and last error (the store keeps no row per attempt)."""
        return [i for i in self.store.outbox_items() if i.incident_id == incident_id]

    @staticmethod
    def notification(item: OutboxItem) -> Notification | None:
        """The rendered notification an outbox row carries (chart history, contributors)."""
        try:
            return payload.loads(item.payload)
        except (ValueError, KeyError, TypeError):
            return None

    # -- silences ---------------------------------------------------------------------
    def silences(self) -> list[Silence]:
        return self.store.silences()

    def add_silence(
        self,
        rule: str | None,
        matchers: dict[str, str],
        starts_at: datetime,
        ends_at: datetime,
        comment: str,
        created_by: str,
    ) -> int:
        return self.store.add_silence(rule, matchers, starts_at, ends_at, comment, created_by)

    def expire_silence(self, silence_id: int) -> bool:
        """End a silence now; the same removal ``alerter silence remove`` does."""
        return self.store.remove_silence(silence_id)

    # -- sources ----------------------------------------------------------------------
    def polls(self) -> dict[str, PollStatus]:
        return {p.source: p for p in self.store.poll_status()}

    def coverage(self, source: str, since: datetime, until: datetime) -> list[Coverage]:
        return self.store.load_coverage(source, since, until)


def _rule_fits(silence: Silence, rule: str) -> bool:
    return silence.rule is None or fnmatch.fnmatchcase(rule, silence.rule)


def active_silences(silences: Iterable[Silence], now: datetime) -> list[Silence]:
    return [s for s in silences if s.starts_at <= now < s.ends_at]
