"""alerter_* metrics: cycle, delivery and retry hooks, state gauges at scrape time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerter.app import App
from alerter.clock import FakeClock
from alerter.config import load_config
from alerter.cycle import CycleReport
from alerter.metrics import Metrics, error_status
from alerter.sources.base import SourceContext
from alerter.sources.metronome import MetronomeConfig, MetronomeSource
from alerter.store.sqlite import SqliteStore
from tests.fakes.metronome import FakeMetronome, Fault, MetronomeDataset, Product
from tests.helpers import SPIKE_RULE, csv_config, write_csv_series

T0 = datetime(2026, 9, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("message", "status"),
    [
        ("source m: GET /v1/x failed after 5 attempts: HTTP 429", "429"),
        ("source m: GET /v1/x: the API rejected the token (HTTP 401); check ...", "401"),
        ("customer c1 window 2026-09-07: HTTP 503", "503"),
        ("source m: GET /v1/x failed after 5 attempts: timeout (ReadTimeout)", "timeout"),
        ("source m: GET /v1/x failed: connection error (ConnectError: refused)", "connection"),
        ("source m: GET /v1/x: body is not valid JSON (12 bytes)", "other"),
    ],
)
def test_error_status_labels(message: str, status: str) -> None:
    assert error_status(message) == status


@pytest.fixture
def metrics(store: SqliteStore) -> Metrics:
    return Metrics(store, lambda: ["m"], lambda: T0)


def value(m: Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_cycle_outcomes_points_and_api_errors_are_counted(metrics: Metrics) -> None:
    metrics.observe_cycle(CycleReport("m", ok=True, points=40, revised=2, seconds=0.3))
    metrics.observe_cycle(
        CycleReport("m", ok=True, points=10, errors=["customer c1: HTTP 503"], seconds=1.5)
    )
    metrics.observe_cycle(CycleReport("m", ok=False, errors=["failed: HTTP 429"], seconds=9))

    assert value(metrics, "alerter_polls_total", source="m", outcome="ok") == 1
    assert value(metrics, "alerter_polls_total", source="m", outcome="partial") == 1
    assert value(metrics, "alerter_polls_total", source="m", outcome="failed") == 1
    assert value(metrics, "alerter_points_ingested_total", source="m") == 50
    assert value(metrics, "alerter_points_revised_total", source="m") == 2
    assert value(metrics, "alerter_api_errors_total", source="m", status="503") == 1
    assert value(metrics, "alerter_api_errors_total", source="m", status="429") == 1
    assert value(metrics, "alerter_cycle_duration_seconds_count", source="m") == 3
    assert value(metrics, "alerter_cycle_duration_seconds_sum", source="m") == pytest.approx(10.8)
    assert value(metrics, "alerter_cycle_duration_seconds_bucket", source="m", le="1.0") == 1


def test_http_retries_reach_the_metrics_through_the_source_context(
    store: SqliteStore,
) -> None:
    """Retried attempts are counted through ``SourceContext.on_retry`` (no log scraping)."""
    metrics = Metrics(store, lambda: ["mtr"], lambda: T0)
    clock = FakeClock(T0)
    data = MetronomeDataset()
    acme = data.add_customer("Acme", products=[Product("GPU compute")])
    with FakeMetronome(data, token="t0k", now=clock.now) as fake:
        fake.faults += [Fault("503", customer_id=acme.id), Fault("429", customer_id=acme.id)]
        cfg = MetronomeConfig(type="metronome", base_url=fake.url)
        ctx = SourceContext(
            clock, {"METRONOME_BEARER_TOKEN": "t0k"}, Path("."), on_retry=metrics.observe_retry
        )
        source = MetronomeSource("mtr", cfg, ctx)

        async def fetch() -> None:
            try:
                await source.fetch(T0 - timedelta(hours=2), T0)
            finally:
                await source.aclose()

        asyncio.run(fetch())
    assert value(metrics, "alerter_api_errors_total", source="mtr", status="503") == 1
    assert value(metrics, "alerter_api_errors_total", source="mtr", status="429") == 1


def test_deliveries_and_reloads_are_counted(metrics: Metrics) -> None:
    for outcome in ("sent", "sent", "retry", "failed"):
        metrics.observe_delivery("slack", "first", outcome)
    metrics.observe_reload(True)
    metrics.observe_reload(False)
    assert value(metrics, "alerter_notifications_sent_total", notifier="slack") == 2
    assert value(metrics, "alerter_notifications_retried_total", notifier="slack") == 1
    assert value(metrics, "alerter_notifications_failed_total", notifier="slack") == 1
    assert value(metrics, "alerter_config_reloads_total", outcome="ok") == 1
    assert value(metrics, "alerter_config_reloads_total", outcome="rejected") == 1


def test_each_app_has_its_own_registry(store: SqliteStore) -> None:
    a = Metrics(store, lambda: [], lambda: T0)
    b = Metrics(store, lambda: [], lambda: T0)
    a.observe_delivery("x", "first", "sent")
    assert value(a, "alerter_notifications_sent_total", notifier="x") == 1
    assert value(b, "alerter_notifications_sent_total", notifier="x") is None


def test_a_cycle_feeds_counters_and_the_state_gauges(tmp_path: Path) -> None:
    start = T0 - timedelta(days=3)
    write_csv_series(
        tmp_path / "data" / "a.csv", start, 72, {"s1": 100.0, "s2": 50.0}, spikes={("s1", 68): 8}
    )
    config = load_config(csv_config(tmp_path, rules=SPIKE_RULE))
    clock = FakeClock(T0)
    app = App(config, clock=clock, env={}, deliver_in_cycle=False)
    metrics = app.metrics
    try:
        report = asyncio.run(app.run_cycle("bench", T0))
        assert len(report.events) == 1
        text = metrics.render().decode()
        assert 'alerter_polls_total{outcome="ok",source="bench"} 1.0' in text
        assert 'alerter_points_ingested_total{source="bench"} 144.0' in text
        assert 'alerter_anomalies_total{rule="spike",source="bench"} 1.0' in text
        assert 'alerter_incident_events_total{reason="first",rule="spike"} 1.0' in text
        assert "alerter_open_incidents 1.0" in text
        assert 'alerter_open_incidents_by_rule{rule="spike"} 1.0' in text
        assert 'alerter_outbox_depth{status="pending"} 1.0' in text
        last = value(metrics, "alerter_last_success_timestamp_seconds", source="bench")
        assert last == T0.timestamp()

        clock.advance(timedelta(minutes=30))
        assert app.deliver().sent == 1
        text = metrics.render().decode()
        assert 'alerter_notifications_sent_total{notifier="out"} 1.0' in text
        assert 'alerter_outbox_depth{status="pending"} 0.0' in text
        assert 'alerter_last_success_age_seconds{source="bench"} 1800.0' in text
    finally:
        asyncio.run(app.aclose())
