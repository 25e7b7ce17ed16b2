"""The web UI's only door to the state: incidents, deliveries, silences, polls, coverage,
incident actions.

Every read and write the UI does goes through ``UiData``, which holds the store's
role-sized protocols (``store/base.py``) rather than a backend: an ``IncidentStore``,
an ``OutboxStore``, a ``SilenceStore``, a ``MarkStore``, a ``PointReader`` and, when the
store keeps them, its ``IncidentActions`` (``store/actions.py``). SQLite and PostgreSQL
state are read alike; a store without the actions role shows no acknowledgements and
offers no Acknowledge button.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerter import payload
from alerter.domain import Coverage, Incident, Notification, Silence
from alerter.incidents.silences import matching_silence
from alerter.notify.actions import ActionError, ActionOutcome, apply_action
from alerter.store.actions import Action, ActionRecord, IncidentActions, actions_of
from alerter.store.base import (
    IncidentStore,
    MarkStore,
    OutboxItem,
    OutboxStore,
    PointReader,
    PollStatus,
    SilenceStore,
    Store,
)


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """An incident with what the list page needs beside it."""

    incident: Incident
    silenced_by: int | None
    acknowledged: bool


class UiData:
    """Reads and writes of the web UI, over the store's roles."""

    def __init__(
        self,
        *,
        incidents: IncidentStore,
        outbox: OutboxStore,
        silences: SilenceStore,
        marks: MarkStore,
        points: PointReader,
        actions: IncidentActions | None = None,
        act: Store | None = None,
    ) -> None:
        self._incidents = incidents
        self._outbox = outbox
        self._silences = silences
        self._marks = marks
        self._points = points
        self._actions = actions
        self._act = act  # ``apply_action`` (the Slack buttons' path) takes the whole store

    @classmethod
    def of(cls, store: Store) -> UiData:
        """Every role from one store (SQLite or PostgreSQL)."""
        actions = actions_of(store)
        return cls(
            incidents=store,
            outbox=store,
            silences=store,
            marks=store,
            points=store,
            actions=actions,
            act=store if actions is not None else None,
        )

    # -- incidents --------------------------------------------------------------------
    def incidents(self, now: datetime, recent: timedelta) -> list[IncidentRow]:
        """Open incidents, and those resolved within ``recent`` before ``now``."""
        active = self._silences.silences(now)
        since = now - recent
        shown = [
            inc
            for inc in self._incidents.incidents()
            if inc.status == "open" or (inc.resolved_at is not None and inc.resolved_at >= since)
        ]
        acked = self._acknowledged_ids([i.id for i in shown])
        by_rule: dict[str, list[Silence]] = {}  # the silences whose rule glob fits, per rule
        rows = []
        for inc in shown:
            candidates = by_rule.get(inc.rule)
            if candidates is None:
                candidates = by_rule[inc.rule] = [s for s in active if _rule_fits(s, inc.rule)]
            hit = matching_silence(candidates, inc.rule, inc.group) if candidates else None
            rows.append(IncidentRow(inc, hit.id if hit else None, inc.id in acked))
        return rows

    def incident(self, incident_id: int, now: datetime) -> IncidentRow | None:
        for inc in self._incidents.incidents():
            if inc.id == incident_id:
                hit = matching_silence(self._silences.silences(now), inc.rule, inc.group)
                acked = incident_id in self._acknowledged_ids([incident_id])
                return IncidentRow(inc, hit.id if hit else None, acked)
        return None

    def opened_since(self, since: datetime) -> list[Incident]:
        """Incidents opened at or after ``since`` (open or resolved), for alert rates."""
        return [i for i in self._incidents.incidents() if i.opened_at >= since]

    def _acknowledged_ids(self, ids: list[int]) -> set[int]:
        if self._actions is None or not ids:
            return set()
        return self._actions.acknowledged(ids)

    # -- incident actions -------------------------------------------------------------
    @property
    def keeps_actions(self) -> bool:
        """Whether the store keeps incident actions (acknowledgements, history)."""
        return self._actions is not None

    def history(self, incident_id: int) -> list[ActionRecord]:
        """What people did to the incident (acknowledge, silence, expected change), oldest
        first; empty for a store without the actions role."""
        return self._actions.history(incident_id) if self._actions is not None else []

    def acknowledge(
        self, incident_id: int, actor: str, now: datetime, ack_targets: Sequence[str]
    ) -> ActionOutcome:
        """Acknowledge through ``apply_action``, the path the Slack button takes: recorded
        once in the incident's history (repeats stop), and ``ack_targets`` (on-call tools
        such as PagerDuty) that carry the incident are told. Raises ``ActionError``."""
        if self._act is None:
            raise ActionError("this state store does not keep incident actions")
        return apply_action(
            self._act, incident_id, Action.ACKNOWLEDGE, actor, now, ack_targets=ack_targets
        )

    # -- deliveries -------------------------------------------------------------------
    def deliveries(self, incident_id: int) -> list[OutboxItem]:
        """Every outbox row of the incident, oldest first: one per (event, notifier),
        with its attempts, status and last error (the store keeps no row per attempt)."""
        return [i for i in self._outbox.outbox_items() if i.incident_id == incident_id]

    @staticmethod
    def notification(item: OutboxItem) -> Notification | None:
        """The rendered notification an outbox row carries (chart history, contributors)."""
        try:
            return payload.loads(item.payload)
        except (ValueError, KeyError, TypeError):
            return None

    # -- silences ---------------------------------------------------------------------
    def silences(self) -> list[Silence]:
        return self._silences.silences()

    def add_silence(
        self,
        rule: str | None,
        matchers: dict[str, str],
        starts_at: datetime,
        ends_at: datetime,
        comment: str,
        created_by: str,
    ) -> int:
        return self._silences.add_silence(rule, matchers, starts_at, ends_at, comment, created_by)

    def expire_silence(self, silence_id: int) -> bool:
        """End a silence now; the same removal ``alerter silence remove`` does."""
        return self._silences.remove_silence(silence_id)

    # -- sources ----------------------------------------------------------------------
    def polls(self) -> dict[str, PollStatus]:
        return {p.source: p for p in self._marks.poll_status()}

    def coverage(self, source: str, since: datetime, until: datetime) -> list[Coverage]:
        return self._points.load_coverage(source, since, until)


def _rule_fits(silence: Silence, rule: str) -> bool:
    return silence.rule is None or fnmatch.fnmatchcase(rule, silence.rule)


def active_silences(silences: Iterable[Silence], now: datetime) -> list[Silence]:
    return [s for s in silences if s.starts_at <= now < s.ends_at]
