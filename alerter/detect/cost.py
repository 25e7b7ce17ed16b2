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

A series that costs money nearly every window (under 10 % zeros) treats its zero windows
as holes (spot capacity reclaimed, a fleet stopped for a few hours): they are left out of
its usual amount, and a dip (under 30 % of usual) no longer than the longest of its recent
weeks is no decrease; one that outlasts them is judged from the window that does, and a
window under 30 % counts as a 70 % decrease however deep.

Options for series a plain seasonal residual misreads (each off by default): ``active_share``
judges intermittent series on their non-zero windows only (a zero hour is not a drop);
``center`` measures increases (decreases) from a positive (negative) typical residual, so
a steady trend is not a change; ``month_days`` keeps the month-back comparison to month
starts; ``holiday_from_midnight`` lets only a day low from its start pass as a holiday;
``irregular_share`` judges series whose runs come at shifting hours (training runs, ad hoc
jobs) against their own runs: their largest amount, their longest run, their floor, and
their schedule when they keep one; ``rise_offset`` judges increases with a larger offset,
so a rise is weighed by money against the series' typical amount (a quiet hour that
triples from a few percent of a busy one is no news).
"""

from __future__ import annotations

import builtins
import math
from datetime import timedelta
from statistics import NormalDist
from typing import ClassVar

import numpy as np

from alerter.detect.band import (
    MAD_TO_SIGMA,
    judged_range,
    windows_in,
)
from alerter.detect.base import BoolArray, DetectorParams, FloatArray, SeriesFrame, Verdicts
from alerter.detect.budget import parse_budget
from alerter.detect.bursts import (
    FLOOR_QUANTILE,
    irregular,
    missed_run_score,
    recent_run_size,
    run_bar,
    run_score,
    run_size,
)
from alerter.detect.cost_params import DAY, WEEK, CostParams
from alerter.detect.cost_refs import (
    ACTIVE_NEAR,
    LOW_DAY_SHARE,
    active_median,
    explain,
    holiday_like,
    month_back,
    seasonal_median,
    week_low,
)
from alerter.detect.cost_stats import (
    DIP,
    Prefix,
    day_level_sigma,
    last_known_mean,
    level_threshold,
    order_stat,
    short_dips,
    sort_known,
    sort_paid,
    stretches,
    tail,
)

__all__ = ["CostDetector", "CostParams"]

HOLE_SHARE = 0.1
"""Largest share of zero windows for a series' zeros to be holes (capacity reclaimed, a
fleet stopped) left out of its usual amount; with ``active_share`` set, below it."""

ROWS = 8192
"""Series judged together: the per-day working arrays are (ROWS x calibration span)."""


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
        span = max(
            self.params.shift_windows,
            self._drop_windows(),
            self._hold(step),
            self.params.mid_windows or 1,
        )
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
        ordered, count = sort_known(cal_r)
        thr = np.fmax(self.params.k * sigma, order_stat(ordered, count, 1.0) + guard)
        return np.where(sparse, thr, np.fmax(thr, tail(ordered, count, alpha)))

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
        ordered, count = sort_known(cal_avg)
        # a day's factor is one draw a day: its budget quantile, Gaussian in log scale
        k_day = NormalDist().inv_cdf(1.0 - min(0.5, alpha * day))
        day_part = (k_day * day_sigma) ** 2 * min(1.0, day / n)
        thr = np.fmax(np.sqrt(day_part + (p.k_shift * sigma) ** 2 / n), floor)
        margin = p.shift_margin * math.sqrt(min(1.0, p.shift_windows / n))  # noise ~ 1/sqrt(n)
        top = order_stat(ordered, count, 1.0)
        thr = np.fmax(thr, top + margin + excursion * np.fmax(top, 0.0))
        return np.fmax(thr, tail(ordered, count, min(1.0, alpha * n)))

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
        avg = sign * last_known_mean(r, k)[:, span - 1 :]
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
        memory = cal + period * (p.weeks - 1)  # the calibration span and the weeks before
        longer = p.mid_windows
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
        median = seasonal_median(values, base, stop + pad, period, p.weeks, p.min_weeks)
        active_med = None
        zeros = (values[:, : stop + pad] == 0).any(axis=1)  # only rows that can be active
        # a series that costs money nearly every window: its rare zero windows (capacity
        # reclaimed, a fleet stopped for a few hours) are no part of its normal amount;
        # holes are hours (a day without cost is news)
        sub_daily = step < DAY
        zero_rows = np.nonzero(zeros & sub_daily)[0]
        paid_median = seasonal_median(
            np.where(values[zero_rows] == 0, np.nan, values[zero_rows]),
            base,
            stop + pad,
            period,
            p.weeks,
            p.min_weeks,
        )
        hole_share = HOLE_SHARE if p.active_share is None else min(HOLE_SHARE, p.active_share)
        if p.active_share is not None:  # neighbouring slots too, sub-daily (zeros thin them)
            near = ACTIVE_NEAR if step < DAY else 0
            active_med = np.full((3, n, stop + pad - base), np.nan)
            if zeros.any():
                active_med[:, zeros] = active_median(
                    values[zeros], base, stop + pad, period, p.weeks, near
                )
        first = int(frame.starts[0].astype("datetime64[s]").astype(np.int64))
        times = first + np.arange(lo, stop, dtype=np.int64) * step_s
        month_ref = month_adj = None
        if p.monthly:
            # with month_days or on daily data, also the month-back slot scaled by this
            # slot's usual level over that slot's (a month-back Sunday explains a
            # month-start Wednesday's rise); hourly data without month_days keeps the raw
            # month back alone (scaled too, it hid level shifts under heavy hourly noise)
            weeks_ahead = min(3, (self._month(step) * 28 // 31 - 1) // period)
            scaled = p.month_days is not None or not sub_daily
            ahead = (period, weeks_ahead if scaled else 0)
            month_ref, back_level = month_back(values, times, base, step_s, p.month_days, ahead)
            if back_level is not None:  # a slot that usually costs nothing scales nothing
                usual = np.where(back_level > 0, back_level, np.nan)
                month_adj = month_ref * median / usual
            if p.month_days is not None and p.month_days > 1:
                # after the 1st, a month back is often another weekday: only its slot
                # scaled by the two slots' usual levels explains (tier prices that reset
                # on the 1st, not a weekday against a weekend)
                stamp = times.astype("datetime64[s]")
                first_day = (stamp - stamp.astype("datetime64[M]")) < np.timedelta64(1, "D")
                month_ref = np.where(first_day[None, :], month_ref, np.nan)
        low_ref = low_median = None
        if p.weekend_floor and p.holiday_from_midnight and step < DAY:
            # the lowest of the last seven days' seasonal medians (an intermittent series':
            # of its non-zero medians): which slots tell the lowest day from an ordinary
            # one (the lowest of seven noisy values sits below the normal everywhere)
            typical = median
            if active_med is not None:
                rows = np.isfinite(active_med[1]).any(axis=1)[:, None]
                typical = np.where(rows, active_med[1], median)
            week = 7 * self._day(step)
            wide = np.concatenate([np.full((n, week), np.nan), typical], axis=1)
            low_median = week_low(wide, week, wide.shape[1], self._day(step))
        elif p.weekend_floor:
            low_ref = week_low(values, base, stop + pad, self._day(step))
        alpha = 1.0 - self.quantile(step)  # the budget as a rate per window
        log_guard, log_sparse = math.log(p.guard), math.log(p.sparse_guard)
        floor_up = math.log1p(p.min_change)
        floor_down = -math.log1p(-min(p.min_change, 0.99))
        up = p.direction in ("up", "both")
        down = p.direction in ("down", "both")

        def aligned(x: Prefix, m: int) -> FloatArray:
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
                holes = (zero_share[zero_rows] > 0) & (zero_share[zero_rows] < hole_share)
                if holes.any():
                    pick = zero_rows[holes]
                    med[pick] = paid_median[holes, seg_lo - base : seg_hi - base]
                act = active[:, None]
                if any_active:  # intermittent: a zero window is unknown, not a drop
                    assert active_med is not None
                    q_lo, q_mid, q_hi = active_med[:, :, seg_lo - base : seg_hi - base]
                    med = np.where(act, q_mid, med)
                    obs = np.where(act & (obs == 0), np.nan, obs)
                r = np.log((obs + cc) / (med + cc))
                # a dip no longer than the longest of the calibration span is no decrease
                dense = ~sparse & ~active
                dips = None
                if down and sub_daily and dense.any():
                    # and stretches of zeros over the weeks before, with the window billed
                    # in part next to them (a fleet stopped, then started)
                    seen = np.zeros(n, np.int64)
                    hist = values[zero_rows, b - memory + pad : b + pad] == 0
                    seen[zero_rows] = stretches(hist).max(axis=1, initial=0) + 1
                    cal_cols = slice(span - 1, span - 1 + cal)
                    dips = short_dips(r, cal_cols, self._drop_windows(), seen)
                    dips &= dense[:, None]
                r_up, r_dn = r, r
                if any_active:  # against the quartiles of its few same slots: one odd week
                    # among them (a drop, a spike) does not make the next ones look odd
                    # a slot it has never cost money at (a job at a new hour) is judged
                    # up against its usual non-zero amounts: a run at a new hour is not
                    # news, ten times a run is
                    paid = sort_paid(raw)
                    usual_hi = order_stat(*paid, 0.75)[:, None]
                    usual = order_stat(*paid, 0.5)[:, None]
                    q_hi = np.where(np.isnan(q_hi) & act, usual_hi, q_hi)
                    r_up = np.where(act, np.log((obs + cc) / (q_hi + cc)), r)
                    r_dn = np.where(act, np.log((obs + cc) / (q_lo + cc)), r)
                c_up = cc
                if p.rise_offset is not None:  # rises weighed by money against the
                    # series' typical amount (quiet hours are noisy in ratio, cheap in money)
                    c_up = np.where(act, cc, (p.rise_offset * c / p.offset)[:, None])
                    r_up = np.where(act, r_up, np.log((obs + c_up) / (med + c_up)))
                if month_ref is not None:  # explained by the same slot a month ago
                    ref = month_ref[:, seg_lo - base : seg_hi - base]
                    r_up = explain(r_up, np.log((obs + cc) / (ref + cc)), np.fmin)
                    if month_adj is not None:
                        ref = month_adj[:, seg_lo - base : seg_hi - base]
                        r_up = explain(r_up, np.log((obs + cc) / (ref + cc)), np.fmin)
                if low_ref is not None:  # explained by last week's lowest day (an
                    # intermittent series' lowest day is a zero: no explanation)
                    ref = low_ref[:, seg_lo - base : seg_hi - base]
                    explained = np.log((obs + cc) / (ref + cc))
                    r_dn = np.where(act, r_dn, explain(r, explained, np.fmax))
                r_long = r
                if low_median is not None:  # by the lowest day's usual level (an
                    # intermittent series': its non-zero level), on a day low from 00:00
                    t0 = seg_lo - pad - lo
                    pos = (times[t0 : t0 + seg_hi - seg_lo] % 86400) // step_s
                    ref = low_median[:, seg_lo - base : seg_hi - base]
                    gap = np.log((med + cc) / (ref + cc))  # normal over the lowest day
                    low_day = holiday_like(r, gap, pos, day, floor_down)
                    # only a series whose lowest day stands apart from its normal (a
                    # weekend) has days that can look like it; elsewhere the lowest of
                    # seven medians is noise and would excuse a real drop
                    cal_gap = gap[:, span - 1 : span - 1 + cal]
                    told = (cal_gap > floor_down).sum(axis=1)
                    seen_gap = np.isfinite(cal_gap).sum(axis=1)
                    low_day &= (told >= LOW_DAY_SHARE * np.maximum(seen_gap, 1))[:, None]
                    # against the lowest day's usual level, not the lowest of seven noisy
                    # values (under heavy noise that sits well below the normal)
                    explained = np.where(low_day, np.log((obs + cc) / (ref + cc)), -np.inf)
                    r_dn = explain(r_dn, explained, np.fmax)  # (r itself, dense series)
                    # and in the long average: a holiday is one day (the next low day
                    # is no holiday), so a lasting drop still fills it
                    r_long = explain(r, explained, np.fmax)
                past, rows_b = raw, np.zeros(0, np.int64)
                top_b = floor_b = np.zeros(0)
                if p.irregular_share is not None:  # bursts at shifting hours
                    # over the calibration span and the weeks before it: runs days apart
                    past = values[:, b - memory + pad : b + pad]
                    share = irregular(
                        past, values[:, b - memory - period + pad : b - period + pad], day
                    )
                    rows_b = np.nonzero(~active & ~sparse & (share >= p.irregular_share))[0]
                    if rows_b.size:  # their own runs: the largest, and the floor between
                        # of the windows that cost money: zeros before a series began
                        # are no floor (a floor of zero would make every window a run)
                        past_b, obs_b, cb = past[rows_b], obs[rows_b], cc[rows_b]
                        ordered, count = sort_paid(past_b)
                        top_b = order_stat(ordered, count, 1.0)
                        floor_b = order_stat(ordered, count, FLOOR_QUANTILE)
                        beyond = np.log((obs_b + cb) / (top_b[:, None] + cb))
                        # each window against the floor (log): a floor that rises or falls
                        lift = np.log((obs_b + cb) / (floor_b[:, None] + cb))
                        r_up = r_up.copy()
                        r_up[rows_b] = explain(r_up[rows_b], beyond, np.fmin)
                cut = slice(span - 1, None)
                cal_plain = r[:, cut][:, :cal]
                center = order_stat(*sort_known(cal_plain), 0.5)
                r_held = r_long  # the long decrease average: a holiday, no weekend
                if p.center:  # from the series' own typical residual, only ever less alarming
                    mid = np.where(active | np.isnan(center), 0.0, center)[:, None]
                    r_up = r_up - np.fmax(mid, 0.0)  # a steady rise (a trend) is not a rise
                    r_dn = r_dn - np.fmin(mid, 0.0)  # a steady decline is not a drop
                    r_held = r_long - np.fmin(mid, 0.0)
                if dips is not None:  # and a window under 30 % of usual is a 70 % decrease,
                    # however deep (one zero window does not make six a decrease)
                    deep = dense[:, None] & (r < DIP)
                    r_dn = np.where(dips, 0.0, np.where(deep, np.fmax(r_dn, DIP), r_dn))
                    r_held = np.where(dips, 0.0, np.where(deep, np.fmax(r_held, DIP), r_held))
                dev, count_d = sort_known(np.abs(cal_plain - center[:, None]))
                sigma = np.fmax(MAD_TO_SIGMA * order_stat(dev, count_d, 0.5), 1e-3)
                day_sigma = day_level_sigma(cal_plain, day, sigma)
                rel = slice(cal + start + j0 - b, cal + start + j1 - b)
                if rows_b.size:  # run scores count from the day's start
                    today = slice(rel.start - cal, rel.stop - cal)
                    since = obs_b[:, cut][:, cal:]
                score = np.full((n, j1 - j0), -np.inf)
                upper = np.full(n, np.inf)
                lower = np.full(n, -np.inf)
                no_avg = sparse[:, None]
                overdue: FloatArray | None = None  # a scheduled run's size where it is due
                if up:
                    ru = r_up[:, cut]
                    pu = Prefix(r_up)  # one pass of running sums for both averages
                    au = aligned(pu, shift)
                    ahu = aligned(pu, hold)
                    thr = self._spike_threshold(ru[:, :cal], sigma, guard, sparse, alpha)
                    if rows_b.size:  # 1.5x its largest run: the runs' spread is no noise,
                        # and floor and runs make no tail to extrapolate
                        cal_b = ru[rows_b, :cal]
                        largest = np.where(np.isfinite(cal_b), cal_b, -np.inf).max(axis=1)
                        thr[rows_b] = np.fmax(largest, 0.0) + guard[rows_b]
                    rise = p.excursion_margin  # bursts: rises only (a drop is always news)
                    thr_a = self._average_threshold(
                        au[:, :cal], sigma, day_sigma, shift, day, floor_up, alpha, rise
                    )
                    thr_h = self._average_threshold(
                        ahu[:, :cal], sigma, day_sigma, hold, day, floor_up, alpha, rise
                    )
                    a_j = np.fmax(au[:, rel] / thr_a[:, None], ahu[:, rel] / thr_h[:, None])
                    if longer:  # a longer average: smaller shifts under heavy noise
                        am = aligned(pu, longer)
                        thr_m = self._average_threshold(
                            am[:, :cal], sigma, day_sigma, longer, day, floor_up, alpha, rise
                        )
                        a_j = np.fmax(a_j, am[:, rel] / thr_m[:, None])
                    # bursts at shifting hours: their averages swing with the runs; a
                    # sustained rise is a run that outlasts the longest of recent weeks
                    if rows_b.size:
                        a_j[rows_b] = run_score(since, past_b, top_b, floor_b)[:, today]
                        # or its floor between runs (below the geometric mean of floor
                        # and usual run) above its usual amount over `shift` such windows
                        # (a ramp lifts runs and floor alike)
                        bar_b = run_bar(floor_b, run_size(past_b, day))
                        between = np.where(obs_b <= bar_b[:, None], lift, np.nan)
                        over = last_known_mean(between, shift)[:, cut]
                        thr_o = level_threshold(over[:, :cal], floor_up, p.shift_margin)
                        a_j[rows_b] = np.fmax(a_j[rows_b], over[:, rel] / thr_o[:, None])
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
                    pdn = Prefix(r_dn)
                    ad = -aligned(pdn, drop)
                    pr = pu if (up and r_up is r_held) else Prefix(r_held)
                    ah = -aligned(pr, hold)  # held long enough: not a holiday
                    thr = self._spike_threshold(rd[:, :cal], sigma, guard, sparse, alpha)
                    thr_a = self._average_threshold(
                        ad[:, :cal], sigma, day_sigma, drop, day, floor_down, alpha
                    )
                    thr_h = self._average_threshold(
                        ah[:, :cal], sigma, day_sigma, hold, day, floor_down, alpha
                    )
                    down_j = np.fmax(ad[:, rel] / thr_a[:, None], ah[:, rel] / thr_h[:, None])
                    if longer:
                        am = -aligned(pdn, longer)
                        thr_m = self._average_threshold(
                            am[:, :cal], sigma, day_sigma, longer, day, floor_down, alpha
                        )
                        down_j = np.fmax(down_j, am[:, rel] / thr_m[:, None])
                    if rows_b.size:
                        # a decrease: the floor between runs below its usual amount over
                        # `drop` windows (a run never argues against it)
                        under = -aligned(Prefix(np.fmin(lift, 0.0)), drop)
                        thr_f = level_threshold(under[:, :cal], floor_down, p.shift_margin)
                        # or a scheduled run that has not come
                        due = missed_run_score(since, past_b, day)[:, today]
                        down_j[rows_b] = np.fmax(under[:, rel] / thr_f[:, None], due)
                        # what was expected there is the run, not the floor between
                        # runs (the money guards weigh the run that did not come)
                        overdue = np.full((n, j1 - j0), np.nan)
                        overdue[rows_b] = np.where(
                            due > 1.0, recent_run_size(past_b, day)[:, None], np.nan
                        )
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
                # an intermittent series is judged once its calibration span holds two
                # averages' worth of windows that cost money (a job of an hour a day)
                need = np.where(active, min(cal // 2, 2 * p.active_windows), cal // 2)
                ok = (np.isfinite(cal_plain).sum(axis=1) >= need) & ~np.isnan(c)
                exp_j = median[:, start + j0 + pad - base : start + j1 + pad - base]
                if any_active:
                    assert active_med is not None
                    act_j = active_med[1, :, start + j0 + pad - base : start + j1 + pad - base]
                    act_j = np.where(np.isnan(act_j), usual, act_j)
                    exp_j = np.where(act, act_j, exp_j)
                if overdue is not None:
                    exp_j = np.where(np.isnan(overdue), exp_j, overdue)
                x_j = values[:, start + j0 + pad : start + j1 + pad]
                exp_j = np.where(ok[:, None] & ~np.isnan(x_j), exp_j, np.nan)
                valid = ~np.isnan(exp_j)
                score = np.where(valid, score, np.nan)
                if any_active:  # an intermittent series is judged where it costs money
                    score = np.where(act & (x_j == 0), np.nan, score)
                out.expected[:, j0:j1] = exp_j
                band = np.where(sparse[:, None] & valid, 0.0, exp_j)
                out.upper[:, j0:j1] = (band + c_up) * np.exp(upper)[:, None] - c_up
                out.lower[:, j0:j1] = (exp_j + cc) * np.exp(lower)[:, None] - cc
                out.score[:, j0:j1] = score
                out.flagged[:, j0:j1] = valid & (score > 1.0)
        return out
