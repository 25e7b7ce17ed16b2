"""Judging one rule, one stage per line: plan -> evaluate -> track each group -> notify.

The daemon (``app.run_cycle``) and ``backtest`` both call ``judge_rule``; a backtest
sets ``JudgeSettings.replay``, so events are stamped at their window's end plus the
settle delay instead of the cycle's now, and a backtest shows exactly what the daemon
would have sent.

- ``plan_judging`` (pure): which windows to judge (closed and settled, not judged yet,
  plus revised ones) and which to read (their baseline history before them).
- ``detect.engine.evaluate``: one detector pass over every group of the rule.
- ``incidents.track``: the per-group decision, one lifecycle step per judged window.
- ``notify.build`` and ``notify.pipeline``: the notification, silences, the outbox.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np

from alerter.cycle import JudgeReport
from alerter.detect import DETECTORS
from alerter.detect.base import Detector
from alerter.detect.engine import RuleEvaluation, evaluate
from alerter.detect.frame import build_frame
from alerter.detect.restarts import restart_baselines, restarts_of
from alerter.domain import Incident, Notification, Reason, SeriesKey, key_matches
from alerter.incidents.lifecycle import JudgedWindow, Policy
from alerter.incidents.track import Change, track
from alerter.notify.build import build_notification
from alerter.notify.pipeline import Envelope, Outbox, PipelineContext, run_pipeline
from alerter.rules.model import RuleBase, detector_of
from alerter.store.base import IncidentStore, MarkStore, PointReader, SilenceStore
from alerter.timeparse import floor_time

log = logging.getLogger(__name__)


class JudgeStore(PointReader, IncidentStore, SilenceStore, MarkStore, Protocol):
    """The store roles judging uses: points (read only), incidents, silences and progress
    marks. The outbox is handed over on its own (``Outbox``), so a dry run can swap it."""


Cell = tuple[SeriesKey, datetime]
"""A series (or group) key and a window start."""


def make_detector(rule: RuleBase) -> Detector:
    params = detector_of(rule)
    if rule.max_alerts and "budget" in type(params).model_fields:  # the rule's budget
        params = params.model_copy(update={"budget": rule.max_alerts})
    cls = DETECTORS[params.type]
    return cls(params)


@dataclass(frozen=True, slots=True)
class JudgeSettings:
    """How the rules of one source are judged in one pass."""

    step: timedelta
    settle: timedelta
    resolve_after: int
    """Normal windows that resolve an incident (a rule's own ``resolve_after`` wins)."""
    notifiers: tuple[str, ...]
    """Every configured notifier: the targets of a rule with an empty ``notify``."""
    replay: bool = False
    """A backtest: events stamped at window end plus ``settle``; no early alerts."""


@dataclass(frozen=True, slots=True)
class JudgePlan:
    """The windows one pass judges and reads (``[start, end)`` times, UTC)."""

    judge_from: datetime
    """Start of the first window not judged before."""
    judge_until: datetime
    """End of the last closed and settled window."""
    earliest: datetime
    """Start of the first window judged: ``judge_from`` or an older revised one."""
    frame_until: datetime
    """End of the last window read: past ``judge_until`` for early alerts."""
    load_from: datetime
    """Start of the first window read (baseline history before ``earliest``)."""
    revised: frozenset[Cell]
    """Judged-before windows of matching series to judge again (late data)."""


def first_unjudged(
    judged_through: datetime | None, first_judge_from: datetime, step: timedelta
) -> datetime:
    """Where judging goes on: after the last judged window, or (a rule that never ran)
    at ``first_judge_from``; older windows only seed baselines."""
    return judged_through if judged_through is not None else floor_time(first_judge_from, step)


def plan_judging(
    rule: RuleBase,
    settings: JudgeSettings,
    now: datetime,
    judged_through: datetime | None,
    first_judge_from: datetime,
    late: Sequence[Cell],
    history: int,
) -> JudgePlan | None:
    """What to judge at ``now`` (pure), or None when there is nothing to judge.

    ``late`` are points whose amount changed or that arrived for windows judged while
    unknown; those of series the rule matches, in windows judged before and settled, are
    judged again. ``history`` is how many windows before the first judged one the
    detector reads. An early rule (daemon only) also reads the windows not yet settled,
    up to the one still open.
    """
    step = settings.step
    judge_until = floor_time(now - settings.settle, step)
    judge_from = first_unjudged(judged_through, first_judge_from, step)
    bound = min(judge_from, judge_until)
    # a series late in several windows is matched once
    matches = functools.cache(lambda key: key_matches(key, rule.match)) if rule.match else None
    revised = frozenset(
        (key, start) for key, start in late if start < bound and (matches is None or matches(key))
    )
    earliest = min(judge_from, min((start for _key, start in revised), default=judge_from))
    early = rule.early and not settings.replay
    frame_until = floor_time(now, step) + step if early else judge_until
    if earliest >= frame_until or (earliest >= judge_until and not early):
        return None
    load_from = earliest - step * history
    return JudgePlan(judge_from, judge_until, earliest, frame_until, load_from, revised)


def judge_rule(
    store: JudgeStore,
    rule: RuleBase,
    settings: JudgeSettings,
    *,
    now: datetime,
    first_judge_from: datetime,
    outbox: Outbox,
    revised: Sequence[Cell] = (),
    written_after: int | None = None,
) -> JudgeReport:
    """Judge the closed, settled windows of ``rule`` not judged yet, plus late data:
    ``revised`` points, and points first written after ``written_after`` for windows judged
    while unknown. Incidents, ``outbox`` rows and the progress mark: one transaction."""
    detector = make_detector(rule)
    judged = store.judged_through(rule.name)
    late = [*revised, *_unseen(store, rule, settings, judged, written_after, first_judge_from)]
    history = max(detector.history(settings.step), rule.min_history) + 1
    plan = plan_judging(rule, settings, now, judged, first_judge_from, late, history)
    if plan is None:
        return JudgeReport(rule=rule.name)
    restarts = restarts_of(store, rule.name)
    result = _evaluate(store, rule, detector, plan, settings.step, restarts)
    ctx = PipelineContext(store, outbox, store.silences(), settings.notifiers)
    stamp = (lambda w: w.end + settings.settle) if settings.replay else (lambda _w: now)
    with store.transaction():
        # read inside the transaction: an action (an "expected change" from Slack) that
        # committed while the detector ran is seen, not overwritten with an older copy,
        # and a baseline restart it recorded is judged with (the rare case: run again)
        latest = restarts_of(store, rule.name)
        if set(latest) != set(restarts):
            result = _evaluate(store, rule, detector, plan, settings.step, latest)
        report = JudgeReport(rule.name, int(result.observed.size), int(result.flagged.sum()))
        report.evaluation, report.load_from = result, plan.load_from
        mine = [i for i in store.incidents() if i.rule == rule.name]
        open_incidents = {i.group: i for i in mine if i.status == "open"}
        # a revised window matters to a group that has had an incident (late data for it)
        # or that it flags; for the others it changes nothing, and a late hour of 100,000
        # series would otherwise step every one of them through the lifecycle
        had = {i.group for i in mine}
        chosen, revised_at = _groups(result, open_incidents, had, plan.revised)
        for g in chosen:
            group = result.groups[g]
            windows = _windows(result, g, plan, revised_at.get(g, set()))
            policy = _policy(rule, settings, result.grouping.currencies[g])
            incident = open_incidents.get(group)
            for change in track(store, incident, windows, stamp, policy, rule.name, group):
                report.events.append(_notify(result, rule, g, change, ctx))
        store.set_judged_through(rule.name, plan.judge_until)
    return report


def _unseen(
    store: JudgeStore,
    rule: RuleBase,
    settings: JudgeSettings,
    judged: datetime | None,
    written_after: int | None,
    first_judge_from: datetime,
) -> list[Cell]:
    """Points first written after ``written_after`` for windows judged while unknown (a
    failed fetch), inside the range this rule judges: older history (a retried backfill)
    seeds baselines, as the first backfill did."""
    if judged is None or written_after is None:
        return []
    before = first_unjudged(judged, first_judge_from, settings.step)
    written = store.written(rule.source, written_after, before=before)
    return [(key, start) for key, start in written if start >= first_judge_from]


def _evaluate(
    store: JudgeStore,
    rule: RuleBase,
    detector: Detector,
    plan: JudgePlan,
    step: timedelta,
    restarts: list[tuple[SeriesKey, datetime]],
) -> RuleEvaluation:
    """Read the planned windows and run the rule's one detector pass over them, each
    group's history from its baseline restart (``restarts``) on."""
    stored = store.load_series(rule.source, plan.load_from, plan.frame_until)
    coverage = store.load_coverage(rule.source, plan.load_from, plan.frame_until)
    frame, currencies = build_frame(
        stored, coverage, plan.load_from, plan.frame_until, step, rule.match
    )
    # "expected change" from a chat action: the group's history restarts (detect/restarts.py)
    frame = restart_baselines(frame, restarts, rule.group_by)
    first_col = frame.index_of(floor_time(plan.earliest, step)) if frame.n_windows else 0
    return evaluate(rule, detector, frame, currencies, slice(first_col, frame.n_windows))


def _groups(
    result: RuleEvaluation,
    open_incidents: Mapping[SeriesKey, Incident],
    had: set[SeriesKey],
    revised: frozenset[Cell],
) -> tuple[list[int], dict[int, set[datetime]]]:
    """Groups worth a lifecycle pass: flagged, with an open incident, or with a revised
    window and an incident before (``had``); and the revised window starts of each.

    Revised windows are found through the member series of those groups only: a late
    hour of 100,000 series is not projected onto its groups one series at a time."""
    index: dict[SeriesKey, int] = {}
    if open_incidents or had:
        index = {key: g for g, key in enumerate(result.groups)}
    flagged = set(np.nonzero(result.flagged.any(axis=1))[0].tolist())
    chosen = flagged | {index[key] for key in open_incidents if key in index}
    before = {index[key] for key in had if key in index}
    late = _revised_windows(result, revised, chosen | before)
    chosen |= before & late.keys()
    return sorted(chosen), late


def _revised_windows(
    result: RuleEvaluation, revised: frozenset[Cell], groups: set[int]
) -> dict[int, set[datetime]]:
    """The starts of the ``revised`` windows of each of ``groups`` (any member series)."""
    if not revised or not groups:
        return {}
    children = result.children.keys
    owner: dict[SeriesKey, int] = {}
    for g in groups:
        for row in result.grouping.members(g).tolist():
            owner[children[row]] = g
    late: dict[int, set[datetime]] = {}
    for key, start in revised:
        found = owner.get(key)
        if found is not None:
            late.setdefault(found, set()).add(start)
    return late


def _windows(
    result: RuleEvaluation, g: int, plan: JudgePlan, revised: set[datetime]
) -> Iterator[tuple[int, JudgedWindow]]:
    """Group ``g``'s windows to judge, oldest first: not judged before (or ``revised``),
    and known (missing data is neither an anomaly nor a normal window)."""
    for j in range(result.observed.shape[1]):
        start, end = result.window(j)
        is_revised = start in revised
        if start < plan.judge_from and not is_revised:
            continue
        if np.isnan(result.observed[g, j]) or np.isnan(result.verdicts.expected[g, j]):
            continue
        yield (
            j,
            JudgedWindow(
                start=start,
                end=end,
                observed=result.decimal(result.observed, g, j),
                expected=result.decimal(result.verdicts.expected, g, j),
                score=float(result.verdicts.score[g, j]),
                anomalous=bool(result.flagged[g, j]),
                revised=is_revised,
                partial=start >= plan.judge_until,
            ),
        )


def _policy(rule: RuleBase, settings: JudgeSettings, currency: str) -> Policy:
    return Policy(
        severity=rule.severity,
        resolve_after=rule.resolve_after or settings.resolve_after,
        repeat_interval=rule.repeat_interval,
        currency=currency,
    )


def _notify(
    result: RuleEvaluation, rule: RuleBase, g: int, change: Change, ctx: PipelineContext
) -> Notification:
    """The change's notification, logged, and sent down the pipeline unless it is an end
    the rule keeps quiet about (``notify_resolved = false``)."""
    msg = build_notification(result, rule.name, rule.source, g, change)
    log.info(
        "incident_event rule=%s incident=%d reason=%s group=%s window=%s",
        rule.name,
        change.incident.id,
        msg.event,
        dict(msg.group),
        change.window.start.isoformat(),
    )
    if msg.event is not Reason.RESOLVED or rule.notify_resolved:
        run_pipeline(Envelope(msg, tuple(rule.notify), change.at), ctx)
    return msg
