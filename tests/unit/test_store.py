from __future__ import annotations

import sqlite3
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from alerter.domain import (
    CostPoint,
    Coverage,
    Direction,
    Incident,
    Notification,
    Reason,
    Severity,
    make_key,
)
from alerter.errors import StoreError
from alerter.sources.base import FetchResult
from alerter.store.sqlite import SqliteStore, sqlite_path
from alerter.store.sqlite_db import migrations
from tests.conftest import T0

KEY = make_key({"sku": "a"})


def point(amount: str, hour: int = 0, key=KEY) -> CostPoint:
    start = T0 + timedelta(hours=hour)
    return CostPoint("s", key, start, start + timedelta(hours=1), Decimal(amount))


def test_upsert_counts_new_unchanged_and_revisions(store):
    first = store.upsert("s", FetchResult([point("1.10"), point("2", 1)], []), T0)
    assert (first.new, first.unchanged, first.revised) == (2, 0, [])
    again = store.upsert("s", FetchResult([point("1.1"), point("2.50", 1)], []), T0)
    assert again.new == 0
    assert again.unchanged == 1  # 1.10 == 1.1: same money, not a revision
    assert again.revised == [(KEY, T0 + timedelta(hours=1))]
    assert store.revisions("s", KEY, T0 + timedelta(hours=1)) == [Decimal("2")]
    (p0, p1) = store.load_points("s", T0, T0 + timedelta(hours=2))
    assert p1.amount == Decimal("2.50")  # exact Decimal kept
    assert p0.amount == Decimal("1.10")


def test_load_series_is_columnar_and_range_bound(store):
    other = make_key({"sku": "b"})
    store.upsert("s", FetchResult([point("1", 0), point("2", 1), point("3", 1, other)], []), T0)
    series = store.load_series("s", T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    assert len(series.starts) == 2
    assert sorted(series.amounts.tolist()) == [2.0, 3.0]
    assert set(series.keys) == {KEY, other}


def test_coverage_round_trip(store):
    cov = Coverage(T0, T0 + timedelta(days=1), (("customer_id", "c1"),))
    store.upsert("s", FetchResult([], [cov]), T0)
    assert store.load_coverage("s", T0, T0 + timedelta(hours=1)) == [cov]
    assert store.load_coverage("s", T0 + timedelta(days=2), T0 + timedelta(days=3)) == []


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
        observed=Decimal("10"),
        expected=Decimal("1"),
        peak_score=3.0,
        normal_streak=0,
        excess=Decimal("9"),
    )
    base.update(over)
    return Incident(**base)


def test_one_open_incident_per_rule_and_group(store):
    saved = store.save_incident(incident())
    assert saved.id > 0
    assert store.open_incident("r", KEY) == saved
    with pytest.raises(sqlite3.IntegrityError):
        store.save_incident(incident())
    store.save_incident(incident(id=saved.id, status="resolved", resolved_at=T0))
    assert store.open_incident("r", KEY) is None
    assert store.last_incident("r", KEY).status == "resolved"


def note(incident_id: int, event: Reason = Reason.FIRST) -> Notification:
    return Notification(
        incident_id=incident_id,
        rule="r",
        group=KEY,
        source="s",
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


def test_outbox_keeps_order_per_incident_and_target(store):
    a1 = store.enqueue(note(1), "slack", T0)
    a2 = store.enqueue(note(1, Reason.RESOLVED), "slack", T0)
    b1 = store.enqueue(note(2), "slack", T0)
    email = store.enqueue(note(1), "email", T0)
    assert [i.id for i in store.due(T0)] == [a1, b1, email]  # a2 waits behind a1
    store.mark_retry(a1, T0 + timedelta(minutes=5), "429")
    assert [i.id for i in store.due(T0)] == [b1, email]  # a1 backs off, a2 still waits
    store.mark_sent(a1, '{"ts": "1"}', T0 + timedelta(minutes=5))
    assert store.delivery_ref(1, "slack") == '{"ts": "1"}'
    assert a2 in [i.id for i in store.due(T0)]
    store.mark_failed(b1, "channel_not_found")
    assert [i.status for i in store.outbox_items() if i.id == b1] == ["failed"]


def test_silences_active_window(store):
    sid = store.add_silence("r*", {"sku": "a"}, T0, T0 + timedelta(hours=2), "maintenance")
    assert [s.id for s in store.silences(T0 + timedelta(hours=1))] == [sid]
    assert store.silences(T0 + timedelta(hours=3)) == []
    assert store.remove_silence(sid)
    assert not store.remove_silence(sid)


def test_migrations_are_versioned_and_refuse_newer_files(tmp_path):
    path = tmp_path / "state.db"
    SqliteStore(str(path)).close()
    again = SqliteStore(str(path))
    assert again.schema_version() == migrations()[-1][0]
    again.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(StoreError, match="schema version 99"):
        SqliteStore(str(path))


def test_state_paths(tmp_path):
    assert sqlite_path("state.db", tmp_path) == str(tmp_path / "state.db")
    assert sqlite_path("sqlite:////var/x.db", tmp_path) == "/var/x.db"
    assert sqlite_path(":memory:", tmp_path) == ":memory:"
    with pytest.raises(StoreError, match="unsupported state URL"):
        sqlite_path("postgres://x", tmp_path)


def test_transaction_rolls_back_everything(store):
    with pytest.raises(RuntimeError), store.transaction():
        store.upsert("s", FetchResult([point("1")], []), T0)
        store.enqueue(note(1), "slack", T0)
        raise RuntimeError("boom")
    assert store.load_points("s", T0, T0 + timedelta(hours=1)) == []
    assert store.outbox_items() == []


def test_series_mirror_follows_writes_trims_and_survives_restart(tmp_path):
    path = str(tmp_path / "s.db")
    store = SqliteStore(path)
    store.upsert("s", FetchResult([point("1", h) for h in range(4)], []), T0)
    window = (T0, T0 + timedelta(hours=4))
    assert store.load_series("s", *window).amounts.tolist() == [1.0, 1.0, 1.0, 1.0]
    store.upsert("s", FetchResult([point("5", 2), point("7", 4)], []), T0)  # a revision, a new hour
    later = store.load_series("s", T0, T0 + timedelta(hours=5))
    assert dict(zip(later.starts.tolist(), later.amounts.tolist(), strict=True)) == {
        int((T0 + timedelta(hours=h)).timestamp()): v
        for h, v in enumerate([1.0, 1.0, 5.0, 1.0, 7.0])
    }
    store.trim_cache("s", T0 + timedelta(hours=3))
    assert store.load_series(
        "s", T0 + timedelta(hours=3), T0 + timedelta(hours=5)
    ).amounts.tolist() == [1.0, 7.0]
    # asking for older windows again reads them from the file
    assert store.load_series("s", T0, T0 + timedelta(hours=5)).amounts.size == 5
    store.close()
    reopened = SqliteStore(path)
    reopened.load_series("s", T0, T0 + timedelta(hours=5))
    reopened.upsert("s", FetchResult([point("9", 0)], []), T0)  # the sequence continues
    assert reopened.load_series("s", T0, T0 + timedelta(hours=1)).amounts.tolist() == [9.0]
    reopened.close()


def test_mirror_keeps_sub_minute_windows_apart(store):
    step = timedelta(seconds=2)
    pts = [CostPoint("s", KEY, T0 + i * step, T0 + (i + 1) * step, Decimal(i)) for i in range(60)]
    store.upsert("s", FetchResult(pts, []), T0)
    series = store.load_series("s", T0, T0 + 60 * step)
    assert sorted(series.amounts.tolist()) == [float(i) for i in range(60)]


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
    store.enqueue(note(old_pending.id), "slack", T0)  # still undelivered: must survive
    still_open = store.save_incident(incident(group=make_key({"sku": "c"})))
    store.add_silence(None, {"sku": "a"}, T0, T0 + timedelta(hours=1))
    deleted = store.prune("s", T0 + timedelta(hours=24), T0 + timedelta(days=2))
    assert deleted["points"] == 24 and deleted["incidents"] == 1 and deleted["silences"] == 1
    assert len(store.load_points("s", T0, T0 + timedelta(days=3))) == 24
    assert len(store.load_points("other", T0, T0 + timedelta(days=3))) == 1  # other source
    assert {i.id for i in store.incidents()} == {old_pending.id, still_open.id}
    assert [i.incident_id for i in store.outbox_items()] == [old_pending.id]
    assert store.delivery_ref(old_done.id, "slack") is None


def test_coverage_intervals_merge_and_trim(store):
    scope = (("customer_id", "c1"),)
    for h in range(0, 48, 6):  # hourly polls re-covering an overlapping 12-hour lookback
        store.upsert(
            "s",
            FetchResult(
                [], [Coverage(T0 + timedelta(hours=h), T0 + timedelta(hours=h + 12), scope)]
            ),
            T0,
        )
    store.upsert(
        "s", FetchResult([], [Coverage(T0 + timedelta(days=5), T0 + timedelta(days=6), scope)]), T0
    )
    got = sorted((c.start, c.end) for c in store.load_coverage("s", T0, T0 + timedelta(days=7)))
    assert got == [(T0, T0 + timedelta(hours=54)), (T0 + timedelta(days=5), T0 + timedelta(days=6))]
    store.prune("s", T0 + timedelta(hours=24), T0)
    got = sorted((c.start, c.end) for c in store.load_coverage("s", T0, T0 + timedelta(days=7)))
    assert got == [
        (T0 + timedelta(hours=24), T0 + timedelta(hours=54)),
        (T0 + timedelta(days=5), T0 + timedelta(days=6)),
    ]


def test_rolled_back_writes_never_reach_readers(store):
    store.upsert("s", FetchResult([point("1", 0)], []), T0)
    store.load_series("s", T0, T0 + timedelta(hours=2))  # warm the mirror
    with pytest.raises(RuntimeError), store.transaction():
        store.upsert("s", FetchResult([point("5", 0), point("6", 1)], []), T0)
        assert sorted(store.load_series("s", T0, T0 + timedelta(hours=2)).amounts.tolist()) == [
            5.0,
            6.0,
        ]
        raise RuntimeError("dry run")
    assert store.load_series("s", T0, T0 + timedelta(hours=2)).amounts.tolist() == [1.0]
