"""PagerDuty Events API v2: trigger, acknowledge and resolve one alert per incident.

Every event of an incident carries the same ``dedup_key`` (the incident's stable id), so
PagerDuty keeps one alert: the first event and later updates are ``trigger`` (updating
the alert's details), an acknowledgement from Slack is ``acknowledge``, a resolve is
``resolve``. ``payload.severity`` comes from the rule; the root cause (top contributors)
goes to ``custom_details``. The routing key is a secret read from ``routing_key_env``.
"""

from __future__ import annotations

import builtins
import json
import logging
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from alerter.domain import Notification, Reason, Severity, key_to_str
from alerter.notify.base import (
    Delivered,
    DeliveryResult,
    NotifierConfig,
    NotifierContext,
    Permanent,
)
from alerter.notify.jsonpost import encode, post_json
from alerter.notify.render import summary
from alerter.timeparse import format_time

log = logging.getLogger(__name__)

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_MAX = 1024
DEDUP_MAX = 255
SEVERITY = {Severity.INFO: "info", Severity.WARNING: "warning", Severity.CRITICAL: "critical"}


class PagerDutyConfig(NotifierConfig):
    """Where to send Events API v2 events, and the env var holding the routing key."""

    type: Literal["pagerduty"] = Field(default="pagerduty", description="Notifier type.")
    routing_key_env: str = Field(
        description="Env var holding the integration's routing key (32 characters)."
    )
    base_url: str = Field(
        default=EVENTS_URL, description="Events API v2 enqueue endpoint (override for tests)."
    )
    url_template: str | None = Field(
        default=None, description="Dashboard link added to the alert (placeholders as Slack's)."
    )
    timeout: float = Field(default=10.0, gt=0, description="HTTP timeout, seconds.")

    @field_validator("url_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        return summary.check_template(value) if value else value


def dedup_key(msg: Notification) -> str:
    """The incident's stable id: the same for every event of one incident."""
    return f"alerter-incident-{msg.incident_id}"


def event_action(msg: Notification) -> str:
    if msg.event is Reason.RESOLVED:
        return "resolve"
    if msg.event is Reason.ACKNOWLEDGED:
        return "acknowledge"
    return "trigger"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def event_body(msg: Notification, routing_key: str, url_template: str | None) -> dict[str, Any]:
    """The Events API v2 body for ``msg`` (``payload`` only on ``trigger``, as documented)."""
    action = event_action(msg)
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key(msg),
    }
    if action != "trigger":
        return body
    details: dict[str, Any] = {
        "incident": msg.incident_id,
        "state": summary.state_label(msg),
        "rule": msg.rule,
        "group": dict(msg.group),
        "window_start": format_time(msg.window_start),
        "window_end": format_time(msg.window_end),
        "observed": str(msg.observed),
        "expected": str(msg.expected),
        "band": [str(msg.lower), str(msg.upper)],
        "delta": str(msg.delta),
        "change": summary.delta_text(msg),
        "currency": msg.currency,
        "score": round(msg.score, 4),
        "root_cause": [
            {
                "series": key_to_str(c.key),
                "observed": str(c.observed),
                "expected": str(c.expected),
                "delta": str(c.delta),
                "share": round(c.share, 4),
            }
            for c in msg.contributors[:10]
        ],
    }
    body["payload"] = {
        "summary": _cut(f"{summary.headline(msg)}: {summary.change_text(msg)}", SUMMARY_MAX),
        "source": _cut(f"alerter/{msg.source}", 255),
        "severity": SEVERITY[msg.severity],
        "timestamp": format_time(msg.window_end),
        "component": _cut(summary.group_label(msg.group), 255),
        "group": _cut(msg.rule, 255),
        "class": "cost_anomaly",
        "custom_details": details,
    }
    body["client"] = "alerter"
    link = summary.link(url_template, msg)
    if link:
        body["client_url"] = link
        body["links"] = [{"href": link, "text": "Open dashboard"}]
    return body


class PagerDutyNotifier:
    """Sends each incident event to PagerDuty as one alert (``dedup_key`` per incident)."""

    type: ClassVar[str] = "pagerduty"
    Config: ClassVar[builtins.type[NotifierConfig]] = PagerDutyConfig
    acknowledges: ClassVar[bool] = True
    """Told when an incident is acknowledged from Slack (``Reason.ACKNOWLEDGED``)."""

    def __init__(self, name: str, config: NotifierConfig, context: NotifierContext) -> None:
        assert isinstance(config, PagerDutyConfig)
        self.name = name
        self.config: PagerDutyConfig = config
        self.context = context

    def _key(self) -> str | None:
        return self.context.env.get(self.config.routing_key_env) or None

    def _redact(self, text: str) -> str:
        key = self._key()
        return text.replace(key, "***") if key else text

    def body(self, msg: Notification, routing_key: str) -> dict[str, Any]:
        return event_body(msg, routing_key, self.config.url_template)

    def render(self, msg: Notification) -> str:
        return json.dumps(self.body(msg, "***"), indent=2, sort_keys=True, ensure_ascii=False)

    def send(self, msg: Notification, prior: str | None) -> DeliveryResult:
        if msg.event is Reason.LATE_DATA and msg.resolved_at is not None:
            # a trigger would open a new alert under the resolved one's dedup_key
            log.info(
                "pagerduty.skipped notifier=%s incident=%d reason=resolved_late_data",
                self.name,
                msg.incident_id,
            )
            return Delivered(prior or dedup_key(msg))
        key = self._key()
        if key is None:
            return Permanent(
                f"pagerduty {self.name}: env var {self.config.routing_key_env} is not set"
            )
        result, _response = post_json(
            self.config.base_url,
            encode(self.body(msg, key)),
            where=f"pagerduty {self.name}",
            notifier=self.name,
            timeout=self.config.timeout,
            redact=self._redact,
        )
        if isinstance(result, Delivered):
            log.info(
                "pagerduty.sent notifier=%s incident=%d action=%s",
                self.name,
                msg.incident_id,
                event_action(msg),
            )
            return Delivered(dedup_key(msg))
        return result
