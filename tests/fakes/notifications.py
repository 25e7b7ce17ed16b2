"""Sample notifications for notifier tests, goldens, and the chart in docs/."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from alerter.clock import FakeClock
from alerter.domain import (
    Contributor,
    Direction,
    HistoryPoint,
    Notification,
    Reason,
    Severity,
    make_key,
)
from alerter.notify.base import NotifierContext

HOSTILE = "<!channel> *x* <https://evil|click>"
WINDOW_START = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


def daily_rhythm(hour: int) -> float:
    """Hourly spend of a service busy in the (UTC) afternoon, quiet at night."""
    return 40.0 + 25.0 * math.sin(2 * math.pi * (hour - 8) / 24)


def hourly_history(end: datetime, spike: float, hours: int = 7 * 24) -> tuple[HistoryPoint, ...]:
    points = []
    for i in range(hours, 0, -1):
        start = end - timedelta(hours=i)
        expected = daily_rhythm(start.hour)
        wobble = 1 + 0.06 * math.sin(i * 1.7) + 0.03 * math.cos(i * 0.37)
        observed = spike if i == 1 else round(expected * wobble, 2)
        points.append(
            HistoryPoint(
                start=start,
                observed=observed,
                expected=round(expected, 2),
                lower=round(expected * 0.8, 2),
                upper=round(expected * 1.2, 2),
            )
        )
    return tuple(points)


def sample(customer: str = "Acme Corp", **changes: object) -> Notification:
    """A critical hourly spike for one customer, with two contributors and a week of history."""
    start = WINDOW_START
    end = start + timedelta(hours=1)
    group = make_key({"customer_name": customer})
    msg = Notification(
        incident_id=42,
        rule="customer-hourly-spike",
        group=group,
        source="metronome",
        event=Reason.FIRST,
        severity=Severity.CRITICAL,
        window_start=start,
        window_end=end,
        observed=Decimal("412.50"),
        expected=Decimal("61.20"),
        lower=Decimal("48.96"),
        upper=Decimal("73.44"),
        score=9.8,
        direction=Direction.UP,
        contributors=(
            Contributor(
                key=make_key({"customer_name": customer, "line_item": "GPU hours"}),
                observed=Decimal("380.00"),
                expected=Decimal("40.00"),
                delta=Decimal("340.00"),
                share=0.9678,
            ),
            Contributor(
                key=make_key({"customer_name": customer, "line_item": "Storage"}),
                observed=Decimal("32.50"),
                expected=Decimal("21.20"),
                delta=Decimal("11.30"),
                share=0.0322,
            ),
        ),
        opened_at=end + timedelta(minutes=20),
        history=hourly_history(end, 412.5),
        step_seconds=3600,
        first_window=start,
        last_anomalous_window=start,
    )
    return dataclasses.replace(msg, **changes) if changes else msg  # type: ignore[arg-type]


def resolved(customer: str = "Acme Corp") -> Notification:
    first = sample(customer)
    assert first.opened_at is not None
    # a 3-hour spike, resolved by the third normal window after it
    normal = first.window_start + timedelta(hours=5)
    return dataclasses.replace(
        first,
        event=Reason.RESOLVED,
        window_start=normal,
        window_end=normal + timedelta(hours=1),
        observed=Decimal("63.80"),
        contributors=(),
        resolved_at=first.opened_at + timedelta(hours=6, minutes=30),
        excess=Decimal("1204.75"),
        last_anomalous_window=first.window_start + timedelta(hours=2),
    )


def context(env: dict[str, str] | None = None, config_dir: Path | None = None) -> NotifierContext:
    """A notifier context on a fake clock (sleeping only advances it)."""
    return NotifierContext(
        clock=FakeClock(datetime(2026, 3, 10, 15, 25, tzinfo=UTC)),
        env=dict(env or {}),
        config_dir=config_dir or Path("."),
    )
