"""``SqliteStore``: every store role in one SQLite state file (the default state)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from alerter.errors import StoreError
from alerter.store.sqlite_incidents import SqliteIncidents
from alerter.store.sqlite_marks import SqliteMarks
from alerter.store.sqlite_outbox import SqliteOutbox
from alerter.store.sqlite_points import SqlitePoints
from alerter.store.sqlite_silences import SqliteSilences


def sqlite_path(state: str, base: Path) -> str:
    """``sqlite:///x.db``, ``sqlite://:memory:``, ``:memory:`` or a plain path (relative to base)."""
    raw = state
    if raw.startswith("sqlite:///"):
        raw = raw[len("sqlite:///") :]
    elif raw.startswith("sqlite://"):
        raw = raw[len("sqlite://") :]
    if raw == ":memory:":
        return raw
    if "://" in raw:
        raise StoreError(f"unsupported state URL scheme in {state!r} (use a SQLite path)")
    path = Path(raw).expanduser()
    return str(path if path.is_absolute() else base / path)


class SqliteStore(SqlitePoints, SqliteIncidents, SqliteOutbox, SqliteSilences, SqliteMarks):
    """State in one SQLite file (WAL journal), locked to one process; safe across threads."""

    def prune(
        self, source: str, points_before: datetime, history_before: datetime
    ) -> dict[str, int]:
        with self.transaction():
            deleted = self.prune_points(source, points_before)
            deleted |= self.prune_outbox(history_before)
            deleted |= self.prune_incidents(history_before)
            deleted |= self.prune_silences(history_before)
        return deleted

    def counts(self) -> dict[str, int]:
        """Rows per table, for status and soak checks."""
        with self._lock:
            return {
                table: int(self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
                for table in ("points", "point_revisions", "coverage", "incidents", "outbox")
            }
