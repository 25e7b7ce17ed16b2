"""Wiring: registries, store, notifiers; ``run_cycle(source, now)`` is one poll of one source.

One cycle reads like the design::

    fetch -> upsert -> judge every rule (transition, render, outbox) -> deliver
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TextIO

from alerter.clock import Clock, clock_from_env
from alerter.config import Config
from alerter.domain import Notification
from alerter.errors import SourceError
from alerter.judge import JudgeReport, judge_rule
from alerter.notify import NOTIFIERS
from alerter.notify.base import Notifier, NotifierContext
from alerter.notify.dryrun import DryRunSink
from alerter.notify.outbox import DeliveryReport, deliver, fail_unconfigured
from alerter.notify.pipeline import Envelope
from alerter.sources import SOURCES
from alerter.sources.base import FetchResult, Source, SourceContext
from alerter.store.actions import actions_of
from alerter.store.sqlite import SqliteStore, sqlite_path
from alerter.timeparse import floor_time

if TYPE_CHECKING:
    from alerter.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass
class CycleReport:
    """What one poll cycle of one source did."""

    source: str
    ok: bool
    points: int = 0
    revised: int = 0
    skipped_rows: int = 0
    errors: list[str] = field(default_factory=list)
    judged: list[JudgeReport] = field(default_factory=list)
    delivery: DeliveryReport | None = None
    seconds: float = 0.0
    skipped: dict[str, int] = field(default_factory=dict)
    """Records the source left out on purpose this cycle, by kind (a metric)."""

    @property
    def events(self) -> list[Notification]:
        return [e for j in self.judged for e in j.events]


BACKFILL_TRIES = 3
"""First polls with failed parts before the backfill is taken as done anyway."""


class _DryRunRollback(Exception):
    """Raised inside the cycle transaction so a dry run leaves no trace in the state."""


class App:
    """A loaded configuration, its store, sources and notifiers."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
        store: SqliteStore | None = None,
        dry_run: bool = False,
        out: TextIO | None = None,
        dry_run_sink: DryRunSink | None = None,
    ) -> None:
        self.config = config
        self.env = dict(os.environ if env is None else env)
        self.clock = clock or clock_from_env(self.env)
        self.dry_run = dry_run
        self.out = out or sys.stdout
        self.dry_run_sink = dry_run_sink or DryRunSink(self.out)
        self.store = store or SqliteStore(sqlite_path(config.alerter.state, config.base_dir))
        source_ctx = SourceContext(self.clock, self.env, config.base_dir, marks=self.store)
        actions = actions_of(self.store)
        notifier_ctx = NotifierContext(
            self.clock, self.env, config.base_dir, actions.history if actions else None
        )
        self.sources: dict[str, Source] = {
            name: SOURCES[cfg.type](name, cfg, source_ctx)  # type: ignore[attr-defined, call-arg]
            for name, cfg in config.sources.items()
        }
        self.notifiers: dict[str, Notifier] = {
            name: NOTIFIERS[cfg.type](name, cfg, notifier_ctx)  # type: ignore[attr-defined, call-arg]
            for name, cfg in config.notifiers.items()
        }
        self.metrics: Metrics | None = None
        """Set by the daemon: counts cycles and deliveries (``alerter/metrics.py``)."""
        self.deliver_in_cycle = True
        """False in the daemon, whose outbox dispatcher delivers off the event loop."""
        self._deliver_lock = threading.Lock()
        self._deliver_locks: dict[str, threading.Lock] = {}
        self._backfill_tries: dict[str, int] = {}

    async def aclose(self) -> None:
        for source in self.sources.values():
            await source.aclose()
        self.store.close()

    def _first_poll(self, name: str) -> bool:
        return not any(s.source == name and s.backfilled for s in self.store.poll_status())

    async def run_cycle(self, name: str, now: datetime | None = None) -> CycleReport:
        """Fetch the lookback (the backfill on the first poll), store it, judge every rule
        of the source, and deliver what is due. Never raises for a source failure."""
        now = now or self.clock.now()
        started = self.clock.now()
        source = self.sources[name]
        cfg = self.config.sources[name]
        first = self._first_poll(name)
        since = floor_time(now - (cfg.backfill if first else cfg.lookback), source.step)
        report = CycleReport(source=name, ok=False)
        try:
            # a total deadline per cycle: a peer that answers slowly but forever ends here
            async with asyncio.timeout(self.config.alerter.cycle_deadline.total_seconds()):
                result = await source.fetch(since, now)
        except (SourceError, TimeoutError) as exc:
            if isinstance(exc, TimeoutError):
                exc = SourceError(
                    f"source {name}: the cycle did not finish within "
                    f"{self.config.alerter.cycle_deadline.total_seconds():g}s (cycle_deadline)"
                )
            report.errors.append(str(exc))
            self.store.record_poll(name, now, ok=False, error=str(exc), points=0, errors=1)
            log.error("poll_failed source=%s error=%s", name, exc)
            report.seconds = (self.clock.now() - started).total_seconds()
            self._observe(report)
            return report
        for error in result.errors:
            log.warning("poll_partial source=%s error=%s", name, error)
        report.errors.extend(result.errors)
        report.skipped_rows = result.skipped_rows
        report.skipped = dict(result.skipped)
        report.ok = bool(result.coverage) or not result.errors
        backfilled = True
        if first:
            # A backfill with failed parts (one customer's history) is fetched again on
            # the next cycles, a few times at most, so no series starts without history.
            tries = self._backfill_tries[name] = self._backfill_tries.get(name, 0) + 1
            backfilled = report.ok and (not result.errors or tries >= BACKFILL_TRIES)
        alert_from = (
            since if (first and self.config.alerter.alert_on_backfill) else now - cfg.lookback
        )
        # Storing and judging are blocking (SQLite, numpy): off the event loop, so other
        # sources' requests keep flowing meanwhile.
        await asyncio.to_thread(
            self._store_and_judge, name, result, now, alert_from, report, backfilled
        )
        report.seconds = (self.clock.now() - started).total_seconds()
        log.info(
            "cycle_done source=%s ok=%s points=%d revised=%d anomalies=%d events=%d errors=%d "
            "seconds=%.3f",
            name,
            report.ok,
            report.points,
            report.revised,
            sum(j.anomalies for j in report.judged),
            len(report.events),
            len(report.errors),
            report.seconds,
        )
        if not self.dry_run and self.deliver_in_cycle:
            report.delivery = await asyncio.to_thread(self.deliver, now)
        self._observe(report)
        return report

    def _store_and_judge(
        self,
        name: str,
        result: FetchResult,
        now: datetime,
        alert_from: datetime,
        report: CycleReport,
        backfilled: bool,
    ) -> None:
        """Upsert the fetch and judge every rule of the source in one transaction (rolled
        back after printing in a dry run), then prune."""
        source = self.sources[name]
        printed: list[Envelope] = []
        try:
            with self.store.transaction():
                # point writes the judge has not seen: this upsert's, and those of a cycle
                # that crashed between storing its points and judging them
                consumed = self.store.consumed_seq(name)
                upsert = self.store.upsert(name, result, now)
                revised = self.store.revised_since(name, consumed)
                report.points = upsert.new + upsert.unchanged + len(upsert.revised)
                report.revised = len(upsert.revised)
                self.store.record_poll(
                    name,
                    now,
                    ok=report.ok,
                    error="; ".join(result.errors)[:2000] or None,
                    points=report.points,
                    errors=len(result.errors),
                    backfilled=backfilled,
                )
                for rule in self.config.rules_for(name):
                    report.judged.append(
                        judge_rule(
                            self.store,
                            rule,
                            step=source.step,
                            now=now,
                            settle=self.config.settle,
                            resolve_after=self.config.alerter.resolve_after,
                            first_judge_from=alert_from,
                            notifiers=list(self.notifiers),
                            revised=revised,
                            written_after=consumed,
                            sink=printed.append if self.dry_run else None,
                        )
                    )
                self.store.set_file_marks(name, result.file_marks)
                self.store.set_consumed_seq(name, upsert.seq)
                if self.dry_run:
                    raise _DryRunRollback
            self._retain(name, now, report.judged)
        except _DryRunRollback:
            self._print_dry_run(printed)

    def _observe(self, report: CycleReport) -> None:
        if self.metrics is not None:
            self.metrics.observe_cycle(report)

    def _retain(self, name: str, now: datetime, judged: list[JudgeReport]) -> None:
        """Forget what no rule reads any more and what is older than the retention."""
        horizons = [j.load_from for j in judged if j.load_from is not None]
        if not horizons or len(horizons) < len(judged):
            return  # a rule that judged nothing this cycle did not say what it needs
        needed = min(horizons)
        self.store.trim_cache(name, needed)
        cutoff = now - self.config.alerter.retention
        deleted = self.store.prune(name, min(cutoff, needed), cutoff)
        if any(deleted.values()):
            log.info(
                "state_pruned source=%s %s",
                name,
                " ".join(f"{table}={count}" for table, count in deleted.items() if count),
            )

    def _print_dry_run(self, envelopes: list[Envelope]) -> None:
        self.dry_run_sink.write(envelopes, self.notifiers)

    def deliver(self, now: datetime | None = None, only: str | None = None) -> DeliveryReport:
        """Send every due outbox item, or only notifier ``only``'s (blocking; one delivery
        at a time per App and notifier, so the daemon's per-notifier dispatchers and a
        full delivery never send one item twice)."""
        when = now or self.clock.now()
        if only is None:
            fail_unconfigured(self.store, self.notifiers)
            # one daemon thread per notifier, as the daemon's dispatchers: a stuck peer
            # delays only its own items and never holds the process open at exit
            reports: list[DeliveryReport] = []

            def one(name: str) -> None:
                try:
                    reports.append(self.deliver(when, name))
                except Exception:
                    log.exception("delivery_crashed notifier=%s", name)

            threads = [
                threading.Thread(
                    target=one, args=(name,), name=f"alerter-deliver-{name}", daemon=True
                )
                for name in self.notifiers
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return DeliveryReport(
                sum(r.sent for r in reports),
                sum(r.retried for r in reports),
                sum(r.failed for r in reports),
            )
        with self._deliver_lock:
            lock = self._deliver_locks.setdefault(only, threading.Lock())
        with lock:
            cfg = self.config.alerter
            return deliver(
                self.store,
                self.notifiers,
                when,
                max_attempts=cfg.max_attempts,
                give_up_after=cfg.give_up_after,
                send_deadline=cfg.send_deadline.total_seconds(),
                max_pending=cfg.outbox_max_pending,
                only=only,
                on_result=self.metrics.observe_delivery if self.metrics is not None else None,
            )

    async def run_once(self) -> list[CycleReport]:
        """One cycle of every source, in config order."""
        return [await self.run_cycle(name) for name in self.sources]

    def staleness(self, name: str) -> timedelta:
        cfg = self.config.sources[name]
        if cfg.staleness is not None:
            return cfg.staleness
        return max(timedelta(hours=1), 3 * schedule_interval(cfg.schedule))


def schedule_interval(schedule: str) -> timedelta:
    """The interval of an ``"15m"``-style schedule, or one hour for a cron expression."""
    from alerter.timeparse import parse_duration

    try:
        return parse_duration(schedule)
    except ValueError:
        return timedelta(hours=1)
