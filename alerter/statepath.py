"""The state file's path checked before SQLite opens it: one line naming the path and the
reason (missing folder that cannot be created, not writable, read-only file)."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from alerter.errors import StoreError


def state_file(state: str, base: Path) -> str:
    """The configured ``[alerter] state`` as SQLite will open it (see ``sqlite_path``)."""
    from alerter.store.sqlite import sqlite_path

    try:
        return sqlite_path(state, base)
    except StoreError as exc:
        from alerter.errors import ConfigError

        raise ConfigError(f"alerter.state: {exc}") from None


def _reason(exc: OSError) -> str:
    return exc.strerror or errno.errorcode.get(exc.errno or 0, str(exc))


def _writable_dir(folder: Path) -> str | None:
    """None if a file can be created in ``folder``, else why not."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return "permission denied"
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".alerter-probe-"):
            pass
    except OSError as exc:
        return _reason(exc).lower()
    return None


def check_state_path(path: str, *, create: bool) -> str | None:
    """A one-line problem with the state file at ``path``, or None.

    With ``create``, a missing folder is made (as the store would); without it (for
    ``validate``), nothing is created and the nearest existing folder is checked.
    """
    if path == ":memory:":
        return None
    file = Path(path)
    where = f"state file {file}"
    if file.is_dir():
        return f"{where}: is a folder, not a file"
    folder = file.parent
    if create:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            return f"{where}: cannot create folder {folder}: a file is in the way"
        except OSError as exc:
            return f"{where}: cannot create folder {folder}: {_reason(exc).lower()}"
    else:
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            return f"{where}: cannot create folder {folder}: {probe} is a file"
        if probe != folder:
            why = _writable_dir(probe)
            return f"{where}: cannot create folder {folder}: {why}" if why else None
    if not folder.is_dir():
        return f"{where}: {folder} is not a folder"
    why = _writable_dir(folder)
    if why:
        return f"{where}: folder {folder} is not writable: {why}"
    if file.exists():
        try:
            with file.open("r+b"):
                pass
        except OSError as exc:
            return f"{where}: cannot open for writing: {_reason(exc).lower()}"
        if not os.access(file, os.W_OK):
            return f"{where}: read-only file (permission denied)"
    return None
