"""SQLite store (standard library, WAL): the default state file."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path

import numpy as np

from alerter.domain import CostPoint, Coverage, Incident, Notification, SeriesKey, Severity
from alerter.errors import StoreError
from alerter.notify import payload
from alerter.sources.base import FetchResult
from alerter.store.base import OutboxItem, PollStatus, Silence, StoredSeries, UpsertReport
from alerter.store.sqlite_actions import SqliteIncidentActions

log = logging.getLogger(__name__)


def _ts(value: datetime) -> int:
    return int(value.timestamp())


def _dt(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _key_json(key: SeriesKey) -> str:
    return json.dumps([list(pair) for pair in key], separators=(",", ":"), ensure_ascii=False)


def _key_from(text: str) -> SeriesKey:
    return tuple((str(k), str(v)) for k, v in json.loads(text))


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("alerter.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def sqlite_path(state: str, base: Path) -> str:
    """``sqlite:///x.db``, ``sqlite://:memory:``, ``:memory:`` or a plain path (relative to base)."""
    raw = state
    if raw.startswith("sqlite:///"):
        raw = raw[len("sqlite:///") :]
    elif raw.startswith("sqlite://"):
        raw = raw[len("sqlite://") :]
    if raw == ":memory:":
        return raw
    if "://" in raw:
        raise StoreError(f"unsupported state URL scheme in {state!r} (use a SQLite path)")
    path = Path(raw).expanduser()
    return str(path if path.is_absolute() else base / path)


class SqliteStore:
    """State in one SQLite file (WAL journal); safe to share across threads."""

    def __init__(self, path: str) -> None:
        self.path = path
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open state file {path}: {exc}") from exc
        self._lock = threading.RLock()
        self._depth = 0
        self._mirrors: dict[str, _Mirror] = {}
        self._migrate()
        self._seq = int(self._db.execute("SELECT coalesce(max(seq), 0) FROM points").fetchone()[0])
        self.actions = SqliteIncidentActions(self._db, self._lock)
        """The incident-actions role (``store/actions.py``)."""

    # -- plumbing -----------------------------------------------------------------
    def _migrate(self) -> None:
        with self._lock:
            current = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            migrations = _migrations()
            latest = migrations[-1][0] if migrations else 0
            if current > latest:
                raise StoreError(
                    f"state file {self.path} has schema version {current}, newer than this "
                    f"alerter knows ({latest}); upgrade alerter"
                )
            for version, sql in migrations:
                if version <= current:
                    continue
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _split_sql(sql):
                        self._db.execute(statement)
                    self._db.execute(f"PRAGMA user_version = {version}")
                    self._db.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._db.execute("ROLLBACK")
                    raise StoreError(
                        f"migration {version:04d} failed on {self.path}: {exc}"
                    ) from exc
                log.info("store_migrated path=%s version=%d", self.path, version)

    @contextmanager
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
                self._mirrors.clear()  # they may hold rows that were just rolled back
                self._seq = int(
                    self._db.execute("SELECT coalesce(max(seq), 0) FROM points").fetchone()[0]
                )
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._depth = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    # -- points ---------------------------------------------------------------------
    def upsert(self, source: str, result: FetchResult, now: datetime) -> UpsertReport:
        stamp = _ts(now)
        revised: list[tuple[SeriesKey, datetime]] = []
        unchanged = 0
        names: dict[SeriesKey, str] = {}
        rows = [
            (
                names.get(p.key) or names.setdefault(p.key, _key_json(p.key)),
                _ts(p.start),
                _ts(p.end),
                str(p.amount),
                None if p.quantity is None else str(p.quantity),
                p.currency,
                p,
            )
            for p in result.points
        ]
        with self.transaction():
            self._seq += 1
            seq = self._seq
            existing: dict[tuple[str, int], tuple[str, str | None, int]] = {}
            if rows:
                lo = min(r[1] for r in rows)
                hi = max(r[1] for r in rows)
                for series, start, amount, quantity, revision in self._db.execute(
                    "SELECT series, start, amount, quantity, revision FROM points "
                    "WHERE source=? AND start>=? AND start<=?",
                    (source, lo, hi),
                ):
                    existing[(series, start)] = (amount, quantity, revision)
            inserts = []
            history = []
            updates = []
            for series, start, end, amount, quantity, currency, point in rows:
                old = existing.get((series, start))
                if old is None:
                    inserts.append(
                        (source, series, start, end, amount, quantity, currency, stamp, seq)
                    )
                    existing[(series, start)] = (amount, quantity, 0)
                elif old[0] == amount or Decimal(old[0]) == point.amount:
                    unchanged += 1
                else:
                    history.append((source, series, start, old[2], old[0], old[1], stamp))
                    updates.append((amount, quantity, stamp, seq, source, series, start))
                    existing[(series, start)] = (amount, quantity, old[2] + 1)
                    revised.append((point.key, point.start))
            self._db.executemany(
                "INSERT INTO points (source, series, start, end, amount, quantity, currency, "
                "revision, updated_at, seq) VALUES (?,?,?,?,?,?,?,0,?,?)",
                inserts,
            )
            self._db.executemany(
                "INSERT INTO point_revisions (source, series, start, revision, amount, quantity, "
                "replaced_at) VALUES (?,?,?,?,?,?,?)",
                history,
            )
            self._db.executemany(
                "UPDATE points SET amount=?, quantity=?, revision=revision+1, updated_at=?, seq=? "
                "WHERE source=? AND series=? AND start=?",
                updates,
            )
            for cov in result.coverage:
                self._cover(source, _key_json(cov.scope), _ts(cov.start), _ts(cov.end))
        return UpsertReport(new=len(inserts), revised=revised, unchanged=unchanged, seq=seq)

    def _cover(self, source: str, scope: str, start: int, end: int) -> None:
        """Record coverage, merged with overlapping or adjoining intervals of the scope."""
        rows = self._db.execute(
            "SELECT start, end FROM coverage WHERE source=? AND scope=? AND start<=? AND end>=?",
            (source, scope, end, start),
        ).fetchall()
        if rows:
            start = min(start, *(r[0] for r in rows))
            end = max(end, *(r[1] for r in rows))
            self._db.executemany(
                "DELETE FROM coverage WHERE source=? AND scope=? AND start=?",
                [(source, scope, r[0]) for r in rows],
            )
        self._db.execute(
            "INSERT INTO coverage (source, scope, start, end) VALUES (?,?,?,?)",
            (source, scope, start, end),
        )

    def written(self, source: str, seq: int, before: datetime) -> list[tuple[SeriesKey, datetime]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT series, start FROM points "
                "WHERE source=? AND seq=? AND revision=0 AND start<?",
                (source, seq, _ts(before)),
            ).fetchall()
        return [(_key_from(series), _dt(start) or before) for series, start in rows]

    def load_series(self, source: str, since: datetime, until: datetime) -> StoredSeries:
        """Served from an in-memory mirror of the source's recent points, refreshed with
        only the rows written since the last read (the write sequence)."""
        with self._lock:
            lo = _ts(since)
            mirror = self._mirrors.get(source)
            if mirror is None or lo < mirror.since:
                mirror = _Mirror(since=lo, seq=0)
                self._mirrors[source] = mirror
            rows = self._db.execute(
                "SELECT series, start, amount, currency, seq FROM points "
                "WHERE source=? AND seq>? AND start>=?",
                (source, mirror.seq, mirror.since),
            ).fetchall()
            mirror.merge(rows)
            return mirror.view(lo, _ts(until))

    def prune(
        self, source: str, points_before: datetime, history_before: datetime
    ) -> dict[str, int]:
        cut = _ts(points_before)
        old = _ts(history_before)
        statements = {
            "points": ("DELETE FROM points WHERE source=? AND start<?", (source, cut)),
            "point_revisions": (
                "DELETE FROM point_revisions WHERE source=? AND start<?",
                (source, cut),
            ),
            "coverage": ("DELETE FROM coverage WHERE source=? AND end<=?", (source, cut)),
            "coverage_trimmed": (
                "UPDATE OR REPLACE coverage SET start=? WHERE source=? AND start<?",
                (cut, source, cut),
            ),
            "outbox": (
                "DELETE FROM outbox WHERE status!='pending' AND created_at<? AND incident_id IN "
                "(SELECT id FROM incidents WHERE status='resolved' AND resolved_at<?)",
                (old, old),
            ),
            "delivery_refs": (
                "DELETE FROM delivery_refs WHERE incident_id IN (SELECT id FROM incidents "
                "WHERE status='resolved' AND resolved_at<?) AND incident_id NOT IN "
                "(SELECT incident_id FROM outbox)",
                (old,),
            ),
            "incidents": (
                "DELETE FROM incidents WHERE status='resolved' AND resolved_at<? AND id NOT IN "
                "(SELECT incident_id FROM outbox)",
                (old,),
            ),
            "silences": ("DELETE FROM silences WHERE ends_at<?", (old,)),
        }
        deleted: dict[str, int] = {}
        with self.transaction():
            for table, (sql, args) in statements.items():
                deleted[table] = self._db.execute(sql, args).rowcount
        return deleted

    def trim_cache(self, source: str, before: datetime) -> None:
        """Let the mirror forget points older than ``before`` (no reader needs them)."""
        with self._lock:
            mirror = self._mirrors.get(source)
            if mirror is not None:
                mirror.trim(_ts(before))

    def load_points(self, source: str, since: datetime, until: datetime) -> list[CostPoint]:
        """Exact stored points with ``since <= start < until`` (for replays)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT series, start, end, amount, quantity, currency FROM points "
                "WHERE source=? AND start>=? AND start<? ORDER BY start, series",
                (source, _ts(since), _ts(until)),
            ).fetchall()
        return [
            CostPoint(
                source,
                _key_from(series),
                _dt(start) or since,
                _dt(end) or until,
                Decimal(amount),
                None if quantity is None else Decimal(quantity),
                currency,
            )
            for series, start, end, amount, quantity, currency in rows
        ]

    def load_coverage(self, source: str, since: datetime, until: datetime) -> list[Coverage]:
        with self._lock:
            rows = self._db.execute(
                "SELECT scope, start, end FROM coverage WHERE source=? AND end>? AND start<?",
                (source, _ts(since), _ts(until)),
            ).fetchall()
        return [
            Coverage(start=_dt(s) or since, end=_dt(e) or until, scope=_key_from(scope))
            for scope, s, e in rows
        ]

    def revisions(self, source: str, key: SeriesKey, start: datetime) -> list[Decimal]:
        """Earlier amounts of one point, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT amount FROM point_revisions WHERE source=? AND series=? AND start=? "
                "ORDER BY revision",
                (source, _key_json(key), _ts(start)),
            ).fetchall()
        return [Decimal(r[0]) for r in rows]

    # -- polls and rule progress ---------------------------------------------------------
    def record_poll(
        self,
        source: str,
        at: datetime,
        *,
        ok: bool,
        error: str | None,
        points: int,
        errors: int,
        backfilled: bool | None = None,
    ) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO poll_status (source, last_attempt_at, last_success_at, last_error, "
                "backfilled, points, errors) VALUES (?,?,?,?,?,?,?) "
                "ON CONFLICT (source) DO UPDATE SET last_attempt_at=excluded.last_attempt_at, "
                "last_success_at=coalesce(excluded.last_success_at, last_success_at), "
                "last_error=excluded.last_error, backfilled=max(backfilled, excluded.backfilled), "
                "points=excluded.points, errors=excluded.errors",
                (
                    source,
                    _ts(at),
                    _ts(at) if ok else None,
                    error,
                    1 if (ok if backfilled is None else backfilled) else 0,
                    points,
                    errors,
                ),
            )

    def poll_status(self) -> list[PollStatus]:
        with self._lock:
            rows = self._db.execute(
                "SELECT source, last_attempt_at, last_success_at, last_error, backfilled, points, "
                "errors FROM poll_status ORDER BY source"
            ).fetchall()
        return [
            PollStatus(r[0], _dt(r[1]), _dt(r[2]), r[3], bool(r[4]), int(r[5]), int(r[6]))
            for r in rows
        ]

    def judged_through(self, rule: str) -> datetime | None:
        with self._lock:
            row = self._db.execute(
                "SELECT judged_through FROM rule_state WHERE rule=?", (rule,)
            ).fetchone()
        return None if row is None else _dt(row[0])

    def set_judged_through(self, rule: str, when: datetime) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO rule_state (rule, judged_through) VALUES (?, ?) "
                "ON CONFLICT (rule) DO UPDATE SET judged_through=excluded.judged_through",
                (rule, _ts(when)),
            )

    # -- incidents -------------------------------------------------------------------------
    _INCIDENT_COLUMNS = (
        "id, rule, grp, status, severity, opened_at, first_window, last_window, "
        "last_anomalous_window, observed, expected, peak_score, normal_streak, excess, currency, "
        "resolved_at, last_notified_at, revision, notified_delta, provisional, withdrawn"
    )

    def _incident(self, row: tuple[object, ...]) -> Incident:
        return Incident(
            id=int(row[0]),  # type: ignore[call-overload]
            rule=str(row[1]),
            group=_key_from(str(row[2])),
            status=str(row[3]),
            severity=Severity(str(row[4])),
            opened_at=_dt(row[5]),  # type: ignore[arg-type]
            first_window=_dt(row[6]),  # type: ignore[arg-type]
            last_window=_dt(row[7]),  # type: ignore[arg-type]
            last_anomalous_window=_dt(row[8]),  # type: ignore[arg-type]
            observed=Decimal(str(row[9])),
            expected=Decimal(str(row[10])),
            peak_score=float(row[11]),  # type: ignore[arg-type]
            normal_streak=int(row[12]),  # type: ignore[call-overload]
            excess=Decimal(str(row[13])),
            currency=str(row[14]),
            resolved_at=_dt(row[15]),  # type: ignore[arg-type]
            last_notified_at=_dt(row[16]),  # type: ignore[arg-type]
            revision=int(row[17]),  # type: ignore[call-overload]
            notified_delta=Decimal(str(row[18])),
            provisional=bool(row[19]),
            withdrawn=bool(row[20]),
        )

    def open_incident(self, rule: str, group: SeriesKey) -> Incident | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {self._INCIDENT_COLUMNS} FROM incidents "  # noqa: S608
                "WHERE rule=? AND grp=? AND status='open'",
                (rule, _key_json(group)),
            ).fetchone()
        return None if row is None else self._incident(row)

    def last_incident(self, rule: str, group: SeriesKey) -> Incident | None:
        with self._lock:
            row = self._db.execute(
                f"SELECT {self._INCIDENT_COLUMNS} FROM incidents "  # noqa: S608
                "WHERE rule=? AND grp=? ORDER BY id DESC LIMIT 1",
                (rule, _key_json(group)),
            ).fetchone()
        return None if row is None else self._incident(row)

    def save_incident(self, incident: Incident) -> Incident:
        values = (
            incident.rule,
            _key_json(incident.group),
            incident.status,
            incident.severity.value,
            _ts(incident.opened_at),
            _ts(incident.first_window),
            _ts(incident.last_window),
            _ts(incident.last_anomalous_window),
            str(incident.observed),
            str(incident.expected),
            incident.peak_score,
            incident.normal_streak,
            str(incident.excess),
            incident.currency,
            None if incident.resolved_at is None else _ts(incident.resolved_at),
            None if incident.last_notified_at is None else _ts(incident.last_notified_at),
            incident.revision,
            str(incident.notified_delta),
            int(incident.provisional),
            int(incident.withdrawn),
        )
        with self.transaction():
            if incident.id == 0:
                cur = self._db.execute(
                    "INSERT INTO incidents (rule, grp, status, severity, opened_at, first_window, "
                    "last_window, last_anomalous_window, observed, expected, peak_score, "
                    "normal_streak, excess, currency, resolved_at, last_notified_at, revision, "
                    "notified_delta, provisional, withdrawn) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    values,
                )
                return replace(incident, id=int(cur.lastrowid or 0))
            self._db.execute(
                "UPDATE incidents SET rule=?, grp=?, status=?, severity=?, opened_at=?, "
                "first_window=?, last_window=?, last_anomalous_window=?, observed=?, expected=?, "
                "peak_score=?, normal_streak=?, excess=?, currency=?, resolved_at=?, "
                "last_notified_at=?, revision=?, notified_delta=?, provisional=?, withdrawn=? "
                "WHERE id=?",
                (*values, incident.id),
            )
            return incident

    def incidents(self, status: str | None = None) -> list[Incident]:
        query = f"SELECT {self._INCIDENT_COLUMNS} FROM incidents"  # noqa: S608
        args: tuple[object, ...] = ()
        if status is not None:
            query += " WHERE status=?"
            args = (status,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [self._incident(r) for r in rows]

    # -- outbox ------------------------------------------------------------------------------
    def enqueue(self, msg: Notification, notifier: str, now: datetime) -> int:
        with self.transaction():
            cur = self._db.execute(
                "INSERT INTO outbox (incident_id, notifier, event, payload, status, attempts, "
                "next_attempt_at, created_at) VALUES (?,?,?,?,'pending',0,?,?)",
                (
                    msg.incident_id,
                    notifier,
                    msg.event.value,
                    payload.dumps(msg),
                    _ts(now),
                    _ts(now),
                ),
            )
            return int(cur.lastrowid or 0)

    def _item(self, row: tuple[object, ...]) -> OutboxItem:
        return OutboxItem(
            id=int(row[0]),  # type: ignore[call-overload]
            incident_id=int(row[1]),  # type: ignore[call-overload]
            notifier=str(row[2]),
            event=str(row[3]),
            payload=str(row[4]),
            status=str(row[5]),
            attempts=int(row[6]),  # type: ignore[call-overload]
            next_attempt_at=_dt(row[7]),  # type: ignore[arg-type]
            last_error=None if row[8] is None else str(row[8]),
            created_at=_dt(row[9]),  # type: ignore[arg-type]
        )

    _OUTBOX_COLUMNS = (
        "id, incident_id, notifier, event, payload, status, attempts, next_attempt_at, last_error, "
        "created_at"
    )

    def due(self, now: datetime, limit: int = 100) -> list[OutboxItem]:
        # The head of each (incident, notifier) queue only, so an update never overtakes
        # the post it updates.
        with self._lock:
            rows = self._db.execute(
                f"SELECT {self._OUTBOX_COLUMNS} FROM outbox o WHERE status='pending' "  # noqa: S608
                "AND id = (SELECT min(id) FROM outbox p WHERE p.status='pending' "
                "AND p.incident_id=o.incident_id AND p.notifier=o.notifier) "
                "AND next_attempt_at<=? ORDER BY id LIMIT ?",
                (_ts(now), limit),
            ).fetchall()
        return [self._item(r) for r in rows]

    def mark_sent(self, item_id: int, ref: str | None, now: datetime) -> None:
        with self.transaction():
            row = self._db.execute(
                "SELECT incident_id, notifier FROM outbox WHERE id=?", (item_id,)
            ).fetchone()
            self._db.execute(
                "UPDATE outbox SET status='sent', sent_at=?, attempts=attempts+1, last_error=NULL "
                "WHERE id=?",
                (_ts(now), item_id),
            )
            if ref is not None and row is not None:
                self._db.execute(
                    "INSERT INTO delivery_refs (incident_id, notifier, ref) VALUES (?,?,?) "
                    "ON CONFLICT (incident_id, notifier) DO NOTHING",
                    (row[0], row[1], ref),
                )

    def mark_retry(self, item_id: int, at: datetime, error: str) -> None:
        with self.transaction():
            self._db.execute(
                "UPDATE outbox SET attempts=attempts+1, next_attempt_at=?, last_error=? WHERE id=?",
                (_ts(at), error, item_id),
            )

    def mark_failed(self, item_id: int, error: str) -> None:
        with self.transaction():
            self._db.execute(
                "UPDATE outbox SET status='failed', attempts=attempts+1, last_error=? WHERE id=?",
                (error, item_id),
            )

    def defer(self, item_id: int, at: datetime) -> None:
        with self.transaction():
            self._db.execute("UPDATE outbox SET next_attempt_at=? WHERE id=?", (_ts(at), item_id))

    def sent_since(self, notifier: str, since: datetime) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT count(*) FROM outbox WHERE notifier=? AND status='sent' AND sent_at>=?",
                (notifier, _ts(since)),
            ).fetchone()
        return int(row[0])

    def outbox_items(self, status: str | None = None) -> list[OutboxItem]:
        query = f"SELECT {self._OUTBOX_COLUMNS} FROM outbox"  # noqa: S608
        args: tuple[object, ...] = ()
        if status is not None:
            query += " WHERE status=?"
            args = (status,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [self._item(r) for r in rows]

    def delivery_ref(self, incident_id: int, notifier: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT ref FROM delivery_refs WHERE incident_id=? AND notifier=?",
                (incident_id, notifier),
            ).fetchone()
        return None if row is None else str(row[0])

    # -- silences ------------------------------------------------------------------------------
    def add_silence(
        self,
        rule: str | None,
        matchers: dict[str, str],
        starts_at: datetime,
        ends_at: datetime,
        comment: str = "",
        created_by: str = "",
    ) -> int:
        with self.transaction():
            cur = self._db.execute(
                "INSERT INTO silences (rule, matchers, starts_at, ends_at, comment, created_by) "
                "VALUES (?,?,?,?,?,?)",
                (
                    rule,
                    json.dumps(matchers, sort_keys=True),
                    _ts(starts_at),
                    _ts(ends_at),
                    comment,
                    created_by,
                ),
            )
            return int(cur.lastrowid or 0)

    def silences(self, now: datetime | None = None) -> list[Silence]:
        query = "SELECT id, rule, matchers, starts_at, ends_at, comment, created_by FROM silences"
        args: tuple[object, ...] = ()
        if now is not None:
            query += " WHERE starts_at<=? AND ends_at>?"
            args = (_ts(now), _ts(now))
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [
            Silence(int(r[0]), r[1], json.loads(r[2]), _dt(r[3]), _dt(r[4]), r[5], r[6])  # type: ignore[arg-type]
            for r in rows
        ]

    def remove_silence(self, silence_id: int) -> bool:
        with self.transaction():
            cur = self._db.execute("DELETE FROM silences WHERE id=?", (silence_id,))
            return cur.rowcount > 0

    # -- sizes, for status and soak checks -----------------------------------------------------
    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                table: int(self._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
                for table in ("points", "point_revisions", "coverage", "incidents", "outbox")
            }


class _Mirror:
    """Columnar copy of one source's points with ``start >= since``, up to write ``seq``."""

    def __init__(self, since: int, seq: int) -> None:
        self.since = since
        self.seq = seq
        self.keys: list[SeriesKey] = []
        self.currencies: list[str] = []
        self.slots: dict[str, int] = {}
        self.key_index = np.empty(0, dtype=np.int64)
        self.starts = np.empty(0, dtype=np.int64)
        self.amounts = np.empty(0, dtype=np.float64)

    def merge(self, rows: list[tuple[str, int, str, str, int]]) -> None:
        if not rows:
            return
        series, starts, amounts, currencies, seqs = zip(*rows, strict=True)
        slots = self.slots
        for name, currency in zip(series, currencies, strict=True):
            if name not in slots:
                slots[name] = len(self.keys)
                self.keys.append(_key_from(name))
                self.currencies.append(currency)
        index = np.fromiter([slots[name] for name in series], np.int64, len(series))
        key_index = np.concatenate([self.key_index, index])
        start_arr = np.concatenate([self.starts, np.fromiter(starts, np.int64, len(starts))])
        amount_arr = np.concatenate([self.amounts, np.array(amounts, dtype=np.float64)])
        # keep the newest value of each (series, start): later rows win
        code = key_index * (1 << 34) + start_arr  # exact to the second until year 2514
        _, last = np.unique(code[::-1], return_index=True)
        keep = np.sort(len(code) - 1 - last)
        self.key_index, self.starts, self.amounts = (
            key_index[keep],
            start_arr[keep],
            amount_arr[keep],
        )
        self.seq = max(self.seq, max(seqs))

    def view(self, since: int, until: int) -> StoredSeries:
        mask = (self.starts >= since) & (self.starts < until)
        return StoredSeries(
            list(self.keys),
            self.key_index[mask],
            self.starts[mask],
            self.amounts[mask],
            list(self.currencies),
        )

    def trim(self, before: int) -> None:
        if before <= self.since:
            return
        keep = self.starts >= before
        self.key_index, self.starts, self.amounts = (
            self.key_index[keep],
            self.starts[keep],
            self.amounts[keep],
        )
        self.since = before


def _split_sql(script: str) -> list[str]:
    # Comments first (they may hold semicolons), then one statement per semicolon.
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
