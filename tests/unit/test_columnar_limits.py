"""Large CSV files: DuckDB's memory grows with them, and a bad row in a file too large for
the row-by-row reader is named by DuckDB's own reading instead."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest

from alerter.clock import FakeClock
from alerter.errors import BadResponse
from alerter.sources import columnar
from alerter.sources.base import SourceContext
from alerter.sources.csv_file import CsvConfig, CsvSource
from tests.conftest import T0

H = timedelta(hours=1)


def source(tmp_path: Path) -> CsvSource:
    cfg = CsvConfig(path="*.csv", dimensions=["sku"], step=H)
    return CsvSource("c", cfg, SourceContext(FakeClock(T0), {}, tmp_path))


def test_memory_grows_with_the_files_between_a_floor_and_a_cap(tmp_path):
    small, big = tmp_path / "s.csv", tmp_path / "b.csv"
    small.write_bytes(b"x" * 10)
    assert columnar.memory_for([small]) == 1 << 30
    with big.open("wb") as f:  # a sparse 2.5 GB file: size is all that counts
        f.truncate(2_500_000_000)
    assert columnar.memory_for([big]) == 2_000_000_000
    assert columnar.memory_for([big, big, big]) == 4 << 30
    assert columnar.memory_for([tmp_path / "gone.csv"]) == 1 << 30


def test_a_bad_row_in_a_large_file_is_named_without_the_row_reader(tmp_path, monkeypatch):
    monkeypatch.setattr(columnar, "ROW_READER_MAX_BYTES", 10)
    (tmp_path / "d.csv").write_text(
        "timestamp,amount,sku\n"
        "2026-09-07T00:00:00Z,1,a\n"
        "2026-09-07T01:00:00Z,2,a\n"
        "2026-09-07T02:00:00Z,two,a\n"
        "2026-09-07T03:00:00,4,a\n",
        encoding="utf-8",
    )

    def no_row_reader(*_args: object) -> None:
        raise AssertionError("the row reader must not read a file this large")

    monkeypatch.setattr(CsvSource, "_read_file", no_row_reader)
    with pytest.raises(BadResponse) as err:
        asyncio.run(source(tmp_path).fetch(T0, T0 + 24 * H))
    text = str(err.value)
    assert "d.csv" in text and "2 row(s)" in text
    assert "data row 3 (line 4" in text and "'two'" in text


def test_a_small_file_with_a_bad_row_still_goes_to_the_row_reader(tmp_path):
    (tmp_path / "d.csv").write_text(
        "timestamp,amount,sku\n2026-09-07T00:00:00Z,1,a\n2026-09-07T01:00:00Z,two,a\n",
        encoding="utf-8",
    )
    got = asyncio.run(source(tmp_path).fetch(T0, T0 + 24 * H))
    (error,) = got.errors
    assert "d.csv:3" in error
