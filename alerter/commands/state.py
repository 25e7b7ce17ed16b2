"""``alerter status``, ``series`` and ``silence``: what the state holds, and silences."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alerter.commands.common import UsageError, _env, _leases, _now, _open_state, _state_path
from alerter.store.actions import actions_of

if TYPE_CHECKING:
    from alerter.config import Config
    from alerter.store.postgres import PostgresStore
    from alerter.store.sqlite import SqliteStore


def _series(config: Config, args: argparse.Namespace) -> int:
    from alerter.series import EARLIEST, LATEST, render_table, sum_series
    from alerter.timeparse import parse_time

    if args.source not in config.sources:
        raise UsageError(
            f"--source {args.source!r}: no such source (have: {', '.join(config.sources)})"
        )
    try:
        since = parse_time(args.since) if args.since else EARLIEST
        until = parse_time(args.until) if args.until else LATEST
    except ValueError as exc:
        raise UsageError(f"--since/--until: {exc}") from None
    state = _existing_state(config)
    if state is None:
        return 1
    try:
        rows = sum_series(state.load_points(args.source, since, until), args.group_by)
    finally:
        state.close()
    for line in (r.as_json() for r in rows) if args.json else render_table(rows):
        print(line)
    return 0


def _existing_state(config: Config) -> SqliteStore | PostgresStore | None:
    """The state file if it exists (status and listings never create one)."""
    from alerter.store.postgres import PostgresStore, is_postgres_url
    from alerter.store.sqlite import SqliteStore

    if is_postgres_url(config.alerter.state):
        return PostgresStore(config.alerter.state, holder="alerter-cli")
    path = _state_path(config)
    if path != ":memory:" and not Path(path).is_file():
        print(
            f"alerter: no state file at {path}: alerter has not run with this config yet",
            file=sys.stderr,
        )
        return None
    return SqliteStore(path, lock=False)


def _status(config: Config, *, as_json: bool) -> int:
    from alerter.config import secret_values
    from alerter.logs import RedactFilter
    from alerter.notify.render import fmt
    from alerter.notify.render.text import group_label
    from alerter.table import table

    store = _existing_state(config)
    if store is None:
        return 1
    now = _now()
    hide = RedactFilter(secret_values(config, _env())).redact  # errors stored before a fix
    try:
        polls = store.poll_status()
        incidents = store.incidents("open")
        silences = store.silences(now)
        pending = store.outbox_items("pending")
        failed = store.outbox_items("failed")
        kept = actions_of(store)  # who acted on each incident from chat (issue 14)
        history = {i.id: kept.history(i.id) for i in incidents} if kept else {}
        leases = _leases(store)
    finally:
        store.close()
    lease_records = [
        {
            "source": row.source,
            "holder": row.holder,
            "token": row.token,
            "live": row.live,
            "seconds_left": round(row.seconds_left, 1),
            "takeovers": row.takeovers,
        }
        for row in leases or []
    ]
    if as_json:
        data = {
            "sources": [
                {
                    "source": p.source,
                    "last_success_at": p.last_success_at.isoformat() if p.last_success_at else None,
                    "last_attempt_at": p.last_attempt_at.isoformat() if p.last_attempt_at else None,
                    "last_error": hide(p.last_error) if p.last_error else None,
                    "points": p.points,
                }
                for p in polls
            ],
            "open_incidents": [
                {
                    "id": i.id,
                    "rule": i.rule,
                    "group": dict(i.group),
                    "since": i.opened_at.isoformat(),
                    "observed": str(i.observed),
                    "expected": str(i.expected),
                    "currency": i.currency,
                    "actions": [
                        {
                            "action": r.action.value,
                            "by": r.actor,
                            "at": r.at.isoformat(),
                            "detail": r.detail,
                        }
                        for r in history.get(i.id, [])
                    ],
                }
                for i in incidents
            ],
            "silences": [_silence_record(s) for s in silences],
            "outbox": {"pending": len(pending), "failed": len(failed)},
        }
        if leases is not None:
            data["leases"] = lease_records
        print(json.dumps(data, indent=2))
        return 0
    print("Sources")
    print(
        table(
            ["source", "last success", "last attempt", "points", "last error"],
            [
                [
                    p.source,
                    fmt.when(p.last_success_at),
                    fmt.when(p.last_attempt_at),
                    p.points,
                    _one_line(hide(p.last_error) if p.last_error else None),
                ]
                for p in polls
            ],
            empty="  (none polled yet)",
        )
    )
    print(f"\nOpen incidents: {len(incidents)}")
    if incidents:
        print(
            table(
                ["id", "rule", "group", "since", "observed", "expected"],
                [
                    [
                        f"#{i.id}",
                        i.rule,
                        group_label(i.group),
                        fmt.when(i.opened_at),
                        fmt.money(i.observed, i.currency),
                        fmt.money(i.expected, i.currency),
                    ]
                    for i in incidents
                ],
            )
        )
        for i in incidents:
            for r in history.get(i.id, []):
                print(f"  #{i.id} {r.action.value} by {r.actor} at {fmt.when(r.at)}: {r.detail}")
    print(f"\nActive silences: {len(silences)}")
    if silences:
        print(_silence_table(silences))
    print(f"\nOutbox: {len(pending)} pending, {len(failed)} failed")
    if leases is not None:
        print(f"\nLeases: {len(leases)}")
        print(
            table(
                ["source", "holder", "token", "state", "takeovers"],
                [
                    [
                        row.source,
                        row.holder,
                        row.token,
                        f"expires in {row.seconds_left:.0f}s" if row.live else "expired",
                        row.takeovers,
                    ]
                    for row in leases
                ],
            )
        )
    return 0


def _one_line(text: str | None, limit: int = 80) -> str:
    if not text:
        return "-"
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _silence_record(s: Any) -> dict[str, Any]:
    return {
        "id": s.id,
        "rule": s.rule,
        "matchers": dict(s.matchers),
        "starts_at": s.starts_at.isoformat(),
        "until": s.ends_at.isoformat(),
        "comment": s.comment,
        "by": s.created_by,
    }


def _silence_table(silences: Sequence[Any]) -> str:
    from alerter.notify.render import fmt
    from alerter.table import table

    return table(
        ["id", "rule", "matchers", "until", "by", "comment"],
        [
            [
                s.id,
                s.rule or "*",
                ", ".join(f"{k}={v}" for k, v in s.matchers.items()) or "*",
                fmt.when(s.ends_at),
                s.created_by,
                _one_line(s.comment, 60),
            ]
            for s in silences
        ],
    )


def _silence(config: Config, args: argparse.Namespace) -> int:
    from fnmatch import fnmatchcase

    from alerter.notify.render import fmt
    from alerter.timeparse import parse_duration

    now = _now()
    if args.action == "list":
        existing = _existing_state(config)
        silences = [] if existing is None else existing.silences(now)
        if existing is not None:
            existing.close()
        if args.json:
            print(json.dumps([_silence_record(s) for s in silences], indent=2))
        else:
            print(_silence_table(silences) if silences else "no active silences")
        return 0
    if args.action == "add":
        matchers = {}
        for item in args.matchers:
            name, sep, pattern = item.partition("=")
            if not sep or not name:
                raise UsageError(f"silence matcher {item!r}: expected DIM=GLOB")
            matchers[name] = pattern
        try:
            duration = parse_duration(args.duration)
        except ValueError as exc:
            raise UsageError(f"--for: {exc}") from None
        if args.rule is None and not matchers:
            raise UsageError("silence add: give --rule and/or at least one DIM=GLOB matcher")
        if args.rule is not None and not any(fnmatchcase(r.name, args.rule) for r in config.rules):
            known = ", ".join(sorted(r.name for r in config.rules)) or "none"
            raise UsageError(f"--rule {args.rule!r} matches no rule (known: {known})")
        store = _open_state(config)
        try:
            sid = store.add_silence(args.rule, matchers, now, now + duration, args.comment, args.by)
        finally:
            store.close()
        print(f"silence {sid} added until {fmt.when(now + duration)}")
        return 0
    store = _open_state(config)
    try:
        if not store.remove_silence(args.id):
            print(f"alerter: error: no silence {args.id}", file=sys.stderr)
            return 1
    finally:
        store.close()
    print(f"silence {args.id} removed")
    return 0
