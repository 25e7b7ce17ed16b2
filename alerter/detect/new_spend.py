"""New spend: a series with no spend in its known history that now costs money."""

from __future__ import annotations

import builtins
from datetime import timedelta
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator

from alerter.detect.band import judged_range, windows_in
from alerter.detect.base import DetectorParams, FloatArray, SeriesFrame, Verdicts
from alerter.timeparse import Duration


class NewSpendParams(DetectorParams):
    """Parameters of the ``new_spend`` detector."""

    type: Literal["new_spend"] = Field(default="new_spend", description="Detector type.")
    min_amount: float = Field(
        default=0.0,
        ge=0,
        description="Flag a window whose spend exceeds this (money) after a quiet history.",
    )
    lookback: Duration = Field(
        default=timedelta(days=28),
        description="How far back the history must be free of spend (e.g. '28d').",
    )
    min_known: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="Fraction of the lookback windows that must be known (not missing) for "
        "the history to count as quiet.",
    )

    @field_validator("direction")
    @classmethod
    def _only_up(cls, value: str) -> str:
        if value != "up":
            raise ValueError("new_spend only detects increases: direction must be 'up'")
        return value

    @field_validator("lookback")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("lookback must be positive")
        return value


class NewSpendDetector:
    """Spend above ``min_amount`` where every known window of the lookback was <= 0."""

    type: ClassVar[str] = "new_spend"
    Params: ClassVar[builtins.type[DetectorParams]] = NewSpendParams

    def __init__(self, params: DetectorParams) -> None:
        assert isinstance(params, NewSpendParams)
        self.params = params

    def history(self, step: timedelta) -> int:
        return windows_in(self.params.lookback, step, "new_spend lookback")

    def evaluate(self, frame: SeriesFrame, judge: slice) -> Verdicts:
        """Expected is 0 for a series with a quiet history and NaN (no verdict) otherwise.

        ``score`` is the spend in units of ``min_amount`` (inf when ``min_amount`` is 0).
        """
        start, stop = judged_range(frame, judge)
        span = self.history(frame.step)
        values = frame.values
        rows = values.shape[0]
        lo = max(0, start - span)
        chunk = values[:, lo : max(lo, stop - 1)]
        known = ~np.isnan(chunk)
        spent = known & (chunk > 0)
        zero = np.zeros((rows, 1), np.int64)
        known_cs = np.concatenate([zero, np.cumsum(known, axis=1)], axis=1)
        spent_cs = np.concatenate([zero, np.cumsum(spent, axis=1)], axis=1)
        t = np.arange(start, stop)
        right = t - lo
        left = np.maximum(t - span, lo) - lo
        n_known = known_cs[:, right] - known_cs[:, left]
        n_spent = spent_cs[:, right] - spent_cs[:, left]
        quiet = (n_spent == 0) & (n_known >= self.params.min_known * span)
        observed = values[:, start:stop]
        expected: FloatArray = np.where(quiet & ~np.isnan(observed), 0.0, np.nan)
        threshold = self.params.min_amount
        with np.errstate(divide="ignore", invalid="ignore"):
            score = np.where(np.isnan(expected), np.nan, observed / threshold)
        score[(observed <= 0) & ~np.isnan(expected)] = 0.0
        flagged = quiet & (observed > threshold)
        lower = np.where(np.isnan(expected), np.nan, 0.0)
        upper = np.where(np.isnan(expected), np.nan, threshold)
        return Verdicts(expected=expected, lower=lower, upper=upper, score=score, flagged=flagged)
