"""Forecast: EWMA or additive Holt-Winters one step ahead, with an EWM residual band."""

from __future__ import annotations

import builtins
from datetime import timedelta
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from alerter.detect.band import (
    BandParams,
    alloc_verdicts,
    band_verdicts,
    judged_range,
    map_blocks,
    row_blocks,
    rows_of,
    spread_floor,
    windows_in,
)
from alerter.detect.base import DetectorParams, FloatArray, SeriesFrame, Verdicts
from alerter.timeparse import Duration


class ForecastParams(BandParams):
    """Parameters of the ``forecast`` detector."""

    type: Literal["forecast"] = Field(default="forecast", description="Detector type.")
    alpha: float = Field(
        default=0.1, gt=0, le=1, description="Level smoothing (weight of the newest window)."
    )
    season: Duration | None = Field(
        default=None,
        description="Seasonal period (e.g. '1d', '7d') for additive Holt-Winters; none = EWMA.",
    )
    gamma: float = Field(
        default=0.2, gt=0, lt=1, description="Seasonal smoothing (Holt-Winters only)."
    )
    variance_alpha: float = Field(
        default=0.05, gt=0, le=1, description="Smoothing of the residual variance (the band)."
    )
    clip: float = Field(
        default=3.0,
        gt=0,
        le=100,
        description="Residuals are clipped to this many sigmas before updating the state, so "
        "a spike does not drag the forecast along.",
    )
    warmup: int = Field(
        default=24,
        ge=1,
        le=100_000,
        description="Known windows (beyond one seasonal period) before the first verdict.",
    )
    rel_floor: float = Field(
        default=0.05, ge=0, le=10, description="Spread floor as a fraction of the forecast."
    )


class ForecastDetector:
    """One-step-ahead smoothing forecast per series; the state is advanced column by column."""

    type: ClassVar[str] = "forecast"
    Params: ClassVar[builtins.type[DetectorParams]] = ForecastParams

    def __init__(self, params: DetectorParams) -> None:
        assert isinstance(params, ForecastParams)
        self.params = params

    def period(self, step: timedelta) -> int:
        """Windows per seasonal period (0 for plain EWMA)."""
        if self.params.season is None:
            return 0
        return windows_in(self.params.season, step, "forecast season")

    def history(self, step: timedelta) -> int:
        # a state-space forecast reads all it is given; this much makes it settle
        return 3 * self.period(step) + self.params.warmup + int(3 / self.params.alpha)

    def evaluate(self, frame: SeriesFrame, judge: slice) -> Verdicts:
        start, stop = judged_range(frame, judge)
        out = alloc_verdicts(frame.n_series, stop - start)
        if stop == start:
            return out
        period = self.period(frame.step)

        def work(rows: slice) -> None:
            with np.errstate(invalid="ignore", divide="ignore"):
                self._block(frame.values[rows], start, stop, period, rows_of(out, rows))

        map_blocks(work, row_blocks(frame.n_series, 64))  # wide blocks: the loop is per column
        return out

    def _block(
        self, values: FloatArray, start: int, stop: int, period: int, out: Verdicts
    ) -> Verdicts:
        p = self.params
        rows = values.shape[0]
        expected = np.full((rows, stop - start), np.nan)
        sigma = np.full((rows, stop - start), np.nan)
        sparse = np.zeros((rows, stop - start))
        init = period
        level, season = _initial_state(values, init, period)
        variance = np.zeros(rows)
        weight = np.zeros(rows)  # EWM bias correction: variance / weight is unbiased
        seen = np.zeros(rows, np.int64)
        var_seen = np.zeros(rows, np.int64)
        nz_sum = np.zeros(rows)  # EWM of |x| over non-zero windows, and their count weight
        nz_weight = np.zeros(rows)
        zero_share = np.zeros(rows)  # EWM of the zero indicator (bias-corrected by weight)
        for t in range(init, stop):
            phase = t % period if period else 0
            forecast = level + (season[:, phase] if period else 0.0)
            sd = np.sqrt(variance / weight)
            if t >= start:
                ready = (seen >= p.warmup) & (var_seen >= 2)
                expected[:, t - start] = np.where(ready, forecast, np.nan)
                sigma[:, t - start] = sd
                sparse[:, t - start] = nz_sum / nz_weight * zero_share / weight
            x = values[:, t]
            known = ~np.isnan(x)
            residual = np.where(known, x - forecast, 0.0)
            floor = np.fmax(np.fmax(sd, p.rel_floor * np.abs(forecast)), p.min_spread)
            bound = p.clip * floor
            warm = (var_seen >= 2) & (bound > 0)  # a zero band would freeze the state
            clipped = np.where(warm, np.clip(residual, -bound, bound), residual)
            # no history yet (level unknown): take the first known value as the level
            fresh = known & np.isnan(level)
            level = np.where(fresh, x, level)
            update = known & ~fresh
            level = np.where(update, level + p.alpha * clipped, level)
            if period:
                change = p.gamma * (1 - p.alpha) * clipped
                season[:, phase] = np.where(update, season[:, phase] + change, season[:, phase])
            decay = 1 - p.variance_alpha
            variance = np.where(update, decay * variance + p.variance_alpha * clipped**2, variance)
            weight = np.where(update, decay * weight + p.variance_alpha, weight)
            nonzero = known & (x != 0)
            nz_sum = np.where(nonzero, decay * nz_sum + p.variance_alpha * np.abs(x), nz_sum)
            nz_weight = np.where(nonzero, decay * nz_weight + p.variance_alpha, nz_weight)
            zero_share = np.where(
                update, decay * zero_share + p.variance_alpha * (x == 0), zero_share
            )
            var_seen += update
            seen += known
        sparse[~np.isfinite(sparse)] = 0.0
        spread = spread_floor(sigma, expected, sparse, p.rel_floor, p.level_floor, p.min_spread)
        return band_verdicts(values[:, start:stop], expected, spread, p.k, p.direction, out)


def _initial_state(values: FloatArray, init: int, period: int) -> tuple[FloatArray, FloatArray]:
    """Level and seasonal offsets from the first period (mean and deviations from it)."""
    rows = values.shape[0]
    if period == 0:
        return np.full(rows, np.nan), np.zeros((rows, 1))
    first = values[:, :init]
    known = ~np.isnan(first)
    n = known.sum(axis=1)
    level = np.where(n > 0, np.where(known, first, 0.0).sum(axis=1) / np.maximum(n, 1), np.nan)
    season = np.where(known, first - level[:, None], 0.0)
    return level, season
