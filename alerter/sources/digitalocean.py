"""DigitalOcean *List Billing Insights*: daily cost by SKU, region, description and team.

``GET /v2/billing/{account_urn}/insights/{start_date}/{end_date}?page=&per_page=``
(see ../shared/api/README.md, section 2). Both path dates are ``YYYY-MM-DD`` and taken
as inclusive (the reference's example asks ``2025-03-10/2025-03-11`` and gets both
days); one request spans at most 31 days, so longer ranges are split into chunks.
A chunk is walked ``page=1..total_pages`` and is all or nothing: a bad amount, a
malformed page or pagination that keeps changing under the walk rejects the whole
chunk (no points, no coverage, one entry in ``FetchResult.errors``).

Amounts are US dollars as decimal strings, parsed exactly. Points are nightly
estimates that DigitalOcean revises, so every cycle re-fetches the lookback and the
store keeps the revision. Descriptions and group names are untrusted text.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import ClassVar, Literal

import httpx
from pydantic import Field, SecretStr, field_validator

from alerter.domain import CostPoint, Coverage, SeriesKey
from alerter.errors import BadResponse, ConfigError, RateLimited, SourceError
from alerter.money import check_amount
from alerter.sources.base import FetchResult, SourceConfig, SourceContext
from alerter.sources.digitalocean_wire import (
    _DAY,
    Chunk,
    _BadPoint,
    _error_fields,
    _midnight,
    _page_parts,
    _parse_point,
    split_days,
)
from alerter.sources.http import AuthRejected, JsonHttpClient, normalise_token
from alerter.sources.ratelimit import RateGate
from alerter.timeparse import Duration, parse_duration

log = logging.getLogger(__name__)

MAX_RESET_WAIT = 3660.0
"""Longest ``ratelimit-reset`` wait honoured: the quota is a rolling hour, so a reset
further away is broken or hostile and the poll gives up instead."""
MAX_PAGES = 1000
"""Most pages one chunk may have; a ``total_pages`` above it rejects the chunk."""

_URN = re.compile(r"^do:(team|teamgroup):[A-Za-z0-9-]+$")


class DigitalOceanConfig(SourceConfig):
    """``[sources.NAME]`` with ``type = "digitalocean"``."""

    type: Literal["digitalocean"] = Field(description='Always "digitalocean".')
    base_url: str = Field(
        default="https://api.digitalocean.com",
        description="API root; a test points it at a loopback fake.",
    )
    token_env: str = Field(
        default="DIGITALOCEAN_TOKEN",
        description="Environment variable holding the API token (scope billing:read).",
    )
    account_urns: tuple[str, ...] = Field(
        min_length=1,
        description='Accounts to poll: "do:team:<uuid>" or "do:teamgroup:<uuid>".',
    )
    per_page: int = Field(
        default=200, ge=1, le=200, description="Data points per page (the API allows 1..200)."
    )
    timeout: float = Field(default=30.0, gt=0, description="Seconds per HTTP attempt.")
    concurrency: int = Field(
        default=4, ge=1, le=32, description="Requests in flight at once (chunks in parallel)."
    )
    requests_per_minute: int = Field(
        default=250, ge=1, description="Burst limit per token; requests are spaced to stay under."
    )
    requests_per_hour: int = Field(
        default=5000, ge=1, description="Hourly limit per token (a rolling hour)."
    )
    max_walks: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Attempts to walk a chunk's pages when pagination changes during a walk.",
    )
    publish_delay: Duration = Field(
        default=parse_duration("1d"),
        description="How long after a day ends its data is surely published; newer days "
        "with no data at all in an account are unknown, not zero.",
    )
    schedule: str = Field(
        default="1h",
        description='How often to poll ("1h", or a 5-field cron); the data is daily.',
    )
    lookback: Duration = Field(
        default=parse_duration("7d"),
        description="What every cycle re-fetches (DigitalOcean revises nightly estimates).",
    )
    backfill: Duration = Field(
        default=parse_duration("56d"),
        description="History fetched on the first poll, split into requests of <= 31 days.",
    )

    @field_validator("account_urns", mode="before")
    @classmethod
    def _one_urn(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @field_validator("account_urns")
    @classmethod
    def _check_urns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for urn in value:
            if not _URN.match(urn):
                raise ValueError(f'not a DigitalOcean account URN: {urn!r} (use "do:team:<uuid>")')
        if len(set(value)) != len(value):
            raise ValueError("account URNs must be unique")
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"base_url must start with https:// or http:// (got {value!r})")
        return value.rstrip("/")


class _Inconsistent(Exception):
    pass


class DigitalOceanSource:
    """Daily DigitalOcean billing insights for one or more accounts."""

    Config: ClassVar[type[SourceConfig]] = DigitalOceanConfig
    type: ClassVar[str] = "digitalocean"
    replayable: ClassVar[bool] = False

    def __init__(self, name: str, config: SourceConfig, context: SourceContext) -> None:
        if not isinstance(config, DigitalOceanConfig):
            raise ConfigError(f"source {name}: expected a digitalocean config")
        raw = context.env.get(config.token_env, "")
        if not raw.strip():
            raise ConfigError(
                f"source {name}: environment variable {config.token_env} "
                "(the DigitalOcean API token, scope billing:read) is not set"
            )
        token = normalise_token(raw, source=name, env_name=config.token_env)
        self.name = name
        self.config = config
        self._clock = context.clock
        self._gate = RateGate(
            context.clock,
            config.requests_per_minute,
            config.requests_per_hour,
            max_wait=MAX_RESET_WAIT,
        )
        self._auth_failed: int | None = None
        self._client = JsonHttpClient(
            source=name,
            base_url=config.base_url,
            token=SecretStr(token),
            token_env=config.token_env,
            clock=context.clock,
            on_retry=context.on_retry,
            concurrency=config.concurrency,
            timeout=config.timeout,
            on_response=self._on_response,
        )

    def __repr__(self) -> str:
        return f"DigitalOceanSource(name={self.name!r}, base_url={self.config.base_url!r})"

    @property
    def step(self) -> timedelta:
        return _DAY

    @property
    def requests(self) -> int:
        """HTTP attempts sent so far (retries included)."""
        return self._client.requests

    async def fetch(self, since: datetime, until: datetime) -> FetchResult:
        """Every UTC day overlapping ``[since, until)`` up to today, for every account.

        Raises ``AuthRejected`` (an ``Unavailable``) only when the token is refused
        (401/403); any other failure rejects just its chunk (listed in ``errors``,
        left uncovered). Days are UTC; the newest day is still an open window.
        """
        now = self._clock.now().astimezone(UTC)
        today = now.date()
        settled_before = now - self.config.publish_delay
        chunks = [
            Chunk(urn, first, last)
            for urn in self.config.account_urns
            for first, last in split_days(since, until, today)
        ]
        self._auth_failed = None
        outcomes = await asyncio.gather(*(self._fetch_chunk(c) for c in chunks))
        if self._auth_failed is not None:
            raise AuthRejected(
                f"source {self.name}: the DigitalOcean API refused the token "
                f"(HTTP {self._auth_failed}); check the environment variable "
                f"{self.config.token_env}",
                self._auth_failed,
            )
        points: list[CostPoint] = []
        coverage: list[Coverage] = []
        errors: list[str] = []
        for chunk, outcome in zip(chunks, outcomes, strict=True):
            if isinstance(outcome, str):
                errors.append(outcome)
            else:
                got, unknown = outcome
                points.extend(got)
                coverage.extend(chunk.coverages(got, settled_before, unknown))
                errors.extend(
                    f"{why} (day {day} of {chunk.account_urn} left unknown)"
                    for day, why in sorted(unknown.items())
                )
        log.info(
            "digitalocean_fetch source=%s chunks=%d failed=%d points=%d requests=%d",
            self.name,
            len(chunks),
            len(errors),
            len(points),
            self._client.requests,
        )
        return FetchResult(points=points, coverage=coverage, errors=errors)

    async def _fetch_chunk(self, chunk: Chunk) -> tuple[list[CostPoint], dict[date, str]] | str:
        """The chunk's points, or the message saying why it was rejected."""
        try:
            return await self._walk(chunk)
        except AuthRejected as exc:
            self._auth_failed = exc.status
            return str(exc)
        except SourceError as exc:
            log.warning(
                "digitalocean_chunk_failed source=%s account=%s first=%s last=%s error=%s",
                self.name,
                chunk.account_urn,
                chunk.first,
                chunk.last,
                exc,
            )
            return str(exc)
        except Exception as exc:  # bad data must reject only its own (account, chunk)
            log.exception(
                "digitalocean_chunk_crashed source=%s account=%s first=%s last=%s",
                self.name,
                chunk.account_urn,
                chunk.first,
                chunk.last,
            )
            return (
                f"source {self.name}: GET {chunk.path}: unexpected {type(exc).__name__} "
                "while reading the pages"
            )

    async def _walk(self, chunk: Chunk) -> tuple[list[CostPoint], dict[date, str]]:
        problem = ""
        for attempt in range(1, self.config.max_walks + 1):
            try:
                return await self._walk_once(chunk)
            except _Inconsistent as exc:
                problem = str(exc)
                log.warning(
                    "digitalocean_pagination_changed source=%s account=%s first=%s last=%s "
                    "attempt=%d problem=%s",
                    self.name,
                    chunk.account_urn,
                    chunk.first,
                    chunk.last,
                    attempt,
                    problem,
                )
        raise BadResponse(
            f"source {self.name}: GET {chunk.path}: pagination kept changing during "
            f"{self.config.max_walks} walks ({problem})"
        )

    async def _walk_once(self, chunk: Chunk) -> tuple[list[CostPoint], dict[date, str]]:
        """The chunk's points and its unknown days (day -> why): a data point that cannot
        count on a known day costs only that day of the account, never the chunk."""
        amounts: dict[tuple[SeriesKey, date], Decimal] = {}
        unknown: dict[date, str] = {}
        seen = 0
        page = 1
        expected: tuple[int, int] | None = None  # (total_pages, total_items) from page 1
        while True:
            body = await self._get_page(chunk, page)
            where = f"source {self.name}: GET {chunk.path} page {page}"
            data, total_items, total_pages, current = _page_parts(body, where)
            if current != page:
                raise _Inconsistent(f"page {page} answered as current_page {current}")
            if total_pages > max(1, total_items):
                raise BadResponse(f"{where}: {total_pages} pages for {total_items} data points")
            if total_pages > MAX_PAGES:
                raise BadResponse(f"{where}: {total_pages} pages (more than {MAX_PAGES})")
            if expected is None:
                expected = (total_pages, total_items)
            elif (total_pages, total_items) != expected:
                raise _Inconsistent(
                    f"page {page}: total_pages/total_items {total_pages}/{total_items}, "
                    f"page 1 said {expected[0]}/{expected[1]}"
                )
            if not data:
                if page < total_pages:
                    raise _Inconsistent(f"page {page} of {total_pages} is empty")
                break
            for index, raw in enumerate(data, start=1):
                try:
                    key, day, amount = _parse_point(raw, chunk, f"{where} data point {index}")
                except _BadPoint as exc:
                    unknown.setdefault(exc.day, str(exc))
                    continue
                amounts[(key, day)] = amounts.get((key, day), Decimal(0)) + amount
            seen += len(data)
            if page >= total_pages:
                break
            page += 1
        if expected is not None and seen != expected[1]:
            raise _Inconsistent(f"walk returned {seen} data points, total_items {expected[1]}")
        for (_key, day), amount in amounts.items():
            try:
                check_amount(amount)
            except ValueError as exc:
                unknown.setdefault(
                    day,
                    f"source {self.name}: GET {chunk.path}: day {day}: summed total_amount: {exc}",
                )
        if unknown:
            log.warning(
                "digitalocean_days_unknown source=%s account=%s days=%s first_problem=%s",
                self.name,
                chunk.account_urn,
                ",".join(str(d) for d in sorted(unknown)),
                unknown[min(unknown)],
            )
        return [
            CostPoint(
                source=self.name,
                key=key,
                start=_midnight(day),
                end=_midnight(day) + _DAY,
                amount=amount,
                currency="USD",
            )
            for (key, day), amount in amounts.items()
            if day not in unknown
        ], unknown

    async def _get_page(self, chunk: Chunk, page: int) -> object:
        await self._gate.acquire(self.name)
        body, _headers = await self._client.get_json(
            chunk.path, {"page": page, "per_page": self.config.per_page}
        )
        return body

    def _on_response(self, response: httpx.Response) -> float | None:
        """Track rate-limit headers, log DigitalOcean's error body, pick 429 waits."""
        status = response.status_code
        burst = status == 429 and "retry-after" in response.headers
        if not burst:  # a burst 429 says remaining 0 though the hourly quota is not spent
            self._gate.observe(response.headers)
        if status < 400:
            return None
        error_id, message, request_id = _error_fields(response.content)
        log.warning(
            "digitalocean_api_error source=%s status=%d endpoint=%s id=%s message=%s request_id=%s",
            self.name,
            status,
            self._client.redact(response.request.url.path),
            self._client.redact(error_id),
            self._client.redact(message),
            self._client.redact(request_id),
        )
        if status == 429 and not burst:
            # The hourly quota ran out: the next slot frees when the oldest request expires.
            wait = self._gate.seconds_to_reset(self._clock.now().timestamp())
            if wait is not None and wait > self._client.retry.max_retry_after:
                raise RateLimited(
                    f"source {self.name}: GET {response.request.url.path}: hourly rate limit "
                    f"reached; next slot in {wait:.0f}s",
                    retry_after=wait,
                )
            return wait
        return None

    async def aclose(self) -> None:
        await self._client.aclose()
