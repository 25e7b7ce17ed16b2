"""The Detector seam: arrays in, arrays of verdicts out, causally."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Literal, Protocol

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from alerter.domain import SeriesKey

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class DetectorParams(BaseModel):
    """Fields every detector has; each subclasses it with ``type: Literal[...]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(description="The detector's registry name (its `type` in rule files).")
    direction: Literal["up", "down", "both"] = Field(
        default="up", description="Which deviations count: increases, decreases or both."
    )

    def seasonal_weeks(self) -> int | None:
        """Weeks of a same-slot (seasonal) baseline, or None when the detector reads the
        trailing run of windows before the judged one (what ``explain`` lists)."""
        return None


@dataclass(frozen=True)
class SeriesFrame:
    """Series x windows matrix of spend.

    ``values[i, t]`` is the spend of ``keys[i]`` in window ``[starts[t], starts[t] +
    step)``, float64, NaN where unknown (missing is not zero). ``starts`` are
    consecutive, ``step`` apart, as numpy ``datetime64[s]`` (UTC).
    """

    keys: Sequence[SeriesKey]
    starts: npt.NDArray[np.datetime64]
    step: timedelta
    values: FloatArray

    @property
    def n_series(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_windows(self) -> int:
        return int(self.values.shape[1])

    def start_at(self, index: int) -> datetime:
        """The aware UTC start of window ``index``."""
        seconds = int(self.starts[index].astype("datetime64[s]").astype(np.int64))
        return datetime.fromtimestamp(seconds, UTC)

    def index_of(self, when: datetime) -> int:
        """The column whose window starts at ``when`` (raises ValueError if absent)."""
        target = np.datetime64(int(when.timestamp()), "s")
        found = np.nonzero(self.starts == target)[0]
        if found.size == 0:
            raise ValueError(f"window {when.isoformat()} not in frame")
        return int(found[0])


@dataclass(frozen=True)
class Verdicts:
    """Per-series verdicts for the judged columns (shape series x judged windows).

    ``expected``/``lower``/``upper`` are the band, ``score`` a detector-specific
    severity (larger is more anomalous, comparable within one detector), ``flagged``
    whether the window is anomalous before guards. NaN expected means no verdict
    (not enough history, or the observed value is unknown).
    """

    expected: FloatArray
    lower: FloatArray
    upper: FloatArray
    score: FloatArray
    flagged: BoolArray


class Detector(Protocol):
    """A detector."""

    type: ClassVar[str]
    Params: ClassVar[builtins.type[DetectorParams]]

    def __init__(self, params: DetectorParams) -> None:
        """``params`` is an instance of the class's own ``Params``."""
        ...

    def history(self, step: timedelta) -> int:
        """How many windows before a judged window it reads (for loading the frame)."""
        ...

    def evaluate(self, frame: SeriesFrame, judge: slice) -> Verdicts:
        """Judge columns ``judge`` of ``frame`` (all series at once, vectorised).

        Causal: column t is judged only from columns before t (never t itself or
        later), so appending future windows never changes a verdict. NaN inputs are
        unknown and skipped, never read as zero. Returns arrays of shape
        ``(n_series, len(range(*judge.indices(n_windows))))``.
        """
        ...
