"""Robust z-score: distance from the trailing median in units of the trailing MAD."""

from __future__ import annotations

import builtins
from datetime import timedelta
from typing import ClassVar, Literal

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import Field, model_validator

from alerter.detect.band import (
    MAD_TO_SIGMA,
    BandParams,
    alloc_verdicts,
    band_verdicts,
    judged_range,
    map_blocks,
    nan_median_sorted,
    row_blocks,
    rows_of,
    spread_floor,
)
from alerter.detect.base import DetectorParams, FloatArray, SeriesFrame, Verdicts


class ZScoreParams(BandParams):
    """Parameters of the ``zscore`` detector."""

    type: Literal["zscore"] = Field(default="zscore", description="Detector type.")
    window: int = Field(
        default=24, ge=2, le=10_000, description="Trailing windows the median and MAD read."
    )
    min_points: int = Field(
        default=12,
        ge=2,
        le=10_000,
        description="Fewest known windows (out of window) needed for a verdict.",
    )
    rel_floor: float = Field(
        default=0.05,
        ge=0,
        le=10,
        description="Spread floor as a fraction of the median (0.05 = 5%).",
    )
    extreme_window: int = Field(
        default=0,
        ge=0,
        le=100_000,
        description=(
            "If > 0, flag only values beyond the highest (up) or lowest (down) known value "
            "of this many trailing windows: a new extreme, not a repeat of past peaks."
        ),
    )

    @model_validator(mode="after")
    def _min_points_within_window(self) -> ZScoreParams:
        if self.min_points > self.window:
            raise ValueError(f"min_points ({self.min_points}) must be <= window ({self.window})")
        return self


class ZScoreDetector:
    """Median and MAD of the trailing window, per series, all series at once."""

    type: ClassVar[str] = "zscore"
    Params: ClassVar[builtins.type[DetectorParams]] = ZScoreParams

    def __init__(self, params: DetectorParams) -> None:
        assert isinstance(params, ZScoreParams)
        self.params = params

    def history(self, step: timedelta) -> int:
        return max(self.params.window, self.params.extreme_window)

    def evaluate(self, frame: SeriesFrame, judge: slice) -> Verdicts:
        start, stop = judged_range(frame, judge)
        out = alloc_verdicts(frame.n_series, stop - start)
        if stop == start:
            return out

        def work(rows: slice) -> None:
            with np.errstate(invalid="ignore", divide="ignore"):
                self._block(frame.values[rows], start, stop, rows_of(out, rows))

        span = max(self.params.window, self.params.extreme_window)
        map_blocks(work, row_blocks(frame.n_series, (stop - start) * span * 3))
        return out

    def _block(self, values: FloatArray, start: int, stop: int, out: Verdicts) -> Verdicts:
        p = self.params
        past = _trailing(values, start, stop, p.window)  # (rows, judged, window), +inf unknown
        count = np.sum(past < np.inf, axis=2)
        ordered = np.sort(past, axis=2)
        median = nan_median_sorted(ordered, count, axis=2)
        deviations = np.abs(ordered - median[:, :, None])
        mad = nan_median_sorted(np.sort(deviations, axis=2), count, axis=2)
        spread = mad * MAD_TO_SIGMA
        known = ordered < np.inf
        nonzero = known & (ordered != 0)
        n_nonzero = nonzero.sum(axis=2)
        level = np.where(nonzero, np.abs(ordered), 0.0).sum(axis=2) / np.maximum(n_nonzero, 1)
        level *= 1.0 - n_nonzero / np.maximum(count, 1)  # only sparse series get this floor
        median[count < p.min_points] = np.nan
        spread = spread_floor(spread, median, level, p.rel_floor, p.level_floor, p.min_spread)
        verdicts = band_verdicts(values[:, start:stop], median, spread, p.k, p.direction, out)
        if p.extreme_window:
            np.logical_and(
                verdicts.flagged,
                _beyond_range(values, start, stop, p.extreme_window, p.direction),
                out=verdicts.flagged,
            )
        return verdicts


def _beyond_range(
    values: FloatArray, start: int, stop: int, n: int, direction: str
) -> npt.NDArray[np.bool_]:
    """Whether each judged value is above the max / below the min of the n windows
    before it (unknown windows ignored; with none known, any value is beyond)."""
    past = _trailing(values, start, stop, n)  # unknown as +inf
    observed = values[:, start:stop]
    beyond = np.zeros(observed.shape, bool)
    if direction in ("up", "both"):
        highest = np.max(np.where(past < np.inf, past, -np.inf), axis=2)
        beyond |= observed > highest
    if direction in ("down", "both"):
        beyond |= observed < np.min(past, axis=2)
    return beyond


def _trailing(values: FloatArray, start: int, stop: int, n: int) -> FloatArray:
    """``out[s, j, i] = values[s, start + j - n + i]`` with unknown (NaN or before the
    frame) as +inf: the n windows strictly before each judged column."""
    rows = values.shape[0]
    lo = start - n
    padded = np.full((rows, stop - 1 - lo), np.inf)
    src_lo = max(lo, 0)
    chunk = values[:, src_lo : stop - 1]
    if chunk.size:
        target = padded[:, src_lo - lo :]
        np.copyto(target, chunk)
        target[np.isnan(chunk)] = np.inf
    return sliding_window_view(padded, n, axis=1)
