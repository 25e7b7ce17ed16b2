"""Cost detector: log residuals, per-series calibrated thresholds, noise budgets."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from alerter.detect import bursts, cost, cost_refs, cost_stats
from alerter.detect.base import SeriesFrame
from alerter.detect.budget import format_budget, parse_budget
from alerter.detect.cost import CostDetector, CostParams
from alerter.judge import make_detector
from alerter.rules.model import make_rule_model
from tests.conftest import T0

H = timedelta(hours=1)
D = timedelta(days=1)
WEEK_H = 168


def frame(rows: np.ndarray, step: timedelta = H) -> SeriesFrame:
    values = np.atleast_2d(np.asarray(rows, dtype=float))
    seconds = int(step.total_seconds())
    starts = (np.arange(values.shape[1]) * seconds + int(T0.timestamp())).astype("datetime64[s]")
    keys = [(("s", str(i)),) for i in range(values.shape[0])]
    return SeriesFrame(keys, starts, step, values)


def hourly(weeks: int, sigma: float, seed: int, n: int = 1) -> np.ndarray:
    """Hourly spend with a daily wave, weekends at 60 %, lognormal noise ``sigma``."""
    t = np.arange(weeks * WEEK_H)
    shape = (1 + 0.6 * np.sin(2 * np.pi * (t % 24) / 24)) * np.where((t // 24) % 7 < 5, 1, 0.6)
    rng = np.random.default_rng(seed)
    return np.asarray(100 * shape * rng.lognormal(0, sigma, (n, t.size)))


def flags(values: np.ndarray, start: int, step: timedelta = H, **params: object) -> np.ndarray:
    detector = CostDetector(CostParams(**params))
    return detector.evaluate(frame(values, step), slice(start, None)).flagged


JUDGE = 6 * WEEK_H  # weeks of history before the judged part


def test_heavy_multiplicative_noise_alone_stays_quiet():
    values = hourly(9, 0.25, seed=1, n=40)  # 40 series, 3 judged weeks each
    assert flags(values, JUDGE, direction="both", budget="1/year").sum() == 0


def test_a_drop_to_half_under_heavy_noise_alerts_within_the_hold():
    # weekends run at 60 %, so a drop to 50 % looks like a weekend day until it has
    # lasted `hold` (2 days): it alerts then, not at the first noisy hour
    values = hourly(9, 0.25, seed=2)
    at = JUDGE + 3 * 24 + 10  # a Thursday morning
    values[0, at:] *= 0.5
    flagged = flags(values, JUDGE, direction="down", budget="1/year")[0]
    first = int(np.nonzero(flagged)[0][0]) + JUDGE
    assert at <= first <= at + 48


def test_a_level_shift_and_a_spike_alert_up():
    values = hourly(9, 0.1, seed=3, n=2)
    values[0, JUDGE + 50 :] *= 2.0
    values[1, JUDGE + 80 : JUDGE + 82] *= 5.0
    flagged = flags(values, JUDGE, direction="up", budget="1/year")
    assert flagged[0, 50:60].any() and not flagged[0, :50].any()
    assert flagged[1, 80] and not flagged[1, :80].any()


def with_day_factors(values: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Every hour of a day times that day's own lognormal factor (a campaign's budget)."""
    rng = np.random.default_rng(seed)
    days = values.shape[1] // 24
    factor = rng.lognormal(0, sigma, (values.shape[0], days)).repeat(24, axis=1)
    return np.asarray(values * factor)


def test_whole_days_swinging_together_stay_quiet(monkeypatch):
    # 20 % day-to-day swings shared by all hours of the day: the 6-hour and 3-day
    # averages see a whole day off its usual level, which is this series' normal
    values = with_day_factors(hourly(9, 0.1, seed=7, n=40), 0.2, seed=8)

    def alerting() -> int:
        flagged = flags(
            values, JUDGE, direction="both", budget="1/year", shift_windows=6, hold=3 * D
        )
        return int(flagged.any(axis=1).sum())

    quiet = alerting()
    # judged as if hours were independent (no day-level spread), many of the same
    # series alert: the day-level factor is what keeps them quiet
    monkeypatch.setattr(cost, "day_level_sigma", lambda r, day, sigma: np.zeros(r.shape[0]))
    assert quiet <= 1 < 5 <= alerting()


def test_a_level_shift_on_a_series_with_day_swings_still_alerts():
    values = with_day_factors(hourly(9, 0.1, seed=9, n=6), 0.15, seed=10)
    values[:, JUDGE + 60 :] *= 2.5  # a lasting x2.5 on every series
    flagged = flags(values, JUDGE, direction="both", budget="1/year", shift_windows=6, hold=3 * D)
    assert not flagged[:, :60].any()
    assert flagged[:, 60 : 60 + 7 * 24].any(axis=1).all()


def test_day_sigma_is_zero_without_day_level_swings_and_tracks_them_with():
    rng = np.random.default_rng(11)
    hours = rng.normal(0, 0.2, (200, 14 * 24))  # independent hours
    sigma = np.full(200, 0.2)
    quiet = cost_stats.day_level_sigma(hours, 24, sigma)
    swings = hours + rng.normal(0, 0.3, (200, 14)).repeat(24, axis=1)
    loud = cost_stats.day_level_sigma(swings, 24, np.full(200, np.hypot(0.2, 0.3)))
    assert np.median(quiet) < 0.05
    assert 0.2 < np.median(loud) < 0.4
    assert (
        cost_stats.day_level_sigma(hours[:, :48], 24, sigma[:1].repeat(200)).max() == 0
    )  # < 5 days


def test_a_holiday_at_sunday_level_is_not_a_drop_but_a_lasting_drop_is():
    values = hourly(9, 0.05, seed=4, n=2)
    holiday = JUDGE + 2 * 24  # a Wednesday
    sunday = holiday - 3 * 24
    values[:, holiday : holiday + 24] = values[:, sunday : sunday + 24]
    values[1, holiday:] = values[1, holiday:] * 0.3  # series 1 stays down
    flagged = flags(values, JUDGE, direction="down")
    assert not flagged[0].any()
    assert flagged[1].any()


def test_a_month_start_charge_that_recurs_is_not_a_spike():
    days = 150
    t = np.arange(days)
    dates = np.datetime64(T0.date()) + t.astype("timedelta64[D]")
    first = dates.astype("datetime64[M]").astype("datetime64[D]") == dates
    rng = np.random.default_rng(5)
    values = 200 * rng.lognormal(0, 0.05, (2, days))
    values[0, first] += 2000  # every month
    values[1, first & (t > 120)] += 2000  # only once
    flagged = flags(values, 70, step=D, calibration="56d", shift_windows=3, hold="3d")
    assert not flagged[0].any()
    assert flagged[1].any()


def test_a_stricter_budget_never_alerts_more():
    values = hourly(9, 0.2, seed=6, n=30)
    values[:10, JUDGE + 100 : JUDGE + 103] *= 3
    loose = flags(values, JUDGE, budget="1/week", guard=1.0, shift_margin=0.0)
    strict = flags(values, JUDGE, budget="1/year", guard=1.0, shift_margin=0.0)
    assert strict.sum() <= loose.sum()
    assert not (strict & ~loose).any()


def test_verdicts_are_causal_per_day_blocks():
    values = hourly(9, 0.2, seed=7)
    full = CostDetector(CostParams(direction="both")).evaluate(frame(values), slice(JUDGE, None))
    cut = JUDGE + 100
    part = CostDetector(CostParams(direction="both")).evaluate(
        frame(values[:, :cut]), slice(JUDGE, None)
    )
    np.testing.assert_array_equal(part.score, full.score[:, :100])


@pytest.mark.parametrize(
    ("text", "per_week"),
    [
        ("1/month", 7 / 30),
        ("2/week", 2.0),
        ("1/2weeks", 0.5),
        ("0.5/day", 3.5),
        ("1/year", 7 / 365),
    ],
)
def test_budgets_parse_to_alerts_per_week(text, per_week):
    assert parse_budget(text) == pytest.approx(per_week)


@pytest.mark.parametrize("text", ["", "month", "1/fortnight", "0/week", "-1/day"])
def test_bad_budgets_are_refused(text):
    with pytest.raises(ValueError, match="budget"):
        parse_budget(text)


def test_format_budget_reads_back():
    assert format_budget(parse_budget("1/month")) == "1/month"
    assert format_budget(2.0) == "2/week"


def test_a_rules_max_alerts_is_validated_and_fills_the_detector_budget():
    rule_model = make_rule_model()
    rule = rule_model(name="r", source="s", max_alerts="1/quarter", detector={"type": "cost"})  # type: ignore[call-arg]
    detector = make_detector(rule)
    assert isinstance(detector, CostDetector)
    assert detector.params.budget == "1/quarter"
    assert rule.budget_per_week == pytest.approx(7 / 91)
    with pytest.raises(ValidationError, match="max_alerts"):
        rule_model(name="r", source="s", max_alerts="often", detector={"type": "cost"})  # type: ignore[call-arg]


def test_judging_series_in_row_blocks_gives_the_same_verdicts(monkeypatch):
    values = with_day_factors(hourly(9, 0.2, seed=12, n=7), 0.1, seed=13)
    values[2, JUDGE + 30 :] *= 0.3
    values[5, JUDGE + 40 : JUDGE + 43] *= 6
    whole = CostDetector(CostParams(direction="both")).evaluate(frame(values), slice(JUDGE, None))
    monkeypatch.setattr(cost, "ROWS", 3)  # blocks of 3, 3 and 1 series
    parts = CostDetector(CostParams(direction="both")).evaluate(frame(values), slice(JUDGE, None))
    assert whole.flagged[2].any() and whole.flagged[5].any()
    for name in ("expected", "lower", "upper", "score", "flagged"):
        assert np.array_equal(getattr(whole, name), getattr(parts, name), equal_nan=True), name


def test_a_shorter_drop_average_finds_a_drop_sooner_and_keeps_noise_quiet():
    values = hourly(9, 0.2, seed=14, n=30)
    at = JUDGE + 3 * 24 + 10  # a Thursday morning
    values[0, at:] *= 0.2  # well below the weekend's 60 %, so the short averages see it
    long = flags(values, JUDGE, direction="down", budget="1/year")
    short = flags(values, JUDGE, direction="down", budget="1/year", drop_windows=4)
    first_long = int(np.nonzero(long[0])[0][0]) + JUDGE
    first_short = int(np.nonzero(short[0])[0][0]) + JUDGE
    assert at <= first_short < first_long
    assert not short[1:].any() and not long[1:].any()


def with_zero_hours(values: np.ndarray, share: float, seed: int) -> np.ndarray:
    """Each hour independently costs nothing with probability ``share``."""
    rng = np.random.default_rng(seed)
    return np.asarray(values * (rng.random(values.shape) >= share))


def test_an_intermittent_series_zero_hours_are_not_drops_but_lower_amounts_are():
    values = with_zero_hours(hourly(9, 0.1, seed=15, n=30), 0.4, seed=16)
    at = JUDGE + 3 * 24 + 10
    values[0, at:] *= 0.2  # the hours that cost money now cost a fifth
    active = flags(values, JUDGE, direction="both", budget="1/year", active_share=0.1)
    plain = flags(values, JUDGE, direction="both", budget="1/year")
    first = int(np.nonzero(active[0])[0][0]) + JUDGE
    assert at <= first <= at + 12
    assert not active[1:].any()
    # without it, the series' zero hours swamp the lower amounts: no alert within the day
    assert not plain[0, at - JUDGE : at - JUDGE + 24].any()


def test_an_intermittent_series_is_judged_only_where_it_costs_money():
    values = with_zero_hours(hourly(9, 0.1, seed=17, n=3), 0.6, seed=18)
    verdicts = CostDetector(CostParams(direction="both", active_share=0.1)).evaluate(
        frame(values), slice(JUDGE, None)
    )
    zero = values[:, JUDGE:] == 0
    assert np.isnan(verdicts.score[zero]).all()
    judged = ~zero & np.isfinite(verdicts.score)
    assert judged.sum() > 0.9 * (~zero).sum()
    assert (verdicts.expected[judged] > 0).all()  # the median of non-zero same slots


def test_last_known_mean_averages_the_last_k_known_values():
    r = np.array([[1.0, np.nan, 3.0, np.nan, np.nan, 5.0, 7.0]])
    out = cost_stats.last_known_mean(r, 2)
    np.testing.assert_allclose(out, [[np.nan, np.nan, 2.0, 2.0, 2.0, 4.0, 6.0]])


def test_month_days_compare_a_month_back_only_at_month_starts():
    values = hourly(10, 0.05, seed=19)
    hours = slice(10, 16)
    oct14 = (T0.replace(month=10, day=14) - T0).days * 24  # a Wednesday
    nov14 = (T0.replace(month=11, day=14) - T0).days * 24  # a Saturday
    values[0, oct14 + hours.start : oct14 + hours.stop] *= 3
    values[0, nov14 + hours.start : nov14 + hours.stop] *= 3
    judged = slice(nov14 - JUDGE, nov14 - JUDGE + 24)
    every_day = flags(values, JUDGE, budget="1/year")[0, judged]
    first_day = flags(values, JUDGE, budget="1/year", month_days=1)[0, judged]
    assert not every_day.any()  # a month back (a busier Wednesday) explains it
    assert first_day.any()


def test_a_month_start_rise_that_recurs_on_another_weekday_is_not_a_spike():
    t = np.arange(10 * WEEK_H)
    dates = np.datetime64(T0.date()) + (t // 24).astype("timedelta64[D]")
    thursday = (t // 24) % 7 == 3  # T0 is a Monday; Oct 1 is a Thursday, Nov 1 a Sunday
    rng = np.random.default_rng(20)
    values = 100 * np.where(thursday, 0.4, 1.0) * rng.lognormal(0, 0.05, (2, t.size))
    first = dates.astype("datetime64[M]").astype("datetime64[D]") == dates
    values[0, first] *= 2.5  # every month start costs more
    values[1, first & (dates >= np.datetime64("2026-11-01"))] *= 2.5  # only November's
    nov1 = int(np.nonzero(dates == np.datetime64("2026-11-01"))[0][0])
    flagged = flags(values, JUDGE, budget="1/year", month_days=1)
    assert not flagged[0].any()
    assert flagged[1, nov1 - JUDGE : nov1 - JUDGE + 24].any()


def test_month_days_explain_a_recurring_month_start_but_not_a_rise_on_a_weekend():
    t = np.arange(10 * WEEK_H)  # 2026-09-07 .. 2026-11-16
    dates = np.datetime64(T0.date()) + (t // 24).astype("timedelta64[D]")
    day_of_month = (dates - dates.astype("datetime64[M]").astype("datetime64[D]")).astype(int)
    values = hourly(10, 0.05, seed=22, n=2)
    values[0, day_of_month < 4] *= 1.8  # tier prices reset on the 1st: 4 dearer days
    nov7 = int(np.nonzero(dates == np.datetime64("2026-11-07"))[0][0])  # a Saturday
    values[1, nov7 + 10 :] *= 1.5  # a month back is a (busier) Wednesday
    nov1 = int(np.nonzero(dates == np.datetime64("2026-11-01"))[0][0])
    start = slice(nov1 - JUDGE, nov1 - JUDGE + 4 * 24)
    week = flags(values, JUDGE, budget="1/year", month_days=7, center=True)
    first = flags(values, JUDGE, budget="1/year", month_days=1, center=True)
    assert first[0, start].any() and not week[0, start].any()
    assert week[1, nov7 + 10 - JUDGE : nov7 + 22 - JUDGE].any()


def test_a_drop_to_weekend_level_from_mid_day_is_no_holiday():
    values = hourly(9, 0.05, seed=21, n=2)
    at = JUDGE + 3 * 24 + 10  # a Thursday 10:00, down to 55 % (weekends run at 60 %)
    values[0, at:] *= 0.55
    holiday = JUDGE + 2 * 24  # series 1: a Wednesday at Sunday level, from midnight
    values[1, holiday : holiday + 24] = values[1, holiday - 3 * 24 : holiday - 2 * 24]
    params: dict[str, Any] = {"direction": "down", "drop_windows": 6, "min_change": 0.3}
    plain = flags(values, JUDGE, **params)
    midnight = flags(values, JUDGE, holiday_from_midnight=True, **params)
    assert not plain[0, at - JUDGE : at - JUDGE + 12].any()  # looks like a weekend day
    assert midnight[0, at - JUDGE : at - JUDGE + 12].any()
    assert not plain[1].any() and not midnight[1].any()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"active_share": 0}, "active_share"),
        ({"active_share": 1.5}, "active_share"),
        ({"active_windows": 0}, "active_windows"),
        ({"month_days": 0}, "month_days"),
        ({"month_days": 32}, "month_days"),
        ({"holiday_from_midnight": "maybe"}, "holiday_from_midnight"),
        ({"excursion_margin": -0.1}, "excursion_margin"),
        ({"irregular_share": 0}, "irregular_share"),
        ({"irregular_share": 1.5}, "irregular_share"),
        ({"mid_windows": 1}, "mid_windows"),
        ({"mid_windows": 1001}, "mid_windows"),
    ],
)
def test_bad_new_parameters_are_refused_by_name(params, field):
    with pytest.raises(ValidationError, match=field):
        CostParams(**params)


def test_holiday_like_needs_a_day_low_since_midnight_after_a_day_that_was_not():
    pos = np.tile(np.arange(6), 3)  # three days of six windows
    gap = np.tile([0.0, 1.0, 1.0, 1.0, 1.0, 1.0], 3)  # the first window tells nothing
    normal, low = [0.0] * 6, [0.0] + [-1.0] * 5
    mid_day = [0.0, 0.0, 0.0, 0.0, -1.0, -1.0]  # lower after three ordinary windows
    r = np.array([normal + low + low, normal + mid_day + normal])
    like = cost_refs.holiday_like(r, gap, pos, 6, 0.5)
    # the window that tells nothing ends the day before: the day begins after it
    assert like[0, 7:12].all()  # low since its first telling window after an ordinary day
    assert not like[0, 13:18].any()  # a second low day: a lasting drop
    # ordinary from its first telling windows: no holiday once half of HOLIDAY_START
    # have told (until then a decrease is explained by the lowest day)
    decided = 7 + cost_refs.HOLIDAY_START // 2 - 1
    assert like[1, 7:decided].all() and not like[1, decided:12].any()


def test_excursion_margin_raises_the_bar_by_a_share_of_the_recent_largest_excursion():
    """The averaged threshold of a rise is at least ``top * (1 + excursion) + margin`` with
    ``top`` the group's largest recent averaged residual: a bursty group (top log 2.3, a
    tenfold run) needs a run about 1.8x larger to alert, a calm one (top 0.2) barely
    more than before; 0 leaves thresholds as they were."""
    rng = np.random.default_rng(5)
    cal = rng.normal(0, 0.05, (2, 336))
    cal[0, 100:106] = 2.3  # a burst
    cal[1, 100:106] = 0.2
    sigma, day_sigma = np.full(2, 0.05), np.zeros(2)
    detector = CostDetector(CostParams(shift_margin=0.1))
    args = (cal, sigma, day_sigma, 6, 24, math.log1p(0.3), 1 / 8760)
    before = detector._average_threshold(*args)
    after = detector._average_threshold(*args, 0.25)
    assert np.all(after >= before)
    assert after[0] >= 2.3 * 1.25 + 0.1 - 1e-9
    assert after[1] - before[1] <= 0.25 * 0.2 + 1e-9
    assert np.array_equal(detector._average_threshold(*args, 0.0), before)


def test_excursion_margin_never_changes_a_decrease_verdict():
    """Bursts in the recent weeks raise the bar for rises only: every downward verdict,
    a drop to half included, is the same with and without ``excursion_margin``."""
    values = hourly(9, 0.25, seed=2, n=3)
    for week in (4, 5):  # recent two-day bursts at 3x
        values[1:, week * WEEK_H + 48 : week * WEEK_H + 96] *= 3.0
    at = JUDGE + 3 * 24 + 10
    values[:2, at:] *= 0.5
    common: dict[str, Any] = {"direction": "down", "budget": "1/year"}
    plain = flags(values, JUDGE, **common)
    scaled = flags(values, JUDGE, excursion_margin=0.5, **common)
    assert plain[:2].any()
    assert np.array_equal(plain, scaled)


def flat_hourly(weeks: int, sigma: float, seed: int, n: int = 1) -> np.ndarray:
    """Hourly spend with a daily wave and no weekend: its lowest day is an ordinary day."""
    t = np.arange(weeks * WEEK_H)
    shape = 1 + 0.3 * np.sin(2 * np.pi * (t % 24) / 24)
    rng = np.random.default_rng(seed)
    return np.asarray(100 * shape * rng.lognormal(0, sigma, (n, t.size)))


def test_a_drop_from_midnight_on_a_series_without_weekends_is_no_holiday():
    # the lowest of seven noisy days sits below the normal: without a weekend that stands
    # apart it must not excuse a drop that begins at midnight
    params: dict[str, Any] = {
        "direction": "down",
        "drop_windows": 6,
        "min_change": 0.3,
        "holiday_from_midnight": True,
        "budget": "1/year",
    }
    caught = 0
    for seed in range(12):
        values = flat_hourly(9, 0.2, seed=100 + seed)
        at = JUDGE + 2 * 24  # a Wednesday 00:00, down to 60 % for good
        values[0, at:] *= 0.6
        flagged = flags(values, JUDGE, **params)[0]
        caught += bool(flagged[at - JUDGE : at - JUDGE + 12].any())
        assert not flagged[: at - JUDGE].any()
    assert caught >= 10  # 7 of 12 when the noisy lowest day may excuse it


def batch_runs(weeks: int, seed: int, hours: list[int] | None = None) -> np.ndarray:
    """A low floor and 6-hour training runs every two or three days at shifting hours."""
    rng = np.random.default_rng(seed)
    n = weeks * WEEK_H
    values = 5.0 * rng.lognormal(0, 0.1, n)
    at = 3
    while at < n - 8:
        values[at : at + 6] += 100 * rng.uniform(0.8, 1.2)
        at += int(rng.choice([48, 72])) + int(rng.integers(-5, 6))
    return values


def test_an_irregular_series_runs_at_new_hours_are_not_news_but_a_larger_run_is():
    rows = np.array([batch_runs(9, seed) for seed in range(8)])
    bigger = rows[4:].copy()
    at = JUDGE + 30  # an unusual hour: 4x the usual run
    bigger[:, at : at + 6] = 5.0 + 400
    values = np.vstack([rows[:4], bigger])
    params: dict[str, Any] = {"direction": "both", "budget": "1/year"}
    plain = flags(values, JUDGE, **params)
    judged = flags(values, JUDGE, irregular_share=0.2, **params)
    assert plain[:4].sum() > 0  # runs at shifting hours read as spikes
    assert judged[:4].sum() == 0
    assert judged[4:, 30:36].any(axis=1).all()  # a run four times the usual still alerts
    assert not judged[4:, :30].any()


def test_an_irregular_series_run_that_outlasts_its_longest_alerts():
    values = np.array([batch_runs(9, seed) for seed in range(20, 24)])
    at = JUDGE + 40
    values[:, at:] += 100  # a job that does not stop (runs last 6 hours)
    flagged = flags(values, JUDGE, direction="up", irregular_share=0.2, budget="1/year")
    first = [int(np.nonzero(row)[0][0]) + JUDGE for row in flagged if row.any()]
    assert len(first) == 4
    # longest run 6 windows, allowed 6 + 2: the run's ninth window alerts (another
    # run may have begun a few hours before the runaway one)
    assert all(at + 8 - 6 <= f <= at + 8 for f in first)


def test_run_score_counts_a_run_against_the_longest_of_the_past():
    past = np.array([[1.0, 10, 10, 10, 1, 1, 10, 1, 1, 1, 1, 1]])  # longest run: 3
    obs = np.array([[10.0, 10, 10, 10, 10, 10, 1]])
    score = bursts.run_score(obs, past, np.array([10.0]), np.array([1.0]))
    # allowed: 3 + max(2, 3 // 4) = 5 windows
    np.testing.assert_allclose(score[0], [0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 0.0])


def test_an_irregular_series_floor_that_falls_alerts_down():
    values = np.array([batch_runs(9, seed) for seed in range(30, 34)])
    at = JUDGE + 50
    values[:2, at:] *= 0.4  # everything at 40 %: the floor between runs too
    flagged = flags(values, JUDGE, direction="down", irregular_share=0.2, budget="1/year")
    assert flagged[:2, 50:62].any(axis=1).all()
    assert not flagged[2:].any() and not flagged[:, :50].any()


def test_irregular_verdicts_of_one_new_hour_match_the_whole_day():
    values = np.array([batch_runs(9, seed) for seed in range(40, 44)])
    values[:, JUDGE + 30 :] += 100  # a runaway job: its run score spans the day start
    params = CostParams(direction="both", irregular_share=0.2, budget="1/year")
    full = CostDetector(params).evaluate(frame(values), slice(JUDGE, JUDGE + 48))
    for hour in (JUDGE + 30, JUDGE + 39, JUDGE + 47):
        one = CostDetector(params).evaluate(frame(values[:, : hour + 1]), slice(hour, hour + 1))
        np.testing.assert_array_equal(one.score[:, 0], full.score[:, hour - JUDGE])


def test_irregular_counts_days_so_one_odd_event_does_not_make_a_series_irregular():
    steady = flat_hourly(6, 0.1, seed=50)[0]
    dropped = steady.copy()
    dropped[4 * WEEK_H + 30 : 4 * WEEK_H + 62] *= 0.2  # one drop of 32 hours
    runs = batch_runs(6, seed=51)
    now, span = 6 * WEEK_H, 5 * WEEK_H
    rows = np.array([steady, dropped, runs])
    share = bursts.irregular(
        rows[:, now - span : now], rows[:, now - span - WEEK_H : now - WEEK_H], 24
    )
    assert share[0] == 0
    assert share[1] <= 4 / 35  # two days, and the same two a week later
    assert share[2] >= 0.5  # runs at shifting hours: most days


def test_a_month_back_reference_never_creates_a_verdict_where_the_baseline_has_none():
    # an intermittent series: its 05:00-07:00 hours have cost nothing for weeks, so they
    # have no baseline; on the 1st of a month (month_days) the month-back slot must not
    # stand in for one (it read the first hours there as 300-fold spikes)
    values = hourly(10, 0.05, seed=60)
    values[0, 3::24] = 0.0  # 03:00 costs nothing: over 10 % zero hours, judged as active
    for h in range(3, 10):
        values[0, h::24] = 0.0  # quiet 03:00-09:00 ...
    nov1 = (T0.replace(month=11, day=1) - T0).days * 24
    values[0, nov1 + 5 : nov1 + 8] = 20.0  # ... until a few hours on the 1st
    params: dict[str, Any] = {"budget": "1/year", "month_days": 1, "active_share": 0.1}
    detector = CostDetector(CostParams(**params))
    verdicts = detector.evaluate(frame(values), slice(JUDGE, None))
    day = slice(nov1 - JUDGE, nov1 - JUDGE + 24)
    # hours it never cost money at are judged against its usual non-zero amount: 20 is
    # below it, no spike (a month-back zero made it one)
    usual = np.median(values[0, nov1 - 14 * 24 : nov1][values[0, nov1 - 14 * 24 : nov1] > 0])
    np.testing.assert_allclose(verdicts.expected[0, day][5:8], usual, rtol=0.01)
    assert (verdicts.score[0, day][5:8] < 0.5).all()
    assert not verdicts.flagged[0, day].any()


def test_explain_keeps_unknown_residuals_unknown():
    r = np.array([[np.nan, 1.0, 1.0]])
    other = np.array([[0.5, np.nan, 0.5]])
    np.testing.assert_array_equal(cost_refs.explain(r, other, np.fmin), [[np.nan, 1.0, 0.5]])
    np.testing.assert_array_equal(cost_refs.explain(-r, -other, np.fmax), [[np.nan, -1.0, -0.5]])


def test_an_intermittent_series_holiday_at_sunday_level_is_not_a_drop_but_a_lasting_drop_is():
    values = with_zero_hours(hourly(9, 0.05, seed=70, n=2), 0.25, seed=71)
    holiday = JUDGE + 2 * 24  # a Wednesday at the level of the Sunday before, from 00:00
    sunday = holiday - 3 * 24
    values[:, holiday : holiday + 24] = values[:, sunday : sunday + 24]
    values[1, holiday + 24 :] *= 0.6  # series 1 stays at Sunday level: a lasting drop
    params: dict[str, Any] = {
        "direction": "down",
        "budget": "1/year",
        "active_share": 0.1,
        "holiday_from_midnight": True,
        "drop_windows": 6,
        "min_change": 0.3,
    }
    flagged = flags(values, JUDGE, **params)
    day = slice(holiday - JUDGE, holiday - JUDGE + 24)
    assert not flagged[0].any()
    assert not flagged[1, day].any()
    assert flagged[1, day.stop : day.stop + 48].any()


def test_a_longer_average_finds_level_shifts_under_heavy_noise_within_half_a_day():
    # 40 % rises and falls under 20 % hourly noise: the six-window average misses some
    # within half a day; a ten-window one (mid_windows) finds more, and clean series
    # stay quiet under both
    rule: dict[str, Any] = {"direction": "both", "budget": "1/year", "shift_windows": 6}
    rule |= {"drop_windows": 6}
    rule |= {"min_change": 0.3, "shift_margin": 0.1, "k_shift": 3.5, "center": True}
    rule |= {"holiday_from_midnight": True}  # a fall from mid-morning is no weekend
    shifted = hourly(9, 0.2, seed=41, n=40)
    at = JUDGE + 24 + 10  # a Tuesday morning
    shifted[:20, at:] *= 1.4
    shifted[20:, at:] *= 0.6
    clean = hourly(9, 0.2, seed=42, n=40)
    caught = {}
    for longer in (None, 10):
        found = flags(np.vstack([shifted, clean]), JUDGE, mid_windows=longer, **rule)
        assert not found[:40, : at - JUDGE].any() and not found[40:].any()
        caught[longer] = int(found[:40, at - JUDGE : at - JUDGE + 12].any(axis=1).sum())
    assert caught[10] > caught[None]
    assert caught[10] >= 0.8 * 40


def scheduled_runs(weeks: int, seed: int, every: int) -> np.ndarray:
    """A low floor and a 5-hour run every ``every`` hours, starting within 2 hours of its
    slot, costing 80-120."""
    rng = np.random.default_rng(seed)
    n = weeks * WEEK_H
    values = 5.0 * rng.lognormal(0, 0.1, n)
    for slot in range(3, n - 8, every):
        begin = slot + int(rng.integers(-2, 3))
        values[begin : begin + 5] += 100 * rng.uniform(0.8, 1.2)
    return values


def test_missed_run_score_finds_the_schedule_and_an_overdue_run():
    runs = scheduled_runs(7, seed=80, every=48)[None]
    width = 6 * WEEK_H
    past, obs = runs[:, :width], runs[:, width:].copy()
    assert bursts.missed_run_score(obs, past, 24).max() <= 1.0  # every run came
    first = int(np.nonzero((obs[0] > 50) & (np.arange(obs.shape[1]) > 10))[0][0])
    obs[0, first : first + 6] = 5.0  # that run does not come
    late = bursts.missed_run_score(obs, past, 24)[0]
    overdue = np.nonzero(late > 1.0)[0]
    assert overdue.size and first < overdue[0] <= first + 8  # due at 48 h + 4 h of jitter
    # runs 2-3 days apart at random: no schedule, never overdue
    assert bursts.missed_run_score(obs, batch_runs(6, seed=81)[None], 24).max() == 0.0


def test_a_schedule_is_judged_by_its_recent_runs_not_an_oversized_one_or_older_ones():
    runs = scheduled_runs(7, seed=82, every=24)
    width = 6 * WEEK_H
    shrunk = runs.copy()
    shrunk[width - 3 * WEEK_H :] *= 0.2  # runs and floor at a fifth for three weeks
    shrunk[width - 30 : width - 27] = 2000.0  # and one oversized run lately
    past, obs = shrunk[None, :width], shrunk[None, width:]
    assert bursts.missed_run_score(obs, past, 24).max() <= 1.0  # the small runs still come
    first = int(np.nonzero((obs[0] > 10) & (np.arange(obs.shape[1]) > 10))[0][0])
    gone = obs.copy()
    gone[0, first : first + 6] = 1.0  # a small run that does not come is still missed
    overdue = np.nonzero(bursts.missed_run_score(gone, past, 24)[0] > 1.0)[0]
    assert overdue.size and first < overdue[0] <= first + 8


def test_a_daily_curve_is_no_schedule_of_runs():
    t = np.arange(7 * WEEK_H)
    rng = np.random.default_rng(83)
    busy = np.where((t % 24 >= 9) & (t % 24 < 19), 100.0, 5.0) * rng.lognormal(0, 0.1, t.size)
    width = 6 * WEEK_H
    obs = busy[None, width:].copy()
    obs[0, 24:72] = 5.0  # two quiet days: a holiday, not a missed run
    assert bursts.missed_run_score(obs, busy[None, :width], 24).max() == 0.0


def test_a_scheduled_run_that_does_not_come_alerts_down_on_an_irregular_series():
    values = np.array([scheduled_runs(9, seed, every=48) for seed in range(90, 94)])
    missing = []
    for row in values[:2]:  # the first run after the judged start does not come
        at = JUDGE + int(np.nonzero(row[JUDGE:] > 50)[0][0])
        row[at : at + 6] = 5.0
        missing.append(at - JUDGE)
    detector = CostDetector(CostParams(direction="down", irregular_share=0.2, budget="1/year"))
    verdicts = detector.evaluate(frame(values), slice(JUDGE, None))
    flagged = verdicts.flagged
    for i, at in enumerate(missing):
        hits = np.nonzero(flagged[i])[0]
        assert hits.size and at < hits[0] <= at + 8
        # expected there: the run that did not come (80-120 on a floor of 5), not the
        # floor the same hours usually hold, so a rule's min_delta weighs the run
        assert np.all((verdicts.expected[i, hits] > 60) & (verdicts.expected[i, hits] < 140))
    assert not flagged[2:].any()


def test_an_irregular_series_floor_that_rises_alerts_up_but_not_after_an_oversized_run():
    values = np.array([batch_runs(9, seed) for seed in range(100, 106)])
    at = JUDGE + 50
    values[:2, at:] *= 2.5  # a ramp's end: runs and the floor between them lifted
    for row in values[2:4]:  # a 25-fold run, then ordinary runs and floor again
        run = at + int(np.nonzero(row[at:] > 50)[0][0])
        row[run : run + 6] *= 25
    flagged = flags(values, JUDGE, direction="up", irregular_share=0.2, budget="1/year")
    assert flagged[:2, 50:62].any(axis=1).all() and not flagged[:2, :50].any()
    # the oversized run alerts by itself; the ordinary floor after it does not
    for row in flagged[2:4]:
        hits = np.nonzero(row[50:])[0]
        assert hits.size and hits[-1] - hits[0] < 6
    assert not flagged[4:].any()


def test_a_series_that_began_mid_span_has_its_floor_from_the_windows_that_cost_money():
    # zeros for four weeks (not yet a series), then runs every 2-3 days at shifting hours
    values = np.array([batch_runs(9, seed) for seed in range(110, 114)])
    values[:, : 4 * WEEK_H] = 0.0
    flagged = flags(values, JUDGE, direction="both", irregular_share=0.15, budget="1/year")
    assert not flagged.any()  # a zero floor would make it one endless run


def test_an_intermittent_series_at_a_new_hour_is_judged_against_its_usual_amount():
    # a daily two-hour job at 07:00; one day it also runs at 14:00: at its usual size that
    # is no news, at eight times it is a spike
    t = np.arange(9 * WEEK_H)
    rng = np.random.default_rng(120)
    values = np.where(t % 24 // 2 == 3, 500.0, 0.0) * rng.lognormal(0, 0.1, t.size)
    values = np.vstack([values, values])
    at = JUDGE + 2 * 24 + 14
    values[0, at] = 520.0
    values[1, at] = 4000.0
    flagged = flags(values, JUDGE, direction="both", active_share=0.1, budget="1/year")
    assert not flagged[0].any()
    assert flagged[1, at - JUDGE] and flagged[1].sum() == 1


def test_a_job_of_one_hour_a_day_is_judged():
    # fourteen windows that cost money in the two-week calibration span are enough
    t = np.arange(9 * WEEK_H)
    rng = np.random.default_rng(121)
    values = np.where(t % 24 == 7, 500.0, 0.0) * rng.lognormal(0, 0.1, t.size)
    at = JUDGE + 3 * 24 + 7
    values[at] *= 8
    detector = CostDetector(CostParams(direction="both", active_share=0.1, budget="1/year"))
    verdicts = detector.evaluate(frame(values), slice(JUDGE, None))
    assert np.isfinite(verdicts.expected[0, 7::24]).all()
    assert verdicts.flagged[0, at - JUDGE] and verdicts.flagged[0].sum() == 1


def test_short_dips_are_those_no_longer_than_the_calibration_spans_longest():
    r = np.zeros((2, 30))
    r[:, 2:5] = -3.0  # a 3-window dip in the calibration columns 0..9
    r[:, 15:17] = -3.0  # 2 windows: as long as seen, or shorter
    r[:, 20:25] = -3.0  # 5 windows: the 4th and 5th outlast it
    r[1, 2:5] = 0.0  # the second row saw no dip
    none = np.zeros(2, np.int64)
    dips = cost_stats.short_dips(r, slice(0, 10), 6, none)
    assert dips[0, 15:17].all() and dips[0, 20:23].all() and not dips[0, 23:25].any()
    assert not dips[1].any()
    capped = cost_stats.short_dips(r, slice(0, 10), 1, none)
    assert capped[0, 20] and not capped[0, 21]
    # dips known from the weeks before the calibration span count too
    earlier = cost_stats.short_dips(r, slice(0, 10), 6, np.array([0, 4]))
    assert earlier[1, 20:24].all() and not earlier[1, 24]


def with_reclaims(values: np.ndarray, seed: int) -> np.ndarray:
    """About one stretch of 1-4 zero hours a week per row (spot capacity reclaimed), the
    hour before it billed in part."""
    rng = np.random.default_rng(seed)
    out = values.copy()
    for row in out:
        for begin in rng.integers(1, row.size - 5, row.size // WEEK_H):
            row[begin : begin + int(rng.integers(1, 5))] = 0.0
            row[begin - 1] *= rng.uniform(0.05, 0.95)
    return out


def test_a_dense_series_short_zero_stretches_are_not_drops_but_a_lasting_drop_is():
    rule: dict[str, Any] = {"direction": "both", "budget": "1/year", "active_share": 0.1}
    rule |= {"shift_windows": 6, "drop_windows": 6, "min_change": 0.3}
    values = with_reclaims(flat_hourly(9, 0.05, seed=120, n=30), seed=121)
    at = JUDGE + 2 * 24 + 9
    values[:10, at:] *= 0.2  # a lasting drop to a fifth
    found = flags(values, JUDGE, **rule)
    assert not found[10:].any()  # the reclaims of the others: no drop, nor a rise after
    for row in found[:10]:
        hits = np.nonzero(row)[0] + JUDGE
        assert hits.size and at <= hits[0] <= at + 12


def test_a_daily_series_day_without_cost_is_no_excuse_for_a_later_drop():
    # holes are hours: on daily data a day at zero does not make the next drop routine
    rng = np.random.default_rng(123)
    values = 200 * rng.lognormal(0, 0.1, (10, 160))
    values[:, 100] = 0.0  # one day without cost (an export gap read as zero)
    values[:, 130:] *= 0.1  # then a lasting drop to a tenth
    rule: dict[str, Any] = {"calibration": "56d", "shift_windows": 3, "hold": "7d"}
    flagged = flags(values, 110, step=D, direction="down", active_share=0.1, **rule)
    for row in flagged:
        hits = np.nonzero(row)[0] + 110
        assert hits.size and 130 <= hits[0] <= 132


# bench/rules/cost-daily.toml
DAILY = {"budget": "1/year", "calibration": 56 * D, "shift_windows": 3, "hold": 3 * D}
DAILY |= {"shift_margin": 0.05, "active_share": 0.1, "active_windows": 3, "direction": "both"}


def daily(days: int, sigma: float, seed: int, n: int = 1, weekend: float = 1.0) -> np.ndarray:
    """Daily spend from T0 (a Monday): weekends at ``weekend``, lognormal noise."""
    t = np.arange(days)
    shape = np.where(t % 7 < 5, 1.0, weekend)
    rng = np.random.default_rng(seed)
    return np.asarray(1000 * shape * rng.lognormal(0, sigma, (n, days)))


def day_index(date: str) -> int:
    return int((np.datetime64(date) - np.datetime64(T0.date())).astype(int))


def test_daily_a_month_start_charge_on_a_weekday_is_explained_by_a_weekend_month_back():
    # the 1st costs twice its day; Nov 1 is a Sunday (weekends at half), Dec 1 a Tuesday:
    # the month back, scaled by the two days' usual levels, explains December's
    values = daily(110, 0.03, seed=51, n=2, weekend=0.5)
    firsts = [day_index(d) for d in ("2026-10-01", "2026-11-01", "2026-12-01")]
    values[0, firsts] *= 2
    values[1, firsts[-1]] *= 2  # only December's: news
    dec1 = firsts[-1]
    flagged = flags(values, dec1, D, **DAILY)
    assert not flagged[0, :7].any()
    assert flagged[1, 0]


def test_rise_offset_weighs_a_quiet_hour_rise_by_money():
    # hours 00-05 cost 3 % of a busy hour: quadrupled for three hours they are still an
    # eighth of one, news in ratio and not in money; a busy hour doubled is news either way
    t = np.arange(9 * WEEK_H)
    shape = np.where(t % 24 < 6, 0.03, 1.0)
    rng = np.random.default_rng(61)
    values = 100 * shape * rng.lognormal(0, 0.05, (2, t.size))
    night = JUDGE + 3 * 24 + 2  # a Thursday, 02:00
    values[0, night : night + 3] *= 4
    values[1, night + 10 : night + 16] *= 2
    rule: dict[str, Any] = {"budget": "1/year", "shift_windows": 6, "direction": "both"}
    plain = flags(values, JUDGE, **rule)
    weighed = flags(values, JUDGE, rise_offset=0.3, **rule)
    assert plain[0].any() and not weighed[0].any()
    assert weighed[1, night + 10 - JUDGE : night + 16 - JUDGE].any()
    assert not weighed[1, : night + 10 - JUDGE].any()


def office(weeks: int, utc_offset: int, seed: int, n: int = 1) -> np.ndarray:
    """Hourly desktops of an office ``utc_offset`` hours from UTC: 08:00-18:00 local on
    weekdays at 100, weekends at 3 (a few machines left on), nothing at night, noise
    10 %."""
    local = np.arange(weeks * WEEK_H) + utc_offset
    hour, weekday = local % 24, (local // 24) % 7
    working = (hour >= 8) & (hour < 18) & (weekday < 5)
    rng = np.random.default_rng(seed)
    level = np.where(working, 100.0, np.where(weekday < 5, 0.0, 3.0))
    return np.asarray(level * rng.lognormal(0, 0.1, (n, local.size)))


def test_a_local_monday_holiday_in_another_time_zone_is_not_a_drop_but_a_lasting_drop_is():
    # an office at UTC+12: its Monday runs from Sunday 12:00 UTC, so the Sunday before (in
    # UTC) already holds the holiday's first hours; after a weekend, not a low weekday
    offset = 12
    values = office(9, offset, seed=80, n=2)
    monday = JUDGE + 7 * 24 - offset  # local midnight of the judged part's second Monday
    quiet = values[:, monday - 24 : monday]  # the Sunday before, local
    values[:, monday : monday + 24] = quiet  # a public holiday, like a Sunday
    values[1, monday + 24 : monday + 24 * 8] *= 0.03  # series 1 stays down for a week
    rule: dict[str, Any] = {"direction": "down", "budget": "1/year", "hold": "3d"}
    rule |= {"holiday_from_midnight": True, "drop_windows": 6, "min_change": 0.3}
    rule |= {"active_share": 0.1}  # nights cost nothing: judged on the hours that cost
    flagged = flags(values, JUDGE, **rule)
    holiday = slice(monday - JUDGE - 12, monday - JUDGE + 24)
    assert not flagged[0].any()  # nothing all along, the long average included
    assert not flagged[1, holiday].any()
    # the day after, a second low weekday, is no holiday: it alerts within its morning
    tuesday = monday + 24 + 8 - JUDGE  # 08:00 local
    assert flagged[1, tuesday : tuesday + 8].any()


def test_holiday_like_is_not_undone_by_one_odd_window_at_the_start_of_the_day():
    # a monthly fee billed in the first window of the month, on a day that is a holiday
    pos = np.tile(np.arange(8), 2)
    gap = np.tile([0.0, 0.0] + [2.0] * 6, 2)  # two night windows, six that tell
    normal, holiday = [0.0] * 8, [0.0, 0.0, 5.0] + [-2.0] * 5  # a fee, then the holiday
    later = [0.0, 0.0, 5.0, 0.0, 0.0, 0.0, -2.0, -2.0]  # a drop after an ordinary morning
    r = np.array([normal + holiday, normal + later])
    like = cost_refs.holiday_like(r, gap, pos, 8, 0.5)
    assert like[0, 10:].all()  # the fee does not make it an ordinary day
    assert not like[1, 12:].any()  # ordinary windows after the fee do


def test_daily_a_month_end_accrual_is_explained_by_the_last_day_before():
    # an accrual of three days' usage on each month's last day: November's (the 30th)
    # follows October's on the 31st, not on October's 30th; an accrual only in November
    # is news
    values = daily(110, 0.03, seed=52, n=2)
    ends = [day_index(d) for d in ("2026-09-30", "2026-10-31", "2026-11-30")]
    values[0, ends] *= 3
    values[1, ends[-1]] *= 3
    nov30 = ends[-1]
    flagged = flags(values, nov30 - 3, D, **DAILY)
    assert not flagged[0].any()
    assert flagged[1, 3]


def test_month_back_pairs_last_days_and_keeps_them_with_month_days():
    start = np.datetime64("2026-05-01T00:00:00", "s").astype(np.int64)
    times = start + np.arange(0, 62 * 86400, 3600)
    values = np.arange(times.size, dtype=float)[None, :]  # each window holds its index

    def source(ref: np.ndarray, when: str) -> str | None:
        at = int((np.datetime64(when, "s").astype(np.int64) - start) // 3600)
        got = ref[0, at]
        return None if np.isnan(got) else str(np.datetime64(int(start + got * 3600), "s"))

    ref, _ = cost_refs.month_back(values, times, 0, 3600)
    assert source(ref, "2026-06-30T05:00:00") == "2026-05-31T05:00:00"  # last days
    assert source(ref, "2026-06-29T05:00:00") == "2026-05-29T05:00:00"  # same date
    five, _ = cost_refs.month_back(values, times, 0, 3600, days=5)
    assert source(five, "2026-06-30T05:00:00") == "2026-05-31T05:00:00"  # kept
    assert source(five, "2026-06-15T05:00:00") is None
    assert source(five, "2026-06-02T05:00:00") == "2026-05-02T05:00:00"
