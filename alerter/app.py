"""Wiring: registries, store, notifiers; ``run_cycle(source, now)`` is one poll of one source.

One cycle reads like the design::

    fetch -> upsert -> judge every rule (plan, evaluate, track incidents, outbox) -> deliver

Judging is ``judge.judge_rule``; messages are rendered when they are delivered (the
outbox, ``notify/outbox.py``), by the daemon's dispatcher or right after the cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TextIO

from alerter.clock import Clock, clock_from_env
from alerter.config import Config
from alerter.cycle import CycleReport, JudgeReport
from alerter.errors import FencingRejected, SourceError
from alerter.judge import JudgeSettings, judge_rule
from alerter.lease import Leases, replica_id
from alerter.metrics import Metrics
from alerter.notify import NOTIFIERS
from alerter.notify.base import Notifier, NotifierContext
from alerter.notify.dryrun import DryRunOutbox, DryRunSink
from alerter.notify.outbox import DeliveryReport, deliver, fail_unconfigured
from alerter.sources import SOURCES
from alerter.sources.base import FetchResult, Source, SourceContext
from alerter.store.actions import actions_of
from alerter.store.postgres import PostgresStore, is_postgres_url
from alerter.store.sqlite import SqliteStore, sqlite_path
from alerter.timeparse import floor_time

log = logging.getLogger(__name__)


CLAIM_TTL_MIN = 60.0
"""Seconds an outbox row claimed by a replica stays its own (PostgreSQL state)."""

BACKFILL_TRIES = 3
"""First polls with failed parts before the backfill is taken as done anyway."""


class _Discard(Exception):
    """Ends a dry run's transaction: the store rolls back on an exception."""


@contextmanager
def _transaction(store: SqliteStore | PostgresStore, *, discard: bool) -> Iterator[None]:
    """The cycle's write transaction, rolled back at its end when ``discard`` (dry run)."""
    try:
        with store.transaction():
            yield
            if discard:
                raise _Discard
    except _Discard:
        pass


class App:
    """A loaded configuration, its store, sources and notifiers."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
        store: SqliteStore | PostgresStore | None = None,
        dry_run: bool = False,
        out: TextIO | None = None,
        dry_run_sink: DryRunSink | None = None,
        metrics: Metrics | None = None,
        deliver_in_cycle: bool = True,
    ) -> None:
        """``metrics`` (default: a registry of its own) counts cycles, deliveries and
        retries; a reload passes the running one on. ``deliver_in_cycle`` is False in the
        daemon, whose outbox dispatcher delivers off the event loop."""
        self.config = config
        self.env = dict(os.environ if env is None else env)
        self.clock = clock or clock_from_env(self.env)
        self.dry_run = dry_run
        self.out = out or sys.stdout
        self.dry_run_sink = dry_run_sink or DryRunSink(self.out)
        self.leases: Leases | None = None
        """PostgreSQL state: this replica's leases (only a holder polls and judges)."""
        self.claim_valid: Callable[[int], bool] | None = None
        """PostgreSQL state: re-checks this replica's claim on an outbox row before a send."""
        self.store: SqliteStore | PostgresStore = store or self._open_store()
        if isinstance(self.store, PostgresStore):
            pg = self.store
            self.leases = Leases(
                pg.lease_store(),
                pg.holder,
                config.alerter.lease_ttl.total_seconds(),
                outbox_rejections=lambda: pg.rejections,
            )
            self.claim_valid = self.store.claim_valid
        self.metrics = metrics or Metrics(
            self.store, lambda: list(self.config.sources), self.clock.now, self.leases
        )
        self.deliver_in_cycle = deliver_in_cycle
        source_ctx = SourceContext(
            self.clock,
            self.env,
            config.base_dir,
            marks=self.store,
            on_retry=self.metrics.observe_retry,
        )
        actions = actions_of(self.store)
        notifier_ctx = NotifierContext(
            self.clock, self.env, config.base_dir, actions.history if actions else None
        )
        self.sources: dict[str, Source] = {
            name: SOURCES[cfg.type](name, cfg, source_ctx) for name, cfg in config.sources.items()
        }
        self.notifiers: dict[str, Notifier] = {
            name: NOTIFIERS[cfg.type](name, cfg, notifier_ctx)
            for name, cfg in config.notifiers.items()
        }
        self._deliver_lock = threading.Lock()
        self._deliver_locks: dict[str, threading.Lock] = {}
        self._backfill_tries: dict[str, int] = {}

    def _open_store(self) -> SqliteStore | PostgresStore:
        state = self.config.alerter.state
        if is_postgres_url(state):
            # an outbox claim outlives the slowest send (notifier timeouts, rate-limit
            # waits), or another replica could claim and send the same row meanwhile
            ttl = max(self.config.alerter.lease_ttl.total_seconds(), CLAIM_TTL_MIN)
            return PostgresStore(state, holder=replica_id(), claim_ttl=ttl)
        return SqliteStore(sqlite_path(state, self.config.base_dir))

    async def aclose(self) -> None:
        for source in self.sources.values():
            await source.aclose()
        if self.leases is not None:
            self.leases.release_all()
            self.leases.close()
        self.store.close()

    def _first_poll(self, name: str) -> bool:
        return not any(s.source == name and s.backfilled for s in self.store.poll_status())

    async def run_cycle(self, name: str, now: datetime | None = None) -> CycleReport:
        """Fetch the lookback (the backfill on the first poll), store it, judge every rule
        of the source, and deliver what is due. Never raises for a source failure."""
        if self.leases is not None:
            fence = await asyncio.to_thread(self.leases.claim, name)
            if fence is None:  # another replica holds the source: not ours to judge
                log.debug("cycle_skipped source=%s reason=lease_held_elsewhere", name)
                return CycleReport(source=name, ok=True, not_run="lease_held_elsewhere")
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
            try:
                with self._fenced(name), self.store.transaction():
                    self.store.record_poll(name, now, ok=False, error=str(exc), points=0, errors=1)
            except FencingRejected as rejected:
                self._lost_lease(name, rejected)
                report.not_run = "fencing_rejected"
                return report
            log.error("poll_failed source=%s error=%s", name, exc)
            report.seconds = (self.clock.now() - started).total_seconds()
            self._observe(report)
            return report
        for error in result.errors:
            log.warning("poll_partial source=%s error=%s", name, error)
        report.errors.extend(result.errors)
        report.skipped_rows = result.skipped_rows
        if result.table is None and not result.points and not result.coverage:
            report.unchanged_files = len(result.file_marks)
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
        try:
            await asyncio.to_thread(
                self._store_and_judge, name, result, now, alert_from, report, backfilled
            )
        except FencingRejected as exc:
            # paused or partitioned past the lease: another replica judges this source now
            self._lost_lease(name, exc)
            report.ok = False
            report.judged = []
            report.errors.append(str(exc))
            report.not_run = "fencing_rejected"
            return report
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
        """Upsert the fetch and judge every rule of the source in one transaction, then
        prune; a dry run prints what it would send and leaves the state as it was."""
        source = self.sources[name]
        settings = JudgeSettings(
            source.step,
            self.config.settle,
            self.config.alerter.resolve_after,
            tuple(self.notifiers),
        )
        dry = DryRunOutbox() if self.dry_run else None
        with self._fenced(name), _transaction(self.store, discard=dry is not None):
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
                        settings,
                        now=now,
                        first_judge_from=alert_from,
                        outbox=dry or self.store,
                        revised=revised,
                        written_after=consumed,
                    )
                )
            self.store.set_file_marks(name, result.file_marks)
            self.store.set_consumed_seq(name, upsert.seq)
        if dry is not None:
            self.dry_run_sink.write(dry.envelopes, self.notifiers)
        else:
            self._retain(name, now, report.judged)

    def _fenced(self, name: str) -> contextlib.AbstractContextManager[None]:
        """Writes of this cycle commit only while this replica still holds the lease."""
        if self.leases is None or not isinstance(self.store, PostgresStore):
            return contextlib.nullcontext()
        fence = self.leases.fence(name)
        if fence is None:
            raise FencingRejected(f"lease of source {name!r} lost before its writes")
        return self.store.fenced(fence)

    def _lost_lease(self, name: str, exc: FencingRejected) -> None:
        if self.leases is not None:
            self.leases.rejected(name)
        log.warning("fencing_rejected source=%s error=%s", name, exc)

    def _observe(self, report: CycleReport) -> None:
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
                on_result=self.metrics.observe_delivery,
                claim_valid=self.claim_valid,
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
