from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

from alerter.domain import Reason, Severity
from alerter.incidents.lifecycle import JudgedWindow, Policy, advance
from tests.conftest import T0

H = timedelta(hours=1)
G = (("team", "a"),)
POLICY = Policy(severity=Severity.WARNING, resolve_after=2, repeat_interval=timedelta(hours=3))


def w(
    hour: int, observed: str, anomalous: bool, expected: str = "10", revised: bool = False
) -> JudgedWindow:
    start = T0 + hour * H
    return JudgedWindow(
        start, start + H, Decimal(observed), Decimal(expected), 3.0, anomalous, revised
    )


def run(windows, incident=None, now_offset=timedelta(0)):
    reasons = []
    for window in windows:
        incident, reason = advance(incident, window, window.end + now_offset, POLICY, "r", G)
        if incident is not None and incident.id == 0:
            incident = replace(incident, id=1)
        reasons.append(reason)
        if incident is not None and incident.status != "open":
            incident_out = incident
            incident = None
            last = incident_out
        else:
            last = incident
    return reasons, last


def test_one_incident_for_a_six_hour_spike_then_resolve():
    windows = [w(h, "50", True) for h in range(6)] + [w(6, "10", False), w(7, "10", False)]
    reasons, last = run(windows)
    assert reasons == [Reason.FIRST] + [Reason.NONE] * 2 + [Reason.REPEAT_DUE] + [
        Reason.NONE
    ] * 2 + [Reason.NONE, Reason.RESOLVED]
    assert last.status == "resolved"
    assert last.excess == Decimal(40 * 6)
    assert last.resolved_at == T0 + 8 * H


def test_escalation_when_the_delta_grows():
    reasons, last = run([w(0, "20", True), w(1, "24", True), w(2, "40", True)])
    assert reasons == [Reason.FIRST, Reason.NONE, Reason.ESCALATED]
    assert last.notified_delta == Decimal(30)


def test_a_normal_blip_resets_the_resolve_streak():
    reasons, _ = run(
        [
            w(0, "50", True),
            w(1, "10", False),
            w(2, "50", True),
            w(3, "10", False),
            w(4, "10", False),
        ]
    )
    assert reasons.count(Reason.FIRST) == 1
    assert reasons[-1] is Reason.RESOLVED


def test_rejudging_the_same_window_is_a_no_op():
    opened, reason = advance(None, w(0, "50", True), T0, POLICY, "r", G)
    assert reason is Reason.FIRST
    assert opened is not None
    incident = replace(opened, id=1)
    again, reason = advance(incident, w(0, "50", True), T0 + H, POLICY, "r", G)
    assert (again, reason) == (incident, Reason.NONE)


def test_late_data_updates_the_open_incident():
    opened, _ = advance(None, w(0, "50", True), T0, POLICY, "r", G)
    assert opened is not None
    incident = replace(opened, id=1)
    updated, reason = advance(incident, w(0, "80", True, revised=True), T0 + H, POLICY, "r", G)
    assert reason is Reason.LATE_DATA
    assert updated is not None
    assert updated.observed == Decimal(80) and updated.excess == Decimal(70)
    assert updated.revision == 1
    same, reason = advance(updated, w(0, "80", True, revised=True), T0 + 2 * H, POLICY, "r", G)
    assert reason is Reason.NONE and same == updated


def test_normal_windows_without_incident_say_nothing():
    assert advance(None, w(0, "10", False), T0, POLICY, "r", G) == (None, Reason.NONE)


def test_an_early_alert_settling_is_confirmed_or_withdrawn():
    early = replace(w(0, "50", True), partial=True)
    opened, reason = advance(None, early, T0 + H / 2, POLICY, "r", G)
    assert reason is Reason.FIRST and opened is not None and opened.provisional
    opened = replace(opened, id=1)

    confirmed, reason = advance(opened, w(0, "60", True), T0 + 2 * H, POLICY, "r", G)
    assert reason is Reason.CONFIRMED
    assert confirmed is not None and not confirmed.provisional and confirmed.status == "open"

    withdrawn, reason = advance(opened, w(0, "11", False), T0 + 2 * H, POLICY, "r", G)
    assert reason is Reason.WITHDRAWN
    assert withdrawn is not None and withdrawn.withdrawn and withdrawn.status == "resolved"
