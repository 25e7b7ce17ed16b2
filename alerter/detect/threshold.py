"""Threshold: a window above and/or below a fixed amount."""

from __future__ import annotations

import builtins
from datetime import timedelta
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, model_validator

from alerter.detect.base import DetectorParams, SeriesFrame, Verdicts
from alerter.detect.lags import judged_range


class ThresholdParams(DetectorParams):
    """Parameters of the ``threshold`` detector."""

    type: Literal["threshold"] = "threshold"
    above: float | None = Field(default=None, description="Flag a window whose spend exceeds this.")
    below: float | None = Field(
        default=None, description="Flag a window whose spend is under this."
    )

    @model_validator(mode="after")
    def _one_bound(self) -> ThresholdParams:
        if self.above is None and self.below is None:
            raise ValueError("set `above` and/or `below`")
        if self.above is not None and self.below is not None and self.below >= self.above:
            raise ValueError("`below` must be less than `above`")
        return self


class ThresholdDetector:
    """Flags windows outside fixed bounds; needs no history."""

    type: ClassVar[str] = "threshold"
    Params: ClassVar[builtins.type[DetectorParams]] = ThresholdParams

    def __init__(self, params: DetectorParams) -> None:
        assert isinstance(params, ThresholdParams)
        self.params = params

    def history(self, step: timedelta) -> int:
        return 0

    def evaluate(self, frame: SeriesFrame, judge: slice) -> Verdicts:
        start, stop = judged_range(frame.n_windows, judge)
        x = frame.values[:, start:stop]
        upper = np.full(x.shape, np.inf if self.params.above is None else self.params.above)
        lower = np.full(x.shape, -np.inf if self.params.below is None else self.params.below)
        bound = self.params.above if self.params.above is not None else self.params.below
        expected = np.where(np.isnan(x), np.nan, float(bound or 0.0))
        with np.errstate(invalid="ignore", divide="ignore"):
            over = np.where(
                np.isfinite(upper), (x - upper) / np.maximum(np.abs(upper), 1e-9), -np.inf
            )
            under = np.where(
                np.isfinite(lower), (lower - x) / np.maximum(np.abs(lower), 1e-9), -np.inf
            )
        score = np.maximum(over, under)
        flagged = (x > upper) | (x < lower)
        flagged &= ~np.isnan(x)
        return Verdicts(expected, lower, upper, np.nan_to_num(score, neginf=0.0), flagged)
