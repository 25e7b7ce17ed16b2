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
    observed: FloatArray,
    expected: FloatArray,
    flagged: BoolArray,
    known_before: npt.NDArray[np.int64],
    *,
    min_amount: float,
    min_delta: float,
    min_history: int,
) -> tuple[BoolArray, npt.NDArray[np.int8]]:
    """Final flags and, per cell, the first reason it is not an alert (a ``Held`` code).

    ``min_amount`` applies to the larger of observed and expected (so a drop from a big
    amount still counts), ``min_delta`` to |observed - expected|, ``min_history`` to the
    count of known windows before the cell.
    """
    held = np.full(observed.shape, Held.NOT_HELD, dtype=np.int8)
    # NaN compares False, and unknown cells are marked last, so no NaN cleaning is needed.
    with np.errstate(invalid="ignore"):
        if min_delta > 0:
            held[np.abs(observed - expected) < min_delta] = Held.MIN_DELTA
        if min_amount > 0:
            held[np.fmax(observed, expected) < min_amount] = Held.MIN_AMOUNT
    if min_history > 0:
        held[known_before < min_history] = Held.MIN_HISTORY
    held[~flagged] = Held.NOT_FLAGGED
    held[np.isnan(observed) | np.isnan(expected)] = Held.UNKNOWN
    return held == Held.NOT_HELD, held
