"""Backtest: replay data through the same judge path as the daemon, causally.

File sources (csv, focus) are read directly; other sources replay what the state file
holds. Each event is stamped with its window's end plus the settle delay, the moment
the daemon would have judged it, so repeats and silences behave as they would have.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerter.clock import FakeClock
from alerter.config import Config
from alerter.domain import Notification
from alerter.errors import ConfigError
from alerter.judge import judge_rule, make_detector
from alerter.rules.model import RuleBase
from alerter.sources import SOURCES
from alerter.sources.base import FetchResult, SourceContext
from alerter.store.actions import actions_of
from alerter.store.sqlite import SqliteStore
from alerter.timeparse import floor_time

FILE_SOURCES = ("csv", "focus")


@dataclass(frozen=True)
class BacktestResult:
    events: list[Notification]
    since: datetime
    until: datetime

    def per_rule_weekly(self) -> dict[str, float]:
        """Alerts (new incidents) per week, per rule."""
        weeks = max((self.until - self.since) / timedelta(weeks=1), 1e-9)
        counts = Counter(e.rule for e in self.events if e.event.value == "first")
        return {rule: counts[rule] / weeks for rule in sorted(counts)}


def run_backtest(
    config: Config,
    *,
    since: datetime,
    until: datetime,
    rule: str | None = None,
    state: SqliteStore | None = None,
    clock_now: datetime,
) -> BacktestResult:
    """Judge every window of ``[since, until)`` for the selected rules, as the daemon would."""
    rules = [r for r in config.rules if r.enabled and (rule is None or r.name == rule)]
    if rule is not None and not rules:
        known = ", ".join(r.name for r in config.rules)
        raise ConfigError(f"no enabled rule named {rule!r} (known: {known})")
    scratch = load_scratch(
        config, rules, since=since, until=until, state=state, clock_now=clock_now
    )
    events: list[Notification] = []
    for r in rules:
        report = judge_rule(
            scratch,
            r,
            step=_step(config, r.source),
            now=until + config.settle,
            settle=config.settle,
            resolve_after=config.alerter.resolve_after,
            first_judge_from=since,
            notifiers=list(config.notifiers),
            event_time=lambda end: end + config.settle,
        )
        events.extend(report.events)
    scratch.close()
    events.sort(key=lambda e: (e.window_start, e.rule, e.incident_id))
    return BacktestResult(events=events, since=since, until=until)


def load_scratch(
    config: Config,
    rules: list[RuleBase],
    *,
    since: datetime,
    until: datetime,
    state: SqliteStore | None,
    clock_now: datetime,
) -> SqliteStore:
    """An in-memory store holding what ``rules`` need to judge ``[since, until)``: their
    sources' points and coverage from ``since`` minus each detector's history (file
    sources are read afresh, others come from the state file), and the state's silences."""
    scratch = SqliteStore(":memory:")
    if state is not None:
        for silence in state.silences():
            scratch.add_silence(
                silence.rule,
                silence.matchers,
                silence.starts_at,
                silence.ends_at,
                silence.comment,
                silence.created_by,
            )
        # baseline restarts ("expected change") are honoured as the daemon honours them
        kept, scratch_actions = actions_of(state), actions_of(scratch)
        if kept is not None and scratch_actions is not None:
            for restart in kept.restarts():
                scratch_actions.add_restart(restart)
    ctx = SourceContext(FakeClock(clock_now), {}, config.base_dir)
    history: dict[str, int] = {}
    for r in rules:
        step = _step(config, r.source)
        need = max(make_detector(r).history(step), r.min_history) + 2
        history[r.source] = max(history.get(r.source, 0), need)
    for name, windows in history.items():
        cfg = config.sources[name]
        step = _step(config, name)
        history_from = floor_time(since, step) - step * windows
        if cfg.type in FILE_SOURCES:  # type: ignore[attr-defined]
            source = SOURCES[cfg.type](name, cfg, ctx)  # type: ignore[attr-defined, call-arg]
            result = asyncio.run(source.fetch(history_from, until))
        else:
            if state is None:
                raise ConfigError(f"source {name!r} needs the state file to backtest")
            result = FetchResult(
                state.load_points(name, history_from, until),
                state.load_coverage(name, history_from, until),
            )
        scratch.upsert(name, result, clock_now)
    return scratch


def _step(config: Config, name: str) -> timedelta:
    return config_step(config.sources[name])


def config_step(cfg: object) -> timedelta:
    """A source's window size from its config: ``step``, else ``window`` (hour/day)."""
    step = getattr(cfg, "step", None)
    if isinstance(step, timedelta):
        return step
    return timedelta(hours=1) if getattr(cfg, "window", "day") == "hour" else timedelta(days=1)
