"""Prometheus metrics of one App: its own registry, fed by cycle and delivery hooks.

Counters move when ``observe_cycle`` / ``observe_delivery`` are called (the App calls
them from ``run_cycle`` and ``deliver`` when its ``metrics`` attribute is set); gauges
of the state (open incidents, outbox depth, last successful poll) are read from the
store at scrape time, so they are right even after a restart.

API errors are counted per failed HTTP attempt: every retried attempt is seen through
the ``http_retry`` log event of ``alerter.sources.http`` (its arguments are
``source, endpoint, attempt, reason, delay``), and every terminal failure through the
cycle's error messages (``HTTP 429``, ``timeout``, ``connection error``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from alerter import __version__

if TYPE_CHECKING:
    from alerter.app import CycleReport
    from alerter.store.sqlite import SqliteStore

PREFIX = "alerter"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CYCLE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_STATUS = re.compile(r"\bHTTP (\d{3})\b")
_HTTP_LOGGER = "alerter.sources.http"


def error_status(message: str) -> str:
    """The status label of an API error message: ``"429"``, ``"timeout"``, ... or ``"other"``."""
    found = _STATUS.search(message)
    if found:
        return found.group(1)
    lowered = message.lower()
    if "timeout" in lowered or "timed out" in lowered:
        return "timeout"
    if "connection" in lowered:
        return "connection"
    return "other"


class Metrics:
    """The ``alerter_*`` metrics of one App, in a registry of its own."""

    def __init__(
        self,
        store: SqliteStore,
        sources: Callable[[], Iterable[str]],
        now: Callable[[], datetime],
    ) -> None:
        """``sources`` lists the configured source names (read at scrape time, so a
        reload is followed); ``now`` is the App's clock."""
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.polls = Counter(
            f"{PREFIX}_polls",
            "Poll cycles by source and outcome (ok, partial, failed).",
            ["source", "outcome"],
            registry=r,
        )
        self.api_errors = Counter(
            f"{PREFIX}_api_errors",
            "Failed billing API attempts by source and HTTP status (or timeout, connection).",
            ["source", "status"],
            registry=r,
        )
        self.points = Counter(
            f"{PREFIX}_points_ingested", "Cost points fetched and stored.", ["source"], registry=r
        )
        self.rows_skipped = Counter(
            f"{PREFIX}_rows_skipped",
            "File rows that could not count (bad or null cost or period), by source.",
            ["source"],
            registry=r,
        )
        self.revised = Counter(
            f"{PREFIX}_points_revised",
            "Stored points whose amount changed (late data).",
            ["source"],
            registry=r,
        )
        self.skipped = Counter(
            f"{PREFIX}_records_skipped",
            "Records a source left out on purpose (e.g. Metronome line items of a type not "
            "in line_item_types), by source and kind.",
            ["source", "kind"],
            registry=r,
        )
        self.anomalies = Counter(
            f"{PREFIX}_anomalies",
            "Anomalous (group, window) verdicts by rule.",
            ["source", "rule"],
            registry=r,
        )
        self.events = Counter(
            f"{PREFIX}_incident_events",
            "Incident notifications written to the outbox, by rule and reason.",
            ["rule", "reason"],
            registry=r,
        )
        self.sent = Counter(
            f"{PREFIX}_notifications_sent",
            "Notifications delivered, by notifier.",
            ["notifier"],
            registry=r,
        )
        self.retried = Counter(
            f"{PREFIX}_notifications_retried",
            "Delivery attempts put back for a retry, by notifier.",
            ["notifier"],
            registry=r,
        )
        self.failed = Counter(
            f"{PREFIX}_notifications_failed",
            "Notifications given up on (permanent error or attempts exhausted), by notifier.",
            ["notifier"],
            registry=r,
        )
        self.cycle_seconds = Histogram(
            f"{PREFIX}_cycle_duration_seconds",
            "Duration of one poll cycle (fetch, store, judge), by source.",
            ["source"],
            buckets=CYCLE_BUCKETS,
            registry=r,
        )
        self.reloads = Counter(
            f"{PREFIX}_config_reloads",
            "Configuration reloads (SIGHUP) by outcome (ok, rejected).",
            ["outcome"],
            registry=r,
        )
        info = Gauge(f"{PREFIX}_build_info", "Version of alerter.", ["version"], registry=r)
        info.labels(__version__).set(1)
        r.register(_StateCollector(store, sources, now))
        self._handler = _RetryLogHandler(self)
        logging.getLogger(_HTTP_LOGGER).addHandler(self._handler)

    def close(self) -> None:
        """Stop listening to the HTTP client's retry log (idempotent)."""
        logging.getLogger(_HTTP_LOGGER).removeHandler(self._handler)

    # -- hooks ---------------------------------------------------------------------------
    def observe_cycle(self, report: CycleReport) -> None:
        """Count one finished poll cycle (called once per ``run_cycle``)."""
        source = report.source
        outcome = "failed" if not report.ok else ("partial" if report.errors else "ok")
        self.polls.labels(source, outcome).inc()
        for message in report.errors:
            self.api_errors.labels(source, error_status(message)).inc()
        self.points.labels(source).inc(report.points)
        self.revised.labels(source).inc(report.revised)
        self.rows_skipped.labels(source).inc(report.skipped_rows)
        for kind, count in report.skipped.items():
            self.skipped.labels(source, kind).inc(count)
        for judged in report.judged:
            if judged.anomalies:
                self.anomalies.labels(source, judged.rule).inc(judged.anomalies)
            for event in judged.events:
                self.events.labels(event.rule, event.event.value).inc()
        self.cycle_seconds.labels(source).observe(max(0.0, report.seconds))

    def observe_delivery(self, notifier: str, event: str, outcome: str) -> None:
        """``deliver``'s ``on_result`` hook: outcome is ``sent``, ``retry`` or ``failed``."""
        counter = {"sent": self.sent, "retry": self.retried, "failed": self.failed}.get(outcome)
        if counter is not None:
            counter.labels(notifier).inc()

    def observe_reload(self, ok: bool) -> None:
        self.reloads.labels("ok" if ok else "rejected").inc()

    def observe_retry(self, source: str, reason: str) -> None:
        """One retried HTTP attempt of ``source`` (reason like ``HTTP 503`` or ``timeout``)."""
        self.api_errors.labels(source, error_status(reason)).inc()

    def render(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)


class _RetryLogHandler(logging.Handler):
    """Counts ``http_retry`` records (one per retried attempt) as API errors."""

    def __init__(self, metrics: Metrics) -> None:
        super().__init__(logging.DEBUG)
        self.metrics = metrics

    def emit(self, record: logging.LogRecord) -> None:
        if not isinstance(record.msg, str) or not record.msg.startswith("http_retry "):
            return
        args = record.args
        if isinstance(args, tuple) and len(args) >= 4:
            self.metrics.observe_retry(str(args[0]), str(args[3]))


class _StateCollector(Collector):
    """Gauges read from the store at scrape time."""

    def __init__(
        self,
        store: SqliteStore,
        sources: Callable[[], Iterable[str]],
        now: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.sources = sources
        self.now = now

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        per_rule: dict[str, int] = {}
        for incident in self.store.incidents("open"):
            per_rule[incident.rule] = per_rule.get(incident.rule, 0) + 1
        total = GaugeMetricFamily(f"{PREFIX}_open_incidents", "Incidents currently open.")
        total.add_metric([], sum(per_rule.values()))
        yield total
        by_rule = GaugeMetricFamily(
            f"{PREFIX}_open_incidents_by_rule",
            "Incidents currently open, by rule.",
            labels=["rule"],
        )
        for rule, count in sorted(per_rule.items()):
            by_rule.add_metric([rule], count)
        yield by_rule
        depth = GaugeMetricFamily(
            f"{PREFIX}_outbox_depth",
            "Outbox items not delivered: pending (due or waiting for a retry) and failed.",
            labels=["status"],
        )
        pending = self.store.outbox_items("pending")
        depth.add_metric(["pending"], len(pending))
        depth.add_metric(["failed"], len(self.store.outbox_items("failed")))
        yield depth
        oldest = GaugeMetricFamily(
            f"{PREFIX}_outbox_oldest_pending_age_seconds",
            "Age of the oldest undelivered notification, by notifier (kept until delivered "
            "or older than [alerter] give_up_after).",
            labels=["notifier"],
        )
        ages: dict[str, float] = {}
        now_at = self.now()
        for item in pending:
            if item.created_at is not None:
                seconds = max(0.0, (now_at - item.created_at).total_seconds())
                ages[item.notifier] = max(seconds, ages.get(item.notifier, 0.0))
        for notifier, seconds in sorted(ages.items()):
            oldest.add_metric([notifier], seconds)
        yield oldest
        last = GaugeMetricFamily(
            f"{PREFIX}_last_success_timestamp_seconds",
            "Unix time of the last successful poll, by source.",
            labels=["source"],
        )
        age = GaugeMetricFamily(
            f"{PREFIX}_last_success_age_seconds",
            "Seconds since the last successful poll, by source.",
            labels=["source"],
        )
        polls = {p.source: p for p in self.store.poll_status()}
        now = self.now()
        for source in self.sources():
            poll = polls.get(source)
            if poll is None or poll.last_success_at is None:
                continue
            last.add_metric([source], poll.last_success_at.timestamp())
            age.add_metric([source], max(0.0, (now - poll.last_success_at).total_seconds()))
        yield last
        yield age
