"""Causal views of a series x windows matrix: the trailing or seasonal past of each column."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from alerter.detect.base import FloatArray


def judged_range(n_windows: int, judge: slice) -> tuple[int, int]:
    """``[start, stop)`` column indices of ``judge`` over ``n_windows`` (step 1 only)."""
    start, stop, step = judge.indices(n_windows)
    if step != 1:
        raise ValueError(f"judge slice must have step 1 (got {step})")
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
