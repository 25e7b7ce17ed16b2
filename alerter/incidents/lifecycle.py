"""Pure incident transitions: (incident, judged window, now, policy) -> (incident, Reason).

No I/O here. One incident per (rule, group) while anomalous; a window already judged is
never judged twice unless its data was revised (late data), so re-running a cycle over
unchanged data changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from alerter.domain import Incident, Reason, SeriesKey, Severity


@dataclass(frozen=True, slots=True)
class JudgedWindow:
    """One judged window of one group, money already Decimal."""

    start: datetime
    end: datetime
    observed: Decimal
    expected: Decimal
    score: float
    anomalous: bool
    revised: bool = False
    partial: bool = False
    """An open (or not yet settled) window judged early on the spend so far."""


@dataclass(frozen=True, slots=True)
class Policy:
    """Lifecycle knobs from the rule and the ``[alerter]`` table."""

    severity: Severity
    resolve_after: int
    repeat_interval: timedelta | None = None
    escalate_ratio: Decimal = Decimal("1.5")
    currency: str = "USD"


def advance(
    incident: Incident | None,
    window: JudgedWindow,
    now: datetime,
    policy: Policy,
    rule: str,
    group: SeriesKey,
) -> tuple[Incident | None, Reason]:
    """Advance the (rule, group) incident by one judged window.

    ``incident`` is the open incident, if any (a resolved one counts as none). Returns
    the new state (``id == 0`` for a newly opened one) and why anything is to be said.
    """
    if window.partial:
        return _early(incident, window, now, policy, rule, group)
    if (
        incident is not None
        and incident.provisional
        and incident.status == "open"
        and window.start == incident.first_window
    ):
        return _settle_provisional(incident, window, now)
    if (
        incident is not None
        and window.revised
        and incident.first_window <= window.start <= incident.last_window
    ):
        return _late_data(incident, window, now)
    if incident is not None and incident.status != "open":
        incident = None
    if incident is None:
        if not window.anomalous:
            return None, Reason.NONE
        opened = Incident(
            id=0,
            rule=rule,
            group=group,
            status="open",
            severity=policy.severity,
            opened_at=window.start,
            first_window=window.start,
            last_window=window.start,
            last_anomalous_window=window.start,
            observed=window.observed,
            expected=window.expected,
            peak_score=window.score,
            normal_streak=0,
            excess=window.observed - window.expected,
            currency=policy.currency,
            last_notified_at=now,
            notified_delta=window.observed - window.expected,
        )
        return opened, Reason.FIRST

    if window.start <= incident.last_window:
        return incident, Reason.NONE  # judged before and not revised: idempotent

    if window.anomalous:
        delta = window.observed - window.expected
        updated = replace(
            incident,
            last_window=window.start,
            last_anomalous_window=window.start,
            observed=window.observed,
            expected=window.expected,
            peak_score=max(incident.peak_score, window.score),
            normal_streak=0,
            excess=incident.excess + delta,
        )
        if abs(delta) >= abs(incident.notified_delta) * policy.escalate_ratio and abs(delta) > 0:
            return replace(updated, last_notified_at=now, notified_delta=delta), Reason.ESCALATED
        due = policy.repeat_interval
        if due is not None and (
            incident.last_notified_at is None or now - incident.last_notified_at >= due
        ):
            return replace(updated, last_notified_at=now), Reason.REPEAT_DUE
        return updated, Reason.NONE

    streak = incident.normal_streak + 1
    if streak >= policy.resolve_after:
        resolved = replace(
            incident,
            last_window=window.start,
            normal_streak=streak,
            status="resolved",
            resolved_at=window.end,
            last_notified_at=now,
        )
        return resolved, Reason.RESOLVED
    return replace(incident, last_window=window.start, normal_streak=streak), Reason.NONE


def _late_data(incident: Incident, window: JudgedWindow, now: datetime) -> tuple[Incident, Reason]:
    """A revised window inside the incident's span (open or resolved): update in place.

    The incident's headline numbers follow the revision when it is the window they came
    from; a revision that changes nothing says nothing.
    """
    if not window.anomalous and window.start != incident.last_anomalous_window:
        return incident, Reason.NONE
    headline = window.start == incident.last_anomalous_window
    if headline and window.observed == incident.observed and window.expected == incident.expected:
        return incident, Reason.NONE
    updated = replace(incident, revision=incident.revision + 1, last_notified_at=now)
    if headline:
        old_delta = incident.observed - incident.expected
        new_delta = window.observed - window.expected
        updated = replace(
            updated,
            observed=window.observed,
            expected=window.expected,
            excess=incident.excess - old_delta + new_delta,
            peak_score=max(incident.peak_score, window.score),
            notified_delta=new_delta,
        )
    return updated, Reason.LATE_DATA


def _early(
    incident: Incident | None,
    window: JudgedWindow,
    now: datetime,
    policy: Policy,
    rule: str,
    group: SeriesKey,
) -> tuple[Incident | None, Reason]:
    """An unsettled window that already crossed the band opens a provisional incident;
    anything else about unsettled data waits for the window to settle."""
    if incident is not None or not window.anomalous:
        return incident, Reason.NONE
    opened, reason = advance(None, replace(window, partial=False), now, policy, rule, group)
    assert opened is not None
    return replace(opened, provisional=True), reason


def _settle_provisional(
    incident: Incident, window: JudgedWindow, now: datetime
) -> tuple[Incident, Reason]:
    """The early alert's window settled: confirm it in place (``CONFIRMED``), or withdraw
    it (``WITHDRAWN``, the incident resolved)."""
    if window.anomalous:
        delta = window.observed - window.expected
        confirmed = replace(
            incident,
            provisional=False,
            observed=window.observed,
            expected=window.expected,
            excess=delta,
            peak_score=max(incident.peak_score, window.score),
            last_notified_at=now,
            notified_delta=delta,
            revision=incident.revision + 1,
        )
        return confirmed, Reason.CONFIRMED
    withdrawn = replace(
        incident,
        status="resolved",
        withdrawn=True,
        observed=window.observed,
        expected=window.expected,
        excess=Decimal(0),
        resolved_at=window.end,
        last_notified_at=now,
    )
    return withdrawn, Reason.WITHDRAWN
