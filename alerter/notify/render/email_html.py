"""Email bodies: a plain-text part and an HTML part (chart inline by CID), plus digests.

Untrusted text goes through ``escape.plain_text`` / ``escape.html_text``; the subject
through ``escape.header_safe``.
"""

from __future__ import annotations

from collections.abc import Sequence

from alerter.domain import Notification
from alerter.notify.render import summary
from alerter.notify.render.escape import header_safe, html_text, plain_text

STATE_COLOUR = {"RESOLVED": "#2ca02c", "PROVISIONAL": "#b8860b", "WITHDRAWN": "#777777"}
SEVERITY_COLOUR = {"info": "#3182bd", "warning": "#e6550d", "critical": "#d62728"}


def subject(msg: Notification) -> str:
    """``[NEW] CRITICAL rule: group +$351.30 (+574%)``, header-safe and bounded."""
    return header_safe(f"{summary.headline(msg)} {summary.change_text(msg)}")


def digest_subject(msgs: Sequence[Notification]) -> str:
    rules = sorted({m.rule for m in msgs})
    shown = ", ".join(rules[:3]) + (f" +{len(rules) - 3} more" if len(rules) > 3 else "")
    noun = "incident update" if len(msgs) == 1 else "incident updates"
    return header_safe(f"[alerter] {len(msgs)} {noun}: {shown}")


def _facts(msg: Notification, timezone: str) -> list[tuple[str, str]]:
    """(label, raw value) rows; values may hold untrusted text (source name)."""
    return summary.facts(msg, summary.zone(timezone))


def text_section(msg: Notification, *, timezone: str = "UTC", link: str | None = None) -> str:
    tz = summary.zone(timezone)
    lines = [plain_text(summary.headline(msg)), "", summary.event_text(msg, tz), ""]
    lines += [f"{label + ':':<11} {plain_text(value)}" for label, value in _facts(msg, timezone)]
    contributors = summary.contributor_lines(msg)
    if contributors:
        lines += ["", "Top contributors:"]
        lines += [f"  - {plain_text(c.label)}: {c.delta} ({c.share})" for c in contributors]
    if link:
        lines += ["", f"Dashboard: {link}"]
    lines += ["", f"Incident #{msg.incident_id} · rule {plain_text(msg.rule)}"]
    return "\n".join(lines) + "\n"


def render_text(msg: Notification, *, timezone: str = "UTC", link: str | None = None) -> str:
    """The text/plain part of one incident email."""
    return text_section(msg, timezone=timezone, link=link) + "\n-- \nalerter\n"


def html_section(
    msg: Notification,
    *,
    timezone: str = "UTC",
    link: str | None = None,
    chart_cid: str | None = None,
) -> str:
    tz = summary.zone(timezone)
    state = summary.state_label(msg)
    colour = STATE_COLOUR.get(state, SEVERITY_COLOUR[msg.severity.value])
    rows = "\n".join(
        f'<tr><th align="left" style="padding:2px 12px 2px 0;color:#555">{label}</th>'
        f"<td>{html_text(value)}</td></tr>"
        for label, value in _facts(msg, timezone)
    )
    parts = [
        f'<h2 style="margin:0 0 4px 0;color:{colour}">{html_text(summary.headline(msg))}</h2>',
        f"<p>{html_text(summary.event_text(msg, tz))}</p>",
        f'<table style="border-collapse:collapse">\n{rows}\n</table>',
    ]
    contributors = summary.contributor_lines(msg)
    if contributors:
        items = "\n".join(
            f"<li>{html_text(c.label)}: {html_text(c.delta)} ({html_text(c.share)})</li>"
            for c in contributors
        )
        parts.append(f"<h3>Top contributors</h3>\n<ul>\n{items}\n</ul>")
    if chart_cid:
        parts.append(
            f'<p><img src="cid:{html_text(chart_cid)}" width="900" '
            'alt="Spend history with the expected band and the anomalous window marked"></p>'
        )
    if link:
        parts.append(f'<p><a href="{html_text(link)}">Open dashboard</a></p>')
    parts.append(
        f'<p style="color:#777;font-size:12px">Incident #{msg.incident_id} · rule '
        f"{html_text(msg.rule)}</p>"
    )
    return "\n".join(parts) + "\n"


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html_text(title)}</title></head>\n"
        f'<body style="font-family:sans-serif;font-size:14px">\n{body}</body></html>\n'
    )


def render_html(
    msg: Notification,
    *,
    timezone: str = "UTC",
    link: str | None = None,
    chart_cid: str | None = None,
) -> str:
    """The text/html part of one incident email; ``chart_cid`` without angle brackets."""
    return _page(subject(msg), html_section(msg, timezone=timezone, link=link, chart_cid=chart_cid))


def render_digest_text(
    msgs: Sequence[Notification], *, timezone: str = "UTC", links: Sequence[str | None] = ()
) -> str:
    sections = [
        text_section(m, timezone=timezone, link=links[i] if i < len(links) else None)
        for i, m in enumerate(msgs)
    ]
    return "\n" + ("\n" + "=" * 60 + "\n\n").join(sections) + "\n-- \nalerter\n"


def render_digest_html(
    msgs: Sequence[Notification],
    *,
    timezone: str = "UTC",
    links: Sequence[str | None] = (),
    chart_cids: Sequence[str | None] = (),
) -> str:
    sections = [
        html_section(
            m,
            timezone=timezone,
            link=links[i] if i < len(links) else None,
            chart_cid=chart_cids[i] if i < len(chart_cids) else None,
        )
        for i, m in enumerate(msgs)
    ]
    return _page(digest_subject(msgs), "<hr>\n".join(sections))
