"""The store split by role: one process per state file, columnar points, marks."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from alerter.clock import FakeClock
from alerter.domain import CostPoint, Coverage, key_json, make_key
from alerter.errors import StoreError
from alerter.sources.base import FetchResult, FileMark, SourceContext
from alerter.sources.csv_file import CsvConfig, CsvSource
from alerter.store import base
from alerter.store.sqlite import SqliteStore
from alerter.store.sqlite_db import migrations
from tests.conftest import T0

H = timedelta(hours=1)
KEY = make_key({"sku": "a"})


def table(rows: list[tuple[str, int, str]]) -> pa.Table:
    """``(sku, hour, amount)`` rows as a POINT_SCHEMA table."""
    start = int(T0.timestamp())
    return pa.table(
        {
            "key": pa.array([key_json(make_key({"sku": s})) for s, _h, _a in rows]),
            "start": pa.array([start + h * 3600 for _s, h, _a in rows], pa.int64()),
            "end": pa.array([start + (h + 1) * 3600 for _s, h, _a in rows], pa.int64()),
            "amount": pa.array([Decimal(a) for _s, _h, a in rows], pa.decimal128(38, 10)),
            "currency": pa.array(["USD"] * len(rows)),
        }
    )


def test_every_role_is_a_small_protocol_and_sqlite_store_is_all_of_them():
    roles = [
        base.PointStore,
        base.IncidentStore,
        base.OutboxStore,
        base.SilenceStore,
        base.MarkStore,
    ]
    for role in roles:
        own = [m for m in vars(role) if not m.startswith("_")]
        assert 0 < len(own) <= 11, role
        assert all(callable(getattr(SqliteStore, m)) for m in own), role


def test_a_second_process_on_the_same_state_exits_2_naming_file_and_holder(tmp_path):
    state = tmp_path / "state.db"
    (tmp_path / "config.toml").write_text(
        f'[alerter]\nstate = "{state}"\nrules = []\n', encoding="utf-8"
    )
    holder = SqliteStore(str(state))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "alerter", "run", "--once", "--config", "config.toml"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        holder.close()
    assert proc.returncode == 2, proc.stderr
    assert str(state) in proc.stderr
    assert f"PID {os.getpid()}" in proc.stderr


def test_the_lock_is_released_on_close_and_readers_need_none(tmp_path):
    path = str(tmp_path / "state.db")
    first = SqliteStore(path)
    with pytest.raises(StoreError, match="in use by another alerter process"):
        SqliteStore(path)
    reader = SqliteStore(path, lock=False)  # `alerter status`, `silence add`
    reader.add_silence(None, {"sku": "a"}, T0, T0 + H)
    reader.close()
    first.close()
    SqliteStore(path).close()


def test_migrations_run_once_when_two_stores_open_a_new_file_at_once(tmp_path):
    path = str(tmp_path / "state.db")
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            SqliteStore(path, lock=False).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    again = SqliteStore(path)
    assert again.schema_version() == migrations()[-1][0]
    again.close()


def test_write_seq_survives_restarts_so_old_rows_never_read_as_new(tmp_path):
    path = str(tmp_path / "state.db")
    store = SqliteStore(path)
    first = store.upsert("s", FetchResult([], [], table=table([("a", 0, "1")])), T0)
    store.close()
    store = SqliteStore(path)
    second = store.upsert("s", FetchResult([], [], table=table([("b", 1, "2")])), T0 + H)
    assert second.seq > first.seq
    assert store.written("s", first.seq, T0 + 5 * H) == [(make_key({"sku": "b"}), T0 + H)]
    store.close()


def test_table_upsert_keeps_money_exact_and_records_revisions(store):
    report = store.upsert("s", FetchResult([], [], table=table([("a", 0, "1.10")])), T0)
    assert (report.new, report.unchanged) == (1, 0)
    same = store.upsert("s", FetchResult([], [], table=table([("a", 0, "1.1")])), T0)
    assert (same.new, same.unchanged, same.revised) == (0, 1, [])
    changed = store.upsert(
        "s", FetchResult([], [], table=table([("a", 0, "0.3000000001")])), T0 + H
    )
    assert changed.revised == [(KEY, T0)]
    (point,) = store.load_points("s", T0, T0 + H)
    assert point.amount == Decimal("0.3000000001")
    assert store.revisions("s", KEY, T0) == [Decimal("1.1")]
    assert store.revised_since("s", same.seq) == [(KEY, T0)]
    assert store.revised_since("s", changed.seq) == []


def test_points_and_table_rows_of_one_fetch_land_together(store):
    other = make_key({"sku": "z"})
    result = FetchResult(
        [CostPoint("s", other, T0, T0 + H, Decimal("5"))],
        [Coverage(T0, T0 + 2 * H)],
        table=table([("a", 0, "1"), ("a", 1, "2")]),
    )
    assert store.upsert("s", result, T0).new == 3
    series = store.load_series("s", T0, T0 + 2 * H)
    got = {
        (series.keys[k], int(s)): a
        for k, s, a in zip(series.key_index, series.starts, series.amounts, strict=True)
    }
    t0 = int(T0.timestamp())
    assert got == {(other, t0): 5.0, (KEY, t0): 1.0, (KEY, t0 + 3600): 2.0}


def test_a_point_too_large_for_the_store_is_dropped_alone(store):
    huge = CostPoint("s", make_key({"sku": "x"}), T0, T0 + H, Decimal("1e40"))
    fine = CostPoint("s", KEY, T0, T0 + H, Decimal("3"))
    assert store.upsert("s", FetchResult([huge, fine], []), T0).new == 1
    assert [p.key for p in store.load_points("s", T0, T0 + H)] == [KEY]


def test_points_rolled_back_with_the_cycle_are_gone_for_readers(store):
    store.upsert("s", FetchResult([], [], table=table([("a", 0, "1")])), T0)
    store.load_series("s", T0, T0 + 3 * H)  # the mirror holds hour 0
    with pytest.raises(RuntimeError), store.transaction():
        store.upsert("s", FetchResult([], [], table=table([("a", 1, "9")])), T0)
        assert store.load_series("s", T0, T0 + 3 * H).amounts.tolist() == [1.0, 9.0]
        raise RuntimeError("crash before commit")
    assert store.load_series("s", T0, T0 + 3 * H).amounts.tolist() == [1.0]


def test_file_marks_round_trip(store):
    mark = FileMark("/data/a.csv", 10, 123, None, T0, T0 + H, T0 + H)
    store.set_file_marks("csv", [mark])
    assert store.file_marks("csv") == {"/data/a.csv": mark}
    assert store.file_marks("other") == {}
    store.set_consumed_seq("csv", 7)
    assert store.consumed_seq("csv") == 7


def _csv(tmp_path: Path, store: SqliteStore) -> CsvSource:
    cfg = CsvConfig(path="*.csv", dimensions=["sku"], step=H)
    return CsvSource("c", cfg, SourceContext(FakeClock(T0), {}, tmp_path, marks=store))


def test_an_unchanged_csv_is_not_read_again_and_a_changed_one_gives_revisions(tmp_path, store):
    path = tmp_path / "d.csv"
    path.write_text("timestamp,amount,sku\n2026-09-07T00:10:00Z,1.5,a\n", encoding="utf-8")
    source = _csv(tmp_path, store)
    first = asyncio.run(source.fetch(T0, T0 + 3 * H))
    assert len(first.file_marks) == 1
    assert store.upsert("c", first, T0).new == 1
    store.set_file_marks("c", first.file_marks)

    again = asyncio.run(source.fetch(T0, T0 + 3 * H))
    assert again.n_points == 0 and again.coverage == [] and again.errors == []
    assert again.file_marks == first.file_marks

    path.write_text(
        "timestamp,amount,sku\n2026-09-07T00:10:00Z,2.5,a\n2026-09-07T01:00:00Z,1,a\n",
        encoding="utf-8",
    )
    os.utime(path, ns=(1, first.file_marks[0].mtime_ns + 1_000_000_000))
    changed = asyncio.run(source.fetch(T0, T0 + 3 * H))
    report = store.upsert("c", changed, T0 + H)
    assert report.revised == [(KEY, T0)] and report.new == 1
    assert store.revisions("c", KEY, T0) == [Decimal("1.5")]


def test_a_csv_the_columnar_reader_refuses_still_names_its_line(tmp_path, store):
    (tmp_path / "d.csv").write_text(
        "timestamp,amount,sku\n2026-09-07T00:00:00Z,1,a\n2026-09-07T01:00:00,2,a\n",
        encoding="utf-8",
    )
    result = asyncio.run(_csv(tmp_path, store).fetch(T0, T0 + 3 * H))
    assert result.table is None and result.file_marks == []
    (error,) = result.errors
    assert "d.csv:3" in error and "without a UTC offset" in error
