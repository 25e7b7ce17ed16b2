"""Robust z-score detector: trailing median and MAD."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from alerter.detect.base import SeriesFrame
from alerter.detect.zscore import ZScoreDetector, ZScoreParams
from tests.conftest import T0

H = timedelta(hours=1)


def frame(rows, step=H) -> SeriesFrame:
    values = np.atleast_2d(np.array(rows, dtype=float))
    seconds = int(step.total_seconds())
    starts = (np.arange(values.shape[1]) * seconds + int(T0.timestamp())).astype("datetime64[s]")
    keys = [(("s", str(i)),) for i in range(values.shape[0])]
    return SeriesFrame(keys, starts, step, values)


def noisy(n: int = 100, seed: int = 0) -> np.ndarray:
    return 100 + np.random.default_rng(seed).normal(0, 3, n)


def run(rows, **params):
    detector = ZScoreDetector(ZScoreParams(**params))
    return detector.evaluate(frame(rows), slice(0, None))


@pytest.mark.parametrize(
    ("direction", "value", "alerts"),
    [
        ("up", 160.0, True),
        ("up", 40.0, False),
        ("down", 40.0, True),
        ("down", 160.0, False),
        ("both", 160.0, True),
        ("both", 40.0, True),
        ("both", 104.0, False),
    ],
)
def test_spike_and_drop(direction, value, alerts):
    row = noisy()
    row[80] = value
    verdicts = run(row, direction=direction)
    assert verdicts.flagged[0, 80] == alerts
    assert verdicts.flagged.sum() == int(alerts)


def test_expected_is_the_trailing_median_and_band_uses_mad():
    row = [1.0, 2.0, 3.0, 4.0, 100.0]
    v = run(row, window=4, min_points=4, k=2, rel_floor=0, level_floor=0)
    assert v.expected[0, 4] == 2.5  # median of 1, 2, 3, 4 (not the judged value)
    mad = 1.0  # |x - 2.5| = 1.5, 0.5, 0.5, 1.5 -> median 1.0
    assert v.upper[0, 4] == pytest.approx(2.5 + 2 * 1.4826 * mad)
    assert v.flagged[0, 4]
    assert np.isnan(v.expected[0, :4]).all()  # not enough history yet


def test_unknown_windows_are_skipped():
    row = [np.nan, 10.0, np.nan, 10.0, 10.0, 10.0, np.nan, 11.0]
    v = run(row, window=6, min_points=3, rel_floor=0.05)
    assert v.expected[0, 7] == 10.0
    assert not v.flagged.any()
    assert np.isnan(v.expected[0, 6])  # judged value unknown: no verdict
    v = run([np.nan] * 8 + [5.0], window=6, min_points=2)
    assert np.isnan(v.expected[0, 8])  # all history unknown: no baseline, never zero


def test_vectorised_over_series_matches_one_by_one():
    rows = np.vstack([noisy(60, seed) for seed in range(5)])
    rows[2, 50] = 300
    together = run(rows, direction="both")
    for i in range(5):
        alone = run(rows[i], direction="both")
        np.testing.assert_array_equal(alone.expected[0], together.expected[i])
        np.testing.assert_array_equal(alone.flagged[0], together.flagged[i])
    assert together.flagged[2, 50]


def test_history_is_the_window():
    assert ZScoreDetector(ZScoreParams(window=48, min_points=10)).history(H) == 48


@pytest.mark.parametrize(
    "bad",
    [
        {"window": 1},
        {"k": -1},
        {"window": 10, "min_points": 11},
        {"rel_floor": -1},
        {"x": 1},
        {"extreme_window": -1},
    ],
)
def test_params_are_validated(bad):
    with pytest.raises(ValidationError):
        ZScoreParams(**bad)


@pytest.mark.parametrize(
    ("direction", "value", "alerts"),
    [
        ("up", 150.0, False),  # a big move, but not above the earlier 200 peak
        ("up", 250.0, True),  # a new high
        ("down", 20.0, False),  # not below the earlier trough at 10
        ("down", 5.0, True),
        ("both", 250.0, True),
        ("both", 5.0, True),
    ],
)
def test_extreme_window_only_flags_new_extremes(direction, value, alerts):
    row = noisy(120)
    row[30], row[40] = 200.0, 10.0
    row[110] = value
    v = run(row, direction=direction, window=24, min_points=12, extreme_window=100)
    assert v.flagged[0, 110] == alerts
    assert v.flagged[0, 50:].sum() == int(alerts)
    assert ZScoreDetector(ZScoreParams(window=24, extreme_window=100)).history(H) == 100
