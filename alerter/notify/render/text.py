"""Plain-text rendering of a notification (console, email text part, logs)."""

from __future__ import annotations

from alerter.domain import Notification, Reason, SeriesKey
from alerter.notify.render import summary

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
    """``customer_name=Acme, region=nyc1`` (cleaned), ``all series`` for the empty group."""
    return clean(summary.group_label(group))


def window_label(msg: Notification, tz: str = "UTC") -> str:
    """The message's window, as every renderer shows it."""
    return summary.window_text(msg.window_start, msg.window_end, summary.zone(tz))


def change_label(msg: Notification) -> str:
    return summary.delta_text(msg)


def render_text(msg: Notification, tz: str = "UTC") -> str:
    """A readable multi-line block for one incident event (console, backtest, logs).

    The same headline, sentence and facts as Slack and email, in the shared formats of
    ``render/fmt.py``; untrusted text passes through ``clean``.
    """
    zone = summary.zone(tz)
    lines = [clean(summary.headline(msg)), f"  {clean(summary.event_text(msg, zone))}"]
    for label, value in summary.facts(msg, zone):
        lines.append(f"  {label.lower():<10} {clean(value)}")
    contributors = summary.contributor_lines(msg)
    if contributors:
        lines.append("  top contributors")
    lines.extend(
        f"    - {clean(c.label)}: {c.delta} ({c.share} of the change)" for c in contributors
    )
    lines.append(f"  incident #{msg.incident_id} · rule {clean(msg.rule)}")
    return "\n".join(lines)
