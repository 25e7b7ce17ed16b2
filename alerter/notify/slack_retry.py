"""slack-sdk's rate-limit retries on the injected clock: a short ``Retry-After`` is waited
out inside one send (on the clock, so tests never sleep), a long one goes back to the
outbox as ``RetryAfter``."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.http_retry import RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from alerter.clock import Clock

log = logging.getLogger("alerter.notify.slack")

DEFAULT_RETRY_AFTER = 30.0


def retry_after_seconds(headers: Any, default: float = DEFAULT_RETRY_AFTER) -> float:
    """The Retry-After header (seconds) from a dict of str or list values, or ``default``."""
    for key, value in dict(headers or {}).items():
        if str(key).lower() == "retry-after":
            raw = value[0] if isinstance(value, list | tuple) else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                return default
    return default


class ClockRateLimitRetryHandler(RateLimitErrorRetryHandler):
    """slack-sdk's rate-limit retry, waiting on the injected clock and only for short waits."""

    def __init__(self, clock: Clock, max_retry_count: int, max_wait: float) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self._clock = clock
        self._max_wait = max_wait

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return (
            response is not None
            and response.status_code == 429
            and retry_after_seconds(response.headers, 1.0) <= self._max_wait
        )

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        wait = retry_after_seconds(response.headers if response else {}, 1.0)
        log.info("slack.ratelimited_wait seconds=%s", wait)
        self._clock.sleep(wait)
        state.increment_current_attempt()
