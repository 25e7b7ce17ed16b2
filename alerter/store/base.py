"""The store seams, sized by role: everything the daemon remembers between cycles.

Each role is a small ``Protocol``; a backend implements each in a file named by the
role (``sqlite_outbox.py``, ``duck_points.py``...). Callers ask for the role they use:
the outbox needs an ``OutboxStore``, the detector path a ``PointReader``.

======================  ===============================================================
role                    methods
======================  ===============================================================
``Transactional``       ``transaction``, ``close``
``PointReader``         ``load_series``, ``load_points``, ``load_coverage``,
                        ``revisions``, ``written``, ``revised_since``
``PointStore``          ``PointReader`` + ``upsert``, ``prune_points``, ``trim_cache``
``IncidentStore``       ``open_incident``, ``last_incident``, ``save_incident``,
                        ``incidents``, ``prune_incidents``
``OutboxStore``         ``enqueue``, ``due``, ``mark_sent``, ``mark_retry``,
                        ``mark_failed``, ``defer``, ``sent_since``, ``outbox_items``,
                        ``delivery_ref``, ``prune_outbox``
``SilenceStore``        ``add_silence``, ``silences``, ``remove_silence``,
                        ``prune_silences``
``MarkStore``           ``record_poll``, ``poll_status``, ``judged_through``,
                        ``set_judged_through``, ``consumed_seq``, ``set_consumed_seq``,
                        ``file_marks``, ``set_file_marks``
``Store``               all of the above plus ``prune`` (the daemon's facade)
======================  ===============================================================

The transactional roles (incidents, outbox, silences, marks) live in one transactional
database (SQLite by default, PostgreSQL for replicas) and share its ``transaction()``.
Points live in a columnar store (DuckDB in a file beside the state): their writes are
committed before the transactional ones, and ``consumed_seq`` (a mark) records which
point writes the judge has seen, so a crash between the two re-judges, never skips.

Times are aware UTC datetimes (stored as Unix seconds); money is ``Decimal`` (stored
exactly). Rows come back as the typed dataclasses below, never as tuples.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

import numpy as np
import numpy.typing as npt

from alerter.domain import CostPoint, Coverage, Incident, Notification, SeriesKey
from alerter.domain import Silence as Silence  # moved to domain; re-exported for backends
from alerter.sources.base import FetchResult, FileMark

__all__ = [
    "FileMark",
    "IncidentStore",
    "MarkStore",
    "OutboxItem",
    "OutboxStore",
    "PointReader",
    "PointStore",
    "PollStatus",
    "Silence",
    "SilenceStore",
    "Store",
    "StoredSeries",
    "Transactional",
    "UpsertReport",
]


@dataclass(frozen=True, slots=True)
class UpsertReport:
    """What an upsert changed: ``revised`` lists (key, window start) whose amount changed."""

    new: int
    revised: list[tuple[SeriesKey, datetime]]
    unchanged: int
    seq: int = 0
    """The write sequence of this upsert (see ``PointReader.written``); increases with
    every upsert of the state, across processes and restarts."""


class StoredSeries:
    """Points of one source in a time range, columnar: ``keys[key_index[i]]`` at ``starts[i]``
    (Unix seconds), spending ``amounts[i]`` (float64, for detection only).

    A store may hand them over as a ``grid`` instead: row ``r`` is ``keys[r]``, column
    ``c`` the window starting at ``origin + c * step``, NaN where there is no point. The
    sparse columns are then made from it on first use."""

    def __init__(
        self,
        keys: list[SeriesKey],
        key_index: npt.NDArray[np.int64] | None = None,
        starts: npt.NDArray[np.int64] | None = None,
        amounts: npt.NDArray[np.float64] | None = None,
        currencies: list[str] | None = None,
        *,
        grid: npt.NDArray[np.float64] | None = None,
        origin: int = 0,
        step: int = 0,
    ) -> None:
        self.keys = keys
        self.currencies = currencies if currencies is not None else []
        self.grid = grid
        self.origin = origin
        self.step = step
        self._sparse: (
            tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]] | None
        ) = None
        if grid is None:
            empty = np.empty(0, dtype=np.int64)
            self._sparse = (
                empty if key_index is None else key_index,
                empty if starts is None else starts,
                np.empty(0) if amounts is None else amounts,
            )

    def _columns(
        self,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        if self._sparse is None:
            assert self.grid is not None
            rows, cols = np.nonzero(~np.isnan(self.grid))
            self._sparse = (
                rows.astype(np.int64),
                self.origin + cols.astype(np.int64) * self.step,
                self.grid[rows, cols],
            )
        return self._sparse

    @property
    def key_index(self) -> npt.NDArray[np.int64]:
        return self._columns()[0]

    @property
    def starts(self) -> npt.NDArray[np.int64]:
        return self._columns()[1]

    @property
    def amounts(self) -> npt.NDArray[np.float64]:
        return self._columns()[2]


@dataclass(frozen=True, slots=True)
class PollStatus:
    """The last poll of one source."""

    source: str
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    backfilled: bool
    points: int
    errors: int


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One notification for one notifier; ``status`` is ``pending``, ``sent`` or ``failed``."""

    id: int
    incident_id: int
    notifier: str
    event: str
    payload: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    created_at: datetime | None = None


class Transactional(Protocol):
    """A store whose writes can be grouped."""

    def transaction(self) -> AbstractContextManager[None]:
        """A write transaction; nested calls join the outer one. An exception rolls it
        back and propagates."""
        ...

    def close(self) -> None:
        """Release the connection (and the state file's lock)."""
        ...


class PointReader(Protocol):
    """Reads cost points, coverage and the write history of points."""

    def load_series(self, source: str, since: datetime, until: datetime) -> StoredSeries:
        """Points with ``since <= start < until``, columnar, amounts as float64."""
        ...

    def load_points(self, source: str, since: datetime, until: datetime) -> list[CostPoint]:
        """Exact points with ``since <= start < until`` (replays, ``explain``)."""
        ...

    def load_coverage(self, source: str, since: datetime, until: datetime) -> list[Coverage]:
        """Covered intervals (as fetched, merged per scope) overlapping the range."""
        ...

    def revisions(self, source: str, key: SeriesKey, start: datetime) -> list[Decimal]:
        """Earlier amounts of one point, oldest first."""
        ...

    def written(
        self, source: str, after_seq: int, before: datetime
    ) -> list[tuple[SeriesKey, datetime]]:
        """Points first stored by an upsert with seq > ``after_seq`` (and never revised
        since) whose window starts before ``before``: data for windows that were unknown
        when they were judged."""
        ...

    def revised_since(self, source: str, after_seq: int) -> list[tuple[SeriesKey, datetime]]:
        """Points whose amount was changed by an upsert with seq > ``after_seq``."""
        ...


class PointStore(PointReader, Protocol):
    """Writes cost points: one writer per state."""

    def upsert(self, source: str, result: FetchResult, now: datetime) -> UpsertReport:
        """Store ``result.points``, ``result.table`` and coverage. A changed amount for a
        stored (series, window) is a revision (the old value is kept); an equal amount
        (``1.10 == 1.1``) is unchanged. Committed when it returns. Raises ``StoreError``."""
        ...

    def prune_points(self, source: str, before: datetime) -> dict[str, int]:
        """Delete ``source``'s points, revisions and coverage older than ``before``;
        returns rows deleted per table."""
        ...

    def trim_cache(self, source: str, before: datetime) -> None:
        """Readers no longer need points of ``source`` older than ``before`` in memory."""
        ...


class IncidentStore(Transactional, Protocol):
    """Incidents: one open incident per (rule, group) at most."""

    def open_incident(self, rule: str, group: SeriesKey) -> Incident | None: ...

    def last_incident(self, rule: str, group: SeriesKey) -> Incident | None:
        """The most recent incident (open or resolved) of the pair."""
        ...

    def save_incident(self, incident: Incident) -> Incident:
        """Insert (``id == 0``) or update; returns the stored incident with its id."""
        ...

    def incidents(self, status: str | None = None) -> list[Incident]:
        """All incidents (or those with ``status``), oldest first."""
        ...

    def prune_incidents(self, before: datetime) -> dict[str, int]:
        """Delete incidents resolved before ``before`` that no outbox row refers to
        (and their delivery refs); open incidents are never deleted."""
        ...


class OutboxStore(Transactional, Protocol):
    """Durable notifications, delivered and acknowledged per (incident, notifier)."""

    def enqueue(self, msg: Notification, notifier: str, now: datetime) -> int:
        """Add a pending item due at ``now``; returns its id."""
        ...

    def due(self, now: datetime, limit: int = 100) -> list[OutboxItem]:
        """Pending items whose time has come, oldest first, at most one per
        (incident, notifier) pair so messages of one incident keep their order."""
        ...

    def mark_sent(self, item_id: int, ref: str | None, now: datetime) -> None:
        """Delivered; ``ref`` (e.g. a Slack ts) is kept as the pair's delivery ref."""
        ...

    def mark_retry(self, item_id: int, at: datetime, error: str) -> None:
        """One more failed attempt; try again at ``at``."""
        ...

    def mark_failed(self, item_id: int, error: str) -> None:
        """Given up for good."""
        ...

    def defer(self, item_id: int, at: datetime) -> None:
        """Postpone an item without counting an attempt (rate caps)."""
        ...

    def sent_since(self, notifier: str, since: datetime) -> int:
        """How many items ``notifier`` delivered since ``since``."""
        ...

    def outbox_items(self, status: str | None = None) -> list[OutboxItem]:
        """All items (or those with ``status``), oldest first."""
        ...

    def delivery_ref(self, incident_id: int, notifier: str) -> str | None:
        """The ref of the pair's first delivery (to update it in place), or None."""
        ...

    def prune_outbox(self, before: datetime) -> dict[str, int]:
        """Delete sent or failed items created before ``before`` whose incident was
        resolved before ``before``; pending items are never deleted."""
        ...


class SilenceStore(Transactional, Protocol):
    """Silences added by ``alerter silence``."""

    def add_silence(
        self,
        rule: str | None,
        matchers: dict[str, str],
        starts_at: datetime,
        ends_at: datetime,
        comment: str = "",
        created_by: str = "",
    ) -> int:
        """Returns the new silence's id."""
        ...

    def silences(self, now: datetime | None = None) -> list[Silence]:
        """All silences, or only those active at ``now``."""
        ...

    def remove_silence(self, silence_id: int) -> bool:
        """False when there was no such silence."""
        ...

    def prune_silences(self, before: datetime) -> dict[str, int]:
        """Delete silences that ended before ``before``."""
        ...


class MarkStore(Transactional, Protocol):
    """Progress marks: polls, what each rule judged, point writes seen, files read."""

    def record_poll(
        self,
        source: str,
        at: datetime,
        *,
        ok: bool,
        error: str | None,
        points: int,
        errors: int,
        backfilled: bool | None = None,
    ) -> None:
        """Record a poll; ``backfilled`` (default: ``ok``) marks the history as complete
        (once set it stays set)."""
        ...

    def poll_status(self) -> list[PollStatus]:
        """The last poll of every source, by source name."""
        ...

    def judged_through(self, rule: str) -> datetime | None:
        """End of the last window of ``rule`` that was judged, or None."""
        ...

    def set_judged_through(self, rule: str, when: datetime) -> None: ...

    def consumed_seq(self, source: str) -> int:
        """The last point write seq of ``source`` whose changes were judged (0: none)."""
        ...

    def set_consumed_seq(self, source: str, seq: int) -> None: ...

    def file_marks(self, source: str) -> dict[str, FileMark]:
        """What ``source`` last read from each file, by path."""
        ...

    def set_file_marks(self, source: str, marks: Sequence[FileMark]) -> None:
        """Replace ``source``'s marks for these paths (others are kept)."""
        ...


class Store(PointStore, IncidentStore, OutboxStore, SilenceStore, MarkStore, Protocol):
    """Every role together: what the daemon wires up."""

    def prune(
        self, source: str, points_before: datetime, history_before: datetime
    ) -> dict[str, int]:
        """``prune_points(source, points_before)`` and, for all sources, outbox,
        incidents and silences older than ``history_before``; rows deleted per table."""
        ...
