"""The Store seam: everything the daemon remembers between cycles."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt

from alerter.domain import CostPoint, Coverage, Incident, Notification, SeriesKey
from alerter.sources.base import FetchResult


@dataclass(frozen=True, slots=True)
class UpsertReport:
    """What an upsert changed: ``revised`` lists (key, window start) whose amount changed."""

    new: int
    revised: list[tuple[SeriesKey, datetime]]
    unchanged: int
    seq: int = 0
    """The write sequence of this upsert (see ``Store.written``)."""


@dataclass(frozen=True)
class StoredSeries:
    """Points of one source in a time range, columnar: ``keys[key_index[i]]`` at ``starts[i]``."""

    keys: list[SeriesKey]
    key_index: npt.NDArray[np.int64]
    starts: npt.NDArray[np.int64]
    amounts: npt.NDArray[np.float64]
    currencies: list[str]


@dataclass(frozen=True, slots=True)
class PollStatus:
    source: str
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    backfilled: bool
    points: int
    errors: int


@dataclass(frozen=True, slots=True)
class OutboxItem:
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


@dataclass(frozen=True, slots=True)
class Silence:
    id: int
    rule: str | None
    matchers: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str


class Store(Protocol):
    """Durable state. Every method is atomic; ``transaction()`` groups several."""

    def transaction(self) -> AbstractContextManager[None]:
        """A write transaction; nested calls join the outer one."""
        ...

    def upsert(self, source: str, result: FetchResult, now: datetime) -> UpsertReport:
        """Store points and coverage; a changed amount is a revision (old value kept)."""
        ...

    def written(self, source: str, seq: int, before: datetime) -> list[tuple[SeriesKey, datetime]]:
        """Points first stored by upsert ``seq`` whose window starts before ``before``:
        data for windows that were unknown when they were judged."""
        ...

    def load_series(self, source: str, since: datetime, until: datetime) -> StoredSeries:
        """Points with ``since <= start < until``."""
        ...

    def prune(
        self, source: str, points_before: datetime, history_before: datetime
    ) -> dict[str, int]:
        """Delete ``source``'s points, revisions and coverage older than ``points_before``,
        and (all sources) resolved incidents, delivered or failed notifications and
        expired silences older than ``history_before``. Pending notifications and open
        incidents are never deleted. Returns rows deleted per table."""
        ...

    def trim_cache(self, source: str, before: datetime) -> None:
        """Readers no longer need points of ``source`` older than ``before`` in memory."""
        ...

    def load_points(self, source: str, since: datetime, until: datetime) -> list[CostPoint]:
        """Exact points with ``since <= start < until``."""
        ...

    def load_coverage(self, source: str, since: datetime, until: datetime) -> list[Coverage]:
        """Covered intervals (as fetched) overlapping the range."""
        ...

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
        """Record a poll; ``backfilled`` (default: ``ok``) marks the history as complete."""
        ...

    def poll_status(self) -> list[PollStatus]: ...

    def judged_through(self, rule: str) -> datetime | None:
        """End of the last window of ``rule`` that was judged, or None."""
        ...

    def set_judged_through(self, rule: str, when: datetime) -> None: ...

    def open_incident(self, rule: str, group: SeriesKey) -> Incident | None: ...

    def last_incident(self, rule: str, group: SeriesKey) -> Incident | None:
        """The most recent incident (open or resolved) of the pair."""
        ...

    def save_incident(self, incident: Incident) -> Incident:
        """Insert (``id == 0``) or update; returns the stored incident with its id."""
        ...

    def incidents(self, status: str | None = None) -> list[Incident]: ...

    def enqueue(self, msg: Notification, notifier: str, now: datetime) -> int: ...

    def due(self, now: datetime, limit: int = 100) -> list[OutboxItem]:
        """Pending items whose time has come, oldest first, at most one per
        (incident, notifier) pair so messages of one incident keep their order."""
        ...

    def mark_sent(self, item_id: int, ref: str | None, now: datetime) -> None: ...

    def mark_retry(self, item_id: int, at: datetime, error: str) -> None: ...

    def mark_failed(self, item_id: int, error: str) -> None: ...

    def defer(self, item_id: int, at: datetime) -> None:
        """Postpone an item without counting an attempt (rate caps)."""
        ...

    def sent_since(self, notifier: str, since: datetime) -> int:
        """How many items ``notifier`` delivered since ``since``."""
        ...

    def outbox_items(self, status: str | None = None) -> list[OutboxItem]: ...

    def delivery_ref(self, incident_id: int, notifier: str) -> str | None: ...

    def add_silence(
        self,
        rule: str | None,
        matchers: dict[str, str],
        starts_at: datetime,
        ends_at: datetime,
        comment: str = "",
        created_by: str = "",
    ) -> int: ...

    def silences(self, now: datetime | None = None) -> list[Silence]:
        """All silences, or only those active at ``now``."""
        ...

    def remove_silence(self, silence_id: int) -> bool: ...

    def close(self) -> None: ...


def iter_windows(start: datetime, end: datetime, step_seconds: int) -> Iterator[int]:
    """Epoch seconds of the windows ``[start, end)`` walks in steps."""
    first = int(start.timestamp())
    last = int(end.timestamp())
    yield from range(first, last, step_seconds)
