"""Properties every registered detector keeps (hypothesis).

- causality: appending future windows never changes a past verdict;
- scale invariance: multiplying the data (and the money parameters) by a positive
  constant changes no flag;
- quiet data: a constant series never alerts, and a purely weekly-periodic one never
  alerts on the detectors that model the week.

Scale factors are powers of two, so the scaled arithmetic is exact in float64.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from alerter.detect import DETECTORS
from alerter.detect.base import Detector, SeriesFrame
from tests.conftest import T0

D = timedelta(days=1)


@dataclass(frozen=True)
class Case:
    """How to build a detector at a money scale, and which quiet data it promises."""

    params: Callable[[float], dict[str, Any]]
    constant_quiet: bool = True
    periodic_quiet: bool = False
    bounded_history: bool = True  # verdicts read only history(step) windows back


CASES: dict[str, list[Case]] = {
    "threshold": [
        Case(lambda s: {"above": 50.0 * s}, constant_quiet=False),
        Case(lambda s: {"below": 5.0 * s, "above": 80.0 * s}, constant_quiet=False),
    ],
    "change": [
        Case(lambda s: {"baseline": "median", "windows": 5, "pct": 50}),
        Case(
            lambda s: {"baseline": "seasonal", "weeks": 2, "pct": 30, "delta": 2.0 * s},
            periodic_quiet=True,
        ),
    ],
    "zscore": [
        Case(lambda s: {"window": 8, "min_points": 4, "direction": "both"}),
        Case(lambda s: {"window": 6, "min_points": 3, "rel_floor": 0, "min_spread": 0.5 * s}),
        Case(lambda s: {"window": 6, "min_points": 3, "k": 2, "extreme_window": 12}),
    ],
    "seasonal": [
        Case(lambda s: {"weeks": 3, "min_weeks": 1, "direction": "both"}, periodic_quiet=True),
        Case(
            lambda s: {"weeks": 2, "min_weeks": 1, "smooth": 0, "min_spread": 1.0 * s},
            periodic_quiet=True,
        ),
    ],
    "forecast": [
        Case(lambda s: {"alpha": 0.3, "warmup": 3, "direction": "both"}, bounded_history=False),
        Case(
            lambda s: {"season": "7d", "warmup": 3, "direction": "both"},
            periodic_quiet=True,
            bounded_history=False,  # a state-space forecast remembers (exponentially) all
        ),
    ],
    "new_spend": [Case(lambda s: {"min_amount": 3.0 * s, "lookback": "5d"})],
    "cost": [
        Case(
            lambda s: {
                "weeks": 2,
                "min_weeks": 1,
                "calibration": "4d",
                "shift_windows": 2,
                "drop_windows": 5,
                "hold": "3d",
                "direction": "both",
            },
            periodic_quiet=True,
        ),
        Case(
            lambda s: {
                "weeks": 1,
                "min_weeks": 1,
                "calibration": "2d",
                "shift_windows": 1,
                "hold": "1d",
                "monthly": False,
                "weekend_floor": False,
                "budget": "1/week",
            },
            periodic_quiet=True,
        ),
        Case(
            lambda s: {
                "weeks": 2,
                "min_weeks": 1,
                "calibration": "3d",
                "shift_windows": 3,
                "hold": "2d",
                "month_days": 1,
                "center": True,
                "holiday_from_midnight": True,
                "active_share": 0.2,
                "excursion_margin": 0.25,
                "irregular_share": 0.2,
                "rise_offset": 0.3,
                "active_windows": 2,
                "direction": "both",
            },
            periodic_quiet=True,
        ),
    ],
}

ALL = [(name, i) for name in sorted(CASES) for i in range(len(CASES[name]))]
CONSTANT = [(name, i) for name, i in ALL if CASES[name][i].constant_quiet]
PERIODIC = [(name, i) for name, i in ALL if CASES[name][i].periodic_quiet]
BOUNDED = [(name, i) for name, i in ALL if CASES[name][i].bounded_history]
SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_every_registered_detector_has_property_cases():
    assert set(CASES) == set(DETECTORS)


def build(name: str, index: int, scale: float = 1.0) -> Detector:
    cls = DETECTORS[name]
    params = cls.Params(type=name, **CASES[name][index].params(scale))
    return cls(params)


def frame(values: np.ndarray, offset: int = 0) -> SeriesFrame:
    """Daily frame whose first column is day ``offset`` after T0."""
    days = np.arange(offset, offset + values.shape[1])
    starts = (days * 86400 + int(T0.timestamp())).astype("datetime64[s]")
    keys = [(("s", str(i)),) for i in range(values.shape[0])]
    return SeriesFrame(keys, starts, D, values)


amounts = st.one_of(
    st.just(0.0),
    st.just(np.nan),
    st.floats(min_value=1e-6, max_value=1000.0),  # no subnormals: scaling stays exact
)
matrices = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 3), st.integers(1, 45)),
    elements=amounts,
)


@pytest.mark.parametrize(("name", "index"), ALL)
@SETTINGS
@given(values=matrices, data=st.data())
def test_appending_future_windows_never_changes_a_past_verdict(name, index, values, data):
    detector = build(name, index)
    cut = data.draw(st.integers(0, values.shape[1]))
    full = detector.evaluate(frame(values), slice(0, None))
    past = detector.evaluate(frame(values[:, :cut]), slice(0, None))
    np.testing.assert_array_equal(past.flagged, full.flagged[:, :cut])
    np.testing.assert_array_equal(past.expected, full.expected[:, :cut])
    np.testing.assert_array_equal(past.upper, full.upper[:, :cut])


@pytest.mark.parametrize(("name", "index"), ALL)
@SETTINGS
@given(values=matrices, power=st.sampled_from([-3, -1, 1, 4, 10]))
def test_scaling_data_and_money_params_changes_no_flag(name, index, values, power):
    scale = 2.0**power
    base = build(name, index).evaluate(frame(values), slice(0, None))
    scaled = build(name, index, scale).evaluate(frame(values * scale), slice(0, None))
    np.testing.assert_array_equal(scaled.flagged, base.flagged)


@pytest.mark.parametrize(("name", "index"), CONSTANT)
@SETTINGS
@given(
    level=st.floats(min_value=0.01, max_value=1e6),
    n=st.integers(1, 45),
)
def test_a_constant_series_never_alerts(name, index, level, n):
    verdicts = build(name, index).evaluate(frame(np.full((2, n), level)), slice(0, None))
    assert not verdicts.flagged.any()


@pytest.mark.parametrize(("name", "index"), PERIODIC)
@SETTINGS
@given(
    week=hnp.arrays(np.float64, 7, elements=st.floats(min_value=0.5, max_value=1000.0)),
    weeks=st.integers(1, 6),
)
def test_a_weekly_periodic_series_never_alerts(name, index, week, weeks):
    values = np.tile(week, (2, weeks))
    verdicts = build(name, index).evaluate(frame(values), slice(0, None))
    assert not verdicts.flagged.any()


@pytest.mark.parametrize(("name", "index"), BOUNDED)
@SETTINGS
@given(values=matrices, data=st.data())
def test_history_windows_are_all_a_verdict_reads(name, index, values, data):
    """The daemon loads only ``history(step)`` windows before what it judges; the
    verdicts must equal those of a backtest that saw everything before."""
    detector = build(name, index)
    t = data.draw(st.integers(0, values.shape[1]))
    start = max(0, t - detector.history(D))
    full = detector.evaluate(frame(values), slice(t, None))
    trimmed = detector.evaluate(frame(values[:, start:], start), slice(t - start, None))
    np.testing.assert_array_equal(trimmed.flagged, full.flagged)
    np.testing.assert_array_equal(trimmed.expected, full.expected)
