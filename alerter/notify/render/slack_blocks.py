"""Slack Block Kit rendering of a notification: the incident message and thread replies.

Untrusted text goes through ``escape.slack_text`` (plain_text) or ``escape.slack_mrkdwn``;
links are button URLs (never mrkdwn ``<url|text>``), so billing text cannot add links.

Whatever the input, a payload stays inside Block Kit's limits (``fit_blocks``): header
text <= 150 characters, section text <= 3,000, <= 10 fields of <= 2,000, <= 50 blocks
and <= 12,000 characters for all blocks together; what is cut ends with ``…``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from alerter.domain import Notification, Reason
from alerter.notify.render import summary
from alerter.notify.render.escape import slack_mrkdwn, slack_text

HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
FIELDS_MAX = 10
CONTEXT_TEXT_MAX = 3000
BUTTON_TEXT_MAX = 75
BLOCKS_MAX = 50
BLOCKS_CHARS_MAX = 12000
ELLIPSIS = "…"
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


def _cut(text: str, limit: int) -> str:
    """``text`` (already escaped) cut to ``limit`` characters ending in ``…``, never
    inside an ``&…;`` entity or between a zero-width-space fence and its character."""
    if len(text) <= limit:
        return text
    keep = max(0, limit - len(ELLIPSIS))
    head = text[:keep]
    amp = head.rfind("&")
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    return head.rstrip("\u200b") + ELLIPSIS


def _texts(blocks: list[Block]) -> list[tuple[dict[str, Any], int]]:
    """Every text object of ``blocks`` with its own limit (for the total-size pass)."""
    out: list[tuple[dict[str, Any], int]] = []
    for block in blocks:
        kind = block.get("type")
        if isinstance(block.get("text"), dict):
            limit = HEADER_MAX if kind == "header" else SECTION_TEXT_MAX
            out.append((block["text"], limit))
        out.extend((item, FIELD_TEXT_MAX) for item in block.get("fields") or [])
        for item in block.get("elements") or []:
            if kind == "context" and isinstance(item, dict) and "text" in item:
                out.append((item, CONTEXT_TEXT_MAX))
            elif isinstance(item, dict) and isinstance(item.get("text"), dict):
                out.append((item["text"], BUTTON_TEXT_MAX))
        accessory = block.get("accessory")
        if isinstance(accessory, dict) and isinstance(accessory.get("text"), dict):
            out.append((accessory["text"], BUTTON_TEXT_MAX))
    return out


def _size(blocks: list[Block]) -> int:
    return len(json.dumps(blocks, ensure_ascii=False))


def fit_blocks(blocks: list[Block]) -> list[Block]:
    """``blocks`` cut to Block Kit's limits (see the module docstring), in place.

    Each text is cut to its own limit first; a payload still over the total then loses
    its link buttons (last first), then its longest texts are shortened (to 40
    characters at least), and last its trailing blocks give way to a "more not shown"
    note.
    """
    if len(blocks) > BLOCKS_MAX:
        _drop_tail(blocks, len(blocks) - (BLOCKS_MAX - 1))
    for block in blocks:
        if isinstance(block.get("fields"), list) and len(block["fields"]) > FIELDS_MAX:
            del block["fields"][FIELDS_MAX:]
    for obj, limit in _texts(blocks):
        obj["text"] = _cut(str(obj.get("text", "")), limit)
    for block in reversed(blocks):
        if _size(blocks) <= BLOCKS_CHARS_MAX:
            return blocks
        block.pop("accessory", None)
    blocks[:] = [
        b for b in blocks if b.get("type") != "actions" or _size(blocks) <= BLOCKS_CHARS_MAX
    ]
    texts = _texts(blocks)
    excess = _size(blocks) - BLOCKS_CHARS_MAX
    while excess > 0 and texts:
        obj, _limit = max(texts, key=lambda pair: len(str(pair[0]["text"])))
        current = str(obj["text"])
        if len(current) <= 40:
            break
        obj["text"] = _cut(current, max(40, len(current) - excess - 16))
        excess = _size(blocks) - BLOCKS_CHARS_MAX
    while _size(blocks) > BLOCKS_CHARS_MAX and len(blocks) > 2:
        _drop_tail(blocks, 2)
    return blocks


def _drop_tail(blocks: list[Block], count: int) -> None:
    """Replace the last ``count`` blocks (the header is kept) by one "more" note."""
    keep = max(1, len(blocks) - count)
    dropped = len(blocks) - keep
    note = f"{ELLIPSIS} {dropped} more block(s) not shown"
    blocks[keep:] = [{"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}]


def emoji(msg: Notification) -> str:
    return STATE_EMOJI.get(summary.state_label(msg), summary.SEVERITY_EMOJI[msg.severity])


def fallback_text(msg: Notification) -> str:
    """The notification text (shown in push notifications and by clients without blocks)."""
    raw = f"{summary.headline(msg)}: {summary.change_text(msg)}"
    return _bounded(raw, slack_mrkdwn, 3000)


def facts_fields(msg: Notification, timezone: str) -> list[Block]:
    pairs = summary.facts(msg, summary.zone(timezone))  # one format for every renderer
    return [{"type": "mrkdwn", "text": f"*{name}*\n{slack_mrkdwn(value)}"} for name, value in pairs]


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
        "blocks": fit_blocks(message_blocks(msg, timezone=timezone, url_template=url_template)),
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
        line = (
            f"{emoji(msg)} *{summary.state_label(msg)}* {summary.SEVERITY_LABEL[msg.severity]} · "
            f"{group}\n{summary.brief(msg, tz)}"
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
    return {"text": _bounded(title, slack_mrkdwn, 3000), "blocks": fit_blocks(blocks)}
