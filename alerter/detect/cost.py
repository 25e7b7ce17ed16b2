"""Cost: log residuals against the same slot of past weeks, thresholds calibrated per
series from its own recent residuals under a noise budget.

Cost noise is multiplicative (a busy hour is noisier in money than a quiet one), so a
window is judged by its log ratio to the seasonal median,
``r = log((x + c) / (m + c))`` with ``m`` the median of the same hour of the week (day
of the week for daily data) over the last ``weeks`` weeks and ``c`` a small offset
(``offset`` times the series' recent mean), which keeps zeros finite.

Two scores, both in this scale:

- a **spike**: ``r`` itself;
- a **sustained change** (level shift, drop, ramp): the mean of ``r`` over the last
  ``shift_windows`` windows, which averages the noise away so a 30 % drop under heavy
  hourly noise is as clear as a tenfold spike.

Each series' thresholds come from its own residuals over the ``calibration`` span
before the day being judged (conformal style): the empirical quantile that a
``budget`` (e.g. ``"1/month"``) allows, times a ``guard`` margin, and never below
``k`` robust sigmas. So a series with heavy noise or heavy tails needs a larger move
than a quiet one, without a hand-tuned ``k`` per data set. Thresholds change once a day
(at UTC midnight), from data before that day only: causal.
"""

from __future__ import annotations

import builtins
import math
from datetime import timedelta
from typing import ClassVar, Literal

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import Field, field_validator, model_validator

from alerter.detect.band import MAD_TO_SIGMA, judged_range, windows_in
from alerter.detect.base import DetectorParams, FloatArray, SeriesFrame, Verdicts
from alerter.detect.budget import Budget, parse_budget
from alerter.timeparse import Duration

WEEK = timedelta(days=7)
DAY = timedelta(days=1)


class CostParams(DetectorParams):
    """Parameters of the ``cost`` detector."""

    type: Literal["cost"] = Field(default="cost", description="Detector type.")
    weeks: int = Field(
        default=4, ge=1, le=12, description="Past weeks whose same slot forms the baseline."
    )
    min_weeks: int = Field(
        default=2, ge=1, le=12, description="Fewest known same-slot values needed for a verdict."
    )
    calibration: Duration = Field(
        default=timedelta(days=14),
        description="Span of the series' own recent residuals its thresholds are calibrated on.",
    )
    budget: Budget = Field(
        default="1/month",
        description="How often a clean series may alert (e.g. '1/month'); sets the quantile "
        "of its recent residuals that a window must exceed. A rule's `max_alerts` fills it.",
    )
    guard: float = Field(
        default=1.5,
        ge=1,
        le=100,
        description="A spike must exceed the series' calibrated upper quantile by this factor.",
    )
    sparse_guard: float = Field(
        default=3.0,
        ge=1,
        le=1000,
        description="The guard for series whose calibration span is mostly zero windows "
        "(their blips are ordinary).",
    )
    k: float = Field(
        default=4.0, gt=0, le=100, description="Spike threshold floor in robust log sigmas."
    )
    shift_windows: int = Field(
        default=12,
        ge=1,
        le=1000,
        description="Windows averaged for the sustained-change score (level shifts, drops).",
    )
    k_shift: float = Field(
        default=4.0,
        gt=0,
        le=100,
        description="Sustained-change threshold floor in robust log sigmas of the average.",
    )
    shift_margin: float = Field(
        default=0.1,
        ge=0,
        le=10,
        description="A sustained change must exceed the series' calibrated quantile of its "
        "averaged residual by this much (log scale: 0.1 ~ 10 %).",
    )
    min_change: float = Field(
        default=0.25,
        ge=0,
        le=100,
        description="Smallest relative sustained change that alerts (0.25 = 25 %).",
    )
    offset: float = Field(
        default=0.05,
        gt=0,
        le=10,
        description="Offset c as a fraction of the series' recent mean (keeps zeros finite).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> CostParams:
        if self.min_weeks > self.weeks:
            raise ValueError(f"min_weeks ({self.min_weeks}) must be <= weeks ({self.weeks})")
        return self

    @field_validator("calibration")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value < DAY:
            raise ValueError("calibration must be at least a day")
        return value


class CostDetector:
    """Log-residual spikes and sustained changes, thresholds calibrated per series."""

    type: ClassVar[str] = "cost"
    Params: ClassVar[builtins.type[DetectorParams]] = CostParams

    def __init__(self, params: DetectorParams) -> None:
        assert isinstance(params, CostParams)
        self.params = params

    def _sizes(self, step: timedelta) -> tuple[int, int, int, int]:
        """(windows per week, calibration windows, shift windows, windows per block)."""
        period = windows_in(WEEK, step, "a week")
        cal = windows_in(self.params.calibration, step, "the calibration span")
        block = max(1, windows_in(DAY, step, "a day") if step <= DAY else 1)
        return period, cal, self.params.shift_windows, block

    def history(self, step: timedelta) -> int:
        period, cal, shift, block = self._sizes(step)
        return period * self.params.weeks + cal + shift + block

    def quantile(self, step: timedelta, cal: int) -> float:
        """The calibration quantile the budget allows: 1 - (alerts per window)."""
        per_week = parse_budget(self.params.budget)
        per_window = per_week * (step / WEEK)
        return float(min(1.0, max(0.5, 1.0 - per_window)))

    def evaluate(self, frame: SeriesFrame, judge: slice) -> Verdicts:
        start, stop = judged_range(frame, judge)
        n, width = frame.n_series, stop - start
        nan = np.full((n, width), np.nan)
        out = Verdicts(nan, nan.copy(), nan.copy(), nan.copy(), np.zeros((n, width), bool))
        if width == 0 or n == 0:
            return out
        p = self.params
        step = frame.step
        period, cal, shift, _block = self._sizes(step)
        step_s = int(step.total_seconds())
        block_s = max(step_s, 86400)
        secs = frame.starts[start:stop].astype("datetime64[s]").astype(np.int64)
        # column index where each judged column's day (its calibration block) begins
        block_col = np.arange(start, stop) - (secs % block_s) // step_s
        lo = int(block_col[0]) - cal - shift + 1  # first column whose residual is read
        pad = max(0, period * p.weeks - lo)
        values = frame.values
        if pad:
            values = np.concatenate([np.full((n, pad), np.nan), values], axis=1)
        base = lo + pad
        median = _seasonal_median(values, base, stop + pad, period, p.weeks, p.min_weeks)
        q = self.quantile(step, cal)
        log_guard, log_sparse = math.log(p.guard), math.log(p.sparse_guard)
        floor_shift = math.log1p(p.min_change)
        floor_drop = -math.log1p(-min(p.min_change, 0.99))
        up = p.direction in ("up", "both")
        down = p.direction in ("down", "both")
        with np.errstate(invalid="ignore", divide="ignore"):
            for b in np.unique(block_col):
                cols = np.nonzero(block_col == b)[0]  # judged columns of this day
                j0, j1 = int(cols[0]), int(cols[-1]) + 1
                b = int(b)
                # residuals of [b - cal - shift + 1, start + j1): calibration then judged
                seg_lo, seg_hi = b - cal - shift + 1 + pad, start + j1 + pad
                raw = values[:, b - cal + pad : b + pad]
                known = ~np.isnan(raw)
                n_known = known.sum(axis=1)
                mean = np.where(known, np.abs(raw), 0.0).sum(axis=1) / np.maximum(n_known, 1)
                c = p.offset * mean
                c[(n_known < cal // 2) | (c <= 0)] = np.nan  # no recent spend: no verdict
                zero_share = np.where(known, raw == 0, False).sum(axis=1) / np.maximum(n_known, 1)
                cc = c[:, None]
                obs = values[:, seg_lo:seg_hi]
                med = median[:, seg_lo - base : seg_hi - base]
                r = np.log((obs + cc) / (med + cc))
                avg = _rolling_mean(r, shift)  # column i: mean of r[i - shift + 1 .. i]
                r = r[:, shift - 1 :]
                cal_r, cal_avg = r[:, :cal], avg[:, :cal]
                sorted_r, count_r = _sort_known(cal_r)
                sorted_a, count_a = _sort_known(cal_avg)
                center = _order_stat(sorted_r, count_r, 0.5)
                dev, count_d = _sort_known(np.abs(cal_r - center[:, None]))
                sigma = MAD_TO_SIGMA * _order_stat(dev, count_d, 0.5)
                sigma = np.fmax(sigma, 1e-3)
                sparse = zero_share > 0.5  # blips are ordinary: no averaged or downward score
                guard = np.where(sparse, log_sparse, log_guard)
                rel = slice(start + j0 - b, start + j1 - b)
                r_j = r[:, cal:][:, rel]
                a_j = np.where(sparse[:, None], np.nan, avg[:, cal:][:, rel])
                shift_sigma = sigma / math.sqrt(shift)
                score = np.full(r_j.shape, -np.inf)
                upper = np.full(n, np.inf)
                lower = np.full(n, -np.inf)
                if up:
                    thr = np.fmax(p.k * sigma, _order_stat(sorted_r, count_r, q) + guard)
                    thr_a = np.fmax(
                        np.fmax(p.k_shift * shift_sigma, floor_shift),
                        _order_stat(sorted_a, count_a, q) + p.shift_margin,
                    )
                    score = np.fmax(score, np.fmax(r_j / thr[:, None], a_j / thr_a[:, None]))
                    upper = thr
                if down:
                    thr = np.fmax(p.k * sigma, guard - _order_stat(sorted_r, count_r, 1 - q))
                    thr_a = np.fmax(
                        np.fmax(p.k_shift * shift_sigma, floor_drop),
                        p.shift_margin - _order_stat(sorted_a, count_a, 1 - q),
                    )
                    down_j = np.fmax(-r_j / thr[:, None], -a_j / thr_a[:, None])
                    score = np.fmax(score, np.where(sparse[:, None], -np.inf, down_j))
                    lower = -thr
                ok = (count_r >= cal // 2) & ~np.isnan(c)
                exp_j = median[:, start + j0 + pad - base : start + j1 + pad - base]
                x_j = values[:, start + j0 + pad : start + j1 + pad]
                exp_j = np.where(ok[:, None] & ~np.isnan(x_j), exp_j, np.nan)
                valid = ~np.isnan(exp_j)
                score = np.where(valid, score, np.nan)
                out.expected[:, j0:j1] = exp_j
                out.upper[:, j0:j1] = (exp_j + cc) * np.exp(upper)[:, None] - cc
                out.lower[:, j0:j1] = (exp_j + cc) * np.exp(lower)[:, None] - cc
                out.score[:, j0:j1] = score
                out.flagged[:, j0:j1] = valid & (score > 1.0)
        return out


def _seasonal_median(
    values: FloatArray, lo: int, hi: int, period: int, weeks: int, min_weeks: int
) -> FloatArray:
    """Median of columns ``t - period*k`` (k = 1..weeks, known ones) for t in [lo, hi);
    NaN where fewer than ``min_weeks`` are known. ``lo >= period * weeks``."""
    stack = np.stack([values[:, lo - period * k : hi - period * k] for k in range(1, weeks + 1)])
    count = (~np.isnan(stack)).sum(axis=0)
    filled = np.where(np.isnan(stack), np.inf, stack)
    filled.sort(axis=0)
    safe = np.maximum(count, 1)
    low = np.take_along_axis(filled, ((safe - 1) // 2)[None], axis=0)[0]
    high = np.take_along_axis(filled, (safe // 2)[None], axis=0)[0]
    median: FloatArray = (low + high) * 0.5
    median[count < min_weeks] = np.nan
    return median


def _rolling_mean(values: FloatArray, n: int) -> FloatArray:
    """Mean of the known values of ``values[:, i - n + 1 .. i]`` for i >= n - 1 (NaN when
    fewer than half are known); shape ``(rows, cols - n + 1)``."""
    if n == 1:
        return values.copy()
    view = sliding_window_view(values, n, axis=1)
    known = ~np.isnan(view)
    total = np.where(known, view, 0.0).sum(axis=2)
    count = known.sum(axis=2)
    mean: FloatArray = total / np.maximum(count, 1)
    mean[count * 2 < n] = np.nan
    return mean


def _sort_known(values: FloatArray) -> tuple[FloatArray, np.ndarray]:
    """Each row sorted with unknowns (NaN, inf) last, and its count of finite values."""
    finite = np.isfinite(values)
    ordered = np.where(finite, values, np.inf)
    ordered.sort(axis=1)
    return ordered, finite.sum(axis=1)


def _order_stat(ordered: FloatArray, count: np.ndarray, q: float) -> FloatArray:
    """The ``q`` quantile (the next higher order statistic) of each sorted row's known
    values; NaN where a row has none."""
    safe = np.maximum(count, 1)
    index = np.minimum(np.ceil(q * (safe - 1)).astype(np.int64), safe - 1)
    picked = np.take_along_axis(ordered, index[:, None], axis=1)[:, 0]
    return np.where(count > 0, picked, np.nan)
