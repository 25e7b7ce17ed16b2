"""The Source seam: a billing source turns a time range into cost points."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar, Protocol

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from alerter.clock import Clock
from alerter.domain import CostPoint, Coverage, key_from_json
from alerter.timeparse import Duration, parse_duration


class SourceConfig(BaseModel):
    """Fields every source has; each source subclasses it with ``type: Literal[...]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str = Field(description="The source's registry name (its `type` in the config).")
    schedule: str = Field(
        default="15m",
        description='How often to poll: an interval ("15m", "1h") or a 5-field cron expression.',
    )
    lookback: Duration = Field(
        default=parse_duration("48h"),
        description="What every cycle re-fetches (late and revised data land inside it).",
    )
    backfill: Duration = Field(
        default=parse_duration("28d"),
        description="History fetched on the first poll, so baselines are ready at once.",
    )
    staleness: Duration | None = Field(
        default=None,
        description="How long without a successful poll before /healthz fails "
        "(default: three schedule intervals, at least 1h).",
    )


@dataclass(frozen=True, slots=True)
class FileMark:
    """What a file source read from one file, so an unchanged file is not parsed again.

    The file is unchanged when ``size``, ``mtime_ns`` and ``etag`` (object stores;
    ``None`` for local files) are all equal. ``read_since``/``read_until`` is the range
    that was read; a later fetch may skip the file only if its range is inside it or the
    file holds no window past ``data_end`` (the end of its last window) that was clipped.
    ``fingerprint`` (local plain files) hashes the file's head and the end of what was
    read, so a file that only grew since can be read from ``size`` on.
    """

    path: str
    size: int
    mtime_ns: int
    etag: str | None
    read_since: datetime
    read_until: datetime
    data_end: datetime | None
    fingerprint: str | None = None


class FileMarks(Protocol):
    """Read side of the file marks a store keeps (``store.base.MarkStore``)."""

    def file_marks(self, source: str) -> dict[str, FileMark]:
        """The marks recorded for ``source``, by path."""
        ...


@dataclass(frozen=True, slots=True)
class FetchResult:
    """What one fetch produced.

    ``coverage`` lists the windows the source really answered for: inside them a
    series with no point spent zero; outside them a window is unknown (missing is not
    zero). ``errors`` names every part that failed (customer, window, page) so the
    cycle can log it; failed parts have no coverage and no points. ``skipped`` counts
    records left out on purpose, by kind (e.g. Metronome line items by type).
    """

    points: list[CostPoint]
    coverage: list[Coverage]
    errors: list[str] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    skipped_rows: int = 0
    """Rows of files read this time that could not count (each logged with file:line)."""
    table: pa.Table | pa.RecordBatchReader | None = None
    """Points as columns (``POINT_SCHEMA``), for sources that read many rows (files,
    warehouses): no Python object per point. A ``RecordBatchReader`` is streamed into
    the store batch by batch (read once). The store takes ``points`` and ``table``
    together; a (series, window) must not appear in both."""
    file_marks: list[FileMark] = field(default_factory=list)
    """The files read (or skipped as unchanged) by this fetch; the store records them
    in the transaction that stores the points, so a crash never marks unread data."""

    def all_points(self, source: str = "") -> list[CostPoint]:
        """``points`` and ``table`` rows as CostPoints (tests and small replays only; a
        streamed table is consumed)."""
        found = list(self.points)
        if self.table is not None:
            rows = (
                self.table.read_all()
                if isinstance(self.table, pa.RecordBatchReader)
                else self.table
            )
            for row in rows.to_pylist():
                start = datetime.fromtimestamp(row["start"], UTC)
                found.append(
                    CostPoint(
                        source,
                        key_from_json(row["key"]),
                        start,
                        datetime.fromtimestamp(row["end"], UTC),
                        row["amount"],
                        row.get("quantity"),
                        row["currency"],
                    )
                )
        return found

    @property
    def n_points(self) -> int:
        """Points in ``points`` and ``table`` together (a streamed table counts once read:
        use the store's ``UpsertReport`` for what was stored)."""
        rows = self.table.num_rows if isinstance(self.table, pa.Table) else 0
        return len(self.points) + rows


POINT_SCHEMA = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),
        pa.field("start", pa.int64(), nullable=False),
        pa.field("end", pa.int64(), nullable=False),
        pa.field("amount", pa.decimal128(38, 10), nullable=False),
        pa.field("quantity", pa.decimal128(38, 10)),
        pa.field("currency", pa.string(), nullable=False),
    ]
)
"""Columns of ``FetchResult.table``: ``key`` is the series key as ``key_json`` writes it
(JSON list of sorted ``[name, value]`` pairs; plain or dictionary-encoded strings),
``start``/``end`` are Unix seconds (UTC, half-open window), money is exact
``DECIMAL(38,10)``; ``quantity`` may be left out (all null). One row per (key, start)."""


@dataclass(frozen=True, slots=True)
class SourceContext:
    """What a source may use besides its config: the clock, the environment, paths."""

    clock: Clock
    env: Mapping[str, str]
    config_dir: Path
    marks: FileMarks | None = None
    """File marks of earlier reads (the daemon's store); None reads every file."""
    on_retry: Callable[[str, str], None] | None = None
    """Told ``(source, reason)`` of every retried HTTP attempt (the App's metrics)."""

    def resolve(self, path: str) -> Path:
        """A config path, relative paths taken from the config file's folder."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.config_dir / candidate


class Source(Protocol):
    """A billing source."""

    type: ClassVar[str]
    Config: ClassVar[builtins.type[SourceConfig]]
    replayable: ClassVar[bool]
    """True when any past range can be fetched again as it was (files): a backtest reads
    the source itself; otherwise it replays what the state stored."""
    name: str

    def __init__(self, name: str, config: SourceConfig, context: SourceContext) -> None:
        """``config`` is an instance of the class's own ``Config``. Raises ``ConfigError``
        (naming the source and the variable) when a required secret is not set."""
        ...

    @property
    def step(self) -> timedelta:
        """The window size of this source's points (e.g. 1 hour, 1 day)."""
        ...

    async def fetch(self, since: datetime, until: datetime) -> FetchResult:
        """Fetch every window overlapping ``[since, until)`` (aware UTC).

        Must not raise for a partial failure: failed parts go to ``errors`` and are
        left uncovered. Raises ``SourceError`` only when nothing could be fetched at
        all (e.g. bad credentials), with a message naming the source and the
        environment variable or endpoint at fault, and never a secret.
        """
        ...

    async def aclose(self) -> None:
        """Release connections; called on shutdown and reload."""
        ...
