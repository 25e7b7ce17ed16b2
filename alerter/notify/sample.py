"""The sample incident ``alerter test-notify`` sends: clearly marked, with a chart."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal

from alerter.domain import Direction, HistoryPoint, Notification, Reason, Severity
from alerter.timeparse import floor_time

TEST_RULE = "alerter-test-notification"
TEST_GROUP = (("test", "sample incident - no action needed"),)


def sample_notification(now: datetime) -> Notification:
    """A made-up hourly spike ending at the last full hour before ``now``, with 7 days of
    history (a daily rhythm) so the chart is drawn; incident id 0, severity info."""
    end = floor_time(now, timedelta(hours=1))
    start = end - timedelta(hours=1)
    history = []
    for h in range(7 * 24, 0, -1):
        at = end - timedelta(hours=h)
        expected = 40.0 + 15.0 * math.sin(2 * math.pi * at.hour / 24)
        value = expected * (1.0 + 0.03 * math.sin(h * 1.7))
        history.append(HistoryPoint(at, round(value, 2), expected, expected - 8, expected + 8))
    last = history[-1].expected or 0.0
    expected_amount = Decimal(str(round(last, 2)))
    observed = (expected_amount * 4).quantize(Decimal("0.01"))
    history[-1] = HistoryPoint(start, float(observed), last, last - 8, last + 8)
    return Notification(
        incident_id=0,
        rule=TEST_RULE,
        group=TEST_GROUP,
        source="alerter test-notify",
        event=Reason.FIRST,
        severity=Severity.INFO,
        window_start=start,
        window_end=end,
        observed=observed,
        expected=expected_amount,
        lower=expected_amount - 8,
        upper=expected_amount + 8,
        score=0.0,
        direction=Direction.UP,
        opened_at=end,
        history=tuple(history),
        step_seconds=3600,
    )
