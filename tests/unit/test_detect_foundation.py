from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest

from alerter.detect.base import SeriesFrame
from alerter.detect.change import ChangeDetector, ChangeParams
from alerter.detect.engine import evaluate, group_frame
from alerter.detect.frame import build_frame
from alerter.detect.guards import Held
from alerter.detect.threshold import ThresholdDetector, ThresholdParams
from alerter.domain import CostPoint, Coverage, make_key
from alerter.rules.model import make_rule_model
from alerter.sources.base import FetchResult
from tests.conftest import T0

H = timedelta(hours=1)


def frame(rows, keys=None, step=H) -> SeriesFrame:
    values = np.array(rows, dtype=float)
    starts = (np.arange(values.shape[1]) * int(step.total_seconds()) + int(T0.timestamp())).astype(
        "datetime64[s]"
    )
    keys = keys or [make_key({"s": str(i)}) for i in range(values.shape[0])]
    return SeriesFrame(keys, starts, step, values)


@pytest.mark.parametrize(
    ("params", "row", "flags"),
    [
        (dict(above=10), [5, 11, 10, float("nan")], [False, True, False, False]),
        (dict(below=2), [1, 2, 3, 0], [True, False, False, True]),
        (dict(above=10, below=2), [1, 5, 12, 2], [True, False, True, False]),
    ],
)
def test_threshold(params, row, flags):
    v = ThresholdDetector(ThresholdParams(**params)).evaluate(frame([row]), slice(0, 4))
    assert v.flagged[0].tolist() == flags


def test_threshold_needs_a_bound():
    with pytest.raises(ValueError, match="above"):
        ThresholdParams()


@pytest.mark.parametrize(
    ("params", "row", "expected_flag", "expected_base"),
    [
        # mean of the last 3 = 10; +100% needs >= 20
        (dict(baseline="mean", windows=3, pct=100), [10, 10, 10, 20], True, 10.0),
        (dict(baseline="mean", windows=3, pct=100), [10, 10, 10, 19.9], False, 10.0),
        # median ignores one outlier in the baseline
        (dict(baseline="median", windows=3, pct=50), [10, 100, 10, 16], True, 10.0),
        # money only
        (dict(baseline="median", windows=3, delta=5), [10, 10, 10, 15], True, 10.0),
        (dict(baseline="median", windows=3, delta=5), [10, 10, 10, 14], False, 10.0),
        # both must hold
        (dict(baseline="median", windows=3, pct=10, delta=50), [10, 10, 10, 30], False, 10.0),
        # drops only when asked
        (dict(baseline="median", windows=3, pct=50), [10, 10, 10, 1], False, 10.0),
        (dict(baseline="median", windows=3, pct=50, direction="down"), [10, 10, 10, 1], True, 10.0),
        # a missing window in the baseline is skipped, not read as zero
        (dict(baseline="mean", windows=3, pct=100), [10, float("nan"), 10, 19], False, 10.0),
    ],
)
def test_change_table(params, row, expected_flag, expected_base):
    v = ChangeDetector(ChangeParams(**params)).evaluate(frame([row]), slice(3, 4))
    assert bool(v.flagged[0, 0]) is expected_flag
    assert v.expected[0, 0] == pytest.approx(expected_base)


def test_change_seasonal_uses_same_hour_of_previous_weeks():
    week = 168
    row = np.tile(np.r_[np.full(12, 1.0), np.full(12, 10.0)], 7 * 3)  # 3 weeks of days
    row[2 * week + 3] = 10.0  # a quiet hour at a busy level: anomalous
    f = frame([row])
    v = ChangeDetector(ChangeParams(baseline="seasonal", weeks=2, pct=100)).evaluate(
        f, slice(2 * week, 3 * week)
    )
    assert np.nonzero(v.flagged[0])[0].tolist() == [3]  # the daily peaks are not flagged


def test_change_is_causal():
    rng = np.random.default_rng(3)
    rows = rng.gamma(2, 5, size=(4, 60))
    det = ChangeDetector(ChangeParams(baseline="median", windows=8, pct=50))
    short = det.evaluate(frame(rows[:, :40]), slice(10, 40))
    longer = det.evaluate(frame(rows), slice(10, 40))
    np.testing.assert_array_equal(short.flagged, longer.flagged)
    changed = rows.copy()
    changed[:, 25] *= 100  # a change at t=25 cannot alter verdicts at t<=25 ... except t itself
    after = det.evaluate(frame(changed), slice(10, 26))
    np.testing.assert_array_equal(after.expected[:, :16], longer.expected[:, :16])


def test_frame_coverage_decides_zero_versus_unknown():
    a, b = make_key({"c": "1", "k": "x"}), make_key({"c": "2", "k": "y"})
    from alerter.store.sqlite import SqliteStore

    store = SqliteStore(":memory:")
    pts = [CostPoint("s", a, T0, T0 + H, Decimal(5)), CostPoint("s", b, T0, T0 + H, Decimal(7))]
    store.upsert(
        "s",
        FetchResult(
            pts, [Coverage(T0, T0 + 3 * H, (("c", "1"),)), Coverage(T0, T0 + H, (("c", "2"),))]
        ),
        T0,
    )
    stored = store.load_series("s", T0, T0 + 4 * H)
    f, currencies = build_frame(stored, store.load_coverage("s", T0, T0 + 4 * H), T0, T0 + 4 * H, H)
    store.close()
    by_key = dict(zip(f.keys, f.values.tolist(), strict=True))
    assert by_key[a][:3] == [5.0, 0.0, 0.0] and np.isnan(by_key[a][3])
    assert by_key[b][0] == 7.0 and np.isnan(by_key[b][1:]).all()
    assert currencies == ["USD", "USD"]


def test_group_sums_and_unknown_children():
    keys = [
        make_key({"team": "a", "sku": "1"}),
        make_key({"team": "a", "sku": "2"}),
        make_key({"team": "b", "sku": "3"}),
    ]
    f = frame([[1, 2, float("nan")], [10, 20, 30], [5, 5, 5]], keys)
    grouping = group_frame(f, ["USD"] * 3, ["team"])
    got = dict(zip(grouping.frame.keys, grouping.frame.values.tolist(), strict=True))
    assert got[(("team", "a"),)][:2] == [11.0, 22.0]
    assert np.isnan(got[(("team", "a"),)][2])  # one child unknown: the group is unknown
    assert got[(("team", "b"),)] == [5.0, 5.0, 5.0]


def test_groups_never_mix_currencies():
    keys = [make_key({"cust": "x", "ct": "usd"}), make_key({"cust": "x", "ct": "credits"})]
    grouping = group_frame(frame([[1, 1], [2, 2]], keys), ["USD", "CREDITS"], ["cust"])
    assert len(grouping.frame.keys) == 2
    assert {dict(k)["currency"] for k in grouping.frame.keys} == {"USD", "CREDITS"}


Rule = make_rule_model()


def rule(**over):
    data = dict(
        name="r",
        source="s",
        group_by=["team"],
        detector=dict(type="change", baseline="mean", windows=3, pct=100),
    )
    data.update(over)
    return Rule.model_validate(data)


def test_engine_guards_and_root_cause():
    keys = [
        make_key({"team": "a", "sku": "1"}),
        make_key({"team": "a", "sku": "2"}),
        make_key({"team": "b", "sku": "3"}),
    ]
    f = frame([[1, 1, 1, 1, 30], [10, 10, 10, 10, 12], [1, 1, 1, 1, 3]], keys)
    r = rule(min_delta=Decimal(5))
    result = evaluate(r, ChangeDetector(r.detector), f, ["USD"] * 3, slice(3, 5))
    groups = result.groups
    a, b = groups.index((("team", "a"),)), groups.index((("team", "b"),))
    assert result.flagged[a].tolist() == [False, True]
    assert result.flagged[b].tolist() == [False, False]
    assert result.held[b, 1] == Held.MIN_DELTA  # +200% but only $2: held back
    top = result.contributors(a, 1)
    assert top[0].key == keys[0] and top[0].delta == Decimal(29)
    assert top[0].share == pytest.approx(29 / 31)


def test_min_history_guard():
    r = rule(min_history=10)
    f = frame([[1, 1, 1, 1, 30]], [make_key({"team": "a"})])
    result = evaluate(r, ChangeDetector(r.detector), f, ["USD"], slice(3, 5))
    assert not result.flagged.any()
    assert result.held[0, 1] == Held.MIN_HISTORY
