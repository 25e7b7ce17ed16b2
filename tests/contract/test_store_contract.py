"""The store contract: every backend (SQLite, PostgreSQL) passes the same cases.

Each case gets ``open_store``, which opens a store on one fresh state (a SQLite file, or
a scratch PostgreSQL database created for the test and dropped after); calling it twice
gives two handles on the same state, as two processes (or replicas) would have. The
last section holds what only shared state promises: leases with fencing tokens and
outbox claims taken with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from alerter.domain import (
    CostPoint,
    Coverage,
    Direction,
    Incident,
    Notification,
    Reason,
    Severity,
    key_json,
    make_key,
)
from alerter.errors import FencingRejected, StoreError
from alerter.sources.base import POINT_SCHEMA, FetchResult, FileMark
from alerter.store.leases import Fence
from alerter.store.postgres import PostgresStore
from alerter.store.postgres_db import migrations
from tests.conftest import T0

KEY = make_key({"sku": "a"})


def point(amount: str, hour: int = 0, key=KEY) -> CostPoint:
    start = T0 + timedelta(hours=hour)
    return CostPoint("s", key, start, start + timedelta(hours=1), Decimal(amount))


def incident(**over: Any) -> Incident:
    base: dict[str, Any] = dict(
        id=0,
        rule="r",
        group=KEY,
        status="open",
        severity=Severity.WARNING,
        opened_at=T0,
        first_window=T0,
        last_window=T0,
        last_anomalous_window=T0,
        observed=Decimal("10.50"),
        expected=Decimal("1"),
        peak_score=3.0,
        normal_streak=0,
        excess=Decimal("9.5"),
    )
    base.update(over)
    return Incident(**base)


def note(incident_id: int, event: Reason = Reason.FIRST, source: str = "s") -> Notification:
    return Notification(
        incident_id=incident_id,
        rule="r",
        group=KEY,
        source=source,
        event=event,
        severity=Severity.WARNING,
        window_start=T0,
        window_end=T0 + timedelta(hours=1),
        observed=Decimal("10"),
        expected=Decimal("1"),
        lower=Decimal("0"),
        upper=Decimal("2"),
        score=4.0,
        direction=Direction.UP,
    )


# -- points ------------------------------------------------------------------------------
def test_upsert_counts_new_unchanged_and_revisions(store):
    first = store.upsert("s", FetchResult([point("1.10"), point("2", 1)], []), T0)
    assert (first.new, first.unchanged, first.revised) == (2, 0, [])
    again = store.upsert("s", FetchResult([point("1.1"), point("2.50", 1)], []), T0)
    assert (again.new, again.unchanged) == (0, 1)  # 1.10 == 1.1: same money
    assert again.revised == [(KEY, T0 + timedelta(hours=1))]
    assert again.seq > first.seq
    assert store.revisions("s", KEY, T0 + timedelta(hours=1)) == [Decimal("2")]
    p0, p1 = store.load_points("s", T0, T0 + timedelta(hours=2))
    assert (p0.amount, p1.amount) == (Decimal("1.10"), Decimal("2.50"))


def test_written_and_revised_since_list_what_later_upserts_changed(store):
    first = store.upsert("s", FetchResult([point("1", 0)], []), T0)
    later = store.upsert("s", FetchResult([point("2", 0), point("3", 1), point("4", 5)], []), T0)
    assert later.seq > first.seq
    assert store.written("s", first.seq, before=T0 + timedelta(hours=3)) == [
        (KEY, T0 + timedelta(hours=1))
    ]
    assert store.revised_since("s", first.seq) == [(KEY, T0)]
    assert store.revised_since("s", later.seq) == []


def test_consumed_seq_and_file_marks(store):
    assert store.consumed_seq("s") == 0
    store.set_consumed_seq("s", 7)
    assert store.consumed_seq("s") == 7
    mark = FileMark(
        "a.csv", 10, 123, None, T0, T0 + timedelta(days=1), T0 + timedelta(hours=5), "f" * 32
    )
    other = FileMark("b.csv", 20, 456, "etag-1", T0, T0 + timedelta(days=1), None)
    store.set_file_marks("s", [mark, other])
    store.set_file_marks("s", [replace(mark, size=11)])
    assert store.file_marks("s") == {"a.csv": replace(mark, size=11), "b.csv": other}
    assert store.file_marks("t") == {}


@pytest.mark.parametrize("streamed", [False, True])
def test_arrow_tables_are_stored_like_points(store, streamed):
    other = make_key({"sku": "b"})
    hour = int(T0.timestamp())
    table = pa.Table.from_pylist(
        [
            {
                "key": key_json(other),
                "start": hour,
                "end": hour + 3600,
                "amount": Decimal("2.5"),
                "quantity": None,
                "currency": "USD",
            },
            {
                "key": key_json(other),
                "start": hour + 3600,
                "end": hour + 7200,
                "amount": Decimal("4"),
                "quantity": Decimal("1.5"),
                "currency": "USD",
            },
        ],
        schema=POINT_SCHEMA,
    )
    data = (
        pa.RecordBatchReader.from_batches(POINT_SCHEMA, table.to_batches()) if streamed else table
    )
    report = store.upsert("s", FetchResult([point("1", 0)], [], table=data), T0)
    assert report.new == 3
    got = {
        (p.key, p.start): (p.amount, p.quantity)
        for p in store.load_points("s", T0, T0 + timedelta(hours=2))
    }
    assert got == {
        (KEY, T0): (Decimal("1"), None),
        (other, T0): (Decimal("2.5"), None),
        (other, T0 + timedelta(hours=1)): (Decimal("4"), Decimal("1.5")),
    }


def test_load_series_is_columnar_and_range_bound(store):
    other = make_key({"sku": "b"})
    store.upsert("s", FetchResult([point("1", 0), point("2", 1), point("3", 1, other)], []), T0)
    store.upsert("s", FetchResult([point("5", 1)], []), T0)  # a revision replaces the value
    series = store.load_series("s", T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    got = {
        (series.keys[k], int(s)): a
        for k, s, a in zip(series.key_index, series.starts, series.amounts, strict=True)
    }
    hour1 = int((T0 + timedelta(hours=1)).timestamp())
    assert got == {(KEY, hour1): 5.0, (other, hour1): 3.0}


def test_reads_follow_writes_and_never_see_rolled_back_rows(store):
    span = (T0, T0 + timedelta(hours=3))
    store.upsert("s", FetchResult([point("1", 0), point("2", 1)], []), T0)
    assert sorted(store.load_series("s", *span).amounts.tolist()) == [1.0, 2.0]
    store.upsert("s", FetchResult([point("5", 1), point("3", 2)], []), T0)  # revision + new
    assert sorted(store.load_series("s", *span).amounts.tolist()) == [1.0, 3.0, 5.0]
    with pytest.raises(RuntimeError), store.transaction():
        store.upsert("s", FetchResult([point("9", 0)], []), T0)
        assert 9.0 in store.load_series("s", *span).amounts.tolist()
        raise RuntimeError("fenced off")
    assert sorted(store.load_series("s", *span).amounts.tolist()) == [1.0, 3.0, 5.0]
    store.trim_cache("s", T0 + timedelta(hours=1))
    assert sorted(store.load_series("s", *span).amounts.tolist()) == [1.0, 3.0, 5.0]


def test_coverage_intervals_merge_and_trim(store):
    scope = (("customer_id", "c1"),)
    for h in range(0, 48, 6):
        cov = Coverage(T0 + timedelta(hours=h), T0 + timedelta(hours=h + 12), scope)
        store.upsert("s", FetchResult([], [cov]), T0)
    far = Coverage(T0 + timedelta(days=5), T0 + timedelta(days=6), scope)
    store.upsert("s", FetchResult([], [far]), T0)
    got = sorted((c.start, c.end) for c in store.load_coverage("s", T0, T0 + timedelta(days=7)))
    assert got == [(T0, T0 + timedelta(hours=54)), (far.start, far.end)]
    store.prune("s", T0 + timedelta(hours=24), T0)
    got = sorted((c.start, c.end) for c in store.load_coverage("s", T0, T0 + timedelta(days=7)))
    assert got == [(T0 + timedelta(hours=24), T0 + timedelta(hours=54)), (far.start, far.end)]


# -- incidents, marks, silences ------------------------------------------------------------
def test_one_open_incident_per_rule_and_group(store):
    saved = store.save_incident(incident())
    assert saved.id > 0
    assert store.open_incident("r", KEY) == saved  # every field round-trips exactly
    with pytest.raises((sqlite3.IntegrityError, StoreError)):
        store.save_incident(incident())
    store.save_incident(incident(id=saved.id, status="resolved", resolved_at=T0))
    assert store.open_incident("r", KEY) is None
    assert store.last_incident("r", KEY).status == "resolved"
    assert [i.id for i in store.incidents("resolved")] == [saved.id]


def test_polls_and_judged_marks(store):
    store.record_poll("s", T0, ok=False, error="HTTP 503", points=0, errors=1)
    store.record_poll("s", T0 + timedelta(hours=1), ok=True, error=None, points=5, errors=0)
    store.record_poll("s", T0 + timedelta(hours=2), ok=False, error="timeout", points=0, errors=1)
    (status,) = store.poll_status()
    assert status.last_success_at == T0 + timedelta(hours=1)
    assert status.last_attempt_at == T0 + timedelta(hours=2)
    assert status.last_error == "timeout"
    assert status.backfilled  # once set it stays set
    assert store.judged_through("r") is None
    store.set_judged_through("r", T0)
    store.set_judged_through("r", T0 + timedelta(hours=3))
    assert store.judged_through("r") == T0 + timedelta(hours=3)


def test_silences_active_window(store):
    sid = store.add_silence("r*", {"sku": "a"}, T0, T0 + timedelta(hours=2), "maintenance", "ops")
    (active,) = store.silences(T0 + timedelta(hours=1))
    assert (active.id, active.rule, active.matchers, active.comment) == (
        sid,
        "r*",
        {"sku": "a"},
        "maintenance",
    )
    assert store.silences(T0 + timedelta(hours=3)) == []
    assert store.remove_silence(sid)
    assert not store.remove_silence(sid)


# -- outbox ----------------------------------------------------------------------------------
def test_outbox_keeps_order_per_incident_and_target(store):
    a1 = store.enqueue(note(1), "slack", T0)
    a2 = store.enqueue(note(1, Reason.RESOLVED), "slack", T0)
    b1 = store.enqueue(note(2), "slack", T0)
    email = store.enqueue(note(1), "email", T0)
    assert [i.id for i in store.due(T0)] == [a1, b1, email]  # a2 waits behind a1
    store.mark_retry(a1, T0 + timedelta(minutes=5), "429")
    assert [i.id for i in store.due(T0)] == [b1, email]
    store.mark_sent(a1, '{"ts": "1"}', T0 + timedelta(minutes=5))
    assert store.delivery_ref(1, "slack") == '{"ts": "1"}'
    assert a2 in [i.id for i in store.due(T0)]
    store.mark_failed(b1, "channel_not_found")
    assert [i.status for i in store.outbox_items() if i.id == b1] == ["failed"]
    assert store.sent_since("slack", T0) == 1
    store.defer(email, T0 + timedelta(minutes=10))
    assert email not in [i.id for i in store.due(T0)]


def test_transaction_rolls_back_everything(store):
    with pytest.raises(RuntimeError), store.transaction():
        store.upsert("s", FetchResult([point("1")], []), T0)
        store.enqueue(note(1), "slack", T0)
        with store.transaction():  # nested: joins the outer one
            store.set_judged_through("r", T0)
        raise RuntimeError("boom")
    assert store.load_points("s", T0, T0 + timedelta(hours=1)) == []
    assert store.outbox_items() == []
    assert store.judged_through("r") is None


def test_prune_keeps_open_incidents_and_pending_notifications(store):
    store.upsert(
        "s",
        FetchResult([point("1", h) for h in range(48)], [Coverage(T0, T0 + timedelta(hours=48))]),
        T0,
    )
    store.upsert("other", FetchResult([point("1", 0)], []), T0)
    old_done = store.save_incident(incident(status="resolved", resolved_at=T0 + timedelta(hours=1)))
    store.mark_sent(store.enqueue(note(old_done.id), "slack", T0), "ref", T0)
    old_pending = store.save_incident(
        incident(
            group=make_key({"sku": "b"}), status="resolved", resolved_at=T0 + timedelta(hours=1)
        )
    )
    store.enqueue(note(old_pending.id), "slack", T0)
    still_open = store.save_incident(incident(group=make_key({"sku": "c"})))
    store.add_silence(None, {"sku": "a"}, T0, T0 + timedelta(hours=1))
    deleted = store.prune("s", T0 + timedelta(hours=24), T0 + timedelta(days=2))
    assert deleted["points"] == 24 and deleted["incidents"] == 1 and deleted["silences"] == 1
    assert len(store.load_points("s", T0, T0 + timedelta(days=3))) == 24
    assert len(store.load_points("other", T0, T0 + timedelta(days=3))) == 1
    assert {i.id for i in store.incidents()} == {old_pending.id, still_open.id}
    assert [i.incident_id for i in store.outbox_items()] == [old_pending.id]
    assert store.delivery_ref(old_done.id, "slack") is None


def test_state_survives_reopening(open_store):
    first = open_store()
    saved = first.save_incident(incident())
    item = first.enqueue(note(saved.id), "slack", T0)
    first.close()
    again = open_store()
    assert again.open_incident("r", KEY) == saved
    assert [i.id for i in again.due(T0)] == [item]


# -- shared state: leases and claims (PostgreSQL) ----------------------------------------------
def test_replicas_starting_together_migrate_once(pg_url):
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start() -> None:
        barrier.wait()
        try:
            stores.append(PostgresStore(pg_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        latest = [version for version, _sql in migrations()]
        assert {s.schema_version() for s in stores} == {latest[-1]}
        rows = stores[0]._rows("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in rows] == latest  # each applied once
    finally:
        for s in stores:
            s.close()


def test_newer_schema_is_refused(pg_url):
    PostgresStore(pg_url).close()
    other = PostgresStore(pg_url)
    other._exec("INSERT INTO schema_migrations (version) VALUES (99)")
    other.close()
    with pytest.raises(StoreError, match="schema version 99"):
        PostgresStore(pg_url)


def test_lease_is_renewed_by_its_holder_and_taken_over_only_when_expired(pg_url):
    store = PostgresStore(pg_url)
    leases = store.lease_store()
    first = leases.acquire("m", "r1", 30)
    assert first is not None and first.taken and first.token == 1
    assert leases.acquire("m", "r2", 30) is None  # live: not r2's
    renewed = leases.acquire("m", "r1", 30)
    assert renewed is not None and (renewed.token, renewed.taken) == (1, False)
    assert leases.release("m", "r1", 1)  # expire now, as an expired TTL would
    taken = leases.acquire("m", "r2", 30)
    assert taken is not None and taken.taken and taken.token == 2  # the token grows
    assert leases.acquire("m", "r1", 30) is None
    (row,) = leases.leases()
    assert (row.holder, row.token, row.live, row.takeovers) == ("r2", 2, True, 1)
    leases.close()
    store.close()


def test_every_take_is_reported_as_taken_and_every_renewal_as_renewed(pg_url):
    # One clock reading per acquire: with two, a take now and then read as a renewal.
    store = PostgresStore(pg_url)
    leases = store.lease_store()
    holders = ("r1", "r2")
    for n in range(200):
        holder = holders[n % 2]
        taken = leases.acquire("m", holder, 30)
        assert taken is not None and taken.taken and taken.token == n + 1
        renewed = leases.acquire("m", holder, 30)
        assert renewed is not None and (renewed.token, renewed.taken) == (n + 1, False)
        assert leases.release("m", holder, n + 1)
    leases.close()
    store.close()


def test_a_former_holder_commits_nothing(pg_url):
    old = PostgresStore(pg_url, holder="r1")
    new = PostgresStore(pg_url, holder="r2")
    leases = old.lease_store()
    grant = leases.acquire("s", "r1", 30)
    assert grant is not None
    with old.fenced(grant.fence), old.transaction():
        old.set_judged_through("r", T0)  # under a live lease: committed
    leases.release("s", "r1", grant.token)
    assert leases.acquire("s", "r2", 30) is not None  # taken over while r1 was paused
    with pytest.raises(FencingRejected), old.fenced(grant.fence), old.transaction():
        old.upsert("s", FetchResult([point("9")], []), T0)
        old.enqueue(note(1), "slack", T0)
        old.set_judged_through("r", T0 + timedelta(hours=1))
    assert new.judged_through("r") == T0
    assert new.outbox_items() == []
    assert new.load_points("s", T0, T0 + timedelta(hours=1)) == []
    with pytest.raises(FencingRejected), old.fenced(Fence("s", "r1", 99)), old.transaction():
        old.set_judged_through("r", T0 + timedelta(hours=2))
    for s in (old, new):
        s.close()
    leases.close()


def test_outbox_rows_are_claimed_by_one_replica_and_acknowledged_by_the_claimant(pg_url):
    a = PostgresStore(pg_url, holder="a", claim_ttl=30)
    b = PostgresStore(pg_url, holder="b", claim_ttl=30)
    ids = [a.enqueue(note(n), "slack", T0) for n in range(1, 5)]
    got_a = [i.id for i in a.due(T0, limit=2)]
    got_b = [i.id for i in b.due(T0)]
    assert sorted(got_a + got_b) == ids and not set(got_a) & set(got_b)
    assert [i.id for i in b.due(T0)] == got_b  # a's live claims are not b's to take
    assert a.claim_valid(got_a[0])
    # a's claim lapses (paused past the TTL): b claims the row and sends it
    a._exec("UPDATE outbox SET claim_until=clock_timestamp() WHERE id=%s", (got_a[0],))
    assert got_a[0] in [i.id for i in b.due(T0)]
    assert not a.claim_valid(got_a[0])  # checked right before a's send: a does not send
    b.mark_sent(got_a[0], '{"ts": "1"}', T0)
    a.mark_retry(got_a[0], T0, "late")  # a's acknowledgement lands nowhere
    (item,) = [i for i in b.outbox_items() if i.id == got_a[0]]
    assert (item.status, item.attempts) == ("sent", 1)
    assert a.rejections == 2
    a.close()
    b.close()


def test_a_replica_taking_its_own_live_claim_again_keeps_its_token(pg_url):
    """A replica's delivery threads (one per notifier) each claim every due row: taking
    its own live claim again extends it and keeps the token, so a send checked by one
    thread is not voided by another thread's claim; a new holder gets a new token."""
    a = PostgresStore(pg_url, holder="a")
    b = PostgresStore(pg_url, holder="b")
    item = a.enqueue(note(1), "pd", T0)

    def token() -> int:
        return int(a._one("SELECT claim_token FROM outbox WHERE id=%s", (item,))[0])

    assert [i.id for i in a.due(T0)] == [item]
    first = token()
    assert [i.id for i in a.due(T0)] == [item]  # the other thread of the same replica
    assert token() == first
    assert a.claim_valid(item)
    a._exec("UPDATE outbox SET claim_until=clock_timestamp() WHERE id=%s", (item,))
    assert [i.id for i in b.due(T0)] == [item]  # lapsed: another replica takes it over
    assert token() == first + 1
    assert not a.claim_valid(item)
    a.close()
    b.close()


def test_claims_skip_rows_locked_by_another_claimant(pg_url):
    a = PostgresStore(pg_url, holder="a")
    b = PostgresStore(pg_url, holder="b")
    first = a.enqueue(note(1), "slack", T0)
    second = a.enqueue(note(2), "slack", T0)
    with a.transaction():
        a._exec("SELECT id FROM outbox WHERE id=%s FOR UPDATE", (first,))
        # b does not wait for a's lock: it skips the row and takes the other one
        assert [i.id for i in b.due(T0)] == [second]
    a.close()
    b.close()


def test_a_replica_frozen_inside_its_commit_cannot_keep_the_lease(pg_url):
    """Frozen after its fence check (the lease row locked FOR SHARE) and before COMMIT:
    the lease expires but its row stays locked until the server ends the idle session
    (without that, the takeover below would wait for the thaw, 30 s later); then another
    replica takes over, and the frozen transaction's writes are lost with its session."""
    frozen = PostgresStore(pg_url, holder="r1")
    frozen.idle_timeout_ms = 1000
    other = PostgresStore(pg_url, holder="r2")
    leases = other.lease_store()
    grant = leases.acquire("s", "r1", 0.2)  # expired long before the session ends
    assert grant is not None
    checked, thaw = threading.Event(), threading.Event()
    outcome: list[BaseException] = []

    def commit_and_freeze() -> None:
        try:
            with frozen.fenced(grant.fence), frozen.transaction():
                frozen.set_judged_through("r", T0)
                frozen._check_fence(frozen._db(), grant.fence)  # the lease row is locked now
                checked.set()
                thaw.wait(30)  # frozen: idle in transaction, as a SIGSTOPped process is
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=commit_and_freeze)
    worker.start()
    try:
        assert checked.wait(30)
        deadline = time.monotonic() + 30
        taken = None
        while taken is None and time.monotonic() < deadline:
            taken = leases.acquire("s", "r2", 30)  # waits at most lock_timeout per try
            if taken is None:
                time.sleep(0.1)  # a real server's timeout: polling is the way to wait
        assert taken is not None and taken.token == 2
    finally:
        thaw.set()
        worker.join()
    assert len(outcome) == 1 and isinstance(outcome[0], StoreError)
    assert other.judged_through("r") is None
    for s in (frozen, other):
        s.close()
    leases.close()
