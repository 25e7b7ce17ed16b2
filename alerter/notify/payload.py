"""Notification <-> JSON: the outbox's stored form and the file notifier's lines."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from alerter.domain import (
    Contributor,
    Direction,
    HistoryPoint,
    Notification,
    Reason,
    SeriesKey,
    Severity,
)
from alerter.timeparse import format_time, parse_time


def _key_out(key: SeriesKey) -> dict[str, str]:
    return dict(key)


def _key_in(data: dict[str, str]) -> SeriesKey:
    return tuple(sorted(data.items()))


def to_record(msg: Notification, *, with_history: bool = True) -> dict[str, Any]:
    """A JSON-safe dict; money as strings (exact), times as RFC 3339."""
    record: dict[str, Any] = {
        "incident": msg.incident_id,
        "event": msg.event.value,
        "rule": msg.rule,
        "source": msg.source,
        "group": _key_out(msg.group),
        "severity": msg.severity.value,
        "window_start": format_time(msg.window_start),
        "window_end": format_time(msg.window_end),
        "observed": str(msg.observed),
        "expected": str(msg.expected),
        "lower": str(msg.lower),
        "upper": str(msg.upper),
        "delta": str(msg.delta),
        "score": round(msg.score, 4),
        "direction": msg.direction.value,
        "currency": msg.currency,
        "partial": msg.partial,
        "opened_at": format_time(msg.opened_at) if msg.opened_at else None,
        "resolved_at": format_time(msg.resolved_at) if msg.resolved_at else None,
        "excess": str(msg.excess),
        "contributors": [
            {
                "key": _key_out(c.key),
                "observed": str(c.observed),
                "expected": str(c.expected),
                "delta": str(c.delta),
                "share": round(c.share, 4),
            }
            for c in msg.contributors
        ],
        "step_seconds": msg.step_seconds,
        "outcome": msg.outcome,
        "first_window": format_time(msg.first_window) if msg.first_window else None,
        "last_anomalous_window": (
            format_time(msg.last_anomalous_window) if msg.last_anomalous_window else None
        ),
    }
    if with_history:
        record["history"] = [
            [format_time(h.start), h.observed, h.expected, h.lower, h.upper] for h in msg.history
        ]
    return record


def from_record(record: dict[str, Any]) -> Notification:
    """Inverse of ``to_record``."""
    return Notification(
        incident_id=int(record["incident"]),
        rule=record["rule"],
        group=_key_in(record["group"]),
        source=record["source"],
        event=Reason(record["event"]),
        severity=Severity(record["severity"]),
        window_start=parse_time(record["window_start"]),
        window_end=parse_time(record["window_end"]),
        observed=Decimal(record["observed"]),
        expected=Decimal(record["expected"]),
        lower=Decimal(record["lower"]),
        upper=Decimal(record["upper"]),
        score=float(record["score"]),
        direction=Direction(record["direction"]),
        currency=record.get("currency", "USD"),
        partial=bool(record.get("partial", False)),
        opened_at=parse_time(record["opened_at"]) if record.get("opened_at") else None,
        resolved_at=parse_time(record["resolved_at"]) if record.get("resolved_at") else None,
        excess=Decimal(record.get("excess", "0")),
        contributors=tuple(
            Contributor(
                key=_key_in(c["key"]),
                observed=Decimal(c["observed"]),
                expected=Decimal(c["expected"]),
                delta=Decimal(c["delta"]),
                share=float(c["share"]),
            )
            for c in record.get("contributors", [])
        ),
        history=tuple(
            HistoryPoint(parse_time(h[0]), h[1], h[2], h[3], h[4])
            for h in record.get("history", [])
        ),
        step_seconds=int(record.get("step_seconds", 3600)),
        outcome=str(record.get("outcome", "")),
        first_window=parse_time(record["first_window"]) if record.get("first_window") else None,
        last_anomalous_window=(
            parse_time(record["last_anomalous_window"])
            if record.get("last_anomalous_window")
            else None
        ),
    )


def dumps(msg: Notification) -> str:
    return json.dumps(to_record(msg), sort_keys=True, separators=(",", ":"))


def loads(text: str) -> Notification:
    return from_record(json.loads(text))
