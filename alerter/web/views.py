"""What each page shows, as plain data for the templates (no HTML here).

Every function takes ``now`` (from the App's clock) and reads through ``UiData``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from alerter.app import App, schedule_interval
from alerter.domain import Coverage, HistoryPoint, Incident, SeriesKey, key_to_str
from alerter.money import format_money
from alerter.notify.render.chart import chart_points
from alerter.store.base import OutboxItem
from alerter.web.chart import ChartGeometry, build_chart
from alerter.web.data import IncidentRow, UiData

RECENT = timedelta(days=7)
RATE_WEEKS = 4
GAP_SPAN = timedelta(days=7)
MAX_GAPS = 20


def fmt_time(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def fmt_duration(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {mins}m"
    return f"{mins}m"


def group_label(group: SeriesKey) -> str:
    return key_to_str(group) or "(all)"


def glob_literal(value: str) -> str:
    """``value`` as a silence glob that matches only itself (``*``, ``?``, ``[`` quoted)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in value)


def states(row: IncidentRow) -> list[str]:
    """The incident's state badges: provisional, acknowledged, silenced, resolved/open."""
    inc = row.incident
    found = []
    if inc.status != "open":
        found.append("withdrawn" if inc.withdrawn else "resolved")
    else:
        found.append("open")
        if inc.provisional:
            found.append("provisional")
    if row.acknowledged:
        found.append("acknowledged")
    if row.silenced_by is not None:
        found.append("silenced")
    return found


@dataclass(frozen=True)
class IncidentView:
    id: int
    rule: str
    group: str
    severity: str
    opened: str
    duration: str
    excess: str
    states: list[str]
    sort_excess: Decimal


def incident_view(row: IncidentRow, now: datetime) -> IncidentView:
    inc = row.incident
    end = inc.resolved_at or now
    return IncidentView(
        id=inc.id,
        rule=inc.rule,
        group=group_label(inc.group),
        severity=inc.severity.value,
        opened=fmt_time(inc.opened_at),
        duration=fmt_duration(end - inc.opened_at),
        excess=format_money(inc.excess, inc.currency),
        states=states(row),
        sort_excess=inc.excess,
    )


def incidents_page(data: UiData, now: datetime, rule: str = "", state: str = "") -> dict[str, Any]:
    rows = data.incidents(now, RECENT)
    views = [incident_view(r, now) for r in rows]
    all_rules = sorted({v.rule for v in views})
    if rule:
        views = [v for v in views if v.rule == rule]
    if state:
        views = [v for v in views if state in v.states]
    severity_rank = {"critical": 0, "warning": 1, "info": 2}
    views.sort(
        key=lambda v: ("open" not in v.states, severity_rank.get(v.severity, 3), v.rule, v.group)
    )
    return {
        "incidents": views,
        "rules": all_rules,
        "rule": rule,
        "state": state,
        "open_count": sum("open" in v.states for v in views),
    }


@dataclass(frozen=True)
class Delivery:
    notifier: str
    event: str
    status: str
    attempts: int
    created: str
    next_attempt: str
    last_error: str


@dataclass(frozen=True)
class TimelineEntry:
    at: str
    event: str
    window: str
    observed: str
    expected: str
    notifiers: list[str]


@dataclass
class IncidentDetail:
    view: IncidentView
    incident: Incident
    source: str = ""
    description: str = ""
    chart: ChartGeometry | None = None
    contributors: list[dict[str, str]] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    silence_query: list[tuple[str, str]] = field(default_factory=list)
    currency: str = "USD"
    actions: list[dict[str, str]] = field(default_factory=list)
    keeps_actions: bool = False
    can_acknowledge: bool = False


def _timeline(items: list[OutboxItem], data: UiData) -> list[TimelineEntry]:
    by_event: dict[tuple[str, str], list[OutboxItem]] = defaultdict(list)
    for item in items:
        by_event[(fmt_time(item.created_at), item.event)].append(item)
    entries = []
    for (at, event), group in by_event.items():
        msg = data.notification(group[0])
        entries.append(
            TimelineEntry(
                at=at,
                event=event,
                window=fmt_time(msg.window_start) if msg else "—",
                observed=format_money(msg.observed, msg.currency) if msg else "—",
                expected=format_money(msg.expected, msg.currency) if msg else "—",
                notifiers=sorted(i.notifier for i in group),
            )
        )
    return entries


def incident_page(app: App, data: UiData, incident_id: int, now: datetime) -> IncidentDetail | None:
    row = data.incident(incident_id, now)
    if row is None:
        return None
    inc = row.incident
    detail = IncidentDetail(view=incident_view(row, now), incident=inc, currency=inc.currency)
    rule = next((r for r in app.config.rules if r.name == inc.rule), None)
    if rule is not None:
        detail.source = rule.source
        detail.description = rule.description or ""
    items = data.deliveries(incident_id)
    detail.deliveries = [
        Delivery(
            notifier=i.notifier,
            event=i.event,
            status=i.status,
            attempts=i.attempts,
            created=fmt_time(i.created_at),
            next_attempt=fmt_time(i.next_attempt_at) if i.status == "pending" else "—",
            last_error=i.last_error or "",
        )
        for i in items
    ]
    detail.timeline = _timeline(items, data)
    detail.keeps_actions = data.keeps_actions
    detail.actions = [
        {"action": r.action.value, "actor": r.actor, "at": fmt_time(r.at), "detail": r.detail}
        for r in data.history(incident_id)
    ]
    detail.can_acknowledge = data.keeps_actions and inc.status == "open" and not row.acknowledged
    latest = next(
        (m for m in (data.notification(i) for i in reversed(items)) if m and m.history), None
    )
    if latest is not None:
        detail.source = latest.source or detail.source
        # the latest message has the longest history; the mark goes on the incident's
        # last anomalous window (a resolve message's own window is a normal one)
        points = chart_points(latest)
        step = timedelta(seconds=latest.step_seconds)
        mark = inc.last_anomalous_window
        at_mark = next((h.observed for h in points if h.start == mark), None)
        detail.chart = build_chart(
            points,
            mark,
            mark + step,
            float(at_mark if at_mark is not None else inc.observed),
            step_seconds=latest.step_seconds,
        )
        detail.contributors = [
            {
                "key": group_label(c.key),
                "observed": format_money(c.observed, latest.currency),
                "expected": format_money(c.expected, latest.currency),
                "delta": format_money(c.delta, latest.currency),
                "share": f"{c.share * 100:.0f}%",
            }
            for c in latest.contributors
        ]
    detail.silence_query = [("rule", inc.rule)] + [
        ("m", f"{name}={glob_literal(value)}") for name, value in inc.group
    ]
    return detail


# -- sources and rules ----------------------------------------------------------------
@dataclass(frozen=True)
class SourceView:
    name: str
    type: str
    state: str
    last_attempt: str
    last_success: str
    error: str
    next_poll: str
    points: int
    gaps: list[tuple[str, str, str]]
    gap_count: int


def coverage_gaps(
    coverage: list[Coverage], since: datetime, until: datetime
) -> list[tuple[str, datetime, datetime]]:
    """Uncovered stretches of ``[since, until)`` per coverage scope, oldest first."""
    by_scope: dict[SeriesKey, list[Coverage]] = defaultdict(list)
    for c in coverage:
        by_scope[c.scope].append(c)
    gaps = []
    for scope, spans in by_scope.items():
        cursor = since
        for c in sorted(spans, key=lambda c: c.start):
            if c.start > cursor:
                gaps.append((group_label(scope) if scope else "(whole source)", cursor, c.start))
            cursor = max(cursor, c.end)
        if cursor < until:
            gaps.append((group_label(scope) if scope else "(whole source)", cursor, until))
    return sorted(gaps, key=lambda g: (g[1], g[0]))


def sources_page(app: App, data: UiData, now: datetime) -> dict[str, Any]:
    polls = data.polls()
    sources = []
    for name, cfg in app.config.sources.items():
        poll = polls.get(name)
        if poll is None or poll.last_attempt_at is None:
            state = "never polled"
        elif poll.last_success_at != poll.last_attempt_at:
            state = "failed"
        elif poll.errors:
            state = "partial"
        else:
            state = "ok"
        interval = schedule_interval(cfg.schedule)
        nxt = (poll.last_attempt_at + interval) if poll and poll.last_attempt_at else None
        gaps: list[tuple[str, datetime, datetime]] = []
        if poll is not None and poll.last_success_at is not None:
            coverage = data.coverage(name, now - GAP_SPAN, now)
            covered_until = max((c.end for c in coverage), default=now - GAP_SPAN)
            gaps = coverage_gaps(coverage, now - GAP_SPAN, covered_until)
        sources.append(
            SourceView(
                name=name,
                type=str(getattr(cfg, "type", "")),
                state=state,
                last_attempt=fmt_time(poll.last_attempt_at if poll else None),
                last_success=fmt_time(poll.last_success_at if poll else None),
                error=(poll.last_error or "") if poll else "",
                next_poll=fmt_time(nxt) + (" (approx.)" if nxt and ":" in cfg.schedule else ""),
                points=poll.points if poll else 0,
                gaps=[(s, fmt_time(a), fmt_time(b)) for s, a, b in gaps[:MAX_GAPS]],
                gap_count=len(gaps),
            )
        )
    return {"sources": sources, "rules": rule_rates(app, data, now)}


@dataclass(frozen=True)
class RuleRate:
    name: str
    source: str
    severity: str
    enabled: bool
    weeks: list[int]
    per_week: float
    budget: str | None
    """``max_alerts`` as written (per group), e.g. ``"1/month"``."""
    budget_per_week: float | None
    busiest_group: str
    busiest_per_week: float
    over_budget: bool


def rule_rates(app: App, data: UiData, now: datetime) -> list[RuleRate]:
    """New incidents per rule in each of the last 4 weeks (oldest first) against its
    ``max_alerts`` noise budget. The budget is per group, so the rule is over budget when
    its busiest group alerted more often a week than the budget allows."""
    since = now - timedelta(weeks=RATE_WEEKS)
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * RATE_WEEKS)
    per_group: dict[str, Counter[SeriesKey]] = defaultdict(Counter)
    for inc in data.opened_since(since):
        week = min(int((inc.opened_at - since) / timedelta(weeks=1)), RATE_WEEKS - 1)
        counts[inc.rule][week] += 1
        per_group[inc.rule][inc.group] += 1
    rates = []
    for rule in app.config.rules:
        weeks = counts[rule.name]
        per_week = sum(weeks) / RATE_WEEKS
        budget = rule.budget_per_week
        busiest = per_group[rule.name].most_common(1)
        busiest_group, busiest_count = busiest[0] if busiest else ((), 0)
        busiest_per_week = busiest_count / RATE_WEEKS
        rates.append(
            RuleRate(
                name=rule.name,
                source=rule.source,
                severity=str(getattr(rule.severity, "value", rule.severity)),
                enabled=rule.enabled,
                weeks=weeks,
                per_week=per_week,
                budget=rule.max_alerts,
                budget_per_week=budget,
                busiest_group=group_label(busiest_group) if busiest else "",
                busiest_per_week=busiest_per_week,
                over_budget=budget is not None and busiest_per_week > budget,
            )
        )
    return rates


def explain_chart(
    baseline: list[tuple[datetime, float]],
    window_start: datetime,
    step_seconds: int,
    observed: float,
    expected: float,
    lower: float,
    upper: float,
) -> ChartGeometry | None:
    """The explained window and the baseline windows the detector read."""
    points = [HistoryPoint(t, v, None, None, None) for t, v in baseline]
    points.append(HistoryPoint(window_start, observed, expected, lower, upper))
    points.sort(key=lambda h: h.start)
    return build_chart(
        points,
        window_start,
        window_start + timedelta(seconds=step_seconds),
        observed if observed == observed else 0.0,
        step_seconds=step_seconds,
        sparse=True,
    )
