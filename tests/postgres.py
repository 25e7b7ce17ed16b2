"""Scratch PostgreSQL databases for tests: created with a unique name, dropped after.

The server is the machine's PostgreSQL (``ALERTER_TEST_PG``, default
``postgresql://postgres@127.0.0.1:5432``, trust auth). A server that does not answer
fails the test with a message saying how to start it: nothing is skipped silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

SERVER = os.environ.get("ALERTER_TEST_PG", "postgresql://postgres@127.0.0.1:5432")
START_HINT = (
    "start it with: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
)


def _admin() -> psycopg.Connection:
    try:
        return psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=30)
    except psycopg.OperationalError as exc:
        raise AssertionError(
            f"PostgreSQL at {SERVER} is not reachable ({exc}); {START_HINT}"
        ) from None


@contextmanager
def scratch_database(prefix: str = "alerter_test") -> Iterator[str]:
    """A new empty database; yields its URL and drops it (and its sessions) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER}/{name}"
    finally:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
