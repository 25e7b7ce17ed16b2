"""The fake DigitalOcean server speaks the shape of the saved OpenAPI spec.

Every response body the fake sends is validated with jsonschema against the response
schema of ``billingInsights_list`` for its status (or ``default``), and its headers
against the ``ratelimit-*`` headers the spec lists. The reference's example pages are
reproduced byte for byte in meaning (same JSON) from the same dataset.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]

from tests.fakes.digitalocean import FakeDigitalOcean, Fault
from tests.shared_refs import require

API = require("api")
SPEC = API / "specs" / "digitalocean" / "digitalocean-billing-insights.openapi.yaml"
EXAMPLES = API / "examples" / "digitalocean"
OPERATION_PATH = "/v2/billing/{account_urn}/insights/{start_date}/{end_date}"
URN = "do:team:3f2a9c1e-7b4d-4e6a-9c8b-1d2e3f4a5b6c"
TOKEN = "dop_v1_contract"
FORMATS = jsonschema.Draft7Validator.FORMAT_CHECKER
"""OpenAPI 3.0 schemas are JSON Schema draft 4 plus formats; draft 7's checker knows "date"."""


def _operation() -> dict[str, Any]:
    spec = yaml.safe_load(SPEC.read_text())
    op: dict[str, Any] = spec["paths"][OPERATION_PATH]["get"]
    return op


OPERATION = _operation()


def response_spec(status: int) -> dict[str, Any]:
    responses = OPERATION["responses"]
    spec: dict[str, Any] = responses.get(str(status), responses["default"])
    return spec


def check_response(response: httpx.Response) -> Any:
    """Validate body and headers against the spec entry for this status; return the body."""
    spec = response_spec(response.status_code)
    schema = spec["content"]["application/json"]["schema"]
    body = response.json()
    jsonschema.validate(
        body,
        schema,
        cls=jsonschema.Draft4Validator,
        format_checker=FORMATS,
    )
    assert response.headers["content-type"].startswith("application/json")
    for name, header in spec["headers"].items():
        assert header["schema"]["type"] == "integer"
        assert int(response.headers[name]) >= 0, name
    return body


@pytest.fixture
def fake() -> Iterator[FakeDigitalOcean]:
    with FakeDigitalOcean(token=TOKEN, accounts=(URN,)) as server:
        for name in ("insights-page1.json", "insights-page2.json"):
            for point in json.loads((EXAMPLES / name).read_text())["data_points"]:
                server.add_raw_point(URN, point)
        yield server


def get(
    fake: FakeDigitalOcean,
    start: str,
    end: str,
    token: str = TOKEN,
    params: dict[str, int] | None = None,
) -> httpx.Response:
    url = f"{fake.base_url}/v2/billing/{URN}/insights/{start}/{end}"
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client:
        return client.get(url, params={k: str(v) for k, v in (params or {}).items()})


def test_reference_examples_validate_against_the_schema() -> None:
    for path in sorted(EXAMPLES.glob("insights-*.json")):
        jsonschema.validate(
            json.loads(path.read_text()),
            response_spec(200)["content"]["application/json"]["schema"],
            cls=jsonschema.Draft4Validator,
        )
    for path in sorted(EXAMPLES.glob("error-*.json")):
        status = int(path.stem.split("-")[1])
        jsonschema.validate(
            json.loads(path.read_text()),
            response_spec(status)["content"]["application/json"]["schema"],
            cls=jsonschema.Draft4Validator,
        )


def test_validator_catches_a_malformed_page() -> None:
    schema = response_spec(200)["content"]["application/json"]["schema"]
    good = json.loads((EXAMPLES / "insights-page1.json").read_text())
    bad_date = json.loads(json.dumps(good))
    bad_date["data_points"][0]["start_date"] = "2025-3-10"
    numeric_amount = json.loads(json.dumps(good))
    numeric_amount["data_points"][0]["total_amount"] = 0.86
    missing_total = {k: v for k, v in good.items() if k != "total_pages"}
    for body in (bad_date, numeric_amount, missing_total):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(
                body, schema, cls=jsonschema.Draft4Validator, format_checker=FORMATS
            )


def test_fake_reproduces_the_reference_pages(fake: FakeDigitalOcean) -> None:
    for page, name in ((1, "insights-page1.json"), (2, "insights-page2.json")):
        response = get(fake, "2025-03-10", "2025-03-11", params={"per_page": 3, "page": page})
        assert response.status_code == 200
        body = check_response(response)
        assert body == json.loads((EXAMPLES / name).read_text())
        assert set(body) == {"data_points", "total_items", "total_pages", "current_page"}


def test_empty_range_matches_the_reference(fake: FakeDigitalOcean) -> None:
    response = get(fake, "2025-04-01", "2025-04-30", params={"per_page": 200})
    assert check_response(response) == json.loads((EXAMPLES / "insights-empty.json").read_text())


def test_defaults_end_date_inclusive_and_pages_past_the_end(fake: FakeDigitalOcean) -> None:
    body = check_response(get(fake, "2025-03-11", "2025-03-11"))
    assert body["total_items"] == 3  # per_page defaults to 20, page to 1
    assert {p["start_date"] for p in body["data_points"]} == {"2025-03-11"}
    past = check_response(get(fake, "2025-03-10", "2025-03-11", params={"per_page": 3, "page": 5}))
    assert past["data_points"] == []
    assert past["current_page"] == 5


@pytest.mark.parametrize(
    ("start", "end", "params", "status"),
    [
        ("2025-01-01", "2025-01-31", {}, 200),
        ("2025-01-01", "2025-02-01", {}, 400),
        ("2025-03-11", "2025-03-10", {}, 400),
        ("2025-3-1", "2025-03-10", {}, 400),
        ("2025-03-01", "2025-03-10", {"per_page": 0}, 400),
        ("2025-03-01", "2025-03-10", {"per_page": 201}, 400),
        ("2025-03-01", "2025-03-10", {"per_page": 200}, 200),
        ("2025-03-01", "2025-03-10", {"page": 0}, 400),
    ],
)
def test_ranges_and_paging_limits(
    fake: FakeDigitalOcean, start: str, end: str, params: dict[str, int], status: int
) -> None:
    response = get(fake, start, end, params=params)
    assert response.status_code == status
    body = check_response(response)
    if status == 400:
        assert body["id"] == "bad_request"


def test_bad_token_is_401_with_the_error_shape(fake: FakeDigitalOcean) -> None:
    response = get(fake, "2025-03-10", "2025-03-11", token="wrong")
    assert response.status_code == 401
    assert check_response(response) == json.loads((EXAMPLES / "error-401.json").read_text())


def test_unknown_account_is_404(fake: FakeDigitalOcean) -> None:
    url = f"{fake.base_url}/v2/billing/do:team:00000000-0000-4000-8000-000000000000/insights/2025-03-10/2025-03-11"
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        response = client.get(url)
    assert response.status_code == 404
    assert check_response(response) == json.loads((EXAMPLES / "error-404.json").read_text())


def test_scripted_500_carries_request_id(fake: FakeDigitalOcean) -> None:
    fake.faults.append(Fault(status=500))
    response = get(fake, "2025-03-10", "2025-03-11")
    assert response.status_code == 500
    assert check_response(response) == json.loads((EXAMPLES / "error-500.json").read_text())
    assert check_response(get(fake, "2025-03-10", "2025-03-11"))["total_items"] == 5


def test_burst_limit_answers_429_with_retry_after() -> None:
    now = [1741699200.0]
    with FakeDigitalOcean(token=TOKEN, accounts=(URN,), burst_limit=2, now=lambda: now[0]) as fake:
        statuses = [get(fake, "2025-03-10", "2025-03-11").status_code for _ in range(3)]
        limited = get(fake, "2025-03-10", "2025-03-11")
        now[0] += 60
        after = get(fake, "2025-03-10", "2025-03-11")
    assert statuses == [200, 200, 429]
    assert limited.status_code == 429
    body = check_response(limited)
    assert body["id"] == "too_many_requests"
    assert limited.headers["ratelimit-remaining"] == "0"
    assert limited.headers["retry-after"] == "60"
    assert after.status_code == 200


def test_hourly_quota_is_rolling_and_reported_in_headers() -> None:
    now = [1741699200.0]
    with FakeDigitalOcean(token=TOKEN, accounts=(URN,), hourly_limit=3, now=lambda: now[0]) as fake:
        seen = []
        for _ in range(4):
            response = get(fake, "2025-03-10", "2025-03-11")
            check_response(response)
            seen.append((response.status_code, response.headers["ratelimit-remaining"]))
            now[0] += 10
        reset = int(response.headers["ratelimit-reset"])
        now[0] = reset
        later = get(fake, "2025-03-10", "2025-03-11")
    assert seen == [(200, "2"), (200, "1"), (200, "0"), (429, "0")]
    assert "retry-after" not in response.headers
    assert reset == 1741699200 + 3600
    assert later.status_code == 200
    assert later.headers["ratelimit-limit"] == "3"


def test_request_log_records_what_was_asked(fake: FakeDigitalOcean) -> None:
    get(fake, "2025-03-10", "2025-03-11", params={"per_page": 3, "page": 2})
    get(fake, "2025-03-10", "2025-03-11", token="nope")
    first, second = fake.requests
    assert (first.account_urn, first.start_date, first.end_date) == (
        URN,
        "2025-03-10",
        "2025-03-11",
    )
    assert (first.page, first.per_page, first.status, first.authorized) == (2, 3, 200, True)
    assert (second.status, second.authorized) == (401, False)
