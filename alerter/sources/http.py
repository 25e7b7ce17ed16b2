"""The shared async HTTP client of the billing sources: auth, concurrency, retries, redaction.

One ``JsonHttpClient`` per source. It sends ``GET`` requests with a Bearer token
through one pool of kept-alive connections (aiohttp's, ``http_transport.py``, sized
to ``concurrency``), bounds how many are in flight, retries what is worth retrying, and turns everything
else into the ``SourceError`` tree with messages that name the source and endpoint
and never contain the token::

    client = JsonHttpClient(
        source="metronome-prod", base_url="https://api.metronome.com",
        token=SecretStr(env["METRONOME_BEARER_TOKEN"]), token_env="METRONOME_BEARER_TOKEN",
        clock=context.clock, concurrency=8, timeout=60.0,
    )
    body, headers = await client.get_json("/v1/customers", {"limit": 100})
    await client.aclose()

Retry policy (see ``RetryPolicy``):

- ``429``: wait ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date) when
  present, else exponential backoff with jitter; a ``Retry-After`` longer than
  ``max_retry_after`` gives up at once with ``RateLimited(retry_after=...)``. A 429
  pauses *every* request of this client until the wait is over, not only the one
  that got it.
- ``5xx``, ``408``, timeouts and connection errors: exponential backoff with jitter.
- After ``max_attempts`` attempts: ``RateLimited`` (429) or ``Unavailable`` (the rest).
- ``401``/``403``: ``AuthRejected`` (an ``Unavailable``) naming the source and the token's environment
  variable, never retried.
- Other ``4xx``: ``HttpStatusError`` (a ``BadResponse``) carrying the status and the
  API's ``message``. A body that is not JSON: ``BadResponse`` naming the endpoint.

Bounds: ``timeout`` is a total deadline per attempt (connect, headers and the whole
body), so a peer trickling its answer one byte at a time still times out; a body
larger than ``max_body`` bytes (once decompressed: a gzip bomb is cut off) is a
``BadResponse``; every server-requested wait is
capped by ``max_retry_after``.

Tokens go through ``normalise_token`` first (a file-mounted secret often ends with a
newline), and ``redact`` replaces the token in every form it may take in a message.

All waiting goes through ``clock.asleep``, so tests with a ``FakeClock`` never sleep.
JSON numbers with a fraction are parsed as ``Decimal`` (money stays exact).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime
from urllib.parse import urlencode

import httpx
from pydantic import SecretStr

from alerter.clock import Clock
from alerter.errors import BadResponse, ConfigError, RateLimited, Unavailable
from alerter.redact import secret_forms
from alerter.sources.http_transport import AiohttpPool

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 32 * 1024 * 1024
"""Largest response body read (bytes); a larger one is a ``BadResponse``."""
_TOKEN_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F))


def normalise_token(raw: str, *, source: str, env_name: str) -> str:
    """The token from ``raw`` with surrounding whitespace stripped.

    Raises ``ConfigError`` naming the source and the variable (never the value) when it
    is empty or holds characters an HTTP header cannot carry (spaces, control or
    non-ASCII characters).
    """
    token = raw.strip()
    if not token:
        raise ConfigError(f"source {source}: environment variable {env_name} is empty")
    bad = sorted({i for i, c in enumerate(token) if c not in _TOKEN_CHARS})
    if bad:
        where = ", ".join(str(i + 1) for i in bad[:5]) + (", ..." if len(bad) > 5 else "")
        raise ConfigError(
            f"source {source}: environment variable {env_name} holds a token with "
            f"{len(bad)} character(s) not allowed in an HTTP header (whitespace, control "
            f"or non-ASCII) at position(s) {where}; the value is not shown"
        )
    return token


def secret_variants(secret: str) -> list[str]:
    """Forms ``secret`` may take in a message (``alerter.redact.secret_forms``): as is,
    stripped, URL-quoted, escaped as ``repr``/JSON would show it, base64. Longest first;
    forms shorter than 4 characters are left out (they would redact ordinary text)."""
    return secret_forms(secret)


QueryValue = str | int | bool | None
"""A query parameter value; ``None`` drops the parameter, booleans become ``true``/``false``."""

ResponseHook = Callable[[httpx.Response], float | None]
"""Called with every HTTP response (any status), before it is handled.

It may inspect headers (e.g. ``ratelimit-remaining``). For a retryable response (429,
5xx, 408) a returned number is the seconds to wait before the retry, overriding
``Retry-After`` and backoff; ``None`` keeps the default. Ignored for other statuses.
"""

TypedDecoder = Callable[[bytes], object | None]
"""Decodes a 2xx body straight into a source's own typed page (e.g. with msgspec),
exactly (numbers with a fraction as ``Decimal``); returns None, never raises, when the
body is not that shape, and the client then parses it as plain JSON (whose errors name
the endpoint) for the source's own models to judge."""

RetryHook = Callable[[str, str], None]
"""Called once per retried attempt with ``(source, reason)``, the reason redacted (like
``HTTP 503`` or ``timeout``); how the metrics count API errors that a retry hid."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try. Times are seconds."""

    max_attempts: int = 5
    """Attempts per request, the first one included (so ``max_attempts - 1`` retries)."""
    backoff_base: float = 0.5
    """First backoff; doubled after each failed attempt."""
    backoff_max: float = 8.0
    """Cap of one backoff wait."""
    jitter: float = 0.25
    """A backoff wait is reduced by a random fraction up to this."""
    max_retry_after: float = 60.0
    """A server-asked wait longer than this gives up at once (``RateLimited``)."""

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """The wait after failed attempt number ``attempt`` (1-based), jitter applied."""
        delay = min(self.backoff_max, self.backoff_base * 2.0 ** max(0, attempt - 1))
        return delay * (1.0 - self.jitter * rng.random())


class HttpStatusError(BadResponse):
    """The API rejected the request with a non-retryable status (400, 404, 409, ...)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class AuthRejected(Unavailable):
    """The API refused the token (401) or its permissions (403); retrying will not help."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def parse_retry_after(headers: httpx.Headers, now: datetime) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP date).

    ``now`` (aware UTC) is used for the HTTP-date form. Returns None when absent or
    unparseable; a date in the past gives 0.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            value = float(raw_ms) / 1000.0
        except ValueError:
            value = -1.0
        if value >= 0 and not math.isnan(value):
            return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and not math.isnan(seconds) else None
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return max(0.0, (when - now).total_seconds())
    except OverflowError:
        return None


def _parse_json(content: bytes) -> object:
    return json.loads(content, parse_float=Decimal)


class _Retry(Exception):
    def __init__(self, reason: str, delay: float | None, status: int | None) -> None:
        self.reason = reason
        self.delay = delay
        self.status = status


class JsonHttpClient:
    """An async JSON-over-HTTP client for one source (one connection pool, one token)."""

    def __init__(
        self,
        *,
        source: str,
        base_url: str,
        token: SecretStr | None,
        token_env: str,
        clock: Clock,
        concurrency: int = 8,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        on_response: ResponseHook | None = None,
        on_retry: RetryHook | None = None,
        rng: random.Random | None = None,
        headers: Mapping[str, str] | None = None,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        """Set up the client; no connection is opened until the first request.

        ``source`` is the configured source name used in messages and logs;
        ``token_env`` is the environment variable the token came from (named in auth
        errors). ``timeout`` is seconds per attempt, a total deadline for connect,
        headers and the whole body (connect capped at 5 s). ``max_body`` caps a body.
        ``concurrency`` bounds requests in flight across all callers of this client.
        """
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.token_env = token_env
        self.retry = retry or RetryPolicy()
        self.requests = 0
        """Attempts sent so far (retries included); for logs, metrics and benches."""
        self.retries = 0
        """Retries so far."""
        self._token = token
        self._clock = clock
        self._concurrency = concurrency
        self._deadline = timeout
        self._max_body = max_body
        self._on_response = on_response
        self._rng = rng or random.Random()
        self._on_retry = on_retry
        self._extra_headers = dict(headers or {})
        self._pool: AiohttpPool | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._paused_until: datetime | None = None
        self._refusals = 0
        """401/403 answers so far; a request waiting for a slot when one comes is not sent."""
        self._refused_status = 401

    def __repr__(self) -> str:
        return f"JsonHttpClient(source={self.source!r}, base_url={self.base_url!r})"

    def redact(self, text: str) -> str:
        """``text`` with the token (if any), in any of its ``secret_variants``, as ``***``."""
        if self._token is not None:
            for form in secret_variants(self._token.get_secret_value()):
                text = text.replace(form, "***")
        return text

    async def get_json(
        self,
        path: str,
        params: Mapping[str, QueryValue] | None = None,
        *,
        decode: TypedDecoder | None = None,
    ) -> tuple[object, httpx.Headers]:
        """``GET base_url + path`` and return ``(parsed JSON body, response headers)``.

        ``decode``, when given, is tried first on a 2xx body (see ``TypedDecoder``); its
        result is returned unless it is None, then the body is parsed as plain JSON.

        Retries per the module docstring. Raises ``Unavailable`` (auth refused, 5xx or
        network failures after retries), ``RateLimited`` (429 after retries or a too
        long Retry-After), ``HttpStatusError`` (other 4xx) or ``BadResponse`` (body
        not JSON). Every message names the source and ``GET path?query`` and never
        contains the token.
        """
        query = _encode_query(
            tuple((k, _query_value(v)) for k, v in (params or {}).items() if v is not None)
        )
        target = f"{path}?{query}" if query else path
        endpoint = f"GET {target}"
        url = self.base_url + target
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._attempt(url, endpoint, decode)
            except _Retry as retry:
                if attempt >= self.retry.max_attempts:
                    message = self.redact(
                        f"source {self.source}: {endpoint} failed after {attempt} attempts: "
                        f"{retry.reason}"
                    )
                    if retry.status == 429:
                        raise RateLimited(message, retry_after=retry.delay) from None
                    raise Unavailable(message) from None
                delay = retry.delay
                if delay is None:
                    delay = self.retry.backoff(attempt, self._rng)
                self.retries += 1
                log.warning(
                    "http_retry source=%s endpoint=%s attempt=%d reason=%s delay=%.3f",
                    self.source,
                    self.redact(endpoint),
                    attempt,
                    self.redact(retry.reason),
                    delay,
                )
                if self._on_retry is not None:
                    self._on_retry(self.source, self.redact(retry.reason))
                if retry.status == 429:
                    self._pause(delay)
                await self._clock.asleep(delay)

    async def _attempt(
        self, url: str, endpoint: str, decode: TypedDecoder | None
    ) -> tuple[object, httpx.Headers]:
        pool, semaphore = self._ensure()
        refusals = self._refusals
        async with semaphore:
            if self._refusals != refusals:
                # the token was refused while this request waited its turn: not sent
                raise self._refused(endpoint, self._refused_status)
            await self._wait_pause()
            self.requests += 1
            try:
                async with asyncio.timeout(self._deadline):
                    response = await pool.get(
                        url, self._max_body, lambda: self._too_large(endpoint)
                    )
            except TimeoutError:
                raise _Retry(
                    f"no complete answer within {self._deadline:g}s (deadline)", None, None
                ) from None
            except httpx.TimeoutException as exc:
                raise _Retry(f"timeout ({type(exc).__name__})", None, None) from None
            except httpx.TransportError as exc:
                raise _Retry(
                    f"connection error ({type(exc).__name__}: {exc})", None, None
                ) from None
        status = response.status_code
        hook_delay = None
        if self._on_response is not None:  # a hook may look at the request (its path)
            hook_delay = self._on_response(response.httpx_response())
        if status in (401, 403):
            self._refusals += 1
            self._refused_status = status
            raise self._refused(endpoint, status)
        if status == 429 or status == 408 or status >= 500:
            delay = hook_delay
            if delay is None and status == 429:
                delay = parse_retry_after(response.headers, self._clock.now())
                if delay is not None and delay > self.retry.max_retry_after:
                    raise RateLimited(
                        f"source {self.source}: {endpoint}: HTTP 429 asks to wait {delay:.0f}s "
                        f"(more than {self.retry.max_retry_after:.0f}s); giving up this poll",
                        retry_after=delay,
                    )
            raise _Retry(f"HTTP {status}", delay, status)
        if status >= 400:
            raise HttpStatusError(
                self.redact(
                    f"source {self.source}: {endpoint}: HTTP {status}: "
                    f"{_api_message(response.httpx_response())}"
                ),
                status,
            )
        if decode is not None:
            typed = decode(response.content)
            if typed is not None:
                return typed, response.headers
        try:
            body = _parse_json(response.content)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise BadResponse(
                self.redact(
                    f"source {self.source}: {endpoint}: body is not valid JSON "
                    f"({len(response.content)} bytes, {exc})"
                )
            ) from None
        return body, response.headers

    def _refused(self, endpoint: str, status: int) -> AuthRejected:
        what = "rejected the token" if status == 401 else "denied access with the token"
        return AuthRejected(
            self.redact(
                f"source {self.source}: {endpoint}: the API {what} (HTTP {status}); "
                f"check the environment variable {self.token_env}"
            ),
            status,
        )

    def _too_large(self, endpoint: str) -> BadResponse:
        return BadResponse(
            self.redact(
                f"source {self.source}: {endpoint}: body larger than {self._max_body} bytes"
            )
        )

    def _ensure(self) -> tuple[AiohttpPool, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._pool is None or self._semaphore is None or self._loop is not loop:
            if self._pool is not None:
                log.warning("http_client_rebound source=%s reason=new_event_loop", self.source)
            headers = {"Accept": "application/json", "User-Agent": "alerter/0.1"}
            headers.update(self._extra_headers)
            if self._token is not None:
                headers["Authorization"] = f"Bearer {self._token.get_secret_value()}"
            self._pool = AiohttpPool(
                self._concurrency,
                headers,
                connect_timeout=min(5.0, self._deadline),
            )
            self._semaphore = asyncio.Semaphore(self._concurrency)
            self._loop = loop
        return self._pool, self._semaphore

    def _pause(self, seconds: float) -> None:
        # exact datetime arithmetic: a float round trip can leave a spurious 1 us pause
        resume = self._clock.now() + timedelta(seconds=seconds)
        if self._paused_until is None or resume > self._paused_until:
            self._paused_until = resume

    async def _wait_pause(self) -> None:
        if self._paused_until is None:
            return
        remaining = (self._paused_until - self._clock.now()).total_seconds()
        if remaining > 0:
            await self._clock.asleep(remaining)

    async def aclose(self) -> None:
        """Close the connection pool; the client reopens one if used again."""
        pool, self._pool = self._pool, None
        self._semaphore = None
        self._loop = None
        if pool is not None:
            await pool.aclose()

    async def __aenter__(self) -> JsonHttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


@functools.lru_cache(maxsize=256)
def _encode_query(params: tuple[tuple[str, str], ...]) -> str:
    """``params`` as a query string. Cached: a poll asks the same few queries (the same
    window for every customer) thousands of times."""
    return urlencode(params)


def _query_value(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _api_message(response: httpx.Response) -> str:
    """The API's error text: ``message`` from a JSON body, else a short raw excerpt."""
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        text: str = body["message"]
    else:
        text = response.text
    text = " ".join(text.split())
    return text[:200] if text else "(empty body)"
