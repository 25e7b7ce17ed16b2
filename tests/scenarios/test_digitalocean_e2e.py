"""End to end: 200 DigitalOcean SKU/region series, one jumps on one day -> one incident.

Timeline (days relative to "today", a pinned date: never the calendar's), 56 days of steady daily spend with a weekly
pattern and a little noise for 50 SKUs x 4 regions, each SKU owned by one of four
teams. Two days ago, one droplet SKU in fra1 costs eight times its usual amount;
yesterday it is back to normal. ``alerter run --once`` backfills from the loopback
fake over real HTTP, judges the closed days, and the ``file`` notifier writes exactly
one incident, naming the SKU, its region and its team.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from alerter.cli import main
from alerter.clock import PinnedClock
from tests.fakes.digitalocean import FakeDigitalOcean
from tests.timekeeping import PINNED_START, epoch_seconds, pin_clock

URN = "do:team:3f2a9c1e-7b4d-4e6a-9c8b-1d2e3f4a5b6c"
TEAMS = [f"do:team:0000000{n}-aaaa-4bbb-8ccc-dddddddddddd" for n in range(4)]
REGIONS = ["nyc3", "sfo3", "fra1", "sgp1"]
SKUS = [f"1-DO-DROP-{n:04d}" for n in range(50)]
JUMP_SKU, JUMP_REGION = SKUS[42], "fra1"
JUMP_TEAM = TEAMS[42 % 4]


def build_dataset(
    fake: FakeDigitalOcean, today: datetime
) -> tuple[datetime, Decimal, list[Decimal]]:
    """Fill the fake; returns the day that jumps, its amount, and the series' other days."""
    rng = random.Random(20251121)
    jump_day = today - timedelta(days=2)
    planted = Decimal(0)
    usual: list[Decimal] = []
    for back in range(56, 0, -1):
        when = today - timedelta(days=back)
        weekly = Decimal("1.15") if when.weekday() < 5 else Decimal("0.85")
        for s, sku in enumerate(SKUS):
            for r, region in enumerate(REGIONS):
                base = Decimal(1) + Decimal(s % 17) * Decimal("0.37") + Decimal(r) / 10
                noise = Decimal(rng.randint(-30, 30)) / 1000
                amount = base * weekly * (1 + noise)
                if (sku, region, when) == (JUMP_SKU, JUMP_REGION, jump_day):
                    amount *= 8
                amount = amount.quantize(Decimal("0.01"))
                if (sku, region) == (JUMP_SKU, JUMP_REGION):
                    if when == jump_day:
                        planted = amount
                    else:
                        usual.append(amount)
                fake.add_point(
                    URN,
                    when.date().isoformat(),
                    str(amount),
                    sku=sku,
                    region=region,
                    description=f"{sku.lower()}-{region} (s-2vcpu-4gb)",
                    usage_team_urn=TEAMS[s % 4],
                )
    return jump_day, planted, usual


def write_config(tmp: Path, base_url: str) -> Path:
    (tmp / "rules").mkdir()
    (tmp / "rules" / "do.toml").write_text(
        """
[[rule]]
name = "do-sku-daily-jump"
source = "do"
group_by = ["sku", "region", "usage_team_urn"]
min_amount = 5
min_delta = 10
min_history = 7
detector = { type = "change", baseline = "median", windows = 14, pct = 100, delta = 10 }
""",
        encoding="utf-8",
    )
    config = tmp / "alerter.toml"
    config.write_text(
        f"""
[alerter]
state = "state.db"
rules = ["rules/*.toml"]

[alerter.http]
enabled = false

[sources.do]
type = "digitalocean"
base_url = "{base_url}"
account_urns = ["{URN}"]
token_env = "DO_E2E_TOKEN"
lookback = "7d"
backfill = "56d"

[notifiers.jsonl]
type = "file"
path = "alerts.jsonl"
""",
        encoding="utf-8",
    )
    return config


# "today" 10:30 UTC: the jump (two days before) on a Monday, a Saturday and a Sunday
TODAYS = [
    PINNED_START,
    datetime(2026, 9, 14, 10, 30, tzinfo=UTC),
    datetime(2026, 9, 15, 10, 30, tzinfo=UTC),
]


def _fake(clock: PinnedClock) -> FakeDigitalOcean:
    return FakeDigitalOcean(
        token="dop_v1_e2e-token", accounts=(URN,), now=lambda: epoch_seconds(clock)
    )


@pytest.mark.scenario
@pytest.mark.parametrize("start", TODAYS, ids=lambda d: f"today={d:%a}")
def test_one_sku_jump_among_200_series_is_one_incident(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, start: datetime
) -> None:
    clock = pin_clock(monkeypatch, start)
    today = start.replace(hour=0, minute=0, second=0, microsecond=0)
    monkeypatch.setenv("DO_E2E_TOKEN", "dop_v1_e2e-token")
    with _fake(clock) as fake:
        jump_day, planted, usual = build_dataset(fake, today)
        config = write_config(tmp_path, fake.base_url)
        code = main(["run", "--once", "--config", str(config)])
        served = fake.served(200)
        spans = {(r.start_date, r.end_date) for r in fake.requests}

    assert code == 0
    assert all(r.per_page == 200 for r in served)
    assert len(spans) == 2  # a 56-day backfill takes two ranges of <= 31 days
    lines = (tmp_path / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    incidents = {r["incident"] for r in records}
    assert len(incidents) == 1, records
    record = records[0]
    assert record["rule"] == "do-sku-daily-jump"
    assert record["source"] == "do"
    assert record["event"] == "first"
    assert record["direction"] == "up"
    assert record["window_start"] == jump_day.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert record["group"] == {
        "region": JUMP_REGION,
        "sku": JUMP_SKU,
        "usage_team_urn": JUMP_TEAM,
    }
    # the numbers are the data's: the planted day, against a baseline of the usual days
    assert Decimal(record["observed"]) == planted
    assert min(usual) <= Decimal(record["expected"]) <= max(usual)


@pytest.mark.scenario
def test_a_revised_estimate_updates_the_incident_instead_of_alerting_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pinned_clock: PinnedClock
) -> None:
    today = PINNED_START.replace(hour=0, minute=0, second=0, microsecond=0)
    monkeypatch.setenv("DO_E2E_TOKEN", "dop_v1_e2e-token")
    with _fake(pinned_clock) as fake:
        jump_day, _, _ = build_dataset(fake, today)
        config = write_config(tmp_path, fake.base_url)
        assert main(["run", "--once", "--config", str(config)]) == 0
        jump = jump_day.date().isoformat()
        revised = fake.revise(URN, "99.00", sku=JUMP_SKU, region=JUMP_REGION, start_date=jump)
        assert revised == 1
        assert main(["run", "--once", "--config", str(config)]) == 0
        second_spans = {(r.start_date, r.end_date) for r in fake.requests[-2:]}

    records = [
        json.loads(line)
        for line in (tmp_path / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert {r["incident"] for r in records} == {1}
    assert [r["event"] for r in records] == ["first", "late_data"]
    assert Decimal(records[1]["observed"]) == Decimal("99.00")
    # the second poll re-fetches only the 7-day lookback, in one request
    assert len(second_spans) == 1
