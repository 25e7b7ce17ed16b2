"""Helpers every command shares: the environment, the clock, the state."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from alerter.errors import AlerterError, ConfigError

if TYPE_CHECKING:
    from alerter.config import Config
    from alerter.store.leases import LeaseRow
    from alerter.store.postgres import PostgresStore
    from alerter.store.sqlite import SqliteStore


class UsageError(AlerterError):
    """A command-line argument is wrong (exit 2, one line)."""


def _now() -> datetime:
    """The process's clock (``ALERTER_CLOCK_START`` pins it for replays and tests)."""
    from alerter.clock import clock_from_env

    return clock_from_env(os.environ).now()


def _env() -> Mapping[str, str]:
    return os.environ


def _state_path(config: Config) -> str:
    from alerter.statepath import state_file

    return state_file(config.alerter.state, config.base_dir)


def _open_state(config: Config, *, lock: bool = False) -> SqliteStore | PostgresStore:
    """The configured state (the same file or database the daemon uses), checked first.

    ``lock``: take the one-process lock of a SQLite state (``run``); other commands read
    and add beside a running daemon."""
    from alerter.statepath import check_state_path
    from alerter.store.postgres import PostgresStore, is_postgres_url
    from alerter.store.sqlite import SqliteStore

    if is_postgres_url(config.alerter.state):
        return PostgresStore(config.alerter.state, holder="alerter-cli")
    path = _state_path(config)
    problem = check_state_path(path, create=True)
    if problem:
        raise ConfigError(problem)
    return SqliteStore(path, lock=lock)


def _leases(store: SqliteStore | PostgresStore) -> list[LeaseRow] | None:
    """Every source's lease (PostgreSQL state), or None (SQLite: one process, no leases)."""
    from alerter.store.postgres import PostgresStore

    if not isinstance(store, PostgresStore):
        return None
    lease_store = store.lease_store()
    try:
        return lease_store.leases()
    finally:
        lease_store.close()
