"""Slack rendering of incident actions: the buttons and the log of who did what.

Kept apart from ``slack_blocks`` (the incident message itself): the outbox's renderings
and the Socket Mode handler's edits both end with ``with_actions``, so a message always
shows the same log and the same remaining buttons, whoever last edited it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from alerter.store.actions import Action, ActionRecord

Block = dict[str, Any]
ACTIONS_BLOCK_ID = "alerter_actions"
ACTION_LOG_BLOCK_ID = "alerter_action_log"
ACTION_PREFIX = "alerter:"
BUTTONS = (
    (Action.ACKNOWLEDGE, "Acknowledge", "primary"),
    (Action.SILENCE_24H, "Silence 24 h", None),
    (Action.SILENCE_7D, "Silence 7 d", None),
    (Action.EXPECTED_CHANGE, "Expected change", "danger"),
)
LABELS = {
    Action.ACKNOWLEDGE: "Acknowledged",
    Action.SILENCE_24H: "Silenced for 24 h",
    Action.SILENCE_7D: "Silenced for 7 d",
    Action.EXPECTED_CHANGE: "Marked as expected change",
}
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,30}")
LOG_MAX = 3000


def mention(actor: str) -> str:
    """``slack:U123`` as a mention; anything else (a CLI user, a malformed id) as inert text."""
    user = actor.removeprefix("slack:")
    return f"<@{user}>" if _USER_ID.fullmatch(user) else "someone"


def log_line(record: ActionRecord) -> str:
    """``:ballot_box_with_check: Acknowledged by <@U123> at 2026-03-10 15:04 UTC`` (mrkdwn)."""
    when = record.at.strftime("%Y-%m-%d %H:%M UTC")
    return f":ballot_box_with_check: {LABELS[record.action]} by {mention(record.actor)} at {when}"


def done_actions(history: Sequence[ActionRecord], status: str) -> list[Action]:
    """Buttons no longer offered: those taken, and all of them once the incident is over."""
    if status != "open" or any(r.action is Action.EXPECTED_CHANGE for r in history):
        return list(Action)
    return [r.action for r in history]


def action_buttons(incident_id: int, done: Sequence[Action] = ()) -> Block | None:
    """The incident's buttons (``action_id`` ``alerter:<action>``, ``value`` the incident
    id) without those in ``done``; None when none is left."""
    elements: list[Block] = []
    for action, label, style in BUTTONS:
        if action in done:
            continue
        button: Block = {
            "type": "button",
            "text": {"type": "plain_text", "text": label},
            "action_id": f"{ACTION_PREFIX}{action.value}",
            "value": str(incident_id),
        }
        if style:
            button["style"] = style
        elements.append(button)
    if not elements:
        return None
    return {"type": "actions", "block_id": ACTIONS_BLOCK_ID, "elements": elements}


def with_actions(
    blocks: Sequence[Block], incident_id: int, history: Sequence[ActionRecord], status: str
) -> list[Block]:
    """``blocks`` with the action log (from ``history``) and the buttons still offered
    in place of earlier ones; ``status`` is the incident's (``open`` or ``resolved``)."""
    kept = [b for b in blocks if b.get("block_id") not in (ACTIONS_BLOCK_ID, ACTION_LOG_BLOCK_ID)]
    if history:
        lines = [log_line(r) for r in history]
        text = "\n".join(lines)
        if len(text) > LOG_MAX:  # keep the newest lines
            text = "…\n" + text[-(LOG_MAX - 2) :].split("\n", 1)[-1]
        kept.append(
            {
                "type": "context",
                "block_id": ACTION_LOG_BLOCK_ID,
                "elements": [{"type": "mrkdwn", "text": text}],
            }
        )
    buttons = action_buttons(incident_id, done_actions(history, status))
    if buttons is not None:
        kept.append(buttons)
    return kept
