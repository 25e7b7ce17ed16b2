"""One dispatcher per notifier (issue 11, finding 8): a peer that trickles its answer
holds up only its own notifier's items in the daemon; the others go out meanwhile."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from alerter.app import App
from alerter.clock import FakeClock
from alerter.config import load_config
from alerter.daemon import Daemon
from tests.conftest import T0
from tests.fakes.notifications import sample
from tests.fakes.webhook import WebhookReceiver
from tests.helpers import SPIKE_RULE, csv_config, write_csv_series


def test_a_stuck_peer_delays_only_its_own_notifier(tmp_path: Path) -> None:
    with WebhookReceiver() as good, WebhookReceiver(trickle=0.5) as slow:
        extra = f"""
[notifiers.slow]
type = "webhook"
url = "{slow.url}"
timeout = 30

[notifiers.good]
type = "webhook"
url = "{good.url}"
"""
        write_csv_series(tmp_path / "data" / "a.csv", T0 - timedelta(days=2), 48, {"s1": 1.0})
        app = App(
            load_config(csv_config(tmp_path, rules=SPIKE_RULE, extra=extra)),
            clock=FakeClock(T0),
            env={},
        )
        app.store.enqueue(replace(sample(), incident_id=1, rule="a"), "slow", T0)
        app.store.enqueue(replace(sample(), incident_id=2, rule="b"), "good", T0)
        daemon = Daemon(app, serve_http=False)

        async def scenario() -> bool:
            await asyncio.wait_for(daemon.dispatch(), timeout=60)
            tasks = dict(daemon._delivering)
            await asyncio.wait_for(asyncio.shield(tasks["good"]), timeout=60)
            stuck = not tasks["slow"].done()
            slow._closing.set()  # the slow peer hangs up: its send ends (and is retried)
            await asyncio.wait_for(asyncio.shield(tasks["slow"]), timeout=60)
            return stuck

        try:
            slow_still_running = asyncio.run(scenario())
            statuses = {i.notifier: i.status for i in app.store.outbox_items()}
        finally:
            asyncio.run(app.aclose())

    assert slow_still_running
    assert len(good.posts) == 1
    assert statuses == {"good": "sent", "slow": "pending"}


def test_a_source_that_never_finishes_hits_the_cycle_deadline(tmp_path: Path) -> None:
    class Hanging:
        step = timedelta(hours=1)

        async def fetch(self, since, until):
            await asyncio.Event().wait()

        async def aclose(self) -> None:
            return None

    write_csv_series(tmp_path / "data" / "a.csv", T0 - timedelta(days=2), 48, {"s1": 1.0})
    config = load_config(csv_config(tmp_path, rules=SPIKE_RULE))
    quick = config.alerter.model_copy(update={"cycle_deadline": timedelta(seconds=0.3)})
    app = App(replace(config, alerter=quick), clock=FakeClock(T0), env={})
    app.sources["bench"] = Hanging()  # type: ignore[assignment]
    try:
        report = asyncio.run(app.run_cycle("bench", T0))
    finally:
        asyncio.run(app.aclose())
    assert not report.ok
    assert "cycle_deadline" in report.errors[0]


def test_the_age_of_the_oldest_undelivered_item_is_a_metric(store) -> None:
    from alerter.metrics import Metrics

    store.enqueue(sample(), "slack", T0)
    metrics = Metrics(store, lambda: [], lambda: T0 + timedelta(hours=5))
    try:
        text = metrics.render().decode()
    finally:
        metrics.close()
    assert 'alerter_outbox_oldest_pending_age_seconds{notifier="slack"} 18000.0' in text


def test_skipped_records_are_counted_on_metrics(store) -> None:
    from alerter.app import CycleReport
    from alerter.metrics import Metrics

    metrics = Metrics(store, lambda: ["mtr"], lambda: T0)
    try:
        report = CycleReport(source="mtr", ok=True, skipped={"line_item_type=usage_v2": 4})
        metrics.observe_cycle(report)
        metrics.observe_cycle(report)
        text = metrics.render().decode()
    finally:
        metrics.close()
    assert 'alerter_records_skipped_total{kind="line_item_type=usage_v2",source="mtr"} 8.0' in text
