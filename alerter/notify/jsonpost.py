"""One JSON POST to a chat or on-call endpoint, its answer mapped to a ``DeliveryResult``.

Shared by the Teams and PagerDuty notifiers: 2xx is delivered; 429, 408 and 5xx (and a
failed connection) are ``RetryAfter`` (the ``Retry-After`` header when given); anything
else is ``Permanent``. Every request carries an ``Idempotency-Key``, so a receiver that
honours it drops the repeat of a message whose answer was lost.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from alerter.notify.base import Delivered, DeliveryResult, Permanent, RetryAfter
from alerter.redact import redact

log = logging.getLogger(__name__)

DEFAULT_RETRY_AFTER = 30.0
SERVER_RETRY_AFTER = 60.0
IDEMPOTENCY_HEADER = "Idempotency-Key"


class _RedactHttpx(logging.Filter):
    """httpx logs request URLs; a webhook or Workflows URL is a secret, so registered
    ones are hidden (one filter for every notifier that posts JSON with httpx)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            clean = redact(message, self.secrets)
            if clean != message:
                record.msg, record.args = clean, ()
        return True


httpx_secrets = _RedactHttpx()
logging.getLogger("httpx").addFilter(httpx_secrets)


def encode(body: Mapping[str, Any]) -> bytes:
    """Compact, key-sorted JSON: the same message is always the same bytes."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def idempotency_key(notifier: str, body: bytes) -> str:
    """A key stable across retries of one message to one notifier (and only that one)."""
    return hashlib.sha256(notifier.encode() + b"\0" + body).hexdigest()[:40]


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return default


def post_json(
    url: str,
    body: bytes,
    *,
    where: str,
    notifier: str,
    timeout: float,
    redact: Callable[[str], str],
    headers: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    secret_url: bool = False,
) -> tuple[DeliveryResult, httpx.Response | None]:
    """POST ``body``; ``where`` names the notifier in reasons (never the URL, which may be
    the secret: with ``secret_url`` it is also hidden from httpx's log records). Returns
    the result and the response (None when none came)."""
    if secret_url:
        path = httpx.URL(url).path
        httpx_secrets.secrets.update(s for s in (url, path if len(path) > 1 else "") if s)
    sent_headers = {
        "Content-Type": "application/json",
        IDEMPOTENCY_HEADER: idempotency_key(notifier, body),
        **(headers or {}),
    }
    try:
        with httpx.Client(timeout=timeout, transport=transport) as client:
            response = client.post(url, content=body, headers=sent_headers)
    except httpx.TransportError as exc:
        reason = redact(f"{where}: POST failed ({type(exc).__name__})")
        log.warning("notify.delivery_failed notifier=%s reason=%s", notifier, reason)
        return RetryAfter(DEFAULT_RETRY_AFTER, reason), None
    status = response.status_code
    if 200 <= status < 300:
        return Delivered(None), response
    result: RetryAfter | Permanent
    if status == 429:
        seconds = _retry_after(response, DEFAULT_RETRY_AFTER)
        result = RetryAfter(seconds, f"{where}: HTTP 429, retry after {seconds:g}s")
    elif status >= 500 or status == 408:
        result = RetryAfter(_retry_after(response, SERVER_RETRY_AFTER), f"{where}: HTTP {status}")
    else:
        result = Permanent(f"{where}: rejected with HTTP {status}")
    reason = redact(result.reason)
    level = logging.WARNING if isinstance(result, RetryAfter) else logging.ERROR
    log.log(level, "notify.delivery_failed notifier=%s reason=%s", notifier, reason)
    if isinstance(result, RetryAfter):
        return RetryAfter(result.seconds, reason), response
    return Permanent(reason), response
