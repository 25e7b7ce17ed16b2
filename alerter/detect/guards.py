"""Rule guards applied after a detector: min amount, min delta, min history."""

from __future__ import annotations

import enum

import numpy as np
import numpy.typing as npt

from alerter.detect.base import BoolArray, FloatArray


class Held(enum.IntEnum):
    """Which guard held a flagged window back (``NOT_HELD`` when none did)."""

    NOT_HELD = 0
    MIN_HISTORY = 1
    MIN_AMOUNT = 2
    MIN_DELTA = 3
    NOT_FLAGGED = 4
    UNKNOWN = 5


def apply_guards(
    values: FloatArray,
    start: int,
    expected: FloatArray,
    flagged: BoolArray,
    *,
    min_amount: float,
    min_delta: float,
    min_history: int,
) -> tuple[BoolArray, npt.NDArray[np.int8]]:
    """Final flags for judged columns ``start:`` of ``values`` and, per cell, the first
    reason it is not an alert (a ``Held`` code).

    ``min_amount`` applies to the larger of observed and expected (so a drop from a big
    amount still counts), ``min_delta`` to |observed - expected|, ``min_history`` to the
    count of known windows before the cell. The guards are evaluated only at the cells
    the detector flagged (a small fraction), so they cost next to nothing.
    """
    stop = start + expected.shape[1]
    observed = values[:, start:stop]
    held = np.where(flagged, np.int8(Held.NOT_HELD), np.int8(Held.NOT_FLAGGED)).astype(np.int8)
    held[np.isnan(observed) | np.isnan(expected)] = Held.UNKNOWN
    rows, cols = np.nonzero(held == Held.NOT_HELD)
    if rows.size:
        obs = observed[rows, cols]
        exp = expected[rows, cols]
        codes = np.full(rows.size, Held.NOT_HELD, dtype=np.int8)
        codes[np.abs(obs - exp) < min_delta] = Held.MIN_DELTA
        codes[np.fmax(obs, exp) < min_amount] = Held.MIN_AMOUNT
        if min_history > 0:
            codes[known_before(values, rows, start + cols) < min_history] = Held.MIN_HISTORY
        held[rows, cols] = codes
    return held == Held.NOT_HELD, held


def known_before(
    values: FloatArray, rows: npt.NDArray[np.intp], cols: npt.NDArray[np.intp]
) -> npt.NDArray[np.int64]:
    """For each (row, col), how many known (non-NaN) windows precede it in its row."""
    unique, inverse = np.unique(rows, return_inverse=True)
    known = np.cumsum(~np.isnan(values[unique]), axis=1)
    counts = np.concatenate([np.zeros((unique.size, 1), dtype=np.int64), known], axis=1)
    return np.asarray(counts[inverse.reshape(-1), cols], dtype=np.int64)
