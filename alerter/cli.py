"""Command line: argument parsing only; the work is in app, backtest and the store."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from alerter import __version__
from alerter.errors import AlerterError, ConfigError, StateInUse

if TYPE_CHECKING:
    from alerter.config import Config
    from alerter.store.sqlite import SqliteStore

log = logging.getLogger("alerter")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alerter", description="Cost anomaly alerting.")
    parser.add_argument("--version", action="version", version=f"alerter {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", "-c", default="config.example.toml", help="TOML config file")
        return p

    with_config(sub.add_parser("validate", help="check the config and every rule file"))
    run = with_config(sub.add_parser("run", help="run the daemon (or one cycle with --once)"))
    run.add_argument("--once", action="store_true", help="one cycle of every source, then exit")
    run.add_argument("--dry-run", action="store_true", help="print notifications, send nothing")
    bt = with_config(sub.add_parser("backtest", help="what the rules would have sent"))
    bt.add_argument("--rule", help="only this rule")
    bt.add_argument("--since", help="RFC 3339 start (default: until minus the source backfill)")
    bt.add_argument("--until", help="RFC 3339 end (default: now)")
    bt.add_argument("--json", action="store_true", help="JSON lines, the file notifier's fields")
    ex = with_config(sub.add_parser("explain", help="why a window was or was not flagged"))
    ex.add_argument("--rule", required=True)
    ex.add_argument("--group", nargs="*", default=[], metavar="K=V", help="the group's dimensions")
    ex.add_argument("--at", required=True, help="RFC 3339 time inside the window")
    st = with_config(sub.add_parser("status", help="polls, open incidents, silences, outbox"))
    st.add_argument("--json", action="store_true")
    se = with_config(sub.add_parser("series", help="stored spend per window and group"))
    se.add_argument("--source", required=True, help="the source's name in the config")
    se.add_argument("--group-by", nargs="*", default=[], metavar="DIM", help="sum per these")
    se.add_argument("--since", help="RFC 3339 start (default: everything stored)")
    se.add_argument("--until", help="RFC 3339 end (default: everything stored)")
    se.add_argument("--json", action="store_true", help="JSON lines")
    sil = sub.add_parser("silence", help="manage silences")
    sil_sub = sil.add_subparsers(dest="action", required=True)
    add = with_config(sil_sub.add_parser("add", help="mute a rule and/or dimensions"))
    add.add_argument("--rule", help="rule name or glob (default: every rule)")
    add.add_argument("matchers", nargs="*", metavar="DIM=GLOB", help="dimension matchers")
    add.add_argument("--for", dest="duration", default="2h", help='how long, e.g. "2h", "7d"')
    add.add_argument("--comment", default="")
    add.add_argument("--by", default="", help="who is silencing")
    with_config(sil_sub.add_parser("list", help="active silences"))
    rm = with_config(sil_sub.add_parser("remove", help="delete a silence"))
    rm.add_argument("id", type=int)
    return parser


def _open_state(config: Config) -> SqliteStore:
    """The configured state file (the same path the daemon uses)."""
    from alerter.store.sqlite import SqliteStore, sqlite_path

    return SqliteStore(sqlite_path(config.alerter.state, config.base_dir), lock=False)


def _setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    from alerter.logs import configure

    configure(level, fmt)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        print(f"alerter: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    except StateInUse as exc:
        print(f"alerter: {exc}", file=sys.stderr)
        return 2
    except AlerterError as exc:
        print(f"alerter: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    from alerter.config import load_config

    config = load_config(args.config)
    _setup_logging(config.alerter.log_level, config.alerter.log_format)
    if args.command == "validate":
        print(
            f"{args.config}: ok ({len(config.sources)} source(s), {len(config.notifiers)} "
            f"notifier(s), {len(config.rules)} rule(s))"
        )
        return 0
    if args.command == "run":
        return _run(config, once=args.once, dry_run=args.dry_run)
    if args.command == "backtest":
        return _backtest(config, args)
    if args.command == "explain":
        return _explain(config, args)
    if args.command == "status":
        return _status(config, as_json=args.json)
    if args.command == "silence":
        return _silence(config, args)
    if args.command == "series":
        return _series(config, args)
    raise AssertionError(args.command)


def _run(config, *, once: bool, dry_run: bool) -> int:  # type: ignore[no-untyped-def]
    from alerter.app import App

    app = App(config, dry_run=dry_run)
    if once:

        async def one() -> list:  # type: ignore[type-arg]
            try:
                return await app.run_once()
            finally:
                await app.aclose()

        reports = asyncio.run(one())
        failed = [r for r in reports if not r.ok]
        return 1 if failed and len(failed) == len(reports) else 0
    from alerter.daemon import run_daemon

    return run_daemon(app)


def _backtest(config, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from alerter.backtest import run_backtest
    from alerter.notify.file import record_line
    from alerter.notify.render.text import render_text
    from alerter.timeparse import parse_time

    now = datetime.now(UTC)
    until = parse_time(args.until) if args.until else now
    if args.since:
        since = parse_time(args.since)
    else:
        backfill = max((s.backfill for s in config.sources.values()), default=timedelta(days=28))
        since = until - backfill
    if since >= until:
        raise ConfigError(f"--since {args.since} is not before --until {args.until}")
    state = _open_state(config)
    try:
        result = run_backtest(
            config, since=since, until=until, rule=args.rule, state=state, clock_now=now
        )
    finally:
        state.close()
    for event in result.events:
        print(record_line(event) if args.json else render_text(event) + "\n")
    if not args.json:
        print("alerts per week (new incidents):")
        rates = result.per_rule_weekly()
        for rule in sorted({r.name for r in config.rules if r.enabled}):
            print(f"  {rule}: {rates.get(rule, 0.0):.2f}")
    return 0


def _explain(config, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from alerter.explain import explain
    from alerter.timeparse import parse_time

    group = {}
    for item in args.group:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--group {item!r}: expected K=V")
        group[name] = value
    try:
        at = parse_time(args.at)
    except ValueError as exc:
        raise ConfigError(f"--at: {exc}") from None
    state = _open_state(config)
    try:
        result = explain(
            config, rule=args.rule, group=group, at=at, state=state, clock_now=datetime.now(UTC)
        )
    finally:
        state.close()
    print(result.render())
    return 0


def _status(config, *, as_json: bool) -> int:  # type: ignore[no-untyped-def]

    store = _open_state(config)
    now = datetime.now(UTC)
    try:
        polls = store.poll_status()
        incidents = store.incidents("open")
        silences = store.silences(now)
        pending = store.outbox_items("pending")
        failed = store.outbox_items("failed")
    finally:
        store.close()
    sources = [
        {
            "source": p.source,
            "last_success_at": p.last_success_at.isoformat() if p.last_success_at else None,
            "last_attempt_at": p.last_attempt_at.isoformat() if p.last_attempt_at else None,
            "last_error": p.last_error,
            "points": p.points,
        }
        for p in polls
    ]
    open_incidents = [
        {
            "id": i.id,
            "rule": i.rule,
            "group": dict(i.group),
            "since": i.opened_at.isoformat(),
            "observed": str(i.observed),
            "expected": str(i.expected),
        }
        for i in incidents
    ]
    data = {
        "sources": sources,
        "open_incidents": open_incidents,
        "silences": [
            {"id": s.id, "rule": s.rule, "matchers": s.matchers, "until": s.ends_at.isoformat()}
            for s in silences
        ],
        "outbox": {"pending": len(pending), "failed": len(failed)},
    }
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    print("sources:")
    for s in sources:
        print(f"  {s['source']}: last success {s['last_success_at']}, last error {s['last_error']}")
    print(f"open incidents: {len(incidents)}")
    for i in open_incidents:
        print(f"  #{i['id']} {i['rule']} {i['group']} since {i['since']}")
    print(f"active silences: {len(silences)}")
    print(f"outbox: {len(pending)} pending, {len(failed)} failed")
    return 0


def _series(config, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from alerter.series import EARLIEST, LATEST, render_table, sum_series
    from alerter.timeparse import parse_time

    if args.source not in config.sources:
        raise ConfigError(
            f"--source {args.source!r}: no such source (have: {', '.join(config.sources)})"
        )
    try:
        since = parse_time(args.since) if args.since else EARLIEST
        until = parse_time(args.until) if args.until else LATEST
    except ValueError as exc:
        raise ConfigError(f"--since/--until: {exc}") from None
    state = _open_state(config)
    try:
        rows = sum_series(state.load_points(args.source, since, until), args.group_by)
    finally:
        state.close()
    for line in (r.as_json() for r in rows) if args.json else render_table(rows):
        print(line)
    return 0


def _silence(config, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from alerter.timeparse import parse_duration

    store = _open_state(config)
    now = datetime.now(UTC)
    try:
        if args.action == "add":
            matchers = {}
            for item in args.matchers:
                name, sep, pattern = item.partition("=")
                if not sep or not name:
                    raise ConfigError(f"silence matcher {item!r}: expected DIM=GLOB")
                matchers[name] = pattern
            try:
                duration = parse_duration(args.duration)
            except ValueError as exc:
                raise ConfigError(f"--for: {exc}") from None
            if args.rule is None and not matchers:
                raise ConfigError("silence add: give --rule and/or at least one DIM=GLOB matcher")
            sid = store.add_silence(args.rule, matchers, now, now + duration, args.comment, args.by)
            print(f"silence {sid} added until {(now + duration).isoformat()}")
        elif args.action == "list":
            for s in store.silences(now):
                print(
                    f"{s.id}\trule={s.rule or '*'}\t{s.matchers}\tuntil {s.ends_at.isoformat()}\t{s.comment}"
                )
        elif args.action == "remove":
            if not store.remove_silence(args.id):
                print(f"no silence {args.id}", file=sys.stderr)
                return 1
            print(f"silence {args.id} removed")
    finally:
        store.close()
    return 0
