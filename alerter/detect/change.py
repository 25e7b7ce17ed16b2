"""Change: a window that moved from its trailing or seasonal baseline by a percent and/or amount."""

from __future__ import annotations

import builtins
import warnings
from datetime import timedelta
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from alerter.detect.band import windows_in
from alerter.detect.base import DetectorParams, FloatArray, SeriesFrame, Verdicts
from alerter.detect.lags import judged_range, seasonal, trailing


class ChangeParams(DetectorParams):
    """Parameters of the ``change`` detector."""

    type: Literal["change"] = "change"
    baseline: Literal["mean", "median", "seasonal"] = Field(
        default="median",
        description="mean or median of the last `windows` windows, or the median of the same "
        "hour-of-week (day-of-week for daily data) over the last `weeks` weeks.",
    )
    windows: int = Field(default=24, ge=1, description="N: trailing windows for mean/median.")
    weeks: int = Field(default=4, ge=1, description="K: weeks for the seasonal baseline.")
    pct: float | None = Field(
        default=None,
        gt=0,
        description="Minimum change in percent of the baseline (100 = doubling).",
    )
    delta: float | None = Field(
        default=None, gt=0, description="Minimum change in money over the baseline."
    )

    def seasonal_weeks(self) -> int | None:
        return self.weeks if self.baseline == "seasonal" else None

    @model_validator(mode="after")
    def _one_condition(self) -> ChangeParams:
        if self.pct is None and self.delta is None:
            raise ValueError("set `pct` and/or `delta`")
        return self


def period_windows(step: timedelta, period: timedelta = timedelta(weeks=1)) -> int:
    """How many windows of ``step`` make one ``period`` (a week by default)."""
    return windows_in(period, step, "a week" if period == timedelta(weeks=1) else "the period")


class ChangeDetector:
    """Percent and/or money change against a causal baseline."""

    type: ClassVar[str] = "change"
    Params: ClassVar[builtins.type[DetectorParams]] = ChangeParams

    def __init__(self, params: DetectorParams) -> None:
        assert isinstance(params, ChangeParams)
        self.params = params

    def history(self, step: timedelta) -> int:
        if self.params.baseline == "seasonal":
            return period_windows(step) * self.params.weeks
        return self.params.windows

    def baseline(self, frame: SeriesFrame, start: int, stop: int) -> FloatArray:
        p = self.params
        if p.baseline == "seasonal":
            past = seasonal(frame.values, start, stop, period_windows(frame.step), p.weeks)
        else:
            past = trailing(frame.values, start, stop, p.windows)
        need = max(1, (past.shape[2] + 1) // 2)
        enough = np.sum(~np.isnan(past), axis=2) >= need
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices -> NaN, masked below
            center = (
                np.nanmean(past, axis=2) if p.baseline == "mean" else np.nanmedian(past, axis=2)
            )
        return np.where(enough, center, np.nan)

    def evaluate(self, frame: SeriesFrame, judge: slice) -> Verdicts:
        p = self.params
        start, stop = judged_range(frame.n_windows, judge)
        x = frame.values[:, start:stop]
        base = self.baseline(frame, start, stop)
        expected = np.where(np.isnan(x), np.nan, base)
        margin_pct = np.abs(base) * (p.pct / 100.0) if p.pct is not None else np.zeros_like(base)
        margin_abs = np.full(base.shape, p.delta if p.delta is not None else 0.0)
        margin = np.maximum(margin_pct, margin_abs)
        upper = base + margin
        # Spend does not go below zero unless the baseline itself is negative (credits).
        lower = np.where(base >= 0, np.maximum(base - margin, 0.0), base - margin)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = (x - base) / np.maximum(margin, 1e-9)
        up = (x - base >= margin_abs) & (x >= upper) & (x > base)
        down = (base - x >= margin_abs) & (x <= lower) & (x < base)
        if p.pct is not None:
            up &= (x - base) >= margin_pct
            down &= (base - x) >= margin_pct
        flagged = np.zeros(x.shape, dtype=bool)
        if p.direction in ("up", "both"):
            flagged |= up
        if p.direction in ("down", "both"):
            flagged |= down
        flagged &= ~np.isnan(expected)
        score = np.nan_to_num(np.abs(rel), nan=0.0, posinf=1e9)
        return Verdicts(expected, lower, upper, score, flagged)
