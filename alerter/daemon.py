"""The long-running daemon: one APScheduler job per source, the outbox on its own schedule.

- Each source polls on its own ``schedule`` (an interval with jitter, or a cron
  expression), ``max_instances=1`` and ``coalesce``: a slow or failing source only
  delays itself. The first poll of every source runs at start.
- The outbox dispatchers, one per notifier, deliver every ``OUTBOX_INTERVAL`` seconds,
  and at once after a cycle wrote events; sends are blocking, so each dispatcher runs
  in its own thread off the event loop, and a stuck peer delays only its own items.
- SIGTERM / SIGINT: no new cycles; the in-flight cycles and deliveries get ``grace``
  seconds, then what is due is delivered once more, and the process exits 0. A second
  signal stops waiting. Undelivered items stay in the outbox for the next start.
- SIGHUP: the config and rules are loaded again with ``load_config`` (what ``validate``
  runs). An invalid set is rejected with its errors logged and the old one keeps
  running; a valid one replaces the App's config, sources, notifiers and jobs.
- ``/healthz`` and ``/metrics`` are served beside it (``alerter/server.py``).
- PostgreSQL state (``alerter/lease.py``): every replica schedules every source, but a
  poll runs only under the source's lease; a ``leases`` job every third of the TTL
  renews held leases, takes expired ones and polls a newly taken source at once. The
  outbox is dispatched at least every TTL (any replica delivers what it claims), and a
  clean stop releases the leases.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Coroutine
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from alerter.app import App
from alerter.clock import SystemClock
from alerter.config import Config, load_config
from alerter.errors import AlerterError
from alerter.jobs import (
    SharedHandlers,
    apply_log_settings,
    install_redaction,
    misfire_grace,
    off_loop,
    trigger_for,
)
from alerter.notify.interactive import SocketModeRunner, start_interactions
from alerter.notify.outbox import DeliveryReport, fail_unconfigured
from alerter.server import Health, HttpServer, health
from alerter.sources.base import Source
from alerter.web import WebUI

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 20.0
"""Seconds SIGTERM waits for in-flight cycles and deliveries (keep below the stop timeout)."""
SOCKET_CLOSE_WAIT = 10.0
"""Seconds a Socket Mode connection may take to close before the daemon goes on without it."""
OUTBOX_INTERVAL = 30.0
"""Seconds between two outbox dispatches when no cycle wakes it earlier."""


class Daemon:
    """Runs one App until told to stop; see the module docstring.

    Its outbox dispatcher delivers, so the App is built with ``deliver_in_cycle=False``.
    """

    def __init__(
        self,
        app: App,
        *,
        grace: float = SHUTDOWN_GRACE,
        outbox_interval: float = OUTBOX_INTERVAL,
        serve_http: bool | None = None,
    ) -> None:
        self.app = app
        self.grace = grace
        self.outbox_interval = outbox_interval
        if app.leases is not None:
            # claims of a replica that died are picked up by the others soon after they lapse
            self.outbox_interval = min(outbox_interval, app.leases.ttl)
        self.serve_http = app.config.alerter.http.enabled if serve_http is None else serve_http
        self.started_at = app.clock.now()
        self.metrics = app.metrics
        self.scheduler: AsyncIOScheduler | None = None
        self.http: HttpServer | None = None
        self.inflight: dict[str, asyncio.Task[object]] = {}
        self._delivering: dict[str, asyncio.Task[DeliveryReport]] = {}
        self._deliver_again: set[str] = set()
        self._stop: asyncio.Event | None = None
        self._force = False
        self._background: set[asyncio.Task[object]] = set()
        self._scheduler_log: SharedHandlers | None = None
        self._threads = 0
        self._threads_lock = threading.Lock()
        self.interactions: list[SocketModeRunner] = []
        self._interactions_lock = asyncio.Lock()
        """One restart or close of the Socket Mode connections at a time."""
        self.socket_close_wait = SOCKET_CLOSE_WAIT
        self._restarts: set[asyncio.Future[None]] = set()

    # -- jobs ------------------------------------------------------------------------
    async def poll(self, name: str) -> None:
        """One scheduled cycle of ``name``; never raises."""
        if self._stopping() or name not in self.app.sources:
            return
        task = asyncio.current_task()
        assert task is not None
        self.inflight[name] = task
        try:
            report = await self.app.run_cycle(name)
        except asyncio.CancelledError:  # shutdown grace over: the next start re-fetches
            log.warning("cycle_cancelled source=%s", name)
            return
        except Exception:  # a bug in one source must not stop the scheduler
            log.exception("cycle_crashed source=%s", name)
            return
        finally:
            if self.inflight.get(name) is task:
                del self.inflight[name]
        if report.events:
            self.wake_outbox()

    async def dispatch(self) -> None:
        """Start delivering what the outbox holds: one dispatcher per notifier, each off the
        loop, so a stuck peer delays only its own items. Does not wait for them (the
        next interval or cycle asks a running dispatcher for another round)."""
        if self.app.dry_run:
            return
        try:
            await off_loop(lambda: fail_unconfigured(self.app.store, self.app.notifiers))
        except Exception:
            log.exception("dispatch_crashed notifier=*")
        if self._stopping():
            return
        for name in list(self.app.notifiers):
            self._dispatch_notifier(name)

    def _dispatch_notifier(self, name: str) -> asyncio.Task[DeliveryReport] | None:
        """Start ``name``'s dispatcher, or ask the running one for another round."""
        if name in self._delivering:
            self._deliver_again.add(name)
            return None
        task = asyncio.ensure_future(self._dispatch_loop(name))
        self._delivering[name] = task
        task.add_done_callback(lambda _t: self._delivering.pop(name, None))
        return task

    async def _dispatch_loop(self, name: str) -> DeliveryReport:
        total = DeliveryReport()
        while True:
            self._deliver_again.discard(name)
            try:
                report = await off_loop(lambda: self._deliver(name), f"alerter-deliver-{name}")
            except Exception:
                log.exception("dispatch_crashed notifier=%s", name)
                break
            total = DeliveryReport(
                total.sent + report.sent,
                total.retried + report.retried,
                total.failed + report.failed,
            )
            if name not in self._deliver_again or self._stopping():
                break
        return total

    def _deliver(self, only: str | None = None) -> DeliveryReport:
        """``App.deliver`` in a worker thread, counted so shutdown knows if one still runs."""
        with self._threads_lock:
            self._threads += 1
        try:
            return self.app.deliver(only=only)
        finally:
            with self._threads_lock:
                self._threads -= 1

    async def watch_leases(self) -> None:
        """Renew held leases, take expired ones, and poll a newly taken source at once."""
        leases = self.app.leases
        if leases is None or self._stopping():
            return
        sources = list(self.app.config.sources)
        try:
            taken = await off_loop(lambda: leases.watch(sources), "alerter-leases")
        except Exception:
            log.exception("lease_watch_crashed")
            return
        for name in taken:
            if name not in self.inflight and not self._stopping():
                self._spawn(self.poll(name))

    def wake_outbox(self) -> None:
        """Deliver soon (after a cycle enqueued events) instead of at the next interval."""
        if not self._stopping():
            self._spawn(self.dispatch())

    def _spawn(self, coro: Coroutine[object, object, object]) -> None:
        task: asyncio.Task[object] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    # -- scheduling ------------------------------------------------------------------
    def _schedule_source(self, scheduler: AsyncIOScheduler, name: str, first: bool) -> None:
        schedule = self.app.config.sources[name].schedule
        scheduler.add_job(
            self.poll,
            trigger_for(schedule),
            args=[name],
            id=f"poll:{name}",
            name=f"poll {name}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=misfire_grace(schedule),
            replace_existing=True,
            # APScheduler runs on the wall clock, whatever clock the App was given
            **({"next_run_time": SystemClock().now()} if first else {}),
        )

    def _start_scheduler(self) -> AsyncIOScheduler:
        scheduler = AsyncIOScheduler(timezone="UTC")
        for name in self.app.config.sources:
            self._schedule_source(scheduler, name, first=True)
        scheduler.add_job(
            self.dispatch,
            IntervalTrigger(seconds=self.outbox_interval, timezone="UTC"),
            id="outbox",
            name="outbox dispatcher",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(self.outbox_interval)),
        )
        if self.app.leases is not None:
            every = max(0.2, self.app.leases.ttl / 3)
            scheduler.add_job(
                self.watch_leases,
                IntervalTrigger(seconds=every, timezone="UTC"),
                id="leases",
                name="lease watch",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=max(1, int(every)),
            )
        scheduler.start()
        return scheduler

    # -- reload ----------------------------------------------------------------------
    async def reload(self) -> bool:
        """Load the config again; swap it in if valid, else log why and keep the old one."""
        path = self.app.config.path
        log.info("reload_started config=%s", path)
        try:
            config = await asyncio.to_thread(load_config, path)
            fresh = App(
                config,
                clock=self.app.clock,
                env=self.app.env,
                store=self.app.store,
                dry_run=self.app.dry_run,
                out=self.app.out,
                metrics=self.metrics,
                deliver_in_cycle=False,
            )
        except AlerterError as exc:
            self.metrics.observe_reload(False)
            log.error("reload_rejected config=%s error=%s", path, str(exc).replace("\n", " | "))
            return False
        except Exception as exc:  # e.g. a plug-in constructor bug: keep running
            self.metrics.observe_reload(False)
            log.exception("reload_rejected config=%s error=%s", path, type(exc).__name__)
            return False
        old_config, old_sources = self.app.config, self.app.sources
        try:  # logging first: the one step that could still fail
            apply_log_settings(config, old_config, self.app.env, self._scheduler_log)
        except ValueError as exc:
            self.metrics.observe_reload(False)
            log.error("reload_rejected config=%s error=%s", path, f"log settings: {exc}")
            return False
        self.app.config = config
        self.app.sources = fresh.sources
        self.app.notifiers = fresh.notifiers
        if self.scheduler is not None:
            self._reschedule(self.scheduler, old_config, config)
            # new allowed_users, tokens, channels; not a cancellable background task: a
            # restart cut off while connecting would leave its connections open
            restart = asyncio.ensure_future(self._restart_interactions())
            self._restarts.add(restart)
            restart.add_done_callback(self._restarts.discard)
        for name, source in old_sources.items():
            self._close_later(name, source)
        if config.alerter.http != old_config.alerter.http:
            log.warning("reload_http_unchanged reason=restart_needed_for_http_address")
        self.metrics.observe_reload(True)
        log.info(
            "reload_applied config=%s sources=%d notifiers=%d rules=%d",
            path,
            len(config.sources),
            len(config.notifiers),
            len(config.rules),
        )
        return True

    async def _reload_logged(self) -> None:
        """``reload`` from SIGHUP: whatever goes wrong is logged, never left unretrieved."""
        try:
            await self.reload()
        except Exception as exc:
            log.exception(
                "reload_rejected config=%s error=%s", self.app.config.path, type(exc).__name__
            )

    async def _restart_interactions(self) -> None:
        """Socket Mode for the reloaded notifiers: close the old connections, open new ones.

        Serialised with ``_close_interactions`` (and never cancelled): a stop requested
        while a reload's connections are opening closes them once they are open, instead
        of missing them (they would keep their threads and sockets after the daemon stopped).
        """
        async with self._interactions_lock:
            await self._close_runners()
            if self._stopping() or self.app.dry_run:
                return
            self.interactions = await off_loop(
                lambda: start_interactions(
                    self.app.notifiers, self.app.store, self.app.clock, self.app.env
                ),
                "alerter-socket-mode",
            )
            if self._stopping():  # stop requested while connecting
                await self._close_runners()

    async def _close_interactions(self) -> None:
        async with self._interactions_lock:
            await self._close_runners()

    async def _close_runners(self) -> None:
        old, self.interactions = self.interactions, []
        for runner in old:  # closing joins the client's threads: off the loop, and bounded
            try:
                await asyncio.wait_for(
                    off_loop(runner.close, "alerter-socket-mode-close"), self.socket_close_wait
                )
            except TimeoutError:
                # slack-sdk's close joins its session thread without a timeout; when that
                # thread watches a superseded connection state it never returns. Its
                # threads are daemon threads: leave them, so a reload still reconnects
                # and a stop still stops
                log.warning(
                    "slack.socket_mode_close_slow notifier=%s waited_s=%g",
                    runner.interactions.notifier.name,
                    self.socket_close_wait,
                )
            except Exception:
                name = runner.interactions.notifier.name
                log.exception("slack.socket_mode_close_failed notifier=%s", name)

    def _reschedule(self, scheduler: AsyncIOScheduler, old: Config, new: Config) -> None:
        for name in old.sources:
            if name not in new.sources:
                scheduler.remove_job(f"poll:{name}")
        for name, cfg in new.sources.items():
            before = old.sources.get(name)
            if before is None:
                self._schedule_source(scheduler, name, first=True)
            elif before.schedule != cfg.schedule:
                self._schedule_source(scheduler, name, first=False)

    def _close_later(self, name: str, source: Source) -> None:
        """Close a replaced source once its in-flight cycle (if any) is over."""
        task = self.inflight.get(name)

        async def close() -> None:
            if task is not None:
                await asyncio.wait([task])
            try:
                await source.aclose()
            except Exception:
                log.exception("source_close_failed source=%s", name)

        self._spawn(close())

    # -- lifecycle -------------------------------------------------------------------
    def _health(self) -> Health:
        return health(self.app, self.app.clock.now(), self.started_at)

    def request_stop(self, signame: str) -> None:
        assert self._stop is not None
        if self._stop.is_set():
            log.warning("daemon_stop_forced signal=%s", signame)
            self._force = True
            for task in [*self.inflight.values(), *self._background, *self._delivering.values()]:
                task.cancel()
            return
        log.info("daemon_stopping signal=%s inflight=%d", signame, len(self.inflight))
        self._stop.set()

    async def serve(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit code."""
        self._stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        install_redaction(self.app.config, self.app.env)
        self._scheduler_log = scheduler_log = SharedHandlers("apscheduler", logging.WARNING)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop, sig.name)
        loop.add_signal_handler(signal.SIGHUP, lambda: self._spawn(self._reload_logged()))
        try:
            if self.serve_http:
                self.http = self._start_http()
            self.scheduler = self._start_scheduler()
            await self._restart_interactions()  # Slack buttons (notify/interactive.py)
            log.info(
                "daemon_started sources=%d notifiers=%d rules=%d http=%s",
                len(self.app.sources),
                len(self.app.notifiers),
                len(self.app.config.rules),
                f"{self.http.host}:{self.http.port}" if self.http else "off",
            )
            await self._stop.wait()
            await self._drain()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            await self._close()
            scheduler_log.restore()
        log.info("daemon_stopped")
        return 0

    def _start_http(self) -> HttpServer:
        cfg = self.app.config.alerter.http
        ui = WebUI(self.app).handle if cfg.ui else None
        server = HttpServer(
            cfg.host, cfg.port, health=self._health, metrics=self.metrics.render, ui=ui
        )
        try:
            return server.start()
        except OSError as exc:
            raise AlerterError(
                f"cannot listen on {cfg.host}:{cfg.port} for /healthz and /metrics: "
                f"{exc.strerror or exc}"
            ) from None

    async def _drain(self) -> None:
        """Let in-flight work finish within the grace period, then deliver what is due."""
        if self.scheduler is not None:
            # pause, not shut down: shutting down cancels the coroutine jobs in flight
            self.scheduler.pause()
        deadline = asyncio.get_running_loop().time() + self.grace

        def left() -> float:
            return max(0.0, deadline - asyncio.get_running_loop().time())

        busy: list[asyncio.Future[Any]] = [
            *self.inflight.values(),
            *self._background,
            *self._delivering.values(),
        ]
        if busy:
            _, pending = await asyncio.wait(busy, timeout=left())
            for task in pending:
                task.cancel()
            if pending:
                log.warning("shutdown_cancelled tasks=%d reason=grace_expired", len(pending))
                await asyncio.wait(pending, timeout=1.0)

        if self.app.dry_run or self._force or left() <= 0:
            return
        try:
            report = await asyncio.wait_for(off_loop(self._deliver, "alerter-final"), left())
        except TimeoutError:
            log.warning("shutdown_delivery_unfinished reason=grace_expired")
            self._force = True
        except Exception:  # what is undelivered stays in the outbox for the next start
            log.exception("shutdown_delivery_crashed")
        else:
            log.info(
                "shutdown_delivered sent=%d retried=%d failed=%d",
                report.sent,
                report.retried,
                report.failed,
            )

    async def _close(self) -> None:
        await self._close_interactions()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=False)
            self.scheduler = None
        if self.http is not None:
            self.http.stop()
            self.http = None
        with self._threads_lock:
            sending = self._threads
        if self.app.leases is not None:
            # a clean stop hands the sources over now instead of after the TTL
            await off_loop(self.app.leases.release_all, "alerter-leases")
            self.app.leases.close()
        if self._force or sending:
            # a send may still run in its thread: the store is left to the process exit
            log.warning("store_left_open reason=work_may_still_be_running threads=%d", sending)
            return
        for name, source in self.app.sources.items():
            try:
                await source.aclose()
            except Exception:
                log.exception("source_close_failed source=%s", name)
        self.app.store.close()


def run_daemon(app: App, *, grace: float = SHUTDOWN_GRACE) -> int:
    """Run ``app`` as a daemon until SIGTERM/SIGINT; returns the exit code (0)."""
    return asyncio.run(Daemon(app, grace=grace).serve())
