"""PostgreSQL incident actions (pg_migrations/0003): history, acknowledgements, baseline
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

from alerter.store.actions import Action, ActionRecord, BaselineRestart, IncidentRef
from alerter.store.postgres_db import PgBase
from alerter.store.rows import (
    ACTION_COLUMNS,
    REF_COLUMNS,
    RESTART_COLUMNS,
    action_from_row,
    action_values,
    ref_from_row,
    restart_from_row,
    restart_values,
)


class PostgresIncidentActions:
    """Incident actions on the store's connection (statements join its open transaction)."""

    def __init__(self, db: PgBase) -> None:
        self._db = db

    def record(self, record: ActionRecord) -> bool:
        with self._db.transaction():
            return (
                self._db._exec(
                    f"INSERT INTO incident_actions ({ACTION_COLUMNS}) VALUES (%s,%s,%s,%s,%s) "  # noqa: S608
                    "ON CONFLICT (incident_id, action) DO NOTHING",
                    action_values(record),
                )
                > 0
            )

    def history(self, incident_id: int) -> list[ActionRecord]:
        rows = self._db._rows(
            f"SELECT {ACTION_COLUMNS} FROM incident_actions "  # noqa: S608
            "WHERE incident_id=%s ORDER BY at, id",
            (incident_id,),
        )
        return [action_from_row(r) for r in rows]

    def acknowledged(self, incident_ids: list[int] | None = None) -> set[int]:
        query = "SELECT DISTINCT incident_id FROM incident_actions WHERE action=%s"
        args: tuple[object, ...] = (Action.ACKNOWLEDGE.value,)
        if incident_ids is not None:
            if not incident_ids:
                return set()
            query += " AND incident_id = ANY(%s)"
            args += (list(incident_ids),)
        return {int(r[0]) for r in self._db._rows(query, args)}

    def incident(self, incident_id: int) -> IncidentRef | None:
        """The incident, its row locked until the caller's transaction ends."""
        row = self._db._one(
            f"SELECT {REF_COLUMNS} FROM incidents WHERE id=%s FOR UPDATE",  # noqa: S608
            (incident_id,),
        )
        return None if row is None else ref_from_row(row)

    def add_restart(self, restart: BaselineRestart) -> None:
        with self._db.transaction():
            self._db._exec(
                f"INSERT INTO baseline_restarts ({RESTART_COLUMNS}) "  # noqa: S608
                "VALUES (%s,%s,%s,%s,%s,%s) ON CONFLICT (rule, grp, since) DO NOTHING",
                restart_values(restart),
            )

    def restarts(self, rule: str | None = None) -> list[BaselineRestart]:
        query = f"SELECT {RESTART_COLUMNS} FROM baseline_restarts"  # noqa: S608
        args: tuple[object, ...] = ()
        if rule is not None:
            query += " WHERE rule=%s"
            args = (rule,)
        # byte order (as SQLite sorts text), not the database's locale
        rows = self._db._rows(query + ' ORDER BY since, rule COLLATE "C", grp COLLATE "C"', args)
        return [restart_from_row(r) for r in rows]

    def last_payload(self, incident_id: int) -> str | None:
        row = self._db._one(
            "SELECT payload FROM outbox WHERE incident_id=%s ORDER BY id DESC LIMIT 1",
            (incident_id,),
        )
        return None if row is None else str(row[0])
