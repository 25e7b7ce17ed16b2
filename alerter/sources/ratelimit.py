"""Client-side rate limiting from ``ratelimit-*`` headers (DigitalOcean's scheme).

DigitalOcean counts requests per token in a rolling hour (``ratelimit-limit``,
``ratelimit-remaining``, and ``ratelimit-reset`` = when the oldest counted request
expires) and in a per-minute burst window that has no header. ``RateGate`` keeps
requests under both before the API has to answer 429.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

import httpx

from alerter.clock import Clock
from alerter.errors import RateLimited

log = logging.getLogger(__name__)


class RateGate:
    """Spaces requests to stay under both limits before the API says 429.

    Keeps its own rolling minute and hour of sent requests (``per_minute``,
    ``per_hour``) and trusts the server's ``ratelimit-remaining``/``ratelimit-reset``
    (the token may be shared): at zero remaining it waits until the oldest counted
    request expires. Waiting goes through ``clock.asleep``. A server-announced reset
    further away than ``max_wait`` seconds (a hostile or broken ``ratelimit-reset``)
    is not waited for: ``acquire`` raises ``RateLimited`` and the poll gives up.
    """

    def __init__(
        self, clock: Clock, per_minute: int, per_hour: int, max_wait: float = 60.0
    ) -> None:
        self._clock = clock
        self._max_wait = max_wait
        self._per_minute = per_minute
        self._per_hour = per_hour
        self._sent: deque[float] = deque()
        self._remaining: int | None = None
        self._reset_at: float | None = None
        self._lock = asyncio.Lock()
        self.waited = 0.0
        """Seconds spent waiting so far (for logs and tests)."""

    def _server_wait(self, now: float) -> float:
        if self._remaining is not None and self._remaining <= 0 and self._reset_at is not None:
            return self._reset_at - now
        return 0.0

    def _wait_needed(self, now: float) -> float:
        while self._sent and self._sent[0] <= now - 3600:
            self._sent.popleft()
        wait = 0.0
        in_minute = [t for t in self._sent if t > now - 60]
        if len(in_minute) >= self._per_minute:
            wait = in_minute[-self._per_minute] + 60 - now
        if len(self._sent) >= self._per_hour:
            wait = max(wait, self._sent[-self._per_hour] + 3600 - now)
        if self._remaining is not None and self._remaining <= 0 and self._reset_at is not None:
            wait = max(wait, self._reset_at - now)
        return wait

    async def acquire(self, source: str) -> None:
        """Wait until one more request stays under every limit, then count it."""
        async with self._lock:
            while True:
                now = self._clock.now().timestamp()
                wait = self._wait_needed(now)
                if wait <= 0:
                    break
                server = self._server_wait(now)
                if server > self._max_wait:
                    raise RateLimited(
                        f"source {source}: ratelimit-remaining is 0 and ratelimit-reset is "
                        f"{server:.0f}s away (more than {self._max_wait:.0f}s); giving up "
                        "this poll",
                        retry_after=min(server, 3600.0),
                    )
                log.info("rate_limit_wait source=%s seconds=%.1f", source, wait)
                self.waited += wait
                await self._clock.asleep(wait)
                now = self._clock.now().timestamp()
                if self._reset_at is not None and now >= self._reset_at:
                    self._remaining = None  # the oldest request expired: a slot is free
            self._sent.append(now)
            if self._remaining is not None:
                self._remaining -= 1

    def observe(self, headers: httpx.Headers) -> None:
        """Take ``ratelimit-remaining`` and ``ratelimit-reset`` from a response."""
        remaining = _int_header(headers, "ratelimit-remaining")
        reset = _int_header(headers, "ratelimit-reset")
        if remaining is not None:
            self._remaining = remaining
        if reset is not None:
            self._reset_at = float(reset)

    def seconds_to_reset(self, now: float) -> float | None:
        if self._reset_at is None:
            return None
        return max(0.0, self._reset_at - now)


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError:
        return None
