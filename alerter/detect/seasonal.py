"""Seasonal baseline: the same hour of the week (or day of the week) over the last K weeks."""

from __future__ import annotations

import builtins
from datetime import timedelta
from typing import ClassVar, Literal

import numpy as np
import numpy.typing as npt
from pydantic import Field, model_validator

from alerter.detect.band import (
    MAD_TO_SIGMA,
    BandParams,
    alloc_verdicts,
    band_verdicts,
    judged_range,
    mad_of_sorted,
    map_blocks,
    median_of_stack,
    row_blocks,
    rows_of,
    sort_stack,
    spread_floor,
    windows_in,
)
from alerter.detect.base import DetectorParams, FloatArray, SeriesFrame, Verdicts

WEEK = timedelta(days=7)


class SeasonalParams(BandParams):
    """Parameters of the ``seasonal`` detector."""

    type: Literal["seasonal"] = Field(default="seasonal", description="Detector type.")

    def seasonal_weeks(self) -> int | None:
        return self.weeks

    weeks: int = Field(
        default=4, ge=1, le=12, description="How many past weeks form the baseline (K)."
    )
    min_weeks: int = Field(
        default=2,
        ge=1,
        le=12,
        description="Fewest known same-slot values (out of weeks) needed for a verdict.",
    )
    rel_floor: float = Field(
        default=0.1,
        ge=0,
        le=10,
        description="Spread floor as a fraction of the expected value (0.1 = 10%).",
    )
    smooth: int = Field(
        default=2,
        ge=0,
        le=12,
        description=(
            "Neighbouring slots on each side whose spreads are averaged (pools the "
            "spread estimate over nearby hours)."
        ),
    )

    @model_validator(mode="after")
    def _min_weeks_within_weeks(self) -> SeasonalParams:
        if self.min_weeks > self.weeks:
            raise ValueError(f"min_weeks ({self.min_weeks}) must be <= weeks ({self.weeks})")
        return self


class SeasonalDetector:
    """Median and robust spread of the same slot over the last K weeks, per series."""

    type: ClassVar[str] = "seasonal"
    Params: ClassVar[builtins.type[DetectorParams]] = SeasonalParams

    def __init__(self, params: DetectorParams) -> None:
        assert isinstance(params, SeasonalParams)
        self.params = params

    def period(self, step: timedelta) -> int:
        """Windows per week for ``step`` (168 hourly, 7 daily); ValueError if not whole."""
        return windows_in(WEEK, step, "a week")

    def history(self, step: timedelta) -> int:
        return self.period(step) * self.params.weeks + self.params.smooth

    def evaluate(self, frame: SeriesFrame, judge: slice) -> Verdicts:
        start, stop = judged_range(frame, judge)
        period = self.period(frame.step)
        out = alloc_verdicts(frame.n_series, stop - start)
        # columns with fewer than min_weeks weeks before them can have no verdict
        first = min(stop, max(start, self.params.min_weeks * period))
        width = (stop - first + 2 * self.params.smooth) * (self.params.weeks + 4)
        head = slice(0, first - start)

        def work(rows: slice) -> None:
            view = rows_of(out, rows)
            for array in (view.expected, view.lower, view.upper, view.score):
                array[:, head] = np.nan
            view.flagged[:, head] = False
            if first < stop:
                cols = slice(first - start, None)
                tail = Verdicts(
                    view.expected[:, cols],
                    view.lower[:, cols],
                    view.upper[:, cols],
                    view.score[:, cols],
                    view.flagged[:, cols],
                )
                with np.errstate(invalid="ignore", divide="ignore"):  # inf - inf: unknown lags
                    self._block(frame.values[rows], first, stop, period, tail)

        map_blocks(work, row_blocks(frame.n_series, width))
        return out

    def _block(
        self, values: FloatArray, start: int, stop: int, period: int, out: Verdicts
    ) -> Verdicts:
        p = self.params
        h = min(p.smooth, period - 1)
        lags, count = _lag_stack(values, start - h, stop + h, period, p.weeks)
        ordered = sort_stack(lags)
        expected = median_of_stack(ordered, count)
        mad = mad_of_sorted(ordered, expected, count)
        spread = _moving_sum(mad, h)
        spread *= MAD_TO_SIGMA / (2 * h + 1)
        inner = slice(h, h + stop - start)
        expected = expected[:, inner]
        expected[count[:, inner] < p.min_weeks] = np.nan
        level = _nonzero_level(values, start, stop, period * p.weeks) if p.level_floor else None
        spread = spread_floor(spread, expected, level, p.rel_floor, p.level_floor, p.min_spread)
        return band_verdicts(values[:, start:stop], expected, spread, p.k, p.direction, out)


def _lag_stack(
    values: FloatArray, lo: int, hi: int, period: int, weeks: int
) -> tuple[list[FloatArray], npt.NDArray[np.int8]]:
    """Views of columns ``[lo - k*period, hi - k*period)`` for k = 1..weeks, unknown as +inf.

    Also returns the number of known lags per cell. ``hi - period`` never exceeds the
    frame, so only the past is read.
    """
    rows = values.shape[0]
    first = lo - weeks * period
    src_lo, src_hi = max(first, 0), max(hi - period, 0)
    padded = np.full((rows, hi - period - first), np.inf)
    chunk = values[:, src_lo:src_hi]
    if chunk.size:
        np.copyto(padded[:, src_lo - first :], chunk)
        padded[:, src_lo - first :][np.isnan(chunk)] = np.inf
    known = padded < np.inf
    width = hi - lo
    lags: list[FloatArray] = []
    count = np.zeros((rows, width), np.int8)
    for k in range(1, weeks + 1):
        offset = (weeks - k) * period
        lags.append(padded[:, offset : offset + width])
        count += known[:, offset : offset + width]
    return lags, count


def _moving_sum(values: FloatArray, half: int) -> FloatArray:
    """Sum over ``[t - half, t + half]`` (NaN if any is unknown); drops ``half`` per side."""
    width = values.shape[1] - 2 * half
    total = values[:, :width].copy()
    for j in range(1, 2 * half + 1):
        total += values[:, j : j + width]
    return total


def _nonzero_level(values: FloatArray, start: int, stop: int, span: int) -> FloatArray:
    """Sparsity-weighted typical amount over ``[t - span, t)``: the mean |amount| of the
    known non-zero windows times the share of known windows that were zero (0 if none).

    Large for zero-inflated series (their blips are ordinary), near 0 for dense ones.
    """
    lo = max(0, start - span)
    chunk = values[:, lo : max(lo, stop - 1)]
    zeros = chunk == 0
    sparse = zeros.any(axis=1)
    level = np.zeros((values.shape[0], stop - start))
    if not sparse.any():
        return level  # no zero window anywhere: the floor is 0 for every row
    if not sparse.all():
        level[sparse] = _nonzero_level(values[sparse], start, stop, span)
        return level
    known = ~np.isnan(chunk)
    nonzero = known & ~zeros
    rows, width = chunk.shape
    sums = np.zeros((rows, width + 1))
    np.cumsum(np.where(nonzero, np.abs(chunk), 0.0), axis=1, out=sums[:, 1:])
    n_nonzero = np.zeros((rows, width + 1), np.int32)
    np.cumsum(nonzero, axis=1, out=n_nonzero[:, 1:])
    n_known = np.zeros((rows, width + 1), np.int32)
    np.cumsum(known, axis=1, out=n_known[:, 1:])
    total = _window_diff(sums, start, stop, lo, span)
    nz = _window_diff(n_nonzero, start, stop, lo, span)
    kn = _window_diff(n_known, start, stop, lo, span)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(total, nz, out=level)
        level *= 1.0 - nz / kn
    level[nz == 0] = 0.0
    return level


def _window_diff(cums: np.ndarray, start: int, stop: int, lo: int, span: int) -> np.ndarray:
    """``cums[t - lo] - cums[max(t - span, lo) - lo]`` for t in [start, stop), by slices."""
    out = cums[:, start - lo : stop - lo].copy()
    cut = min(stop, max(start, lo + span))  # columns t < cut start their window at lo
    if cut < stop:
        out[:, cut - start :] -= cums[:, cut - span - lo : stop - span - lo]
    return out
