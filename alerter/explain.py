"""``alerter explain``: why one window of one group was or was not flagged."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from alerter.backtest import _step, load_scratch
from alerter.config import Config
from alerter.detect.change import period_windows
from alerter.detect.engine import evaluate
from alerter.detect.frame import build_frame
from alerter.detect.guards import Held
from alerter.detect.restarts import restart_baselines, restarts_of
from alerter.domain import SeriesKey, key_to_str
from alerter.errors import ConfigError
from alerter.judge import make_detector
from alerter.money import format_money, to_decimal
from alerter.notify.actions import history_notes
from alerter.rules.model import detector_of
from alerter.store.sqlite import SqliteStore
from alerter.timeparse import floor_time, format_time

HELD_TEXT = {
    Held.NOT_HELD: "flagged: an alert (subject to incident state and silences)",
    Held.MIN_HISTORY: "held back by min_history (not enough known windows before it)",
    Held.MIN_AMOUNT: "held back by min_amount (spend too small to matter)",
    Held.MIN_DELTA: "held back by min_delta (change too small in money)",
    Held.NOT_FLAGGED: "not flagged: inside the detector's band",
    Held.UNKNOWN: "unknown: no data for this window or no baseline yet (missing is not zero)",
}


@dataclass(frozen=True)
class Explanation:
    rule: str
    group: SeriesKey
    window_start: datetime
    observed: float
    expected: float
    lower: float
    upper: float
    score: float
    held: Held
    currency: str
    baseline: list[tuple[datetime, float]]
    notes: tuple[str, ...] = ()
    """Chat actions on the group: baseline restarts, acknowledgements, silences."""

    def render(self) -> str:
        def money(x: float) -> str:
            return "unknown" if not np.isfinite(x) else format_money(to_decimal(x), self.currency)

        lines = [
            f"rule      {self.rule}",
            f"group     {key_to_str(self.group) or '(all)'}",
            f"window    {format_time(self.window_start)}",
            f"observed  {money(self.observed)}",
            f"expected  {money(self.expected)}   band [{money(self.lower)}, {money(self.upper)}]",
            f"score     {self.score:.3f}",
            f"verdict   {HELD_TEXT[self.held]}",
            f"baseline windows used ({len(self.baseline)}):",
        ]
        lines += [f"  {format_time(t)}  {money(v)}" for t, v in self.baseline]
        if self.notes:
            lines += ["actions from chat:", *(f"  {note}" for note in self.notes)]
        return "\n".join(lines)


def _baseline_columns(rule_detector: object, t: int, history: int, step: timedelta) -> list[int]:
    """The columns a detector reads for column t (seasonal lags or the trailing run)."""
    params = detector_of(rule_detector)  # type: ignore[arg-type]
    kind = getattr(params, "type", "")
    weeks = getattr(params, "weeks", None)
    if weeks is not None and (kind == "seasonal" or getattr(params, "baseline", "") == "seasonal"):
        period = period_windows(step)
        return [t - period * i for i in range(weeks, 0, -1) if t - period * i >= 0]
    return [c for c in range(t - history, t) if c >= 0]


def explain(
    config: Config,
    *,
    rule: str,
    group: dict[str, str],
    at: datetime,
    state: SqliteStore | None,
    clock_now: datetime,
) -> Explanation:
    """Evaluate ``rule`` at the window holding ``at`` exactly as the daemon would."""
    matches = [r for r in config.rules if r.name == rule]
    if not matches:
        known = ", ".join(r.name for r in config.rules)
        raise ConfigError(f"no rule named {rule!r} (known: {known})")
    r = matches[0]
    step = _step(config, r.source)
    start = floor_time(at, step)
    scratch = load_scratch(
        config, [r], since=start, until=start + step, state=state, clock_now=clock_now
    )
    try:
        detector = make_detector(r)
        windows = max(detector.history(step), r.min_history) + 1
        load_from = start - step * windows
        stored = scratch.load_series(r.source, load_from, start + step)
        coverage = scratch.load_coverage(r.source, load_from, start + step)
    finally:
        scratch.close()
    frame, currencies = build_frame(stored, coverage, load_from, start + step, step, r.match)
    # "expected change" from a chat action: the group's history restarts (detect/restarts.py)
    frame = restart_baselines(frame, restarts_of(state, r.name), r.group_by)
    t = frame.n_windows - 1
    result = evaluate(r, detector, frame, currencies, slice(t, t + 1))
    wanted = tuple(sorted(group.items()))
    if wanted not in result.groups:
        sample = ", ".join(key_to_str(k) for k in result.groups[:5]) or "none"
        raise ConfigError(
            f"rule {rule!r} has no group {key_to_str(wanted)!r} at {format_time(start)} "
            f"(group_by = {', '.join(r.group_by) or 'nothing'}; e.g. {sample})"
        )
    g = result.groups.index(wanted)
    values = result.grouping.frame.values[g]
    baseline = [
        (frame.start_at(c), float(values[c]))
        for c in _baseline_columns(r, t, detector.history(step), step)
    ]
    v = result.verdicts
    return Explanation(
        rule=r.name,
        group=wanted,
        window_start=start,
        observed=float(result.observed[g, 0]),
        expected=float(v.expected[g, 0]),
        lower=float(v.lower[g, 0]),
        upper=float(v.upper[g, 0]),
        score=float(v.score[g, 0]),
        held=Held(int(result.held[g, 0])),
        currency=result.grouping.currencies[g],
        baseline=baseline,
        notes=tuple(history_notes(state, r.name, wanted)) if state is not None else (),
    )
