"""Adaptive Card (schema 1.5) rendering of a notification, for Microsoft Teams Workflows.

The card carries the facts of the Slack message: a title naming the incident and its
state (new, escalated, updated, still firing, resolved), why it was sent, the numbers,
the top contributors, the chart (when it fits) and a dashboard link.

Untrusted text (group values, contributor keys) only ever goes into ``TextRun`` inlines
of a ``RichTextBlock``, which Teams shows as plain text (no markdown, so no links or
formatting from billing data); ``TextBlock`` and ``FactSet`` (markdown-ish) get only text
alerter wrote, escaped with ``card_markdown`` where it quotes config values. The whole
message stays under Teams' ~28 KB limit: the chart is dropped first, then long text cut.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

from alerter.domain import Notification, Reason
from alerter.notify.render import summary

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
PAYLOAD_LIMIT = 28_000
"""Teams rejects webhook messages over about 28 KB; stay below it with the envelope."""
TEXT_MAX = 2_000
COLOR = {"RESOLVED": "Good", "WITHDRAWN": "Default"}
SEVERITY_COLOR = {"info": "Accent", "warning": "Warning", "critical": "Attention"}

Element = dict[str, Any]
_MARKDOWN = re.compile(r"([\\`*_\[\]~])")


def card_markdown(text: str) -> str:
    """Backslash-escape the characters that make emphasis or links in card markdown
    (for alerter's own text such as rule names; billing text goes into ``plain``)."""
    return _MARKDOWN.sub(r"\\\1", text)


def _cut(text: str, limit: int = TEXT_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain(text: str, **style: Any) -> Element:
    """Untrusted text as a plain-text run (never parsed as markdown)."""
    return {"type": "TextRun", "text": _cut(text), **style}


def title(msg: Notification) -> str:
    """``Incident #42 · RESOLVED · CRITICAL · rule`` (alerter's own words only)."""
    return (
        f"Incident #{msg.incident_id} · {summary.state_label(msg)} · "
        f"{summary.SEVERITY_LABEL[msg.severity]} · {card_markdown(msg.rule)}"
    )


def facts(msg: Notification, timezone: str) -> list[dict[str, str]]:
    tz = summary.zone(timezone)
    cur = msg.currency
    pairs = [
        ("Observed", summary.money(msg.observed, cur)),
        ("Expected", f"{summary.money(msg.expected, cur)} (band {summary.band_text(msg)})"),
        ("Delta", summary.delta_text(msg)),
        ("Window", summary.window_text(msg.window_start, msg.window_end, tz)),
        ("Source", card_markdown(msg.source)),
        ("Score", f"{msg.score:.1f}"),
    ]
    if msg.event is Reason.RESOLVED:
        pairs.insert(0, ("Total above expected", summary.money(msg.excess, cur)))
    return [{"title": name, "value": value} for name, value in pairs]


def card(
    msg: Notification,
    *,
    timezone: str = "UTC",
    url_template: str | None = None,
    chart_png: bytes | None = None,
    contributors: int = 5,
) -> Element:
    """The Adaptive Card for ``msg``."""
    tz = summary.zone(timezone)
    label = summary.state_label(msg)
    color = COLOR.get(label, SEVERITY_COLOR[msg.severity.value])
    body: list[Element] = [
        {
            "type": "TextBlock",
            "text": title(msg),
            "weight": "Bolder",
            "size": "Medium",
            "color": color,
            "wrap": True,
        },
        {
            "type": "RichTextBlock",
            "inlines": [plain(summary.group_label(msg.group), weight="Bolder")],
        },
        {"type": "TextBlock", "text": summary.event_text(msg, tz), "wrap": True},
        {"type": "FactSet", "facts": facts(msg, timezone)},
    ]
    lines = summary.contributor_lines(msg, contributors) if msg.event is not Reason.RESOLVED else []
    if lines:
        body.append({"type": "TextBlock", "text": "Top contributors", "weight": "Bolder"})
        inlines: list[Element] = []
        for i, c in enumerate(lines):
            inlines.append(plain(("\n" if i else "") + f"• {c.label}: {c.delta} ({c.share})"))
        body.append({"type": "RichTextBlock", "inlines": inlines})
    if chart_png:
        body.append(
            {
                "type": "Image",
                "url": "data:image/png;base64," + base64.b64encode(chart_png).decode(),
                "altText": "Spend history with the expected band and the anomalous window",
                "size": "Stretch",
            }
        )
    body.append(
        {
            "type": "TextBlock",
            "text": f"Incident #{msg.incident_id} · rule {card_markdown(msg.rule)}",
            "isSubtle": True,
            "size": "Small",
            "wrap": True,
        }
    )
    result: Element = {
        "$schema": SCHEMA,
        "type": "AdaptiveCard",
        "version": VERSION,
        "msteams": {"width": "Full"},
        "body": body,
    }
    url = summary.link(url_template, msg)
    if url:
        result["actions"] = [{"type": "Action.OpenUrl", "title": "Open dashboard", "url": url}]
    return result


def message(content: Element) -> Element:
    """The Workflows webhook body: one message with the card as its attachment."""
    return {
        "type": "message",
        "attachments": [{"contentType": CONTENT_TYPE, "contentUrl": None, "content": content}],
    }


def size(body: Element) -> int:
    return len(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())


CHART_DPI = (40, 30)
"""Chart resolutions tried in turn: a base64 PNG at 100 dpi alone is over Teams' limit."""


def bounded_message(
    msg: Notification,
    *,
    timezone: str = "UTC",
    url_template: str | None = None,
    chart: Callable[[int], bytes | None] | None = None,
    limit: int = PAYLOAD_LIMIT,
) -> Element:
    """``message(card(...))`` within ``limit`` bytes: with the chart (``chart(dpi)``) if
    it fits at one of ``CHART_DPI``, else without it, else with fewer contributors."""

    def build(image: bytes | None, shown: int) -> Element:
        content = card(
            msg, timezone=timezone, url_template=url_template, chart_png=image, contributors=shown
        )
        return message(content)

    if chart is not None:
        for dpi in CHART_DPI:
            png = chart(dpi)
            if png is None:
                break
            body = build(png, 5)
            if size(body) <= limit:
                return body
    for shown in (5, 1, 0):
        body = build(None, shown)
        if size(body) <= limit:
            return body
    return body
