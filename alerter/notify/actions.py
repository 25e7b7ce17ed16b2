"""Incident actions taken from a chat message: acknowledge, silence, expected change.

``apply_action`` is the one place that changes state for a button press, in one store
transaction: the action is recorded in the incident's history (once: a double click or a
redelivered envelope finds it there and changes nothing), then its effect is applied and
the notifications it causes go to the outbox.
"""

from __future__ import annotations

import glob
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from alerter.domain import Reason, SeriesKey
from alerter.notify import payload
from alerter.store.actions import (
    Action,
    ActionRecord,
    BaselineRestart,
    IncidentActions,
    IncidentRef,
    actions_of,
)
from alerter.store.base import Store
from alerter.timeparse import format_time

log = logging.getLogger(__name__)

SILENCE_FOR = {Action.SILENCE_24H: timedelta(hours=24), Action.SILENCE_7D: timedelta(days=7)}
EXPECTED_CHANGE = "expected_change"
"""``Notification.outcome`` of a resolve caused by the Expected change button."""


class ActionError(Exception):
    """The action cannot be applied (unknown incident, a store without actions)."""


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """What a press did: ``applied`` is False when the action had been taken already."""

    incident: IncidentRef
    action: Action
    applied: bool
    history: list[ActionRecord]
    detail: str


def silence_matchers(ref: IncidentRef) -> dict[str, str]:
    """Matchers for exactly this group: values are globs, so their own ``*?[`` are escaped."""
    return {name: glob.escape(value) for name, value in ref.group}


def apply_action(
    store: Store,
    incident_id: int,
    action: Action,
    actor: str,
    now: datetime,
    *,
    ack_targets: Sequence[str] = (),
    resolve_targets: Sequence[str] = (),
) -> ActionOutcome:
    """Record and apply ``action`` on incident ``incident_id`` by ``actor`` at ``now``.

    ``ack_targets`` are notifiers told about an acknowledgement (on-call tools) and
    ``resolve_targets`` those told about a resolve by Expected change; each is sent only
    if it already carries the incident (it has a delivery ref). Raises ``ActionError``.
    """
    actions = actions_of(store)
    if actions is None:
        raise ActionError("this state store does not keep incident actions")
    with store.transaction():
        ref = actions.incident(incident_id)
        if ref is None:
            raise ActionError(f"no incident #{incident_id}")
        detail = _detail(action, now)
        applied = actions.record(ActionRecord(incident_id, action, actor, now, detail))
        if applied:
            _effect(store, actions, ref, action, actor, now, ack_targets, resolve_targets)
        history = actions.history(incident_id)
    log.info(
        "incident_action incident=%d rule=%s action=%s actor=%s applied=%s",
        incident_id,
        ref.rule,
        action.value,
        actor,
        applied,
    )
    return ActionOutcome(ref, action, applied, history, detail)


def _detail(action: Action, now: datetime) -> str:
    if action in SILENCE_FOR:
        return f"silenced until {format_time(now + SILENCE_FOR[action])}"
    if action is Action.EXPECTED_CHANGE:
        return "resolved; the baseline restarts from the incident's first window"
    return "repeats stopped"


def _effect(
    store: Store,
    actions: IncidentActions,
    ref: IncidentRef,
    action: Action,
    actor: str,
    now: datetime,
    ack_targets: Sequence[str],
    resolve_targets: Sequence[str],
) -> None:
    if action in SILENCE_FOR:
        store.add_silence(
            ref.rule,
            silence_matchers(ref),
            now,
            now + SILENCE_FOR[action],
            comment=f"from chat: incident #{ref.id}",
            created_by=actor,
        )
    elif action is Action.ACKNOWLEDGE:
        _tell(store, actions, ref, Reason.ACKNOWLEDGED, now, ack_targets)
    elif action is Action.EXPECTED_CHANGE:
        actions.add_restart(
            BaselineRestart(ref.rule, ref.group, ref.first_window, ref.id, actor, now)
        )
        incident = store.open_incident(ref.rule, ref.group)
        if incident is not None and incident.id == ref.id:
            store.save_incident(
                replace(incident, status="resolved", resolved_at=now, last_notified_at=now)
            )
            _tell(store, actions, ref, Reason.RESOLVED, now, resolve_targets, EXPECTED_CHANGE)


def _tell(
    store: Store,
    actions: IncidentActions,
    ref: IncidentRef,
    event: Reason,
    now: datetime,
    targets: Sequence[str],
    outcome: str = "",
) -> None:
    """Enqueue ``event`` (built from the incident's last notification) to ``targets``
    that already carry the incident."""
    last = actions.last_payload(ref.id)
    if last is None:
        return
    before = payload.loads(last)
    msg = replace(before, event=event, outcome=outcome or before.outcome)
    if event is Reason.RESOLVED:
        msg = replace(msg, resolved_at=now, contributors=())
    for target in targets:
        if store.delivery_ref(ref.id, target) is not None:
            store.enqueue(msg, target, now)


def history_notes(store: object, rule: str, group: SeriesKey) -> list[str]:
    """Lines for ``explain``: the group's baseline restarts and what people did to its
    incidents from chat, oldest first (none for a store without actions)."""
    actions = actions_of(store)
    if actions is None:
        return []
    notes = [
        f"baseline restarted at {format_time(r.since)} (expected change, incident "
        f"#{r.incident_id}, by {r.actor} at {format_time(r.at)}): earlier windows not used"
        for r in actions.restarts(rule)
        if r.group == group
    ]
    incidents = getattr(store, "incidents", None)
    for incident in incidents() if callable(incidents) else []:
        if incident.rule == rule and incident.group == group:
            notes += [
                f"incident #{incident.id}: {r.action.value} by {r.actor} at "
                f"{format_time(r.at)} ({r.detail})"
                for r in actions.history(incident.id)
            ]
    return notes
