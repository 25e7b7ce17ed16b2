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

Whole days that move together (a paced ad budget, a busy day for every customer) are a
day-level factor shared by all hours of the day: it does not average away over a few
hours, so the averaged scores' floor adds the robust spread of the series' recent daily
mean residuals, at the Gaussian quantile the budget allows once a day. Series whose hours
are independent have no such spread and are judged as without it.

Options for series a plain seasonal residual misreads (each off by default): ``active_share``
judges intermittent series on their non-zero windows only (a zero hour is not a drop);
``center`` measures increases (decreases) from a positive (negative) typical residual, so
a steady trend is not a change; ``month_days`` keeps the month-back comparison to month
starts; ``holiday_from_midnight`` lets only a day low from its start pass as a holiday;
``irregular_share`` judges series whose runs come at shifting hours (training runs, ad hoc
jobs) against their own runs: their largest amount, their longest run, their floor.
"""

from __future__ import annotations

import builtins
import math
from datetime import timedelta
from statistics import NormalDist
from typing import ClassVar, Literal

import numpy as np
from pydantic import Field, field_validator, model_validator

from alerter.detect.band import (
    MAD_TO_SIGMA,
    judged_range,
    median_of_stack,
    sort_stack,
    windows_in,
)
from alerter.detect.base import BoolArray, DetectorParams, FloatArray, SeriesFrame, Verdicts
from alerter.detect.budget import Budget, parse_budget
from alerter.timeparse import Duration

WEEK = timedelta(days=7)
DAY = timedelta(days=1)
ROWS = 8192
"""Series judged together: the per-day working arrays are (ROWS x calibration span)."""


class CostParams(DetectorParams):
    """Parameters of the ``cost`` detector."""

    type: Literal["cost"] = Field(default="cost", description="Detector type.")
    period: Duration = Field(
        default=WEEK,
        description="The season: the baseline is the same slot of the last `weeks` periods "
        "('7d': hour of the week; '1d': hour of the day). A whole number of days.",
    )
    weeks: int = Field(
        default=4, ge=1, le=60, description="Past periods whose same slot forms the baseline."
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
        default=2.5,
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
    drop_windows: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="Windows averaged for the sustained-decrease score (drops); unset: "
        "`shift_windows`. A decrease must also pass `min_change`, which as a decrease is the "
        "larger floor (40 %: 0.51 in log against 0.34 up), so a shorter average finds drops "
        "sooner without alerting on noise.",
    )
    k_shift: float = Field(
        default=4.0,
        gt=0,
        le=100,
        description="Sustained-change threshold floor in robust log sigmas of the average.",
    )
    shift_margin: float = Field(
        default=0.2,
        ge=0,
        le=10,
        description="A sustained change must exceed the series' recent maximum of its "
        "averaged residual by this much (log scale: 0.2 ~ 22 %); the long average's margin "
        "is smaller by sqrt(shift_windows / windows in hold).",
    )
    excursion_margin: float = Field(
        default=0.0,
        ge=0,
        le=10,
        description="A sustained rise must also exceed the series' recent maximum of its "
        "averaged residual by this share of that maximum (log scale): a series whose recent "
        "bursts were tenfold needs a larger one to be news (decreases are not affected); "
        "0 (default): off.",
    )
    min_change: float = Field(
        default=0.4,
        ge=0,
        le=100,
        description="Smallest relative sustained change that alerts (0.4 = 40 %).",
    )
    hold: Duration = Field(
        default=timedelta(days=2),
        description="Span of the long average: a change held this long alerts with a "
        "smaller margin, and a decrease held this long alerts even when each day of it "
        "looks like a weekend day (a one-day holiday does not; a lasting drop does).",
    )
    down_spikes: bool = Field(
        default=False,
        description="A single window below the band alerts; off (default): a decrease "
        "must persist over `shift_windows` (a one-window dip is noise or a late row).",
    )
    monthly: bool = Field(
        default=True,
        description="An increase must also exceed the same slot one calendar month back "
        "(month-start billing, monthly jobs are not spikes).",
    )
    month_days: int | None = Field(
        default=None,
        ge=1,
        le=31,
        description="With `monthly`: only windows in the first this many days of a month are "
        "compared with the month before (month-start billing); unset: every day (monthly jobs "
        "on any day). On other days a month back is often another weekday, which would "
        "explain away a real rise.",
    )
    weekend_floor: bool = Field(
        default=True,
        description="A decrease must also fall below the lowest same slot of the last seven "
        "days (a holiday that looks like a Sunday is not a drop).",
    )
    center: bool = Field(
        default=False,
        description="Increases are measured from the series' median residual over "
        "`calibration` when it is positive, decreases when it is negative (a steady trend "
        "that the seasonal median lags behind is not a change; never more alarming than "
        "off, so the weeks after a level shift, while the median catches up, stay quiet). "
        "Intermittent series (`active_share`) are never centred.",
    )
    holiday_from_midnight: bool = Field(
        default=False,
        description="With `weekend_floor`, sub-daily data: the lowest-day explanation holds "
        "only on a day that has looked like the lowest day since midnight (its windows where "
        "the two differ nearer it than the normal) after a day that was not low itself (a "
        "holiday is low all day; a drop that begins at 14:00 or lasts is not a holiday).",
    )
    active_share: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Series whose calibration span has at least this share of zero windows "
        "(intermittent, batch hours) are judged on the windows that cost money only: a zero "
        "window is not a drop, the baseline is the median of the non-zero same slots (and "
        "their neighbours, sub-daily), and the sustained score averages the last "
        "`active_windows` non-zero windows. Unset: zeros are judged like any amount (and "
        "series mostly zero get spikes only).",
    )
    active_windows: int = Field(
        default=4,
        ge=1,
        le=1000,
        description="With `active_share`: non-zero windows averaged for an intermittent "
        "series' sustained-change score.",
    )
    irregular_share: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="Series with a window threefold off the same slot a period earlier "
        "(both non-zero) on at least this share of the days of the last `calibration` plus "
        "`weeks - 1` periods (ad hoc jobs, training runs at shifting hours; one odd event "
        "marks only its days and their echo a period later) are judged against their "
        "own runs: a window alerts up when 1.5x (`guard`) their largest amount of that "
        "span, a run when it outlasts their longest run by a quarter (at least two "
        "windows), and a decrease when their floor between runs falls for `drop_windows`; "
        "a run at a new hour, or a run that does not come, is not news. Unset: off.",
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

    @field_validator("period")
    @classmethod
    def _whole_days(cls, value: timedelta) -> timedelta:
        if value < DAY or value % DAY:
            raise ValueError("period must be a whole number of days ('1d', '7d')")
        return value


class CostDetector:
    """Log-residual spikes and sustained changes, thresholds calibrated per series."""

    type: ClassVar[str] = "cost"
    Params: ClassVar[builtins.type[DetectorParams]] = CostParams

    def __init__(self, params: DetectorParams) -> None:
        assert isinstance(params, CostParams)
        self.params = params

    def _sizes(self, step: timedelta) -> tuple[int, int, int, int]:
        """(windows per week, calibration windows, longest averaging span, windows per
        calibration block)."""
        period = windows_in(self.params.period, step, "the period")
        cal = windows_in(self.params.calibration, step, "the calibration span")
        block = max(1, windows_in(DAY, step, "a day") if step <= DAY else 1)
        span = max(self.params.shift_windows, self._drop_windows(), self._hold(step))
        return period, cal, span, block

    def _drop_windows(self) -> int:
        return self.params.drop_windows or self.params.shift_windows

    def _hold(self, step: timedelta) -> int:
        return max(1, int(self.params.hold / step))

    def _day(self, step: timedelta) -> int:
        return max(1, int(DAY / step))

    def _month(self, step: timedelta) -> int:
        """Windows in the longest month back (0 without ``monthly``)."""
        return windows_in(timedelta(days=31), step, "a month") if self.params.monthly else 0

    def history(self, step: timedelta) -> int:
        period, cal, span, block = self._sizes(step)
        back = max(period * self.params.weeks + ACTIVE_NEAR, self._month(step), 7 * self._day(step))
        return back + cal + span + block

    def quantile(self, step: timedelta) -> float:
        """The calibration quantile the budget allows: 1 - (alerts per window)."""
        per_week = parse_budget(self.params.budget)
        per_window = per_week * (step / WEEK)
        return float(min(1.0, max(0.5, 1.0 - per_window)))

    def _spike_threshold(
        self,
        cal_r: FloatArray,
        sigma: FloatArray,
        guard: FloatArray,
        sparse: BoolArray,
        alpha: float,
    ) -> FloatArray:
        """Per-series spike threshold (one tail, larger is worse) from the calibration
        residuals: never below ``k`` sigmas nor the recent maximum times the guard, and
        for dense series not below the budget's quantile extrapolated from the top 5 %
        (an exponential tail in log scale: a Pareto tail in money)."""
        ordered, count = _sort_known(cal_r)
        thr = np.fmax(self.params.k * sigma, _order_stat(ordered, count, 1.0) + guard)
        return np.where(sparse, thr, np.fmax(thr, _tail(ordered, count, alpha)))

    def _average_threshold(
        self,
        cal_avg: FloatArray,
        sigma: FloatArray,
        day_sigma: FloatArray,
        n: int,
        day: int,
        floor: float,
        alpha: float,
        excursion: float = 0.0,
    ) -> FloatArray:
        """Threshold of a mean of ``n`` residuals: ``k_shift`` sigmas of a mean, the
        smallest change that alerts, the recent maximum plus the margin (and plus
        ``excursion`` times that maximum: rises of a bursty series), the budget's
        extrapolated quantile (excursions last about ``n`` windows).

        Hours of one day share that day's factor (a campaign's budget, a busy day), which
        only averaging over whole days removes: the floor is
        ``sqrt((z * day_sigma)**2 * min(1, day / n) + (k_shift * sigma)**2 / n)`` with
        ``z`` the Gaussian quantile the budget allows once a day (2.8 at one alert a
        year), ``day_sigma`` the robust spread of the series' recent daily mean
        residuals; 0 without day-level swings, so hourly-independent noise is judged as
        before."""
        p = self.params
        ordered, count = _sort_known(cal_avg)
        # a day's factor is one draw a day: its budget quantile, Gaussian in log scale
        k_day = NormalDist().inv_cdf(1.0 - min(0.5, alpha * day))
        day_part = (k_day * day_sigma) ** 2 * min(1.0, day / n)
        thr = np.fmax(np.sqrt(day_part + (p.k_shift * sigma) ** 2 / n), floor)
        margin = p.shift_margin * math.sqrt(min(1.0, p.shift_windows / n))  # noise ~ 1/sqrt(n)
        top = _order_stat(ordered, count, 1.0)
        thr = np.fmax(thr, top + margin + excursion * np.fmax(top, 0.0))
        return np.fmax(thr, _tail(ordered, count, min(1.0, alpha * n)))

    def _active_score(
        self,
        r: FloatArray,
        sigma: FloatArray,
        span: int,
        cal: int,
        rel: slice,
        sign: float,
        floor: float,
        alpha: float,
        held: FloatArray,
        thr_held: FloatArray,
    ) -> FloatArray:
        """Sustained score of intermittent series: the mean of the last ``active_windows``
        known (non-zero) residuals, signed (``sign`` -1 for decreases), over its threshold
        calibrated like a time average of that many windows; or the long (``hold``)
        average over its own threshold, whichever is larger."""
        k = self.params.active_windows
        avg = sign * _last_known_mean(r, k)[:, span - 1 :]
        no_day = np.zeros_like(sigma)
        thr = self._average_threshold(avg[:, :cal], sigma, no_day, k, 1, floor, alpha)
        out: FloatArray = np.fmax(avg[:, rel] / thr[:, None], held[:, rel] / thr_held[:, None])
        return out

    def evaluate(self, frame: SeriesFrame, judge: slice) -> Verdicts:
        start, stop = judged_range(frame, judge)
        n, width = frame.n_series, stop - start
        nan = np.full((n, width), np.nan)
        out = Verdicts(nan, nan.copy(), nan.copy(), nan.copy(), np.zeros((n, width), bool))
        if width == 0 or n == 0:
            return out
        if n > ROWS:  # rows are independent: judge them in blocks, so the working arrays
            # (a score of each kind over the calibration span) stay a few hundred MB
            for lo in range(0, n, ROWS):
                rows = slice(lo, min(n, lo + ROWS))
                block = SeriesFrame(frame.keys[rows], frame.starts, frame.step, frame.values[rows])
                part = self.evaluate(block, judge)
                for name in ("expected", "lower", "upper", "score", "flagged"):
                    getattr(out, name)[rows] = getattr(part, name)
            return out
        p = self.params
        step = frame.step
        period, cal, span, _block = self._sizes(step)
        shift, hold, day = p.shift_windows, self._hold(step), self._day(step)
        step_s = int(step.total_seconds())
        block_s = max(step_s, 86400)
        secs = frame.starts[start:stop].astype("datetime64[s]").astype(np.int64)
        # column index where each judged column's day (its calibration block) begins
        block_col = np.arange(start, stop) - (secs % block_s) // step_s
        lo = int(block_col[0]) - cal - span + 1  # first column whose residual is read
        pad = max(
            0, max(period * p.weeks + ACTIVE_NEAR, self._month(step), 7 * self._day(step)) - lo
        )
        values = frame.values
        if pad:
            values = np.concatenate([np.full((n, pad), np.nan), values], axis=1)
        base = lo + pad
        median = _seasonal_median(values, base, stop + pad, period, p.weeks, p.min_weeks)
        active_med = None
        if p.active_share is not None:  # neighbouring slots too, sub-daily (zeros thin them)
            near = ACTIVE_NEAR if step < DAY else 0
            zeros = (values[:, : stop + pad] == 0).any(axis=1)  # only rows that can be active
            active_med = np.full((3, n, stop + pad - base), np.nan)
            if zeros.any():
                active_med[:, zeros] = _active_median(
                    values[zeros], base, stop + pad, period, p.weeks, near
                )
        first = int(frame.starts[0].astype("datetime64[s]").astype(np.int64))
        times = first + np.arange(lo, stop, dtype=np.int64) * step_s
        month_ref = month_adj = None
        if p.monthly:
            # with month_days, also the month-back slot scaled by this slot's usual level
            # over that slot's (a month-back Sunday explains a month-start Wednesday's rise)
            weeks_ahead = min(3, (self._month(step) * 28 // 31 - 1) // period)
            ahead = (period, weeks_ahead if p.month_days is not None else 0)
            month_ref, back_level = _month_back(values, times, base, step_s, p.month_days, ahead)
            if back_level is not None:  # a slot that usually costs nothing scales nothing
                usual = np.where(back_level > 0, back_level, np.nan)
                month_adj = month_ref * median / usual
        low_ref = _week_low(values, base, stop + pad, self._day(step)) if p.weekend_floor else None
        low_median = None
        if low_ref is not None and p.holiday_from_midnight and step < DAY:
            # the lowest of the last seven days' seasonal medians: which slots tell the
            # lowest day from an ordinary one (the lowest of seven noisy values sits below
            # the normal everywhere)
            week = 7 * self._day(step)
            wide = np.concatenate([np.full((n, week), np.nan), median], axis=1)
            low_median = _week_low(wide, week, wide.shape[1], self._day(step))
            if active_med is not None:  # intermittent series: their non-zero medians
                wide = np.concatenate([np.full((n, week), np.nan), active_med[1]], axis=1)
                low_active = _week_low(wide, week, wide.shape[1], self._day(step))
                rows = np.isfinite(active_med[1]).any(axis=1)[:, None]
                low_median = np.where(rows, low_active, low_median)
        alpha = 1.0 - self.quantile(step)  # the budget as a rate per window
        log_guard, log_sparse = math.log(p.guard), math.log(p.sparse_guard)
        floor_up = math.log1p(p.min_change)
        floor_down = -math.log1p(-min(p.min_change, 0.99))
        up = p.direction in ("up", "both")
        down = p.direction in ("down", "both")

        def aligned(x: _Prefix, m: int) -> FloatArray:
            """Rolling mean over ``m``, columns aligned with ``r[:, span - 1:]``."""
            return x.mean(m)[:, span - m :]

        with np.errstate(invalid="ignore", divide="ignore"):
            for b in np.unique(block_col):
                cols = np.nonzero(block_col == b)[0]  # judged columns of this day
                j0, j1 = int(cols[0]), int(cols[-1]) + 1
                b = int(b)
                # residuals of [b - cal - span + 1, start + j1): calibration then judged
                seg_lo, seg_hi = b - cal - span + 1 + pad, start + j1 + pad
                raw = values[:, b - cal + pad : b + pad]
                known = ~np.isnan(raw)
                n_known = known.sum(axis=1)
                mean = np.where(known, np.abs(raw), 0.0).sum(axis=1) / np.maximum(n_known, 1)
                c = p.offset * mean
                c[(n_known < cal // 2) | (c <= 0)] = np.nan  # no recent spend: no verdict
                zero_share = np.where(known, raw == 0, False).sum(axis=1) / np.maximum(n_known, 1)
                sparse = zero_share > 0.5  # blips are ordinary: no averaged or downward score
                if p.active_share is not None:  # judged on the windows that cost money
                    active = (zero_share >= p.active_share) & (n_known > 0)
                    sparse &= ~active
                else:
                    active = np.zeros(n, bool)
                any_active = bool(active.any())
                guard = np.where(sparse, log_sparse, log_guard)
                cc = c[:, None]
                obs = values[:, seg_lo:seg_hi]
                med = median[:, seg_lo - base : seg_hi - base]
                # sparse series: against zero, so a window is judged by its own amount
                # against the recent blips (their seasonal median is noise)
                med = np.where(sparse[:, None], 0.0, med)
                act = active[:, None]
                if any_active:  # intermittent: a zero window is unknown, not a drop
                    assert active_med is not None
                    q_lo, q_mid, q_hi = active_med[:, :, seg_lo - base : seg_hi - base]
                    med = np.where(act, q_mid, med)
                    obs = np.where(act & (obs == 0), np.nan, obs)
                r = np.log((obs + cc) / (med + cc))
                r_up, r_dn = r, r
                if any_active:  # against the quartiles of its few same slots: one odd week
                    # among them (a drop, a spike) does not make the next ones look odd
                    r_up = np.where(act, np.log((obs + cc) / (q_hi + cc)), r)
                    r_dn = np.where(act, np.log((obs + cc) / (q_lo + cc)), r)
                if month_ref is not None:  # explained by the same slot a month ago
                    ref = month_ref[:, seg_lo - base : seg_hi - base]
                    r_up = _explain(r_up, np.log((obs + cc) / (ref + cc)), np.fmin)
                    if month_adj is not None:
                        ref = month_adj[:, seg_lo - base : seg_hi - base]
                        r_up = _explain(r_up, np.log((obs + cc) / (ref + cc)), np.fmin)
                if low_ref is not None:  # explained by last week's lowest day
                    ref = low_ref[:, seg_lo - base : seg_hi - base]
                    # (an intermittent series' lowest day is a zero: explained only by
                    # its lowest day's usual non-zero level, with holiday_from_midnight)
                    explained = np.log((obs + cc) / (ref + cc))
                    r_dn_act = r_dn
                    if low_median is not None:  # a holiday is low from 00:00
                        t0 = seg_lo - pad - lo
                        pos = (times[t0 : t0 + seg_hi - seg_lo] % 86400) // step_s
                        ref = low_median[:, seg_lo - base : seg_hi - base]
                        gap = np.log((med + cc) / (ref + cc))  # normal over the lowest day
                        low_day = _holiday_like(r, gap, pos, day, floor_down)
                        # only a series whose lowest day stands apart from its normal
                        # (a weekend) has days that can look like it; elsewhere the
                        # lowest of seven medians is noise and would excuse a real drop
                        cal_gap = gap[:, span - 1 : span - 1 + cal]
                        told = (cal_gap > floor_down).sum(axis=1)
                        seen_gap = np.isfinite(cal_gap).sum(axis=1)
                        low_day &= (told >= LOW_DAY_SHARE * np.maximum(seen_gap, 1))[:, None]
                        # against the lowest day's usual level, not the lowest of seven
                        # noisy values (under heavy noise that sits well below the normal)
                        explained = np.log((obs + cc) / (ref + cc))
                        explained = np.where(low_day, explained, -np.inf)
                        r_dn_act = _explain(r_dn, explained, np.fmax)
                    r_dn = np.where(act, r_dn_act, _explain(r, explained, np.fmax))
                burst = np.zeros(n, bool)
                past, rows_b = raw, np.zeros(0, np.int64)
                top_b = floor_b = np.zeros(0)
                if p.irregular_share is not None:  # bursts at shifting hours
                    # over the calibration span and the weeks before it: runs days apart
                    memory = cal + period * (p.weeks - 1)
                    past = values[:, b - memory + pad : b + pad]
                    share = _irregular(
                        past, values[:, b - memory - period + pad : b - period + pad], day
                    )
                    burst = ~active & ~sparse & (share >= p.irregular_share)
                    if burst.any():  # their own runs: the largest, and the floor between
                        rows_b = np.nonzero(burst)[0]
                        past_b = past[rows_b]
                        top_b = np.where(np.isfinite(past_b), past_b, 0.0).max(axis=1)
                        floor_b = _order_stat(*_sort_known(past_b), FLOOR_QUANTILE)
                        cb = cc[rows_b]
                        beyond = np.log((obs[rows_b] + cb) / (top_b[:, None] + cb))
                        r_up = r_up.copy()
                        r_up[rows_b] = _explain(r_up[rows_b], beyond, np.fmin)
                cut = slice(span - 1, None)
                cal_plain = r[:, cut][:, :cal]
                center = _order_stat(*_sort_known(cal_plain), 0.5)
                r_held = r  # the long decrease average: no weekend explanation
                if p.center:  # from the series' own typical residual, only ever less alarming
                    mid = np.where(active | np.isnan(center), 0.0, center)[:, None]
                    r_up = r_up - np.fmax(mid, 0.0)  # a steady rise (a trend) is not a rise
                    r_dn = r_dn - np.fmin(mid, 0.0)  # a steady decline is not a drop
                    r_held = r - np.fmin(mid, 0.0)
                dev, count_d = _sort_known(np.abs(cal_plain - center[:, None]))
                sigma = np.fmax(MAD_TO_SIGMA * _order_stat(dev, count_d, 0.5), 1e-3)
                day_sigma = _day_sigma(cal_plain, day, sigma)
                rel = slice(cal + start + j0 - b, cal + start + j1 - b)
                score = np.full((n, j1 - j0), -np.inf)
                upper = np.full(n, np.inf)
                lower = np.full(n, -np.inf)
                no_avg = sparse[:, None]
                if up:
                    ru = r_up[:, cut]
                    pu = _Prefix(r_up)  # one pass of running sums for both averages
                    au = aligned(pu, shift)
                    ahu = aligned(pu, hold)
                    thr = self._spike_threshold(ru[:, :cal], sigma, guard, sparse, alpha)
                    if burst.any():  # against its largest run: the runs' spread is no noise,
                        # and floor and runs make no tail to extrapolate
                        every = np.ones(n, bool)
                        calm = self._spike_threshold(ru[:, :cal], 0 * sigma, guard, every, alpha)
                        thr = np.where(burst, np.fmax(calm, guard), thr)  # 1.5x the largest
                    rise = p.excursion_margin  # bursts: rises only (a drop is always news)
                    thr_a = self._average_threshold(
                        au[:, :cal], sigma, day_sigma, shift, day, floor_up, alpha, rise
                    )
                    thr_h = self._average_threshold(
                        ahu[:, :cal], sigma, day_sigma, hold, day, floor_up, alpha, rise
                    )
                    a_j = np.fmax(au[:, rel] / thr_a[:, None], ahu[:, rel] / thr_h[:, None])
                    # bursts at shifting hours: their averages swing with the runs; a
                    # sustained rise is a run that outlasts the longest of recent weeks
                    if rows_b.size:
                        today = slice(rel.start - cal, rel.stop - cal)  # from the day's start
                        since = obs[rows_b][:, cut][:, cal:]
                        a_j[rows_b] = _run_score(since, past[rows_b], top_b, floor_b)[:, today]
                    if any_active:
                        a_j = np.where(
                            act,
                            self._active_score(
                                r_up, sigma, span, cal, rel, 1.0, floor_up, alpha, ahu, thr_h
                            ),
                            a_j,
                        )
                    a_j = np.where(no_avg, np.nan, a_j)
                    score = np.fmax(score, np.fmax(ru[:, rel] / thr[:, None], a_j))
                    upper = thr
                if down:
                    rd = -r_dn[:, cut]
                    drop = self._drop_windows()
                    ad = -aligned(_Prefix(r_dn), drop)
                    pr = pu if (up and r_up is r_held) else _Prefix(r_held)
                    ah = -aligned(pr, hold)  # held long enough: not a holiday
                    thr = self._spike_threshold(rd[:, :cal], sigma, guard, sparse, alpha)
                    thr_a = self._average_threshold(
                        ad[:, :cal], sigma, day_sigma, drop, day, floor_down, alpha
                    )
                    thr_h = self._average_threshold(
                        ah[:, :cal], sigma, day_sigma, hold, day, floor_down, alpha
                    )
                    down_j = np.fmax(ad[:, rel] / thr_a[:, None], ah[:, rel] / thr_h[:, None])
                    if rows_b.size:
                        # a decrease: the floor between runs below its usual amount over
                        # `drop` windows (a run never argues against it)
                        cb = cc[rows_b]
                        ratio = (obs[rows_b] + cb) / (floor_b[:, None] + cb)
                        under = -aligned(_Prefix(np.fmin(np.log(ratio), 0.0)), drop)
                        thr_f = _level_threshold(under[:, :cal], floor_down, p.shift_margin)
                        down_j[rows_b] = under[:, rel] / thr_f[:, None]
                    if any_active:
                        down_j = np.where(
                            act,
                            self._active_score(
                                r_dn, sigma, span, cal, rel, -1.0, floor_down, alpha, ah, thr_h
                            ),
                            down_j,
                        )
                    if p.down_spikes:
                        down_j = np.fmax(down_j, rd[:, rel] / thr[:, None])
                    score = np.fmax(score, np.where(no_avg, -np.inf, down_j))
                    lower = -thr
                need = np.where(active, min(cal // 2, 4 * p.active_windows), cal // 2)
                ok = (np.isfinite(cal_plain).sum(axis=1) >= need) & ~np.isnan(c)
                exp_j = median[:, start + j0 + pad - base : start + j1 + pad - base]
                if any_active:
                    assert active_med is not None
                    act_j = active_med[1, :, start + j0 + pad - base : start + j1 + pad - base]
                    exp_j = np.where(act, act_j, exp_j)
                x_j = values[:, start + j0 + pad : start + j1 + pad]
                exp_j = np.where(ok[:, None] & ~np.isnan(x_j), exp_j, np.nan)
                valid = ~np.isnan(exp_j)
                score = np.where(valid, score, np.nan)
                if any_active:  # an intermittent series is judged where it costs money
                    score = np.where(act & (x_j == 0), np.nan, score)
                out.expected[:, j0:j1] = exp_j
                band = np.where(sparse[:, None] & valid, 0.0, exp_j)
                out.upper[:, j0:j1] = (band + cc) * np.exp(upper)[:, None] - cc
                out.lower[:, j0:j1] = (exp_j + cc) * np.exp(lower)[:, None] - cc
                out.score[:, j0:j1] = score
                out.flagged[:, j0:j1] = valid & (score > 1.0)
        return out


def _explain(r: FloatArray, other: FloatArray, pick: np.ufunc) -> FloatArray:
    """``r`` explained by another reference's residual (``np.fmin`` for rises,
    ``np.fmax`` for decreases): an unknown reference explains nothing, and an unknown
    ``r`` (no baseline) stays unknown, so a reference never creates a verdict where the
    baseline has none."""
    out: FloatArray = np.where(np.isnan(r), np.nan, pick(r, other))
    return out


def _seasonal_median(
    values: FloatArray, lo: int, hi: int, period: int, weeks: int, min_weeks: int
) -> FloatArray:
    """Median of columns ``t - period*k`` (k = 1..weeks, known ones) for t in [lo, hi);
    NaN where fewer than ``min_weeks`` are known. ``lo >= period * weeks``. A sorting
    network over the K lag slices (K small), no sort along a strided axis."""
    lags = []
    count = np.zeros((values.shape[0], hi - lo), np.int8)
    for k in range(1, weeks + 1):
        lag = values[:, lo - period * k : hi - period * k]
        known = ~np.isnan(lag)
        count += known
        lags.append(np.where(known, lag, np.inf))
    median = median_of_stack(sort_stack(lags), count)
    median[count < min_weeks] = np.nan
    return median


LOW_DAY_SHARE = 0.1
"""Share of a series' calibration windows where its lowest day of the week sits below its
normal by the smallest decrease that alerts, for its days to pass as holidays (a weekend
series: about 5/7 of its busy hours; noise alone: a few per cent)."""
HOLIDAY_START = 3
"""A day's first telling windows that decide whether it passes as a holiday."""


def _holiday_like(
    r: FloatArray, gap: FloatArray, pos: np.ndarray, day: int, floor: float
) -> BoolArray:
    """Whether each column's day, so far, passes as a holiday (``pos[j]``: column j's
    window index within its day, ``day`` windows a day): its windows since midnight where
    the normal stands above the week's lowest day by the smallest decrease that alerts
    (``gap`` over ``floor``, in log, from seasonal medians) were, over its first ``HOLIDAY_START`` of them, on average
    nearer the lowest day than the normal (mean ``r + gap / 2`` <= 0; a drop that begins
    later in the day follows ordinary ones), and
    the day before was not itself low (mean ``r`` above ``-floor / 2``: a lasting drop is
    not a holiday on its second day). Columns before 0 are left out."""
    rows, cols = r.shape
    telling = (gap > floor) & np.isfinite(r)  # windows where the two days differ
    at = np.arange(cols)
    day0 = np.maximum(at - pos, 0)
    seen = np.zeros((rows, cols + 1), np.int32)
    np.cumsum(telling, axis=1, out=seen[:, 1:])
    first_few = telling & (seen[:, at + 1] - seen[:, day0] <= HOLIDAY_START)  # of its day
    lean = np.zeros((rows, cols + 1))  # > 0: on average nearer the normal day
    np.cumsum(np.where(first_few, r + gap / 2, 0.0), axis=1, out=lean[:, 1:])
    ordinary = (seen[:, at + 1] > seen[:, day0]) & (lean[:, at + 1] - lean[:, day0] > 0)
    known = np.isfinite(r)
    sums = np.zeros((rows, cols + 1))
    np.cumsum(np.where(known, r, 0.0), axis=1, out=sums[:, 1:])
    counts = np.zeros((rows, cols + 1), np.int32)
    np.cumsum(known, axis=1, out=counts[:, 1:])
    first = np.maximum(day0 - day, 0)
    n = counts[:, day0] - counts[:, first]
    before = (sums[:, day0] - sums[:, first]) / np.maximum(n, 1)
    low_before = (n > 0) & (before <= -floor / 2)
    out: BoolArray = ~ordinary & ~low_before
    return out


ACTIVE_MIN = 3
"""Fewest non-zero same slots an intermittent series' window is judged against (with one
or two, an odd week among them, a drop or a spike, would be the whole baseline)."""
ACTIVE_NEAR = 2
"""Neighbouring slots (each side) pooled into an intermittent series' baseline, sub-daily."""


def _active_median(
    values: FloatArray, lo: int, hi: int, period: int, weeks: int, near: int
) -> FloatArray:
    """Lower quartile, median and upper quartile (stacked, shape ``(3, rows, hi - lo)``)
    of the non-zero known values of columns ``t - period*k + d`` (k = 1..weeks, |d| <=
    ``near``) for t in [lo, hi); NaN where there is none. ``lo >= period * weeks +
    near``."""
    lags = []
    count = np.zeros((values.shape[0], hi - lo), np.int8)
    for k in range(1, weeks + 1):
        for d in range(-near, near + 1):
            lag = values[:, lo - period * k + d : hi - period * k + d]
            known = ~np.isnan(lag) & (lag != 0)
            count += known
            lags.append(np.where(known, lag, np.inf))
    ordered = sort_stack(lags)
    low, high = np.full(count.shape, np.nan), np.full(count.shape, np.nan)
    for c in range(ACTIVE_MIN, len(ordered) + 1):  # the order statistics nearest the quartiles
        where = count == c
        if where.any():
            np.copyto(low, ordered[(c - 1) // 4], where=where)
            np.copyto(high, ordered[c - 1 - (c - 1) // 4], where=where)
    median = median_of_stack(ordered, count)
    median[count < ACTIVE_MIN] = np.nan
    return np.stack([low, median, high])


def _last_known_mean(values: FloatArray, k: int) -> FloatArray:
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


def _month_back(
    values: FloatArray,
    times: np.ndarray,
    base: int,
    step_s: int,
    days: int | None = None,
    ahead: tuple[int, int] = (0, 0),
) -> tuple[FloatArray, FloatArray | None]:
    """For padded columns ``base + i`` (window start ``times[i]``, epoch seconds), the
    value of the same slot one calendar month earlier (the month's last slot when the
    earlier month is shorter); NaN where that lies before the frame, or, with ``days``,
    where the window is not in the first ``days`` days of its month. With ``ahead =
    (period, weeks)``, also the median of the known values ``period * k`` (k = 1..weeks)
    after each month-back slot (that slot's usual level, read only a month back: causal
    while ``period * weeks`` is under a month); else None."""
    ts = times.astype("datetime64[s]")
    month = ts.astype("datetime64[M]")
    this_month = month.astype("datetime64[s]")
    target = (month - 1).astype("datetime64[s]") + (ts - this_month)
    target = np.where(target >= this_month, this_month - np.timedelta64(step_s, "s"), target)
    back = ((ts - target).astype(np.int64) // step_s).astype(np.int64)
    cols = base + np.arange(times.size) - back
    ok = cols >= 0
    if days is not None:
        ok &= (ts - this_month) < np.timedelta64(days * 86400, "s")
    rows = values.shape[0]
    out = np.full((rows, times.size), np.nan)
    src = cols[ok]
    out[:, ok] = values[:, src]
    period, weeks = ahead
    if weeks < 1:
        return out, None
    lags = []
    count = np.zeros((rows, src.size), np.int8)
    for k in range(1, weeks + 1):
        lag = values[:, np.minimum(src + period * k, values.shape[1] - 1)]
        known = ~np.isnan(lag)
        count += known
        lags.append(np.where(known, lag, np.inf))
    level = np.full((rows, times.size), np.nan)
    level[:, ok] = median_of_stack(sort_stack(lags), count)
    return out, level


def _day_sigma(cal_r: FloatArray, day: int, sigma: FloatArray) -> FloatArray:
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
    ordered, count = _sort_known(daily)
    center = _order_stat(ordered, count, 0.5)
    dev, count_d = _sort_known(np.abs(daily - center[:, None]))
    spread = MAD_TO_SIGMA * _order_stat(dev, count_d, 0.5)
    out: FloatArray = np.sqrt(np.fmax(spread**2 - sigma**2 / day, 0.0))
    return np.where(count_d >= 5, out, 0.0)


def _week_low(values: FloatArray, lo: int, hi: int, day: int) -> FloatArray:
    """Lowest known value of the same slot over the previous seven days, for columns
    ``[lo, hi)`` (``lo >= 7 * day``, ``day`` windows a day)."""
    low: FloatArray = values[:, lo - day : hi - day].copy()
    for k in range(2, 8):  # a running minimum: no 7-deep stack
        np.fmin(low, values[:, lo - day * k : hi - day * k], out=low)
    return low


class _Prefix:
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


def _level_threshold(cal_level: FloatArray, floor: float, margin: float) -> FloatArray:
    """Threshold of a bursty series' floor score: the smallest change that alerts, and
    above the calibration span's own largest by ``margin`` or by as much as that largest
    stands above the median (a floor that swings needs a larger swing to be news)."""
    ordered, count = _sort_known(cal_level)
    top, mid = _order_stat(ordered, count, 1.0), _order_stat(ordered, count, 0.5)
    out: FloatArray = np.fmax(floor, top + np.fmax(margin, top - mid))
    return out


FLOOR_QUANTILE = 0.25
"""Quantile of a bursty series' recent amounts taken for its floor between runs (runs
keep it busy less than three quarters of the time)."""


def _run_score(obs: FloatArray, past: FloatArray, top: FloatArray, floor: FloatArray) -> FloatArray:
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


def _irregular(cal: FloatArray, before: FloatArray, day: int) -> FloatArray:
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


def _sort_known(values: FloatArray) -> tuple[FloatArray, np.ndarray]:
    """Each row sorted with unknowns (NaN, inf) last, and its count of finite values."""
    finite = np.isfinite(values)
    ordered = np.where(finite, values, np.inf)
    ordered.sort(axis=1)
    return ordered, finite.sum(axis=1)


TAIL = 0.05
"""Share of the calibration residuals whose mean excess sets the tail's scale."""


def _tail(ordered: FloatArray, count: np.ndarray, alpha: float) -> FloatArray:
    """The ``1 - alpha`` quantile of each sorted row, extrapolated past its top ``TAIL``
    share by an exponential tail: ``u + beta * log(TAIL / alpha)`` with ``u`` the
    ``1 - TAIL`` quantile and ``beta`` the mean excess over it."""
    u = _order_stat(ordered, count, 1.0 - TAIL)
    above = np.isfinite(ordered) & (ordered > u[:, None])
    excess = np.where(above, ordered - u[:, None], 0.0).sum(axis=1)
    beta = excess / np.maximum(above.sum(axis=1), 1)
    factor = math.log(TAIL / alpha) if alpha < TAIL else 0.0
    out: FloatArray = u + beta * factor
    return out


def _order_stat(ordered: FloatArray, count: np.ndarray, q: float) -> FloatArray:
    """The ``q`` quantile (the next higher order statistic) of each sorted row's known
    values; NaN where a row has none."""
    safe = np.maximum(count, 1)
    index = np.minimum(np.ceil(q * (safe - 1)).astype(np.int64), safe - 1)
    picked = np.take_along_axis(ordered, index[:, None], axis=1)[:, 0]
    return np.where(count > 0, picked, np.nan)
