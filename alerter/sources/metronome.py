"""Metronome: hourly or daily invoice breakdowns of every customer, as gross spend points.

Reference: ../shared/api/README.md section 1. One cycle discovers customers (cached for
``customer_refresh``), then asks ``GET /v1/customers/{id}/invoices/breakdowns`` for each
customer and each chunk of the range (one UTC day of hours, or 35 days), chunks in
parallel under the client's concurrency bound, following ``next_page`` to the end.

A (customer, chunk) is all or nothing: every page must arrive and validate before any
of its points are kept; otherwise the chunk has no points, no coverage and one entry in
``errors`` naming the customer and the window.

Spend, not net: a point is the gross amount of one line item, summed over the line items
of type ``usage``, ``subscription`` and ``scheduled`` (``line_item_types``) with the same
(customer, line item name, product, credit type) in one window. Lines of type
``applied_commit_or_credit`` (negative draw-downs of prepaid commits and credits),
``commit_purchase`` and ``cpu_conversion`` are skipped, so an invoice ``total`` (net) is
never used. ``sub_line_items`` are the charge detail of their line's ``total`` and are
not added again. Amounts in "USD (cents)" are divided by 100 and reported as ``USD``;
other credit types keep their own name as the currency.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Literal
from urllib.parse import quote

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
)

from alerter.domain import Coverage, cap_value
from alerter.errors import BadResponse, ConfigError, SourceError
from alerter.sources.base import FetchResult, SourceConfig, SourceContext
from alerter.sources.http import (
    AuthRejected,
    JsonHttpClient,
    QueryValue,
    RetryPolicy,
    normalise_token,
)
from alerter.sources.metronome_columns import ChunkRows, PollRows, sum_chunk
from alerter.sources.metronome_wire import (
    Invoice,
    TypedPage,
    _BreakdownPage,
    _CustomerDetail,
    _CustomerPage,
    _merge,
    _printable,
    _short,
    decode_page,
    fast_page,
    page_builtins,
    slow_page,
    split_range,
    typed_page,
)
from alerter.timeparse import Duration, floor_time, format_time, parse_duration

log = logging.getLogger(__name__)

HOURLY_PAGE_WINDOWS = 24
MAX_PAGES = 1000
MAX_CURSOR = 4096
"""Longest ``next_page`` cursor sent back (characters); a longer one is a bad response."""


class MetronomeConfig(SourceConfig):
    """A ``[sources.NAME]`` table with ``type = "metronome"``."""

    type: Literal["metronome"] = Field(description='Source type; always "metronome".')
    base_url: str = Field(
        default="https://api.metronome.com", description="API base URL (no trailing /v1)."
    )
    token_env: str = Field(
        default="METRONOME_BEARER_TOKEN",
        description="Environment variable holding the Bearer token.",
    )
    window: Literal["hour", "day"] = Field(
        default="hour", description='Breakdown window size: "hour" or "day".'
    )
    customers: list[str] | None = Field(
        default=None, description="Only these Metronome customer ids (default: every active one)."
    )
    customer_filter: str | None = Field(
        default=None, description='Only customers whose name matches this glob, e.g. "Acme*".'
    )
    status: str | None = Field(
        default=None, description='Invoice status filter passed through (e.g. "DRAFT").'
    )
    credit_type_id: str | None = Field(
        default=None, description="Only invoices in this credit type (passed through)."
    )
    sort: Literal["date_asc", "date_desc"] | None = Field(
        default=None, description="Breakdown order passed through to the API."
    )
    line_item_types: list[str] = Field(
        default=["usage", "subscription", "scheduled"],
        description="Line item types counted as spend (case-insensitive); "
        "commit/credit draw-downs are excluded by default.",
    )
    skip_zero_qty_line_items: bool = Field(
        default=True, description="Ask the API to drop zero-quantity line items."
    )
    concurrency: int = Field(default=8, ge=1, le=64, description="Requests in flight at most.")
    timeout: Duration = Field(
        default=parse_duration("60s"), description="Per-request timeout (the API may take ~60s)."
    )
    max_attempts: int = Field(
        default=5, ge=1, le=10, description="Attempts per request, retries included."
    )
    customer_refresh: Duration = Field(
        default=parse_duration("1h"), description="How long the customer list is cached."
    )
    page_limit: int = Field(default=100, ge=1, le=100, description="`limit` sent per page.")


@dataclass(frozen=True, slots=True)
class MetronomeCustomer:
    id: str
    name: str


class MetronomeSource:
    """Polls Metronome invoice breakdowns for every (or every configured) customer."""

    Config: ClassVar[type[SourceConfig]] = MetronomeConfig
    type: ClassVar[str] = "metronome"
    replayable: ClassVar[bool] = False

    def __init__(self, name: str, config: SourceConfig, context: SourceContext) -> None:
        if not isinstance(config, MetronomeConfig):
            raise ConfigError(f"source {name}: expected a metronome config")
        raw = context.env.get(config.token_env)
        if not raw:
            raise ConfigError(
                f"source {name}: environment variable {config.token_env} "
                "(the Metronome API token) is not set"
            )
        token = normalise_token(raw, source=name, env_name=config.token_env)
        self.name = name
        self.config = config
        self._clock = context.clock
        self._client = JsonHttpClient(
            source=name,
            base_url=config.base_url,
            token=SecretStr(token),
            token_env=config.token_env,
            clock=context.clock,
            on_retry=context.on_retry,
            concurrency=config.concurrency,
            timeout=config.timeout.total_seconds(),
            retry=RetryPolicy(max_attempts=config.max_attempts),
        )
        self._customers: list[MetronomeCustomer] | None = None
        self._customer_problems: list[str] = []
        """Entries of the (cached) customer list that could not be used; reported per cycle."""
        self._customers_at: datetime | None = None
        self._types = {t.lower() for t in config.line_item_types}
        self.skipped_line_items: dict[str, int] = {}
        """Line items left out because of their type, by type, since start (a counter)."""
        self._warned_types: set[str] = set()
        self._cycle_skipped: dict[str, int] = {}
        self._step_seconds = int(self.step.total_seconds())
        self._paths: dict[str, str] = {}
        """Breakdowns path of each customer polled (ids quoted once)."""
        self._queries: dict[tuple[datetime, datetime], dict[str, QueryValue]] = {}
        """Breakdowns query of each chunk of this cycle."""
        self._stamps: dict[str, int] = {}
        """Window stamps already parsed (text -> Unix seconds); the same few repeat."""

    def __repr__(self) -> str:
        return f"MetronomeSource(name={self.name!r}, base_url={self.config.base_url!r})"

    @property
    def step(self) -> timedelta:
        return timedelta(hours=1) if self.config.window == "hour" else timedelta(days=1)

    @property
    def client(self) -> JsonHttpClient:
        """The HTTP client (request counters for logs, metrics and benches)."""
        return self._client

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- customers -------------------------------------------------------------------

    async def customers(self) -> list[MetronomeCustomer]:
        """The customers to poll, from cache when younger than ``customer_refresh``.

        A failed refresh keeps the previous list (logged); with no previous list the
        error is raised (nothing can be fetched).
        """
        now = self._clock.now()
        fresh = (
            self._customers is not None
            and self._customers_at is not None
            and now - self._customers_at < self.config.customer_refresh
        )
        if fresh and self._customers is not None:
            return self._customers
        problems, self._customer_problems = self._customer_problems, []
        try:
            listed = await self._list_customers()
        except AuthRejected:
            raise
        except SourceError as exc:
            self._customer_problems = problems
            if self._customers is None:
                raise
            log.warning("metronome_customers_stale source=%s error=%s", self.name, exc)
            return self._customers
        unique: dict[str, MetronomeCustomer] = {}
        for customer in listed:
            unique.setdefault(customer.id, customer)  # a repeated id is polled once
        selected = self._select(list(unique.values()))
        log.info(
            "metronome_customers source=%s listed=%d selected=%d",
            self.name,
            len(listed),
            len(selected),
        )
        self._customers, self._customers_at = selected, now
        self._paths = {}
        return selected

    async def _list_customers(self) -> list[MetronomeCustomer]:
        wanted = self.config.customers
        if wanted is None:
            return await self._customer_pages({})
        found: list[MetronomeCustomer] = []
        for i in range(0, len(wanted), 100):
            found += await self._customer_pages({"customer_ids": ",".join(wanted[i : i + 100])})
        known = {c.id for c in found}
        for cid in wanted:
            if cid not in known:
                log.warning("metronome_customer_not_listed source=%s customer=%s", self.name, cid)
                found.append(MetronomeCustomer(cid, ""))
        return found

    async def _customer_pages(self, params: dict[str, QueryValue]) -> list[MetronomeCustomer]:
        out: list[MetronomeCustomer] = []
        cursor: str | None = None
        seen: set[str] = set()
        for page in range(1, MAX_PAGES + 1):
            query: dict[str, QueryValue] = {**params, "limit": self.config.page_limit}
            query["next_page"] = cursor
            body, _ = await self._client.get_json("/v1/customers", query)
            try:
                parsed = _CustomerPage.model_validate(body)
            except ValidationError as exc:
                raise BadResponse(
                    f"source {self.name}: GET /v1/customers page {page}: {_short(exc)}"
                ) from None
            out += self._customer_entries(parsed.data, page)
            cursor = parsed.next_page or None
            if cursor is None:
                return out
            if len(cursor) > MAX_CURSOR:
                raise BadResponse(
                    f"source {self.name}: GET /v1/customers page {page}: next_page cursor "
                    f"longer than {MAX_CURSOR} characters"
                )
            if cursor in seen:
                raise BadResponse(
                    f"source {self.name}: GET /v1/customers page {page}: repeated next_page cursor"
                )
            seen.add(cursor)
        raise BadResponse(f"source {self.name}: GET /v1/customers: more than {MAX_PAGES} pages")

    def _customer_entries(self, entries: list[object], page: int) -> list[MetronomeCustomer]:
        """The usable customers of one page. An entry without a string ``id`` is left out
        (and reported each cycle); one with a bad ``name`` is polled with an empty name."""
        out: list[MetronomeCustomer] = []
        for index, entry in enumerate(entries, start=1):
            if type(entry) is dict:  # the documented shape, as the model would read it
                cid, name = entry.get("id"), entry.get("name")
                if type(cid) is str and type(name) is str:
                    if cid:
                        out.append(MetronomeCustomer(cid, name))
                    continue
            try:
                detail = _CustomerDetail.model_validate(entry)
            except ValidationError as exc:
                raw_id = entry.get("id") if isinstance(entry, dict) else None
                if isinstance(raw_id, str) and raw_id:
                    out.append(MetronomeCustomer(raw_id, ""))
                    continue
                self._customer_problems.append(
                    f"GET /v1/customers page {page} entry {index}: customer left out: {_short(exc)}"
                )
                continue
            if detail.id:
                out.append(MetronomeCustomer(detail.id, detail.name))
        return out

    def _select(self, listed: list[MetronomeCustomer]) -> list[MetronomeCustomer]:
        pattern = self.config.customer_filter
        if pattern is None:
            return listed
        return [c for c in listed if fnmatch.fnmatchcase(c.name, pattern)]

    # -- breakdowns ------------------------------------------------------------------
    def _note_skipped(self, skipped: dict[str, int]) -> None:
        """Count skipped line items; warn once per cycle for each type nobody expects."""
        for kind, count in skipped.items():
            self.skipped_line_items[kind] = self.skipped_line_items.get(kind, 0) + count
            self._cycle_skipped[kind] = self._cycle_skipped.get(kind, 0) + count
            if kind in KNOWN_NON_SPEND_TYPES or kind in self._warned_types:
                continue
            self._warned_types.add(kind)
            log.warning(
                "metronome_line_items_skipped source=%s type=%s count=%d "
                "reason=type_not_in_line_item_types",
                self.name,
                _printable(kind),
                count,
            )

    async def fetch(self, since: datetime, until: datetime) -> FetchResult:
        """Every window overlapping ``[since, until)`` for every selected customer.

        Raises ``SourceError`` only when the customer list cannot be had at all or the
        token is refused; per-customer failures go to ``errors``.
        """
        step = self.step
        start = floor_time(since.astimezone(UTC), step)
        end = floor_time(until.astimezone(UTC), step)
        if end < until.astimezone(UTC):
            end += step
        # Windows that have not ended yet are covered only if the API returned them:
        # an open window it left out is unknown, not zero.
        horizon = floor_time(self._clock.now(), step)
        self._warned_types = set()  # warn once per unexpected type per cycle
        self._queries = {}
        self._cycle_skipped = {}
        customers = await self.customers()
        jobs = [
            (customer, lo, hi) for customer in customers for lo, hi in split_range(start, end, step)
        ]
        rows = PollRows(int(step.total_seconds()))
        # per chunk: end (Unix seconds) of the last window returned, its start if none
        done: list[int | None] = [None] * len(jobs)
        failed: dict[int, SourceError] = {}
        pending = iter(range(len(jobs)))

        async def work() -> None:
            # as many workers as requests may be in flight, each taking the next chunk:
            # not a task per chunk (tens of thousands of coroutines for the collector)
            for i in pending:
                customer, lo, hi = jobs[i]
                result = await self._guarded(customer, lo, hi)
                if isinstance(result, SourceError):
                    failed[i] = result
                    continue
                rows.add(result, i)
                chunk_start = int(lo.timestamp())
                done[i] = chunk_start if result.last_end is None else result.last_end

        try:
            # A refused token cancels every other request at once (reported once).
            async with asyncio.TaskGroup() as group:
                for _ in range(min(self.config.concurrency, len(jobs))):
                    group.create_task(work())
        except BaseExceptionGroup as exc_group:
            auth = exc_group.subgroup(AuthRejected)
            if auth is not None:
                raise auth.exceptions[0] from None
            raise
        covered: dict[str, list[tuple[datetime, datetime]]] = {}
        errors: list[str] = list(self._customer_problems)
        for i, (customer, lo, hi) in enumerate(jobs):
            error = failed.get(i)
            if error is not None:
                errors.append(
                    f"customer {customer.id} ({customer.name!r}) window "
                    f"{format_time(lo)}..{format_time(hi)}: {error}"
                )
                continue
            last_end = done[i]
            if last_end is None:
                continue  # every chunk ends done or failed; never here
            covered_end = min(hi, max(horizon, datetime.fromtimestamp(last_end, UTC)))
            if covered_end > lo:
                covered.setdefault(customer.id, []).append((lo, covered_end))
        coverage = [
            Coverage(lo, hi, scope=(("customer_id", cap_value(cid)),))
            for cid, spans in covered.items()
            for lo, hi in _merge(spans)
        ]
        for message in errors:
            log.warning("metronome_chunk_failed source=%s %s", self.name, message)
        log.info(
            "metronome_fetch source=%s customers=%d chunks=%d failed=%d points=%d requests=%d",
            self.name,
            len(customers),
            len(jobs),
            len(errors),
            rows.rows,
            self._client.requests,
        )
        skipped: dict[str, int] = {}
        for i, (kind, n) in enumerate(sorted(self._cycle_skipped.items())):
            # a label per type, but a hostile API cannot mint unbounded metric series
            label = f"line_item_type={_printable(kind, 40)}" if i < 20 else "line_item_type=other"
            skipped[label] = skipped.get(label, 0) + n
        return FetchResult(
            points=[], coverage=coverage, errors=errors, skipped=skipped, table=rows.table()
        )

    async def _guarded(
        self, customer: MetronomeCustomer, start: datetime, end: datetime
    ) -> ChunkRows | SourceError:
        """``_fetch_chunk``'s result, or its error as a value; only ``AuthRejected`` propagates."""
        try:
            return await self._fetch_chunk(customer, start, end)
        except AuthRejected:
            raise
        except SourceError as exc:
            return exc
        except Exception as exc:  # bad data must reject only its own (customer, chunk)
            log.exception("metronome_chunk_crashed source=%s customer=%s", self.name, customer.id)
            return BadResponse(f"unexpected {type(exc).__name__} while reading the breakdowns")

    async def _fetch_chunk(
        self, customer: MetronomeCustomer, start: datetime, end: datetime
    ) -> ChunkRows:
        """All pages of one (customer, chunk), validated and summed into rows (with the
        end of the last window the API returned); raises SourceError."""
        path = self._paths.get(customer.id)
        if path is None:
            path = f"/v1/customers/{quote(customer.id, safe='')}/invoices/breakdowns"
            self._paths[customer.id] = path
        # the same few windows for every customer: their query is built once a cycle
        params = self._queries.get((start, end))
        if params is None:
            params = self._queries[(start, end)] = {
                "starting_on": format_time(start),
                "ending_before": format_time(end),
                "window_size": "HOUR" if self.config.window == "hour" else "DAY",
                "limit": self.config.page_limit,
                "skip_zero_qty_line_items": self.config.skip_zero_qty_line_items or None,
                "status": self.config.status,
                "sort": self.config.sort,
                "credit_type_id": self.config.credit_type_id,
            }
        invoices: list[Invoice] = []
        cursor: str | None = None
        seen: set[str] = set()
        for page in range(1, MAX_PAGES + 1):
            body, _ = await self._client.get_json(
                path, {**params, "next_page": cursor}, decode=decode_page
            )
            read = None
            if isinstance(body, TypedPage):
                read = typed_page(body, self._stamps)
                if read is None:
                    body = page_builtins(body)
            if read is None:
                read = fast_page(body, self._stamps)
            if read is None:  # not the plain documented shape: the models decide
                try:
                    parsed = _BreakdownPage.model_validate(body)
                    read = slow_page(parsed), parsed.next_page
                except ValidationError as exc:
                    raise BadResponse(
                        f"page {page} does not match the schema: {_short(exc)}"
                    ) from None
                except ValueError as exc:
                    raise BadResponse(f"page {page}: {exc}") from None
            invoices += read[0]
            cursor = read[1] or None
            if cursor is None:
                rows = sum_chunk(
                    invoices,
                    customer_id=customer.id,
                    customer_name=customer.name,
                    start=int(start.timestamp()),
                    end=int(end.timestamp()),
                    step=self._step_seconds,
                    window=self.config.window,
                    types=self._types,
                )
                self._note_skipped(rows.skipped)
                return rows
            if len(cursor) > MAX_CURSOR:
                raise BadResponse(
                    f"page {page}: next_page cursor longer than {MAX_CURSOR} characters"
                )
            if cursor in seen:
                raise BadResponse(f"page {page}: repeated next_page cursor")
            seen.add(cursor)
        raise BadResponse(f"more than {MAX_PAGES} pages")


KNOWN_NON_SPEND_TYPES = frozenset({"applied_commit_or_credit", "commit_purchase", "cpu_conversion"})
"""Documented line item types that are not spend: skipped quietly unless configured."""
