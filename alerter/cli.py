"""Command line: argument parsing and output; the work is in app, backtest and the store.

Exit codes: 0 ok; 1 a runtime failure (a source that could not be polled, a
notification not delivered by ``run --once``, a test notification refused); 2 a usage
or configuration error (bad arguments, invalid config or rules, unusable state path).
Errors are one line each on stderr; logs go to stderr, alerts and tables to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from alerter import __version__
from alerter.commands.checks import _config_show, _test_notify, _validate
from alerter.commands.common import UsageError, _env
from alerter.commands.replay import _backtest, _explain, _tune
from alerter.commands.run import _run
from alerter.commands.state import _series, _silence, _status
from alerter.errors import AlerterError, ConfigError, StateInUse

if TYPE_CHECKING:
    from alerter.config import Config

EPILOG = """\
--config defaults to $ALERTER_CONFIG, else ./alerter.toml.
exit codes: 0 ok, 1 runtime failure (a source could not be polled, a notification was
not delivered), 2 usage or configuration error."""


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
