"""A first poll where one customer's history failed: the backfill is fetched again on
the next cycle, so that customer gets its baseline too, and the history that arrives
late seeds baselines instead of raising alerts about the past."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from alerter.app import App
from alerter.clock import FakeClock
from alerter.config import load_config
from tests.fakes.metronome import FakeMetronome, Fault, MetronomeDataset, Product, SyntheticUsage

pytestmark = pytest.mark.scenario
TOKEN = "mtr-backfill-token"
GPU = Product("GPU compute")
NOW = datetime(2026, 9, 21, 12, 5, tzinfo=UTC)
RULES = """
[[rule]]
name = "spike"
source = "metronome"
match = { credit_type = "USD (cents)" }
group_by = ["customer_id"]
min_history = 24
[rule.detector]
type = "change"
baseline = "median"
windows = 24
pct = 200
delta = 50
"""


def config(tmp: Path, url: str) -> Path:
    (tmp / "rules").mkdir()
    (tmp / "rules" / "r.toml").write_text(RULES, encoding="utf-8")
    path = tmp / "alerter.toml"
    path.write_text(
        f"""
[alerter]
state = "state.db"
rules = ["rules/*.toml"]
[alerter.http]
enabled = false
[sources.metronome]
type = "metronome"
base_url = "{url}"
token_env = "TOKEN"
window = "hour"
lookback = "6h"
backfill = "8d"
[notifiers.jsonl]
type = "file"
path = "alerts.jsonl"
""",
        encoding="utf-8",
    )
    return path


def test_incomplete_backfill_is_retried_and_late_history_does_not_alert(tmp_path: Path) -> None:
    usage = SyntheticUsage(base={GPU.name: Decimal(3000)})
    data = MetronomeDataset(usage)
    customers = [data.add_customer(f"Customer {i}", [GPU]) for i in range(4)]
    broken = customers[2]
    old_spike = NOW.replace(minute=0) - timedelta(days=5)
    data.set_usage(broken.id, GPU.name, old_spike, usage(broken, GPU, old_spike) * 10)
    clock = FakeClock(NOW)
    with FakeMetronome(data, token=TOKEN, now=clock.now) as fake:
        fake.faults.append(Fault("503", customer_id=broken.id, endpoint="breakdowns", times=None))
        app = App(load_config(config(tmp_path, fake.url)), clock=clock, env={"TOKEN": TOKEN})

        async def timeline() -> None:
            try:
                first = await app.run_cycle("metronome")
                assert first.errors  # one customer failed...
                assert first.ok  # ...the others did not
                (status,) = app.store.poll_status()
                assert not status.backfilled  # so the next cycle fetches the backfill again
                fake.faults.clear()
                clock.advance(timedelta(hours=1))
                second = await app.run_cycle("metronome")
                assert second.errors == []
                (status,) = app.store.poll_status()
                assert status.backfilled
                old = app.store.load_points(
                    "metronome", NOW - timedelta(days=8), NOW - timedelta(days=1)
                )
                assert {dict(p.key)["customer_id"] for p in old} == {c.id for c in customers}
                clock.advance(timedelta(hours=1))
                third = await app.run_cycle("metronome")
                assert third.points < second.points  # back to the lookback only
            finally:
                await app.aclose()

        asyncio.run(timeline())
    alerts = tmp_path / "alerts.jsonl"
    sent = [json.loads(x) for x in alerts.read_text().splitlines()] if alerts.exists() else []
    assert sent == []  # the spike five days ago is history, not news
