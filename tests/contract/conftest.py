"""Store fixtures shared by the store contracts: every case runs on SQLite state and on
PostgreSQL state (a scratch database of the machine's server, ``tests/postgres.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alerter.store.base import Store
from alerter.store.postgres import PostgresStore
from alerter.store.sqlite import SqliteStore
from tests.postgres import scratch_database

OpenStore = Callable[..., Any]


@pytest.fixture(params=["sqlite", "postgres"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens a store on one fresh state; calling it twice gives two handles on the same
    state, as two processes (or replicas) would have (SQLite: one at a time)."""
    opened: list[Any] = []
    if request.param == "sqlite":

        def make(**_: Any) -> Any:
            opened.append(SqliteStore(str(tmp_path / "state.db")))
            return opened[-1]

        yield make
    else:
        with scratch_database("alerter_contract") as url:

            def make(**kwargs: Any) -> Any:
                opened.append(PostgresStore(url, **kwargs))
                return opened[-1]

            yield make
            for store in opened:
                store.close()
            opened.clear()
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: OpenStore) -> Store:
    return open_store()  # type: ignore[no-any-return]


@pytest.fixture
def pg_url() -> Iterator[str]:
    with scratch_database("alerter_contract") as url:
        yield url
