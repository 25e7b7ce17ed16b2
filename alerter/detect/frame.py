"""Points -> series x windows matrix, with coverage deciding zero versus unknown."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import numpy as np

from alerter.detect.base import SeriesFrame
from alerter.domain import Coverage, SeriesKey, key_matches
from alerter.store.base import StoredSeries
from alerter.timeparse import floor_time


def window_starts(since: datetime, until: datetime, step: timedelta) -> np.ndarray:
    """Aligned window starts in ``[floor(since), until)`` as datetime64[s]."""
    first = int(floor_time(since, step).timestamp())
    last = int(until.timestamp())
    size = int(step.total_seconds())
    return np.arange(first, last, size, dtype=np.int64).astype("datetime64[s]")


def build_frame(
    stored: StoredSeries,
    coverage: list[Coverage],
    since: datetime,
    until: datetime,
    step: timedelta,
    match: Mapping[str, str | list[str]] | None = None,
) -> tuple[SeriesFrame, list[str]]:
    """The frame of the series matching ``match`` over ``[since, until)``.

    A window inside a coverage interval whose scope the series falls in is zero unless a
    point says otherwise; anything else without a point is NaN (unknown). Returns the
    frame and each row's currency. A ``stored.grid`` of exactly the frame's shape becomes
    the frame's values (no copy; the caller hands it over).
    """
    starts = window_starts(since, until, step)
    first = int(starts[0].astype(np.int64)) if starts.size else int(since.timestamp())
    size = int(step.total_seconds())
    n_windows = int(starts.size)
    keep = [i for i, key in enumerate(stored.keys) if not match or key_matches(key, match)]
    remap = np.full(len(stored.keys), -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    keys: list[SeriesKey] = [stored.keys[i] for i in keep]
    currencies = [stored.currencies[i] for i in keep]
    every = len(keep) == len(stored.keys)
    values = _from_grid(stored, keep if not every else None, first, size, n_windows)
    gridded = values is not None
    if values is None:
        values = np.full((len(keys), n_windows), np.nan)

    scope_rows: dict[SeriesKey, np.ndarray] = {}
    for cov in coverage:
        rows = scope_rows.get(cov.scope)
        if rows is None:
            scope = dict(cov.scope)
            rows = np.array(
                [
                    i
                    for i, key in enumerate(keys)
                    if all(dict(key).get(k) == v for k, v in scope.items())
                ],
                dtype=np.int64,
            )
            scope_rows[cov.scope] = rows
        lo = max(0, -(-(int(cov.start.timestamp()) - first) // size))
        hi = min(n_windows, (int(cov.end.timestamp()) - first) // size)
        if not rows.size or hi <= lo:
            continue
        if not gridded:
            values[rows, lo:hi] = 0.0
        elif rows.size == len(keys):  # the whole source: a view, filled in place
            block = values[:, lo:hi]
            block[np.isnan(block)] = 0.0
        else:
            block = values[rows, lo:hi]
            block[np.isnan(block)] = 0.0
            values[rows, lo:hi] = block

    if not gridded and stored.starts.size:
        # at scale (tens of millions of points) every temporary array counts: no remap
        # when every series is kept, no masked copies when every point is in range
        rows = stored.key_index if every else remap[stored.key_index]
        cols = stored.starts - first
        cols //= size
        ok = (cols >= 0) & (cols < n_windows)
        if not every:
            ok &= rows >= 0
        if ok.all():
            values[rows, cols] = stored.amounts
        else:
            values[rows[ok], cols[ok]] = stored.amounts[ok]
    return SeriesFrame(keys=keys, starts=starts, step=step, values=values), currencies


def _from_grid(
    stored: StoredSeries, keep: list[int] | None, first: int, size: int, n_windows: int
) -> np.ndarray | None:
    """The frame's values taken from a store's grid of the same step and phase (the rows
    in ``keep``, or all), or None. A grid that already is the frame is used in place."""
    grid = stored.grid
    if grid is None or stored.step != size or (stored.origin - first) % size:
        return None
    offset = (stored.origin - first) // size
    if keep is None and offset == 0 and grid.shape[1] == n_windows:
        return grid
    values = np.full((grid.shape[0] if keep is None else len(keep), n_windows), np.nan)
    lo, hi = max(0, -offset), min(grid.shape[1], n_windows - offset)
    if hi > lo:
        src = grid[:, lo:hi] if keep is None else grid[keep, lo:hi]
        values[:, lo + offset : hi + offset] = src
    return values
