"""The incident-actions role contract (``store/actions.py``): SQLite and PostgreSQL state
keep the same history, acknowledgements and baseline restarts.

The last section holds what only shared state must promise: the same press reaching two
replicas at once (Slack redelivering an envelope to another socket, two people clicking
together) is recorded and applied once, and causes one notification.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest

from alerter import payload
from alerter.domain import Incident, Reason, make_key
from alerter.notify.actions import ActionOutcome, apply_action
from alerter.store.actions import (
    Action,
    ActionRecord,
    BaselineRestart,
    IncidentActions,
    IncidentRef,
    actions_of,
)
from alerter.store.postgres import PostgresStore
from alerter.store.postgres_db import migrations
from tests.conftest import T0
from tests.contract.test_store_contract import incident
from tests.fakes.notifications import sample

H = timedelta(hours=1)
GROUP = make_key({"customer_name": "Acme", "sku": "gpu"})


def role(store: object) -> IncidentActions:
    actions = actions_of(store)
    assert actions is not None, f"{type(store).__name__} offers no incident actions"
    return actions


def save_incident(store: Any, rule: str = "r") -> Incident:
    """An open incident of ``rule`` and ``GROUP`` whose first window is T0+2h."""
    saved = store.save_incident(
        incident(rule=rule, group=GROUP, opened_at=T0 + 3 * H, first_window=T0 + 2 * H)
    )
    assert isinstance(saved, Incident)
    return saved


# -- every backend -------------------------------------------------------------------------
def test_an_action_is_recorded_once_with_who_and_when(store):
    inc = save_incident(store)
    actions = role(store)
    ack = ActionRecord(inc.id, Action.ACKNOWLEDGE, "slack:U1", T0 + 4 * H, "repeats stopped")
    assert actions.record(ack)
    assert not actions.record(ActionRecord(inc.id, Action.ACKNOWLEDGE, "web:bob", T0 + 5 * H))
    silence = ActionRecord(inc.id, Action.SILENCE_24H, "web:bob", T0 + 6 * H, "until later")
    assert actions.record(silence)
    assert actions.history(inc.id) == [ack, silence]  # oldest first, the first ack kept
    assert actions.history(inc.id + 1) == []


def test_acknowledged_filters_by_the_ids_asked_for(store):
    first, second = save_incident(store, "r1"), save_incident(store, "r2")
    actions = role(store)
    assert actions.acknowledged() == set()
    actions.record(ActionRecord(first.id, Action.ACKNOWLEDGE, "slack:U1", T0))
    actions.record(ActionRecord(second.id, Action.SILENCE_7D, "slack:U1", T0))
    assert actions.acknowledged() == {first.id}
    assert actions.acknowledged([first.id, second.id, 999]) == {first.id}
    assert actions.acknowledged([second.id]) == set()
    assert actions.acknowledged([]) == set()


def test_incident_ref_carries_what_an_action_needs(store):
    inc = save_incident(store)
    assert role(store).incident(inc.id) == IncidentRef(inc.id, "r", GROUP, "open", T0 + 2 * H)
    assert role(store).incident(inc.id + 1) is None


def test_baseline_restarts_are_idempotent_and_ordered(store):
    actions = role(store)
    later = BaselineRestart("r", GROUP, T0 + 5 * H, 7, "slack:U2", T0 + 6 * H)
    early = BaselineRestart("r", make_key({"sku": "cpu"}), T0 + H, 3, "slack:U1", T0 + 2 * H)
    other = BaselineRestart("q", GROUP, T0 + 3 * H, 5, "web:bob", T0 + 4 * H)
    for restart in (later, early, other, later):
        actions.add_restart(restart)
    assert actions.restarts("r") == [early, later]
    assert actions.restarts() == [early, other, later]
    assert actions.restarts("none") == []


def test_last_payload_is_the_incidents_latest_notification(store):
    inc = save_incident(store)
    actions = role(store)
    assert actions.last_payload(inc.id) is None
    store.enqueue(sample(incident_id=inc.id), "slack", T0)
    store.enqueue(sample(incident_id=inc.id, event=Reason.ESCALATED), "slack", T0 + H)
    last = actions.last_payload(inc.id)
    assert last is not None and payload.loads(last).event is Reason.ESCALATED


def test_actions_roll_back_with_the_store_transaction(store):
    inc = save_incident(store)
    actions = role(store)
    record = ActionRecord(inc.id, Action.EXPECTED_CHANGE, "slack:U1", T0)
    with pytest.raises(RuntimeError), store.transaction():
        assert actions.record(record)
        actions.add_restart(BaselineRestart("r", GROUP, T0, inc.id, "slack:U1", T0))
        raise RuntimeError("the effect failed")
    assert actions.history(inc.id) == []
    assert actions.restarts() == []
    assert actions.record(record)  # nothing was left behind to make it a repeat


def test_actions_survive_reopening(open_store):
    first = open_store()
    inc = save_incident(first)
    record = ActionRecord(inc.id, Action.ACKNOWLEDGE, "slack:U1", T0 + 4 * H)
    role(first).record(record)
    first.close()
    again = open_store()
    assert role(again).history(inc.id) == [record]
    assert not role(again).record(record)


# -- shared state: several replicas (PostgreSQL) ---------------------------------------------
def wait_for_lock_wait(url: str) -> None:
    """Return once a session of the database waits on a lock (another transaction's row)."""
    deadline = time.monotonic() + 30
    with psycopg.connect(url, autocommit=True) as probe:
        while time.monotonic() < deadline:
            row = probe.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.05)  # a real server's lock queue: polling is the way to wait
    raise AssertionError("the second replica never waited for the first one's transaction")


@pytest.fixture
def store_on(pg_url: str) -> Iterator[PostgresStore]:
    """A third handle on the replicas' state, to set it up and read what they did."""
    store = PostgresStore(pg_url, holder="test")
    yield store
    store.close()


def delivered_incident(store: PostgresStore) -> Incident:
    """An open incident already posted to ``slack`` and ``pd`` (both carry it)."""
    inc = save_incident(store)
    for target in ("slack", "pd"):
        store.enqueue(sample(incident_id=inc.id), target, T0 + 3 * H)
    for item in store.due(T0 + 3 * H):
        store.mark_sent(item.id, f"ref-{item.notifier}", T0 + 3 * H)
    return inc


def overlapping(
    pg_url: str,
    first: Callable[[PostgresStore], ActionOutcome],
    second: Callable[[PostgresStore], ActionOutcome],
) -> tuple[ActionOutcome, ActionOutcome]:
    """Replica a runs ``first`` and, before its transaction commits, replica b runs
    ``second`` (which must wait for a's commit); returns both outcomes."""
    a = PostgresStore(pg_url, holder="a")
    b = PostgresStore(pg_url, holder="b")
    late: list[ActionOutcome | BaseException] = []

    def on_b() -> None:
        try:
            late.append(second(b))
        except BaseException as exc:
            late.append(exc)

    worker = threading.Thread(target=on_b)
    try:
        with a.transaction():  # replica a is between its record and its commit
            early = first(a)
            worker.start()
            wait_for_lock_wait(pg_url)
        worker.join(30)
        assert not worker.is_alive()
    finally:
        a.close()
        b.close()
    [outcome] = late
    assert isinstance(outcome, ActionOutcome), outcome
    return early, outcome


@pytest.mark.parametrize(
    ("action", "caused"),
    [
        (Action.ACKNOWLEDGE, [("pd", "acknowledged")]),
        (Action.EXPECTED_CHANGE, [("pd", "resolved"), ("slack", "resolved")]),
        (Action.SILENCE_24H, []),
    ],
)
def test_the_same_press_on_two_replicas_at_once_acts_once(store_on, pg_url, action, caused):
    inc = delivered_incident(store_on)
    now = T0 + 4 * H
    targets = {"ack_targets": ["pd"], "resolve_targets": ["pd", "slack"]}
    first, second = overlapping(
        pg_url,
        lambda a: apply_action(a, inc.id, action, "slack:U1", now, **targets),
        lambda b: apply_action(b, inc.id, action, "slack:U2", now, **targets),
    )
    assert (first.applied, second.applied) == (True, False)
    assert [(r.action, r.actor) for r in second.history] == [(action, "slack:U1")]
    assert role(store_on).history(inc.id) == first.history
    assert [(i.notifier, i.event) for i in store_on.outbox_items("pending")] == caused
    assert len(store_on.silences()) == (1 if action is Action.SILENCE_24H else 0)
    assert len(role(store_on).restarts()) == (1 if action is Action.EXPECTED_CHANGE else 0)
    assert [i.status for i in store_on.incidents()] == [
        "resolved" if action is Action.EXPECTED_CHANGE else "open"
    ]


def test_different_presses_on_one_incident_apply_in_turn_and_see_each_other(store_on, pg_url):
    """Acknowledge on one replica and Silence on another: the second waits for the first
    to commit, so the history it renders into the Slack message holds both."""
    inc = delivered_incident(store_on)
    now = T0 + 4 * H
    first, second = overlapping(
        pg_url,
        lambda a: apply_action(a, inc.id, Action.ACKNOWLEDGE, "slack:U1", now),
        lambda b: apply_action(b, inc.id, Action.SILENCE_7D, "slack:U2", now + H),
    )
    assert first.applied and second.applied
    assert [(r.action, r.actor) for r in second.history] == [
        (Action.ACKNOWLEDGE, "slack:U1"),
        (Action.SILENCE_7D, "slack:U2"),
    ]


def test_acknowledged_takes_more_ids_than_a_statement_has_parameters(store_on):
    """The web UI asks about every incident it lists: past PostgreSQL's 65,535 parameters."""
    inc = save_incident(store_on)
    role(store_on).record(ActionRecord(inc.id, Action.ACKNOWLEDGE, "web:bob", T0))
    asked = [*range(inc.id + 1, inc.id + 70_000), inc.id]
    assert role(store_on).acknowledged(asked) == {inc.id}


def test_a_database_of_the_previous_schema_gains_the_actions_tables(pg_url):
    """A database an earlier alerter migrated (every version but incident actions, the
    file fingerprints of 0011 included) gets them on the next start, state kept."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        for version, sql in migrations():
            if "CREATE TABLE incident_actions" not in sql:
                conn.execute(sql.encode())
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
        conn.execute(
            "INSERT INTO silences (rule, matchers, starts_at, ends_at) VALUES ('r', '{}', 0, 1)"
        )
    store = PostgresStore(pg_url)
    try:
        assert store.schema_version() == migrations()[-1][0]
        assert len(store.silences()) == 1
        inc = save_incident(store)
        assert role(store).record(ActionRecord(inc.id, Action.ACKNOWLEDGE, "slack:U1", T0))
        assert role(store).acknowledged() == {inc.id}
    finally:
        store.close()
