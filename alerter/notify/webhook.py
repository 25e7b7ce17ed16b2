"""Generic webhook delivery: the notification record as JSON, signed with HMAC-SHA256."""

from __future__ import annotations

import builtins
import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from typing import ClassVar, Literal
from urllib.parse import urlsplit

import httpx
from pydantic import Field, model_validator

from alerter.domain import Notification
from alerter.notify.base import (
    Delivered,
    DeliveryResult,
    NotifierConfig,
    NotifierContext,
    Permanent,
    RetryAfter,
)
from alerter.notify.jsonpost import IDEMPOTENCY_HEADER, httpx_secrets, idempotency_key
from alerter.payload import to_record
from alerter.redact import redact

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Alerter-Signature"
DEFAULT_RETRY_AFTER = 30.0
SERVER_RETRY_AFTER = 60.0


class WebhookConfig(NotifierConfig):
    """Where to POST, and the env vars holding the URL and signing secret."""

    type: Literal["webhook"] = Field(default="webhook", description="Notifier type.")
    url: str | None = Field(default=None, description="Receiver URL (if not secret).")
    url_env: str | None = Field(
        default=None, description="Env var holding the receiver URL (when it embeds a key)."
    )
    secret_env: str | None = Field(
        default=None, description="Env var holding the HMAC-SHA256 signing secret."
    )
    history: bool = Field(default=False, description="Include the chart history in the body.")
    timeout: float = Field(default=10.0, gt=0, description="HTTP timeout, seconds.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra request headers (not secret)."
    )

    @model_validator(mode="after")
    def _one_url(self) -> WebhookConfig:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("set exactly one of url or url_env")
        return self


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 of the exact request body under ``secret``."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _retry_after(response: httpx.Response, default: float) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return default


class WebhookNotifier:
    """POSTs each incident event as a signed JSON record (Teams, PagerDuty-style receivers)."""

    type: ClassVar[str] = "webhook"
    digest: ClassVar[bool] = False
    Config: ClassVar[builtins.type[NotifierConfig]] = WebhookConfig

    def __init__(
        self,
        name: str,
        config: NotifierConfig,
        context: NotifierContext,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        assert isinstance(config, WebhookConfig)
        self.name = name
        self.config: WebhookConfig = config
        self.context = context
        self._transport = transport

    def body(self, msg: Notification) -> bytes:
        record = to_record(msg, with_history=self.config.history)
        return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()

    def render(self, msg: Notification) -> str:
        return json.dumps(json.loads(self.body(msg)), indent=2, sort_keys=True)

    def _env(self, name: str | None) -> str | None:
        return (self.context.env.get(name) or None) if name else None

    def _redact(self, text: str) -> str:
        secrets = (self._env(self.config.url_env), self._env(self.config.secret_env))
        return redact(text, (s for s in secrets if s))

    def send(self, msg: Notification, prior: str | None) -> DeliveryResult:
        result = self._post(self.body(msg), msg.event.value, str(msg.incident_id))
        return Delivered(prior) if isinstance(result, Delivered) else result

    def grouped_body(self, msgs: Sequence[Notification]) -> bytes:
        """One JSON object for a burst: ``{"grouped": true, "count": N, "notifications": [...]}``."""
        records = [to_record(m, with_history=self.config.history) for m in msgs]
        payload = {"grouped": True, "count": len(records), "notifications": records}
        return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()

    def send_many(self, msgs: Sequence[Notification]) -> DeliveryResult:
        """A rule's burst (beyond ``group_over``) as one signed POST."""
        if not msgs:
            return Delivered(None)
        ids = ",".join(str(m.incident_id) for m in msgs)
        result = self._post(self.grouped_body(msgs), "grouped", ids)
        return Delivered(None) if isinstance(result, Delivered) else result

    def _post(self, body: bytes, event: str, incidents: str) -> DeliveryResult:
        """POST one signed body; classify the answer (2xx, 429/5xx/408 retry, else permanent)."""
        cfg = self.config
        url = cfg.url or self._env(cfg.url_env)
        if not url:
            return Permanent(f"webhook {self.name}: env var {cfg.url_env} is not set")
        if cfg.url_env:
            parts = urlsplit(url)
            httpx_secrets.secrets.update(
                s for s in (url, parts.path if len(parts.path) > 1 else "", parts.query) if s
            )
        headers = {"Content-Type": "application/json", **cfg.headers}
        if cfg.secret_env:
            secret = self._env(cfg.secret_env)
            if secret is None:
                return Permanent(f"webhook {self.name}: env var {cfg.secret_env} is not set")
            headers[SIGNATURE_HEADER] = signature(secret, body)
        headers["X-Alerter-Event"] = event
        headers[IDEMPOTENCY_HEADER] = idempotency_key(self.name, body)  # same on every retry
        headers["X-Alerter-Incident"] = incidents
        # The URL itself may be the secret: name the notifier, never the URL, in errors.
        where = f"webhook {self.name}"
        try:
            with (
                httpx.Client(timeout=cfg.timeout, transport=self._transport) as client,
                # only the status and headers are used: a huge or trickled answer body
                # is never read
                client.stream("POST", url, content=body, headers=headers) as response,
            ):
                pass
        except httpx.TransportError as exc:
            return self._failed(
                RetryAfter(DEFAULT_RETRY_AFTER, f"{where}: POST failed ({type(exc).__name__})")
            )
        status = response.status_code
        if 200 <= status < 300:
            log.info("webhook.sent notifier=%s incident=%s status=%d", self.name, incidents, status)
            return Delivered(None)
        if status == 429:
            seconds = _retry_after(response, DEFAULT_RETRY_AFTER)
            return self._failed(RetryAfter(seconds, f"{where}: HTTP 429, retry after {seconds:g}s"))
        if status >= 500 or status == 408:
            seconds = _retry_after(response, SERVER_RETRY_AFTER)
            return self._failed(RetryAfter(seconds, f"{where}: HTTP {status}"))
        return self._failed(Permanent(f"{where}: rejected with HTTP {status}"))

    def _failed(self, result: RetryAfter | Permanent) -> RetryAfter | Permanent:
        reason = self._redact(result.reason)
        if isinstance(result, RetryAfter):
            log.warning("webhook.delivery_failed notifier=%s reason=%s", self.name, reason)
            return RetryAfter(result.seconds, reason)
        log.error("webhook.delivery_failed notifier=%s reason=%s", self.name, reason)
        return Permanent(reason)
