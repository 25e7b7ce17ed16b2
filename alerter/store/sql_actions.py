"""The incident-actions role in SQL, shared by the SQLite and PostgreSQL backends.

Both keep the same tables (SQLite ``migrations/0010``, PostgreSQL ``pg_migrations/0012``)
and the same rows (``store/rows.py``); a backend file (``sqlite_actions.py``,
``postgres_actions.py``) supplies how a statement runs on its connection and the few
words its dialect says differently.
"""

from __future__ import annotations

from alerter.store.actions import Action, ActionRecord, BaselineRestart, IncidentRef
from alerter.store.rows import (
    ACTION_COLUMNS,
    REF_COLUMNS,
    RESTART_COLUMNS,
    Row,
    action_from_row,
    action_values,
    as_int,
    ref_from_row,
    restart_from_row,
    restart_values,
)


class SqlIncidentActions:
    """``IncidentActions`` over ``_rows`` and ``_count``, which a backend implements on
    its store's connection (statements join the store's open transaction)."""

    mark = "?"
    """The driver's placeholder."""
    lock_row = ""
    """Appended to the incident's SELECT in ``incident`` to lock its row (PostgreSQL)."""
    byte_order = ""
    """Appended to text sort keys so both backends sort as SQLite does (by bytes)."""

    def _rows(self, sql: str, args: tuple[object, ...]) -> list[Row]:
        raise NotImplementedError

    def _count(self, sql: str, args: tuple[object, ...]) -> int:
        """Run a write; the number of rows it changed."""
        raise NotImplementedError

    def _marks(self, n: int) -> str:
        return ",".join([self.mark] * n)

    def _among(self, column: str, values: list[int]) -> tuple[str, tuple[object, ...]]:
        """``column`` is one of ``values``: a condition and its arguments."""
        return f"{column} IN ({self._marks(len(values))})", tuple(values)

    def record(self, record: ActionRecord) -> bool:
        # one row per (incident, action): a second insert, also one racing in from another
        # replica's transaction (it waits for that one to end), changes nothing
        return (
            self._count(
                f"INSERT INTO incident_actions ({ACTION_COLUMNS}) "  # noqa: S608
                f"VALUES ({self._marks(5)}) ON CONFLICT (incident_id, action) DO NOTHING",
                action_values(record),
            )
            > 0
        )

    def history(self, incident_id: int) -> list[ActionRecord]:
        rows = self._rows(
            f"SELECT {ACTION_COLUMNS} FROM incident_actions "  # noqa: S608
            f"WHERE incident_id={self.mark} ORDER BY at, id",
            (incident_id,),
        )
        return [action_from_row(r) for r in rows]

    def acknowledged(self, incident_ids: list[int] | None = None) -> set[int]:
        query = f"SELECT DISTINCT incident_id FROM incident_actions WHERE action={self.mark}"  # noqa: S608
        args: tuple[object, ...] = (Action.ACKNOWLEDGE.value,)
        if incident_ids is not None:
            if not incident_ids:
                return set()
            fragment, values = self._among("incident_id", incident_ids)
            query += f" AND {fragment}"
            args += values
        return {as_int(r[0]) for r in self._rows(query, args)}

    def incident(self, incident_id: int) -> IncidentRef | None:
        rows = self._rows(
            f"SELECT {REF_COLUMNS} FROM incidents WHERE id={self.mark}{self.lock_row}",  # noqa: S608
            (incident_id,),
        )
        return ref_from_row(rows[0]) if rows else None

    def add_restart(self, restart: BaselineRestart) -> None:
        self._count(
            f"INSERT INTO baseline_restarts ({RESTART_COLUMNS}) "  # noqa: S608
            f"VALUES ({self._marks(6)}) ON CONFLICT (rule, grp, since) DO NOTHING",
            restart_values(restart),
        )

    def restarts(self, rule: str | None = None) -> list[BaselineRestart]:
        query = f"SELECT {RESTART_COLUMNS} FROM baseline_restarts"  # noqa: S608
        args: tuple[object, ...] = ()
        if rule is not None:
            query += f" WHERE rule={self.mark}"
            args = (rule,)
        order = f" ORDER BY since, rule{self.byte_order}, grp{self.byte_order}"
        return [restart_from_row(r) for r in self._rows(query + order, args)]

    def last_payload(self, incident_id: int) -> str | None:
        rows = self._rows(
            f"SELECT payload FROM outbox WHERE incident_id={self.mark} "  # noqa: S608
            "ORDER BY id DESC LIMIT 1",
            (incident_id,),
        )
        return str(rows[0][0]) if rows else None
