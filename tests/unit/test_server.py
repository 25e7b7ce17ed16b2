"""/healthz and /metrics, and the daemon's pieces: triggers, redaction, reload, slow sources."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from alerter.app import App
from alerter.clock import FakeClock, PinnedClock
from alerter.config import load_config, secret_values
from alerter.cycle import CycleReport
from alerter.daemon import Daemon
from alerter.jobs import misfire_grace, trigger_for
from alerter.logs import RedactFilter
from alerter.server import Health, HttpServer, health
from alerter.sources.base import FetchResult, Source
from alerter.store.sqlite import SqliteStore
from tests.helpers import SPIKE_RULE, csv_config, write_csv_series

T0 = datetime(2026, 9, 7, tzinfo=UTC)


def make_app(tmp: Path, extra: str = "") -> App:
    write_csv_series(tmp / "data" / "a.csv", T0 - timedelta(days=2), 48, {"s1": 100.0})
    config = load_config(csv_config(tmp, rules=SPIKE_RULE, extra=extra))
    return App(config, clock=FakeClock(T0), env={}, deliver_in_cycle=False)


# -- health -------------------------------------------------------------------------------
def test_health_follows_each_sources_last_success_and_staleness(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    try:
        limit = app.staleness("bench")
        assert limit == timedelta(hours=1)  # 3 x the 15m default schedule, at least 1h
        # never polled: measured from the daemon's start
        assert health(app, T0 + limit, started_at=T0).ok
        verdict = health(app, T0 + limit + timedelta(seconds=1), started_at=T0)
        assert not verdict.ok
        assert verdict.body["stale"] == ["bench"]
        assert verdict.body["sources"]["bench"]["last_success_at"] is None

        asyncio.run(app.run_cycle("bench", T0 + timedelta(hours=2)))
        later = T0 + timedelta(hours=2, minutes=59)
        verdict = health(app, later, started_at=T0)
        assert verdict.ok
        assert verdict.body["sources"]["bench"]["age_seconds"] == 59 * 60
        # a failed poll does not refresh the last success
        app.store.record_poll("bench", later, ok=False, error="HTTP 503", points=0, errors=1)
        verdict = health(app, T0 + timedelta(hours=3, seconds=1), started_at=T0)
        assert not verdict.ok
        assert verdict.body["sources"]["bench"]["last_error"] == "HTTP 503"
    finally:
        asyncio.run(app.aclose())


# -- the HTTP server ----------------------------------------------------------------------
def fetch(url: str, method: str = "GET") -> tuple[int, str, bytes]:
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers["Content-Type"], exc.read()


def test_server_answers_healthz_metrics_and_404_then_stops() -> None:
    state = {"ok": True}

    def verdict() -> Health:
        stale = [] if state["ok"] else ["metronome"]
        return Health(state["ok"], {"status": "ok" if state["ok"] else "stale", "stale": stale})

    before = set(threading.enumerate())
    with HttpServer("127.0.0.1", 0, health=verdict, metrics=lambda: b"alerter_up 1\n") as server:
        base = f"http://127.0.0.1:{server.port}"
        status, ctype, body = fetch(f"{base}/healthz")
        assert (status, ctype) == (200, "application/json")
        assert json.loads(body) == {"status": "ok", "stale": []}
        state["ok"] = False
        status, _, body = fetch(f"{base}/healthz?verbose=1")
        assert status == 503
        assert json.loads(body)["stale"] == ["metronome"]
        assert fetch(f"{base}/healthz", "HEAD")[0] == 503
        status, ctype, body = fetch(f"{base}/metrics")
        assert status == 200
        assert ctype.startswith("text/plain; version=0.0.4")
        assert body == b"alerter_up 1\n"
        assert fetch(f"{base}/")[0] == 404
    assert set(threading.enumerate()) <= before


def test_a_failing_probe_is_a_500_not_a_dead_server() -> None:
    def broken() -> Health:
        raise RuntimeError("boom")

    with HttpServer("127.0.0.1", 0, health=broken, metrics=lambda: b"") as server:
        assert fetch(f"http://127.0.0.1:{server.port}/healthz")[0] == 500
        assert fetch(f"http://127.0.0.1:{server.port}/metrics")[0] == 200


# -- daemon pieces --------------------------------------------------------------------------
def test_triggers_and_misfire_grace() -> None:
    hourly = trigger_for("1h")
    assert isinstance(hourly, IntervalTrigger)
    assert hourly.interval == timedelta(hours=1)
    assert hourly.jitter == 30
    assert trigger_for("15s").jitter is None
    cron = trigger_for("5 * * * *")
    assert isinstance(cron, CronTrigger)
    assert cron.get_next_fire_time(None, T0) == T0 + timedelta(minutes=5)
    with pytest.raises(ValueError, match="Wrong number of fields"):
        trigger_for("every hour")
    assert misfire_grace("1h") == 300
    assert misfire_grace("2m") == 60
    assert misfire_grace("0 * * * *") == 300


def test_redaction_hides_configured_secrets(tmp_path: Path) -> None:
    token = "xoxb-very-secret-token"
    app = make_app(
        tmp_path,
        extra='[notifiers.chat]\ntype = "slack"\ntoken_env = "SLACK_T"\nchannel = "#a"\n',
    )
    try:
        secrets = secret_values(app.config, {"SLACK_T": token})
        assert secrets == [token]
        redactor = RedactFilter(secrets)
        record = logging.LogRecord(
            "alerter.x",
            logging.ERROR,
            __file__,
            1,
            "send_failed reason=%s",
            (f"bad {token}",),
            None,
        )
        assert redactor.filter(record)
        assert record.getMessage() == "send_failed reason=bad ***"
    finally:
        asyncio.run(app.aclose())


OTHER_RULE = SPIKE_RULE.replace('name = "spike"', 'name = "spike-2"')


def test_reload_rejects_a_broken_set_and_applies_a_valid_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(tmp_path)
    daemon = Daemon(app, serve_http=False)
    rules = tmp_path / "rules" / "r.toml"

    async def scenario() -> None:
        old_source = app.sources["bench"]
        rules.write_text('[[rule]]\nname = "x"\nsource = "nowhere"\n', encoding="utf-8")
        assert await daemon.reload() is False
        assert [r.name for r in app.config.rules] == ["spike"]
        assert app.sources["bench"] is old_source

        rules.write_text(SPIKE_RULE + OTHER_RULE, encoding="utf-8")
        assert await daemon.reload() is True
        assert [r.name for r in app.config.rules] == ["spike", "spike-2"]
        assert app.sources["bench"] is not old_source
        await asyncio.gather(*daemon._background)  # the replaced source is closed

    try:
        with caplog.at_level(logging.INFO, logger="alerter"):
            asyncio.run(scenario())
    finally:
        asyncio.run(app.aclose())
    rejected = [r.getMessage() for r in caplog.records if "reload_rejected" in r.getMessage()]
    assert len(rejected) == 1
    assert "r.toml" in rejected[0]
    assert any("reload_applied" in r.getMessage() for r in caplog.records)
    reloads = "alerter_config_reloads_total"
    assert daemon.metrics.registry.get_sample_value(reloads, {"outcome": "rejected"}) == 1
    assert daemon.metrics.registry.get_sample_value(reloads, {"outcome": "ok"}) == 1


class StuckSource:
    """A source whose fetch never returns (until cancelled)."""

    type = "csv"

    def __init__(self, step: timedelta) -> None:
        self.step = step
        self.started = asyncio.Event()
        self.cancelled = False
        self.closed = False

    async def fetch(self, since: datetime, until: datetime) -> FetchResult:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        self.closed = True


def test_a_stuck_source_never_delays_another_and_is_cancelled_on_stop(tmp_path: Path) -> None:
    extra = """
[sources.second]
type = "csv"
path = "data/*.csv"
dimensions = ["series", "team"]
step = "1h"
schedule = "1h"
"""
    app = make_app(tmp_path, extra=extra)
    stuck = StuckSource(app.sources["bench"].step)
    app.sources["bench"] = stuck  # type: ignore[assignment]
    daemon = Daemon(app, grace=0.0, serve_http=False)
    original = app.run_cycle

    async def scenario() -> int:
        second_done = asyncio.Event()

        async def run_cycle(name: str, now: datetime | None = None) -> CycleReport:
            report = await original(name, now)
            if name == "second":
                second_done.set()
            return report

        app.run_cycle = run_cycle  # type: ignore[method-assign]
        serving = asyncio.create_task(daemon.serve())
        await asyncio.wait_for(stuck.started.wait(), 10)
        await asyncio.wait_for(second_done.wait(), 10)
        assert set(daemon.inflight) == {"bench"}
        assert [p.source for p in app.store.poll_status() if p.last_success_at] == ["second"]
        daemon.request_stop("SIGTERM")
        return await asyncio.wait_for(serving, 10)

    assert asyncio.run(scenario()) == 0
    assert stuck.cancelled
    assert stuck.closed


class GatedSource:
    """Delegates to a real source once ``gate`` is set."""

    def __init__(self, inner: Source) -> None:
        self.inner = inner
        self.type = inner.type
        self.step = inner.step
        self.started = asyncio.Event()
        self.gate = asyncio.Event()

    async def fetch(self, since: datetime, until: datetime) -> FetchResult:
        self.started.set()
        await self.gate.wait()
        return await self.inner.fetch(since, until)

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_sigterm_lets_the_cycle_in_flight_finish_and_delivers_its_alert(
    tmp_path: Path, pinned_clock: PinnedClock
) -> None:
    now = pinned_clock.now().replace(minute=0, second=0, microsecond=0)
    write_csv_series(
        tmp_path / "data" / "a.csv",
        now - timedelta(days=2),
        46,
        {"s1": 100.0},
        spikes={("s1", 44): 8},
    )
    config = load_config(csv_config(tmp_path, rules=SPIKE_RULE))
    app = App(config, env={}, clock=pinned_clock, deliver_in_cycle=False)
    gated = GatedSource(app.sources["bench"])
    app.sources["bench"] = gated  # type: ignore[assignment]
    daemon = Daemon(app, grace=30.0, serve_http=False)

    async def scenario() -> int:
        serving = asyncio.create_task(daemon.serve())
        await asyncio.wait_for(gated.started.wait(), 10)
        daemon.request_stop("SIGTERM")  # the cycle is in flight, waiting for the API
        await asyncio.sleep(0)
        assert not serving.done()
        gated.gate.set()
        return await asyncio.wait_for(serving, 10)

    assert asyncio.run(scenario()) == 0
    state = SqliteStore(str(tmp_path / "state.db"))
    try:
        assert [p.source for p in state.poll_status() if p.last_success_at] == ["bench"]
        assert [item.status for item in state.outbox_items()] == ["sent"]
    finally:
        state.close()
    lines = (tmp_path / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["first"]
