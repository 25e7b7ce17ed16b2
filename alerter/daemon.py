"""The long-running daemon: one APScheduler job per source, outbox on its own schedule."""

from __future__ import annotations

import asyncio
import logging
import signal

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from alerter.app import App
from alerter.timeparse import parse_duration

log = logging.getLogger(__name__)


def trigger_for(schedule: str) -> IntervalTrigger | CronTrigger:
    """An interval (``"15m"``) or a 5-field cron expression, in UTC."""
    try:
        return IntervalTrigger(seconds=parse_duration(schedule).total_seconds(), jitter=5)
    except ValueError:
        return CronTrigger.from_crontab(schedule, timezone="UTC")


async def _serve(app: App) -> None:
    scheduler = AsyncIOScheduler(timezone="UTC")
    for name, cfg in app.config.sources.items():
        scheduler.add_job(
            app.run_cycle,
            trigger_for(cfg.schedule),
            args=[name],
            id=f"poll:{name}",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=300,
        )
    scheduler.add_job(
        app.deliver, IntervalTrigger(seconds=30), id="outbox", max_instances=1, coalesce=True
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    scheduler.start()
    for name in app.sources:
        await app.run_cycle(name)
    log.info("daemon_started sources=%d", len(app.sources))
    await stop.wait()
    scheduler.shutdown(wait=False)
    await app.aclose()
    log.info("daemon_stopped")


def run_daemon(app: App) -> int:
    asyncio.run(_serve(app))
    return 0
