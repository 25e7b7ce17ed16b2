"""Microsoft Teams through a Workflows webhook: each incident event as an Adaptive Card.

A Workflows ("Post to a channel when a webhook request is received") URL embeds its
signature, so it is a secret read from ``url_env``. Workflows cannot edit a posted card,
so every lifecycle event (new, escalated, late data, still firing, resolved) is its own
card whose title names the incident (``Incident #42 · RESOLVED · ...``).
"""

from __future__ import annotations

import builtins
import json
import logging
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from alerter.domain import Notification, Reason
from alerter.notify.base import (
    Delivered,
    DeliveryResult,
    NotifierConfig,
    NotifierContext,
    Permanent,
)
from alerter.notify.jsonpost import encode, post_json
from alerter.notify.render import adaptive_card, summary
from alerter.notify.render.chart import safe_chart

log = logging.getLogger(__name__)
CHART_EVENTS = frozenset({Reason.FIRST, Reason.ESCALATED, Reason.LATE_DATA})


class TeamsConfig(NotifierConfig):
    """The env var holding the Workflows webhook URL, and what the card shows."""

    type: Literal["teams"] = Field(default="teams", description="Notifier type.")
    url_env: str = Field(description="Env var holding the Teams Workflows webhook URL.")
    url_template: str | None = Field(
        default=None, description="Link for the 'Open dashboard' action (placeholders as Slack's)."
    )
    chart: bool = Field(
        default=True, description="Embed the spend chart when the card stays under ~28 KB."
    )
    timeout: float = Field(default=10.0, gt=0, description="HTTP timeout, seconds.")

    @field_validator("url_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        return summary.check_template(value) if value else value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        summary.zone(value)
        return value


class TeamsNotifier:
    """Posts each incident event to a Teams channel as an Adaptive Card."""

    type: ClassVar[str] = "teams"
    Config: ClassVar[builtins.type[NotifierConfig]] = TeamsConfig

    def __init__(self, name: str, config: NotifierConfig, context: NotifierContext) -> None:
        assert isinstance(config, TeamsConfig)
        self.name = name
        self.config: TeamsConfig = config
        self.context = context

    def _url(self) -> str | None:
        return self.context.env.get(self.config.url_env) or None

    def _redact(self, text: str) -> str:
        url = self._url()
        return text.replace(url, "***") if url else text

    def body(self, msg: Notification) -> dict[str, Any]:
        chart: Callable[[int], bytes | None] | None = None
        if self.config.chart and msg.event in CHART_EVENTS:

            def chart(dpi: int) -> bytes | None:
                return safe_chart(msg, self.config.timezone, dpi=dpi)

        return adaptive_card.bounded_message(
            msg,
            timezone=self.config.timezone,
            url_template=self.config.url_template,
            chart=chart,
        )

    def render(self, msg: Notification) -> str:
        return json.dumps(self.body(msg), indent=2, ensure_ascii=False)

    def send(self, msg: Notification, prior: str | None) -> DeliveryResult:
        url = self._url()
        if url is None:
            return Permanent(f"teams {self.name}: env var {self.config.url_env} is not set")
        result, _response = post_json(
            url,
            encode(self.body(msg)),
            where=f"teams {self.name}",
            notifier=self.name,
            timeout=self.config.timeout,
            redact=self._redact,
            secret_url=True,
        )
        if isinstance(result, Delivered):
            log.info(
                "teams.posted notifier=%s incident=%d reason=%s",
                self.name,
                msg.incident_id,
                msg.event.value,
            )
            return Delivered(prior or f"teams-incident-{msg.incident_id}")
        return result
