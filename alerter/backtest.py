"""Backtest: replay data through the same judge path as the daemon, causally.

File sources (csv, focus) are read directly; other sources replay what the state file
holds. Each event is stamped with its window's end plus the settle delay, the moment
the daemon would have judged it, so repeats and silences behave as they would have.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from alerter.clock import FakeClock
from alerter.config import Config
from alerter.domain import Notification
from alerter.errors import ConfigError
from alerter.judge import JudgeSettings, judge_rule, make_detector
from alerter.rules.model import RuleBase
from alerter.sources import SOURCES
from alerter.sources.base import FetchResult, SourceContext
from alerter.store.actions import actions_of
from alerter.store.base import Store
from alerter.store.sqlite import SqliteStore
from alerter.timeparse import floor_time


@dataclass(frozen=True)
class BacktestResult:
    events: list[Notification]
    since: datetime
    until: datetime
    rules: list[RuleBase] = field(default_factory=list)
    data: dict[str, tuple[datetime, datetime] | None] = field(default_factory=dict)
    """Per source, the first window start and last window end of its data in
    ``[since, until)`` (None when it has none there)."""
    groups: dict[str, int] = field(default_factory=dict)
    """Per rule, how many groups had data in the range."""

    def span(self, rule: RuleBase) -> timedelta:
        """The part of ``[since, until)`` that holds the rule's source data."""
        covered = self.data.get(rule.source, (self.since, self.until))
        if covered is None:
            return timedelta(0)
        return covered[1] - covered[0]

    def per_rule_weekly(self) -> dict[str, float]:
        """Alerts (new incidents) per week over the span that holds data, per rule."""
        counts = Counter(e.rule for e in self.events if e.event.value == "first")
        out = {}
        for r in self.rules or []:
            weeks = self.span(r) / timedelta(weeks=1)
            out[r.name] = counts[r.name] / weeks if weeks > 0 else 0.0
        for name in counts:
            if name not in out:  # rules not given: the whole range
                out[name] = counts[name] / max((self.until - self.since) / timedelta(weeks=1), 1e-9)
        return dict(sorted(out.items()))

    def budget_report(self, rule: RuleBase) -> tuple[float, float | None, bool]:
        """(alerts per group per week, the rule's budget per group per week or None,
        whether the budget was kept)."""
        weekly = self.per_rule_weekly().get(rule.name, 0.0)
        per_group = weekly / max(self.groups.get(rule.name, 1), 1)
        budget = rule.budget_per_week
        return per_group, budget, budget is None or per_group <= budget


def run_backtest(
    config: Config,
    *,
    since: datetime,
    until: datetime,
    rule: str | None = None,
    state: Store | None = None,
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
    data: dict[str, tuple[datetime, datetime] | None] = {}
    groups: dict[str, int] = {}
    for r in rules:
        if r.source not in data:
            data[r.source] = data_range(scratch, r.source, since, until, _step(config, r.source))
    events: list[Notification] = []
    for r in rules:
        settings = JudgeSettings(
            _step(config, r.source),
            config.settle,
            config.alerter.resolve_after,
            tuple(config.notifiers),
            replay=True,
        )
        report = judge_rule(
            scratch, r, settings, now=until + config.settle, first_judge_from=since, outbox=scratch
        )
        events.extend(report.events)
        if report.evaluation is not None:
            groups[r.name] = len(report.evaluation.groups)
    scratch.close()
    events.sort(key=lambda e: (e.window_start, e.rule, e.incident_id))
    return BacktestResult(
        events=events, since=since, until=until, rules=rules, data=data, groups=groups
    )


def data_range(
    store: SqliteStore, source: str, since: datetime, until: datetime, step: timedelta
) -> tuple[datetime, datetime] | None:
    """First window start and last window end of ``source``'s points in ``[since, until)``."""
    stored = store.load_series(source, since, until)
    if stored.starts.size == 0:
        return None
    first = datetime.fromtimestamp(int(stored.starts.min()), UTC)
    last = datetime.fromtimestamp(int(stored.starts.max()), UTC) + step
    return first, last


def file_data_range(
    config: Config, rules: list[RuleBase], clock_now: datetime
) -> tuple[datetime, datetime] | None:
    """The range of the data in the (replayable) file sources of ``rules`` (None if any
    rule reads another source, or the files hold no points)."""
    ctx = SourceContext(FakeClock(clock_now), {}, config.base_dir)
    lo: datetime | None = None
    hi: datetime | None = None
    for name in sorted({r.source for r in rules}):
        cfg = config.sources[name]
        if not SOURCES[cfg.type].replayable:
            return None
        source = SOURCES[cfg.type](name, cfg, ctx)
        result = asyncio.run(source.fetch(datetime(1970, 1, 2, tzinfo=UTC), clock_now + _FAR))
        step = _step(config, name)
        for point in result.all_points(name):  # file sources answer in columns
            lo = point.start if lo is None or point.start < lo else lo
            end = point.start + step
            hi = end if hi is None or end > hi else hi
    return (lo, hi) if lo is not None and hi is not None else None


_FAR = timedelta(days=365 * 50)


def load_scratch(
    config: Config,
    rules: list[RuleBase],
    *,
    since: datetime,
    until: datetime,
    state: Store | None,
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
        if SOURCES[cfg.type].replayable:
            source = SOURCES[cfg.type](name, cfg, ctx)
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
