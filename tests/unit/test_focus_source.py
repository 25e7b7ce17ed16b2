"""FOCUS files as real exports write them: nulls, offsets, bad rows, categories,
corrections, Parquet types, provider columns, and files not read twice."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerter.clock import FakeClock
from alerter.domain import key_get
from alerter.errors import BadResponse
from alerter.sources.base import SourceContext
from alerter.sources.exports import period_range
from alerter.sources.focus import FocusConfig, FocusSource
from alerter.sources.focus_table import FocusSpec, read_focus
from alerter.store.sqlite import SqliteStore

T = datetime(2024, 9, 10, tzinfo=UTC)
DAY_US = 86_400_000_000
HEADER = (
    "ChargePeriodStart,ChargePeriodEnd,BilledCost,BillingCurrency,ServiceName,SkuId,RegionId,"
    "SubAccountId,ChargeCategory,ChargeClass,ConsumedQuantity,ChargeDescription,x_UsageType,Tags\n"
)
SPEC = FocusSpec(
    "BilledCost",
    ("ServiceName", "SkuId", "RegionId", "SubAccountId", "ChargeCategory", "x_UsageType"),
    ("team",),
    DAY_US,
)


def row(
    start="2024-09-10 01:00:00",
    end="2024-09-10 02:00:00",
    cost="1.5",
    service="EC2",
    category="Usage",
    klass="NULL",
    quantity="2",
    description="plain",
    usage="BoxUsage",
    tags='"{""team"": ""web""}"',
    account="0012",
) -> str:
    return (
        f'{start},{end},{cost},USD,{service},sku,us-east-1,"{account}",{category},{klass},'
        f"{quantity},{description},{usage},{tags}\n"
    )


def sums(data: str | bytes, spec: FocusSpec = SPEC):
    raw = data.encode() if isinstance(data, str) else data
    return read_focus("f.csv", raw, spec)


def cells(result) -> dict[tuple[str, int], Decimal]:
    return {(r["ServiceName"], r["window"]): r["amount"] for r in result.table.to_pylist()}


def test_null_and_empty_are_null_and_offsetless_times_are_utc():
    got = sums(
        HEADER
        + row(quantity="NULL", klass="")
        + row(start="2024-09-10T23:30:00+02:00", end="2024-09-10T23:45:00+02:00", service="S3")
        + row(cost="NULL", service="RDS")
        + row(cost="", service="RDS")
    )
    assert got.rows == 4 and got.counted == 2 and got.skipped == 2
    assert got.problems == [
        "f.csv:4: BilledCost is null",
        "f.csv:5: BilledCost is null",
    ]
    day = int((T - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000
    assert cells(got) == {("EC2", day): Decimal("1.5"), ("S3", day): Decimal("1.5")}
    (ec2,) = [r for r in got.table.to_pylist() if r["ServiceName"] == "EC2"]
    assert ec2["quantity"] is None and ec2["SubAccountId"] == "0012"
    assert ec2["tag.team"] == "web" and ec2["x_UsageType"] == "BoxUsage"


def test_bad_rows_are_located_across_quoted_newlines_and_strict_rejects_the_file():
    text = (
        HEADER
        + row(description='"two\nlines"')
        + row(start="2024-02-30 00:00:00", end="2024-09-10 00:00:00")
        + row(cost="12.4.5")
        + row(start="2024-09-10 05:00:00", end="2024-09-10 04:00:00")
    )
    got = sums(text)
    assert got.problems == [
        "f.csv:4: ChargePeriodStart is not a timestamp: 2024-02-30 00:00:00",
        "f.csv:5: BilledCost is not a decimal amount: 12.4.5",
        "f.csv:6: ChargePeriodEnd is before ChargePeriodStart",
    ]
    with pytest.raises(BadResponse, match=r"^f.csv:4: ChargePeriodStart .* \(and 2 more\)"):
        sums(text, FocusSpec(**{**SPEC.__dict__, "strict": True}))


def test_malformed_csv_rows_and_bad_utf8_take_the_slow_reader_not_the_file():
    text = (
        HEADER.encode()
        + row().encode()
        + b"1,2,3\n"
        + row(service="SX3").encode().replace(b"SX3", b"S\xff3")
    )
    got = sums(text)
    assert got.skipped == 1 and got.problems == ["f.csv:3: 3 fields, the header has 14"]
    assert sorted(r["ServiceName"] for r in got.table.to_pylist()) == ["EC2", "S\ufffd3"]


def test_missing_required_column_and_unreadable_files_fail_whole():
    with pytest.raises(BadResponse, match=r"f\.csv:1: missing FOCUS column.*BilledCost"):
        sums("ChargePeriodStart,ChargePeriodEnd\n2024-09-10,2024-09-11\n")
    with pytest.raises(BadResponse, match=r"f\.csv: not a readable gzip file"):
        sums(b"\x1f\x8b\x08garbage")
    with pytest.raises(BadResponse, match=r"f\.csv: not a readable Parquet file"):
        sums(b"PAR1 not really")


def test_a_charge_period_longer_than_the_cap_is_a_bad_row():
    got = sums(HEADER + row(start="1900-01-01 00:00:00", end="2100-01-01 00:00:00"))
    assert got.skipped == 1 and "spans more than 50000 windows" in got.problems[0]


def test_periods_at_the_ends_of_time_are_located_bad_rows():
    got = sums(
        HEADER
        + row(start="9999-12-31 23:00:00", end="9999-12-31 23:30:00")
        + row(start="0001-01-01 00:00:00", end="0001-01-01 01:00:00")
        + row()
    )
    assert got.counted == 1 and got.skipped == 2
    assert got.problems == [
        "f.csv:2: charge period outside the years 1 to 9999: 9999-12-31 23:00:00 to "
        "9999-12-31 23:30:00",
        "f.csv:3: charge period outside the years 1 to 9999: 0001-01-01 00:00:00 to "
        "0001-01-01 01:00:00",
    ]


def test_daily_charges_split_over_hours_and_the_sum_is_kept():
    hourly = FocusSpec(**{**SPEC.__dict__, "step_us": 3_600_000_000})
    got = sums(HEADER + row(start="2024-09-10 00:00:00", end="2024-09-11 00:00:00", cost="24.24"))
    assert len(got.table) == 1
    split = sums(
        HEADER + row(start="2024-09-10 00:00:00", end="2024-09-11 00:00:00", cost="24.24"), hourly
    )
    amounts = [r["amount"] for r in split.table.to_pylist()]
    assert len(amounts) == 24 and set(amounts) == {Decimal("1.01")}


def parquet(rows: dict[str, object]) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table(rows), out)
    return out.getvalue()


def test_parquet_types_naive_timestamps_nan_and_map_tags():
    start = datetime(2024, 9, 10, 3)  # no tz: UTC
    data = parquet(
        {
            "ChargePeriodStart": pa.array([start, start], pa.timestamp("us")),
            "ChargePeriodEnd": pa.array([start + timedelta(hours=1)] * 2, pa.timestamp("us")),
            "BilledCost": pa.array([2.25, float("nan")]),
            "ServiceName": ["EC2", "EC2"],
            "SubAccountId": pa.array([12, 12], pa.int64()),
            "Tags": pa.array([[("team", "web")], None], pa.map_(pa.string(), pa.string())),
        }
    )
    got = read_focus("p.parquet", data, SPEC)
    assert got.problems == ["p.parquet: row 2: BilledCost is not a decimal amount: nan"]
    (cell,) = got.table.to_pylist()
    assert cell["amount"] == Decimal("2.25") and cell["currency"] == "USD"
    assert cell["SubAccountId"] == "12" and cell["tag.team"] == "web"
    assert cell["window"] == int((T - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 10**6


# -- the source over files ------------------------------------------------------------------


def ctx(tmp_path: Path) -> SourceContext:
    return SourceContext(FakeClock(T), {}, tmp_path)


def fetch(src: FocusSource, since: datetime, until: datetime):
    return asyncio.run(src.fetch(since, until))


def test_categories_option_and_credits_kept_apart_as_a_dimension(tmp_path):
    (tmp_path / "a.csv").write_text(
        HEADER + row(cost="10") + row(cost="-3", category="Credit") + row(cost="1", category="Tax")
    )
    src = FocusSource("f", FocusConfig(path="*.csv"), ctx(tmp_path))
    result = fetch(src, T, T + timedelta(days=1))
    by_cat = {key_get(p.key, "ChargeCategory"): p.amount for p in result.all_points("f")}
    assert by_cat == {"Usage": Decimal(10), "Credit": Decimal(-3), "Tax": Decimal(1)}
    usage = FocusSource("f", FocusConfig(path="*.csv", charge_categories=["Usage"]), ctx(tmp_path))
    (only,) = fetch(usage, T, T + timedelta(days=1)).all_points("f")
    assert only.amount == Decimal(10)


def test_a_correction_revises_the_window_it_corrects_even_before_the_lookback(tmp_path):
    aug = "2024-08-20 01:00:00", "2024-08-20 02:00:00"
    (tmp_path / "2024-08.csv").write_text(HEADER + row(*aug, cost="100"))
    (tmp_path / "2024-09.csv").write_text(HEADER + row(cost="5"))
    src = FocusSource("f", FocusConfig(path="*.csv", backfill="60d"), ctx(tmp_path))
    store = SqliteStore(":memory:")
    try:
        first = fetch(src, T - timedelta(days=40), T + timedelta(days=1))
        store.upsert("f", first, T)
        # September's file gains a correction of August 20 (ChargeClass = Correction)
        (tmp_path / "2024-09.csv").write_text(
            HEADER + row(cost="5") + row(*aug, cost="-30", klass="Correction")
        )
        later = fetch(src, T - timedelta(days=2), T + timedelta(days=1))  # lookback: 2 days
        aug20 = datetime(2024, 8, 20, tzinfo=UTC)
        assert {(p.start, p.amount) for p in later.all_points("f")} == {
            (aug20, Decimal(70)),  # the whole window, original plus correction
            (T, Decimal(5)),
        }
        assert any(c.start == aug20 and c.end == aug20 + timedelta(days=1) for c in later.coverage)
        report = store.upsert("f", later, T + timedelta(hours=1))
        assert [start for _, start in report.revised] == [aug20]
    finally:
        store.close()


def test_unchanged_files_are_not_read_again_and_vanished_cells_become_zero(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text(HEADER + row(cost="4") + row(cost="6", service="S3"))
    src = FocusSource("f", FocusConfig(path="*.csv"), ctx(tmp_path))
    first = fetch(src, T, T + timedelta(days=1))
    assert src.reads == 1 and len(first.all_points("f")) == 2
    again = fetch(src, T, T + timedelta(days=1))
    assert src.reads == 1 and again.all_points("f") == first.all_points("f")
    path.write_text(HEADER + row(cost="4.5"))  # S3 is gone from the new delivery
    third = fetch(src, T, T + timedelta(days=1))
    assert src.reads == 2
    assert {(key_get(p.key, "ServiceName"), p.amount) for p in third.all_points("f")} == {
        ("EC2", Decimal("4.5")),
        ("S3", Decimal(0)),
    }


def test_skipped_rows_are_counted_once_and_summarised(tmp_path):
    (tmp_path / "a.csv").write_text(HEADER + row() + row(cost="x") + row(cost="NULL"))
    src = FocusSource("f", FocusConfig(path="*.csv"), ctx(tmp_path))
    first = fetch(src, T, T + timedelta(days=1))
    assert first.skipped_rows == 2
    (summary,) = first.errors
    assert "a.csv:3: BilledCost is not a decimal amount: x" in summary
    assert "2 row(s) of" in summary
    again = fetch(src, T, T + timedelta(days=1))
    assert (
        again.skipped_rows == 0
        and again.errors == []
        and again.all_points("f") == first.all_points("f")
    )


# -- any cell text: parsed data or a located error --------------------------------------------


@given(st.lists(st.text(max_size=40), min_size=5, max_size=5))
def test_any_cell_text_is_parsed_or_located(cells):
    import csv

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["ChargePeriodStart", "ChargePeriodEnd", "BilledCost", "ServiceName", "Tags"])
    writer.writerow(cells)
    error: str | None = None
    try:
        got = read_focus("h.csv", buf.getvalue().encode(), SPEC)
    except BadResponse as exc:
        error = str(exc)
    if error is not None:
        assert error.startswith("h.csv")
        return
    assert got.counted + got.skipped + got.excluded == got.rows
    assert all(p.startswith("h.csv:") for p in got.problems)
    if got.counted:
        assert len(got.table) >= 1


def test_two_currencies_of_one_service_are_two_series_and_stay_unrevised(tmp_path):
    (tmp_path / "c.csv").write_text(
        HEADER + row(cost="5") + row(cost="7").replace(",USD,", ",EUR,")
    )
    src = FocusSource("f", FocusConfig(path="c.csv"), ctx(tmp_path))
    store = SqliteStore(":memory:")
    try:
        reports = []
        for hour in range(2):
            result = fetch(src, T, T + timedelta(days=1))
            reports.append(store.upsert("f", result, T + timedelta(hours=hour)))
        points = result.all_points("f")
        assert {(key_get(p.key, "BillingCurrency"), p.currency, p.amount) for p in points} == {
            ("USD", "USD", Decimal(5)),
            ("EUR", "EUR", Decimal(7)),
        }
        assert reports[1].revised == []
    finally:
        store.close()


def _utc(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


@pytest.mark.parametrize(
    ("period", "span"),
    [
        ("2026-12", (_utc(2026, 12, 1), _utc(2027, 1, 1))),
        ("20260801-20260831", (_utc(2026, 8, 1), _utc(2026, 9, 1))),
        ("2026-08-01T00:00:00Z..2026-09-01T00:00:00Z", (_utc(2026, 8, 1), _utc(2026, 9, 2))),
        ("2026-08-01..2026-08-31", (_utc(2026, 8, 1), _utc(2026, 9, 1))),
        ("", None),
        (None, None),
        ("next month", None),
        ("2026-13", None),
        ("20260831-20260801", None),
    ],
)
def test_a_billing_period_names_its_span_widened_to_whole_days(period, span):
    assert period_range(period) == span


# -- hostile tag keys and values: each costs at most its own tag ------------------------------

ALL_TAGS = FocusSpec("BilledCost", ("ServiceName",), ("*",), DAY_US)


def csv_cell(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def tags_cell(tags: object) -> str:
    """``tags`` as the JSON text of one quoted CSV cell (NUL and surrogates as escapes)."""
    return csv_cell(json.dumps(tags))


@pytest.mark.parametrize(
    ("tags", "why"),
    [
        ({"\u0000": None}, r"tag '\x00' dropped: the key has a control character"),
        ({"a\u0000b": "x"}, r"tag 'a\x00b' dropped: the key has a control character"),
        ({"\ud800": "x"}, r"tag '\ud800' dropped: the key is not valid text"),
        (
            {"k" * 300: "x"},
            "tag 'kkkkkkkkkk" + "k" * 30 + "'... dropped: the key is longer than 256",
        ),
        ({"bad": "\ud800"}, "tag 'bad' dropped: its value is not valid text"),
    ],
    ids=["nul", "nul-inside", "surrogate", "long", "surrogate-value"],
)
def test_a_hostile_tag_key_or_value_drops_that_tag_and_is_located(tags, why):
    text = HEADER + row(cost="2", tags=tags_cell({**tags, "team": "web"})) + row(cost="3", tags="")
    got = sums(text, ALL_TAGS)
    assert got.counted == 2 and got.skipped == 0
    (problem,) = got.problems
    assert problem.startswith(f"f.csv:2: {why}"), problem
    assert problem.endswith("; the row counts without it")
    assert {(c["tag.team"], c["amount"]) for c in got.table.to_pylist()} == {
        ("web", Decimal(2)),
        ("", Decimal(3)),
    }
    assert [c for c in got.table.column_names if c.startswith("tag.")] == ["tag.team"]
    with pytest.raises(BadResponse, match=r"f\.csv:2: tag .* dropped"):
        sums(text, FocusSpec("BilledCost", ("ServiceName",), ("*",), DAY_US, strict=True))


def test_odd_but_valid_tag_keys_are_dimensions_of_their_own():
    odd = ["", "Team", "team", 'a"b', "a'b", "amount", "_d0", "window"]
    text = HEADER + "".join(
        row(cost=str(i + 1), tags=tags_cell({key: f"v{i}"})) for i, key in enumerate(odd)
    )
    got = sums(text, ALL_TAGS)
    assert got.problems == [] and got.counted == len(odd)
    cells = got.table.to_pylist()
    for i, key in enumerate(odd):
        (cell,) = [c for c in cells if c["amount"] == Decimal(i + 1)]
        assert {k: v for k, v in cell.items() if k.startswith("tag.") and v} == {
            f"tag.{key}": f"v{i}"
        }


def test_tags_that_are_not_an_object_or_not_text_count_without_tags():
    huge = '{"team": ' + "1" * 5000 + "}"  # beyond Python's int digits limit
    got = sums(HEADER + row(cost="2", tags=csv_cell(huge)), SPEC)
    assert got.counted == 1
    assert got.problems == ["f.csv:2: Tags is not a JSON object; the row counts without tags"]
    start = datetime(2024, 9, 10, 3)
    data = parquet(
        {
            "ChargePeriodStart": pa.array([start], pa.timestamp("us")),
            "ChargePeriodEnd": pa.array([start + timedelta(hours=1)], pa.timestamp("us")),
            "BilledCost": pa.array([2.5]),
            "Tags": pa.array([{"team": "web"}], pa.struct([("team", pa.string())])),
        }
    )
    got = read_focus("p.parquet", data, SPEC)
    assert got.counted == 1 and [c["amount"] for c in got.table.to_pylist()] == [Decimal("2.5")]
    assert got.problems == [
        "p.parquet: Tags is struct<team: string>, not text; the rows count without tags"
    ]


def test_tag_keys_differing_in_case_in_two_files_add_up_as_two_series(tmp_path):
    (tmp_path / "a.csv").write_text(HEADER + row(cost="2", tags=tags_cell({"Team": "web"})))
    (tmp_path / "b.csv").write_text(HEADER + row(cost="3", tags=tags_cell({"team": "web"})))
    src = FocusSource("f", FocusConfig(path="*.csv", tags=["*"]), ctx(tmp_path))
    result = fetch(src, T, T + timedelta(days=1))
    assert result.errors == []
    assert {
        (key_get(p.key, "tag.Team"), key_get(p.key, "tag.team"), p.amount)
        for p in result.all_points("f")
    } == {("web", "", Decimal(2)), ("", "web", Decimal(3))}


def test_a_nul_tag_key_costs_its_tag_not_the_file(tmp_path):
    (tmp_path / "a.csv").write_text(
        HEADER + row(cost="2", tags=tags_cell({"\u0000": None, "team": "web"}))
    )
    src = FocusSource("f", FocusConfig(path="*.csv", tags=["*"]), ctx(tmp_path))
    result = fetch(src, T, T + timedelta(days=1))
    (error,) = result.errors
    assert "a.csv:2: tag '\\x00' dropped" in error
    (point,) = result.all_points("f")
    assert point.amount == Decimal(2) and key_get(point.key, "tag.team") == "web"


def test_nothing_covered_names_the_files_that_failed(tmp_path):
    (tmp_path / "good.csv").write_text(HEADER + row(cost="2"))
    (tmp_path / "bad1.csv").write_text("ChargePeriodStart\n2024-09-10\n")
    src = FocusSource("f", FocusConfig(path="*.csv"), ctx(tmp_path))
    result = fetch(src, T, T + timedelta(days=1))
    bad1 = str(tmp_path / "bad1.csv")
    assert result.errors[-1] == (
        f"source f: nothing covered this cycle: {bad1} failed and may hold any window"
    )
    assert result.coverage == [] and result.all_points("f") == []
    for n in range(2, 6):
        (tmp_path / f"bad{n}.csv").write_text("ChargePeriodStart\n2024-09-10\n")
    result = fetch(src, T, T + timedelta(days=1))
    named = ", ".join(str(tmp_path / f"bad{n}.csv") for n in range(1, 4))
    assert result.errors[-1] == (
        f"source f: nothing covered this cycle: {named} and 2 more file(s) failed "
        "and may hold any window"
    )
