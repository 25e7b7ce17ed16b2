"""Forecast detector: EWMA / additive Holt-Winters with an EWM residual band."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from alerter.detect.base import SeriesFrame
from alerter.detect.forecast import ForecastDetector, ForecastParams
from tests.conftest import T0

H = timedelta(hours=1)


def frame(rows, step=H) -> SeriesFrame:
    values = np.atleast_2d(np.array(rows, dtype=float))
    seconds = int(step.total_seconds())
    starts = (np.arange(values.shape[1]) * seconds + int(T0.timestamp())).astype("datetime64[s]")
    keys = [(("s", str(i)),) for i in range(values.shape[0])]
    return SeriesFrame(keys, starts, step, values)


def run(rows, **params):
    return ForecastDetector(ForecastParams(**params)).evaluate(frame(rows), slice(0, None))


def noisy(n: int = 200, seed: int = 0) -> np.ndarray:
    return 100 + np.random.default_rng(seed).normal(0, 2, n)


@pytest.mark.parametrize(
    ("direction", "value", "alerts"),
    [("up", 150.0, True), ("up", 50.0, False), ("down", 50.0, True), ("both", 150.0, True)],
)
def test_ewma_spike(direction, value, alerts):
    row = noisy()
    row[150] = value
    v = run(row, direction=direction)
    assert v.flagged[0, 150] == alerts
    assert v.flagged.sum() == int(alerts)
    # the clipped update keeps the spike from dragging the forecast along
    assert abs(v.expected[0, 151] - v.expected[0, 150]) < 5


def test_warmup_gives_no_verdict():
    v = run(noisy(), warmup=30)
    assert np.isnan(v.expected[0, :30]).all()
    assert np.isfinite(v.expected[0, 40:]).all()


def test_holt_winters_follows_a_daily_rhythm():
    t = np.arange(24 * 14)
    row = 100 + 60 * np.sin(2 * np.pi * t / 24) + np.random.default_rng(1).normal(0, 2, t.size)
    seasonal = run(row, season="1d", direction="both")
    plain = run(row, direction="both")
    assert not seasonal.flagged.any()
    # plain EWMA can only widen its band to cover the rhythm
    width = lambda v: np.nanmean(v.upper - v.lower)  # noqa: E731
    assert width(seasonal) < width(plain) / 3
    row[300] += 60
    v = run(row, season="1d", direction="both")
    assert np.argwhere(v.flagged[0]).ravel().tolist() == [300]


def test_unknown_windows_carry_the_state():
    row = noisy()
    row[100:110] = np.nan
    v = run(row)
    assert np.isnan(v.expected[0, 100:110]).all()
    assert abs(v.expected[0, 110] - 100) < 5
    assert not v.flagged.any()


def test_level_shift_alerts_at_the_shift():
    row = noisy()
    row[120:] += 50
    v = run(row)
    assert v.flagged[0, 120]


def test_history_and_season_steps():
    assert ForecastDetector(ForecastParams(season="1d", warmup=10, alpha=0.5)).history(H) == 88
    with pytest.raises(ValueError, match="season"):
        ForecastDetector(ForecastParams(season="90m")).history(H)


@pytest.mark.parametrize(
    "bad",
    [{"alpha": 0}, {"alpha": 1.5}, {"gamma": 1}, {"k": 0}, {"season": "soon"}, {"z": 1}],
)
def test_params_are_validated(bad):
    with pytest.raises(ValidationError):
        ForecastParams(**bad)
