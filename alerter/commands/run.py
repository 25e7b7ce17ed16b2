"""``alerter run``: the daemon, or one cycle of every source with ``--once``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from alerter.commands.common import UsageError, _env, _open_state

if TYPE_CHECKING:
    from alerter.app import App
    from alerter.config import Config
    from alerter.cycle import CycleReport

log = logging.getLogger("alerter")


def _run(config: Config, args: argparse.Namespace) -> int:
    from alerter.app import App
    from alerter.notify.dryrun import DryRunSink
    from alerter.preflight import unknown_dimensions, unset_env

    if args.out and not args.dry_run:
        raise UsageError("--out DIR needs --dry-run")
    for problem in unknown_dimensions(config) + unset_env(config, _env()):
        log.warning("config_warning problem=%s", problem)
    from alerter.store.postgres import is_postgres_url

    # a replica opens its own PostgreSQL store (its replica id, claim TTL): App does that
    shared = is_postgres_url(config.alerter.state)
    store = None if shared else _open_state(config, lock=True)
    sink = DryRunSink(sys.stdout, Path(args.out) if args.out else None) if args.dry_run else None
    app = App(
        config, dry_run=args.dry_run, store=store, dry_run_sink=sink, deliver_in_cycle=args.once
    )
    if not args.once:
        from alerter.daemon import run_daemon

        return run_daemon(app)
    reports = asyncio.run(_run_once(app))
    if sink is not None and sink.count == 0:
        print("nothing to send")
    return _once_exit(reports)


async def _run_once(app: App) -> list[CycleReport]:
    from alerter.progress import Progress

    first = [n for n in app.sources if not _backfilled(app, n)]
    reports = []
    try:
        with Progress("backfill", len(app.sources), enabled=bool(first)) as bar:
            for name in app.sources:
                bar.step(f"{name}: {'backfill' if name in first else 'poll'}")
                reports.append(await app.run_cycle(name))
        return reports
    finally:
        await app.aclose()


def _backfilled(app: App, name: str) -> bool:
    return any(s.source == name and s.backfilled for s in app.store.poll_status())


def _once_exit(reports: list[CycleReport]) -> int:
    """1 when a source could not be polled or a notification was left undelivered."""
    code = 0
    for r in reports:
        if not r.ok:
            print(f"alerter: source {r.source}: poll failed", file=sys.stderr)
            code = 1
        elif r.points == 0 and not r.errors and r.unchanged_files:
            log.info("poll_unchanged source=%s files=%d", r.source, r.unchanged_files)
        elif r.points == 0 and not r.errors:
            log.warning("poll_empty source=%s reason=no_rows_in_the_fetched_range", r.source)
        d = r.delivery
        if d is not None and (d.failed or d.retried):
            print(
                f"alerter: source {r.source}: {d.failed + d.retried} notification(s) not "
                f"delivered ({d.failed} failed, {d.retried} to retry; see alerter status)",
                file=sys.stderr,
            )
            code = 1
    return code
