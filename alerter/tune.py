"""``alerter tune --rule NAME [--budget B ...]``: replay history at several noise budgets.

Each candidate budget is the rule with ``max_alerts`` set to it (a calibrating
detector such as ``cost`` takes it as its threshold quantile), replayed through the
same backtest as ``alerter backtest``. Past incidents are the union of what the
daemon recorded for the rule in the state file and what any candidate raised; each
candidate lists which of them it would catch (an alert of the same group within a
day of the incident's first window) and which it would miss. The proposal is the
loosest budget that the replay kept, i.e. the one that catches the most incidents
while alerting no more often per group than it allows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from alerter.backtest import BacktestResult, run_backtest
from alerter.config import Config
from alerter.detect.budget import format_budget, parse_budget
from alerter.domain import Reason, SeriesKey
from alerter.errors import ConfigError
from alerter.notify.render.summary import group_label
from alerter.store.sqlite import SqliteStore
from alerter.timeparse import format_time

DEFAULT_BUDGETS = ("1/week", "1/month", "1/quarter", "1/year")
NEAR = timedelta(days=1)
"""An alert this close to an incident's first window catches it."""


@dataclass(frozen=True)
class Candidate:
    budget: str
    result: BacktestResult
    alerts: list[tuple[SeriesKey, datetime]]
    weekly: float
    per_group: float
    kept: bool


@dataclass(frozen=True)
class TuneResult:
    rule: str
    incidents: list[tuple[SeriesKey, datetime]]
    candidates: list[Candidate]

    def caught(self, candidate: Candidate) -> list[bool]:
        """For each past incident, whether ``candidate`` would have alerted for it."""
        return [
            any(g == group and abs(at - when) <= NEAR for g, at in candidate.alerts)
            for group, when in self.incidents
        ]

    def proposal(self) -> Candidate | None:
        """The kept candidate catching the most incidents (ties: the stricter budget)."""
        kept = [c for c in self.candidates if c.kept]
        if not kept:
            return None
        return max(kept, key=lambda c: (sum(self.caught(c)), -parse_budget(c.budget)))

    def render(self) -> str:
        lines = [f"rule {self.rule}: {len(self.incidents)} past incidents"]
        for c in self.candidates:
            hits = self.caught(c)
            verdict = "kept" if c.kept else "EXCEEDED"
            lines.append(
                f"  max_alerts = {c.budget!r} ({format_budget(parse_budget(c.budget))} per group):"
                f" {c.weekly:.2f} alerts/week, {c.per_group:.3f} per group/week ({verdict});"
                f" caught {sum(hits)}/{len(hits)}"
            )
            for (group, when), hit in zip(self.incidents, hits, strict=True):
                if not hit:
                    lines.append(f"      missed {format_time(when)} {group_label(group)}")
        best = self.proposal()
        if best is None:
            lines.append("proposal: none of the budgets was kept; try a looser one")
        else:
            lines.append(f'proposal: max_alerts = "{best.budget}"')
        return "\n".join(lines)


def tune_rule(
    config: Config,
    rule_name: str,
    *,
    since: datetime,
    until: datetime,
    budgets: tuple[str, ...] = DEFAULT_BUDGETS,
    state: SqliteStore | None,
    clock_now: datetime,
) -> TuneResult:
    """Replay ``rule_name`` over ``[since, until)`` once per budget."""
    rules = [r for r in config.rules if r.name == rule_name]
    if not rules:
        known = ", ".join(r.name for r in config.rules)
        raise ConfigError(f"no rule named {rule_name!r} (known: {known})")
    for budget in budgets:
        try:
            parse_budget(budget)
        except ValueError as exc:
            raise ConfigError(f"--budget: {exc}") from None
    candidates = []
    for budget in budgets:
        rule = rules[0].model_copy(update={"max_alerts": budget, "enabled": True})
        trial = replace(config, rules=(rule,))
        result = run_backtest(
            trial, since=since, until=until, rule=rule_name, state=state, clock_now=clock_now
        )
        alerts = [(e.group, e.window_start) for e in result.events if e.event is Reason.FIRST]
        per_group, _budget, kept = result.budget_report(rule)
        candidates.append(
            Candidate(
                budget,
                result,
                alerts,
                result.per_rule_weekly().get(rule_name, 0.0),
                per_group,
                kept,
            )
        )
    seen: list[tuple[SeriesKey, datetime]] = []
    if state is not None:
        seen.extend(
            (incident.group, incident.first_window)
            for incident in state.incidents()
            if incident.rule == rule_name and since <= incident.first_window < until
        )
    for c in candidates:
        for group, at in c.alerts:
            if not any(g == group and abs(at - when) <= NEAR for g, when in seen):
                seen.append((group, at))
    seen.sort(key=lambda item: (item[1], item[0]))
    return TuneResult(rule_name, seen, candidates)
