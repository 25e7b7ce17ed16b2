"""PostgreSQL incident actions (pg_migrations/0012): history, acknowledgements, baseline
restarts, with the SQLite role's semantics when several replicas act at once.

The same press can reach two replicas (Slack redelivers an envelope to another socket,
or two people click together): ``record`` inserts under the ``(incident_id, action)``
unique key with ``ON CONFLICT DO NOTHING``, so the second transaction waits for the first
and then records nothing, and ``apply_action`` applies the effect (silence, resolve,
on-call notification) only where ``record`` returned True. ``incident`` locks the
incident's row (``FOR UPDATE``) for the caller's transaction, so actions on one incident
run one after another across replicas and each sees the history the others committed.
"""

from __future__ import annotations

from alerter.store.postgres_db import PgBase
from alerter.store.rows import Row
from alerter.store.sql_actions import SqlIncidentActions


class PostgresIncidentActions(SqlIncidentActions):
    """Incident actions on the store's connection (statements join its open transaction)."""

    mark = "%s"
    lock_row = " FOR UPDATE"
    byte_order = ' COLLATE "C"'

    def __init__(self, db: PgBase) -> None:
        self._db = db

    def _among(self, column: str, values: list[int]) -> tuple[str, tuple[object, ...]]:
        # one array parameter: no limit on how many ids (the web UI asks for every
        # incident it lists), one plan for any count
        return f"{column} = ANY({self.mark})", (list(values),)

    def _rows(self, sql: str, args: tuple[object, ...]) -> list[Row]:
        return self._db._rows(sql, args)

    def _count(self, sql: str, args: tuple[object, ...]) -> int:
        return self._db._exec(sql, args)
