"""Bursty series whose runs come at shifting hours (training runs, ad hoc jobs): which
series they are, how far a run has outlasted the longest of the recent weeks, and how
overdue the next run of a series that keeps a schedule is.
"""

from __future__ import annotations

import numpy as np

from alerter.detect.base import FloatArray
from alerter.detect.cost_stats import order_stat, sort_known, sort_paid, stretches

FLOOR_QUANTILE = 0.25
"""Quantile of a bursty series' recent amounts taken for its floor between runs (runs
keep it busy less than three quarters of the time)."""


def run_bar(floor: FloatArray, size: FloatArray) -> FloatArray:
    """The amount that sets runs apart from the floor between them: the geometric mean of
    a row's floor and its run size."""
    out: FloatArray = np.sqrt(np.fmax(floor, 0.0) * size)
    return out


def in_runs(seen: FloatArray, floor: FloatArray, top: FloatArray) -> np.ndarray:
    """Known windows of ``seen`` above ``run_bar(floor, top)``; none in a row whose top is
    not above its floor."""
    bar = run_bar(floor, top)[:, None]
    return np.isfinite(seen) & (seen > bar) & (top > floor)[:, None]


def run_score(obs: FloatArray, past: FloatArray, top: FloatArray, floor: FloatArray) -> FloatArray:
    """How far the run each window of ``obs`` (the columns right after ``past``) belongs
    to has outlasted the longest run of ``past``: the count of consecutive windows above the
    geometric mean of the series' floor and its top amount, over the longest such stretch
    of ``past`` that ended there (a run still going at its end is the one being judged)
    plus a quarter of it (at least 2 windows). Above 1: a job that does not stop. ``top``
    and ``floor``: each row's largest amount and its ``FLOOR_QUANTILE`` in ``past``."""
    seen = np.concatenate([past, obs], axis=1)
    high = in_runs(seen, floor, top)
    stretch = stretches(high)  # windows in the run so far (0: not in a run)
    width = past.shape[1]
    ended = high[:, :width] & ~high[:, 1 : width + 1]  # a run still going is not past
    longest = np.where(ended, stretch[:, :width], 0).max(axis=1)
    allowed = longest + np.fmax(2, longest // 4)
    out: FloatArray = stretch[:, width:] / allowed[:, None]
    return out


def run_size(past: FloatArray, day: int) -> FloatArray:
    """A bursty series' usual run: the upper quartile of its days' largest amounts over
    ``past`` (whole days counted back from its end). One oversized run, or days without a
    run, do not move it."""
    rows, width = past.shape
    days = width // day
    if days == 0:
        return np.full(rows, np.nan)
    peaks = past[:, width - days * day :].reshape(rows, days, day)
    known = np.isfinite(peaks).any(axis=2)
    largest = np.where(np.isfinite(peaks), peaks, -np.inf).max(axis=2)
    return order_stat(*sort_known(np.where(known, largest, np.nan)), 0.75)


IRREGULAR_RATIO = 3.0
"""How far (a factor) a window must differ from the same slot a period earlier to count as
irregular."""


def irregular(cal: FloatArray, before: FloatArray, day: int) -> FloatArray:
    """Share of each row's days (``day`` windows each, counted back from the last column
    of ``cal``) with a window that differs threefold from the same slot a period earlier
    (``before``, same shape), among the days with windows where both are known and
    non-zero. A series whose bursts keep to their hours has almost none; one whose runs
    shift has them most days; a single odd event (a drop, a spike) marks only the days it
    touched and the same days a period later."""
    lo = np.fmin(cal, before)
    hi = np.fmax(cal, before)
    both = np.isfinite(lo) & (lo > 0)  # a series that starts or stops is not irregular
    mean = np.where(both, hi, 0.0).sum(axis=1) / np.maximum(both.sum(axis=1), 1)
    scale = 0.1 * mean[:, None]  # quiet hours: no threefold from noise
    far = both & (hi + scale > IRREGULAR_RATIO * (lo + scale))
    rows, cols = far.shape
    days = cols // day
    if days == 0:
        return np.zeros(rows)
    odd = far[:, cols - days * day :].reshape(rows, days, day).any(axis=2)
    seen = both[:, cols - days * day :].reshape(rows, days, day).any(axis=2)
    out: FloatArray = odd.sum(axis=1) / np.maximum(seen.sum(axis=1), 1)
    return out


MIN_STARTS = 4
"""Fewest run starts, in the past span and in its last ``RECENT_DAYS``, for a schedule."""
REGULAR = 0.9
"""Share of the past run starts with a start one period earlier that makes a schedule."""
MAX_DUTY = 0.35
"""Longest mean run of a schedule, as a share of its period (a daily curve is busy
longer)."""
RECENT_DAYS = 14
"""Days of the past whose amounts set a schedule's runs apart from its floor."""
LOW_FLOOR = 0.15
"""Largest floor between runs, as a share of the runs' size, for a schedule of runs."""


def recent_run_size(past: FloatArray, day: int) -> FloatArray:
    """The run a scheduled bursty series is due to make: ``run_size`` over the last
    ``RECENT_DAYS`` of ``past`` (what a missed run would have cost)."""
    return run_size(past[:, max(0, past.shape[1] - RECENT_DAYS * day) :], day)


def missed_run_score(obs: FloatArray, past: FloatArray, day: int) -> FloatArray:
    """How overdue the next run of a scheduled bursty series is, for each window of ``obs``
    (the columns right after ``past``): windows since the last run started, over the
    series' period plus a jitter of a sixth of a day (at least one window). Above 1: a run
    that was due has not come. A series is scheduled with the shortest period of 1, 2 or 3
    days for which at least ``REGULAR`` of its past run starts (``MIN_STARTS`` or
    more, as many over the last ``RECENT_DAYS`` alone) had a start one period (give or take
    the jitter) earlier, its runs last at most ``MAX_DUTY`` of the period and its floor is at
    most ``LOW_FLOOR`` of its runs' size; 0 for the others. Runs are stretches above the
    geometric mean of the floor and the runs' size (the upper quartile of the days' largest
    amounts), both of the last ``RECENT_DAYS`` (a series whose runs shrank last week is
    judged by its runs of now)."""
    rows, width = past.shape
    lately = max(0, width - RECENT_DAYS * day)
    recent = past[:, lately:]
    floor = order_stat(*sort_paid(recent), FLOOR_QUANTILE)
    top = recent_run_size(past, day)
    seen = np.concatenate([past, obs], axis=1)
    high = in_runs(seen, floor, top)
    starts = high.copy()
    starts[:, 1:] &= ~high[:, :-1]
    jitter = max(1, day // 6)
    counted = np.zeros((rows, width + 1))
    np.cumsum(starts[:, :width], axis=1, out=counted[:, 1:])
    at = np.arange(width)
    period = np.zeros(rows, np.int64)
    for days in (1, 2, 3):
        lag = days * day
        lo = np.clip(at - lag - jitter, 0, width)
        hi = np.clip(at - lag + jitter + 1, 0, width)
        before = counted[:, hi] - counted[:, lo] > 0
        eligible = starts[:, :width] & (at >= lag + jitter)[None, :]
        n = eligible.sum(axis=1)
        regular = (n >= MIN_STARTS) & ((eligible & before).sum(axis=1) >= REGULAR * n)
        period = np.where((period == 0) & regular, lag, period)
    # runs, not a daily curve: busy a small share of the time, on a floor far below them
    length = high[:, :width].sum(axis=1) / np.maximum(starts[:, :width].sum(axis=1), 1)
    runs = (length <= MAX_DUTY * period) & (np.fmax(floor, 0.0) <= LOW_FLOOR * top)
    # a schedule kept lately: MIN_STARTS run starts over the last RECENT_DAYS too
    runs &= starts[:, lately:width].sum(axis=1) >= MIN_STARTS
    period = np.where(runs, period, 0)
    cols = np.arange(seen.shape[1])
    last = np.maximum.accumulate(np.where(starts, cols, -1), axis=1)
    gap = cols[None, :] - last
    due = (period + jitter)[:, None] + 0.5
    out: FloatArray = np.where((period[:, None] > 0) & (last >= 0), gap / due, 0.0)[:, width:]
    return out
