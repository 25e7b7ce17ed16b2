"""The fake Metronome server speaks the real API's shape, judged by two independent readers.

1. jsonschema against the saved OpenAPI fragment (../shared/api/specs/metronome/),
   with OpenAPI 3.0 ``nullable`` turned into JSON Schema and ``$ref`` resolved in place.
2. The official ``metronome-sdk`` (Stainless): its response models validate every row,
   and its own client pages through the fake with the parameters it sends.

The reference's example bodies pass the same checks, so the checker itself is honest.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]
from metronome import Metronome
from metronome.types.v1.customer_detail import CustomerDetail
from metronome.types.v1.customers.invoice_list_breakdowns_response import (
    InvoiceListBreakdownsResponse,
)

from tests.fakes.metronome import (
    USD_CENTS,
    CreditType,
    FakeMetronome,
    Fault,
    MetronomeDataset,
    Product,
    hours,
)
from tests.shared_refs import require

API = require("api")
SPEC = API / "specs" / "metronome" / "metronome-breakdowns-customers.openapi.yaml"
EXAMPLES = API / "examples" / "metronome"
BREAKDOWNS = "/v1/customers/{customer_id}/invoices/breakdowns"
TOKEN = "mtr-contract-token"
DAY0 = datetime(2025, 3, 10, tzinfo=UTC)

FORMATS = jsonschema.FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)  # type: ignore[untyped-decorator]
def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    pattern = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
    if not re.match(pattern, value):
        raise ValueError(f"not RFC 3339: {value!r}")
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@FORMATS.checks("uuid", raises=ValueError)  # type: ignore[untyped-decorator]
def _uuid(value: object) -> bool:
    if isinstance(value, str) and not re.fullmatch(
        r"[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}", value
    ):
        raise ValueError(f"not a uuid: {value!r}")
    return True


def _openapi_to_jsonschema(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable: true`` -> a schema that also accepts null."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {
        k: _openapi_to_jsonschema(v) for k, v in node.items() if k not in ("example", "nullable")
    }
    if node.get("nullable") is True:
        return {"anyOf": [out, {"type": "null"}]}
    return out


SPEC_DOC: dict[str, Any] = yaml.safe_load(SPEC.read_text())
COMPONENTS = _openapi_to_jsonschema(SPEC_DOC["components"])


def schema_for(path: str, status: int) -> dict[str, Any]:
    op = SPEC_DOC["paths"][path]["get"]
    response = op["responses"].get(str(status))
    if response is None:  # the OAS lists only 200 (and 404); 4xx bodies are Error
        schema: dict[str, Any] = {"$ref": "#/components/schemas/Error"}
    elif "$ref" in response:
        name = response["$ref"].rsplit("/", 1)[-1]
        schema = SPEC_DOC["components"]["responses"][name]["content"]["application/json"]["schema"]
    else:
        schema = response["content"]["application/json"]["schema"]
    return {**_openapi_to_jsonschema(copy.deepcopy(schema)), "components": COMPONENTS}


@functools.cache
def validator_for(path: str, status: int) -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(schema_for(path, status), format_checker=FORMATS)


def validate(body: Any, path: str, status: int) -> None:
    validator = validator_for(path, status)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def check_page(response: httpx.Response, path: str) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    validate(body, path, response.status_code)
    if response.status_code == 200:
        model = CustomerDetail if path == "/v1/customers" else InvoiceListBreakdownsResponse
        for row in body["data"]:
            model.model_validate(row)  # strict parse with the SDK's pydantic model
    return body


@pytest.fixture
def data() -> MetronomeDataset:
    data = MetronomeDataset()
    credits = CreditType("0f0e0d0c-0b0a-4909-8807-060504030201", "AI credits")
    plain = data.add_customer("Acme Robotics", [Product("GPU compute"), Product("API requests")])
    committed = data.add_customer(
        "Globex <Labs> & Co",
        [Product("GPU compute"), Product("Model tokens", credit_type=credits)],
        commit_per_window=Decimal(300),
    )
    legacy = data.add_customer(
        "Legacy plan", [Product("Transfer", unit_price=Decimal("0.5"))], plans=True
    )
    data.add_customer("Archived Ltd", [Product("GPU compute")], archived=True)
    for customer in (plain, committed, legacy):
        for hour in hours(DAY0, 72):
            for product in customer.products:
                data.set_usage(customer.id, product.name, hour, Decimal(100 + hour.hour) / 3)
    return data


@pytest.fixture
def fake(data: MetronomeDataset) -> Iterator[FakeMetronome]:
    with FakeMetronome(data, token=TOKEN) as server:
        yield server


_HTTP: list[httpx.Client] = []


@pytest.fixture(scope="module", autouse=True)
def _http_client() -> Iterator[None]:
    with httpx.Client() as client:  # one pool for the module: fast, and closed at the end
        _HTTP.append(client)
        yield
        _HTTP.clear()


def get(
    fake: FakeMetronome, path: str, params: dict[str, Any], token: str = TOKEN
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return _HTTP[0].get(fake.url + path, params=params, headers=headers)


def test_reference_examples_pass_the_checker() -> None:
    for name in ("breakdowns-day.json", "breakdowns-hour-page1.json", "breakdowns-empty.json"):
        body = json.loads((EXAMPLES / name).read_text())
        validate(body, BREAKDOWNS, 200)
        for row in body["data"]:
            InvoiceListBreakdownsResponse.model_validate(row)
    for name in ("customers-page1.json", "customers-page2.json"):
        validate(json.loads((EXAMPLES / name).read_text()), "/v1/customers", 200)
    for name in ("error-401.json", "error-404.json", "error-429.json"):
        validate(json.loads((EXAMPLES / name).read_text()), BREAKDOWNS, 404)
    with pytest.raises(AssertionError):
        validate({"data": [{"id": "x"}], "next_page": None}, BREAKDOWNS, 200)


def test_customer_pages_match_schema_and_skip_archived(fake: FakeMetronome) -> None:
    names, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2} | ({"next_page": cursor} if cursor else {})
        body = check_page(get(fake, "/v1/customers", params), "/v1/customers")
        names += [c["name"] for c in body["data"]]
        cursor, pages = body["next_page"], pages + 1
        if cursor is None:
            break
    assert (names, pages) == (["Acme Robotics", "Globex <Labs> & Co", "Legacy plan"], 2)
    archived = check_page(get(fake, "/v1/customers", {"only_archived": "true"}), "/v1/customers")
    assert [c["name"] for c in archived["data"]] == ["Archived Ltd"]


@pytest.mark.parametrize(
    "params",
    [
        {"window_size": "HOUR"},
        {"window_size": "hour", "limit": 7},
        {"window_size": "Day"},
        {"window_size": "DAY", "sort": "date_desc", "skip_zero_qty_line_items": "true"},
        {"window_size": "HOUR", "status": "DRAFT", "credit_type_id": USD_CENTS.id},
        {},
    ],
)
def test_breakdown_pages_match_schema(
    fake: FakeMetronome, data: MetronomeDataset, params: dict[str, Any]
) -> None:
    for customer in list(data.customers.values())[:3]:
        query = {"starting_on": "2025-03-10T00:00:00Z", "ending_before": "2025-03-13T00:00:00Z"}
        query |= params
        rows, cursor = [], None
        path = BREAKDOWNS.replace("{customer_id}", customer.id)
        while True:
            body = check_page(
                get(fake, path, query | ({"next_page": cursor} if cursor else {})), BREAKDOWNS
            )
            rows += body["data"]
            cursor = body["next_page"]
            if cursor is None:
                break
        windows = {r["breakdown_start_timestamp"] for r in rows}
        hourly = params.get("window_size", "day").lower() == "hour"
        assert len(windows) == (72 if hourly else 3)
        assert len({r["id"] for r in rows}) == len({r["credit_type"]["id"] for r in rows})


def test_hourly_range_comes_back_24_windows_a_page(
    fake: FakeMetronome, data: MetronomeDataset
) -> None:
    cid = next(iter(data.customers))
    path = BREAKDOWNS.replace("{customer_id}", cid)
    query = {
        "starting_on": "2025-03-10T00:00:00Z",
        "ending_before": "2025-03-12T00:00:00Z",
        "window_size": "HOUR",
    }
    first = check_page(get(fake, path, query), BREAKDOWNS)
    assert len(first["data"]) == 24
    assert first["next_page"]
    second = check_page(get(fake, path, query | {"next_page": first["next_page"]}), BREAKDOWNS)
    assert len(second["data"]) == 24
    assert second["next_page"] is None
    assert second["data"][0]["breakdown_start_timestamp"] == "2025-03-11T00:00:00Z"
    changed = get(fake, path, query | {"next_page": first["next_page"], "window_size": "DAY"})
    assert changed.status_code == 400


def test_only_windows_fully_inside_the_range(fake: FakeMetronome, data: MetronomeDataset) -> None:
    path = BREAKDOWNS.replace("{customer_id}", next(iter(data.customers)))
    query = {
        "starting_on": "2025-03-10T00:30:00Z",
        "ending_before": "2025-03-10T03:30:00Z",
        "window_size": "HOUR",
    }
    body = check_page(get(fake, path, query), BREAKDOWNS)
    assert [r["breakdown_start_timestamp"] for r in body["data"]] == [
        "2025-03-10T01:00:00Z",
        "2025-03-10T02:00:00Z",
    ]


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"limit": 0}, 400),
        ({"limit": 101}, 400),
        ({"limit": "ten"}, 400),
        ({"window_size": "week"}, 400),
        ({"window_size": "HOURS"}, 400),
        ({"starting_on": "2025-03-10"}, 400),
        ({"starting_on": "yesterday"}, 400),
        ({"ending_before": "2025-03-11 00:00:00"}, 400),
        ({"ending_before": None}, 400),
        ({"sort": "newest"}, 400),
        ({"next_page": "garbage!"}, 400),
        ({"frobnicate": 1}, 400),
    ],
)
def test_bad_parameters_get_400_with_error_body(
    fake: FakeMetronome, data: MetronomeDataset, change: dict[str, Any], status: int
) -> None:
    path = BREAKDOWNS.replace("{customer_id}", next(iter(data.customers)))
    query = {
        "starting_on": "2025-03-10T00:00:00Z",
        "ending_before": "2025-03-11T00:00:00Z",
        "limit": 10,
    }
    query = {k: v for k, v in (query | change).items() if v is not None}
    response = get(fake, path, query)
    assert response.status_code == status
    assert response.json()["message"]
    check_page(response, BREAKDOWNS)
    bad_limit = get(fake, "/v1/customers", {"limit": 0})
    assert bad_limit.status_code == 400


def test_auth_and_unknown_customer(fake: FakeMetronome) -> None:
    path = BREAKDOWNS.replace("{customer_id}", "00000000-0000-4000-8000-000000000000")
    query = {"starting_on": "2025-03-10T00:00:00Z", "ending_before": "2025-03-11T00:00:00Z"}
    unauthorized = get(fake, path, query, token="nope")
    assert (unauthorized.status_code, unauthorized.json()) == (401, {"message": "Unauthorized"})
    missing = get(fake, path, query)
    assert missing.status_code == 404
    check_page(missing, BREAKDOWNS)


def test_fault_plan_429_and_malformed(fake: FakeMetronome, data: MetronomeDataset) -> None:
    cid = next(iter(data.customers))
    path = BREAKDOWNS.replace("{customer_id}", cid)
    query = {"starting_on": "2025-03-10T00:00:00Z", "ending_before": "2025-03-11T00:00:00Z"}
    fake.faults.append(Fault("429", customer_id=cid, retry_after="3"))
    fake.faults.append(Fault("malformed", customer_id=cid))
    limited = get(fake, path, query)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
    check_page(limited, BREAKDOWNS)
    broken = get(fake, path, query)
    with pytest.raises(AssertionError):
        check_page(broken, BREAKDOWNS)
    assert get(fake, path, query).status_code == 200
    assert [r.status for r in fake.requests] == [429, 200, 200]


def test_official_sdk_pages_through_the_fake(fake: FakeMetronome, data: MetronomeDataset) -> None:
    client = Metronome(bearer_token=TOKEN, base_url=fake.url, max_retries=0)
    try:
        customers = list(client.v1.customers.list(limit=2))
        assert [c.name for c in customers] == ["Acme Robotics", "Globex <Labs> & Co", "Legacy plan"]
        rows = list(
            client.v1.customers.invoices.list_breakdowns(
                customer_id=customers[1].id,
                starting_on=DAY0,
                ending_before=DAY0 + timedelta(hours=48),
                window_size="HOUR",
                limit=100,
                skip_zero_qty_line_items=True,
            )
        )
    finally:
        client.close()
    assert len({r.breakdown_start_timestamp for r in rows}) == 48
    assert {r.credit_type.name for r in rows} == {"USD (cents)", "AI credits"}
    commit_lines = [
        li for r in rows for li in r.line_items if li.type == "applied_commit_or_credit"
    ]
    assert commit_lines
    assert all(li.total < 0 for li in commit_lines)
    assert {r.status for r in fake.requests} == {200}
