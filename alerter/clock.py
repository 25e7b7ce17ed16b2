"""Time, injected: the only module that reads the wall clock or sleeps."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """A source of aware UTC time and of waiting."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds`` (a fake clock advances instead)."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Await ``seconds`` (a fake clock advances instead)."""
        ...


class SystemClock:
    """The real wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    async def asleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that only moves when told to; sleeping advances it instantly."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self.slept: list[float] = []

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when.astimezone(UTC)

    def advance(self, delta: timedelta | float) -> None:
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        self._now += delta

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(max(0.0, seconds))

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)


class PinnedClock(SystemClock):
    """The wall clock's pace from a chosen start: ``start`` plus the real time elapsed.

    For replays and tests that run real processes (a daemon, ``run --once``): what the
    process calls "now" no longer depends on the calendar date it happens to run on.
    ``origin`` is the ``time.monotonic()`` reading at which the clock read ``start``
    (default: now); clocks given the same start and origin (a process and its children on
    one machine, where the monotonic clock is system-wide) share one timeline, so a
    process started later never sees an earlier "now" than one started before it.
    """

    def __init__(self, start: datetime, origin: float | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("PinnedClock needs an aware datetime")
        self._start = start.astimezone(UTC)
        self._origin = time.monotonic() if origin is None else origin

    @property
    def origin(self) -> float:
        """The ``time.monotonic()`` reading at which this clock read its start."""
        return self._origin

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._origin)


CLOCK_START_ENV = "ALERTER_CLOCK_START"
"""Environment variable: an RFC 3339 instant the process's clock starts from."""
CLOCK_ORIGIN_ENV = "ALERTER_CLOCK_ORIGIN"
"""Environment variable (optional, with ``ALERTER_CLOCK_START``): the ``time.monotonic()``
reading at which the clock read that instant, so every process started with it continues
one timeline (a restarted process does not go back to the start)."""


def clock_from_env(env: Mapping[str, str]) -> Clock:
    """A :class:`PinnedClock` when ``ALERTER_CLOCK_START`` is set, else the system clock.

    Raises ``ValueError`` naming the variable when its value is not an aware RFC 3339 time.
    """
    raw = env.get(CLOCK_START_ENV, "").strip()
    if not raw:
        return SystemClock()
    try:
        start = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{CLOCK_START_ENV}: not an RFC 3339 time: {raw!r}") from None
    if start.tzinfo is None:
        raise ValueError(f"{CLOCK_START_ENV}: needs a UTC offset: {raw!r}")
    origin_raw = env.get(CLOCK_ORIGIN_ENV, "").strip()
    if not origin_raw:
        return PinnedClock(start)
    try:
        origin = float(origin_raw)
    except ValueError:
        raise ValueError(f"{CLOCK_ORIGIN_ENV}: not a number of seconds: {origin_raw!r}") from None
    if not math.isfinite(origin):
        raise ValueError(f"{CLOCK_ORIGIN_ENV}: not a number of seconds: {origin_raw!r}")
    return PinnedClock(start, origin)
