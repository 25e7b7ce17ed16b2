from __future__ import annotations

import asyncio
import gzip
import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from alerter.clock import FakeClock
from alerter.domain import key_get
from alerter.sources.base import SourceContext
from alerter.sources.csv_file import CsvConfig, CsvSource
from alerter.sources.focus import FocusConfig, FocusSource
from tests.conftest import T0

FOCUS_HEADER = (
    "ChargePeriodStart,ChargePeriodEnd,BilledCost,EffectiveCost,BillingCurrency,ServiceName,"
    "SkuId,RegionId,SubAccountId,ChargeCategory,Tags\n"
)


def ctx(tmp_path: Path) -> SourceContext:
    return SourceContext(FakeClock(T0), {}, tmp_path)


def fetch(source, days: int = 3):
    return asyncio.run(source.fetch(T0, T0 + timedelta(days=days)))


def test_csv_sums_rows_into_windows_and_covers_the_span(write, tmp_path):
    write(
        "d.csv",
        """
        ts,amt,sku
        2026-09-07T00:10:00Z,1.25,a
        2026-09-07T00:40:00Z,0.75,a
        2026-09-07T02:00:00Z,3,b
        """,
    )
    cfg = CsvConfig(
        path="d.csv",
        timestamp_column="ts",
        amount_column="amt",
        dimensions=["sku"],
        step=timedelta(hours=1),
    )
    result = fetch(CsvSource("c", cfg, ctx(tmp_path)))
    assert result.errors == []
    sums = {(key_get(p.key, "sku"), p.start): p.amount for p in result.all_points()}
    assert sums == {("a", T0): Decimal("2.00"), ("b", T0 + timedelta(hours=2)): Decimal("3")}
    (cov,) = result.coverage
    assert (cov.start, cov.end) == (T0, T0 + timedelta(hours=3))  # hour 1 is covered: zero


def test_csv_malformed_row_rejects_the_file_with_file_and_line(write, tmp_path):
    write("d.csv", "timestamp,amount\n2026-09-07T00:00:00Z,1\n2026-09-07T01:00:00Z,12.4.5\n")
    cfg = CsvConfig(path="*.csv", step=timedelta(hours=1))
    result = fetch(CsvSource("c", cfg, ctx(tmp_path)))
    assert result.all_points() == [] and result.coverage == []
    (error,) = result.errors
    assert f"{tmp_path / 'd.csv'}:3" in error and "12.4.5" in error


def test_csv_missing_column_and_no_files(write, tmp_path):
    write("d.csv", "when,amount\n2026-09-07T00:00:00Z,1\n")
    result = fetch(CsvSource("c", CsvConfig(path="d.csv", step=timedelta(hours=1)), ctx(tmp_path)))
    assert "missing column(s) timestamp" in result.errors[0]
    empty = fetch(
        CsvSource("c", CsvConfig(path="none/*.csv", step=timedelta(hours=1)), ctx(tmp_path))
    )
    assert "no file matches" in empty.errors[0]


def test_csv_five_minute_step(write, tmp_path):
    write("d.csv", "timestamp,amount\n2026-09-07T00:05:00Z,1\n2026-09-07T00:07:00Z,2\n")
    cfg = CsvConfig(path="d.csv", step=timedelta(minutes=5))
    (p,) = fetch(CsvSource("c", cfg, ctx(tmp_path))).all_points()
    assert (p.start, p.end, p.amount) == (
        T0 + timedelta(minutes=5),
        T0 + timedelta(minutes=10),
        Decimal(3),
    )


def focus_row(start, end, cost, service="EC2", tags=None, currency="USD"):
    tag_text = json.dumps(tags or {}).replace('"', '""')
    return (
        f'{start},{end},{cost},{cost},{currency},{service},sku1,us-east-1,acct,Usage,"{tag_text}"\n'
    )


def test_focus_gzip_tags_and_daily_charges_spread_over_hours(tmp_path):
    path = tmp_path / "export.csv.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(FOCUS_HEADER)
        fh.write(
            focus_row(
                "2026-09-07T00:00:00Z",
                "2026-09-08T00:00:00Z",
                "24",
                tags={"team": "web", "env": "prod"},
            )
        )
        fh.write(focus_row("2026-09-07T05:00:00Z", "2026-09-07T06:00:00Z", "10", service="S3"))
    cfg = FocusConfig(path="*.csv.gz", window="hour", tags=["team"])
    result = fetch(FocusSource("f", cfg, ctx(tmp_path)))
    assert result.errors == []
    ec2 = [p for p in result.all_points("f") if key_get(p.key, "ServiceName") == "EC2"]
    assert len(ec2) == 24 and all(p.amount == Decimal(1) for p in ec2)
    assert key_get(ec2[0].key, "tag.team") == "web"
    assert key_get(ec2[0].key, "tag.env", "absent") == "absent"  # only configured tags
    assert sum(p.amount for p in result.all_points("f")) == Decimal(34)


def test_focus_effective_cost_and_bad_tags(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text(
        FOCUS_HEADER
        + focus_row("2026-09-07T00:00:00Z", "2026-09-07T01:00:00Z", "5").replace(
            ',"{}"', ",{not json"
        )
    )
    cfg = FocusConfig(path="e.csv", window="day", cost_column="EffectiveCost", tags=["*"])
    result = fetch(FocusSource("f", cfg, ctx(tmp_path)))
    (point,) = result.all_points("f")  # the cost still counts, without tags
    assert point.amount == Decimal(5) and not any(k.startswith("tag.") for k, _ in point.key)
    assert "e.csv:2: Tags is not a JSON object" in result.errors[0]
    strict = FocusConfig(path="e.csv", window="day", tags=["*"], strict=True)
    rejected = fetch(FocusSource("f", strict, ctx(tmp_path)))
    assert rejected.all_points("f") == [] and rejected.coverage == []
    assert "e.csv:2: Tags is not a JSON object" in rejected.errors[0]


def test_focus_currencies_stay_apart(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text(
        FOCUS_HEADER
        + focus_row("2026-09-07T00:00:00Z", "2026-09-07T01:00:00Z", "5")
        + focus_row("2026-09-07T00:00:00Z", "2026-09-07T01:00:00Z", "7", currency="EUR")
    )
    result = fetch(FocusSource("f", FocusConfig(path="c.csv", window="day"), ctx(tmp_path)))
    assert sorted((p.currency, p.amount) for p in result.all_points("f")) == [
        ("EUR", Decimal(7)),
        ("USD", Decimal(5)),
    ]


def test_rows_of_one_window_in_several_files_add_up(write, tmp_path):
    write("a.csv", "timestamp,amount\n2026-09-07T00:00:00Z,1.5\n")
    write("b.csv", "timestamp,amount\n2026-09-07T00:30:00Z,2\n")
    cfg = CsvConfig(path="*.csv", step=timedelta(hours=1))
    (p,) = fetch(CsvSource("c", cfg, ctx(tmp_path))).all_points()
    assert p.amount == Decimal("3.5")
