from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from alerter.clock import (
    CLOCK_ORIGIN_ENV,
    CLOCK_START_ENV,
    PinnedClock,
    SystemClock,
    clock_from_env,
)
from tests.timekeeping import PINNED_START


def test_a_pinned_clock_starts_where_told_and_moves_forward() -> None:
    clock = PinnedClock(PINNED_START)
    first = clock.now()
    second = clock.now()
    assert PINNED_START <= first <= second < PINNED_START + timedelta(minutes=1)
    assert first.tzinfo == UTC


def test_a_pinned_clock_converts_an_offset_to_utc() -> None:
    start = datetime(2027, 3, 28, 3, 30, tzinfo=timezone(timedelta(hours=2)))
    assert PinnedClock(start).now() >= datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="aware"):
        PinnedClock(datetime(2027, 3, 28, 1, 30))


@pytest.mark.parametrize(
    ("value", "kind"),
    [("", SystemClock), ("  ", SystemClock), ("2026-09-09T10:30:00Z", PinnedClock)],
)
def test_the_environment_chooses_the_clock(value: str, kind: type) -> None:
    clock = clock_from_env({CLOCK_START_ENV: value})
    assert type(clock) is kind


def test_the_environment_pins_the_start() -> None:
    clock = clock_from_env({CLOCK_START_ENV: "2028-02-29T12:00:00+00:00"})
    assert clock.now().date() == datetime(2028, 2, 29).date()


@pytest.mark.parametrize(
    ("value", "message"),
    [("yesterday", "not an RFC 3339 time"), ("2026-09-09T10:30:00", "needs a UTC offset")],
)
def test_a_bad_clock_start_names_the_variable(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"{CLOCK_START_ENV}: {message}"):
        clock_from_env({CLOCK_START_ENV: value})


def test_a_clock_from_the_environment_continues_the_pinned_timeline() -> None:
    # a process started later (a restart) must not read an earlier "now" than its parent
    parent = PinnedClock(PINNED_START)
    an_hour_ago = parent.origin - 3600.0  # as if the parent had pinned its clock an hour ago
    env = {CLOCK_START_ENV: PINNED_START.isoformat(), CLOCK_ORIGIN_ENV: repr(an_hour_ago)}
    child = clock_from_env(env)
    assert isinstance(child, PinnedClock) and child.origin == an_hour_ago
    assert child.now() >= PINNED_START + timedelta(hours=1)
    same = clock_from_env({**env, CLOCK_ORIGIN_ENV: repr(parent.origin)})
    before = parent.now()
    assert same.now() >= before


@pytest.mark.parametrize("value", ["soon", "nan", "inf"])
def test_a_bad_clock_origin_names_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match=f"{CLOCK_ORIGIN_ENV}: not a number of seconds"):
        clock_from_env({CLOCK_START_ENV: "2026-09-09T10:30:00Z", CLOCK_ORIGIN_ENV: value})
