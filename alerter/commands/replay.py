"""``alerter backtest``, ``tune`` and ``explain``: replays of stored or file data."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from alerter.commands.common import UsageError, _now, _open_state

if TYPE_CHECKING:
    from alerter.config import Config
    from alerter.rules.model import RuleBase


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
