"""Causal views of a series x windows matrix: the trailing or seasonal past of each column."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from alerter.detect.base import FloatArray


def judged_range(n_windows: int, judge: slice) -> tuple[int, int]:
    start, stop, step = judge.indices(n_windows)
    if step != 1:
        raise ValueError("judge slices must be contiguous")
    return start, max(start, stop)


def trailing(values: FloatArray, start: int, stop: int, n: int) -> FloatArray:
    """``out[s, j, i]`` = ``values[s, start + j - n + i]``: the n windows before each judged
    column (NaN before the frame starts). Shape (series, stop - start, n); a view where
    possible."""
    lo = start - n
    pad = max(0, -lo)
    block = values[:, max(0, lo) : max(stop - 1, max(0, lo))]
    if pad:
        block = np.concatenate([np.full((values.shape[0], pad), np.nan), block], axis=1)
    if block.shape[1] < n:
        block = np.concatenate(
            [block, np.full((values.shape[0], n - block.shape[1]), np.nan)], axis=1
        )
    view = sliding_window_view(block, n, axis=1)
    return view[:, : stop - start, :]


def seasonal(values: FloatArray, start: int, stop: int, period: int, k: int) -> FloatArray:
    """``out[s, j, i]`` = ``values[s, start + j - period * (i + 1)]``: the same phase of
    the k previous periods (NaN before the frame starts). Shape (series, stop - start, k)."""
    n_series = values.shape[0]
    out = np.full((n_series, stop - start, k), np.nan)
    for i in range(k):
        lag = period * (i + 1)
        src_lo = start - lag
        src_hi = stop - lag
        if src_hi <= 0:
            continue
        clip = max(0, -src_lo)
        out[:, clip:, i] = values[:, src_lo + clip : src_hi]
    return out


def known_count(values: FloatArray, start: int, stop: int) -> np.ndarray:
    """How many known (non-NaN) windows precede each judged column.

    Counts the columns before ``start`` once, then accumulates over the judged columns
    only (the frame before ``start`` can be long: a detector's whole history).
    """
    n_series = values.shape[0]
    before = np.count_nonzero(~np.isnan(values[:, :start]), axis=1).astype(np.int64)
    out = np.empty((n_series, stop - start), dtype=np.int64)
    if stop > start:
        out[:, 0] = before
        if stop - start > 1:
            inner = np.cumsum(~np.isnan(values[:, start : stop - 1]), axis=1)
            out[:, 1:] = before[:, None] + inner
    return out
