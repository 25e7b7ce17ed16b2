"""Soak: days of hourly polling against the loopback Metronome and Slack fakes, clock injected.

Timeline (hours from the start, a Monday 00:00 UTC; the source has eight days of
history before it): every hour at :05 the daemon's cycle runs (``App.run_cycle``) and
every 15 minutes its outbox dispatcher (``App.deliver``), exactly as the scheduler
would call them, but driven by a ``FakeClock`` (no scheduler, no sleeping). Anomalies
are injected at known hours (one-hour spikes and a four-hour surge of one customer's
GPU spend), with faults around them: 429 bursts, a two-hour API outage (every request
answers 503; a spike inside it is alerted once the API is back, since a failed poll
judges nothing), a Slack outage of several hours while an incident opens, and late
data (a spike revised upwards hours after it was alerted, a normal hour revised).

Expected: every injected anomaly is one incident, alerted exactly once (one ``first``)
plus its updates and one resolution, in Slack (one top-level post, the rest in its
thread) and in the JSON-lines file; nothing else is alerted (not the outage, not the
429s, not the weekend); the outbox ends empty with nothing failed; the state grows by
the same amount each day (only the ingested points, nothing per cycle) and traced
memory stays flat after the first simulated week.

The default run covers 3 simulated days; ``pytest -m soak`` runs the full 14 days.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import logging
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from alerter.app import App
from alerter.clock import FakeClock
from alerter.config import load_config
from alerter.metrics import Metrics
from alerter.server import health
from tests.fakes.metronome import (
    Customer,
    FakeMetronome,
    Fault,
    MetronomeDataset,
    Product,
    SyntheticUsage,
)
from tests.fakes.slack import TOKEN as SLACK_TOKEN
from tests.fakes.slack import Fault as SlackFault
from tests.fakes.slack import SlackFake

START = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday
GPU = Product("GPU compute")
API = Product("API requests")
CUSTOMERS = 6
MTR_TOKEN = "mtr-soak-token-0123456789"
RULE = "customer-hourly-spike"

RULES = f"""
[[rule]]
name = "{RULE}"
source = "metronome"
match = {{ credit_type = "USD (cents)" }}
group_by = ["customer_id", "customer_name"]
min_amount = 20
min_history = 24
severity = "critical"
detector = {{ type = "change", baseline = "median", windows = 24, pct = 200, delta = 50 }}
"""


class NoisyUsage(SyntheticUsage):
    """The synthetic daily/weekly pattern with +-3% deterministic noise."""

    def __call__(self, customer: Customer, product: Product, hour: datetime) -> Decimal:
        base = super().__call__(customer, product, hour)
        digest = hashlib.sha256(f"{customer.id}|{product.name}|{hour}".encode()).digest()
        return (base * (1 + Decimal(digest[0] % 61 - 30) / 1000)).quantize(Decimal(1))


class OutageSlack(SlackFake):
    """The Slack fake, answering HTTP 500 to every call while ``down``."""

    down: bool = False

    def __enter__(self) -> OutageSlack:
        super().__enter__()
        return self

    def _next_fault(self, method: str) -> SlackFault | None:
        if self.down:
            return SlackFault("500")
        return super()._next_fault(method)


@dataclass(frozen=True)
class Anomaly:
    customer: int
    hour: int  # hours from START
    hours: int = 1
    factor: int = 8


@dataclass
class Plan:
    """What happens when, in hours from START."""

    days: int
    anomalies: list[Anomaly]
    bursts_429: list[int]
    api_outage: tuple[int, int]  # [first hour, end hour)
    slack_outage: tuple[int, int]
    late_spike: tuple[Anomaly, int, int]  # (anomaly, revised at hour, new factor)
    late_normal: tuple[int, int, int]  # (customer, hour revised, revised at hour)
    checkpoint_day: int  # state and memory measured from the end of this day
    partial_outage: tuple[int, int, int] | None = None  # (customer, first hour, end hour)


def plan(days: int) -> Plan:
    if days <= 3:
        a1, a2, a3 = Anomaly(2, 10), Anomaly(5, 45), Anomaly(1, 57, hours=4, factor=5)
        return Plan(
            days=days,
            anomalies=[a1, a2, a3, Anomaly(4, 27)],  # the last one inside the API outage
            bursts_429=[15, 33, 50],
            api_outage=(26, 28),
            slack_outage=(44, 48),
            late_spike=(a1, 15, 12),
            late_normal=(3, 30, 36),
            checkpoint_day=1,
        )
    a = [
        Anomaly(2, 24 + 10),
        Anomaly(5, 2 * 24 + 14, hours=4, factor=5),
        Anomaly(3, 5 * 24 + 11),  # a Saturday
        Anomaly(1, 8 * 24 + 3),  # during the Slack outage
        Anomaly(4, 9 * 24 + 16),
        Anomaly(0, 10 * 24 + 13),  # inside the API outage: alerted once it is over
        Anomaly(5, 11 * 24 + 9, hours=3, factor=6),
        Anomaly(2, 12 * 24 + 20),
    ]
    return Plan(
        days=days,
        anomalies=a,
        bursts_429=[h * 24 + 7 for h in range(days)],
        api_outage=(10 * 24 + 12, 10 * 24 + 14),
        slack_outage=(8 * 24 + 1, 8 * 24 + 6),
        late_spike=(a[4], 9 * 24 + 21, 12),
        late_normal=(0, 12 * 24 + 2, 12 * 24 + 6),
        checkpoint_day=7,
    )


@dataclass(frozen=True)
class Event:
    incident_id: int
    event: str
    customer_id: str
    window_start: datetime


NOT_THE_DAEMON = (
    tracemalloc.Filter(False, "*/tests/*"),  # the fakes and this test's own records
    tracemalloc.Filter(False, "*/socketserver.py"),  # the fakes' server threads
    tracemalloc.Filter(False, "*/http/server.py"),
    tracemalloc.Filter(False, "*/threading.py"),
    tracemalloc.Filter(False, tracemalloc.__file__),
)


def daemon_memory() -> int:
    """Traced bytes still alive, except what the fakes and the test itself hold."""
    snapshot = tracemalloc.take_snapshot().filter_traces(NOT_THE_DAEMON)
    return sum(stat.size for stat in snapshot.statistics("filename"))


@dataclass
class Run:
    clock: FakeClock
    app: App
    metronome: FakeMetronome
    slack: OutageSlack
    data: MetronomeDataset
    customers: list[Customer]
    usage: NoisyUsage
    tmp: Path
    events: list[Event] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    counts_by_day: list[dict[str, int]] = field(default_factory=list)
    memory_by_day: list[int] = field(default_factory=list)
    healthy: list[bool] = field(default_factory=list)
    failed_polls: list[int] = field(default_factory=list)
    metrics_text: str = ""


class EventLog(logging.Handler):
    """Counts alerter's log events by name (the first word of the message)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.events: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.events[str(record.msg).split(" ", 1)[0]] += 1


@contextmanager
def quiet_alerter_logs() -> Iterator[EventLog]:
    """Alerter's records go to a counter only, so no test harness handler keeps them."""
    logger = logging.getLogger("alerter")
    saved = (logger.handlers[:], logger.level, logger.propagate)
    counter = EventLog()
    logger.handlers[:] = [counter]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield counter
    finally:
        logger.handlers[:], level, logger.propagate = saved
        logger.setLevel(level)


def write_config(tmp: Path, metronome_url: str, slack_url: str) -> Path:
    (tmp / "rules").mkdir()
    (tmp / "rules" / "soak.toml").write_text(RULES, encoding="utf-8")
    config = tmp / "alerter.toml"
    config.write_text(
        f"""
[alerter]
state = "state.db"
rules = ["rules/*.toml"]
settle = "1h"
resolve_after = 3
retention = "7d"

[alerter.http]
enabled = false

[sources.metronome]
type = "metronome"
base_url = "{metronome_url}"
token_env = "SOAK_METRONOME_TOKEN"
window = "hour"
schedule = "1h"
lookback = "6h"
backfill = "8d"
concurrency = 4

[notifiers.slack]
type = "slack"
token_env = "SOAK_SLACK_TOKEN"
channel = "#alerts"
base_url = "{slack_url}"
chart = false
timeout = 5

[notifiers.jsonl]
type = "file"
path = "alerts.jsonl"
""",
        encoding="utf-8",
    )
    return config


def at(hour: int, minute: int = 0) -> datetime:
    return START + timedelta(hours=hour, minutes=minute)


def inject_anomalies(run: Run, p: Plan) -> None:
    for anomaly in p.anomalies:
        who = run.customers[anomaly.customer]
        for h in range(anomaly.hour, anomaly.hour + anomaly.hours):
            amount = run.usage(who, GPU, at(h)) * anomaly.factor
            run.data.set_usage(who.id, GPU.name, at(h), amount)


def before_cycle(run: Run, p: Plan, hour: int) -> None:
    """The faults and revisions due at ``hour`` (applied before its cycle)."""
    if hour in p.bursts_429:
        run.metronome.faults.append(Fault("429", endpoint="breakdowns", times=3, retry_after="2"))
    start, end = p.api_outage
    if hour == start:
        run.metronome.faults.append(Fault("503", times=None))
    if hour == end:
        run.metronome.faults[:] = [f for f in run.metronome.faults if f.kind != "503"]
    s_start, s_end = p.slack_outage
    if hour == s_start:
        run.slack.down = True
    if hour == s_end:
        run.slack.down = False
    anomaly, revised_at, factor = p.late_spike
    if hour == revised_at:
        who = run.customers[anomaly.customer]
        amount = run.usage(who, GPU, at(anomaly.hour)) * factor
        run.data.set_usage(who.id, GPU.name, at(anomaly.hour), amount)
    if p.partial_outage is not None:
        index, first, end = p.partial_outage
        customer_id = run.customers[index].id
        if hour == first:
            run.metronome.faults.append(Fault("503", customer_id=customer_id, times=None))
        if hour == end:
            run.metronome.faults[:] = [
                f for f in run.metronome.faults if f.customer_id != customer_id
            ]
    customer, normal_hour, normal_at = p.late_normal
    if hour == normal_at:
        who = run.customers[customer]
        amount = run.usage(who, API, at(normal_hour)) * Decimal("1.04")
        run.data.set_usage(who.id, API.name, at(normal_hour), amount.quantize(Decimal(1)))


async def drive(run: Run, p: Plan) -> None:
    app = run.app
    for hour in range(p.days * 24):
        before_cycle(run, p, hour)
        now = at(hour, 5)
        run.clock.set(now)
        report = await app.run_cycle("metronome", now)
        run.events.extend(
            Event(e.incident_id, e.event.value, dict(e.group)["customer_id"], e.window_start)
            for e in report.events
        )
        if not report.ok:
            run.failed_polls.append(hour)
        for quarter in range(4):
            run.clock.set(at(hour, 5 + 15 * quarter))
            app.deliver(run.clock.now())
        run.healthy.append(health(app, run.clock.now(), START).ok)
        # the fakes' logs are not the daemon's memory
        with run.metronome._lock:
            run.statuses.update(r.status for r in run.metronome.requests)
            run.metronome.requests.clear()
        run.slack.calls.clear()
        if hour % 24 == 23:
            gc.collect()
            run.counts_by_day.append(app.store.counts())
            if hour // 24 + 1 == p.checkpoint_day:
                tracemalloc.start()  # traced memory = what was allocated since, still alive
            if tracemalloc.is_tracing():
                run.memory_by_day.append(daemon_memory())


async def drive_and_close(run: Run, p: Plan) -> None:
    try:
        await drive(run, p)
        assert run.app.metrics is not None
        run.metrics_text = run.app.metrics.render().decode()
    finally:
        await run.app.aclose()


def soak(tmp: Path, days: int, p: Plan | None = None) -> tuple[Run, Plan, Metrics, EventLog, float]:
    p = p or plan(days)
    clock = FakeClock(START)
    usage = NoisyUsage(base={GPU.name: Decimal(3000), API.name: Decimal(500)})
    data = MetronomeDataset(usage)
    customers = [
        data.add_customer(f"Customer {i:02d}", [GPU, API], commit_per_window=Decimal(5000))
        for i in range(CUSTOMERS)
    ]
    began = time.perf_counter()
    with (
        FakeMetronome(data, token=MTR_TOKEN, now=clock.now) as metronome,
        OutageSlack() as slack,
        quiet_alerter_logs() as logs,
    ):
        config = load_config(write_config(tmp, metronome.url, slack.base_url))
        env = {"SOAK_METRONOME_TOKEN": MTR_TOKEN, "SOAK_SLACK_TOKEN": SLACK_TOKEN}
        # as in the daemon: the dispatcher delivers
        app = App(config, clock=clock, env=env, deliver_in_cycle=False)
        metrics = app.metrics
        run = Run(clock, app, metronome, slack, data, customers, usage, tmp)
        inject_anomalies(run, p)
        switch = sys.getswitchinterval()
        # the fakes serve from threads of this process: hand the GIL over sooner
        sys.setswitchinterval(0.0005)
        try:
            asyncio.run(drive_and_close(run, p))
        finally:
            sys.setswitchinterval(switch)
            tracemalloc.stop()
    seconds = time.perf_counter() - began
    print(f"\nsoak: {days} simulated days in {seconds:.1f}s")
    return run, p, metrics, logs, seconds


def outbox_rows(path: Path) -> list[tuple[int, str, str, str]]:
    import sqlite3

    db = sqlite3.connect(path)
    try:
        return list(db.execute("SELECT incident_id, notifier, event, status FROM outbox"))
    finally:
        db.close()


def check(run: Run, p: Plan, metrics: Metrics, logs: EventLog) -> None:
    customers = run.customers
    by_incident: dict[int, list[Event]] = {}
    for event in run.events:
        by_incident.setdefault(event.incident_id, []).append(event)

    # every injected anomaly is one incident opened on its first hour; nothing else is
    expected = {(customers[a.customer].id, at(a.hour)) for a in p.anomalies}
    opened = {
        (events[0].customer_id, events[0].window_start)
        for events in by_incident.values()
        if events[0].event == "first"
    }
    assert opened == expected, f"alerted {sorted(opened)}, injected {sorted(expected)}"
    assert len(by_incident) == len(p.anomalies)
    late_customer = customers[p.late_spike[0].customer].id
    for events in by_incident.values():
        kinds = [e.event for e in events]
        assert kinds[0] == "first"
        assert kinds.count("first") == 1, kinds
        assert kinds.count("resolved") == 1, kinds
        assert set(kinds) - {"first", "resolved"} <= {"escalated", "late_data", "repeat_due"}
        if events[0].customer_id == late_customer:
            assert "late_data" in kinds, kinds

    # nothing lost: every event sent once to each notifier, nothing pending or failed
    rows = outbox_rows(run.tmp / "state.db")
    assert {status for *_rest, status in rows} == {"sent"}
    total_events = sum(len(v) for v in by_incident.values())
    # retention (7d) drops the delivered rows of incidents resolved long ago; the rows
    # kept are exactly those incidents' events, once per notifier
    kept = {incident for incident, *_rest in rows}
    kept_events = sum(len(v) for k, v in by_incident.items() if k in kept)
    assert Counter(n for _i, n, _e, _s in rows) == {"slack": kept_events, "jsonl": kept_events}
    if p.days <= 7:
        assert kept_events == total_events
    lines = [
        json.loads(line)
        for line in (run.tmp / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert Counter((r["incident"], r["event"]) for r in lines) == Counter(
        (e.incident_id, e.event) for e in run.events
    )
    top_level = [m for m in run.slack.messages.values() if not m["thread_ts"]]
    assert len(top_level) == len(p.anomalies)
    for message in top_level:
        assert message["channel"] == "C0ALERTS"
    replies = sum(len(m["replies"]) for m in top_level)
    assert replies == total_events - len(p.anomalies)

    # the faults happened and were survived
    outage = list(range(*p.api_outage))
    assert run.failed_polls == outage
    assert all(run.healthy), "a two-hour outage is within the 3h staleness limit"
    assert run.statuses[429] >= 3 * len(p.bursts_429)
    assert run.statuses[503] > 0
    assert logs.events["notification_retry"] > 0  # the Slack outage
    assert logs.events["notification_failed"] == 0
    text = run.metrics_text
    assert 'alerter_api_errors_total{source="metronome",status="429"}' in text
    assert 'alerter_api_errors_total{source="metronome",status="503"}' in text
    assert f'alerter_polls_total{{outcome="failed",source="metronome"}} {len(outage)}.0' in text
    assert f'alerter_notifications_sent_total{{notifier="slack"}} {total_events}.0' in text
    assert 'alerter_notifications_failed_total{notifier="slack"}' not in text

    # state grows by the ingested points only; memory is flat after the checkpoint
    day = p.checkpoint_day - 1
    first, last = run.counts_by_day[day], run.counts_by_day[-1]
    per_day_points = CUSTOMERS * 2 * 24
    # retention = 7d: a week of points is kept, so the state is flat (within the day that
    # a poll adds before the next prune) whatever the run's length
    assert abs(last["points"] - first["points"]) <= per_day_points
    assert last["points"] <= 8 * per_day_points
    assert abs(last["coverage"] - first["coverage"]) <= CUSTOMERS * 24
    assert last["point_revisions"] <= 2  # the injected late data
    assert last["outbox"] <= 2 * total_events  # delivered rows of long-resolved incidents go
    growth = run.memory_by_day[-1] - run.memory_by_day[0]
    print(
        f"soak: state {last} (end of day {p.checkpoint_day}: {first}); traced memory "
        f"allocated after day {p.checkpoint_day} and still alive at day {p.days}: "
        f"{growth / 1e3:+.0f} kB (per day: "
        f"{', '.join(f'{m / 1e3:.0f}' for m in run.memory_by_day)} kB)"
    )
    # the first traced day fills bounded caches (re, urllib, httpx URL parsing) anew
    assert growth < 512_000, f"traced memory grew {growth} bytes after the checkpoint"
    steady = run.memory_by_day[-1] - run.memory_by_day[1]
    assert steady < 128_000, f"traced memory grew {steady} bytes after the warm-up day"


@pytest.mark.scenario
@pytest.mark.slow
def test_three_simulated_days_alert_each_anomaly_once_through_faults(tmp_path: Path) -> None:
    run, p, metrics, logs, _seconds = soak(tmp_path, 3)
    check(run, p, metrics, logs)


@pytest.mark.soak
def test_fourteen_simulated_days_soak(tmp_path: Path) -> None:
    run, p, metrics, logs, _seconds = soak(tmp_path, 14)
    check(run, p, metrics, logs)


@pytest.mark.scenario
@pytest.mark.slow
def test_a_spike_during_one_customers_fetch_failures_is_alerted_when_they_recover(
    tmp_path: Path,
) -> None:
    p = plan(3)
    p.anomalies.append(Anomaly(3, 40))
    p.partial_outage = (3, 40, 43)  # only customer 3's breakdowns answer 503, for 3 hours
    run, p, _metrics, _logs, _seconds = soak(tmp_path, 3, p)
    alerted = {(e.customer_id, e.window_start) for e in run.events if e.event == "first"}
    assert (run.customers[3].id, at(40)) in alerted
