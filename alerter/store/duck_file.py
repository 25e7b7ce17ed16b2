"""A DuckDB file beside the state, held only while in use (``DuckFile``): one process
writes it at a time; others (a command beside a running daemon) wait for it, with
backoff, up to ``lock_wait`` seconds, then fail with an error naming the file."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from alerter.errors import StoreError


class DuckFile:
    """A DuckDB file held only while in use: opened for a block (a cycle, a web request) and
    let go when the last block ends, so other processes can read it between cycles;
    writes inside ``joined`` share one transaction. ``schema`` runs on every writable open."""

    def __init__(
        self,
        path: str,
        *,
        schema: str,
        memory_limit: str = "512MB",
        read_only: bool = False,
        lock_wait: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = path
        self._memory_limit = memory_limit
        self._read_only = read_only and path != ":memory:" and Path(path).exists()
        self._lock_wait = lock_wait
        self._sleep = sleep
        self._lock = threading.RLock()
        self._schema = schema
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._depth = 0
        self._closed = False
        self._joined = self._began = False
        with self._session():  # the schema, and a clear error now if the file is unusable
            pass

    def _open(self) -> duckdb.DuckDBPyConnection:
        """Connect, waiting up to ``lock_wait`` seconds while another process holds the
        file (the daemon between its cycles, or a command reading it)."""
        waited, pause = 0.0, 0.05
        while True:
            try:
                if self.path != ":memory:":
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                db = duckdb.connect(self.path, read_only=self._read_only)
                try:
                    db.execute(f"SET memory_limit='{self._memory_limit}'").fetchall()
                    db.execute("SET preserve_insertion_order=false").fetchall()
                    if not self._read_only:
                        db.execute(self._schema).fetchall()
                except BaseException:
                    db.close()
                    raise
                return db
            except (duckdb.Error, OSError) as exc:
                held = "lock" in str(exc).lower()
                if held and waited < self._lock_wait:
                    self._sleep(pause)
                    waited += pause
                    pause = min(pause * 2, 1.0)
                    continue
                if held:
                    raise StoreError(
                        f"points file {self.path} is in use by another process (a running "
                        f"daemon or a command reading it): still locked after {waited:g}s"
                    ) from exc
                raise StoreError(f"cannot open points file {self.path}: {exc}") from exc

    @contextmanager
    def _hold(self) -> Iterator[None]:
        """Keep the connection open for the block (without taking the lock through it).
        A file-backed store lets go of the file when the last block ends, so other
        processes can read it between cycles (DuckDB gives one process a writable file,
        with no reader beside it)."""
        with self._lock:
            if self._closed:
                raise StoreError(f"points file {self.path} is closed")
            if self._conn is None:
                self._conn = self._open()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0 and self.path != ":memory:":
                    conn, self._conn = self._conn, None
                    if conn is not None:
                        conn.close()

    @contextmanager
    def _session(self) -> Iterator[None]:
        """The connection, open and for this thread alone, for the block."""
        with self._lock, self._hold():
            yield

    @property
    def _db(self) -> duckdb.DuckDBPyConnection:
        assert self._conn is not None, "used outside a session"
        return self._conn

    def close(self) -> None:
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    @contextmanager
    def joined(self) -> Iterator[None]:
        """Writes inside this block join one DuckDB transaction, committed when the block
        ends (before the caller commits its own) and rolled back if it raises."""
        with self._session():
            if self._joined:
                yield
                return
            self._joined = True
            try:
                yield
            except BaseException:
                if self._began:
                    self._rollback()
                raise
            else:
                if self._began:
                    self._db.execute("COMMIT").fetchall()
            finally:
                self._joined = self._began = False

    def _rollback(self) -> None:
        self._db.execute("ROLLBACK").fetchall()
        self._forget()

    def _forget(self) -> None:
        """Drop what is cached from the file (a rollback may have undone it)."""

    @contextmanager
    def _write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._session():
            if self._joined:
                if not self._began:
                    self._db.execute("BEGIN TRANSACTION").fetchall()
                    self._began = True
                yield self._db
                return
            self._db.execute("BEGIN TRANSACTION").fetchall()
            try:
                yield self._db
            except BaseException:
                self._rollback()
                raise
            self._db.execute("COMMIT").fetchall()

    def _scalar(self, sql: str, args: list[object] | None = None) -> int:
        rows = self._db.execute(sql, args or []).fetchall()
        return 0 if not rows or rows[0][0] is None else int(rows[0][0])
