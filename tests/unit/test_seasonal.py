"""Seasonal detector: same slot of the week over the last K weeks."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from pydantic import ValidationError

import alerter.detect.band as band
from alerter.detect.base import SeriesFrame
from alerter.detect.seasonal import SeasonalDetector, SeasonalParams
from tests.conftest import T0

H = timedelta(hours=1)
D = timedelta(days=1)
WEEK_H = 168


def frame(rows, step=H) -> SeriesFrame:
    values = np.atleast_2d(np.array(rows, dtype=float))
    seconds = int(step.total_seconds())
    starts = (np.arange(values.shape[1]) * seconds + int(T0.timestamp())).astype("datetime64[s]")
    keys = [(("s", str(i)),) for i in range(values.shape[0])]
    return SeriesFrame(keys, starts, step, values)


def rhythm(weeks: int, seed: int = 0, noise: float = 0.05) -> np.ndarray:
    """Hourly spend with a daily peak, quieter weekends and mild multiplicative noise."""
    t = np.arange(weeks * WEEK_H)
    daily = 1 + 0.8 * np.sin(2 * np.pi * (t % 24) / 24) ** 2
    weekly = np.where((t // 24) % 7 < 5, 1.0, 0.4)
    rng = np.random.default_rng(seed)
    return 100 * daily * weekly * rng.lognormal(0, noise, t.size)


def detect(rows, step=H, **params) -> tuple[np.ndarray, np.ndarray]:
    detector = SeasonalDetector(SeasonalParams(**params))
    verdicts = detector.evaluate(frame(rows, step), slice(0, None))
    return verdicts.flagged, verdicts.expected


def test_ordinary_daily_and_weekly_peaks_do_not_alert():
    flagged, expected = detect([rhythm(6, seed) for seed in range(20)])
    assert not flagged.any()
    assert np.isfinite(expected[:, -WEEK_H:]).all()


@pytest.mark.parametrize(
    ("direction", "factor", "alerts"),
    [
        ("up", 3.0, True),
        ("up", 0.2, False),
        ("down", 0.2, True),
        ("down", 3.0, False),
        ("both", 3.0, True),
        ("both", 0.2, True),
        ("both", 1.1, False),
    ],
)
def test_direction(direction, factor, alerts):
    row = rhythm(5)
    at = 4 * WEEK_H + 30
    row[at] *= factor
    flagged, _ = detect(row, direction=direction)
    assert flagged[0, at] == alerts
    assert flagged.sum() == int(alerts)


def test_expected_is_the_median_of_the_same_weekday():
    # daily data: day t is compared with t-7, t-14, t-21
    row = np.full(29, np.nan)
    row[7], row[14], row[21] = 10.0, 30.0, 20.0
    row[28] = 21.0
    _, expected = detect(row, step=D, weeks=3, min_weeks=2, smooth=0)
    assert expected[0, 28] == 20.0
    assert np.isnan(expected[0, 27])  # observed unknown: no verdict


def test_unknown_history_is_skipped_not_zero():
    row = np.full(36, 50.0)
    row[[8, 15, 22]] = np.nan  # the same weekday as day 29
    _, expected = detect(row, step=D, weeks=4, min_weeks=1, smooth=0)
    assert expected[0, 29] == 50.0  # only day 1 is known among the lags
    row[1] = np.nan
    _, expected = detect(row, step=D, weeks=4, min_weeks=1, smooth=0)
    assert np.isnan(expected[0, 29])  # nothing known: no verdict, never a zero baseline


def test_min_weeks_gates_the_first_verdicts():
    row = rhythm(3)
    _, expected = detect(row, weeks=4, min_weeks=2)
    assert np.isnan(expected[0, : 2 * WEEK_H]).all()
    assert np.isfinite(expected[0, 2 * WEEK_H :]).all()


def test_zero_inflated_series_stays_quiet_on_its_blips():
    rng = np.random.default_rng(3)
    rows = np.where(rng.random((50, 6 * WEEK_H)) < 0.05, rng.uniform(2, 6, (50, 6 * WEEK_H)), 0)
    flagged, _ = detect(rows)
    assert not flagged.any()
    rows[7, -5] = 200.0  # a real jump on a mostly idle series
    flagged, _ = detect(rows)
    assert flagged.sum() == 1
    assert flagged[7, -5]


def test_judge_slice_and_row_blocks_do_not_change_verdicts(monkeypatch):
    rows = [rhythm(5, seed) for seed in range(7)]
    rows[3][-10] *= 4
    detector = SeasonalDetector(SeasonalParams(direction="both"))
    full = detector.evaluate(frame(rows), slice(0, None))
    tail = detector.evaluate(frame(rows), slice(-48, None))
    np.testing.assert_array_equal(tail.expected, full.expected[:, -48:])
    np.testing.assert_array_equal(tail.flagged, full.flagged[:, -48:])
    monkeypatch.setattr(band, "ROW_BLOCK_ELEMENTS", 1)  # one series per block, threaded
    small = detector.evaluate(frame(rows), slice(0, None))
    np.testing.assert_array_equal(small.expected, full.expected)
    np.testing.assert_array_equal(small.upper, full.upper)
    assert full.flagged[3, -10]


def test_history_and_period():
    detector = SeasonalDetector(SeasonalParams(weeks=4, smooth=2))
    assert detector.history(H) == 4 * WEEK_H + 2
    assert detector.history(D) == 28 + 2
    with pytest.raises(ValueError, match="week"):
        detector.history(timedelta(hours=5))


@pytest.mark.parametrize(
    "bad",
    [
        {"k": 0},
        {"weeks": 0},
        {"weeks": 2, "min_weeks": 3},
        {"rel_floor": -0.1},
        {"min_spread": -1},
        {"direction": "sideways"},
        {"window": 3},
    ],
)
def test_params_are_validated(bad):
    with pytest.raises(ValidationError):
        SeasonalParams(**bad)


def test_four_lag_mad_closed_form_matches_sorting_the_deviations():
    rng = np.random.default_rng(5)
    lags = [rng.normal(0, 1, (40, 30)) for _ in range(4)]
    for lag in lags:
        lag[rng.random(lag.shape) < 0.3] = np.inf  # unknown: every count 0..4 occurs
    count = np.sum([(lag < np.inf).astype(np.int8) for lag in lags], axis=0).astype(np.int8)
    ordered = band.sort_stack(lags)
    with np.errstate(invalid="ignore"):
        median = band.median_of_stack(ordered, count)
        fast = band.mad_of_sorted(ordered, median, count)
        slow = band.median_of_stack(band.sort_stack([np.abs(o - median) for o in ordered]), count)
    np.testing.assert_allclose(fast, slow, equal_nan=True)
    known = [
        np.sort([v for v in cell if np.isfinite(v)])
        for cell in zip(*(o.ravel() for o in lags), strict=True)
    ]
    expect = [np.median(np.abs(c - np.median(c))) if c.size else np.nan for c in known]
    np.testing.assert_allclose(fast.ravel(), expect, equal_nan=True)
