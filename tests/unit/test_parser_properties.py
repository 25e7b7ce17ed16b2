"""Property tests on every parser (issue 11): any JSON value in any field of a Metronome
or DigitalOcean page, any cell text of a CSV or FOCUS file, gives parsed data or a
located error (a ``SourceError`` naming the customer, chunk, file or line), never
another exception and never an amount out of range."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alerter.clock import FakeClock
from alerter.errors import SourceError
from alerter.money import MAX_AMOUNT
from alerter.sources.base import FetchResult, SourceContext
from alerter.sources.csv_file import CsvConfig, CsvSource
from alerter.sources.focus import FocusConfig, FocusSource
from tests.fakes.digitalocean import Fault as DoFault
from tests.fakes.metronome import FakeMetronome, Fault
from tests.unit import test_digitalocean_source as do
from tests.unit import test_metronome_source as mtr

RAW = "\u0000RAW:"
"""Marks a string that is written into the JSON text as a bare number token."""

RAW_NUMBERS = ["1e999999999", "-1e400", "1" * 400, "1E-999999999", "1e15", "-0"]

LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from([RAW + n for n in RAW_NUMBERS])
)
JSON = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
MISSING = object()


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON document (the root included)."""
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from paths(inner, (*prefix, index))


def replaced(doc: Any, where: tuple[Any, ...], new: Any) -> Any:
    if not where:
        return {} if new is MISSING else new
    copy = json.loads(json.dumps(doc))
    parent = copy
    for step in where[:-1]:
        parent = parent[step]
    if new is MISSING:
        del parent[where[-1]]
    else:
        parent[where[-1]] = new
    return copy


def dump(doc: Any) -> str:
    text = json.dumps(doc)
    for number in RAW_NUMBERS:
        text = text.replace(json.dumps(RAW + number), number)
    return text


def mutations(doc: Any) -> st.SearchStrategy[str]:
    places = list(paths(doc))
    return st.builds(
        lambda where, new: dump(replaced(doc, where, new)),
        st.sampled_from(places),
        JSON | st.just(MISSING) if len(places) > 1 else JSON,
    )


def named(exc: SourceError, where: str) -> None:
    assert where in str(exc), str(exc)


def check(result: FetchResult, where: str) -> None:
    assert isinstance(result, FetchResult)
    for point in result.points:
        assert abs(point.amount) < MAX_AMOUNT
    for error in result.errors:
        assert where in error, error


# -- Metronome -------------------------------------------------------------------------

MTR_CLOCK = FakeClock(mtr.NOW)
MTR_DATA = mtr.make_dataset(1)
MTR_CUSTOMER = next(iter(MTR_DATA.customers.values()))


@pytest.fixture(scope="module")
def metronome() -> Iterator[FakeMetronome]:
    with FakeMetronome(MTR_DATA, token=mtr.TOKEN, now=MTR_CLOCK.now) as fake:
        yield fake


def metronome_page(fake: FakeMetronome) -> dict[str, Any]:
    start, end = mtr.DAY0, mtr.DAY0 + timedelta(hours=2)
    query = {
        "starting_on": [start.strftime("%Y-%m-%dT%H:%M:%SZ")],
        "ending_before": [end.strftime("%Y-%m-%dT%H:%M:%SZ")],
        "window_size": ["HOUR"],
    }
    path = f"/v1/customers/{MTR_CUSTOMER.id}/invoices/breakdowns"
    body, _page, _start = fake.list_breakdowns(path, MTR_CUSTOMER.id, query)
    return body


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_metronome_any_json_in_any_field(metronome: FakeMetronome, data: st.DataObject) -> None:
    body = data.draw(mutations(metronome_page(metronome)))
    metronome.faults[:] = [Fault("body", endpoint="breakdowns", value=body, times=None)]
    source = mtr.make_source(metronome, MTR_CLOCK, customers=[MTR_CUSTOMER.id], max_attempts=1)
    result = mtr.run_fetch(source, mtr.DAY0, mtr.DAY0 + timedelta(hours=2))
    check(result, MTR_CUSTOMER.id)


CUSTOMER_LIST = {
    "data": [{"id": MTR_CUSTOMER.id, "name": MTR_CUSTOMER.name, "external_id": "x"}],
    "next_page": None,
}


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=mutations(CUSTOMER_LIST))
def test_metronome_customer_list_any_json_in_any_field(metronome: FakeMetronome, body: str) -> None:
    metronome.faults[:] = [Fault("body", endpoint="customers", value=body, times=None)]
    source = mtr.make_source(metronome, MTR_CLOCK, max_attempts=1)
    try:
        result = mtr.run_fetch(source, mtr.DAY0, mtr.DAY0 + timedelta(hours=2))
    except SourceError as exc:
        named(exc, "/v1/customers")
        return
    check(result, "")


# -- DigitalOcean ----------------------------------------------------------------------

DO_CLOCK = FakeClock(do.NOW)
DO_PAGE: dict[str, Any] = {
    "data_points": [
        {
            "usage_team_urn": do.URN,
            "start_date": "2025-03-10",
            "total_amount": "0.86",
            "region": "nyc3",
            "sku": "1-DO-DROP-0109",
            "description": "web-01",
            "group_description": "",
        },
        {
            "usage_team_urn": do.URN,
            "start_date": "2025-03-10",
            "total_amount": "12.5",
            "region": "ams3",
            "sku": "1-DO-VOL-0001",
            "description": "vol",
            "group_description": "team",
        },
    ],
    "total_items": 2,
    "total_pages": 1,
    "current_page": 1,
}


@pytest.fixture(scope="module")
def digitalocean() -> Iterator[Any]:
    with do.make_fake(DO_CLOCK, burst_limit=10**9, hourly_limit=10**9) as fake:
        fake.add_account(do.URN)
        yield fake


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=mutations(DO_PAGE))
def test_digitalocean_any_json_in_any_field(digitalocean: Any, body: str) -> None:
    digitalocean.faults[:] = [DoFault(raw_body=body.encode(), times=10)]
    source = do.make_source(digitalocean, DO_CLOCK, max_walks=1)
    result = do.fetch(source, do.day("2025-03-10"), do.day("2025-03-11"))
    check(result, do.URN)


# -- CSV and FOCUS files ------------------------------------------------------------------

CELL = st.text(max_size=40) | st.sampled_from(
    ["1e999999999", "1" * 60, "NaN", "-inf", "2025-03-10T00:00:00Z", "0001-01-01T00:00:00Z", "{}"]
)


def write_csv(folder: Path, header: list[str], rows: list[list[str]]) -> Path:
    out = io.StringIO()
    csv.writer(out).writerows([header, *rows])
    path = folder / "data.csv"
    path.write_text(out.getvalue(), encoding="utf-8", errors="surrogatepass")
    return path


def fetch_file(source: CsvSource | FocusSource, folder: Path) -> FetchResult:
    since = datetime(2025, 3, 1, tzinfo=UTC)
    result: FetchResult = asyncio.run(source.fetch(since, since + timedelta(days=30)))
    return result


def located(exc: SourceError, folder: Path) -> None:
    assert str(folder) in str(exc) or "data.csv" in str(exc)


@settings(max_examples=150)
@given(rows=st.lists(st.lists(CELL, min_size=3, max_size=3), min_size=1, max_size=4))
def test_csv_any_cell_text(rows: list[list[str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        write_csv(folder, ["timestamp", "amount", "team"], rows)
        config = CsvConfig(path="*.csv", dimensions=["team"], step="1d")
        source = CsvSource("csv", config, SourceContext(FakeClock(do.NOW), {}, folder))
        try:
            result = fetch_file(source, folder)
        except SourceError as exc:
            located(exc, folder)
            return
        check(result, "data.csv")


FOCUS_HEADER = [
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BilledCost",
    "BillingCurrency",
    "ServiceName",
    "SkuId",
    "RegionId",
    "SubAccountId",
    "ChargeCategory",
    "ConsumedQuantity",
    "Tags",
]


@settings(max_examples=150)
@given(
    row=st.fixed_dictionaries(
        {
            "start": st.sampled_from(["2025-03-10T00:00:00Z", "2025-03-10T05:00:00Z"]) | CELL,
            "end": st.sampled_from(["2025-03-11T00:00:00Z", "2025-03-10T06:00:00Z"]) | CELL,
            "cost": CELL,
            "currency": CELL,
            "quantity": CELL,
            "tags": CELL | JSON.map(json.dumps),
            "name": CELL,
        }
    )
)
def test_focus_any_cell_text(row: dict[str, str]) -> None:
    if row["start"].startswith(("0", "9999")) or row["end"].startswith(("0", "9999")):
        return  # a period of centuries loops for minutes: see test_focus_extreme_period
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cells = [
            row["start"],
            row["end"],
            row["cost"],
            row["currency"],
            row["name"],
            "sku",
            "region",
            "acct",
            "Usage",
            row["quantity"],
            row["tags"],
        ]
        write_csv(folder, FOCUS_HEADER, [cells])
        config = FocusConfig(path="*.csv", tags=["*"])
        source = FocusSource("focus", config, SourceContext(FakeClock(do.NOW), {}, folder))
        try:
            result = fetch_file(source, folder)
        except SourceError as exc:
            located(exc, folder)
            return
        check(result, "data.csv")
        assert all(isinstance(p.amount, Decimal) for p in result.points)


@pytest.mark.parametrize("kind", ["csv", "focus"])
def test_a_timestamp_at_the_end_of_time_is_a_located_error(kind: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        stamp = "9999-12-31T23:00:00Z"
        source: CsvSource | FocusSource
        if kind == "csv":
            write_csv(folder, ["timestamp", "amount"], [[stamp, "1"]])
            config: Any = CsvConfig(path="*.csv", step="1h")
            source = CsvSource("csv", config, SourceContext(FakeClock(do.NOW), {}, folder))
        else:
            cells = [stamp, stamp, "1", "USD", "s", "k", "r", "a", "Usage", "", ""]
            write_csv(folder, FOCUS_HEADER, [cells])
            config = FocusConfig(path="*.csv", window="hour")
            source = FocusSource("focus", config, SourceContext(FakeClock(do.NOW), {}, folder))
        try:
            result = fetch_file(source, folder)
        except SourceError as exc:
            located(exc, folder)
            return
        check(result, "data.csv")
