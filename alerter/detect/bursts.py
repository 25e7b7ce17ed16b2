"""Bursty series whose runs come at shifting hours (training runs, ad hoc jobs): which
series they are, and how far a run has outlasted the longest of the recent weeks.
"""

from __future__ import annotations

import numpy as np

from alerter.detect.base import FloatArray

FLOOR_QUANTILE = 0.25
"""Quantile of a bursty series' recent amounts taken for its floor between runs (runs
keep it busy less than three quarters of the time)."""


def run_score(obs: FloatArray, past: FloatArray, top: FloatArray, floor: FloatArray) -> FloatArray:
    """How far the run each window of ``obs`` (the columns right after ``past``) belongs
    to has outlasted the longest run of ``past``: the count of consecutive windows above the
    geometric mean of the series' floor and its top amount, over the longest such stretch
    of ``past`` that ended there (a run still going at its end is the one being judged)
    plus a quarter of it (at least 2 windows). Above 1: a job that does not stop. ``top``
    and ``floor``: each row's largest amount and its ``FLOOR_QUANTILE`` in ``past``."""
    bar = np.sqrt(np.fmax(floor, 0.0) * top)[:, None]
    seen = np.concatenate([past, obs], axis=1)
    high = np.isfinite(seen) & (seen > bar) & (top > floor)[:, None]
    at = np.arange(seen.shape[1])
    last_low = np.maximum.accumulate(np.where(high, -1, at), axis=1)
    stretch = at[None, :] - last_low  # windows in the run so far (0: not in a run)
    width = past.shape[1]
    ended = high[:, :width] & ~high[:, 1 : width + 1]  # a run still going is not past
    longest = np.where(ended, stretch[:, :width], 0).max(axis=1)
    allowed = longest + np.fmax(2, longest // 4)
    out: FloatArray = stretch[:, width:] / allowed[:, None]
    return out


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
