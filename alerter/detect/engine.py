"""One rule over one frame: group sums, one detector pass, guards, root cause, history.

Everything here is vectorised across groups; per-cell Python work happens only for the
few cells that become notifications (root cause, chart history).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Protocol

import numpy as np
import numpy.typing as npt

from alerter.detect.base import BoolArray, Detector, FloatArray, SeriesFrame, Verdicts
from alerter.detect.guards import apply_guards
from alerter.detect.lags import judged_range
from alerter.domain import Contributor, HistoryPoint, SeriesKey, project_key
from alerter.money import to_decimal


@dataclass(frozen=True)
class Grouping:
    """Children (rows of the source frame) summed into groups.

    ``order`` lists child rows sorted by group and ``bounds[g]:bounds[g + 1]`` are group
    g's slice of it (``order`` is None when every group is exactly one child).
    """

    frame: SeriesFrame
    currencies: list[str]
    order: npt.NDArray[np.int64] | None
    bounds: npt.NDArray[np.int64]

    def members(self, g: int) -> npt.NDArray[np.int64]:
        """The child rows summed into group ``g``."""
        if self.order is None:
            return np.array([g], dtype=np.int64)
        return self.order[self.bounds[g] : self.bounds[g + 1]]


def group_frame(children: SeriesFrame, currencies: list[str], group_by: list[str]) -> Grouping:
    """Sum children per ``group_by`` projection and currency (never across currencies).

    A group's window is unknown (NaN) if any of its children's is. When every group is
    one child, the children's matrix is used as it is (no copy).
    """
    slots: dict[tuple[SeriesKey, str], int] = {}
    gid = np.empty(children.n_series, dtype=np.int64)
    wanted = set(group_by)
    for i, key in enumerate(children.keys):
        # a key made of exactly the group_by dimensions is its own group key
        same = len(key) == len(wanted) and all(name in wanted for name, _v in key)
        group = key if same else project_key(key, group_by)
        gid[i] = slots.setdefault((group, currencies[i]), len(slots))
    per_key: dict[SeriesKey, int] = {}
    for key, _cur in slots:
        per_key[key] = per_key.get(key, 0) + 1
    keys = [
        key if per_key[key] == 1 else tuple(sorted((*key, ("currency", cur)))) for key, cur in slots
    ]
    group_currencies = [cur for _key, cur in slots]
    if len(slots) == children.n_series:  # gid is 0..n-1 in order: one child per group
        frame = SeriesFrame(
            keys=keys, starts=children.starts, step=children.step, values=children.values
        )
        return Grouping(frame, group_currencies, None, np.arange(children.n_series + 1))
    order = np.argsort(gid, kind="stable")
    counts = np.bincount(gid, minlength=len(slots))
    bounds = np.concatenate([[0], np.cumsum(counts)])
    values = np.add.reduceat(children.values[order], bounds[:-1], axis=0)
    frame = SeriesFrame(keys=keys, starts=children.starts, step=children.step, values=values)
    return Grouping(frame=frame, currencies=group_currencies, order=order, bounds=bounds)


class RuleFields(Protocol):
    """What evaluation reads of a rule (``rules.model.RuleBase`` has these fields); a
    Protocol, so ``detect/`` does not import the rule models that sit above it."""

    @property
    def group_by(self) -> list[str]: ...
    @property
    def min_amount(self) -> Decimal: ...
    @property
    def min_delta(self) -> Decimal: ...
    @property
    def min_history(self) -> int: ...
    @property
    def top_contributors(self) -> int: ...


@dataclass
class RuleEvaluation:
    """Verdicts of one rule for judged columns ``[start, stop)`` of its group frame."""

    rule: RuleFields
    detector: Detector
    children: SeriesFrame
    grouping: Grouping
    start: int
    stop: int
    verdicts: Verdicts
    flagged: BoolArray
    held: npt.NDArray[np.int8]
    _child_verdicts: Verdicts | None = field(default=None, repr=False)

    @property
    def groups(self) -> Sequence[SeriesKey]:
        return self.grouping.frame.keys

    @cached_property
    def observed(self) -> FloatArray:
        return self.grouping.frame.values[:, self.start : self.stop]

    def window(self, j: int) -> tuple[datetime, datetime]:
        """Start and end of judged column ``j`` (relative to ``start``)."""
        begin = self.grouping.frame.start_at(self.start + j)
        return begin, begin + self.grouping.frame.step

    def decimal(self, array: FloatArray, g: int, j: int) -> Decimal:
        value = float(array[g, j])
        if not np.isfinite(value):
            return Decimal(0)
        return to_decimal(value)

    def contributors(self, g: int, j: int) -> tuple[Contributor, ...]:
        """Top child series of group ``g`` at column ``j`` by their share of the delta."""
        rows = self.grouping.members(g)
        if rows.size <= 1 or self.rule.top_contributors == 0:
            return ()
        if self._child_verdicts is None:
            self._child_verdicts = self.detector.evaluate(
                self.children, slice(self.start, self.stop)
            )
        observed = self.children.values[rows, self.start + j]
        expected = self._child_verdicts.expected[rows, j]
        delta = np.nan_to_num(observed, nan=0.0) - np.nan_to_num(expected, nan=0.0)
        group_delta = float(self.observed[g, j] - np.nan_to_num(self.verdicts.expected[g, j]))
        sign = 1.0 if group_delta >= 0 else -1.0
        order = np.argsort(-sign * delta, kind="stable")[: self.rule.top_contributors]
        out = []
        for i in order:
            d = float(delta[i])
            if sign * d <= 0:
                break
            out.append(
                Contributor(
                    key=self.children.keys[int(rows[i])],
                    observed=to_decimal(float(np.nan_to_num(observed[i]))),
                    expected=to_decimal(float(np.nan_to_num(expected[i]))),
                    delta=to_decimal(d),
                    share=d / group_delta if group_delta else 0.0,
                )
            )
        return tuple(out)

    def history(self, g: int, j: int) -> tuple[HistoryPoint, ...]:
        """Recent windows of group ``g`` up to column ``j``, with the band, for charts."""
        frame = self.grouping.frame
        span = 56 if frame.step >= timedelta(days=1) else int(timedelta(days=7) / frame.step)
        end = self.start + j + 1
        begin = max(0, end - span)
        sub = SeriesFrame([frame.keys[g]], frame.starts, frame.step, frame.values[g : g + 1])
        band = self.detector.evaluate(sub, slice(begin, end))
        points = []
        for t in range(begin, end):
            k = t - begin

            def val(x: float) -> float | None:
                return None if not np.isfinite(x) else round(float(x), 6)

            points.append(
                HistoryPoint(
                    frame.start_at(t),
                    val(frame.values[g, t]),
                    val(band.expected[0, k]),
                    val(band.lower[0, k]),
                    val(band.upper[0, k]),
                )
            )
        return tuple(points)


def evaluate(
    rule: RuleFields,
    detector: Detector,
    children: SeriesFrame,
    currencies: list[str],
    judge: slice,
) -> RuleEvaluation:
    """Group, run the detector once across all groups, then apply the rule's guards."""
    grouping = group_frame(children, currencies, rule.group_by)
    start, stop = judged_range(grouping.frame.n_windows, judge)
    verdicts = detector.evaluate(grouping.frame, slice(start, stop))
    flagged, held = apply_guards(
        grouping.frame.values,
        start,
        verdicts.expected,
        verdicts.flagged,
        min_amount=float(rule.min_amount),
        min_delta=float(rule.min_delta),
        min_history=rule.min_history,
    )
    return RuleEvaluation(
        rule=rule,
        detector=detector,
        children=children,
        grouping=grouping,
        start=start,
        stop=stop,
        verdicts=verdicts,
        flagged=flagged,
        held=held,
    )
