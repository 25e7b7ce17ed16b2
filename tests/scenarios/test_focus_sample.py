"""The FinOps Foundation's FOCUS 1.0 sample, read as it is, through the example config:
``alerter series --json`` per day equals the sample's BilledCost per day and currency."""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from alerter.app import App, CycleReport
from alerter.cli import main
from alerter.clock import FakeClock
from alerter.config import load_config

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO.parent / "shared" / "focus" / "focus-1.0-sample.csv"
pytestmark = [
    pytest.mark.scenario,
    pytest.mark.skipif(not SAMPLE.exists(), reason=f"FOCUS sample not found at {SAMPLE}"),
]


def expected_per_day() -> dict[tuple[str, str], Decimal]:
    """Independently of alerter: BilledCost summed per ChargePeriodStart day and currency."""
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    with SAMPLE.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            day = row["ChargePeriodStart"][:10]
            assert row["ChargePeriodEnd"][:10] == day or row["ChargePeriodEnd"].endswith(
                "00:00:00"
            )  # every row of the sample lies within one day
            sums[(day, row["BillingCurrency"])] += Decimal(row["BilledCost"])
    return dict(sums)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(REPO / "examples" / "finops-sample", tmp_path / "finops")
    monkeypatch.setenv("ALERTER_SOURCES__FINOPS__PATH", str(SAMPLE))
    return tmp_path / "finops" / "config.toml"


def ingest(config: Path) -> list[str]:
    app = App(load_config(config), clock=FakeClock(datetime(2024, 10, 2, tzinfo=UTC)))

    async def cycle() -> CycleReport:
        try:
            return await app.run_cycle("finops")
        finally:
            await app.aclose()

    report = asyncio.run(cycle())
    assert report.ok, report.errors
    assert report.skipped_rows == 0
    return list(report.errors)


def test_series_per_day_equals_the_sample_billed_cost_to_the_cent(config, capsys):
    assert ingest(config) == []
    capsys.readouterr()
    assert main(["series", "--json", "--config", str(config), "--source", "finops"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    got = {(e["window_start"][:10], e["currency"]): Decimal(e["amount"]) for e in lines}
    want = expected_per_day()
    assert len(want) == 30  # every day of September 2024
    cent = Decimal("0.01")
    assert got.keys() == want.keys()
    assert {k: v.quantize(cent) for k, v in got.items()} == {
        k: v.quantize(cent) for k, v in want.items()
    }
    # the store keeps 10 decimal places (DECIMAL(38,10)): a day's total is within the
    # rounding of its points of the sample's exact sum
    assert all(abs(got[k] - want[k]) <= Decimal("1e-8") for k in want)
    assert all(e["group"] == {} for e in lines)
    assert all(e["window_end"][:10] > e["window_start"][:10] for e in lines)


def test_series_by_provider_and_category_keeps_credits_apart(config, capsys):
    ingest(config)
    capsys.readouterr()
    args = ["series", "--config", str(config), "--source", "finops", "--json"]
    assert main([*args, "--group-by", "ChargeCategory", "ProviderName"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    credits = [e for e in lines if e["group"]["ChargeCategory"] == "Credit"]
    assert [(e["window_start"], e["group"]["ProviderName"], e["amount"]) for e in credits] == [
        ("2024-09-24T00:00:00Z", "AWS", "-2.6137")
    ]
    adjustments = {
        e["window_start"][:10]: Decimal(e["amount"])
        for e in lines
        if e["group"]["ChargeCategory"] == "Adjustment"
    }
    assert adjustments == {"2024-09-11": Decimal("0.08"), "2024-09-12": Decimal("0.192")}
    assert {e["group"]["ProviderName"] for e in lines} == {"AWS", "Microsoft", "Oracle"}


def test_series_table_for_people_and_a_range(config, capsys):
    ingest(config)
    capsys.readouterr()
    args = ["series", "--config", str(config), "--source", "finops"]
    assert main([*args, "--since", "2024-09-24T00:00:00Z", "--until", "2024-09-26T00:00:00Z"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["window_start", "window_end", "group", "amount", "currency"]
    assert len(out) == 3
    want = expected_per_day()
    assert out[1].split() == [
        "2024-09-24T00:00:00Z",
        "2024-09-25T00:00:00Z",
        "(all)",
        f"{want[('2024-09-24', 'USD')].normalize():f}",
        "USD",
    ]
    column = out[0].index("currency")  # aligned: amounts end where the currency column starts
    assert all(line[column - 3] != " " and line[column:] == "USD" for line in out[1:])
    assert main([*args, "--since", "nope"]) == 2
    assert main(["series", "--config", str(config), "--source", "nope"]) == 2
