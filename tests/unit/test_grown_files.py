"""A CSV file that only grew is read from where the last read ended; anything else whole."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from alerter.clock import FakeClock
from alerter.domain import Coverage, key_get
from alerter.sources.base import FetchResult, FileMark, SourceContext
from alerter.sources.columnar import fingerprint
from alerter.sources.csv_file import CsvConfig, CsvSource
from alerter.store.sqlite import SqliteStore
from tests.conftest import T0

H = timedelta(hours=1)
HEADER = "timestamp,amount,sku\n"


def row(hour: int, amount: str, sku: str = "a") -> str:
    return f"{(T0 + hour * H):%Y-%m-%dT%H:%M:%SZ},{amount},{sku}\n"


@pytest.fixture
def store():
    s = SqliteStore(":memory:")
    yield s
    s.close()


def source(tmp_path: Path, store: SqliteStore) -> CsvSource:
    cfg = CsvConfig(path="*.csv", dimensions=["sku"], step=H)
    return CsvSource("c", cfg, SourceContext(FakeClock(T0), {}, tmp_path, marks=store))


@dataclass
class Polled:
    got: FetchResult
    read: int
    """Rows the store was handed (new, revised and unchanged points)."""

    @property
    def coverage(self) -> list[Coverage]:
        return self.got.coverage

    @property
    def file_marks(self) -> list[FileMark]:
        return self.got.file_marks


def cycle(src: CsvSource, store: SqliteStore, until_hours: int = 48) -> Polled:
    """One poll as the daemon does it: fetch, store the points, keep the file marks."""
    got = asyncio.run(src.fetch(T0, T0 + until_hours * H))
    assert got.errors == []
    with store.transaction():
        report = store.upsert("c", got, T0)
        store.set_file_marks("c", got.file_marks)
    return Polled(got, report.new + len(report.revised) + report.unchanged)


def stored(store: SqliteStore) -> dict[tuple[str, int], Decimal]:
    return {
        (key_get(p.key, "sku"), int((p.start - T0) / H)): p.amount
        for p in store.load_points("c", T0, T0 + 48 * H)
    }


def append(path: Path, text: str, bump: int = 1) -> None:
    mtime = path.stat().st_mtime_ns
    with path.open("a", encoding="utf-8") as f:
        f.write(text)
    os.utime(path, ns=(mtime + bump * 1_000_000_000, mtime + bump * 1_000_000_000))


def test_only_the_new_rows_of_a_grown_file_are_read(tmp_path, store, caplog):
    path = tmp_path / "usage.csv"
    path.write_text(HEADER + row(0, "1.5") + row(0, "2", "b") + row(1, "3"), encoding="utf-8")
    src = source(tmp_path, store)
    first = cycle(src, store)
    assert first.read == 3

    append(path, row(2, "4.25") + row(2, "1", "b") + row(2, "0.75"))
    caplog.set_level("INFO", logger="alerter.sources.grown")
    grew = cycle(src, store)
    # only hour 2 was read: its two rows of sku a summed, nothing of hours 0-1 again
    assert grew.read == 2
    assert [r.message for r in caplog.records if "csv_grown " in r.message]
    assert [(c.start, c.end) for c in grew.coverage] == [(T0 + 2 * H, T0 + 3 * H)]
    (mark,) = grew.file_marks
    assert mark.size == path.stat().st_size
    assert mark.fingerprint == fingerprint(path, path.stat().st_size)
    assert mark.read_since == first.file_marks[0].read_since
    assert stored(store) == {
        ("a", 0): Decimal("1.5"),
        ("b", 0): Decimal("2"),
        ("a", 1): Decimal("3"),
        ("a", 2): Decimal("5.00"),
        ("b", 2): Decimal("1"),
    }
    # and then the file is unchanged
    assert cycle(src, store).read == 0


def test_a_gap_between_the_old_end_and_the_new_rows_is_covered_as_zero(tmp_path, store):
    path = tmp_path / "usage.csv"
    path.write_text(HEADER + row(0, "1"), encoding="utf-8")
    src = source(tmp_path, store)
    cycle(src, store)
    append(path, row(3, "2"))
    grew = cycle(src, store)
    # a whole read would cover hours 0-3; the new read covers from the old end (hour 1)
    assert [(c.start, c.end) for c in grew.coverage] == [(T0 + H, T0 + 4 * H)]


def test_new_rows_for_an_old_window_read_the_file_whole(tmp_path, store):
    path = tmp_path / "usage.csv"
    path.write_text(HEADER + row(0, "1") + row(1, "2"), encoding="utf-8")
    src = source(tmp_path, store)
    cycle(src, store)
    append(path, row(1, "0.5") + row(2, "7"))
    grew = cycle(src, store)
    assert grew.read == 3  # the whole file again: hour 1 is 2 + 0.5, a revision
    assert stored(store) == {
        ("a", 0): Decimal("1"),
        ("a", 1): Decimal("2.5"),
        ("a", 2): Decimal("7"),
    }
    assert store.revisions(
        "c", next(iter(store.load_points("c", T0 + H, T0 + 2 * H))).key, T0 + H
    ) == [Decimal("2")]


def test_a_rewritten_file_of_greater_size_is_read_whole(tmp_path, store):
    path = tmp_path / "usage.csv"
    path.write_text(HEADER + row(0, "1") + row(1, "2"), encoding="utf-8")
    src = source(tmp_path, store)
    cycle(src, store)
    mtime = path.stat().st_mtime_ns
    path.write_text(HEADER + row(0, "9") + row(1, "2") + row(2, "3"), encoding="utf-8")
    os.utime(path, ns=(mtime + 10**9, mtime + 10**9))
    grew = cycle(src, store)
    assert grew.read == 3
    assert stored(store)[("a", 0)] == Decimal("9")


def test_a_half_written_last_line_waits_for_its_end(tmp_path, store):
    path = tmp_path / "usage.csv"
    path.write_text(HEADER + row(0, "1"), encoding="utf-8")
    src = source(tmp_path, store)
    cycle(src, store)
    whole = row(1, "12.5")
    append(path, row(1, "3", "b") + whole[:-4])  # "...,12" of "12.5,a\n" so far
    grew = cycle(src, store)
    assert stored(store) == {("a", 0): Decimal("1"), ("b", 1): Decimal("3")}
    assert grew.file_marks[0].size < path.stat().st_size
    append(path, whole[-4:], bump=2)
    cycle(src, store)
    # the finished line lands whole: 12.5, never a truncated 12
    assert stored(store)[("a", 1)] == Decimal("12.5")


def test_a_bad_new_row_names_the_file_and_line(tmp_path, store):
    path = tmp_path / "usage.csv"
    path.write_text(HEADER + row(0, "1"), encoding="utf-8")
    src = source(tmp_path, store)
    cycle(src, store)
    append(path, row(1, "2") + f"{T0 + 2 * H:%Y-%m-%dT%H:%M:%S},3,a\n")  # no UTC offset
    got = asyncio.run(src.fetch(T0, T0 + 48 * H))
    (error,) = got.errors
    assert "usage.csv:4" in error


def test_another_file_growing_into_windows_only_one_file_held_is_read_whole(tmp_path, store):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text(HEADER + row(0, "1") + row(5, "1"), encoding="utf-8")
    b.write_text(HEADER + row(0, "2", "b"), encoding="utf-8")
    src = source(tmp_path, store)
    cycle(src, store)
    # b gains hour 3: before a's end (hour 6), so new rows may meet stored sums: whole read
    append(b, row(3, "4", "b"))
    grew = cycle(src, store)
    assert grew.read == 4
    assert stored(store)[("b", 3)] == Decimal("4")


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, ""), (5, "abc\nd"), (4, "abc\n")],
)
def test_fingerprint_needs_whole_lines(tmp_path, size, text):
    path = tmp_path / "f.csv"
    path.write_bytes(text.encode())
    got = fingerprint(path, size)
    assert (got is not None) == (size > 0 and text[:size].endswith("\n"))
    gz = tmp_path / "f.csv.gz"
    gz.write_bytes(b"abc\n")
    assert fingerprint(gz, 4) is None


def test_an_hour_in_progress_read_once_is_not_read_again(tmp_path, store):
    path = tmp_path / "usage.csv"
    path.write_text(HEADER + row(0, "1") + row(1, "2"), encoding="utf-8")
    src = source(tmp_path, store)
    until = T0 + H + timedelta(minutes=30)  # hour 1 is in progress, and in the file
    got = asyncio.run(src.fetch(T0, until))
    with store.transaction():
        store.upsert("c", got, T0)
        store.set_file_marks("c", got.file_marks)
    assert stored(store) == {("a", 0): Decimal("1"), ("a", 1): Decimal("2")}
    again = asyncio.run(src.fetch(T0, until + timedelta(minutes=5)))
    assert again.table is None and again.file_marks == got.file_marks  # unchanged: skipped
    # a file holding a window that starts after the range was clipped: read again later
    append(path, row(3, "4"))
    clipped = asyncio.run(src.fetch(T0, until))
    (mark,) = clipped.file_marks
    assert mark.data_end == T0 + 4 * H and mark.read_until < mark.data_end
