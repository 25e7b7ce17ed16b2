"""A loopback fake of DigitalOcean's *List Billing Insights*, built from ../shared/api/.

Real HTTP on 127.0.0.1 (threaded ``http.server``, port 0). Use it as a context manager::

    with FakeDigitalOcean(token="t0k") as fake:
        fake.add_point(URN, "2025-03-10", "0.86", sku="1-DO-DROP-0109", region="nyc3")
        fake.faults.append(Fault(status=500))          # next request gets a 500
        ...  # point a client at fake.base_url
        fake.requests                                   # what was asked, in order

What it follows from the reference (section 2 and 3):

- ``GET /v2/billing/{account_urn}/insights/{start_date}/{end_date}?page=&per_page=``;
  ``Authorization: Bearer`` required (else ``401 {"id": "unauthorized", ...}``); dates
  ``YYYY-MM-DD``, ``end_date`` inclusive, a span over 31 days (or reversed) is ``400``;
  ``per_page`` 1..200 (default 20), ``page`` >= 1 (default 1); an unknown account is
  ``404``.
- Body ``{"data_points", "total_items", "total_pages", "current_page"}``, no
  ``links``/``meta``; ``total_pages`` is 0 for an empty range.
- ``ratelimit-limit``/``ratelimit-remaining``/``ratelimit-reset`` on every response:
  a rolling hour per token (``reset`` = when the oldest counted request expires) and
  a per-minute burst limit; over either, ``429 {"id": "too_many_requests"}``, with
  ``retry-after`` for a burst.

Time comes from ``now`` (Unix seconds), so a test can drive it with a FakeClock; by
default a clock pinned to ``tests.timekeeping.PINNED_START``.
The dataset may be changed at any time (``add_point``, ``revise``, ``remove_points``),
including from a ``Fault.mutate`` hook between the pages of one walk.
"""

from __future__ import annotations

import json
import math
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from alerter.clock import PinnedClock
from tests.timekeeping import PINNED_START

MAX_SPAN_DAYS = 31
"""Longest accepted range, counting both ends (``2025-01-01``..``2025-01-31``)."""

ERROR_MESSAGES = {
    400: ("bad_request", "The request could not be processed."),
    401: ("unauthorized", "Unable to authenticate you."),
    403: ("forbidden", "You do not have access for the attempted action."),
    404: ("not_found", "The resource you requested could not be found."),
    429: ("too_many_requests", "API rate limit exceeded."),
    500: ("server_error", "Unexpected server-side error"),
    502: ("server_error", "Bad gateway"),
    503: ("server_error", "Service unavailable"),
}


@dataclass
class Fault:
    """One scripted misbehaviour, applied to the next ``times`` matching requests.

    Matching: ``page``/``account_urn``/``start_date`` (None = any). Effects, in order:
    ``mutate(fake)`` runs first (e.g. add points so ``total_pages`` changes mid-walk);
    then ``disconnect`` closes the socket without an answer; ``status`` answers that
    status with DigitalOcean's error body (``request_id`` included), optional
    ``retry_after`` and ``headers`` (e.g. a ``ratelimit-reset``; also sent on a normal page);
    ``raw_body`` replaces the body verbatim; otherwise the normal
    page is built and ``amount`` replaces ``total_amount`` of its point
    ``point_index``, ``empty`` blanks ``data_points``, ``total_pages`` overrides it.
    """

    status: int | None = None
    retry_after: int | None = None
    error_id: str | None = None
    message: str | None = None
    request_id: str | None = "4d9d8375-3c56-4925-a3e7-eb137fed17e9"
    raw_body: bytes | None = None
    amount: str | None = None
    point_index: int = 0
    empty: bool = False
    total_pages: int | None = None
    disconnect: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    mutate: Callable[[FakeDigitalOcean], None] | None = None
    page: int | None = None
    account_urn: str | None = None
    start_date: str | None = None
    times: int = 1

    def matches(self, urn: str, start: str, page: int) -> bool:
        return (
            (self.page is None or self.page == page)
            and (self.account_urn is None or self.account_urn == urn)
            and (self.start_date is None or self.start_date == start)
        )


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the fake saw it (``status`` is what it answered, 0 = dropped)."""

    path: str
    account_urn: str
    start_date: str
    end_date: str
    page: int | None
    per_page: int | None
    authorized: bool
    status: int
    at: float


@dataclass
class _Limits:
    hour: deque[float] = field(default_factory=deque)
    minute: deque[float] = field(default_factory=deque)


class FakeDigitalOcean:
    """The fake server; see the module docstring. Thread-safe dataset and logs."""

    def __init__(
        self,
        token: str = "do-test-token",
        *,
        accounts: tuple[str, ...] = (),
        hourly_limit: int = 5000,
        burst_limit: int = 250,
        now: Callable[[], float] | None = None,
    ) -> None:
        self.token = token
        self.hourly_limit = hourly_limit
        self.burst_limit = burst_limit
        pinned = PinnedClock(PINNED_START)
        self.now = now or (lambda: pinned.now().timestamp())
        self.faults: list[Fault] = []
        self.requests: list[LoggedRequest] = []
        self._points: dict[str, list[dict[str, Any]]] = {urn: [] for urn in accounts}
        self._selected: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        """Points of (urn, start, end) in page order; cleared on every dataset change."""
        self._limits: dict[str, _Limits] = {}
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- dataset ---------------------------------------------------------------

    def add_account(self, urn: str) -> None:
        """Make ``urn`` known (an unknown account gets 404)."""
        with self._lock:
            self._points.setdefault(urn, [])

    def add_point(
        self,
        urn: str,
        day: str,
        amount: str,
        *,
        sku: str = "1-DO-DROP-0109",
        region: str = "nyc3",
        description: str = "web-01 (c-2-4GiB)",
        group_description: str = "",
        usage_team_urn: str | None = None,
        **extra: Any,
    ) -> None:
        """Append one data point (``amount`` is sent verbatim, so it may be malformed)."""
        point: dict[str, Any] = {
            "usage_team_urn": usage_team_urn if usage_team_urn is not None else urn,
            "start_date": day,
            "total_amount": amount,
            "region": region,
            "sku": sku,
            "description": description,
            "group_description": group_description,
        }
        point.update(extra)
        with self._lock:
            self._selected.clear()
            self._points.setdefault(urn, []).append(point)

    def add_raw_point(self, urn: str, point: dict[str, Any]) -> None:
        """Append a data point exactly as given (e.g. with fields missing)."""
        with self._lock:
            self._selected.clear()
            self._points.setdefault(urn, []).append(dict(point))

    def revise(self, urn: str, amount: str, **match: str) -> int:
        """Set ``total_amount`` of every point of ``urn`` whose fields equal ``match``.

        Models the nightly estimates being revised; returns how many points changed.
        """
        changed = 0
        with self._lock:
            self._selected.clear()
            for point in self._points.get(urn, []):
                if all(point.get(k) == v for k, v in match.items()):
                    point["total_amount"] = amount
                    changed += 1
        return changed

    def remove_points(self, urn: str, **match: str) -> int:
        """Drop every point of ``urn`` whose fields equal ``match``; returns the count."""
        with self._lock:
            self._selected.clear()
            kept = [p for p in self._points.get(urn, []) if not _fields_equal(p, match)]
            removed = len(self._points.get(urn, [])) - len(kept)
            self._points[urn] = kept
        return removed

    def points(self, urn: str) -> list[dict[str, Any]]:
        """A copy of the dataset of ``urn``."""
        with self._lock:
            return [dict(p) for p in self._points.get(urn, [])]

    def served(self, status: int = 200) -> list[LoggedRequest]:
        """Logged requests answered with ``status``."""
        with self._lock:
            return [r for r in self.requests if r.status == status]

    # -- server lifecycle ------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeDigitalOcean is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeDigitalOcean:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeDigitalOcean:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling (called from server threads) -------------------------

    def _rate_headers(self, token: str, now: float) -> dict[str, str]:
        limits = self._limits.setdefault(token, _Limits())
        while limits.hour and limits.hour[0] <= now - 3600:
            limits.hour.popleft()
        while limits.minute and limits.minute[0] <= now - 60:
            limits.minute.popleft()
        remaining = max(0, self.hourly_limit - len(limits.hour))
        reset = limits.hour[0] + 3600 if limits.hour else now
        return {
            "ratelimit-limit": str(self.hourly_limit),
            "ratelimit-remaining": str(remaining),
            "ratelimit-reset": str(math.ceil(reset)),
        }

    def _take_fault(self, urn: str, start: str, page: int) -> Fault | None:
        for index, fault in enumerate(self.faults):
            if fault.matches(urn, start, page):
                fault.times -= 1
                if fault.times <= 0:
                    del self.faults[index]
                return fault
        return None

    def handle(self, path: str, auth: str | None) -> tuple[int, dict[str, str], bytes | None]:
        """Answer one GET: (status, headers, body); body None means drop the connection."""
        with self._lock:
            now = self.now()
            split = urlsplit(path)
            parts = [unquote(p) for p in split.path.split("/")]
            query = parse_qs(split.query)
            urn, start, end = (parts[3], parts[5], parts[6]) if len(parts) == 7 else ("", "", "")
            page_raw = query.get("page", [None])[0]
            per_page_raw = query.get("per_page", [None])[0]
            page_num = _int_or_none(page_raw)
            per_page_num = _int_or_none(per_page_raw)
            token = auth[len("Bearer ") :] if auth and auth.startswith("Bearer ") else ""
            authorized = bool(token) and token == self.token
            status, headers, body = self._answer(
                now, split.path, parts, urn, start, end, page_raw, per_page_raw, token, authorized
            )
            self.requests.append(
                LoggedRequest(
                    path=path,
                    account_urn=urn,
                    start_date=start,
                    end_date=end,
                    page=page_num,
                    per_page=per_page_num,
                    authorized=authorized,
                    status=status if body is not None else 0,
                    at=now,
                )
            )
            return status, headers, body

    def _answer(
        self,
        now: float,
        raw_path: str,
        parts: list[str],
        urn: str,
        start: str,
        end: str,
        page_raw: str | None,
        per_page_raw: str | None,
        token: str,
        authorized: bool,
    ) -> tuple[int, dict[str, str], bytes | None]:
        headers = self._rate_headers(token, now)
        if not authorized:
            return _error(401, headers)
        limits = self._limits[token]
        if len(limits.minute) >= self.burst_limit:
            wait = max(1, math.ceil(limits.minute[0] + 60 - now))
            return _error(429, {**headers, "ratelimit-remaining": "0", "retry-after": str(wait)})
        if len(limits.hour) >= self.hourly_limit:
            return _error(429, headers)
        limits.hour.append(now)
        limits.minute.append(now)
        headers = self._rate_headers(token, now)

        if len(parts) != 7 or parts[1:3] != ["v2", "billing"] or parts[4] != "insights":
            return _error(404, headers)
        page = _int_or_none(page_raw) if page_raw is not None else 1
        per_page = _int_or_none(per_page_raw) if per_page_raw is not None else 20
        try:
            first, last = date.fromisoformat(start), date.fromisoformat(end)
        except ValueError:
            return _error(400, headers, f"invalid date in {raw_path}")
        if len(start) != 10 or len(end) != 10 or last < first:
            return _error(400, headers, "start_date and end_date must be YYYY-MM-DD, in order")
        if (last - first).days + 1 > MAX_SPAN_DAYS:
            return _error(400, headers, "end_date must be within 31 days of start_date")
        if page is None or page < 1 or per_page is None or not 1 <= per_page <= 200:
            return _error(400, headers, "page must be >= 1 and per_page in 1..200")

        fault = self._take_fault(urn, start, page)
        if fault is not None and fault.mutate is not None:
            fault.mutate(self)
        if fault is not None and fault.disconnect:
            return 0, headers, None
        if fault is not None and fault.status is not None:
            extra = {} if fault.retry_after is None else {"retry-after": str(fault.retry_after)}
            if fault.status == 429:
                extra["ratelimit-remaining"] = "0"
            extra.update(fault.headers)
            return _error(
                fault.status,
                {**headers, **extra},
                fault.message,
                error_id=fault.error_id,
                request_id=fault.request_id,
            )
        if fault is not None and fault.raw_body is not None:
            return 200, {**headers, "content-type": "application/json"}, fault.raw_body
        if urn not in self._points:
            return _error(404, headers)

        selected = self._selected.get((urn, start, end))
        if selected is None:
            selected = [
                p for p in self._points[urn] if start <= str(p.get("start_date", "")) <= end
            ]
            selected.sort(key=lambda p: str(p.get("start_date", "")))  # stable: insertion order
            self._selected[(urn, start, end)] = selected
        total_items = len(selected)
        total_pages = math.ceil(total_items / per_page)
        chunk = [dict(p) for p in selected[(page - 1) * per_page : page * per_page]]
        if fault is not None:
            if fault.amount is not None and len(chunk) > fault.point_index:
                chunk[fault.point_index]["total_amount"] = fault.amount
            if fault.empty:
                chunk = []
            if fault.total_pages is not None:
                total_pages = fault.total_pages
            headers = {**headers, **fault.headers}  # e.g. a hostile ratelimit-reset on a 200
        body = {
            "data_points": chunk,
            "total_items": total_items,
            "total_pages": total_pages,
            "current_page": page,
        }
        return 200, {**headers, "content-type": "application/json; charset=utf-8"}, _dump(body)


class _Handler(BaseHTTPRequestHandler):
    owner: FakeDigitalOcean
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stalls

    def do_GET(self) -> None:
        status, headers, body = self.owner.handle(self.path, self.headers.get("Authorization"))
        if body is None:
            self.close_connection = True
            return
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _error(
    status: int,
    headers: dict[str, str],
    message: str | None = None,
    *,
    error_id: str | None = None,
    request_id: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    default_id, default_message = ERROR_MESSAGES.get(status, ("example_error", "some error"))
    body: dict[str, str] = {"id": error_id or default_id, "message": message or default_message}
    if request_id:
        body["request_id"] = request_id
    return status, {**headers, "content-type": "application/json; charset=utf-8"}, _dump(body)


def _dump(body: object) -> bytes:
    return json.dumps(body).encode()


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def _fields_equal(point: dict[str, Any], match: dict[str, str]) -> bool:
    return all(point.get(k) == v for k, v in match.items())


def iter_days(first: str, last: str) -> Iterator[str]:
    """``YYYY-MM-DD`` days from ``first`` to ``last`` inclusive (a dataset-building helper)."""
    day = date.fromisoformat(first)
    end = date.fromisoformat(last)
    while day <= end:
        yield day.isoformat()
        day = date.fromordinal(day.toordinal() + 1)
