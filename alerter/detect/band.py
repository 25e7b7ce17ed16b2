"""Shared numerics of the band detectors: judged columns, robust medians, band -> verdicts.

Everything here works on whole series x windows matrices at once; nothing loops per
series. NaN is unknown throughout and is skipped, never read as zero.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field

from alerter.detect import lags
from alerter.detect.base import DetectorParams, FloatArray, SeriesFrame, Verdicts

IntArray = npt.NDArray[np.int64]

MAD_TO_SIGMA = 1.4826
"""Scales a median absolute deviation to a normal standard deviation."""

ROW_BLOCK_ELEMENTS = 1 << 18
"""Elements per row block: big enough for numpy, small enough to stay in cache."""

WORKERS = min(4, os.cpu_count() or 1)
"""Threads that evaluate row blocks of one large frame in parallel."""


class BandParams(DetectorParams):
    """The band's width and spread floors, shared by the robust band detectors."""

    k: float = Field(
        default=4.0,
        gt=0,
        le=100,
        description="Band half-width in robust spreads (residual sigmas for forecast).",
    )
    level_floor: float = Field(
        default=1.0,
        ge=0,
        le=10,
        description=(
            "Spread floor as a fraction of the mean non-zero amount of the baseline, "
            "weighted by the share of zero windows; keeps zero-inflated series from "
            "alerting on ordinary blips."
        ),
    )
    min_spread: float = Field(
        default=0.0, ge=0, description="Absolute spread floor, in the series' money unit."
    )


def judged_range(frame: SeriesFrame, judge: slice) -> tuple[int, int]:
    """``[start, stop)`` column indices of ``judge`` over ``frame`` (step 1 only)."""
    return lags.judged_range(frame.n_windows, judge)


def windows_in(duration: timedelta, step: timedelta, what: str) -> int:
    """How many ``step`` windows make ``duration``; raises ValueError if not whole."""
    seconds = int(step.total_seconds())
    total = int(duration.total_seconds())
    if seconds <= 0 or total % seconds:
        raise ValueError(f"{what} ({duration}) is not a whole number of {step} windows")
    return total // seconds


def row_blocks(n_rows: int, n_cols: int) -> list[slice]:
    """Row slices whose blocks hold about ``ROW_BLOCK_ELEMENTS`` cells each."""
    rows = max(1, ROW_BLOCK_ELEMENTS // max(1, n_cols))
    return [slice(lo, min(n_rows, lo + rows)) for lo in range(0, n_rows, rows)]


def map_blocks(work: Callable[[slice], None], blocks: list[slice]) -> None:
    """Run ``work`` on every row block, on up to ``WORKERS`` threads.

    numpy releases the GIL inside its array operations, so blocks of one evaluation
    run in parallel; each block writes its own rows of preallocated outputs.
    """
    if WORKERS <= 1 or len(blocks) < 2:
        for rows in blocks:
            work(rows)
        return
    with ThreadPoolExecutor(max_workers=min(WORKERS, len(blocks))) as pool:
        for _ in pool.map(work, blocks):
            pass


def nan_median_sorted(ordered: FloatArray, count: IntArray, axis: int) -> FloatArray:
    """Median along ``axis`` of data already sorted with unknowns (inf/NaN) last.

    ``count`` is the number of known values per position (shape of the result); the
    median is NaN where ``count`` is 0.
    """
    safe = np.maximum(count, 1)
    lo = np.expand_dims((safe - 1) // 2, axis)
    hi = np.expand_dims(safe // 2, axis)
    low = np.take_along_axis(ordered, lo, axis=axis)
    high = np.take_along_axis(ordered, hi, axis=axis)
    median = np.squeeze((low + high) * 0.5, axis=axis)
    return np.where(count > 0, median, np.nan)


def sort_stack(stack: list[FloatArray]) -> list[FloatArray]:
    """Sort K same-shape arrays elementwise (a compare-exchange network, K small).

    Unknown values must already be +inf so they sort last. Returns new arrays,
    smallest first. One numpy op per comparator: no loop over elements.
    """
    out = list(stack)
    n = len(out)
    if n > 1:  # first layer writes fresh arrays so the inputs (maybe views) stay intact
        out = [np.minimum(out[0], out[1]), np.maximum(out[0], out[1]), *(a.copy() for a in out[2:])]
    for i in range(n):
        for j in range(1 if i == 0 else 0, n - 1 - i):
            lo = np.minimum(out[j], out[j + 1])
            np.maximum(out[j], out[j + 1], out=out[j + 1])
            out[j] = lo
    return out


def median_of_stack(ordered: list[FloatArray], count: npt.NDArray[np.integer[Any]]) -> FloatArray:
    """Median of a sorted stack (unknowns last) given the known ``count`` per cell.

    One pass per possible count (K small), each a couple of whole-array ops.
    """
    k = len(ordered)
    if k == 0:
        return np.full(count.shape, np.nan)
    median = (ordered[(k - 1) // 2] + ordered[k // 2]) * 0.5
    if bool((count == k).all()):
        return median
    for c in range(k):
        where = count == c
        if not where.any():
            continue
        if c == 0:
            median[where] = np.nan
        else:
            np.copyto(median, (ordered[(c - 1) // 2] + ordered[c // 2]) * 0.5, where=where)
    return median


def mad_of_sorted(
    ordered: list[FloatArray], median: FloatArray, count: npt.NDArray[np.integer[Any]]
) -> FloatArray:
    """Median absolute deviation from ``median`` of a sorted stack (unknowns last).

    Four lags (the default) use a closed form on the order statistics; other sizes sort
    the deviations with the same network.
    """
    k = len(ordered)
    if k != 4:
        deviations = [np.abs(o - median) for o in ordered]
        return median_of_stack(sort_stack(deviations), count)
    s0, s1, s2, s3 = ordered
    # sorted deviations are d, d, then min/max of the outer two: MAD = (d + min(...)) / 2
    half_gap = (s2 - s1) * 0.5
    outer = np.minimum(median - s0, s3 - median)
    mad = (half_gap + outer) * 0.5
    if not bool((count == 4).all()):
        np.copyto(mad, np.minimum(s1 - s0, s2 - s1), where=count == 3)
        np.copyto(mad, (s1 - s0) * 0.5, where=count == 2)
        mad[count == 1] = 0.0
        mad[count == 0] = np.nan
    return mad


def band_verdicts(
    observed: FloatArray,
    expected: FloatArray,
    spread: FloatArray,
    k: float,
    direction: Literal["up", "down", "both"],
    out: Verdicts | None = None,
) -> Verdicts:
    """Turn an expected value and a spread into verdicts with band ``expected +- k*spread``.

    ``score`` is the deviation in spreads, signed by ``direction`` (``both``: absolute);
    a window is flagged when its score exceeds ``k``. Where ``observed`` or
    ``expected`` is unknown the verdict is NaN and not flagged. With ``out`` (e.g. row
    views of a larger result, see ``rows_of``) the arrays are written there in place.
    """
    if out is None:
        out = alloc_verdicts(*observed.shape)
    exp = out.expected
    np.copyto(exp, expected)
    exp[np.isnan(observed)] = np.nan
    signed = np.subtract(observed, exp)  # NaN wherever there is no verdict
    if direction == "down":
        np.negative(signed, out=signed)
    elif direction == "both":
        np.abs(signed, out=signed)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(signed, spread, out=out.score)
    out.score[signed == 0] = 0.0
    np.greater(out.score, k, out=out.flagged)  # NaN compares False: no verdict, no flag
    width = np.multiply(spread, k)
    np.subtract(exp, width, out=out.lower)
    np.add(exp, width, out=out.upper)
    return out


def rows_of(verdicts: Verdicts, rows: slice) -> Verdicts:
    """Views of ``verdicts`` restricted to ``rows`` (writing to them writes the original)."""
    return Verdicts(
        expected=verdicts.expected[rows],
        lower=verdicts.lower[rows],
        upper=verdicts.upper[rows],
        score=verdicts.score[rows],
        flagged=verdicts.flagged[rows],
    )


def spread_floor(
    spread: FloatArray,
    expected: FloatArray,
    level: FloatArray | None,
    rel_floor: float,
    level_floor: float,
    min_spread: float,
) -> FloatArray:
    """``max(spread, rel_floor*|expected|, level_floor*level, min_spread)`` elementwise.

    The relative floor keeps quiet series from alerting on tiny moves; the level floor
    (a fraction of the typical non-zero amount) keeps zero-inflated series from alerting
    on their ordinary blips; ``min_spread`` is an absolute floor in money.
    """
    out = np.fmax(spread, rel_floor * np.abs(expected)) if rel_floor > 0 else spread.copy()
    if level is not None and level_floor > 0:
        np.fmax(out, level_floor * level, out=out)
    if min_spread > 0:
        np.fmax(out, min_spread, out=out)
    return out


def alloc_verdicts(n_series: int, n_judged: int) -> Verdicts:
    """Uninitialised verdicts of the given shape: every row block must fill its rows."""
    shape = (n_series, n_judged)
    return Verdicts(
        expected=np.empty(shape),
        lower=np.empty(shape),
        upper=np.empty(shape),
        score=np.empty(shape),
        flagged=np.empty(shape, bool),
    )
