"""Slack delivery through slack-sdk: bot token (post, update in place, thread, chart) or webhook."""

from __future__ import annotations

import builtins
import json
import logging
import re
from collections.abc import Sequence
from typing import Any, ClassVar, Literal
from urllib.error import URLError

from pydantic import Field, field_validator, model_validator
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import RetryHandler

from alerter.domain import Notification, Reason
from alerter.notify.base import (
    Delivered,
    DeliveryResult,
    NotifierConfig,
    NotifierContext,
    Permanent,
    RetryAfter,
)
from alerter.notify.render import slack_actions, slack_blocks, summary
from alerter.notify.render.chart import safe_chart
from alerter.notify.slack_retry import (
    ClockRateLimitRetryHandler,
    retry_after_seconds,
)
from alerter.notify.slack_transport import DeadlineWebClient, DeadlineWebhookClient, SendGuard
from alerter.redact import redact

log = logging.getLogger(__name__)
# slack-sdk logs request URLs (an incoming webhook URL is a secret) at DEBUG: keep it quiet.
_sdk_log = logging.getLogger("alerter.notify.slack.sdk")
_sdk_log.setLevel(logging.WARNING)

RETRYABLE_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
GONE_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
CHART_EVENTS = frozenset({Reason.FIRST, Reason.ESCALATED, Reason.LATE_DATA})
_CODE = re.compile(r"[a-z0-9_]{1,64}")
_REF = re.compile(r"[A-Za-z0-9_]{1,64} [0-9]{1,20}(\.[0-9]{1,20})?")
SERVER_RETRY_AFTER = 60.0


class SlackConfig(NotifierConfig):
    """Where and how to post to Slack."""

    type: Literal["slack"] = Field(default="slack", description="Notifier type.")
    token_env: str | None = Field(
        default=None, description="Env var holding the bot token (xoxb-...); bot mode."
    )
    webhook_url_env: str | None = Field(
        default=None, description="Env var holding an incoming webhook URL; webhook mode."
    )
    channel: str | None = Field(default=None, description="Channel name or ID (bot mode).")
    base_url: str = Field(
        default="https://slack.com/api/", description="Slack Web API base URL (ends with /)."
    )
    url_template: str | None = Field(
        default=None,
        description="Link for the 'Open dashboard' button; placeholders like {rule}, "
        "{incident}, {window_start}, {group.customer_id} are filled URL-quoted.",
    )
    chart: bool = Field(default=True, description="Upload a PNG chart into the thread (bot).")
    timeout: int = Field(
        default=10,
        ge=1,
        description="Longest one HTTP request may take, seconds (connect, upload and the whole "
        "answer: a peer still trickling its answer is hung up on and the item retried).",
    )
    deadline: int = Field(
        default=60,
        ge=1,
        description="Longest one send may take, every request together (post, update, "
        "chart upload), seconds; keep it below [alerter] send_deadline so a send never "
        "finishes after the outbox has given up on it.",
    )
    app_token_env: str | None = Field(
        default=None,
        description="Env var holding an app-level token (xapp-...): adds Acknowledge / Silence / "
        "Expected change buttons, received over Socket Mode (bot mode only).",
    )
    allowed_users: list[str] = Field(
        default_factory=list,
        description="Slack user IDs (U...) who may press the buttons; nobody else can.",
    )
    allowed_groups: list[str] = Field(
        default_factory=list,
        description="Slack user group IDs (S...) whose members may press the buttons.",
    )
    ratelimit_retries: int = Field(
        default=1, ge=0, description="Retries inside one send when Slack answers ratelimited."
    )
    ratelimit_max_wait: float = Field(
        default=5.0,
        ge=0,
        description="Longest Retry-After (s) waited inside send; longer ones go back to the "
        "outbox as RetryAfter.",
    )

    @field_validator("base_url")
    @classmethod
    def _slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("url_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        return summary.check_template(value) if value else value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        summary.zone(value)
        return value

    @model_validator(mode="after")
    def _mode(self) -> SlackConfig:
        if (self.token_env is None) == (self.webhook_url_env is None):
            raise ValueError("set exactly one of token_env (bot) or webhook_url_env (webhook)")
        if self.token_env is not None and not self.channel:
            raise ValueError("channel is required with token_env")
        if self.app_token_env is not None and self.token_env is None:
            raise ValueError("app_token_env (buttons) needs token_env (bot mode)")
        return self


class SlackNotifier:
    """Posts incidents to Slack; updates edit the original and reply in its thread."""

    type: ClassVar[str] = "slack"
    digest: ClassVar[bool] = False
    Config: ClassVar[builtins.type[NotifierConfig]] = SlackConfig

    def __init__(self, name: str, config: NotifierConfig, context: NotifierContext) -> None:
        assert isinstance(config, SlackConfig)
        self.name = name
        self.config: SlackConfig = config
        self.context = context
        self._handlers: list[RetryHandler] = [
            ClockRateLimitRetryHandler(
                context.clock, config.ratelimit_retries, config.ratelimit_max_wait
            )
        ]

    # rendering -----------------------------------------------------------------------
    def payload(self, msg: Notification) -> dict[str, Any]:
        body = slack_blocks.render_payload(
            msg, timezone=self.config.timezone, url_template=self.config.url_template
        )
        if self.config.app_token_env:
            lookup = self.context.incident_actions
            history = lookup(msg.incident_id) if lookup else ()
            status = "resolved" if msg.event is Reason.RESOLVED else "open"
            body["blocks"] = slack_actions.with_actions(
                body["blocks"], msg.incident_id, history, status
            )
        return body

    def render(self, msg: Notification) -> str:
        body: dict[str, Any] = {"channel": self.config.channel, **self.payload(msg)}
        if self.config.webhook_url_env:
            body.pop("channel")
        elif msg.event is not Reason.FIRST:
            body["thread_reply"] = slack_blocks.reply_text(msg, timezone=self.config.timezone)
        return json.dumps(body, indent=2, ensure_ascii=False)

    # delivery ------------------------------------------------------------------------
    def _secret(self, env_name: str) -> str | None:
        value = self.context.env.get(env_name, "").strip()  # a file-mounted secret's newline
        return value or None

    def _redact(self, text: str) -> str:
        names = (self.config.token_env, self.config.webhook_url_env, self.config.app_token_env)
        return redact(text, (self.context.env.get(n, "") for n in names if n))

    def _fail(self, method: str, exc: Exception) -> RetryAfter | Permanent:
        if isinstance(exc, SlackApiError):
            status = getattr(exc.response, "status_code", 0) or 0
            error = _error_code(exc)
            headers = getattr(exc.response, "headers", {})
            if status == 429 or error == "ratelimited":
                seconds = retry_after_seconds(headers)
                reason = f"slack {self.name}: {method} ratelimited, retry after {seconds:g}s"
                result: RetryAfter | Permanent = RetryAfter(seconds, reason)
            elif status >= 500 or error in RETRYABLE_ERRORS:
                reason = f"slack {self.name}: {method} HTTP {status} {error}".rstrip()
                result = RetryAfter(retry_after_seconds(headers, SERVER_RETRY_AFTER), reason)
            else:
                result = Permanent(
                    f"slack {self.name}: {method} rejected: {error or f'HTTP {status}'}"
                )
        else:
            result = RetryAfter(
                SERVER_RETRY_AFTER,
                f"slack {self.name}: {method} failed: {type(exc).__name__} (connection)",
            )
        reason = self._redact(result.reason)
        result = (
            RetryAfter(result.seconds, reason)
            if isinstance(result, RetryAfter)
            else Permanent(reason)
        )
        level = logging.WARNING if isinstance(result, RetryAfter) else logging.ERROR
        log.log(
            level,
            "slack.delivery_failed notifier=%s method=%s reason=%s",
            self.name,
            method,
            reason,
        )
        return result

    def send(self, msg: Notification, prior: str | None) -> DeliveryResult:
        guard = SendGuard(self.config.deadline)
        guard.start()
        try:
            return self._send(msg, prior, guard)
        finally:
            guard.stop()

    def _send(self, msg: Notification, prior: str | None, guard: SendGuard) -> DeliveryResult:
        if self.config.webhook_url_env:
            return self._send_webhook(
                self.payload(msg), self.config.webhook_url_env, f"incident={msg.incident_id}", guard
            )
        client = self._client(guard)
        if isinstance(client, Permanent):
            return client
        ref = _parse_ref(prior)
        method = "chat.postMessage"
        try:
            if ref is None:
                return self._post_new(client, msg)
            channel, ts = ref
            method = "chat.update"
            try:
                client.chat_update(channel=channel, ts=ts, **self.payload(msg))
            except SlackApiError as exc:
                if _error_code(exc) in GONE_ERRORS:
                    log.warning(
                        "slack.original_gone notifier=%s incident=%s error=%s",
                        self.name,
                        msg.incident_id,
                        _error_code(exc),
                    )
                    return self._post_new(client, msg)
                raise
            method = "chat.postMessage"
            client.chat_postMessage(
                channel=channel,
                thread_ts=ts,
                text=slack_blocks.reply_text(msg, timezone=self.config.timezone),
                unfurl_links=False,
                unfurl_media=False,
            )
            self._upload_chart(client, msg, channel, ts)
            log.info(
                "slack.updated notifier=%s incident=%s reason=%s",
                self.name,
                msg.incident_id,
                msg.event.value,
            )
            return Delivered(prior)
        except (SlackClientError, URLError, OSError, ValueError) as exc:
            return self._fail(method, exc)

    def send_many(self, msgs: Sequence[Notification]) -> DeliveryResult:
        """One grouped message for a burst (the outbox calls this beyond ``group_over``).

        No chart and no thread: each incident's later events start their own message.
        """
        if not msgs:
            return Delivered(None)
        guard = SendGuard(self.config.deadline)
        guard.start()
        try:
            return self._send_many(msgs, guard)
        finally:
            guard.stop()

    def _send_many(self, msgs: Sequence[Notification], guard: SendGuard) -> DeliveryResult:
        body = slack_blocks.grouped_payload(
            msgs, timezone=self.config.timezone, url_template=self.config.url_template
        )
        if self.config.webhook_url_env:
            return self._send_webhook(
                body, self.config.webhook_url_env, f"grouped={len(msgs)}", guard
            )
        client = self._client(guard)
        if isinstance(client, Permanent):
            return client
        try:
            resp = client.chat_postMessage(
                channel=self.config.channel or "", unfurl_links=False, unfurl_media=False, **body
            )
        except (SlackClientError, URLError, OSError, ValueError) as exc:
            return self._fail("chat.postMessage", exc)
        log.info("slack.posted notifier=%s grouped=%d", self.name, len(msgs))
        ref = _answer_ref(resp.data)
        if ref is None:
            self._no_ref("chat.postMessage", f"grouped={len(msgs)}")
            return Delivered(None)
        return Delivered(json.dumps({"channel": ref[0], "ts": ref[1]}, sort_keys=True))

    def web_client(self) -> WebClient | Permanent:
        """A Web API client on the bot token (for the Socket Mode handler), or why not."""
        return self._client()

    def redact(self, text: str) -> str:
        """``text`` with this notifier's secrets replaced by ``***``."""
        return self._redact(text)

    def _client(self, guard: SendGuard | None = None) -> WebClient | Permanent:
        assert self.config.token_env is not None
        token = self._secret(self.config.token_env)
        if token is None:
            return Permanent(f"slack {self.name}: env var {self.config.token_env} is not set")
        return DeadlineWebClient(
            token=token,
            base_url=self.config.base_url,
            timeout=self.config.timeout,
            logger=_sdk_log,
            retry_handlers=self._handlers,
            guard=guard,
        )

    def _no_ref(self, method: str, what: str) -> None:
        log.warning(
            "slack.no_ref notifier=%s %s method=%s reason=answer ok without channel/ts: "
            "delivered, later events start a new message",
            self.name,
            what,
            method,
        )

    def _post_new(self, client: WebClient, msg: Notification) -> Delivered:
        resp = client.chat_postMessage(
            channel=self.config.channel or "",
            unfurl_links=False,
            unfurl_media=False,
            **self.payload(msg),
        )
        ref = _answer_ref(resp.data)
        if ref is None:
            # Slack said ok: the message is out. Retrying would post it twice; with no
            # ts there is nothing to update or thread under, so no ref (and no chart).
            self._no_ref("chat.postMessage", f"incident={msg.incident_id}")
            return Delivered(None)
        channel, ts = ref
        self._upload_chart(client, msg, channel, ts)
        log.info(
            "slack.posted notifier=%s incident=%s reason=%s",
            self.name,
            msg.incident_id,
            msg.event.value,
        )
        return Delivered(json.dumps({"channel": channel, "ts": ts}, sort_keys=True))

    def _upload_chart(self, client: WebClient, msg: Notification, channel: str, ts: str) -> None:
        """Best effort: the message is already out, so a failed chart never fails the send."""
        if not self.config.chart or msg.event not in CHART_EVENTS:
            return
        try:
            png = safe_chart(msg, self.config.timezone)
            if png is None:
                return
            client.files_upload_v2(
                channel=channel,
                thread_ts=ts,
                content=png,
                filename=f"incident-{msg.incident_id}.png",
                title=f"Incident #{msg.incident_id}: spend history",
                alt_txt="Spend history with the expected band and the anomalous window marked",
            )
        except (SlackClientError, URLError, OSError, ValueError) as exc:
            log.warning(
                "slack.chart_failed notifier=%s incident=%s reason=%s",
                self.name,
                msg.incident_id,
                self._redact(f"{type(exc).__name__} {_error_code(exc)}".strip()),
            )

    def _send_webhook(
        self, body: dict[str, Any], env_name: str, what: str, guard: SendGuard
    ) -> DeliveryResult:
        url = self._secret(env_name)
        if url is None:
            return Permanent(f"slack {self.name}: env var {env_name} is not set")
        client = DeadlineWebhookClient(
            url,
            timeout=self.config.timeout,
            logger=_sdk_log,
            retry_handlers=self._handlers,
            guard=guard,
        )
        try:
            resp = client.send(unfurl_links=False, unfurl_media=False, **body)
        except (SlackClientError, URLError, OSError, ValueError) as exc:
            return self._fail("webhook", exc)
        if resp.status_code == 200:
            log.info("slack.posted notifier=%s %s mode=webhook", self.name, what)
            return Delivered(None)
        answer = self._redact(str(resp.body or "")[:100])
        if resp.status_code == 429:
            seconds = retry_after_seconds(resp.headers)
            result: RetryAfter | Permanent = RetryAfter(
                seconds, f"slack {self.name}: webhook ratelimited, retry after {seconds:g}s"
            )
        elif resp.status_code >= 500:
            result = RetryAfter(
                SERVER_RETRY_AFTER, f"slack {self.name}: webhook HTTP {resp.status_code} {answer}"
            )
        else:
            result = Permanent(
                f"slack {self.name}: webhook rejected: HTTP {resp.status_code} {answer}"
            )
        log.warning(
            "slack.delivery_failed notifier=%s method=webhook reason=%s", self.name, result.reason
        )
        return result


def _error_code(exc: Exception) -> str:
    """Slack's ``error`` code (``invalid_auth``); never free text from a response body."""
    data = getattr(getattr(exc, "response", None), "data", None)
    code = str(data.get("error") or "") if isinstance(data, dict) else ""
    return code if _CODE.fullmatch(code) else ""


def _answer_ref(data: object) -> tuple[str, str] | None:
    """``(channel, ts)`` of a posted message from Slack's answer; None when either is
    missing or not a short plain string (a hostile or broken peer)."""
    if not isinstance(data, dict):
        return None
    channel, ts = data.get("channel"), data.get("ts")
    if isinstance(channel, str) and isinstance(ts, str) and _REF.fullmatch(channel + " " + ts):
        return channel, ts
    return None


def _parse_ref(prior: str | None) -> tuple[str, str] | None:
    """``(channel, ts)`` from a ref written by ``_post_new``; None when absent or foreign."""
    if not prior:
        return None
    try:
        data = json.loads(prior)
    except ValueError:
        return None
    if isinstance(data, dict) and data.get("channel") and data.get("ts"):
        return str(data["channel"]), str(data["ts"])
    return None
