"""End to end with hostile peers and values (issue 11): ``alerter run --once`` against a
Metronome fake where one customer's amounts are absurd and another's name is 100 KB of
text with bidi controls, a token with a trailing newline, a webhook that answers 429
with ``Retry-After: inf`` and one that trickles its answer. The healthy customer's spike
still goes out once, to the healthy notifier, and a second run repeats nothing."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from alerter.cli import main
from alerter.clock import PinnedClock
from tests.fakes.metronome import FakeMetronome, Fault, MetronomeDataset
from tests.fakes.webhook import WebhookReceiver
from tests.scenarios.test_metronome_e2e import API, GPU, NoisyUsage

TOKEN = "mtr-hostile-e2e-token"
RULE = """
[[rule]]
name = "metronome-customer-hourly-spike"
source = "metronome"
match = { credit_type = "USD (cents)" }
group_by = ["customer_id", "customer_name"]
min_amount = 20
min_delta = 50
min_history = 168
severity = "critical"
top_contributors = 3
detector = { type = "change", baseline = "seasonal", weeks = 4, pct = 200, delta = 50 }
"""


def read_records(tmp: Path) -> list[dict[str, Any]]:
    path = tmp / "alerts.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [json.loads(line) for line in lines]


def write_config(tmp: Path, base_url: str, hook: str, slow: str) -> Path:
    (tmp / "rules").mkdir(exist_ok=True)
    (tmp / "rules" / "spike.toml").write_text(RULE, encoding="utf-8")
    config = tmp / "alerter.toml"
    config.write_text(
        f"""
[alerter]
state = "state.db"
rules = ["rules/*.toml"]
send_deadline = "1s"

[alerter.http]
enabled = false

[sources.metronome]
type = "metronome"
base_url = "{base_url}"
token_env = "METRONOME_HOSTILE_TOKEN"
window = "hour"
lookback = "48h"
backfill = "29d"
concurrency = 8

[notifiers.jsonl]
type = "file"
path = "alerts.jsonl"

[notifiers.hook]
type = "webhook"
url = "{hook}"

[notifiers.slow]
type = "webhook"
url = "{slow}"
timeout = 30
""",
        encoding="utf-8",
    )
    return config


@pytest.mark.scenario
@pytest.mark.slow
def test_hostile_peers_and_values_do_not_stop_the_healthy_alert(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    pinned_clock: PinnedClock,
) -> None:
    now = pinned_clock.now()
    monkeypatch.setenv("METRONOME_HOSTILE_TOKEN", TOKEN + "\n")
    usage = NoisyUsage(base={GPU.name: Decimal(3000), API.name: Decimal(500)})
    data = MetronomeDataset(usage)
    customers = [data.add_customer(f"Customer {i:02d}", [GPU, API]) for i in range(4)]
    absurd = customers[1]
    data.add_customer("\u202eEvil " + "N" * 100_000, [GPU, API])
    spiky = customers[2]
    spike_hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    data.set_usage(spiky.id, GPU.name, spike_hour, usage(spiky, GPU, spike_hour) * 8)

    with (
        FakeMetronome(data, token=TOKEN, now=pinned_clock.now) as fake,
        WebhookReceiver() as hook,
        WebhookReceiver(trickle=0.5) as slow,
        caplog.at_level(logging.INFO),
    ):
        fake.faults.append(Fault("amount", customer_id=absurd.id, value="1e999999999", times=None))
        hook.fail(429, times=1000, retry_after="inf")
        config = write_config(tmp_path, fake.url, hook.url, slow.url)
        first = main(["run", "--once", "--config", str(config)])
        after_first = read_records(tmp_path)
        hook_posts = len(hook.posts)
        second = main(["run", "--once", "--config", str(config)])
        after_second = read_records(tmp_path)

    # the first run exits 1: the hostile hook's item is left to retry (undelivered), the
    # rest went out; the second run has nothing due (the capped wait is hours away)
    assert (first, second) == (1, 0)
    assert [(r["group"]["customer_id"], r["event"]) for r in after_first][:1] == [
        (spiky.id, "first")
    ]
    assert {r["group"]["customer_id"] for r in after_first} == {spiky.id}
    assert after_second == after_first  # once each: nothing repeated by the second run
    assert hook_posts >= 1  # tried; its absurd Retry-After is capped, not fatal
    # alerter's own log lines go to stderr (its logger does not propagate under the CLI)
    logged = caplog.text + capsys.readouterr().err
    assert TOKEN not in logged
    assert absurd.id in logged  # the rejected customer is named
