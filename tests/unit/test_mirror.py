"""The series mirror: a grid for points of one step, sparse columns otherwise; both give
the same points, and a frame built from either is the same."""

from __future__ import annotations

import weakref
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerter.detect.frame import build_frame
from alerter.domain import Coverage, make_key
from alerter.store.base import StoredSeries
from alerter.store.mirror import SeriesMirror
from tests.conftest import T0

H = 3600
BASE = int(T0.timestamp())
NAMES = {i: (make_key({"sku": f"s{i}"}), "USD") for i in range(50)}


def points(view: StoredSeries) -> dict[tuple[str, int], float]:
    return {
        (dict(view.keys[k])["sku"], int(s - BASE) // H): float(a)
        for k, s, a in zip(
            view.key_index.tolist(), view.starts.tolist(), view.amounts.tolist(), strict=True
        )
    }


def merge(mirror: SeriesMirror, rows: list[tuple[int, int, float]], seq: int, step: int | None = H):
    ids, hours, amounts = zip(*rows, strict=True)
    mirror.merge(
        np.array(ids, dtype=np.int64),
        BASE + np.array(hours, dtype=np.int64) * H,
        np.array(amounts, dtype=np.float64),
        seq,
        NAMES,
        step,
    )


def test_grid_takes_new_hours_and_replacements_in_place():
    mirror = SeriesMirror(since=BASE)
    merge(mirror, [(3, 0, 1.0), (7, 0, 2.0), (3, 1, 4.0)], seq=1)
    assert mirror.dense
    merge(mirror, [(7, 1, 5.0), (3, 0, 1.5), (9, 100, 6.0)], seq=2)  # new series, far hour
    assert mirror.dense and mirror.seq == 2
    got = points(mirror.view(BASE, BASE + 200 * H))
    assert got == {
        ("s3", 0): 1.5,
        ("s7", 0): 2.0,
        ("s3", 1): 4.0,
        ("s7", 1): 5.0,
        ("s9", 100): 6.0,
    }
    assert points(mirror.view(BASE + H, BASE + 2 * H)) == {("s3", 1): 4.0, ("s7", 1): 5.0}
    mirror.trim(BASE + H)
    assert points(mirror.view(BASE, BASE + 200 * H)) == {
        ("s3", 1): 4.0,
        ("s7", 1): 5.0,
        ("s9", 100): 6.0,
    }


def test_an_hour_added_and_one_trimmed_every_cycle_keeps_every_point_in_range():
    # a daemon's cycles: trimming leaves a view of the grid (no copy), and the grid is
    # copied only when its spare columns run out; none of it loses or shifts a point
    mirror = SeriesMirror(since=BASE)
    merge(mirror, [(i, h, float(i * 1000 + h)) for i in range(3) for h in range(10)], seq=1)
    for hour in range(10, 130):
        merge(mirror, [(i, hour, float(i * 1000 + hour)) for i in range(3)], seq=hour)
        mirror.trim(BASE + (hour - 9) * H)
        got = points(mirror.view(BASE, BASE + 200 * H))
        assert got == {
            (f"s{i}", h): float(i * 1000 + h) for i in range(3) for h in range(hour - 9, hour + 1)
        }
    grid = mirror.values
    assert grid is not None
    held = grid if grid.base is None else grid.base  # what the view keeps allocated
    assert held.shape[1] < 10 + 2 * 48 + 1


def test_rows_of_another_step_turn_the_mirror_sparse_without_losing_points():
    mirror = SeriesMirror(since=BASE)
    merge(mirror, [(1, 0, 1.0), (2, 1, 2.0)], seq=1)
    merge(mirror, [(1, 24, 9.0)], seq=2, step=24 * H)  # a daily row beside hourly ones
    assert not mirror.dense
    merge(mirror, [(2, 1, 3.0)], seq=3)
    assert points(mirror.view(BASE, BASE + 48 * H)) == {
        ("s1", 0): 1.0,
        ("s2", 1): 3.0,
        ("s1", 24): 9.0,
    }


def test_a_view_is_a_copy():
    mirror = SeriesMirror(since=BASE)
    merge(mirror, [(1, 0, 1.0)], seq=1)
    view = mirror.view(BASE, BASE + 2 * H)
    merge(mirror, [(1, 0, 2.0)], seq=2)
    assert points(view) == {("s1", 0): 1.0}


def test_a_views_array_is_reused_only_once_nothing_refers_to_it():
    mirror = SeriesMirror(since=BASE)
    merge(mirror, [(1, 0, 1.0), (2, 1, 2.0)], seq=1)
    dropped = mirror.view(BASE, BASE + 2 * H)
    assert dropped.grid is not None
    array = weakref.ref(dropped.grid.base)  # the memory behind it
    del dropped  # its cycle is over
    merge(mirror, [(1, 0, 3.0)], seq=2)
    held = mirror.view(BASE, BASE + 2 * H)
    assert held.grid is not None
    assert held.grid.base is array()  # nothing else referred to it: filled again
    column = held.grid[:, :1]  # a slice of it, as a frame's judged columns are
    del held
    merge(mirror, [(2, 1, 4.0)], seq=3)
    later = mirror.view(BASE, BASE + 2 * H)
    assert later.grid is not None
    assert later.grid.base is not array()  # still in use through the slice: new memory
    assert column[0, 0] == 3.0 and np.isnan(column[1, 0])  # not overwritten
    assert points(later) == {("s1", 0): 3.0, ("s2", 1): 4.0}
    memory = weakref.ref(later.grid.base)
    del later
    narrower = mirror.view(BASE + H, BASE + 2 * H)  # a frame one window shorter
    assert narrower.grid is not None
    assert narrower.grid.base is memory()
    assert points(narrower) == {("s2", 1): 4.0}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 40), st.floats(0, 1e6, allow_nan=False)),
        min_size=1,
        max_size=60,
        unique_by=lambda r: (r[0], r[1]),  # stored rows: one per (series, start)
    ),
    st.integers(0, 39),
    st.integers(1, 45),
    st.booleans(),
)
def test_frames_from_a_grid_and_from_sparse_columns_agree(rows, lo, width, covered):
    dense, sparse = SeriesMirror(since=BASE), SeriesMirror(since=BASE)
    half = len(rows) // 2 or 1
    # the second merge rewrites some cells of the first, as a revision does
    again = [(k, h, a + 1) for k, h, a in rows[: half // 2]]
    for seq, part in enumerate((rows[:half], rows[half:] + again), start=1):
        if part:
            merge(dense, part, seq)
            merge(sparse, part, seq, step=None)
    assert dense.dense and not sparse.dense
    since, until = T0 + timedelta(hours=lo), T0 + timedelta(hours=lo + width)
    cov = [Coverage(T0 + timedelta(hours=2), T0 + timedelta(hours=30))] if covered else []
    a = dense.view(BASE, BASE + 60 * H)
    b = sparse.view(BASE, BASE + 60 * H)
    fa, _ = build_frame(a, cov, since, until, timedelta(hours=1))
    fb, _ = build_frame(b, cov, since, until, timedelta(hours=1))
    assert fa.keys == fb.keys
    np.testing.assert_array_equal(fa.values, fb.values)
    only = {"sku": ["s1", "s4"]}
    fa, _ = build_frame(
        dense.view(BASE, BASE + 60 * H), cov, since, until, timedelta(hours=1), only
    )
    fb, _ = build_frame(
        sparse.view(BASE, BASE + 60 * H), cov, since, until, timedelta(hours=1), only
    )
    assert fa.keys == fb.keys
    np.testing.assert_array_equal(fa.values, fb.values)


@pytest.mark.parametrize("step", [H, 2 * H])
def test_a_grid_of_another_phase_or_step_is_placed_through_its_points(step):
    mirror = SeriesMirror(since=BASE)
    merge(mirror, [(1, 0, 1.0), (1, 2, 3.0)], seq=1, step=step)
    # a frame of 30-minute windows does not share the grid's step: points decide
    frame, _ = build_frame(
        mirror.view(BASE, BASE + 4 * H), [], T0, T0 + timedelta(hours=3), timedelta(minutes=30)
    )
    assert np.nansum(frame.values) == 4.0
    assert frame.values[0, 0] == 1.0 and frame.values[0, 4] == 3.0
