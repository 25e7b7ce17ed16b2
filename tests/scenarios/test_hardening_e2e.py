"""End to end, every hostile peer at once (issue 11, the hidden check): ``alerter run
--once`` twice against two sources and seven notifiers.

Sources: a Metronome fake where three customers send ``NaN``, ``1e400`` and ``""``
amounts and one has a 100 KB name with bidi controls; a DigitalOcean fake whose second
account serves a page with a data point missing ``total_amount`` (the healthy account
one too, three days before its jump). Each source also has
one healthy series with a planted spike.

Notifiers: a Slack peer answering every call with 429 and ``Retry-After: 1e12``, a
webhook that never answers, an SMTP relay that drops the connection mid-DATA; and the
healthy ones: a file, a webhook, a Slack workspace and an SMTP relay. Each healthy
notifier gets each planted spike exactly once over both runs, and nothing crashes.
"""

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
from tests.fakes.digitalocean import FakeDigitalOcean
from tests.fakes.metronome import FakeMetronome, Fault, MetronomeDataset
from tests.fakes.slack import SlackFake
from tests.fakes.smtp import HostileRelay, SmtpFake
from tests.fakes.webhook import WebhookReceiver
from tests.scenarios.test_metronome_e2e import API, GPU, NoisyUsage
from tests.timekeeping import epoch_seconds

MTR_TOKEN = "mtr-hardening-e2e-token"
DO_TOKEN = "dop_v1_hardening-e2e-token"
SLACK_OK = "xoxb-healthy-0000-SECRET"
SLACK_BAD = "xoxb-hostile-0000-SECRET"
URN_OK = "do:team:11111111-aaaa-4bbb-8ccc-dddddddddddd"
URN_BAD = "do:team:22222222-aaaa-4bbb-8ccc-dddddddddddd"
SKUS = [f"1-DO-DROP-{n:04d}" for n in range(4)]
JUMP_SKU = SKUS[2]
RULES = """
[[rule]]
name = "metronome-customer-hourly-spike"
source = "metronome"
match = { credit_type = "USD (cents)" }
group_by = ["customer_id", "customer_name"]
min_amount = 20
min_delta = 50
min_history = 168
severity = "critical"
detector = { type = "change", baseline = "seasonal", weeks = 4, pct = 200, delta = 50 }

[[rule]]
name = "do-sku-daily-jump"
source = "do"
group_by = ["sku", "region"]
min_amount = 5
min_delta = 10
min_history = 7
detector = { type = "change", baseline = "median", windows = 14, pct = 100, delta = 10 }
"""


def write_config(tmp: Path, urls: dict[str, Any]) -> Path:
    (tmp / "rules").mkdir(exist_ok=True)
    (tmp / "rules" / "rules.toml").write_text(RULES, encoding="utf-8")
    config = tmp / "alerter.toml"
    config.write_text(
        f"""
[alerter]
state = "state.db"
rules = ["rules/*.toml"]
send_deadline = "20s"

[alerter.http]
enabled = false

[sources.metronome]
type = "metronome"
base_url = "{urls["metronome"]}"
token_env = "MTR_HARDENING_TOKEN"
window = "hour"
lookback = "48h"
backfill = "29d"
concurrency = 8

[sources.do]
type = "digitalocean"
base_url = "{urls["do"]}"
account_urns = ["{URN_OK}", "{URN_BAD}"]
token_env = "DO_HARDENING_TOKEN"
lookback = "7d"
backfill = "56d"

[notifiers.jsonl]
type = "file"
path = "alerts.jsonl"

[notifiers.hook_ok]
type = "webhook"
url = "{urls["hook_ok"]}"

[notifiers.hook_hang]
type = "webhook"
url = "{urls["hook_hang"]}"
timeout = 2

[notifiers.slack_ok]
type = "slack"
token_env = "SLACK_OK_TOKEN"
channel = "#alerts"
base_url = "{urls["slack_ok"]}"
chart = false

[notifiers.slack_bad]
type = "slack"
token_env = "SLACK_BAD_TOKEN"
channel = "#alerts"
base_url = "{urls["slack_bad"]}"
timeout = 2
deadline = 5

[notifiers.mail_ok]
type = "email"
host = "127.0.0.1"
port = {urls["mail_ok"]}
security = "none"
from = "alerter@example.com"
to = ["finops@example.com"]
chart = false

[notifiers.mail_bad]
type = "email"
host = "127.0.0.1"
port = {urls["mail_bad"]}
security = "none"
from = "alerter@example.com"
to = ["finops@example.com"]
chart = false
timeout = 2
deadline = 5
""",
        encoding="utf-8",
    )
    return config


def add_do_series(fake: FakeDigitalOcean, clock: PinnedClock) -> str:
    """56 steady days of four SKUs in each account; in the healthy one, one SKU jumps 8x
    two days ago."""
    today = clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
    jump = today - timedelta(days=2)
    for back in range(56, 0, -1):
        day = today - timedelta(days=back)
        for s, sku in enumerate(SKUS):
            usual = Decimal(20 + 5 * s)
            amount = usual * (8 if (sku, day) == (JUMP_SKU, jump) else 1)
            fake.add_point(URN_OK, day.date().isoformat(), str(amount), sku=sku, region="fra1")
            fake.add_point(URN_BAD, day.date().isoformat(), str(usual), sku=sku, region="nyc3")
    # a point without total_amount in each account, the healthy one included: it costs
    # that day of that account (unknown), not the account's 31-day chunk
    broken = {"start_date": (today - timedelta(days=3)).date().isoformat(), "sku": SKUS[0]}
    fake.add_raw_point(URN_BAD, {**broken, "region": "nyc3", "description": "no amount"})
    fake.add_raw_point(URN_OK, {**broken, "region": "fra1", "description": "no amount"})
    return jump.strftime("%Y-%m-%dT%H:%M:%SZ")


def records(tmp: Path) -> list[dict[str, Any]]:
    path = tmp / "alerts.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [json.loads(line) for line in lines]


@pytest.mark.scenario
@pytest.mark.slow
def test_every_healthy_spike_reaches_every_healthy_notifier_once(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    pinned_clock: PinnedClock,
) -> None:
    now = pinned_clock.now()
    monkeypatch.setenv("MTR_HARDENING_TOKEN", MTR_TOKEN + "\n")
    monkeypatch.setenv("DO_HARDENING_TOKEN", DO_TOKEN)
    monkeypatch.setenv("SLACK_OK_TOKEN", SLACK_OK)
    monkeypatch.setenv("SLACK_BAD_TOKEN", SLACK_BAD)
    usage = NoisyUsage(base={GPU.name: Decimal(3000), API.name: Decimal(500)})
    data = MetronomeDataset(usage)
    healthy = [data.add_customer(f"Customer {i:02d}", [GPU, API]) for i in range(3)]
    hostile = [data.add_customer(f"Broken {i}", [GPU, API]) for i in range(3)]
    data.add_customer("\u202eEvil\u2066 " + "N" * 100_000 + "\u202c", [GPU, API])
    spiky = healthy[1]
    spike_hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    data.set_usage(spiky.id, GPU.name, spike_hour, usage(spiky, GPU, spike_hour) * 8)
    do = FakeDigitalOcean(
        token=DO_TOKEN, accounts=(URN_OK, URN_BAD), now=lambda: epoch_seconds(pinned_clock)
    )
    jump_day = add_do_series(do, pinned_clock)

    with (
        FakeMetronome(data, token=MTR_TOKEN, now=pinned_clock.now) as mtr,
        do,
        WebhookReceiver() as hook_ok,
        WebhookReceiver(trickle=3600) as hook_hang,
        SlackFake(token=SLACK_OK) as slack_ok,
        SlackFake(token=SLACK_BAD) as slack_bad,
        SmtpFake() as mail_ok,
        HostileRelay("drop_data") as mail_bad,
        caplog.at_level(logging.INFO),
    ):
        for customer, value in zip(hostile, ["NaN", "1e400", '""'], strict=True):
            mtr.faults.append(Fault("amount", customer_id=customer.id, value=value, times=None))
        slack_bad.fail("chat.postMessage", "ratelimited", times=1000, retry_after="1e12")
        urls = {
            "metronome": mtr.url,
            "do": do.base_url,
            "hook_ok": hook_ok.url,
            "hook_hang": hook_hang.url,
            "slack_ok": slack_ok.base_url,
            "slack_bad": slack_bad.base_url,
            "mail_ok": mail_ok.port,
            "mail_bad": mail_bad.port,
        }
        config = write_config(tmp_path, urls)
        codes = [main(["run", "--once", "--config", str(config)]) for _ in range(2)]
        hook_bodies = [json.loads(p.body) for p in hook_ok.posts]
        slack_posts = [m for m in slack_ok.messages.values() if not m["thread_ts"]]
        mails = [str(m.message["Subject"]) for m in mail_ok.messages]
        tried = (len(hook_hang.posts), len(slack_bad.calls), mail_bad.dropped)

    assert all(code in (0, 1) for code in codes)  # 1: undelivered items left to retry
    got = records(tmp_path)
    firsts = sorted((r["rule"], r["window_start"]) for r in got if r["event"] == "first")
    assert firsts == sorted(
        [
            ("do-sku-daily-jump", jump_day),
            ("metronome-customer-hourly-spike", spike_hour.strftime("%Y-%m-%dT%H:%M:%SZ")),
        ]
    ), [(r["rule"], r["event"], r["group"], r["window_start"]) for r in got]
    spike = next(r for r in got if r["rule"].startswith("metronome"))
    assert spike["group"]["customer_id"] == spiky.id
    jumped = next(r for r in got if r["rule"].startswith("do-"))
    assert jumped["group"] == {"sku": JUMP_SKU, "region": "fra1"}
    events = sorted((r["incident"], r["event"]) for r in got)
    assert len(set(events)) == len(events)  # nothing twice over both runs
    assert [e for e in events if e[1] == "first"] == [(1, "first"), (2, "first")]
    # every healthy notifier: each planted spike's events exactly once
    assert sorted((b["incident"], b["event"]) for b in hook_bodies) == events
    assert len(slack_posts) == 2  # one message per incident (later events edit it)
    assert len(mails) == len(events) == len(set(mails))
    # the hostile peers were tried, and cost nothing but their own items
    assert tried[0] >= 1 and tried[1] >= 1 and tried[2] >= 1
    # alerter's own log lines go to stderr (its logger does not propagate under the CLI)
    logged = caplog.text + capsys.readouterr().err
    for secret in (MTR_TOKEN, DO_TOKEN, SLACK_OK, SLACK_BAD):
        assert secret not in logged
    for customer in hostile:
        assert customer.id in logged  # each rejected customer is named
    assert URN_BAD in logged
