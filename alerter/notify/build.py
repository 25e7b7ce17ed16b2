"""An incident change -> the ``Notification`` the notify pipeline carries.

Money comes out of the evaluation's float64 arrays as ``Decimal``; contributors (root
cause) and the chart history are computed here, only for the cells that notify.
"""

from __future__ import annotations

from alerter.detect.engine import RuleEvaluation
from alerter.domain import Direction, Notification, Reason
from alerter.incidents.track import Change

_SETTLED = {
    Reason.CONFIRMED: (Reason.LATE_DATA, "confirmed"),
    Reason.WITHDRAWN: (Reason.RESOLVED, "withdrawn"),
}
"""An early alert settling is told as an update of it (``late_data``) or its end
(``resolved``), with ``outcome`` saying which: what renderers and payloads key on."""


def build_notification(
    result: RuleEvaluation, rule: str, source: str, g: int, change: Change
) -> Notification:
    """The notification of ``change`` to group ``g``'s incident under ``rule``."""
    j = change.column
    incident = change.incident
    event, outcome = _SETTLED.get(change.reason, (change.reason, ""))
    start, end = result.window(j)
    observed = result.decimal(result.observed, g, j)
    expected = result.decimal(result.verdicts.expected, g, j)
    return Notification(
        incident_id=incident.id,
        rule=rule,
        group=incident.group,
        source=source,
        event=event,
        severity=incident.severity,
        window_start=start,
        window_end=end,
        observed=observed,
        expected=expected,
        lower=result.decimal(result.verdicts.lower, g, j),
        upper=result.decimal(result.verdicts.upper, g, j),
        score=float(result.verdicts.score[g, j]),
        direction=Direction.UP if observed >= expected else Direction.DOWN,
        currency=incident.currency,
        contributors=result.contributors(g, j) if event is not Reason.RESOLVED else (),
        opened_at=incident.opened_at,
        resolved_at=incident.resolved_at,
        excess=incident.excess,
        history=result.history(g, j),
        step_seconds=int(result.grouping.frame.step.total_seconds()),
        partial=change.window.partial,
        outcome=outcome,
        first_window=incident.first_window,
        last_anomalous_window=incident.last_anomalous_window,
    )
