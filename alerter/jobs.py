"""What the daemon runs its work with: APScheduler triggers for source schedules, blocking
calls off the event loop in daemon threads, and third-party loggers (APScheduler) writing
through alerter's handlers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from typing import TypeVar

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from alerter.config import Config, secret_values
from alerter.logs import RedactFilter, configure, set_secrets
from alerter.timeparse import parse_duration

T = TypeVar("T")

MAX_JITTER = 30.0
MAX_MISFIRE_GRACE = 300


def trigger_for(schedule: str) -> IntervalTrigger | CronTrigger:
    """An interval (``"15m"``, jittered by up to 5% and at most 30 s) or a 5-field cron
    expression, in UTC. Raises ``ValueError`` for neither."""
    try:
        seconds = parse_duration(schedule).total_seconds()
    except ValueError:
        return CronTrigger.from_crontab(schedule, timezone="UTC")
    jitter = min(MAX_JITTER, seconds * 0.05)
    return IntervalTrigger(seconds=seconds, jitter=int(jitter) or None, timezone="UTC")


def misfire_grace(schedule: str) -> int:
    """How late a poll may still start: half an interval, at most five minutes."""
    try:
        seconds = parse_duration(schedule).total_seconds()
    except ValueError:
        seconds = 3600.0
    return max(1, min(MAX_MISFIRE_GRACE, int(seconds / 2)))


async def off_loop(fn: Callable[[], T], name: str = "alerter-worker") -> T:
    """Run blocking ``fn`` in a daemon thread and await its result.

    A daemon thread, not the default executor, so a send stuck past the shutdown grace
    never holds the process open (the outbox repeats at most that one message).
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def done(result: T) -> None:
        if not future.done():
            future.set_result(result)

    def failed(error: BaseException) -> None:
        if not future.done():
            future.set_exception(error)

    def run() -> None:
        try:
            result = fn()
        except BaseException as exc:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(failed, exc)
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(done, result)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await future


def install_redaction(config: Config, env: Mapping[str, str]) -> RedactFilter:
    """Put a fresh redaction filter (this config's secrets) on every alerter handler."""
    return set_secrets(secret_values(config, env))


class SharedHandlers:
    """A logger temporarily writing through alerter's handlers (same format, redaction)."""

    def __init__(self, name: str, level: int) -> None:
        self.logger = logging.getLogger(name)
        self.saved = (self.logger.handlers[:], self.logger.level, self.logger.propagate)
        self.refresh()
        self.logger.setLevel(level)
        self.logger.propagate = False

    def refresh(self) -> None:
        """Follow alerter's handlers again (after a reload reconfigured logging)."""
        self.logger.handlers[:] = logging.getLogger("alerter").handlers

    def restore(self) -> None:
        handlers, level, propagate = self.saved
        self.logger.handlers[:] = handlers
        self.logger.setLevel(level)
        self.logger.propagate = propagate


def apply_log_settings(
    new: Config, old: Config, env: Mapping[str, str], shared: SharedHandlers | None
) -> None:
    """Logging for a reloaded config: reconfigured when its level or format changed (raises
    ``ValueError`` before touching a handler; a redaction filter is always kept), else
    only the secrets to redact are refreshed."""
    secrets = secret_values(new, env)
    if (new.alerter.log_level, new.alerter.log_format) == (
        old.alerter.log_level,
        old.alerter.log_format,
    ):
        set_secrets(secrets)
        return
    configure(new.alerter.log_level, new.alerter.log_format, secrets=secrets)
    if shared is not None:
        shared.refresh()
