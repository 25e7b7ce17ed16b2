"""Presentation facts shared by the people-facing renderers (Slack, email).

Everything returned here is *raw*: untrusted text (group values, contributor keys) is
not escaped yet; each renderer escapes for its medium with ``render/escape.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerter.domain import Direction, Notification, Reason, SeriesKey, Severity
from alerter.money import format_money
from alerter.timeparse import format_time

SEVERITY_LABEL = {
    Severity.INFO: "INFO",
    Severity.WARNING: "WARNING",
    Severity.CRITICAL: "CRITICAL",
}
SEVERITY_EMOJI = {
    Severity.INFO: ":information_source:",
    Severity.WARNING: ":warning:",
    Severity.CRITICAL: ":rotating_light:",
}
_TEMPLATE_FIELD = re.compile(r"\{([A-Za-z0-9_.]+)\}")
TEMPLATE_FIELDS = frozenset(
    {
        "rule",
        "incident",
        "source",
        "event",
        "severity",
        "window_start",
        "window_end",
        "window_start_ms",
        "window_end_ms",
        "group",
    }
)


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises ValueError naming it when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone: {name!r}") from None


def group_label(group: SeriesKey) -> str:
    """``customer_name=Acme, region=nyc1`` (raw), or ``all series`` for the empty group."""
    return ", ".join(f"{k}={v}" for k, v in group) if group else "all series"


def outcome(msg: Notification) -> str:
    """``confirmed`` / ``withdrawn`` for an early alert whose window settled, else ``""``."""
    return msg.outcome


def state_label(msg: Notification) -> str:
    """The marker shown before the headline: what this message is about the incident."""
    if outcome(msg) == "withdrawn":
        return "WITHDRAWN"
    if msg.event is Reason.RESOLVED:
        return "RESOLVED"
    if msg.partial:
        return "PROVISIONAL"
    if outcome(msg) == "confirmed":
        return "CONFIRMED"
    return {
        Reason.ESCALATED: "ESCALATED",
        Reason.LATE_DATA: "UPDATED",
        Reason.REPEAT_DUE: "STILL FIRING",
    }.get(msg.event, "NEW")


def headline(msg: Notification) -> str:
    """``[RESOLVED] WARNING rule-name: group`` (raw)."""
    return (
        f"[{state_label(msg)}] {SEVERITY_LABEL[msg.severity]} {msg.rule}: {group_label(msg.group)}"
    )


def pct_text(pct: float | None) -> str:
    return "new spend" if pct is None else f"{pct:+.1f}%"


def delta_text(msg: Notification) -> str:
    """``+$1,234.56 (+250.0%)``; ``(new spend)`` when nothing was expected."""
    sign = "+" if msg.delta >= 0 else ""
    return f"{sign}{format_money(msg.delta, msg.currency)} ({pct_text(msg.delta_pct)})"


def change_text(msg: Notification) -> str:
    """What a one-line summary says after the headline: the delta, or for a resolution
    the incident's total cost above expected."""
    if msg.event is Reason.RESOLVED and outcome(msg) != "withdrawn":
        return f"{format_money(msg.excess, msg.currency)} above expected in total"
    return delta_text(msg)


def money(amount: Decimal, currency: str) -> str:
    return format_money(amount, currency)


def band_text(msg: Notification) -> str:
    return f"{format_money(msg.lower, msg.currency)} – {format_money(msg.upper, msg.currency)}"


def direction_text(msg: Notification) -> str:
    return "above" if msg.direction is Direction.UP else "below"


def window_text(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """The window ``[start, end)`` in ``tz``; whole local days are shown as dates."""
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    midnight = local_start.time() == local_end.time() == datetime.min.time()
    if midnight and end - start >= timedelta(days=1):
        last = (local_end - timedelta(days=1)).date()
        if last == local_start.date():
            return f"{local_start:%a %d %b %Y} ({local_start:%Z})"
        return f"{local_start:%a %d %b %Y} – {last:%a %d %b %Y} ({local_start:%Z})"
    if (local_end - timedelta(microseconds=1)).date() == local_start.date():
        return f"{local_start:%a %d %b %Y %H:%M}–{local_end:%H:%M} {local_start:%Z}"
    return f"{local_start:%a %d %b %Y %H:%M} – {local_end:%a %d %b %Y %H:%M} {local_end:%Z}"


def duration_text(delta: timedelta) -> str:
    """``3d 4h``, ``5h 30m``, ``45m``: a human duration, coarse on purpose."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {mins}m" if mins else f"{hours}h"
    return f"{mins}m"


def event_text(msg: Notification, tz: ZoneInfo) -> str:
    """One sentence on why this message was sent (raw, but contains no untrusted text)."""
    if outcome(msg) == "withdrawn":
        return "Withdrawn: the window settled back inside the expected band."
    if outcome(msg) == "confirmed" and not msg.partial:
        return f"Confirmed: the settled window is still {direction_text(msg)} the expected band."
    if msg.event is Reason.RESOLVED and outcome(msg) == "expected_change":
        return "Resolved as an expected change: the new level is the group's baseline now."
    if msg.event is Reason.RESOLVED:
        parts = ["Back to normal"]
        if msg.opened_at and msg.resolved_at:
            parts.append(f"after {duration_text(msg.resolved_at - msg.opened_at)}")
        text = " ".join(parts)
        return f"{text}; {format_money(msg.excess, msg.currency)} above expected in total."
    if msg.partial:
        return "Provisional: the window is still open and already outside the band."
    if msg.event is Reason.ESCALATED:
        return f"Escalated to {msg.severity.value}."
    if msg.event is Reason.LATE_DATA:
        return "Updated: late data revised this window."
    if msg.event is Reason.REPEAT_DUE:
        since = f" since {msg.opened_at.astimezone(tz):%a %d %b %H:%M %Z}" if msg.opened_at else ""
        return f"Still firing{since}."
    return f"Spend is {direction_text(msg)} the expected band."


@dataclass(frozen=True, slots=True)
class ContributorLine:
    label: str
    delta: str
    share: str


def contributor_lines(msg: Notification, limit: int = 5) -> list[ContributorLine]:
    """The top ``limit`` contributors, keys shown without the group's own dimensions."""
    group = dict(msg.group)
    lines = []
    for c in msg.contributors[:limit]:
        own = tuple((k, v) for k, v in c.key if group.get(k) != v)
        sign = "+" if c.delta >= 0 else ""
        lines.append(
            ContributorLine(
                label=group_label(own or c.key),
                delta=f"{sign}{format_money(c.delta, msg.currency)}",
                share=f"{c.share * 100:.0f}%",
            )
        )
    return lines


def template_names(template: str) -> set[str]:
    """Placeholders used by a link template (``{rule}``, ``{group.customer_id}``, ...)."""
    return set(_TEMPLATE_FIELD.findall(template))


def check_template(template: str) -> str:
    """Raise ValueError naming any placeholder that ``link`` would not know."""
    unknown = sorted(
        n
        for n in template_names(template)
        if n not in TEMPLATE_FIELDS and not n.startswith("group.")
    )
    if unknown:
        raise ValueError(
            f"unknown placeholder(s) {unknown} in url_template; "
            f"use {sorted(TEMPLATE_FIELDS)} or group.<dimension>"
        )
    return template


def link(template: str | None, msg: Notification) -> str | None:
    """Fill ``template`` with URL-quoted values; the template itself is trusted config."""
    if not template:
        return None
    values = {
        "rule": msg.rule,
        "incident": str(msg.incident_id),
        "source": msg.source,
        "event": msg.event.value,
        "severity": msg.severity.value,
        "window_start": format_time(msg.window_start),
        "window_end": format_time(msg.window_end),
        "window_start_ms": str(int(msg.window_start.timestamp() * 1000)),
        "window_end_ms": str(int(msg.window_end.timestamp() * 1000)),
        "group": ",".join(f"{k}={v}" for k, v in msg.group),
    }
    values.update({f"group.{k}": v for k, v in msg.group})

    def fill(match: re.Match[str]) -> str:
        return quote(values.get(match.group(1), ""), safe="")

    return _TEMPLATE_FIELD.sub(fill, template)
