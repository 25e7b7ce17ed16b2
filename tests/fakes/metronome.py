"""A loopback fake of Metronome's REST API, built from ../shared/api/README.md section 1.

Real HTTP on 127.0.0.1 (a ``ThreadingHTTPServer`` in a thread, port 0; or, as
``FakeMetronomeProcess``, one asyncio loop in a child process), for tests, the soak run
and bench/. Both fronts give the same ``answer()``. It serves:

- ``GET /v1/customers``: cursor pages (``limit`` 1..100, default 25), active customers
  only unless ``only_archived=true``, ``customer_ids`` filter (comma-joined or repeated).
- ``GET /v1/customers/{id}/invoices/breakdowns``: ``starting_on``/``ending_before``
  required RFC 3339, ``window_size`` in ``hour|day|HOUR|DAY|Hour|Day`` (default day),
  ``limit`` 1..100 counting BreakdownInvoice objects, at most 24 hourly / 35 daily windows
  per page, then an opaque ``next_page`` cursor (``null`` on the last page), ``status``,
  ``sort``, ``credit_type_id`` and ``skip_zero_qty_line_items``. Only windows fully
  inside the range; the same invoice ``id`` repeats across windows; one object per
  (credit type, window). Unknown customer: ``404 {"message": ...}``; bad parameter
  (including an unknown one, or a cursor reused with other parameters): ``400``.
- ``Authorization: Bearer <token>`` required: ``401 {"message": "Unauthorized"}``;
  a token in ``forbidden_tokens`` gets ``403``.

Usage::

    data = MetronomeDataset()
    acme = data.add_customer("Acme", products=[Product("GPU compute")])
    data.set_usage(acme.id, "GPU compute", hour, Decimal(1200))   # cents, one hour
    with FakeMetronome(data, token="t0k") as fake:
        fake.url                                     # http://127.0.0.1:PORT
        fake.faults.append(Fault("429", customer_id=acme.id, retry_after="2"))
        ...
        fake.requests                                # the request log

``MetronomeDataset(usage=SyntheticUsage(...))`` gives thousands of customers a cheap
deterministic hourly pattern; ``set_usage`` overrides single hours (spikes, revisions).
``FakeMetronomeProcess`` serves a copy of a dataset from a forked child process, for
bench/ and large scenarios where an in-process server would share the client's GIL:
latency there is an ``asyncio.sleep`` (answers wait at once, not one thread each) and
rendered pages are kept, so its CPU per request is HTTP work, not rendering.

Amounts in the dataset are per hour in the product's credit type units (cents for
"USD (cents)"); daily windows sum their hours. ``set_usage`` may be called again for a
past hour while the server runs: that is backdated usage (a revision).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import json
import multiprocessing
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.asyncloopback import AsyncLoopback
from tests.fakes.loopback import Loopback

USD_CENTS_ID = "2714e483-4ff1-48e4-9e25-ac732e8f24f2"

_NS = uuid.UUID("6f1c2a3e-0000-4000-8000-00000000a1e7")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|z|[+-]\d{2}:\d{2})$")
_WINDOW_SIZES = {"hour", "day", "HOUR", "DAY", "Hour", "Day"}
_BREAKDOWN_PARAMS = {
    "starting_on",
    "ending_before",
    "window_size",
    "limit",
    "next_page",
    "status",
    "sort",
    "credit_type_id",
    "skip_zero_qty_line_items",
}
_CUSTOMER_PARAMS = {
    "limit",
    "next_page",
    "customer_ids",
    "ingest_alias",
    "only_archived",
    "salesforce_account_ids",
}


@functools.lru_cache(maxsize=65536)
def stable_id(*parts: str) -> str:
    """A deterministic uuid for fake objects."""
    return str(uuid.uuid5(_NS, "|".join(parts)))


@dataclass(frozen=True)
class CreditType:
    id: str
    name: str


USD_CENTS = CreditType(USD_CENTS_ID, "USD (cents)")


@dataclass(frozen=True)
class Product:
    """A product billed to a customer; one line item per window."""

    name: str
    id: str = ""
    credit_type: CreditType = USD_CENTS
    unit_price: Decimal = Decimal(1)
    line_type: str = "usage"

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", stable_id("product", self.name))


@dataclass
class Customer:
    """A customer; ``commit_per_window`` draws a prepaid commit (a negative line)."""

    id: str
    name: str
    products: list[Product]
    archived: bool = False
    commit_per_window: Decimal | None = None
    plans: bool = False
    status: str = "DRAFT"
    external_id: str = ""


UsageFn = Callable[[Customer, Product, datetime], Decimal]
"""Base hourly amount (credit type units) of a product for the hour starting at ``hour``."""


class MetronomeDataset:
    """Customers and their hourly usage; thread-safe to mutate while the server runs."""

    def __init__(self, usage: UsageFn | None = None) -> None:
        self.customers: dict[str, Customer] = {}
        self.usage_fn = usage
        self._overrides: dict[tuple[str, str, datetime], Decimal] = {}
        self.lock = threading.RLock()

    def add_customer(
        self,
        name: str,
        products: list[Product],
        *,
        customer_id: str | None = None,
        **kwargs: Any,
    ) -> Customer:
        cid = customer_id or stable_id("customer", name, str(len(self.customers)))
        customer = Customer(id=cid, name=name, products=list(products), **kwargs)
        with self.lock:
            self.customers[cid] = customer
        return customer

    def add_product(self, customer_id: str, product: Product) -> None:
        """A new product line starts billing for this customer."""
        with self.lock:
            self.customers[customer_id].products.append(product)

    def set_usage(self, customer_id: str, product: str, hour: datetime, amount: Decimal) -> None:
        """Set (or revise) the amount of one hour, in the product's credit type units."""
        with self.lock:
            self._overrides[(customer_id, product, hour.astimezone(UTC))] = Decimal(amount)

    def hourly(self, customer: Customer, product: Product, hour: datetime) -> Decimal:
        with self.lock:
            value = self._overrides.get((customer.id, product.name, hour))
        if value is not None:
            return value
        if self.usage_fn is None:
            return Decimal(0)
        return Decimal(self.usage_fn(customer, product, hour))

    def amount(
        self, customer: Customer, product: Product, start: datetime, end: datetime
    ) -> Decimal:
        total = Decimal(0)
        hour = start
        while hour < end:
            total += self.hourly(customer, product, hour)
            hour += timedelta(hours=1)
        return total


@dataclass
class Fault:
    """A scripted failure for matching requests.

    ``kind``: ``"429"`` (with ``retry_after`` header text if set), ``"500"``/``"502"``/
    ``"503"`` (non-JSON body), ``"401"``/``"403"``, ``"malformed"`` (valid JSON breaking
    the schema), ``"truncated"`` (the page cut in half, Content-Length matching), or
    ``"drop"`` (connection closed without an answer), ``"amount"`` (every line item's
    ``total`` becomes ``value``, raw JSON text such as ``1e999999999``), ``"line_type"``
    (every line item's ``type`` becomes ``value``), ``"trickle"`` (the page written one
    byte every ``delay`` seconds), ``"padded"`` (the page with ``value`` extra bytes of
    padding in an ignored field) or ``"body"`` (``value`` sent verbatim as the 200 body).
    Matches ``endpoint``
    (``"customers"``/``"breakdowns"``/None = any), ``customer_id``, ``page`` (1-based
    page of a cursor walk) and ``starting_on`` (exact datetime); fires ``times`` times
    (None = always).
    """

    kind: str
    customer_id: str | None = None
    endpoint: str | None = None
    page: int | None = None
    starting_on: datetime | None = None
    times: int | None = 1
    retry_after: str | None = None
    value: str | None = None
    delay: float = 0.0
    fired: int = 0

    def matches(
        self, endpoint: str, customer_id: str | None, page: int, start: datetime | None
    ) -> bool:
        if self.times is not None and self.fired >= self.times:
            return False
        if self.endpoint is not None and self.endpoint != endpoint:
            return False
        if self.customer_id is not None and self.customer_id != customer_id:
            return False
        if self.page is not None and self.page != page:
            return False
        return self.starting_on is None or self.starting_on == start


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the fake saw it."""

    path: str
    query: dict[str, list[str]]
    status: int
    authorized: bool
    endpoint: str
    customer_id: str | None = None
    page: int = 1


_Page = tuple[bytes, int, datetime | None]
"""A rendered page: JSON body, page number, ``starting_on`` (breakdowns) or None."""


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message


def _num(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


@functools.lru_cache(maxsize=65536)
def _fmt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_ts(name: str, raw: str | None) -> datetime:
    if raw is None:
        raise _BadRequest(400, f"{name} is required")
    if not _RFC3339.match(raw):
        raise _BadRequest(400, f"{name} must be an RFC 3339 date-time, got {raw!r}")
    text = raw[:-1] + "+00:00" if raw[-1] in "Zz" else raw
    return datetime.fromisoformat(text).astimezone(UTC)


def _parse_limit(raw: str | None, default: int) -> int:
    if raw is None:
        return default
    if not re.fullmatch(r"\d+", raw) or not 1 <= int(raw) <= 100:
        raise _BadRequest(400, f"limit must be an integer between 1 and 100, got {raw!r}")
    return int(raw)


def _parse_bool(name: str, raw: str | None) -> bool:
    if raw is None:
        return False
    if raw not in ("true", "false"):
        raise _BadRequest(400, f"{name} must be true or false, got {raw!r}")
    return raw == "true"


class FakeMetronome:
    """The server. A context manager: ``with FakeMetronome(data) as fake: fake.url``."""

    customers_default_limit = 25

    def __init__(
        self,
        dataset: MetronomeDataset,
        *,
        token: str = "test-token",
        forbidden_tokens: tuple[str, ...] = (),
        now: Callable[[], datetime] | None = None,
        latency: float = 0.0,
        cache_pages: bool = False,
    ) -> None:
        """``now``, when given, hides windows that start at or after it (no future data).

        ``latency`` (seconds, default 0) delays every answer, like a remote API; only
        bench/ uses it (tests never wait on it). ``cache_pages`` keeps every page body
        once rendered (by path and query), so asking again costs no rendering: only for
        a dataset that no longer changes (``FakeMetronomeProcess``).
        """
        self.dataset = dataset
        self.latency = latency
        self.token = token
        self.forbidden_tokens = forbidden_tokens
        self.now = now
        self.faults: list[Fault] = []
        self.requests: list[LoggedRequest] = []
        self._pages: dict[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], _Page] | None = (
            {} if cache_pages else None
        )
        self._lock = threading.Lock()
        self._server: Loopback | None = None

    # -- lifecycle -------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        return self._server.url

    def start(self) -> FakeMetronome:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = Loopback(handler)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self) -> FakeMetronome:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers for tests -----------------------------------------------------------

    def breakdown_requests(self, customer_id: str | None = None) -> list[LoggedRequest]:
        with self._lock:
            return [
                r
                for r in self.requests
                if r.endpoint == "breakdowns"
                and (customer_id is None or r.customer_id == customer_id)
            ]

    def statuses(self) -> list[int]:
        with self._lock:
            return [r.status for r in self.requests]

    def _log(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.requests.append(entry)

    def _take_fault(
        self, endpoint: str, customer_id: str | None, page: int, start: datetime | None
    ) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(endpoint, customer_id, page, start):
                    fault.fired += 1
                    return fault
        return None

    # -- cursors ---------------------------------------------------------------------

    @staticmethod
    def _fingerprint(query: dict[str, list[str]], path: str) -> str:
        items = sorted((k, v) for k, vs in query.items() if k != "next_page" for v in vs)
        return hashlib.sha256(repr((path, items)).encode()).hexdigest()[:12]

    @staticmethod
    def _cursor(offset: int, page: int, fingerprint: str) -> str:
        raw = f"{offset}|{page}|{fingerprint}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _read_cursor(raw: str | None, fingerprint: str) -> tuple[int, int]:
        if raw is None:
            return 0, 1
        try:
            text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
            offset, page, fp = text.split("|")
        except ValueError:
            raise _BadRequest(400, "invalid next_page cursor") from None
        if fp != fingerprint:
            raise _BadRequest(400, "next_page cursor does not match the other parameters")
        return int(offset), int(page)

    # -- endpoints -------------------------------------------------------------------

    def page(self, path: str, query: dict[str, list[str]], customer_id: str | None) -> _Page:
        """One page as JSON bytes, its page number and ``starting_on`` (breakdowns);
        from the page cache when it is on. Raises ``_BadRequest``."""
        key = (path, tuple(sorted((k, tuple(v)) for k, v in query.items())))
        if self._pages is not None:
            cached = self._pages.get(key)
            if cached is not None:
                return cached
        if customer_id is None:
            body, page = self.list_customers(path, query)
            found: _Page = (json.dumps(body).encode(), page, None)
        else:
            body, page, start = self.list_breakdowns(path, customer_id, query)
            found = (json.dumps(body).encode(), page, start)
        if self._pages is not None:
            self._pages[key] = found
        return found

    def warm(self, targets: list[str]) -> int:
        """Render these request targets (``/v1/...?...``) into the page cache ahead of
        time, unlogged; returns the bytes cached. A target the API would reject is skipped."""
        size = 0
        for target in targets:
            split = urlsplit(target)
            match = _BREAKDOWNS_PATH.match(split.path)
            query = parse_qs(split.query, keep_blank_values=True)
            try:
                size += len(self.page(split.path, query, match.group(1) if match else None)[0])
            except _BadRequest:
                continue
        return size

    def list_customers(self, path: str, query: dict[str, list[str]]) -> tuple[dict[str, Any], int]:
        """The body of one customers page and its page number."""
        unknown = set(query) - _CUSTOMER_PARAMS
        if unknown:
            raise _BadRequest(400, f"unknown parameter {sorted(unknown)[0]}")
        one = {k: v[-1] for k, v in query.items()}
        limit = _parse_limit(one.get("limit"), self.customers_default_limit)
        archived = _parse_bool("only_archived", one.get("only_archived"))
        ids = [i for v in query.get("customer_ids", []) for i in v.split(",") if i]
        if len(ids) > 100:
            raise _BadRequest(400, "customer_ids accepts at most 100 ids")
        offset, page = self._read_cursor(one.get("next_page"), self._fingerprint(query, path))
        with self.dataset.lock:
            selected = [
                c
                for c in self.dataset.customers.values()
                if c.archived == archived and (not ids or c.id in ids)
            ]
        chunk = selected[offset : offset + limit]
        more = offset + limit < len(selected)
        body = {
            "data": [_customer_json(c) for c in chunk],
            "next_page": self._cursor(offset + limit, page + 1, self._fingerprint(query, path))
            if more
            else None,
        }
        return body, page

    def list_breakdowns(
        self, path: str, customer_id: str, query: dict[str, list[str]]
    ) -> tuple[dict[str, Any], int, datetime]:
        """The body of one breakdowns page, its page number and its ``starting_on``."""
        unknown = set(query) - _BREAKDOWN_PARAMS
        if unknown:
            raise _BadRequest(400, f"unknown parameter {sorted(unknown)[0]}")
        one = {k: v[-1] for k, v in query.items()}
        start = _parse_ts("starting_on", one.get("starting_on"))
        end = _parse_ts("ending_before", one.get("ending_before"))
        size = one.get("window_size", "day")
        if size not in _WINDOW_SIZES:
            raise _BadRequest(400, f"window_size must be one of hour, day; got {size!r}")
        limit = _parse_limit(one.get("limit"), 100)
        sort = one.get("sort", "date_asc")
        if sort not in ("date_asc", "date_desc"):
            raise _BadRequest(400, f"sort must be date_asc or date_desc; got {sort!r}")
        skip_zero = _parse_bool("skip_zero_qty_line_items", one.get("skip_zero_qty_line_items"))
        offset, page = self._read_cursor(one.get("next_page"), self._fingerprint(query, path))
        with self.dataset.lock:
            customer = self.dataset.customers.get(customer_id)
        if customer is None:
            raise _BadRequest(404, "Customer not found")
        step = timedelta(hours=1) if size.lower() == "hour" else timedelta(days=1)
        per_page_windows = 24 if step == timedelta(hours=1) else 35
        objects = self._objects(customer, start, end, step, one, skip_zero)
        if sort == "date_desc":
            objects.reverse()
        chunk: list[dict[str, Any]] = []
        windows: set[str] = set()
        index = offset
        while index < len(objects) and len(chunk) < limit:
            window = objects[index]["breakdown_start_timestamp"]
            if window not in windows and len(windows) >= per_page_windows:
                break
            windows.add(window)
            chunk.append(objects[index])
            index += 1
        next_page = (
            self._cursor(index, page + 1, self._fingerprint(query, path))
            if index < len(objects)
            else None
        )
        return {"data": chunk, "next_page": next_page}, page, start

    def _objects(
        self,
        customer: Customer,
        start: datetime,
        end: datetime,
        step: timedelta,
        one: dict[str, str],
        skip_zero: bool,
    ) -> list[dict[str, Any]]:
        epoch = datetime(1970, 1, 1, tzinfo=UTC)
        first = epoch + step * -(-(start - epoch) // step)  # ceil: windows starting on/after
        now = self.now() if self.now is not None else None
        out: list[dict[str, Any]] = []
        window = first
        while window + step <= end:
            if now is not None and window >= now:
                break
            out.extend(self._window_objects(customer, window, window + step, one, skip_zero))
            window += step
        return out

    def _window_objects(
        self,
        customer: Customer,
        start: datetime,
        end: datetime,
        one: dict[str, str],
        skip_zero: bool,
    ) -> list[dict[str, Any]]:
        if one.get("status") is not None and one["status"] != customer.status:
            return []
        by_credit: dict[CreditType, list[Product]] = {}
        for product in customer.products:
            by_credit.setdefault(product.credit_type, []).append(product)
        month = start.strftime("%Y-%m")
        month_start = start.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        month_end = (month_start + timedelta(days=32)).replace(day=1)
        out = []
        for credit, products in by_credit.items():
            if one.get("credit_type_id") is not None and one["credit_type_id"] != credit.id:
                continue
            lines: list[dict[str, Any]] = []
            usage_total = Decimal(0)
            for product in products:
                amount = self.dataset.amount(customer, product, start, end)
                quantity = amount / product.unit_price if product.unit_price else Decimal(0)
                if skip_zero and quantity == 0:
                    continue
                usage_total += amount
                lines.append(_line_json(customer, product, amount, quantity, start, end))
            total = usage_total
            if customer.commit_per_window and credit == USD_CENTS and usage_total > 0:
                drawn = min(customer.commit_per_window, usage_total)
                total -= drawn
                lines.append(_commit_line_json(customer, products[0], drawn, start, end))
            invoice: dict[str, Any] = {
                "id": stable_id("invoice", customer.id, credit.id, month),
                "customer_id": customer.id,
                "type": "USAGE",
                "status": customer.status,
                "credit_type": {"id": credit.id, "name": credit.name},
                "start_timestamp": _fmt(month_start),
                "end_timestamp": _fmt(month_end),
                "breakdown_start_timestamp": _fmt(start),
                "breakdown_end_timestamp": _fmt(end),
                "line_items": lines,
                "total": _num(total),
            }
            if customer.plans:
                invoice["plan_id"] = stable_id("plan", customer.id)
                invoice["plan_name"] = "Usage plan"
                invoice["subtotal"] = _num(usage_total)
                invoice["invoice_adjustments"] = []
            else:
                invoice["contract_id"] = stable_id("contract", customer.id)
            out.append(invoice)
        return out


class FakeMetronomeProcess:
    """The same API in a forked child process, for bench/ and large scenarios.

    A client under test and a server in one process share the GIL, which caps the
    measured throughput at the server's; a child process does not. The child serves
    from one asyncio event loop (``asyncloopback.AsyncLoopback``): ``latency`` is an
    ``asyncio.sleep``, so thousands of answers wait at once without a thread each, and
    every page, once rendered, is kept (the copied dataset no longer changes), so asking
    again costs only the HTTP work; ``warm`` renders pages ahead of a measurement. The
    dataset (and ``now``, faults) are copied at start: later changes in the parent are
    not seen. ``requests`` (the child's request log) is filled in when the context
    exits; ``cpu_seconds()`` is the child's CPU time so far. Linux only (uses ``fork``).
    """

    def __init__(
        self,
        dataset: MetronomeDataset,
        *,
        token: str = "test-token",
        now: Callable[[], datetime] | None = None,
        latency: float = 0.0,
        faults: list[Fault] | None = None,
    ) -> None:
        self._args = (dataset, token, now, latency, list(faults or []))
        self.url = ""
        self.requests: list[LoggedRequest] = []
        self._conn: Any = None
        self._proc: Any = None

    def __enter__(self) -> FakeMetronomeProcess:
        ctx = multiprocessing.get_context("fork")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve_child, args=(child, *self._args), daemon=True)
        self._proc.start()
        child.close()
        self._conn = parent
        self.url = parent.recv()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._conn.send(("stop", None))
            self.requests = self._conn.recv()
        finally:
            self._conn.close()
            self._proc.join(timeout=10)
            self._proc.close()

    def warm(self, targets: list[str]) -> int:
        """Render these request targets in the child now (see ``FakeMetronome.warm``);
        returns the bytes cached."""
        self._conn.send(("warm", targets))
        size: int = self._conn.recv()
        return size

    def cpu_seconds(self) -> float:
        """User + system CPU time the child has used so far (Linux ``/proc``)."""
        with open(f"/proc/{self._proc.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def statuses(self) -> list[int]:
        return [r.status for r in self.requests]


def _serve_child(
    conn: Any,
    dataset: MetronomeDataset,
    token: str,
    now: Callable[[], datetime] | None,
    latency: float,
    faults: list[Fault],
) -> None:
    fake = FakeMetronome(dataset, token=token, now=now, cache_pages=True)
    fake.faults.extend(faults)

    def respond(target: str, headers: Mapping[str, str]) -> Answer:
        return answer(fake, target, headers.get("authorization", ""))

    async def serve() -> None:
        server = await AsyncLoopback.start(respond, latency=latency)
        conn.send(server.url)
        loop = asyncio.get_running_loop()
        while True:
            command, arg = await loop.run_in_executor(None, conn.recv)
            if command == "warm":
                conn.send(fake.warm(arg))
                continue
            await server.close()
            conn.send(list(fake.requests))
            return

    asyncio.run(serve())
    conn.close()


def _customer_json(c: Customer) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": c.id,
        "external_id": c.external_id or c.id,
        "ingest_aliases": [],
        "name": c.name,
        "customer_config": {"salesforce_account_id": None},
        "custom_fields": {},
        "created_at": "2024-01-01T00:00:00.000Z",
        "updated_at": "2024-01-01T00:00:00.000Z",
    }
    if c.archived:
        body["archived_at"] = "2024-06-01T00:00:00.000Z"
    return body


def _line_json(
    customer: Customer,
    product: Product,
    amount: Decimal,
    quantity: Decimal,
    start: datetime,
    end: datetime,
) -> dict[str, Any]:
    credit = {"id": product.credit_type.id, "name": product.credit_type.name}
    if customer.plans:
        # Plans-era line: no product_id; the charge detail is in sub_line_items.
        return {
            "credit_type": credit,
            "name": product.name,
            "type": product.line_type,
            "total": _num(amount),
            "quantity": _num(quantity),
            "sub_line_items": [
                {
                    "name": f"{product.name} units",
                    "quantity": _num(quantity),
                    "subtotal": _num(amount),
                    "price": _num(product.unit_price),
                    "charge_id": stable_id("charge", product.name),
                    "custom_fields": {},
                }
            ],
        }
    return {
        "credit_type": credit,
        "name": product.name,
        "type": product.line_type,
        "product_id": product.id,
        "product_type": "UsageProductListItem",
        "quantity": _num(quantity),
        "unit_price": _num(product.unit_price),
        "total": _num(amount),
        "starting_at": _fmt(start),
        "ending_before": _fmt(end),
    }


def _commit_line_json(
    customer: Customer, product: Product, drawn: Decimal, start: datetime, end: datetime
) -> dict[str, Any]:
    commit_id = stable_id("commit", customer.id)
    return {
        "credit_type": {"id": USD_CENTS.id, "name": USD_CENTS.name},
        "name": "Prepaid commit",
        "type": "applied_commit_or_credit",
        "total": _num(-drawn),
        "applied_commit_or_credit": {"id": commit_id, "type": "PREPAID"},
        "commit_id": commit_id,
        "commit_type": "PrepaidCommit",
        "product_id": product.id,
        "product_type": "UsageProductListItem",
        "starting_at": _fmt(start),
        "ending_before": _fmt(end),
    }


_BREAKDOWNS_PATH = re.compile(r"^/v1/customers/([^/]+)/invoices/breakdowns$")


@dataclass(frozen=True)
class Answer:
    """What the fake answers one request with, whichever server front sends it:
    ``action`` is ``"send"`` (status, headers, body), ``"drop"`` (close the connection
    without an answer) or ``"trickle"`` (the body one byte every ``delay`` seconds)."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    action: str = "send"
    delay: float = 0.0


def _json_answer(status: int, body: object, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, json.dumps(body).encode(), tuple((headers or {}).items()))


def answer(fake: FakeMetronome, target: str, auth: str) -> Answer:
    """The fake's answer to ``GET target`` with this ``Authorization`` header, logged."""
    split = urlsplit(target)
    query = parse_qs(split.query, keep_blank_values=True)
    match = _BREAKDOWNS_PATH.match(split.path)
    endpoint = "breakdowns" if match else "customers" if split.path == "/v1/customers" else ""
    customer_id = match.group(1) if match else None
    authorized = auth == f"Bearer {fake.token}"
    forbidden = any(auth == f"Bearer {t}" for t in fake.forbidden_tokens)

    def log(status: int, page: int = 1) -> None:
        fake._log(LoggedRequest(split.path, query, status, authorized, endpoint, customer_id, page))

    if not endpoint:
        log(404)
        return _json_answer(404, {"message": "Not found"})
    if forbidden:
        log(403)
        return _json_answer(403, {"message": "Forbidden"})
    if not authorized:
        log(401)
        return _json_answer(401, {"message": "Unauthorized"})
    try:
        raw, page, start = fake.page(split.path, query, customer_id)
    except _BadRequest as exc:
        log(exc.status)
        return _json_answer(exc.status, {"message": exc.message})
    fault = fake._take_fault(endpoint, customer_id, page, start)
    if fault is None:
        log(200, page)
        return Answer(200, raw)
    return _fault_answer(fault, json.loads(raw), log, page)


def _fault_answer(
    fault: Fault, body: dict[str, Any], log: Callable[[int, int], None], page: int
) -> Answer:
    kind = fault.kind
    if kind == "429":
        log(429, page)
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        return _json_answer(429, {"message": "Too many requests"}, headers)
    if kind in ("500", "502", "503"):
        log(int(kind), page)
        return Answer(int(kind), b"<html>upstream error</html>")
    if kind in ("401", "403"):
        log(int(kind), page)
        return _json_answer(
            int(kind), {"message": "Unauthorized" if kind == "401" else "Forbidden"}
        )
    if kind == "malformed":
        log(200, page)
        return _json_answer(200, _malformed(body))
    if kind == "truncated":
        log(200, page)
        raw = json.dumps(body).encode()
        return Answer(200, raw[: max(1, len(raw) // 2)])
    if kind in ("amount", "line_type"):
        log(200, page)
        field = "total" if kind == "amount" else "type"
        marked: dict[str, Any] = json.loads(json.dumps(body))
        for row in marked.get("data") or []:
            for line in row.get("line_items") or []:
                line[field] = "\u0000RAW\u0000" if kind == "amount" else fault.value
        raw_text = json.dumps(marked)
        if kind == "amount":
            raw_text = raw_text.replace('"\\u0000RAW\\u0000"', fault.value or "null")
        return Answer(200, raw_text.encode())
    if kind == "body":
        log(200, page)
        return Answer(200, (fault.value or "").encode())
    if kind == "padded":
        log(200, page)
        return _json_answer(200, {**body, "padding": "x" * int(fault.value or "0")})
    if kind == "trickle":
        log(200, page)
        return Answer(200, json.dumps(body).encode(), action="trickle", delay=fault.delay)
    if kind == "drop":
        log(0, page)
        return Answer(0, action="drop")
    raise ValueError(f"unknown fault kind {kind!r}")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeMetronome
    protocol_version = "HTTP/1.1"
    timeout = 30

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle + delayed ACK
        # add ~40 ms to every response on loopback.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        fake = self.fake
        if fake.latency > 0:
            time.sleep(fake.latency)
        got = answer(fake, self.path, self.headers.get("Authorization", ""))
        if got.action == "drop":
            self.close_connection = True
            self.wfile.flush()
            self.connection.close()
            return
        self.send_response(got.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(got.body)))
        for name, value in got.headers:
            self.send_header(name, value)
        self.end_headers()
        if got.action == "send":
            self.wfile.write(got.body)
            return
        try:  # trickle
            for i in range(len(got.body)):
                self.wfile.write(got.body[i : i + 1])
                self.wfile.flush()
                time.sleep(got.delay)
        except OSError:
            pass


def _malformed(body: dict[str, Any]) -> dict[str, Any]:
    """The same page with a schema break: a required field missing or mistyped."""
    broken: dict[str, Any] = json.loads(json.dumps(body))
    rows = broken.get("data") or []
    if not rows:
        return {"data": "not-a-list", "next_page": None}
    row = rows[-1]
    if row.get("line_items"):
        row["line_items"][-1]["total"] = "twelve"
    else:
        row.pop("breakdown_end_timestamp", None)
    return broken


def hours(start: datetime, count: int) -> Iterator[datetime]:
    """``count`` consecutive hour starts from ``start``."""
    for i in range(count):
        yield start + timedelta(hours=i)


@functools.lru_cache(maxsize=1 << 17)
def _scale(customer_id: str) -> int:
    return 1 + int(hashlib.md5(customer_id.encode()).hexdigest()[:4], 16) % 5


@dataclass
class SyntheticUsage:
    """A deterministic hourly usage pattern: base x daily cycle x weekday factor.

    ``base`` maps product name -> cents per hour; every customer gets a scale from its
    id so customers differ. Cheap to evaluate for thousands of customers.
    """

    base: dict[str, Decimal] = field(default_factory=lambda: {"API requests": Decimal(500)})

    def __call__(self, customer: Customer, product: Product, hour: datetime) -> Decimal:
        cents = self.base.get(product.name)
        if cents is None:
            return Decimal(0)
        scale = _scale(customer.id)
        daily = (
            8,
            7,
            6,
            6,
            6,
            7,
            9,
            11,
            13,
            14,
            15,
            15,
            15,
            15,
            15,
            14,
            14,
            13,
            12,
            11,
            10,
            9,
            9,
            8,
        )
        weekday = 10 if hour.weekday() < 5 else 6
        return (cents * scale * daily[hour.hour] * weekday / 100).quantize(Decimal(1))
