"""Three daemons on one PostgreSQL: a holder killed mid-cycle, another paused past its lease.

Real processes (``python -m alerter run``) share a scratch database, the Metronome fake
(hourly breakdowns, three customers at a steady hourly spend) and the Slack fake; the
lease TTL is 6 s and each source polls every second. Hours are relative to the hour H
the test starts in; every wait is a bounded poll on a condition, never a timing assert.

1. Start: the first replica to take the ``metronome`` lease backfills and judges the
   lookback, where Acme spiked at H-8 (5x), spiked harder at H-7 (12x: escalated) and
   was normal after (resolved). Slack: one post, two updates in its thread.
2. Bolt's hours H-5..H-2 are revised into the same shape (late data). The holder's
   next fetch is held at the fake; while it waits there, the holder is SIGKILLed. A
   survivor takes the expired lease (a higher token), judges the revisions, and Bolt
   gets one post, its escalation and its resolution.
3. Cirrus gets the same revisions. The new holder's fetch is held, and it is SIGSTOPped
   for twice the TTL (longer, until the last replica has taken over and delivered
   Cirrus). SIGCONT: the resumed replica finishes its fetch, its commit is refused
   (fencing), it logs the lost lease, and Slack receives nothing more.

Every planted anomaly reaches Slack exactly once, with its escalation and resolution;
no message is repeated or lost.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest

from alerter.clock import PinnedClock
from tests.fakes.metronome import Customer, FakeMetronome, MetronomeDataset, Product
from tests.fakes.slack import TOKEN as SLACK_TOKEN
from tests.fakes.slack import SlackFake
from tests.postgres import scratch_database

REPO = Path(__file__).resolve().parents[2]
TTL = 6.0  # renewed every 2 s: a loaded machine (load 5-12 on 2 cores) still renews in time
BOUND = 120.0  # seconds, any one wait (a loaded CI machine)
METRONOME_TOKEN = "mtr-ha-token"
GPU = Product("GPU compute")
BASE = Decimal(10000)  # cents an hour: $100
T = TypeVar("T")

RULES = """
[[rule]]
name = "customer-spike"
source = "metronome"
match = { credit_type = "USD (cents)" }
group_by = ["customer_id", "customer_name"]
min_delta = 50
min_history = 24
resolve_after = 2
[rule.detector]
type = "change"
baseline = "median"
windows = 24
pct = 200
"""


def steady(customer: Customer, product: Product, hour: datetime) -> Decimal:
    return BASE + 100 * (hour.hour % 3)


class GatedMetronome(FakeMetronome):
    """The Metronome fake whose breakdown answers can be held at a gate (mid-cycle)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.open = threading.Event()
        self.open.set()
        self.waiting = threading.Event()

    def hold(self) -> None:
        self.waiting.clear()
        self.open.clear()

    def release(self) -> None:
        self.open.set()

    def list_breakdowns(self, *args: Any, **kwargs: Any) -> Any:
        if not self.open.is_set():
            self.waiting.set()
            self.open.wait(BOUND)
        return super().list_breakdowns(*args, **kwargs)


@dataclass
class Replica:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def tail(self, lines: int = 30) -> str:
        return f"--- {self.name} ---\n" + "\n".join(self.text().splitlines()[-lines:])


def wait_for(what: str, probe: Callable[[], T | None], replicas: list[Replica]) -> T:
    """Poll ``probe`` until it returns a value (not None/False); fail after BOUND seconds."""
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        value = probe()
        if value is not None and value is not False:
            return value
        time.sleep(0.1)  # real processes: polling is the only way to wait for them
    logs = "\n".join(r.tail() for r in replicas)
    raise AssertionError(f"timed out after {BOUND:.0f}s waiting for {what}\n{logs}")


def write_config(tmp: Path, url: str, metronome: str, slack: str) -> Path:
    (tmp / "rules").mkdir()
    (tmp / "rules" / "spike.toml").write_text(RULES, encoding="utf-8")
    config = tmp / "alerter.toml"
    config.write_text(
        f"""
[alerter]
state = "{url}"
lease_ttl = "{int(TTL)}s"
rules = ["rules/*.toml"]
settle = "1s"
resolve_after = 2

[alerter.http]
host = "127.0.0.1"
port = 0

[sources.metronome]
type = "metronome"
base_url = "{metronome}"
token_env = "METRONOME_HA_TOKEN"
window = "hour"
schedule = "1s"
lookback = "12h"
backfill = "3d"
staleness = "1h"

[notifiers.slack]
type = "slack"
token_env = "SLACK_HA_TOKEN"
base_url = "{slack}"
channel = "#alerts"
chart = false
group_over = 50
""",
        encoding="utf-8",
    )
    return config


def plant(data: MetronomeDataset, customer: Customer, hour: datetime) -> None:
    """5x at ``hour``, 12x the hour after, then two normal hours revised by a cent."""
    for offset, factor in ((0, 5), (1, 12)):
        at = hour + timedelta(hours=offset)
        data.set_usage(customer.id, GPU.name, at, steady(customer, GPU, at) * factor)
    for offset in (2, 3):
        at = hour + timedelta(hours=offset)
        data.set_usage(customer.id, GPU.name, at, steady(customer, GPU, at) + 1)


def threads(slack: SlackFake) -> dict[str, dict[str, Any]]:
    """Top-level messages by ts, each with its edits and its thread replies' texts."""
    messages: dict[str, dict[str, Any]] = dict(slack.messages)
    return {
        ts: {
            "message": m,
            "edits": int(m.get("edits", 0)),
            "replies": [str(messages[r]["text"]) for r in m["replies"]],
        }
        for ts, m in messages.items()
        if not m["thread_ts"]
    }


def story(slack: SlackFake, customer: Customer) -> list[dict[str, Any]]:
    """The Slack threads whose message names ``customer``."""
    return [t for t in threads(slack).values() if customer.name in json.dumps(t["message"])]


def resolved(slack: SlackFake, customer: Customer) -> bool:
    found = story(slack, customer)
    return len(found) == 1 and len(found[0]["replies"]) >= 2


def holder(url: str) -> tuple[str, int] | None:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT holder, token FROM leases WHERE source='metronome' "
            "AND expires_at > clock_timestamp()"
        ).fetchone()
    return None if row is None else (str(row[0]), int(row[1]))


def new_holder(url: str, former: str) -> tuple[str, int] | None:
    """The live lease, once a replica other than ``former`` holds it."""
    found = holder(url)
    return found if found is not None and found[0] != former else None


def by_pid(replicas: list[Replica], holder_id: str) -> Replica:
    (found,) = [r for r in replicas if f"-{r.proc.pid}-" in holder_id]
    return found


def get(replica: Replica, path: str) -> bytes:
    port = re.search(r"http_listening host=\S+ port=(\d+)", replica.text())
    assert port is not None
    url = f"http://127.0.0.1:{port.group(1)}{path}"
    with urllib.request.urlopen(url, timeout=BOUND) as resp:  # loopback only
        return bytes(resp.read())


def health(replica: Replica) -> dict[str, Any]:
    return dict(json.loads(get(replica, "/healthz")))


def metric(replica: Replica, sample: str) -> float | None:
    """The value of one exposition line, e.g. ``alerter_lease_held{source="metronome"}``."""
    for line in get(replica, "/metrics").decode().splitlines():
        name, _, value = line.rpartition(" ")
        if name == sample:
            return float(value)
    return None


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[list[Replica]]:
    started: list[Replica] = []
    yield started
    for replica in started:
        if replica.proc.poll() is None:
            replica.proc.send_signal(signal.SIGCONT)
            replica.proc.kill()
        replica.proc.wait(timeout=BOUND)


@pytest.mark.scenario
@pytest.mark.slow
def test_three_replicas_one_killed_one_paused_every_alert_exactly_once(
    tmp_path: Path, replicas: list[Replica], pinned_clock: PinnedClock
) -> None:
    now = pinned_clock.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    data = MetronomeDataset(steady)
    acme, bolt, cirrus = (data.add_customer(n, [GPU]) for n in ("Acme", "Bolt", "Cirrus"))
    plant(data, acme, hour - timedelta(hours=8))
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
        "METRONOME_HA_TOKEN": METRONOME_TOKEN,
        "SLACK_HA_TOKEN": SLACK_TOKEN,
    }
    metronome = GatedMetronome(data, token=METRONOME_TOKEN, now=pinned_clock.now)
    with scratch_database("alerter_ha") as url, metronome, SlackFake() as slack:
        config = write_config(tmp_path, url, metronome.url, slack.base_url)
        for n in range(3):
            log = tmp_path / f"replica{n}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "alerter", "run", "--config", str(config)],
                    cwd=REPO,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            replicas.append(Replica(f"replica{n}", proc, log))

        # 1. one replica takes the lease and alerts Acme: post, escalation, resolution
        wait_for("Acme resolved in Slack", lambda: resolved(slack, acme), replicas)
        wait_for(
            "every replica serving /healthz",
            lambda: all("http_listening" in r.text() for r in replicas),
            replicas,
        )
        wait_for(
            "exactly one replica's /healthz listing the lease",
            lambda: sorted(len(health(r)["leases_held"]) for r in replicas) == [0, 0, 1],
            replicas,
        )

        # 2. Bolt's late data; the holder is killed while its fetch is held at the fake
        metronome.hold()
        plant(data, bolt, hour - timedelta(hours=5))
        wait_for("the holder's fetch held mid-cycle", metronome.waiting.is_set, replicas)
        first = wait_for("a live lease", lambda: holder(url), replicas)
        killed = by_pid(replicas, first[0])
        killed.proc.send_signal(signal.SIGKILL)
        killed.proc.wait(timeout=BOUND)
        metronome.release()
        wait_for("Bolt resolved in Slack", lambda: resolved(slack, bolt), replicas)
        second = wait_for("a survivor's lease", lambda: new_holder(url, first[0]), replicas)
        assert second[1] > first[1]  # the fencing token grew on takeover

        # 3. Cirrus's late data; the new holder is paused with its fetch held
        metronome.hold()
        plant(data, cirrus, hour - timedelta(hours=5))
        wait_for("the new holder's fetch held mid-cycle", metronome.waiting.is_set, replicas)
        current = wait_for("a live lease", lambda: holder(url), replicas)
        paused = by_pid(replicas, current[0])
        paused.proc.send_signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        metronome.release()
        wait_for("Cirrus resolved in Slack", lambda: resolved(slack, cirrus), replicas)
        third = wait_for("the last replica's lease", lambda: new_holder(url, current[0]), replicas)
        last = by_pid(replicas, third[0])
        assert last not in (killed, paused) and third[1] > current[1]
        wait_for("twice the lease TTL", lambda: time.monotonic() - stopped_at >= 2 * TTL, replicas)
        calls_before = len(slack.calls)
        sent_before = paused.text().count("notification_sent")
        paused.proc.send_signal(signal.SIGCONT)
        wait_for(
            "the resumed replica to find its lease lost",
            lambda: "fencing_rejected source=metronome" in paused.text(),
            replicas,
        )
        # two more cycles of the live holder: anything left over would go out by now
        polls = last.text().count("cycle_done source=metronome")
        wait_for(
            "two more cycles of the holder",
            lambda: last.text().count("cycle_done source=metronome") >= polls + 2,
            replicas,
        )
        held = 'alerter_lease_held{source="metronome"}'
        wait_for(  # each replica's view catches up with the database's at its next renewal
            "the live holder's and the resumed replica's views of the lease",
            lambda: (
                (health(last)["leases_held"], health(paused)["leases_held"]) == (["metronome"], [])
                and (metric(last, held), metric(paused, held)) == (1.0, 0.0)
            ),
            replicas,
        )
        assert (metric(paused, 'alerter_fencing_rejections_total{kind="cycle"}') or 0) >= 1
        assert (metric(paused, 'alerter_lease_lost_total{source="metronome"}') or 0) >= 1
        assert (metric(last, 'alerter_lease_takeovers_total{source="metronome"}') or 0) >= 1
        status = subprocess.run(
            [sys.executable, "-m", "alerter", "status", "--json", "--config", str(config)],
            cwd=REPO,
            env=env,
            capture_output=True,
            check=True,
        )
        (lease,) = json.loads(status.stdout)["leases"]
        assert (lease["source"], lease["live"]) == ("metronome", True)
        assert (lease["holder"], lease["token"]) == third or lease["token"] > third[1]

    # Every planted anomaly: one post, and in its thread the escalation and resolution
    for customer in (acme, bolt, cirrus):
        (thread,) = story(slack, customer)
        replies = thread["replies"]
        assert len(replies) == 2, (customer.name, replies)
        assert "*ESCALATED*" in replies[0] and "*RESOLVED*" in replies[1], replies
        assert thread["edits"] == 2
    assert len(threads(slack)) == 3  # no other post, no repeated post
    # The resumed replica sent nothing: Slack heard nothing after it woke
    assert len(slack.calls) == calls_before
    assert paused.text().count("notification_sent") == sent_before
    # nothing stuck in the outbox
    assert "fencing_rejected" in paused.text()
