"""Judging one rule: frame -> one detector pass -> incident transitions -> notify pipeline.

The daemon (``app.run_cycle``) and ``backtest`` both call ``judge_rule``; only the clock
differs (the daemon's now, or each window's end plus the settle delay in a backtest),
so a backtest shows exactly what the daemon would have sent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from alerter.detect import DETECTORS
from alerter.detect.base import Detector
from alerter.detect.engine import RuleEvaluation, evaluate
from alerter.detect.frame import build_frame
from alerter.detect.restarts import restart_baselines, restarts_of
from alerter.domain import (
    Direction,
    Incident,
    Notification,
    Reason,
    SeriesKey,
    key_matches,
    project_key,
)
from alerter.incidents import lifecycle
from alerter.notify.pipeline import Envelope, PipelineContext, run_pipeline
from alerter.rules.model import RuleBase, detector_of
from alerter.store.base import Store
from alerter.timeparse import floor_time

log = logging.getLogger(__name__)


@dataclass
class JudgeReport:
    """What judging one rule did."""

    rule: str
    windows: int = 0
    anomalies: int = 0
    events: list[Notification] = field(default_factory=list)
    evaluation: RuleEvaluation | None = None
    load_from: datetime | None = None
    """The oldest window this rule read (what the store must keep in memory)."""


def make_detector(rule: RuleBase) -> Detector:
    params = detector_of(rule)
    if rule.max_alerts and "budget" in type(params).model_fields:  # the rule's budget
        params = params.model_copy(update={"budget": rule.max_alerts})
    cls = DETECTORS[params.type]
    return cls(params)  # type: ignore[call-arg]


def judge_rule(
    store: Store,
    rule: RuleBase,
    *,
    step: timedelta,
    now: datetime,
    settle: timedelta,
    resolve_after: int,
    first_judge_from: datetime,
    notifiers: Sequence[str],
    revised: Sequence[tuple[SeriesKey, datetime]] = (),
    written_after: int | None = None,
    event_time: Callable[[datetime], datetime] | None = None,
    sink: Callable[[Envelope], None] | None = None,
) -> JudgeReport:
    """Judge the closed, settled windows of ``rule`` not judged yet, plus revised ones.

    ``first_judge_from`` is where judging starts when the rule has never run (older
    windows only seed baselines). ``revised`` are points whose amount changed and
    ``written_after`` the last point write judged before this cycle: points first written
    after it for already judged windows are judged as late data too. ``event_time(window_end)`` gives the time stamped on
    events (default: ``now``). Incident changes and outbox rows are written in one
    transaction together with the rule's progress mark.
    """
    report = JudgeReport(rule=rule.name)
    detector = make_detector(rule)
    judge_until = floor_time(now - settle, step)
    judged = store.judged_through(rule.name)
    judge_from = judged if judged is not None else floor_time(first_judge_from, step)
    late = list(revised)
    if judged is not None and written_after is not None:
        # windows that were unknown when judged (a failed fetch) and now have data
        # ...but only inside the range this rule judges: history older than that (a
        # retried backfill) seeds baselines, as the first backfill did
        late += [
            (key, start)
            for key, start in store.written(rule.source, written_after, before=judge_from)
            if start >= first_judge_from
        ]
    relevant = [
        (key, start)
        for key, start in late
        if start < judge_from and start < judge_until and key_matches(key, rule.match)
    ]
    earliest = min([judge_from, *(start for _key, start in relevant)])
    # Early alerts look at unsettled windows too, up to the one still open (daemon only:
    # a backtest replays settled data).
    early = rule.early and event_time is None
    frame_until = floor_time(now, step) + step if early else judge_until
    if earliest >= frame_until or (earliest >= judge_until and not early):
        return report
    history = max(detector.history(step), rule.min_history) + 1
    load_from = earliest - step * history
    report.load_from = load_from
    stored = store.load_series(rule.source, load_from, frame_until)
    coverage = store.load_coverage(rule.source, load_from, frame_until)
    frame, currencies = build_frame(stored, coverage, load_from, frame_until, step, rule.match)
    # "expected change" from a chat action: the group's history restarts (detect/restarts.py)
    frame = restart_baselines(frame, restarts_of(store, rule.name), rule.group_by)
    first_col = frame.index_of(floor_time(earliest, step)) if frame.n_windows else 0
    result = evaluate(rule, detector, frame, currencies, slice(first_col, frame.n_windows))
    report.evaluation = result
    report.windows = int(result.observed.size)
    report.anomalies = int(result.flagged.sum())

    revised_cells = {(project_key(key, rule.group_by), start) for key, start in relevant}
    open_incidents = {i.group: i for i in store.incidents("open") if i.rule == rule.name}
    group_index = {key: g for g, key in enumerate(result.groups)}
    interesting = set(np.nonzero(result.flagged.any(axis=1))[0].tolist())
    interesting |= {group_index[k] for k in open_incidents if k in group_index}
    interesting |= {group_index[k] for k, _s in revised_cells if k in group_index}
    policy_base = {
        "severity": rule.severity,
        "resolve_after": rule.resolve_after or resolve_after,
        "repeat_interval": rule.repeat_interval,
    }
    ctx = PipelineContext(
        store=store,
        silences=store.silences(),
        all_notifiers=tuple(notifiers),
        sink=sink,
    )
    with store.transaction():
        for g in sorted(interesting):
            group = result.groups[g]
            policy = lifecycle.Policy(currency=result.grouping.currencies[g], **policy_base)  # type: ignore[arg-type]
            incident: Incident | None = open_incidents.get(group)
            for j in range(result.observed.shape[1]):
                start, end = result.window(j)
                is_revised = (group, start) in revised_cells
                if start < judge_from and not is_revised:
                    continue
                if np.isnan(result.observed[g, j]) or np.isnan(result.verdicts.expected[g, j]):
                    continue  # unknown: missing is neither an anomaly nor a normal window
                window = lifecycle.Judged(
                    start=start,
                    end=end,
                    observed=result.decimal(result.observed, g, j),
                    expected=result.decimal(result.verdicts.expected, g, j),
                    score=float(result.verdicts.score[g, j]),
                    anomalous=bool(result.flagged[g, j]),
                    revised=is_revised,
                    partial=start >= judge_until,
                )
                stamp = event_time(end) if event_time else now
                current = incident
                if is_revised and (current is None or start < current.first_window):
                    current = store.last_incident(rule.name, group)  # late data for a closed one
                new, reason = lifecycle.step(current, window, stamp, policy, rule.name, group)
                if new is not None and new != current:
                    new = store.save_incident(new)
                if new is not None and new.status == "open":
                    incident = new
                elif new is not None and current is incident:
                    incident = None
                if reason is Reason.NONE or new is None:
                    continue
                outcome = ""
                if current is not None and current.provisional and not new.provisional:
                    outcome = "confirmed"
                elif new.withdrawn and reason is Reason.RESOLVED:
                    outcome = "withdrawn"
                msg = _notification(result, rule, new, reason, g, j, window.partial, outcome)
                report.events.append(msg)
                log.info(
                    "incident_event rule=%s incident=%d reason=%s group=%s window=%s",
                    rule.name,
                    new.id,
                    reason,
                    dict(group),
                    start.isoformat(),
                )
                if reason is Reason.RESOLVED and not rule.notify_resolved:
                    continue  # recorded in the incident, not sent
                run_pipeline(Envelope(msg, tuple(rule.notify), stamp), ctx)
        store.set_judged_through(rule.name, judge_until)
    return report


def _notification(
    result: RuleEvaluation,
    rule: RuleBase,
    incident: Incident,
    reason: Reason,
    g: int,
    j: int,
    partial: bool = False,
    outcome: str = "",
) -> Notification:
    start, end = result.window(j)
    observed = result.decimal(result.observed, g, j)
    expected = result.decimal(result.verdicts.expected, g, j)
    return Notification(
        incident_id=incident.id,
        rule=rule.name,
        group=incident.group,
        source=rule.source,
        event=reason,
        severity=incident.severity,
        window_start=start,
        window_end=end,
        observed=observed,
        expected=expected,
        lower=result.decimal(result.verdicts.lower, g, j),
        upper=result.decimal(result.verdicts.upper, g, j),
        score=float(result.verdicts.score[g, j]),
        direction=Direction.UP if observed >= expected else Direction.DOWN,
        currency=incident.currency,
        contributors=result.contributors(g, j) if reason is not Reason.RESOLVED else (),
        opened_at=incident.opened_at,
        resolved_at=incident.resolved_at,
        excess=incident.excess,
        history=result.history(g, j),
        step_seconds=int(result.grouping.frame.step.total_seconds()),
        partial=partial,
        outcome=outcome,
        first_window=incident.first_window,
        last_anomalous_window=incident.last_anomalous_window,
    )
