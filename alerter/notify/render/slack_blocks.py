"""Slack Block Kit rendering of a notification: the incident message and thread replies.

Untrusted text goes through ``escape.slack_text`` (plain_text) or ``escape.slack_mrkdwn``;
links are button URLs (never mrkdwn ``<url|text>``), so billing text cannot add links.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from alerter.domain import Notification, Reason
from alerter.notify.render import summary
from alerter.notify.render.escape import slack_mrkdwn, slack_text

HEADER_MAX = 150
STATE_EMOJI = {
    "RESOLVED": ":white_check_mark:",
    "PROVISIONAL": ":hourglass_flowing_sand:",
    "WITHDRAWN": ":heavy_minus_sign:",
}

Block = dict[str, Any]


def _bounded(raw: str, escape: Callable[[str], str], limit: int) -> str:
    """Escape ``raw`` and cut it (before escaping, so no entity is split) to ``limit``."""
    text = escape(raw)
    cut = len(raw)
    while len(text) > limit and cut > 0:
        cut -= max(1, len(text) - limit)
        text = escape(raw[:cut].rstrip() + "…")
    return text


def emoji(msg: Notification) -> str:
    return STATE_EMOJI.get(summary.state_label(msg), summary.SEVERITY_EMOJI[msg.severity])


def fallback_text(msg: Notification) -> str:
    """The notification text (shown in push notifications and by clients without blocks)."""
    raw = f"{summary.headline(msg)}: {summary.change_text(msg)}"
    return _bounded(raw, slack_mrkdwn, 3000)


def facts_fields(msg: Notification, timezone: str) -> list[Block]:
    tz = summary.zone(timezone)
    cur = msg.currency
    pairs = [
        ("Observed", summary.money(msg.observed, cur)),
        ("Expected", f"{summary.money(msg.expected, cur)} (band {summary.band_text(msg)})"),
        ("Delta", summary.delta_text(msg)),
        ("Window", summary.window_text(msg.window_start, msg.window_end, tz)),
        ("Source", slack_mrkdwn(msg.source)),
        ("Score", f"{msg.score:.1f}"),
    ]
    return [{"type": "mrkdwn", "text": f"*{name}*\n{value}"} for name, value in pairs]


def contributors_block(msg: Notification, limit: int = 5) -> Block | None:
    lines = summary.contributor_lines(msg, limit)
    if not lines:
        return None
    body = "\n".join(
        f"• {_bounded(c.label, slack_mrkdwn, 300)}: {c.delta} ({c.share})" for c in lines
    )
    return {"type": "section", "text": {"type": "mrkdwn", "text": f"*Top contributors*\n{body}"}}


def message_blocks(
    msg: Notification, *, timezone: str = "UTC", url_template: str | None = None
) -> list[Block]:
    """The incident message: header, why, facts, contributors, context, link button."""
    tz = summary.zone(timezone)
    header_raw = (
        f"{summary.state_label(msg)} · {summary.SEVERITY_LABEL[msg.severity]} · "
        f"{msg.rule} · {summary.group_label(msg.group)}"
    )
    blocks: list[Block] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _bounded(header_raw, slack_text, HEADER_MAX)},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"{emoji(msg)} {summary.event_text(msg, tz)}"},
        },
        {"type": "section", "fields": facts_fields(msg, timezone)},
    ]
    contributors = contributors_block(msg)
    if contributors:
        blocks.append(contributors)
    group = _bounded(summary.group_label(msg.group), slack_mrkdwn, 1000)
    context = f"Incident #{msg.incident_id} · rule {slack_mrkdwn(msg.rule)} · {group}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    url = summary.link(url_template, msg)
    if url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open dashboard"},
                        "url": url[:3000],
                        "action_id": "open_dashboard",
                    }
                ],
            }
        )
    return blocks


def reply_text(msg: Notification, *, timezone: str = "UTC") -> str:
    """The thread reply for an update (escalated, late data, repeat, resolved), as mrkdwn."""
    tz = summary.zone(timezone)
    window = summary.window_text(msg.window_start, msg.window_end, tz)
    text = f"{emoji(msg)} *{summary.state_label(msg)}* {summary.event_text(msg, tz)}"
    if msg.event is not Reason.RESOLVED or summary.outcome(msg) == "withdrawn":
        text += (
            f"\nObserved {summary.money(msg.observed, msg.currency)} vs expected "
            f"{summary.money(msg.expected, msg.currency)}: {summary.delta_text(msg)} in {window}."
        )
    return text


def render_payload(
    msg: Notification, *, timezone: str = "UTC", url_template: str | None = None
) -> dict[str, Any]:
    """``{"text", "blocks"}``: the body of the top-level message (post or update)."""
    return {
        "text": fallback_text(msg),
        "blocks": message_blocks(msg, timezone=timezone, url_template=url_template),
    }


GROUP_SHOWN = 20


def grouped_payload(
    msgs: Sequence[Notification], *, timezone: str = "UTC", url_template: str | None = None
) -> dict[str, Any]:
    """One message for a burst of incident events (a rule's many groups in one cycle)."""
    tz = summary.zone(timezone)
    rules = sorted({m.rule for m in msgs})
    about = rules[0] if len(rules) == 1 else f"{len(rules)} rules"
    title = f"{len(msgs)} incident updates · {about}"
    blocks: list[Block] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _bounded(title, slack_text, 150)},
        },
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": "Grouped into one message because they arrived in one cycle; "
                    "each incident's later updates are posted on their own.",
                }
            ],
        },
    ]
    for msg in msgs[:GROUP_SHOWN]:
        group = _bounded(summary.group_label(msg.group), slack_mrkdwn, 300)
        window = summary.window_text(msg.window_start, msg.window_end, tz)
        line = (
            f"{emoji(msg)} *{summary.state_label(msg)}* {summary.SEVERITY_LABEL[msg.severity]} · "
            f"{group}\n{summary.money(msg.observed, msg.currency)} vs expected "
            f"{summary.money(msg.expected, msg.currency)}: {summary.delta_text(msg)} · {window}"
        )
        if len(rules) > 1:
            line += f" · rule {slack_mrkdwn(msg.rule)}"
        block: Block = {"type": "section", "text": {"type": "mrkdwn", "text": line}}
        url = summary.link(url_template, msg)
        if url:
            block["accessory"] = {
                "type": "button",
                "text": {"type": "plain_text", "text": "Open"},
                "url": url[:3000],
                "action_id": f"open_{msg.incident_id}",
            }
        blocks.append(block)
    if len(msgs) > GROUP_SHOWN:
        more = f"…and {len(msgs) - GROUP_SHOWN} more (see the dashboard or `alerter status`)."
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    return {"text": _bounded(title, slack_mrkdwn, 3000), "blocks": blocks}
