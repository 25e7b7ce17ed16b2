"""Plain-text rendering of a notification (console, email text part, logs)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from alerter.domain import Notification, Reason, SeriesKey
from alerter.money import format_money

TITLES = {
    Reason.FIRST: "NEW",
    Reason.ESCALATED: "ESCALATED",
    Reason.LATE_DATA: "UPDATED (late data)",
    Reason.REPEAT_DUE: "STILL FIRING",
    Reason.RESOLVED: "RESOLVED",
    Reason.SILENCED: "SILENCED",
    Reason.NONE: "",
}


def clean(text: str) -> str:
    """Untrusted text made safe for a terminal or a text body: no control characters."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def group_label(group: SeriesKey) -> str:
    if not group:
        return "(all)"
    return ", ".join(f"{clean(k)}={clean(v)}" for k, v in group)


def window_label(msg: Notification, tz: str = "UTC") -> str:
    zone = ZoneInfo(tz)
    start = msg.window_start.astimezone(zone)
    end = msg.window_end.astimezone(zone)
    if msg.window_end - msg.window_start >= timedelta(days=1):
        return f"{start:%Y-%m-%d} ({tz})"
    return f"{start:%Y-%m-%d %H:%M}-{end:%H:%M} {tz}"


def change_label(msg: Notification) -> str:
    sign = "+" if msg.delta >= 0 else "-"
    money = format_money(abs(msg.delta), msg.currency)
    pct = msg.delta_pct
    return f"{sign}{money}" + (f" ({pct:+.0f}%)" if pct is not None else " (new spend)")


def render_text(msg: Notification, tz: str = "UTC") -> str:
    """A readable multi-line block for one incident event."""
    title = TITLES.get(msg.event, msg.event.value.upper())
    if msg.partial:
        title += " (provisional: window still open)"
    if msg.outcome == "confirmed":
        title = "CONFIRMED (the early alert's window settled)"
    elif msg.outcome == "withdrawn":
        title = "WITHDRAWN (the early alert's window settled back inside the band)"
    lines = [
        f"[{msg.severity.value.upper()}] {title}: {clean(msg.rule)} / {group_label(msg.group)}",
        f"  window    {window_label(msg, tz)}",
        f"  observed  {format_money(msg.observed, msg.currency)}   "
        f"expected {format_money(msg.expected, msg.currency)}   change {change_label(msg)}",
    ]
    if msg.event is Reason.RESOLVED and msg.opened_at and msg.resolved_at:
        hours = (msg.resolved_at - msg.opened_at).total_seconds() / 3600
        lines.append(
            f"  resolved after {hours:.0f}h; cost above expected "
            f"{format_money(msg.excess, msg.currency)}"
        )
    lines.extend(
        f"  - {group_label(c.key)}: {format_money(c.observed, msg.currency)} vs "
        f"{format_money(c.expected, msg.currency)} ({c.share * 100:.0f}% of change)"
        for c in msg.contributors
    )
    lines.append(f"  incident #{msg.incident_id} · source {clean(msg.source)}")
    return "\n".join(lines)
