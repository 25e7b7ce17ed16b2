"""PostgreSQL store: the state of several replicas in one database (``postgresql://`` URL).

The roles live in files named by role (``postgres_points.py``, ``postgres_incidents.py``,
``postgres_outbox.py``, ``postgres_silences.py``, ``postgres_marks.py``,
``postgres_actions.py``, ``postgres_leases.py``); this class puts them together on one
connection, with leases on a second one (``PostgresStore.lease_store``). Migrations are
``alerter/store/pg_migrations/NNNN_*.sql``.
"""

from __future__ import annotations

from datetime import datetime

from alerter.store.postgres_actions import PostgresIncidentActions
from alerter.store.postgres_db import is_postgres_url
from alerter.store.postgres_incidents import PostgresIncidents
from alerter.store.postgres_leases import PostgresLeases
from alerter.store.postgres_marks import PostgresMarks
from alerter.store.postgres_outbox import PostgresOutbox
from alerter.store.postgres_points import PostgresPoints
from alerter.store.postgres_silences import PostgresSilences

__all__ = ["PostgresLeases", "PostgresStore", "is_postgres_url"]


class PostgresStore(
    PostgresPoints, PostgresIncidents, PostgresOutbox, PostgresSilences, PostgresMarks
):
    """Every role of the state in PostgreSQL; ``holder`` names this replica's claims."""

    def __init__(self, url: str, *, holder: str = "", claim_ttl: float = 30.0) -> None:
        super().__init__(url)
        self._init_outbox(holder or "alerter", claim_ttl)
        self.actions = PostgresIncidentActions(self)
        """The incident-actions role (``store/actions.py``): Slack buttons, the web UI's
        Acknowledge and the CLI act through it, as on SQLite state."""

    def lease_store(self) -> PostgresLeases:
        """Leases on a connection of their own (renewals never wait behind judging)."""
        return PostgresLeases(self.url)

    def prune(
        self, source: str, points_before: datetime, history_before: datetime
    ) -> dict[str, int]:
        with self.transaction():
            deleted = self.prune_points(source, points_before)
            deleted.update(self.prune_outbox(history_before))
            deleted.update(self.prune_incidents(history_before))
            deleted.update(self.prune_silences(history_before))
        return deleted

    def counts(self) -> dict[str, int]:
        return {
            table: int(self._one(f"SELECT count(*) FROM {table}")[0])  # noqa: S608
            for table in ("points", "point_revisions", "coverage", "incidents", "outbox")
        }
