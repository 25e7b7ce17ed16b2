"""The SQLite connection every SQLite role shares: one file, WAL, one process, migrations."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import IO

from alerter.errors import StateInUse, StoreError

# the column readers live with the row mapping both backends share (re-exported here for
# the SQLite roles that import them from this module)
from alerter.store.rows import as_float as as_float
from alerter.store.rows import as_int as as_int
from alerter.store.rows import as_str as as_str
from alerter.store.rows import dt as dt
from alerter.store.rows import dt_or_none as dt_or_none
from alerter.store.rows import str_or_none as str_or_none
from alerter.store.rows import ts as ts

log = logging.getLogger(__name__)


def migrations() -> list[tuple[int, str]]:
    """``(version, script)`` of every packaged migration, in order."""
    folder = resources.files("alerter.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def split_sql(script: str) -> list[str]:
    """Statements of a migration: comments dropped first (they may hold semicolons)."""
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]


class StateLock:
    """An exclusive lock on ``<state>.lock`` held for the life of the process's store,
    so two daemons never share one state file (they would alert twice)."""

    def __init__(self, state: str) -> None:
        self.path = state + ".lock"
        self._file: IO[str] | None = None
        try:
            handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held open
        except OSError as exc:
            raise StoreError(f"cannot open lock file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise StateInUse(
                f"state file {state} is in use by another alerter process (PID {holder}); "
                "one process per SQLite state file (use PostgreSQL for several)"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class SqliteDatabase:
    """One SQLite state file (WAL) shared by the SQLite roles; safe across threads.

    ``lock=True`` (the daemon) takes the state file's process lock; commands that only
    read or add silences (``status``, ``silence``) pass ``lock=False``.
    """

    def __init__(self, path: str, *, lock: bool = True) -> None:
        self.path = path
        self._state_lock: StateLock | None = None
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of state file {path}: {exc}") from None
        if lock and path != ":memory:":
            self._state_lock = StateLock(path)
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
        except sqlite3.Error as exc:
            self._release_lock()
            raise StoreError(f"cannot open state file {path}: {exc}") from exc
        self._lock = threading.RLock()
        self._depth = 0
        self._on_rollback: list[Callable[[], None]] = []
        try:
            self._migrate()
        except BaseException:
            self._db.close()
            self._release_lock()
            raise

    def _release_lock(self) -> None:
        if self._state_lock is not None:
            self._state_lock.release()
            self._state_lock = None

    def _migrate(self) -> None:
        """Apply pending migrations, each in its own write transaction; the version is
        read inside that transaction, so two processes never apply one twice."""
        known = migrations()
        latest = known[-1][0] if known else 0
        with self._lock:
            for version, sql in known:
                try:
                    self._db.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as exc:
                    raise StoreError(f"cannot lock state file {self.path}: {exc}") from exc
                try:
                    current = int(self._db.execute("PRAGMA user_version").fetchone()[0])
                    if current > latest:
                        raise StoreError(
                            f"state file {self.path} has schema version {current}, newer than "
                            f"this alerter knows ({latest}); upgrade alerter"
                        )
                    if version <= current:
                        self._db.execute("COMMIT")
                        continue
                    for statement in split_sql(sql):
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {version}")
                    self._db.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._db.execute("ROLLBACK")
                    raise StoreError(
                        f"migration {version:04d} failed on {self.path}: {exc}"
                    ) from exc
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                log.info("store_migrated path=%s version=%d", self.path, version)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                for hook in self._on_rollback:
                    hook()
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._depth = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self._release_lock()

    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])
