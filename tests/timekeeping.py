"""The one place tests get "now": fixed instants and clocks that start from them.

Tests never read the calendar (``tests/unit/test_no_wall_clock.py`` enforces it): a
unit test moves a :class:`~alerter.clock.FakeClock`; a test that runs real processes
(a daemon, ``alerter run --once``, a fake server in a child) pins their clocks to a fixed
start with ``ALERTER_CLOCK_START`` and lets them run at the real pace from there.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerter.clock import CLOCK_ORIGIN_ENV, CLOCK_START_ENV, PinnedClock

T0 = datetime(2026, 9, 7, tzinfo=UTC)
"""The default "now" of the suite: Monday 2026-09-07 00:00 UTC."""

PINNED_START = datetime(2026, 9, 9, 10, 30, tzinfo=UTC)
"""Where real processes' clocks start by default: a Wednesday mid-morning, mid-hour."""


def pin_clock(monkeypatch: pytest.MonkeyPatch, start: datetime = PINNED_START) -> PinnedClock:
    """Pin this process's alerter clock (and its children's, through the environment).

    The origin goes along: a process (or an in-process ``main()``) started later continues
    this clock's timeline instead of starting over at ``start``, so a restarted daemon
    never reads an earlier "now" than its predecessor wrote.
    """
    clock = PinnedClock(start)
    monkeypatch.setenv(CLOCK_START_ENV, start.isoformat())
    monkeypatch.setenv(CLOCK_ORIGIN_ENV, repr(clock.origin))
    return clock


def epoch_seconds(clock: PinnedClock) -> float:
    """``clock``'s time as Unix seconds, for fakes that speak epoch seconds."""
    return clock.now().timestamp()
