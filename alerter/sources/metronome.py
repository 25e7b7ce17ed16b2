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
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import ClassVar, Literal
from urllib.parse import quote

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)

from alerter.domain import CostPoint, Coverage, SeriesKey, cap_value
from alerter.errors import BadResponse, ConfigError, SourceError
from alerter.money import MAX_AMOUNT, MAX_QUANTITY, check_amount, parse_amount
from alerter.sources.base import FetchResult, SourceConfig, SourceContext
from alerter.sources.http import (
    AuthRejected,
    JsonHttpClient,
    QueryValue,
    RetryPolicy,
    normalise_token,
)
from alerter.timeparse import Duration, floor_time, format_time, parse_duration

log = logging.getLogger(__name__)

USD_CENTS_ID = "2714e483-4ff1-48e4-9e25-ac732e8f24f2"
"""Metronome's fiat credit type: amounts are US cents."""
USD_CENTS_NAME = "USD (cents)"
HOURLY_PAGE_WINDOWS = 24
DAILY_PAGE_WINDOWS = 35
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


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _CreditType(_Loose):
    id: str
    name: str


class _LineItem(_Loose):
    name: str
    total: Decimal
    credit_type: _CreditType
    type: str
    quantity: Decimal | None = None
    product_id: str | None = None

    @field_validator("total", mode="before")
    @classmethod
    def _sane_total(cls, value: object) -> object:
        return _bounded(value, MAX_AMOUNT)

    @field_validator("quantity", mode="before")
    @classmethod
    def _sane_quantity(cls, value: object) -> object:
        return None if value is None else _bounded(value, MAX_QUANTITY)


def _bounded(value: object, limit: Decimal) -> Decimal:
    """A JSON number (or numeric string) as a Decimal inside ``(-limit, limit)``."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError("not a number")
    try:
        number = parse_amount(value) if limit == MAX_AMOUNT else _any_decimal(value)
        return check_amount(number, limit)
    except ValueError as exc:
        raise ValueError(str(exc).split(":")[0]) from None


def _any_decimal(value: int | float | str | Decimal) -> Decimal:
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError):
        raise ValueError("not a decimal number") from None
    return number


class _BreakdownInvoice(_Loose):
    id: str
    customer_id: str
    credit_type: _CreditType
    line_items: list[_LineItem]
    status: str
    total: Decimal
    type: str
    breakdown_start_timestamp: AwareDatetime
    breakdown_end_timestamp: AwareDatetime


class _BreakdownPage(_Loose):
    data: list[_BreakdownInvoice]
    next_page: str | None = None


class _CustomerDetail(_Loose):
    id: str
    name: str


class _CustomerPage(_Loose):
    data: list[object]
    """Validated one by one (``_CustomerDetail``): a malformed entry costs only itself."""
    next_page: str | None = None


def split_range(
    start: datetime, end: datetime, step: timedelta
) -> Iterator[tuple[datetime, datetime]]:
    """Chunks of ``[start, end)`` that fit one page: UTC days for hours, 35 days for days."""
    size = timedelta(days=1) if step < timedelta(days=1) else timedelta(days=DAILY_PAGE_WINDOWS)
    cursor = start
    while cursor < end:
        boundary = floor_time(cursor, size) + size if size == timedelta(days=1) else cursor + size
        chunk_end = min(end, boundary)
        yield cursor, chunk_end
        cursor = chunk_end


def to_money(amount: Decimal, credit_type: str, credit_type_id: str) -> tuple[Decimal, str]:
    """``(amount, currency)``: "USD (cents)" -> dollars in ``USD``; others unchanged."""
    if credit_type_id == USD_CENTS_ID or credit_type == USD_CENTS_NAME:
        return amount / 100, "USD"
    return amount, cap_value(credit_type)


class MetronomeSource:
    """Polls Metronome invoice breakdowns for every (or every configured) customer."""

    Config: ClassVar[type[SourceConfig]] = MetronomeConfig
    type: ClassVar[str] = "metronome"

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
        self._cycle_skipped = {}
        customers = await self.customers()
        jobs = [
            (customer, lo, hi) for customer in customers for lo, hi in split_range(start, end, step)
        ]
        try:
            # A refused token cancels every other request at once (reported once).
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._guarded(c, lo, hi)) for c, lo, hi in jobs]
        except BaseExceptionGroup as failed:
            auth = failed.subgroup(AuthRejected)
            if auth is not None:
                raise auth.exceptions[0] from None
            raise
        points: list[CostPoint] = []
        covered: dict[str, list[tuple[datetime, datetime]]] = {}
        errors: list[str] = list(self._customer_problems)
        for (customer, lo, hi), task in zip(jobs, tasks, strict=True):
            result = task.result()
            if isinstance(result, SourceError):
                errors.append(
                    f"customer {customer.id} ({customer.name!r}) window "
                    f"{format_time(lo)}..{format_time(hi)}: {result}"
                )
            else:
                chunk_points, last_end = result
                points += chunk_points
                covered_end = min(hi, max(horizon, last_end or lo))
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
            len(points),
            self._client.requests,
        )
        skipped: dict[str, int] = {}
        for i, (kind, n) in enumerate(sorted(self._cycle_skipped.items())):
            # a label per type, but a hostile API cannot mint unbounded metric series
            label = f"line_item_type={_printable(kind, 40)}" if i < 20 else "line_item_type=other"
            skipped[label] = skipped.get(label, 0) + n
        return FetchResult(points=points, coverage=coverage, errors=errors, skipped=skipped)

    async def _guarded(
        self, customer: MetronomeCustomer, start: datetime, end: datetime
    ) -> tuple[list[CostPoint], datetime | None] | SourceError:
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
    ) -> tuple[list[CostPoint], datetime | None]:
        """All pages of one (customer, chunk), validated: its points and the end of the
        last window the API returned (None if none); raises SourceError."""
        path = f"/v1/customers/{quote(customer.id, safe='')}/invoices/breakdowns"
        params: dict[str, QueryValue] = {
            "starting_on": format_time(start),
            "ending_before": format_time(end),
            "window_size": "HOUR" if self.config.window == "hour" else "DAY",
            "limit": self.config.page_limit,
            "skip_zero_qty_line_items": self.config.skip_zero_qty_line_items or None,
            "status": self.config.status,
            "sort": self.config.sort,
            "credit_type_id": self.config.credit_type_id,
        }
        invoices: list[_BreakdownInvoice] = []
        cursor: str | None = None
        seen: set[str] = set()
        for page in range(1, MAX_PAGES + 1):
            body, _ = await self._client.get_json(path, {**params, "next_page": cursor})
            try:
                parsed = _BreakdownPage.model_validate(body)
            except ValidationError as exc:
                raise BadResponse(f"page {page} does not match the schema: {_short(exc)}") from None
            invoices += parsed.data
            cursor = parsed.next_page or None
            if cursor is None:
                points = self._normalise(customer, start, end, invoices)
                ends = [i.breakdown_end_timestamp.astimezone(UTC) for i in invoices]
                return points, max(ends, default=None)
            if len(cursor) > MAX_CURSOR:
                raise BadResponse(
                    f"page {page}: next_page cursor longer than {MAX_CURSOR} characters"
                )
            if cursor in seen:
                raise BadResponse(f"page {page}: repeated next_page cursor")
            seen.add(cursor)
        raise BadResponse(f"more than {MAX_PAGES} pages")

    def _normalise(
        self,
        customer: MetronomeCustomer,
        start: datetime,
        end: datetime,
        invoices: list[_BreakdownInvoice],
    ) -> list[CostPoint]:
        step = self.step
        sums: dict[tuple[SeriesKey, datetime, str], tuple[Decimal, Decimal | None]] = {}
        skipped: dict[str, int] = {}
        for invoice in invoices:
            lo = invoice.breakdown_start_timestamp.astimezone(UTC)
            hi = invoice.breakdown_end_timestamp.astimezone(UTC)
            if invoice.customer_id != customer.id:
                raise BadResponse(f"invoice {invoice.id} belongs to customer {invoice.customer_id}")
            if hi - lo != step or lo < start or hi > end:
                raise BadResponse(
                    f"invoice {invoice.id} window {format_time(lo)}..{format_time(hi)} "
                    f"is not a {self.config.window} inside the requested range"
                )
            for line in invoice.line_items:
                if line.type.lower() not in self._types:
                    skipped[line.type.lower()] = skipped.get(line.type.lower(), 0) + 1
                    continue
                amount, currency = to_money(line.total, line.credit_type.name, line.credit_type.id)
                # make_key's canonical order, built directly (this loop runs per line item)
                key: SeriesKey = (
                    ("credit_type", cap_value(line.credit_type.name)),
                    ("customer_id", cap_value(customer.id)),
                    ("customer_name", cap_value(customer.name)),
                    ("line_item", cap_value(line.name)),
                    ("product_id", cap_value(line.product_id or "")),
                )
                old_amount, old_qty = sums.get((key, lo, currency), (Decimal(0), None))
                qty = old_qty
                if line.quantity is not None:
                    qty = (old_qty or Decimal(0)) + line.quantity
                sums[(key, lo, currency)] = (old_amount + amount, qty)
        for (_key, lo, _currency), (amount, qty) in sums.items():
            try:
                check_amount(amount)
                if qty is not None:
                    check_amount(qty, MAX_QUANTITY)
            except ValueError as exc:
                raise BadResponse(f"window {format_time(lo)}: summed line items: {exc}") from None
        self._note_skipped(skipped)
        return [
            CostPoint(
                source=self.name,
                key=key,
                start=lo,
                end=lo + step,
                amount=amount,
                quantity=qty,
                currency=currency,
            )
            for (key, lo, currency), (amount, qty) in sums.items()
        ]


KNOWN_NON_SPEND_TYPES = frozenset({"applied_commit_or_credit", "commit_purchase", "cpu_conversion"})
"""Documented line item types that are not spend: skipped quietly unless configured."""


def _merge(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(spans):
        if out and out[-1][1] >= lo:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _printable(text: str, limit: int = 60) -> str:
    shown = "".join(c if c.isprintable() else "?" for c in text[:limit])
    return shown + ("..." if len(text) > limit else "")


def _short(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{exc.error_count()} error(s), first at {where or 'body'}: {first['msg']}"
