"""End to end: 50 Metronome customers, one hour of one customer spikes -> one incident.

Timeline (hours relative to now, UTC): 29 days of hourly usage for 50 customers,
each billed for "GPU compute" and "API requests" with a daily and weekly pattern and
a little noise. Five hours ago, customer 17's GPU compute costs eight times its usual
amount; the hours after are normal again. ``alerter run --once`` backfills both
example sources (hourly and daily) from the loopback fake over real HTTP, judges the
closed windows with the shipped ``rules/metronome.toml``, and the ``file`` notifier
writes exactly one incident: the hourly spike rule, customer 17, with GPU compute as
the top contributor.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from alerter.cli import main
from alerter.clock import PinnedClock
from tests.fakes.metronome import (
    Customer,
    FakeMetronome,
    FakeMetronomeProcess,
    MetronomeDataset,
    Product,
    SyntheticUsage,
)

RULES = Path(__file__).resolve().parents[2] / "rules" / "metronome.toml"
TOKEN = "mtr-e2e-token"
GPU = Product("GPU compute")
API = Product("API requests")
SPIKE_CUSTOMER = 17


class NoisyUsage(SyntheticUsage):
    """The synthetic pattern with +-3% deterministic noise per (customer, product, hour)."""

    def __call__(self, customer: Customer, product: Product, hour: datetime) -> Decimal:
        base = super().__call__(customer, product, hour)
        digest = hashlib.sha256(f"{customer.id}|{product.name}|{hour}".encode()).digest()
        noise = Decimal(digest[0] % 61 - 30) / 1000
        return (base * (1 + noise)).quantize(Decimal(1))


def build(now: datetime, hours_ago: int = 5) -> tuple[MetronomeDataset, Customer, datetime]:
    usage = NoisyUsage(base={GPU.name: Decimal(3000), API.name: Decimal(500)})
    data = MetronomeDataset(usage)
    customers = [
        data.add_customer(f"Customer {i:02d}", [GPU, API], commit_per_window=Decimal(5000))
        for i in range(50)
    ]
    spiky = customers[SPIKE_CUSTOMER]
    spike_hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours_ago)
    data.set_usage(spiky.id, GPU.name, spike_hour, usage(spiky, GPU, spike_hour) * 8)
    return data, spiky, spike_hour


def write_config(tmp: Path, base_url: str) -> Path:
    (tmp / "rules").mkdir(exist_ok=True)
    shutil.copy(RULES, tmp / "rules" / "metronome.toml")
    config = tmp / "alerter.toml"
    config.write_text(
        f"""
[alerter]
state = "state.db"
rules = ["rules/*.toml"]

[alerter.http]
enabled = false

[sources.metronome]
type = "metronome"
base_url = "{base_url}"
token_env = "METRONOME_E2E_TOKEN"
window = "hour"
lookback = "48h"
backfill = "29d"                # 4 weeks of same-hour history for the seasonal rule
concurrency = 16

[sources.metronome-daily]
type = "metronome"
base_url = "{base_url}"
token_env = "METRONOME_E2E_TOKEN"
window = "day"
lookback = "7d"
backfill = "21d"

[notifiers.jsonl]
type = "file"
path = "alerts.jsonl"
""",
        encoding="utf-8",
    )
    return config


@pytest.mark.scenario
@pytest.mark.slow
def test_one_customer_hourly_spike_among_50_is_one_incident(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pinned_clock: PinnedClock
) -> None:
    now = pinned_clock.now()
    monkeypatch.setenv("METRONOME_E2E_TOKEN", TOKEN)
    data, spiky, spike_hour = build(now)
    # a child process: 1,900 requests against an in-process server would mostly
    # measure the two sharing one GIL
    with FakeMetronomeProcess(data, token=TOKEN, now=pinned_clock.now) as fake:
        config = write_config(tmp_path, fake.url)
        assert main(["validate", "--config", str(config)]) == 0
        code = main(["run", "--once", "--config", str(config)])
    statuses = set(fake.statuses())

    assert code == 0
    assert statuses == {200}  # the client never triggers a 400
    lines = (tmp_path / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len({r["incident"] for r in records}) == 1, records
    first = records[0]
    assert first["rule"] == "metronome-customer-hourly-spike"
    assert first["source"] == "metronome"
    assert first["event"] == "first"
    assert first["direction"] == "up"
    assert first["window_start"] == spike_hour.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert first["group"] == {"customer_id": spiky.id, "customer_name": spiky.name}
    assert first["currency"] == "USD"
    top = first["contributors"][0]
    assert top["key"]["line_item"] == "GPU compute"
    assert top["key"]["customer_id"] == spiky.id
    # gross spend in dollars: the prepaid commit draw-down is not subtracted
    assert Decimal(first["observed"]) > 5 * Decimal(first["expected"])
    assert Decimal(first["observed"]) > 100


def read_records(tmp: Path) -> list[dict[str, object]]:
    path = tmp / "alerts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.scenario
@pytest.mark.slow
def test_backdated_usage_updates_the_incident_instead_of_alerting_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pinned_clock: PinnedClock
) -> None:
    now = pinned_clock.now()
    monkeypatch.setenv("METRONOME_E2E_TOKEN", TOKEN)
    # two hours ago: closed and settled, and no normal hour after it is judged yet
    data, spiky, spike_hour = build(now, hours_ago=2)
    with FakeMetronomeProcess(data, token=TOKEN, now=pinned_clock.now) as fake:
        config = write_config(tmp_path, fake.url)
        assert main(["run", "--once", "--config", str(config)]) == 0
    first_run = read_records(tmp_path)
    # late usage arrives for the spike hour; the next cycle re-fetches the lookback
    gpu = data.customers[spiky.id].products[0]
    revised = data.hourly(spiky, gpu, spike_hour) * 2
    data.set_usage(spiky.id, GPU.name, spike_hour, revised)
    with FakeMetronomeProcess(data, token=TOKEN, now=pinned_clock.now) as fake:
        config = write_config(tmp_path, fake.url)
        assert main(["run", "--once", "--config", str(config)]) == 0
    second = [r for r in fake.requests if r.endpoint == "breakdowns"]

    records = read_records(tmp_path)
    assert [r["event"] for r in first_run] == ["first"]
    assert {r["incident"] for r in records} == {first_run[0]["incident"]}
    assert [r["event"] for r in records] == ["first", "late_data"]
    assert Decimal(str(records[1]["observed"])) > Decimal(str(records[0]["observed"]))
    # the second cycle asked only for the lookbacks (48 h hourly, 7 d daily)
    assert len(second) <= 50 * 3 + 50 * 1


@pytest.mark.scenario
def test_refused_token_is_reported_once_without_crashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    wrong = "mtr-revoked-token-42"
    monkeypatch.setenv("METRONOME_E2E_TOKEN", wrong)
    data = MetronomeDataset()
    for i in range(5):
        data.add_customer(f"Customer {i}", [GPU])
    with FakeMetronome(data, token=TOKEN) as fake:
        config = write_config(tmp_path, fake.url)
        code = main(["run", "--once", "--config", str(config)])
        statuses = fake.statuses()

    assert code == 1  # every source failed; the process did not crash
    assert statuses == [401, 401]  # one refused customer listing per source, nothing more
    out, err = capfd.readouterr()
    failures = [line for line in err.splitlines() if "poll_failed" in line]
    assert len(failures) == 2
    assert all("METRONOME_E2E_TOKEN" in m and "401" in m for m in failures)
    assert wrong not in out + err
    assert read_records(tmp_path) == []
