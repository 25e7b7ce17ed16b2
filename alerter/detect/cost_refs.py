"""References a cost residual is measured against, all causal: the median of the same
slot of past periods, the quartiles of an intermittent series' non-zero slots, the same
slot a calendar month back, the week's lowest day and whether a day passes for it (a
holiday); and how a reference explains a residual.
"""

from __future__ import annotations

import numpy as np

from alerter.detect.band import median_of_stack, sort_stack
from alerter.detect.base import BoolArray, FloatArray


def explain(r: FloatArray, other: FloatArray, pick: np.ufunc) -> FloatArray:
    """``r`` explained by another reference's residual (``np.fmin`` for rises,
    ``np.fmax`` for decreases): an unknown reference explains nothing, and an unknown
    ``r`` (no baseline) stays unknown, so a reference never creates a verdict where the
    baseline has none."""
    out: FloatArray = np.where(np.isnan(r), np.nan, pick(r, other))
    return out


def seasonal_median(
    values: FloatArray, lo: int, hi: int, period: int, weeks: int, min_weeks: int
) -> FloatArray:
    """Median of columns ``t - period*k`` (k = 1..weeks, known ones) for t in [lo, hi);
    NaN where fewer than ``min_weeks`` are known. ``lo >= period * weeks``. A sorting
    network over the K lag slices (K small), no sort along a strided axis."""
    lags = []
    count = np.zeros((values.shape[0], hi - lo), np.int8)
    for k in range(1, weeks + 1):
        lag = values[:, lo - period * k : hi - period * k]
        known = ~np.isnan(lag)
        count += known
        lags.append(np.where(known, lag, np.inf))
    median = median_of_stack(sort_stack(lags), count)
    median[count < min_weeks] = np.nan
    return median


LOW_DAY_SHARE = 0.1
"""Share of a series' calibration windows where its lowest day of the week sits below its
normal by the smallest decrease that alerts, for its days to pass as holidays (a weekend
series: about 5/7 of its busy hours; noise alone: a few per cent)."""


HOLIDAY_START = 6
"""Telling windows that decide whether a day passes as a holiday: half of them decide
(before that it passes), and a day before with half of them low is itself low."""

NIGHT = 6
"""A night: at least 1/NIGHT of a day (4 hours) of windows that do not tell a day from
the week's lowest (a series' day begins after it)."""


def holiday_like(
    r: FloatArray, gap: FloatArray, pos: np.ndarray, day: int, floor: float
) -> BoolArray:
    """Whether each column's day, so far, passes as a holiday (``pos[j]``: column j's
    window index within its UTC day, ``day`` windows a day).

    Telling windows are those where the normal stands above the week's lowest day by the
    smallest decrease that alerts (``gap`` over ``floor``, in log, from seasonal medians).
    A series' day begins at its first telling window after a night (``NIGHT`` of a day or
    more without one: an office's day in its own time zone), or at UTC midnight when it
    has had no night within the last day. The day passes as a holiday unless, once half
    of ``HOLIDAY_START`` of its telling windows have told (until then it passes: a day's
    first windows, billed in part or winding down from the night, say little), at least
    half of them so far were nearer the normal than the lowest day (``r + gap / 2 > 0``:
    a holiday keeps its scheduled jobs, a month-start fee or a nightly build, and a drop
    that begins later in the day follows as many ordinary windows), and unless the day
    before was itself low (most of at least half of ``HOLIDAY_START`` telling windows
    nearer the lowest day: a lasting drop is not a holiday on its second day). Columns
    before 0 are left out."""
    rows, cols = r.shape
    at = np.arange(cols)
    day0 = np.broadcast_to(np.maximum(at - pos, 0), (rows, cols))
    told_gap = np.broadcast_to(gap > floor, (rows, cols))
    last = np.where(told_gap, at, -1)  # the last telling window so far
    np.maximum.accumulate(last, axis=1, out=last)
    night = max(1, day // NIGHT)
    after = np.zeros((rows, cols), bool)  # a telling window after `night` without one
    after[:, 1:] = told_gap[:, 1:] & (at[:-1] - last[:, :-1] >= night)
    morning = np.where(after, at, -1)
    np.maximum.accumulate(morning, axis=1, out=morning)
    recent = (morning >= 0) & (at - morning < day)
    day0 = np.where(recent, morning, day0)
    telling = told_gap & np.isfinite(r)  # windows where the two days differ
    here = np.broadcast_to(at + 1, (rows, cols))

    def between(cum: np.ndarray, begin: np.ndarray, end: np.ndarray = here) -> np.ndarray:
        """Per column, the running total ``cum`` over ``[begin, end)`` (default: from
        ``begin`` to the column itself)."""
        out: np.ndarray = np.take_along_axis(cum, end, 1) - np.take_along_axis(cum, begin, 1)
        return out

    seen = np.zeros((rows, cols + 1), np.int32)
    np.cumsum(telling, axis=1, out=seen[:, 1:])
    near_normal = np.zeros((rows, cols + 1), np.int32)  # votes for an ordinary day
    np.cumsum(telling & (r + gap / 2 > 0), axis=1, out=near_normal[:, 1:])
    told = between(seen, day0)
    # decided from half of HOLIDAY_START telling windows on (until then, as a holiday: a
    # day's first windows, billed in part or winding down from the night, say little),
    # by the day's telling windows so far: a holiday keeps its scheduled jobs (a nightly
    # build), a drop from mid-day follows as many ordinary windows
    decided = 2 * told >= HOLIDAY_START
    ordinary = decided & (2 * between(near_normal, day0) >= told)
    # the day before: low on most of its telling windows (at least half a day's start of
    # them; a weekend day tells little against the week's lowest day)
    lowish = np.zeros((rows, cols + 1), np.int32)
    np.cumsum(telling & (r + gap / 2 <= 0), axis=1, out=lowish[:, 1:])
    first = np.maximum(day0 - day, 0)
    told_before = between(seen, first, day0)
    low_votes = between(lowish, first, day0)
    low_before = (2 * told_before >= HOLIDAY_START) & (2 * low_votes > told_before)
    out: BoolArray = ~ordinary & ~low_before
    return out


ACTIVE_MIN = 3
"""Fewest non-zero same slots an intermittent series' window is judged against (with one
or two, an odd week among them, a drop or a spike, would be the whole baseline)."""


ACTIVE_NEAR = 2
"""Neighbouring slots (each side) pooled into an intermittent series' baseline, sub-daily."""


def active_median(
    values: FloatArray, lo: int, hi: int, period: int, weeks: int, near: int
) -> FloatArray:
    """Lower quartile, median and upper quartile (stacked, shape ``(3, rows, hi - lo)``)
    of the non-zero known values of columns ``t - period*k + d`` (k = 1..weeks, |d| <=
    ``near``) for t in [lo, hi); NaN where there is none. ``lo >= period * weeks +
    near``."""
    lags = []
    count = np.zeros((values.shape[0], hi - lo), np.int8)
    for k in range(1, weeks + 1):
        for d in range(-near, near + 1):
            lag = values[:, lo - period * k + d : hi - period * k + d]
            known = ~np.isnan(lag) & (lag != 0)
            count += known
            lags.append(np.where(known, lag, np.inf))
    ordered = sort_stack(lags)
    low, high = np.full(count.shape, np.nan), np.full(count.shape, np.nan)
    for c in range(ACTIVE_MIN, len(ordered) + 1):  # the order statistics nearest the quartiles
        where = count == c
        if where.any():
            np.copyto(low, ordered[(c - 1) // 4], where=where)
            np.copyto(high, ordered[c - 1 - (c - 1) // 4], where=where)
    median = median_of_stack(ordered, count)
    median[count < ACTIVE_MIN] = np.nan
    return np.stack([low, median, high])


def month_back(
    values: FloatArray,
    times: np.ndarray,
    base: int,
    step_s: int,
    days: int | None = None,
    ahead: tuple[int, int] = (0, 0),
) -> tuple[FloatArray, FloatArray | None]:
    """For padded columns ``base + i`` (window start ``times[i]``, epoch seconds), the
    value of the same slot one calendar month earlier (the month's last slot when the
    earlier month is shorter; a month's last day against the earlier month's last day);
    NaN where that lies before the frame, or, with ``days``, where the window is neither
    in the first ``days`` days of its month nor in its last day. With ``ahead =
    (period, weeks)``, also the median of the known values ``period * k`` (k = 1..weeks)
    after each month-back slot (that slot's usual level, read only a month back: causal
    while ``period * weeks`` is under a month); else None."""
    ts = times.astype("datetime64[s]")
    month = ts.astype("datetime64[M]")
    this_month = month.astype("datetime64[s]")
    target = (month - 1).astype("datetime64[s]") + (ts - this_month)
    target = np.where(target >= this_month, this_month - np.timedelta64(step_s, "s"), target)
    # a month's last day against the last day before it (a month-end accrual falls on
    # the 30th of June and the 31st of May alike)
    a_day = np.timedelta64(86400, "s")
    last_day = (ts + a_day).astype("datetime64[M]") != month
    next_month = (month + 1).astype("datetime64[s]")
    target = np.where(last_day, this_month - (next_month - ts), target)
    back = ((ts - target).astype(np.int64) // step_s).astype(np.int64)
    cols = base + np.arange(times.size) - back
    ok = cols >= 0
    if days is not None:
        ok &= ((ts - this_month) < np.timedelta64(days * 86400, "s")) | last_day
    rows = values.shape[0]
    out = np.full((rows, times.size), np.nan)
    src = cols[ok]
    out[:, ok] = values[:, src]
    period, weeks = ahead
    if weeks < 1:
        return out, None
    lags = []
    count = np.zeros((rows, src.size), np.int8)
    for k in range(1, weeks + 1):
        lag = values[:, np.minimum(src + period * k, values.shape[1] - 1)]
        known = ~np.isnan(lag)
        count += known
        lags.append(np.where(known, lag, np.inf))
    level = np.full((rows, times.size), np.nan)
    level[:, ok] = median_of_stack(sort_stack(lags), count)
    return out, level


def week_low(values: FloatArray, lo: int, hi: int, day: int) -> FloatArray:
    """Lowest known value of the same slot over the previous seven days, for columns
    ``[lo, hi)`` (``lo >= 7 * day``, ``day`` windows a day)."""
    low: FloatArray = values[:, lo - day : hi - day].copy()
    for k in range(2, 8):  # a running minimum: no 7-deep stack
        np.fmin(low, values[:, lo - day * k : hi - day * k], out=low)
    return low
