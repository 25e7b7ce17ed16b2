"""Per-row statistics of the ``cost`` detector's residuals: order statistics of rows with
unknowns, an extrapolated tail quantile, running means of any width from one pass, the
mean of the last known values, and the spread of a day-level factor.
"""

from __future__ import annotations

import math

import numpy as np

from alerter.detect.band import MAD_TO_SIGMA
from alerter.detect.base import FloatArray


def last_known_mean(values: FloatArray, k: int) -> FloatArray:
    """For each column t, the mean of the last ``k`` finite values of its row at or before
    t (NaN where fewer than ``k`` are known): the known values packed to the front of
    each row, one running sum, two lookups."""
    known = np.isfinite(values)
    order = np.argsort(~known, axis=1, kind="stable")  # known first, in time order
    packed = np.take_along_axis(np.where(known, values, 0.0), order, axis=1)
    sums = np.zeros((values.shape[0], values.shape[1] + 1))
    np.cumsum(packed, axis=1, out=sums[:, 1:])
    seen = np.cumsum(known, axis=1)
    upper = np.take_along_axis(sums, seen, axis=1)
    lower = np.take_along_axis(sums, np.maximum(seen - k, 0), axis=1)
    out: FloatArray = np.where(seen >= k, (upper - lower) / k, np.nan)
    return out


def day_level_sigma(cal_r: FloatArray, day: int, sigma: FloatArray) -> FloatArray:
    """Robust sigma of the day-level factor: the MAD of the calibration days' mean
    residuals (``cal_r`` starts at a day boundary), less what the hourly noise alone
    gives a mean of ``day`` windows (``sigma**2 / day``); 0 for daily data or with
    fewer than five known days."""
    rows, width = cal_r.shape
    days = width // day
    if day <= 1 or days < 5:
        return np.zeros(rows)
    whole = cal_r[:, : days * day].reshape(rows, days, day)
    known = np.isfinite(whole)
    n_known = known.sum(axis=2)
    daily = np.where(known, whole, 0.0).sum(axis=2) / np.maximum(n_known, 1)
    daily[n_known * 2 < day] = np.nan  # days at least half known
    ordered, count = sort_known(daily)
    center = order_stat(ordered, count, 0.5)
    dev, count_d = sort_known(np.abs(daily - center[:, None]))
    spread = MAD_TO_SIGMA * order_stat(dev, count_d, 0.5)
    out: FloatArray = np.sqrt(np.fmax(spread**2 - sigma**2 / day, 0.0))
    return np.where(count_d >= 5, out, 0.0)


class Prefix:
    """Running sums and known-counts of a block's rows, from its first column, so rolling
    means of any width come from one pass (and depend only on the block passed in)."""

    def __init__(self, values: FloatArray) -> None:
        rows, cols = values.shape
        known = np.isfinite(values)
        self.values = values
        self.sums = np.zeros((rows, cols + 1))
        np.cumsum(np.where(known, values, 0.0), axis=1, out=self.sums[:, 1:])
        self.counts = np.zeros((rows, cols + 1), np.int32)
        np.cumsum(known, axis=1, out=self.counts[:, 1:])

    def mean(self, n: int) -> FloatArray:
        """Mean of the known (finite) values of ``values[:, i - n + 1 .. i]`` for
        i >= n - 1 (NaN when fewer than half are known); shape ``(rows, cols - n + 1)``."""
        if n == 1:
            return np.where(np.isfinite(self.values), self.values, np.nan)
        count = self.counts[:, n:] - self.counts[:, :-n]
        mean: FloatArray = (self.sums[:, n:] - self.sums[:, :-n]) / np.maximum(count, 1)
        mean[count * 2 < n] = np.nan
        return mean


def level_threshold(cal_level: FloatArray, floor: float, margin: float) -> FloatArray:
    """Threshold of a bursty series' floor score: the smallest change that alerts, and
    above the calibration span's own largest by ``margin`` or by as much as that largest
    stands above the median (a floor that swings needs a larger swing to be news)."""
    ordered, count = sort_known(cal_level)
    top, mid = order_stat(ordered, count, 1.0), order_stat(ordered, count, 0.5)
    out: FloatArray = np.fmax(floor, top + np.fmax(margin, top - mid))
    return out


def sort_known(values: FloatArray) -> tuple[FloatArray, np.ndarray]:
    """Each row sorted with unknowns (NaN, inf) last, and its count of finite values."""
    finite = np.isfinite(values)
    ordered = np.where(finite, values, np.inf)
    ordered.sort(axis=1)
    return ordered, finite.sum(axis=1)


def sort_paid(values: FloatArray) -> tuple[FloatArray, np.ndarray]:
    """``sort_known`` of each row's windows that cost money (zeros and unknowns left out)."""
    return sort_known(np.where(values > 0, values, np.nan))


TAIL = 0.05
"""Share of the calibration residuals whose mean excess sets the tail's scale."""


def tail(ordered: FloatArray, count: np.ndarray, alpha: float) -> FloatArray:
    """The ``1 - alpha`` quantile of each sorted row, extrapolated past its top ``TAIL``
    share by an exponential tail: ``u + beta * log(TAIL / alpha)`` with ``u`` the
    ``1 - TAIL`` quantile and ``beta`` the mean excess over it."""
    u = order_stat(ordered, count, 1.0 - TAIL)
    above = np.isfinite(ordered) & (ordered > u[:, None])
    excess = np.where(above, ordered - u[:, None], 0.0).sum(axis=1)
    beta = excess / np.maximum(above.sum(axis=1), 1)
    factor = math.log(TAIL / alpha) if alpha < TAIL else 0.0
    out: FloatArray = u + beta * factor
    return out


def order_stat(ordered: FloatArray, count: np.ndarray, q: float) -> FloatArray:
    """The ``q`` quantile (the next higher order statistic) of each sorted row's known
    values; NaN where a row has none."""
    safe = np.maximum(count, 1)
    index = np.minimum(np.ceil(q * (safe - 1)).astype(np.int64), safe - 1)
    picked = np.take_along_axis(ordered, index[:, None], axis=1)[:, 0]
    return np.where(count > 0, picked, np.nan)


DIP = math.log(0.3)
"""Log residual below which a window is a dip (under 30 % of its usual amount: capacity
reclaimed, a fleet stopped, an hour billed in part); noise alone does not go there."""


def stretches(mask: np.ndarray) -> np.ndarray:
    """For each column, how many windows in a row up to it are set in ``mask`` (0 where
    it is not set)."""
    at = np.arange(mask.shape[1])
    last_clear = np.maximum.accumulate(np.where(mask, -1, at), axis=1)
    out: np.ndarray = at[None, :] - last_clear
    return out


def short_dips(r: FloatArray, cal: slice, longest: int, seen: np.ndarray) -> np.ndarray:
    """Windows of ``r`` (log residuals) in a dip (below ``DIP``) that has lasted, so far,
    no longer than the longest dip of its row's calibration columns ``cal`` or ``seen``
    (per row: dips known from further back), at most ``longest`` windows: a series whose
    recent weeks held such dips (spot capacity reclaimed for a few hours) has them again
    without news; a dip that outlasts them is judged from the window that does."""
    run = stretches(r < DIP)  # NaN: not a dip
    known = np.fmax(run[:, cal].max(axis=1, initial=0), seen)
    out: np.ndarray = (run > 0) & (run <= np.minimum(known, longest)[:, None])
    return out
