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
from alerter.notify.render import fmt
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
    return fmt.percent(pct)


def delta_text(msg: Notification) -> str:
    """``+$1,234.56 (+250%)``; ``(new spend)`` when nothing was expected."""
    return f"{fmt.signed_money(msg.delta, msg.currency)} ({pct_text(msg.delta_pct)})"


def is_resolution(msg: Notification) -> bool:
    """A resolved notice about a real incident (not an early alert withdrawn)."""
    return msg.event is Reason.RESOLVED and outcome(msg) != "withdrawn"


def change_text(msg: Notification) -> str:
    """What a one-line summary says after the headline: the delta, or for a resolution
    how long it lasted and the incident's total cost above expected."""
    if is_resolution(msg):
        return f"lasted {fmt.duration(span_length(msg))}, {excess_text(msg)}"
    return delta_text(msg)


def money(amount: Decimal, currency: str) -> str:
    return fmt.money(amount, currency)


def band_text(msg: Notification) -> str:
    return f"{fmt.money(msg.lower, msg.currency)} – {fmt.money(msg.upper, msg.currency)}"


def excess_text(msg: Notification) -> str:
    """The incident's total cost beyond expected: ``$812.40 above expected in total``."""
    side = "above" if msg.excess >= 0 else "below"
    return f"{fmt.money(abs(msg.excess), msg.currency)} {side} expected in total"


def span(msg: Notification) -> tuple[datetime, datetime]:
    """``[first anomalous window start, last anomalous window end)`` of the incident
    (the message's own window when the incident's span is not known)."""
    step = timedelta(seconds=msg.step_seconds)
    first = msg.first_window or msg.window_start
    last = msg.last_anomalous_window or msg.first_window
    end = last + step if last is not None else msg.window_end
    return first, max(end, first + step)


def span_length(msg: Notification) -> timedelta:
    first, end = span(msg)
    return end - first


def span_text(msg: Notification, tz: ZoneInfo) -> str:
    """The anomalous span as a window (``Thu 01 Oct 2026 14:00–17:00 UTC``)."""
    first, end = span(msg)
    return window_text(first, end, tz)


def direction_text(msg: Notification) -> str:
    return "above" if msg.direction is Direction.UP else "below"


def window_text(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """The window ``[start, end)`` in ``tz``. Whole days are shown as dates: local dates
    when the days are local days, else UTC dates (a daily window of a billing source is a
    UTC day, which reads badly as ``Mon 05 Oct 02:00 – Tue 06 Oct 02:00 CEST``)."""
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    midnight = local_start.time() == local_end.time() == datetime.min.time()
    whole_days = end - start >= timedelta(days=1) and (end - start) % timedelta(days=1) == (
        timedelta(0)
    )
    if not midnight and whole_days:
        utc = ZoneInfo("UTC")
        utc_start, utc_end = start.astimezone(utc), end.astimezone(utc)
        if utc_start.time() == utc_end.time() == datetime.min.time():
            local_start, local_end, midnight = utc_start, utc_end, True
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
    return fmt.duration(delta)


def event_text(msg: Notification, tz: ZoneInfo) -> str:
    """One sentence on why this message was sent (raw, but contains no untrusted text)."""
    if outcome(msg) == "withdrawn":
        return "Withdrawn: the window settled back inside the expected band."
    if outcome(msg) == "confirmed" and not msg.partial:
        return f"Confirmed: the settled window is still {direction_text(msg)} the expected band."
    if msg.event is Reason.RESOLVED and outcome(msg) == "expected_change":
        return "Resolved as an expected change: the new level is the group's baseline now."
    if msg.event is Reason.RESOLVED:
        side = "above" if msg.excess >= 0 else "below"
        return (
            f"Back to normal. Spend was {side} the expected band for "
            f"{fmt.duration(span_length(msg))}, {span_text(msg, tz)}; {excess_text(msg)}."
        )
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


def facts(msg: Notification, tz: ZoneInfo) -> list[tuple[str, str]]:
    """(label, raw value) rows every renderer shows, in one format. A resolved notice
    describes the incident (its span, duration, total cost above expected); any other
    message the window it is about. Values may hold untrusted text (the source name)."""
    cur = msg.currency
    if is_resolution(msg):
        return [
            ("Anomalous", span_text(msg, tz)),
            ("Duration", fmt.duration(span_length(msg))),
            ("Cost", excess_text(msg)),
            ("Now", f"{fmt.money(msg.observed, cur)} (expected {fmt.money(msg.expected, cur)})"),
            ("Source", msg.source),
        ]
    return [
        ("Observed", fmt.money(msg.observed, cur)),
        ("Expected", f"{fmt.money(msg.expected, cur)} (band {band_text(msg)})"),
        ("Change", delta_text(msg)),
        ("Window", window_text(msg.window_start, msg.window_end, tz)),
        ("Source", msg.source),
    ]


def brief(msg: Notification, tz: ZoneInfo) -> str:
    """One line for a list of incidents: the window's numbers, or for a resolution the
    incident's duration, total cost and span."""
    if is_resolution(msg):
        return f"{change_text(msg)} · {span_text(msg, tz)}"
    window = window_text(msg.window_start, msg.window_end, tz)
    return (
        f"{fmt.money(msg.observed, msg.currency)} vs expected "
        f"{fmt.money(msg.expected, msg.currency)}: {delta_text(msg)} · {window}"
    )


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
        lines.append(
            ContributorLine(
                label=group_label(own or c.key),
                delta=fmt.signed_money(c.delta, msg.currency),
                share=fmt.share(c.share),
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
