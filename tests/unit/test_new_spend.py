"""New spend detector: money where the known history had none."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from alerter.detect.base import SeriesFrame
from alerter.detect.new_spend import NewSpendDetector, NewSpendParams
from tests.conftest import T0

D = timedelta(days=1)
NAN = float("nan")


def frame(rows, step=D) -> SeriesFrame:
    values = np.atleast_2d(np.array(rows, dtype=float))
    seconds = int(step.total_seconds())
    starts = (np.arange(values.shape[1]) * seconds + int(T0.timestamp())).astype("datetime64[s]")
    keys = [(("s", str(i)),) for i in range(values.shape[0])]
    return SeriesFrame(keys, starts, step, values)


@pytest.mark.parametrize(
    ("history", "now", "flag", "verdict"),
    [
        ([0.0] * 10, 50.0, True, True),  # quiet, now above min_amount
        ([0.0] * 10, 5.0, False, True),  # quiet, but under min_amount
        ([0.0] * 9 + [1.0], 50.0, False, False),  # spent recently: not new
        ([-3.0] * 10, 50.0, True, True),  # credits are not spend
        ([NAN] * 10, 50.0, False, False),  # history unknown: cannot call it new
        ([NAN] * 4 + [0.0] * 6, 50.0, True, True),  # 6 of 10 known, all zero
        ([NAN] * 6 + [0.0] * 4, 50.0, False, False),  # too little known history
        ([5.0] + [0.0] * 10, 50.0, True, True),  # old spend outside the lookback
        ([0.0] * 10, NAN, False, False),  # the window itself is unknown
    ],
)
def test_cases(history, now, flag, verdict):
    detector = NewSpendDetector(NewSpendParams(min_amount=10, lookback="10d", min_known=0.5))
    row = [*history, now]
    v = detector.evaluate(frame(row), slice(-1, None))
    assert v.flagged[0, 0] == flag
    assert np.isfinite(v.expected[0, 0]) == verdict
    if verdict:
        assert v.expected[0, 0] == 0.0
        assert v.upper[0, 0] == 10.0


def test_all_series_at_once_and_only_the_first_window_is_new():
    rows = np.zeros((3, 20))
    rows[0, 15:] = 40.0
    rows[1, :] = 40.0
    rows[2, 18] = 40.0
    detector = NewSpendDetector(NewSpendParams(min_amount=10, lookback="7d"))
    v = detector.evaluate(frame(rows), slice(0, None))
    assert np.argwhere(v.flagged).tolist() == [[0, 15], [2, 18]]
    assert detector.history(D) == 7
    assert detector.history(timedelta(hours=1)) == 168


@pytest.mark.parametrize(
    "bad",
    [{"min_amount": -1}, {"direction": "down"}, {"lookback": "0d"}, {"min_known": 0}, {"y": 2}],
)
def test_params_are_validated(bad):
    with pytest.raises(ValidationError):
        NewSpendParams(**bad)
