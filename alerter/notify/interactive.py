"""Slack buttons over Socket Mode: a press becomes an incident action.

The daemon starts one ``SocketModeRunner`` per Slack notifier with ``app_token_env``.
slack-sdk's built-in Socket Mode client opens the websocket (``apps.connections.open``
with the ``xapp-`` token; no public URL), answers pings, reconnects when the socket
closes and when Slack sends a ``disconnect`` envelope. Each ``interactive`` envelope is
acknowledged first (Slack wants the ack within 3 s), then handled: the user is checked
against ``allowed_users`` / ``allowed_groups`` (others get an ephemeral "not allowed" and
nothing changes), the action is applied once (``actions.apply_action``), the original
message is edited in place to show who did what and when, and a reply goes to its thread.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from alerter.clock import Clock
from alerter.notify.actions import ActionError, ActionOutcome, apply_action
from alerter.notify.base import Notifier
from alerter.notify.render import slack_actions
from alerter.notify.render.slack_actions import LABELS, log_line, mention
from alerter.notify.slack import SlackConfig, SlackNotifier
from alerter.store.actions import Action
from alerter.store.base import Store

log = logging.getLogger(__name__)
_sdk_log = logging.getLogger("alerter.notify.interactive.sdk")
_sdk_log.setLevel(logging.WARNING)

NOT_ALLOWED = (
    "You are not allowed to act on alerter incidents here. Ask an admin to add you to "
    "`allowed_users` or one of the `allowed_groups` of this Slack notifier."
)


@dataclass(frozen=True)
class Press:
    """One button press, parsed from a ``block_actions`` payload."""

    user: str
    action: Action
    incident_id: int
    channel: str
    ts: str
    blocks: list[dict[str, Any]]

    @classmethod
    def parse(cls, payload: Mapping[str, Any]) -> Press | None:
        """None for anything that is not a press of one of alerter's buttons."""
        if payload.get("type") != "block_actions":
            return None
        pressed = (payload.get("actions") or [{}])[0]
        action_id = str(pressed.get("action_id", ""))
        if not action_id.startswith(slack_actions.ACTION_PREFIX):
            return None
        try:
            action = Action(action_id.removeprefix(slack_actions.ACTION_PREFIX))
            incident_id = int(str(pressed.get("value", "")))
        except ValueError:
            return None
        message = payload.get("message") or {}
        container = payload.get("container") or {}
        channel = (payload.get("channel") or {}).get("id") or container.get("channel_id")
        ts = message.get("ts") or container.get("message_ts")
        user = (payload.get("user") or {}).get("id", "")
        if not (channel and ts and user):
            return None
        blocks = message.get("blocks") or []
        return cls(str(user), action, incident_id, str(channel), str(ts), list(blocks))


class SlackInteractions:
    """Handles presses for one Slack notifier (the Web API calls go through its token)."""

    def __init__(
        self,
        notifier: SlackNotifier,
        store: Store,
        clock: Clock,
        *,
        ack_targets: Sequence[str] = (),
        resolve_targets: Sequence[str] = (),
    ) -> None:
        self.notifier = notifier
        self.config: SlackConfig = notifier.config
        self.store = store
        self.clock = clock
        self.ack_targets = tuple(ack_targets)
        self.resolve_targets = tuple(resolve_targets)

    def allowed(self, client: WebClient, user: str) -> bool:
        if user in self.config.allowed_users:
            return True
        for group in self.config.allowed_groups:
            try:
                resp = client.usergroups_users_list(usergroup=group)
            except (SlackClientError, OSError) as exc:
                log.warning(
                    "slack.usergroup_failed notifier=%s group=%s error=%s",
                    self.notifier.name,
                    group,
                    type(exc).__name__,
                )
                continue
            if user in (resp.get("users") or []):
                return True
        return False

    def handle(self, payload: Mapping[str, Any]) -> ActionOutcome | None:
        """Act on one interactive payload; never raises (errors are logged)."""
        press = Press.parse(payload)
        if press is None:
            return None
        client = self.notifier.web_client()
        if not isinstance(client, WebClient):
            log.error(
                "slack.interaction_failed notifier=%s reason=%s", self.notifier.name, client.reason
            )
            return None
        try:
            return self._handle(client, press)
        except (SlackClientError, OSError, ValueError) as exc:
            log.error(
                "slack.interaction_failed notifier=%s incident=%d action=%s reason=%s",
                self.notifier.name,
                press.incident_id,
                press.action.value,
                self.notifier.redact(f"{type(exc).__name__} {_code(exc)}".strip()),
            )
            return None

    def _handle(self, client: WebClient, press: Press) -> ActionOutcome | None:
        if not self.allowed(client, press.user):
            log.warning(
                "slack.action_refused notifier=%s incident=%d action=%s user=%s",
                self.notifier.name,
                press.incident_id,
                press.action.value,
                press.user,
            )
            client.chat_postEphemeral(channel=press.channel, user=press.user, text=NOT_ALLOWED)
            return None
        try:
            outcome = apply_action(
                self.store,
                press.incident_id,
                press.action,
                f"slack:{press.user}",
                self.clock.now(),
                ack_targets=self.ack_targets,
                resolve_targets=self.resolve_targets,
            )
        except ActionError as exc:
            client.chat_postEphemeral(channel=press.channel, user=press.user, text=str(exc))
            return None
        if not outcome.applied:
            first = next(r for r in outcome.history if r.action is press.action)
            client.chat_postEphemeral(
                channel=press.channel,
                user=press.user,
                text=f"Already done: {log_line(first).split(' ', 1)[1]}.",
            )
            return outcome
        status = "resolved" if press.action is Action.EXPECTED_CHANGE else outcome.incident.status
        blocks = slack_actions.with_actions(
            press.blocks, press.incident_id, outcome.history, status
        )
        text = f"{LABELS[press.action]} by {mention(outcome.history[-1].actor)}"
        client.chat_update(channel=press.channel, ts=press.ts, text=text, blocks=blocks)
        client.chat_postMessage(
            channel=press.channel,
            thread_ts=press.ts,
            text=f"{log_line(outcome.history[-1])}: {outcome.detail}.",
            unfurl_links=False,
            unfurl_media=False,
        )
        return outcome


class SocketModeRunner:
    """One Socket Mode connection feeding presses to ``SlackInteractions``."""

    def __init__(self, interactions: SlackInteractions, app_token: str) -> None:
        self.interactions = interactions
        cfg = interactions.config
        self.client = SocketModeClient(
            app_token=app_token,
            web_client=WebClient(base_url=cfg.base_url, timeout=cfg.timeout, logger=_sdk_log),
            logger=_sdk_log,
        )
        self.client.socket_mode_request_listeners.append(self._on_request)
        self.handled = 0

    def _on_request(self, client: Any, req: SocketModeRequest) -> None:
        # ack first: Slack retries (and shows an error) when no ack comes within 3 s
        client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
        if req.type != "interactive":
            return
        try:
            self.interactions.handle(req.payload)
        except Exception:  # one bad press must never stop the listener
            log.exception("slack.interaction_crashed notifier=%s", self.interactions.notifier.name)
        self.handled += 1

    def start(self) -> None:
        """Open the connection (raises ``SlackClientError`` when Slack refuses the token)."""
        self.client.connect()
        log.info("slack.socket_mode_started notifier=%s", self.interactions.notifier.name)

    def close(self) -> None:
        self.client.close()


def start_interactions(
    notifiers: Mapping[str, Notifier], store: Store, clock: Clock, env: Mapping[str, str]
) -> list[SocketModeRunner]:
    """Start Socket Mode for every Slack notifier with ``app_token_env``; a notifier whose
    token is missing or refused is logged and skipped, never stopping the daemon."""
    ack_targets = [n for n, obj in notifiers.items() if getattr(obj, "acknowledges", False)]
    runners = []
    for name, notifier in notifiers.items():
        if not isinstance(notifier, SlackNotifier) or not notifier.config.app_token_env:
            continue
        token = env.get(notifier.config.app_token_env, "")
        if not token.startswith("xapp-"):
            log.error(
                "slack.socket_mode_disabled notifier=%s reason=env var %s is not an xapp- token",
                name,
                notifier.config.app_token_env,
            )
            continue
        interactions = SlackInteractions(
            notifier, store, clock, ack_targets=ack_targets, resolve_targets=list(notifiers)
        )
        runner = SocketModeRunner(interactions, token)
        try:
            runner.start()
        except (SlackClientError, OSError) as exc:
            log.error(
                "slack.socket_mode_failed notifier=%s reason=%s",
                name,
                notifier.redact(f"{type(exc).__name__} {_code(exc)}".strip()),
            )
            runner.close()
            continue
        runners.append(runner)
    return runners


def _code(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        data = getattr(exc.response, "data", None)
        if isinstance(data, dict):
            code = str(data.get("error") or "")
            return code if re.fullmatch(r"[a-z0-9_]{1,64}", code) else ""
    return ""
