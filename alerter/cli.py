"""Command line: argument parsing and output; the work is in app, backtest and the store.

Exit codes: 0 ok; 1 a runtime failure (a source that could not be polled, a
notification not delivered by ``run --once``, a test notification refused); 2 a usage
or configuration error (bad arguments, invalid config or rules, unusable state path).
Errors are one line each on stderr; logs go to stderr, alerts and tables to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from alerter import __version__
from alerter.errors import AlerterError, ConfigError, StateInUse
from alerter.store.actions import actions_of

if TYPE_CHECKING:
    from alerter.app import App
    from alerter.config import Config
    from alerter.cycle import CycleReport
    from alerter.rules.model import RuleBase
    from alerter.store.leases import LeaseRow
    from alerter.store.postgres import PostgresStore
    from alerter.store.sqlite import SqliteStore

log = logging.getLogger("alerter")

EPILOG = """\
--config defaults to $ALERTER_CONFIG, else ./alerter.toml.
exit codes: 0 ok, 1 runtime failure (a source could not be polled, a notification was
not delivered), 2 usage or configuration error."""


class UsageError(AlerterError):
    """A command-line argument is wrong (exit 2, one line)."""


class _Help(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's lines; adds ``(default: X)`` where a default means something and
    the help does not already say it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        meaningful = default not in (None, False, "", [], argparse.SUPPRESS)
        if meaningful and "default" not in text and "$ALERTER_CONFIG" not in text:
            text += " (default: %(default)s)"
        return text


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage mistake in one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _now() -> datetime:
    """The process's clock (``ALERTER_CLOCK_START`` pins it for replays and tests)."""
    from alerter.clock import clock_from_env

    return clock_from_env(os.environ).now()


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="alerter",
        description="Cost anomaly alerting: poll billing data, judge it, notify people.",
        epilog=EPILOG,
        formatter_class=_Help,
    )
    parser.add_argument("--version", action="version", version=f"alerter {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    default_config = os.environ.get("ALERTER_CONFIG") or "alerter.toml"

    def command(parent: Any, name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = parent.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EPILOG,
            formatter_class=_Help,
        )
        p.add_argument(
            "--config",
            "-c",
            default=default_config,
            help="TOML config file ($ALERTER_CONFIG, else ./alerter.toml)",
        )
        return p

    command(sub, "validate", "check the config, every rule file and the environment")
    run = command(sub, "run", "run the daemon (or one cycle of every source with --once)")
    run.add_argument("--once", action="store_true", help="one cycle of every source, then exit")
    run.add_argument(
        "--dry-run", action="store_true", help="render notifications, send and store nothing"
    )
    run.add_argument(
        "--out",
        metavar="DIR",
        help="with --dry-run: write each rendered message (and its chart PNG) into DIR",
    )
    bt = command(sub, "backtest", "what the rules would have sent over a past period")
    bt.add_argument("--rule", help="only this rule (default: every enabled rule)")
    bt.add_argument(
        "--since", help="RFC 3339 start, e.g. 2026-09-01T00:00:00Z (default: until - backfill)"
    )
    bt.add_argument("--until", help="RFC 3339 end, e.g. 2026-10-01T00:00:00Z (default: now)")
    bt.add_argument("--json", action="store_true", help="JSON lines, the file notifier's fields")
    bt.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report")
    tu = command(sub, "tune", "replay a rule at several noise budgets and propose one")
    tu.add_argument("--rule", required=True, help="the rule to tune")
    tu.add_argument(
        "--budget", action="append", help='a candidate max_alerts, e.g. "1/month" (repeatable)'
    )
    tu.add_argument("--since", help="RFC 3339 start (default: as for backtest)")
    tu.add_argument("--until", help="RFC 3339 end (default: as for backtest)")
    ex = command(sub, "explain", "why a window was or was not flagged")
    ex.add_argument("--rule", required=True, help="the rule to explain")
    ex.add_argument("--group", nargs="*", default=[], metavar="K=V", help="the group's dimensions")
    ex.add_argument("--at", required=True, help="RFC 3339 time inside the window")
    st = command(sub, "status", "polls, open incidents, silences and outbox, from the state file")
    st.add_argument("--json", action="store_true", help="one JSON object for scripts")
    se = command(sub, "series", "stored spend per window and group, to check against the bill")
    se.add_argument("--source", required=True, help="the source's name in the config")
    se.add_argument("--group-by", nargs="*", default=[], metavar="DIM", help="sum per these")
    se.add_argument("--since", help="RFC 3339 start (default: everything stored)")
    se.add_argument("--until", help="RFC 3339 end (default: everything stored)")
    se.add_argument("--json", action="store_true", help="JSON lines for scripts")
    sil = sub.add_parser("silence", help="manage silences", description="manage silences")
    sil_sub = sil.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = command(sil_sub, "add", "mute a rule and/or dimensions for a while")
    add.add_argument("--rule", help="rule name or glob (default: every rule)")
    add.add_argument("matchers", nargs="*", metavar="DIM=GLOB", help="dimension matchers")
    add.add_argument("--for", dest="duration", default="2h", help='how long, e.g. "2h", "7d"')
    add.add_argument("--comment", default="", help="why (shown in silence list)")
    add.add_argument("--by", default="", help="who is silencing")
    sl = command(sil_sub, "list", "active silences")
    sl.add_argument("--json", action="store_true", help="a JSON array for scripts")
    rm = command(sil_sub, "remove", "delete a silence")
    rm.add_argument("id", type=int, help="the silence id (from silence list)")
    tn = command(sub, "test-notify", "send a clearly marked sample incident through one notifier")
    tn.add_argument("name", help="the notifier's name ([notifiers.NAME])")
    cfg = sub.add_parser("config", help="inspect the configuration", description="config")
    cfg_sub = cfg.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = command(cfg_sub, "show", "the effective config after environment overrides")
    show.add_argument("--json", action="store_true", help="JSON instead of TOML")
    return parser


def _env() -> Mapping[str, str]:
    return os.environ


QUIET_COMMANDS = frozenset(
    {"validate", "backtest", "tune", "explain", "status", "silence", "config", "series"}
)
"""Commands that answer a question: their INFO lines (a state file migrated, ...) would
only bury the answer, so they log warnings and errors unless DEBUG is configured."""


def _setup_logging(config: Config, command: str) -> None:
    """Logs to stderr with every configured secret redacted (all entry points)."""
    from alerter.config import secret_values
    from alerter.logs import LEVELS, configure

    level = config.alerter.log_level
    if command in QUIET_COMMANDS and LEVELS.index(level) < LEVELS.index("WARNING"):
        level = "DEBUG" if level == "DEBUG" else "WARNING"
    configure(level, config.alerter.log_format, secrets=secret_values(config, _env()))


def _state_path(config: Config) -> str:
    from alerter.statepath import state_file

    return state_file(config.alerter.state, config.base_dir)


def _open_state(config: Config, *, lock: bool = False) -> SqliteStore | PostgresStore:
    """The configured state (the same file or database the daemon uses), checked first.

    ``lock``: take the one-process lock of a SQLite state (``run``); other commands read
    and add beside a running daemon."""
    from alerter.statepath import check_state_path
    from alerter.store.postgres import PostgresStore, is_postgres_url
    from alerter.store.sqlite import SqliteStore

    if is_postgres_url(config.alerter.state):
        return PostgresStore(config.alerter.state, holder="alerter-cli")
    path = _state_path(config)
    problem = check_state_path(path, create=True)
    if problem:
        raise ConfigError(problem)
    return SqliteStore(path, lock=lock)


def _leases(store: SqliteStore | PostgresStore) -> list[LeaseRow] | None:
    """Every source's lease (PostgreSQL state), or None (SQLite: one process, no leases)."""
    from alerter.store.postgres import PostgresStore

    if not isinstance(store, PostgresStore):
        return None
    lease_store = store.lease_store()
    try:
        return lease_store.leases()
    finally:
        lease_store.close()


def main(argv: Sequence[str] | None = None) -> int:
    """The ``alerter`` command; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except UsageError as exc:
        print(f"alerter: error: {exc}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        text = str(exc)
        head = "invalid configuration:\n" if "\n" in text else ""
        print(f"alerter: {head}{text}", file=sys.stderr)
        return 2
    except StateInUse as exc:
        print(f"alerter: {exc}", file=sys.stderr)
        return 2
    except AlerterError as exc:
        print(f"alerter: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        print(f"alerter: error:{where}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _load(args: argparse.Namespace) -> Config:
    from alerter.config import load_config

    path = Path(args.config)
    if not path.is_file():
        hint = ""
        if "ALERTER_CONFIG" not in os.environ and args.config == "alerter.toml":
            hint = " (give --config FILE or set ALERTER_CONFIG)"
        raise UsageError(f"config file {path} not found{hint}")
    return load_config(path)


def _dispatch(args: argparse.Namespace) -> int:
    config = _load(args)
    _setup_logging(config, args.command)
    if args.command == "validate":
        return _validate(config, args)
    if args.command == "run":
        return _run(config, args)
    if args.command == "backtest":
        return _backtest(config, args)
    if args.command == "tune":
        return _tune(config, args)
    if args.command == "explain":
        return _explain(config, args)
    if args.command == "status":
        return _status(config, as_json=args.json)
    if args.command == "silence":
        return _silence(config, args)
    if args.command == "series":
        return _series(config, args)
    if args.command == "test-notify":
        return _test_notify(config, args.name)
    if args.command == "config":
        return _config_show(config, as_json=args.json)
    raise AssertionError(args.command)


def _validate(config: Config, args: argparse.Namespace) -> int:
    from alerter.preflight import preflight
    from alerter.statepath import check_state_path

    problems = preflight(config, _env())
    state_problem = check_state_path(_state_path(config), create=False)
    if state_problem:
        problems.append(state_problem)
    if problems:
        raise ConfigError("\n".join(problems))
    print(
        f"{args.config}: ok ({len(config.sources)} source(s), {len(config.notifiers)} "
        f"notifier(s), {len(config.rules)} rule(s))"
    )
    return 0


# -- run ---------------------------------------------------------------------------------
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


# -- backtest / explain -----------------------------------------------------------------
def _time_arg(option: str, value: str) -> datetime:
    from alerter.timeparse import parse_time

    try:
        return parse_time(value)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc} (use e.g. 2026-09-01T00:00:00Z)") from None


def _backtest(config: Config, args: argparse.Namespace) -> int:
    from alerter.backtest import file_data_range, run_backtest
    from alerter.detect.budget import format_budget
    from alerter.notify.file import record_line
    from alerter.notify.render.text import render_text
    from alerter.progress import Progress
    from alerter.timeparse import format_time

    now = _now()
    chosen = _chosen_rules(config, args.rule)
    since, until = _replay_range(config, args, chosen, now)
    state = _open_state(config)
    try:
        with Progress("backtest", 1, enabled=until - since > timedelta(days=7)) as bar:
            bar.step(f"replaying {since:%Y-%m-%d} .. {until:%Y-%m-%d}")
            result = run_backtest(
                config, since=since, until=until, rule=args.rule, state=state, clock_now=now
            )
    finally:
        state.close()
    for event in result.events:
        print(record_line(event) if args.json else render_text(event) + "\n")
    if args.html:
        from alerter.report import write_html

        write_html(result, args.html)
    if not args.json:
        print(f"range {format_time(since)} .. {format_time(until)}")
        for name, covered in sorted(result.data.items()):
            if covered is None:
                held = file_data_range(config, [r for r in chosen if r.source == name], now)
                where = (
                    f"; its data covers {format_time(held[0])} .. {format_time(held[1])}"
                    if held
                    else ""
                )
                print(f"source {name}: no data in this range{where}")
        print("alerts per week (new incidents, over the span that holds data):")
        rates = result.per_rule_weekly()
        for rule in sorted(chosen, key=lambda r: r.name):
            line = f"  {rule.name}: {rates.get(rule.name, 0.0):.2f}"
            per_group, budget, kept = result.budget_report(rule)
            if budget is not None:
                verdict = "kept" if kept else "EXCEEDED"
                line += (
                    f" ({per_group:.3f} per group; budget {rule.max_alerts} = "
                    f"{format_budget(budget)}: {verdict})"
                )
            print(line)
    return 0


def _chosen_rules(config: Config, name: str | None) -> list[RuleBase]:
    """The enabled rules, or only ``name`` (a usage error naming the known ones if none)."""
    chosen = [r for r in config.rules if r.enabled and (not name or r.name == name)]
    if name and not chosen:
        known = ", ".join(sorted(r.name for r in config.rules))
        raise UsageError(f"--rule: no enabled rule named {name!r} (known: {known})")
    return chosen


def _replay_range(
    config: Config, args: argparse.Namespace, chosen: list[RuleBase], now: datetime
) -> tuple[datetime, datetime]:
    """``--since``/``--until``, defaulting to the file sources' own data range, else to
    the last backfill before now."""
    from alerter.backtest import file_data_range

    files = None if args.since and args.until else file_data_range(config, chosen, now)
    until = _time_arg("--until", args.until) if args.until else (files[1] if files else now)
    if args.since:
        since = _time_arg("--since", args.since)
    elif files:
        since = files[0]
    else:
        backfill = max((s.backfill for s in config.sources.values()), default=timedelta(days=28))
        since = until - backfill
    if since >= until:
        raise UsageError(f"--since {since.isoformat()} is not before --until {until.isoformat()}")
    return since, until


def _tune(config: Config, args: argparse.Namespace) -> int:
    from alerter.tune import DEFAULT_BUDGETS, tune_rule

    now = _now()
    chosen = _chosen_rules(config, args.rule)
    since, until = _replay_range(config, args, chosen, now)
    state = _open_state(config)
    try:
        result = tune_rule(
            config,
            args.rule,
            since=since,
            until=until,
            budgets=tuple(args.budget or DEFAULT_BUDGETS),
            state=state,
            clock_now=now,
        )
    finally:
        state.close()
    print(result.render())
    return 0


def _explain(config: Config, args: argparse.Namespace) -> int:
    from alerter.explain import explain

    group = {}
    for item in args.group:
        name, sep, value = item.partition("=")
        if not sep:
            raise UsageError(f"--group {item!r}: expected K=V")
        group[name] = value
    at = _time_arg("--at", args.at)
    state = _open_state(config)
    try:
        result = explain(config, rule=args.rule, group=group, at=at, state=state, clock_now=_now())
    finally:
        state.close()
    print(result.render())
    return 0


# -- status / series / silences ----------------------------------------------------------
def _series(config: Config, args: argparse.Namespace) -> int:
    from alerter.series import EARLIEST, LATEST, render_table, sum_series
    from alerter.timeparse import parse_time

    if args.source not in config.sources:
        raise UsageError(
            f"--source {args.source!r}: no such source (have: {', '.join(config.sources)})"
        )
    try:
        since = parse_time(args.since) if args.since else EARLIEST
        until = parse_time(args.until) if args.until else LATEST
    except ValueError as exc:
        raise UsageError(f"--since/--until: {exc}") from None
    state = _existing_state(config)
    if state is None:
        return 1
    try:
        rows = sum_series(state.load_points(args.source, since, until), args.group_by)
    finally:
        state.close()
    for line in (r.as_json() for r in rows) if args.json else render_table(rows):
        print(line)
    return 0


def _existing_state(config: Config) -> SqliteStore | PostgresStore | None:
    """The state file if it exists (status and listings never create one)."""
    from alerter.store.postgres import PostgresStore, is_postgres_url
    from alerter.store.sqlite import SqliteStore

    if is_postgres_url(config.alerter.state):
        return PostgresStore(config.alerter.state, holder="alerter-cli")
    path = _state_path(config)
    if path != ":memory:" and not Path(path).is_file():
        print(
            f"alerter: no state file at {path}: alerter has not run with this config yet",
            file=sys.stderr,
        )
        return None
    return SqliteStore(path, lock=False)


def _status(config: Config, *, as_json: bool) -> int:
    from alerter.config import secret_values
    from alerter.logs import RedactFilter
    from alerter.notify.render import fmt
    from alerter.notify.render.text import group_label
    from alerter.table import table

    store = _existing_state(config)
    if store is None:
        return 1
    now = _now()
    hide = RedactFilter(secret_values(config, _env())).redact  # errors stored before a fix
    try:
        polls = store.poll_status()
        incidents = store.incidents("open")
        silences = store.silences(now)
        pending = store.outbox_items("pending")
        failed = store.outbox_items("failed")
        kept = actions_of(store)  # who acted on each incident from chat (issue 14)
        history = {i.id: kept.history(i.id) for i in incidents} if kept else {}
        leases = _leases(store)
    finally:
        store.close()
    lease_records = [
        {
            "source": row.source,
            "holder": row.holder,
            "token": row.token,
            "live": row.live,
            "seconds_left": round(row.seconds_left, 1),
            "takeovers": row.takeovers,
        }
        for row in leases or []
    ]
    if as_json:
        data = {
            "sources": [
                {
                    "source": p.source,
                    "last_success_at": p.last_success_at.isoformat() if p.last_success_at else None,
                    "last_attempt_at": p.last_attempt_at.isoformat() if p.last_attempt_at else None,
                    "last_error": hide(p.last_error) if p.last_error else None,
                    "points": p.points,
                }
                for p in polls
            ],
            "open_incidents": [
                {
                    "id": i.id,
                    "rule": i.rule,
                    "group": dict(i.group),
                    "since": i.opened_at.isoformat(),
                    "observed": str(i.observed),
                    "expected": str(i.expected),
                    "currency": i.currency,
                    "actions": [
                        {
                            "action": r.action.value,
                            "by": r.actor,
                            "at": r.at.isoformat(),
                            "detail": r.detail,
                        }
                        for r in history.get(i.id, [])
                    ],
                }
                for i in incidents
            ],
            "silences": [_silence_record(s) for s in silences],
            "outbox": {"pending": len(pending), "failed": len(failed)},
        }
        if leases is not None:
            data["leases"] = lease_records
        print(json.dumps(data, indent=2))
        return 0
    print("Sources")
    print(
        table(
            ["source", "last success", "last attempt", "points", "last error"],
            [
                [
                    p.source,
                    fmt.when(p.last_success_at),
                    fmt.when(p.last_attempt_at),
                    p.points,
                    _one_line(hide(p.last_error) if p.last_error else None),
                ]
                for p in polls
            ],
            empty="  (none polled yet)",
        )
    )
    print(f"\nOpen incidents: {len(incidents)}")
    if incidents:
        print(
            table(
                ["id", "rule", "group", "since", "observed", "expected"],
                [
                    [
                        f"#{i.id}",
                        i.rule,
                        group_label(i.group),
                        fmt.when(i.opened_at),
                        fmt.money(i.observed, i.currency),
                        fmt.money(i.expected, i.currency),
                    ]
                    for i in incidents
                ],
            )
        )
        for i in incidents:
            for r in history.get(i.id, []):
                print(f"  #{i.id} {r.action.value} by {r.actor} at {fmt.when(r.at)}: {r.detail}")
    print(f"\nActive silences: {len(silences)}")
    if silences:
        print(_silence_table(silences))
    print(f"\nOutbox: {len(pending)} pending, {len(failed)} failed")
    if leases is not None:
        print(f"\nLeases: {len(leases)}")
        print(
            table(
                ["source", "holder", "token", "state", "takeovers"],
                [
                    [
                        row.source,
                        row.holder,
                        row.token,
                        f"expires in {row.seconds_left:.0f}s" if row.live else "expired",
                        row.takeovers,
                    ]
                    for row in leases
                ],
            )
        )
    return 0


def _one_line(text: str | None, limit: int = 80) -> str:
    if not text:
        return "-"
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _silence_record(s: Any) -> dict[str, Any]:
    return {
        "id": s.id,
        "rule": s.rule,
        "matchers": dict(s.matchers),
        "starts_at": s.starts_at.isoformat(),
        "until": s.ends_at.isoformat(),
        "comment": s.comment,
        "by": s.created_by,
    }


def _silence_table(silences: Sequence[Any]) -> str:
    from alerter.notify.render import fmt
    from alerter.table import table

    return table(
        ["id", "rule", "matchers", "until", "by", "comment"],
        [
            [
                s.id,
                s.rule or "*",
                ", ".join(f"{k}={v}" for k, v in s.matchers.items()) or "*",
                fmt.when(s.ends_at),
                s.created_by,
                _one_line(s.comment, 60),
            ]
            for s in silences
        ],
    )


def _silence(config: Config, args: argparse.Namespace) -> int:
    from fnmatch import fnmatchcase

    from alerter.notify.render import fmt
    from alerter.timeparse import parse_duration

    now = _now()
    if args.action == "list":
        existing = _existing_state(config)
        silences = [] if existing is None else existing.silences(now)
        if existing is not None:
            existing.close()
        if args.json:
            print(json.dumps([_silence_record(s) for s in silences], indent=2))
        else:
            print(_silence_table(silences) if silences else "no active silences")
        return 0
    if args.action == "add":
        matchers = {}
        for item in args.matchers:
            name, sep, pattern = item.partition("=")
            if not sep or not name:
                raise UsageError(f"silence matcher {item!r}: expected DIM=GLOB")
            matchers[name] = pattern
        try:
            duration = parse_duration(args.duration)
        except ValueError as exc:
            raise UsageError(f"--for: {exc}") from None
        if args.rule is None and not matchers:
            raise UsageError("silence add: give --rule and/or at least one DIM=GLOB matcher")
        if args.rule is not None and not any(fnmatchcase(r.name, args.rule) for r in config.rules):
            known = ", ".join(sorted(r.name for r in config.rules)) or "none"
            raise UsageError(f"--rule {args.rule!r} matches no rule (known: {known})")
        store = _open_state(config)
        try:
            sid = store.add_silence(args.rule, matchers, now, now + duration, args.comment, args.by)
        finally:
            store.close()
        print(f"silence {sid} added until {fmt.when(now + duration)}")
        return 0
    store = _open_state(config)
    try:
        if not store.remove_silence(args.id):
            print(f"alerter: error: no silence {args.id}", file=sys.stderr)
            return 1
    finally:
        store.close()
    print(f"silence {args.id} removed")
    return 0


# -- test-notify / config show -------------------------------------------------------------
def _test_notify(config: Config, name: str) -> int:
    from alerter.clock import SystemClock
    from alerter.notify import NOTIFIERS
    from alerter.notify.base import Delivered, NotifierContext
    from alerter.notify.sample import sample_notification

    cfg = config.notifiers.get(name)
    if cfg is None:
        known = ", ".join(sorted(config.notifiers)) or "none configured"
        raise UsageError(f"no notifier named {name!r} (known: {known})")
    clock = SystemClock()
    notifier = NOTIFIERS[cfg.type](name, cfg, NotifierContext(clock, dict(_env()), config.base_dir))
    msg = sample_notification(clock.now())
    result = notifier.send(msg, None)
    if isinstance(result, Delivered):
        print(f"test notification sent through {name} ({cfg.type})")
        return 0
    print(f"alerter: test notification through {name} not delivered: {result}", file=sys.stderr)
    return 1


def _config_show(config: Config, *, as_json: bool) -> int:
    from alerter.configshow import effective, to_toml

    data = effective(config)
    print(json.dumps(data, indent=2) if as_json else to_toml(data), end="" if not as_json else "\n")
    return 0
