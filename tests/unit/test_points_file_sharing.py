"""The points file is held only while in use, so commands read it beside a daemon."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from alerter.domain import CostPoint, Coverage, make_key
from alerter.errors import StoreError
from alerter.sources.base import FetchResult
from alerter.store.duck_points import DuckPoints
from alerter.store.point_rows import points_path
from alerter.store.sqlite import SqliteStore
from tests.conftest import T0

H = T0.resolution * 3_600_000_000
KEY = make_key({"sku": "a"})

# a second process that opens the points file for writing and keeps it until told
HOLDER = textwrap.dedent(
    """
    import sys
    from alerter.store.duck_points import DuckPoints
    points = DuckPoints(sys.argv[1])
    with points._session():
        print("holding", flush=True)
        sys.stdin.readline()
    print("released", flush=True)
    sys.stdin.readline()
    """
)


def write_hour(store: SqliteStore) -> None:
    point = CostPoint("s", KEY, T0, T0 + H, Decimal("1.25"))
    with store.transaction():
        store.upsert("s", FetchResult([point], [Coverage(T0, T0 + H)]), T0)


def test_a_command_reads_the_points_while_the_daemon_runs(tmp_path):
    state = str(tmp_path / "state.db")
    daemon = SqliteStore(state)  # holds the state's process lock, as `alerter run` does
    write_hour(daemon)
    reader = textwrap.dedent(
        """
        import sys
        from datetime import datetime, UTC
        from alerter.store.sqlite import SqliteStore
        store = SqliteStore(sys.argv[1], lock=False)
        points = store.load_points("s", datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
        print([str(p.amount) for p in points])
        """
    )
    got = subprocess.run(
        [sys.executable, "-c", reader, state], capture_output=True, text=True, timeout=120
    )
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == "['1.25']"
    write_hour(daemon)  # and the daemon writes again after the command has read
    daemon.close()


@pytest.fixture
def holder(tmp_path):
    path = str(tmp_path / "p.duckdb")
    DuckPoints(path).close()  # the file exists
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        yield path, proc
        proc.kill()


def test_a_file_held_elsewhere_is_a_clear_error_after_the_wait(holder):
    path, _proc = holder
    waits: list[float] = []
    with pytest.raises(StoreError) as err:
        DuckPoints(path, read_only=True, lock_wait=1.0, sleep=waits.append)
    assert path in str(err.value) and "in use by another process" in str(err.value)
    assert 0.9 <= sum(waits) <= 2.0 and max(waits) <= 1.0  # backs off, capped


def test_a_reader_waits_for_the_holder_to_let_go(holder):
    path, proc = holder
    assert proc.stdin is not None and proc.stdout is not None

    def sleep(_seconds: float) -> None:  # the holder's cycle ends while the reader waits
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "released"

    points = DuckPoints(path, read_only=True, lock_wait=5.0, sleep=sleep)
    assert points.last_seq() == 0
    points.close()


def test_points_path_sits_beside_the_state(tmp_path):
    assert points_path(str(tmp_path / "s.db")) == str(tmp_path / "s.db") + ".points.duckdb"
    assert Path(points_path(str(tmp_path / "s.db"))).parent == tmp_path
