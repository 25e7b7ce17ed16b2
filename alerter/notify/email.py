"""Email delivery over SMTP (smtplib): multipart text + HTML with the chart inline by CID."""

from __future__ import annotations

import base64
import builtins
import contextlib
import email.policy
import logging
import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import ConfigDict, Field, field_validator

from alerter.domain import Notification, Reason
from alerter.notify.base import (
    Delivered,
    DeliveryResult,
    NotifierConfig,
    NotifierContext,
    Permanent,
    RetryAfter,
)
from alerter.notify.render import email_html, summary
from alerter.notify.render.chart import safe_chart
from alerter.notify.render.escape import header_safe

log = logging.getLogger(__name__)

TEMPORARY_RETRY_AFTER = 60.0
CONNECT_RETRY_AFTER = 30.0
CHART_EVENTS = frozenset({Reason.FIRST, Reason.ESCALATED, Reason.LATE_DATA})
MAX_DIGEST_CHARTS = 5


def _hang_up(holder: list[smtplib.SMTP], expired: threading.Event) -> None:
    """The deadline watchdog: shut the relay's socket so a blocked read returns at once."""
    expired.set()
    for smtp in holder:
        sock = getattr(smtp, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


_BASE64_RUN = re.compile(r"[A-Za-z0-9+/]{6,}={0,2}")


def redact_credentials(text: str, user: str | None, password: str | None) -> str:
    """``text`` with ``password`` (clear) and any base64 run that decodes to something
    holding the user name or 4 consecutive characters of the password replaced by ``***``."""
    if password:
        text = text.replace(password, "***")
    secrets = [s.encode() for s in (user, password) if s]
    if not secrets:
        return text
    grams = {p[i : i + 4] for p in secrets for i in range(max(1, len(p) - 3))}

    def hide(match: re.Match[str]) -> str:
        run = match.group(0)
        for skip in range(4):
            body = run[skip:].rstrip("=")
            body = body[: len(body) - len(body) % 4] if len(body) % 4 == 1 else body
            try:
                decoded = base64.b64decode(body + "=" * (-len(body) % 4))
            except ValueError:
                continue
            if any(gram in decoded for gram in grams):
                return "***"
        return run

    return _BASE64_RUN.sub(hide, text)


def _single_line(value: str) -> str:
    if value != header_safe(value, limit=998):
        raise ValueError(f"must be a single line without control characters: {value!r}")
    return value


UNFOLDED = email.policy.default.clone(max_line_length=998)
"""RFC 5322 allows 998-character lines: a subject (at most 200) is never folded, so no
client shows it broken right after ``Subject:``."""


class EmailConfig(NotifierConfig):
    """SMTP server, credentials (password from the environment) and recipients."""

    model_config = ConfigDict(populate_by_name=True)

    type: Literal["email"] = Field(default="email", description="Notifier type.")
    host: str = Field(description="SMTP server host name.")
    port: int = Field(default=587, ge=1, le=65535, description="SMTP server port.")
    security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="starttls (upgrade a plain connection), tls (implicit TLS), none.",
    )
    username: str | None = Field(default=None, description="SMTP AUTH user name, if any.")
    password_env: str | None = Field(
        default=None, description="Env var holding the SMTP password (never in the TOML)."
    )
    from_: str = Field(alias="from", description="Sender address (From header).")
    to: list[str] = Field(min_length=1, description="Recipient addresses.")
    mode: Literal["event", "digest"] = Field(
        default="event", description="One message per incident event, or one digest per cycle."
    )
    url_template: str | None = Field(
        default=None, description="Dashboard link template, as for the Slack notifier."
    )
    ca_file: str | None = Field(
        default=None,
        description="PEM file of CA certificates to trust for TLS (a private relay); "
        "relative to the config file. Default: the system's trust store.",
    )
    chart: bool = Field(default=True, description="Inline a PNG chart of the history.")
    timeout: int = Field(default=15, ge=1, description="SMTP timeout per operation, seconds.")
    deadline: int = Field(
        default=60,
        ge=1,
        description="Longest one send may take, connect to QUIT, seconds; a relay still "
        "answering then is hung up on and the message retried.",
    )

    @field_validator("host", "from_", "username")
    @classmethod
    def _line(cls, value: str | None) -> str | None:
        return _single_line(value) if value is not None else value

    @field_validator("to")
    @classmethod
    def _lines(cls, value: list[str]) -> list[str]:
        return [_single_line(v) for v in value]

    @field_validator("url_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        return summary.check_template(value) if value else value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        summary.zone(value)
        return value


def _html_part(mail: EmailMessage) -> EmailMessage:
    parts = mail.get_payload()
    assert isinstance(parts, list)
    part = parts[1]
    assert isinstance(part, EmailMessage)
    return part


class EmailNotifier:
    """Sends one email per incident event (or a digest), threaded by Message-ID."""

    type: ClassVar[str] = "email"
    Config: ClassVar[builtins.type[NotifierConfig]] = EmailConfig

    def __init__(self, name: str, config: NotifierConfig, context: NotifierContext) -> None:
        assert isinstance(config, EmailConfig)
        self.name = name
        self.config: EmailConfig = config
        self.context = context
        self._domain = re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-").lower() + ".alerter"

    @property
    def digest(self) -> bool:
        """True in digest mode: the outbox hands a cycle's events to ``send_many`` at once."""
        return self.config.mode == "digest"

    # building ------------------------------------------------------------------------
    def _message_id(self, msg: Notification) -> str:
        stamp = self.context.clock.now().strftime("%Y%m%dT%H%M%S")
        return f"<alerter.{msg.incident_id}.{msg.event.value}.{stamp}@{self._domain}>"

    def build(self, msg: Notification, prior: str | None = None) -> EmailMessage:
        """The complete message ``send`` would hand to the SMTP server."""
        cfg = self.config
        link = summary.link(cfg.url_template, msg)
        mail = self._envelope(email_html.subject(msg))
        mail["Message-ID"] = self._message_id(msg)
        if prior and prior.startswith("<") and prior == header_safe(prior):
            mail["In-Reply-To"] = prior
            mail["References"] = prior
        png = safe_chart(msg, cfg.timezone) if cfg.chart and msg.event in CHART_EVENTS else None
        cid = f"chart-{msg.incident_id}@alerter" if png else None
        mail.set_content(email_html.render_text(msg, timezone=cfg.timezone, link=link))
        mail.add_alternative(
            email_html.render_html(msg, timezone=cfg.timezone, link=link, chart_cid=cid),
            subtype="html",
        )
        if png and cid:
            html_part = _html_part(mail)
            html_part.add_related(
                png,
                maintype="image",
                subtype="png",
                cid=f"<{cid}>",
                filename=f"incident-{msg.incident_id}.png",
            )
        mail.policy = UNFOLDED  # set last: the bodies' encodings are chosen
        return mail

    def build_digest(self, msgs: Sequence[Notification]) -> EmailMessage:
        """One message covering ``msgs`` (a cycle's events), charts for the first few."""
        cfg = self.config
        links = [summary.link(cfg.url_template, m) for m in msgs]
        charts: list[bytes | None] = [
            safe_chart(m, cfg.timezone)
            if cfg.chart and i < MAX_DIGEST_CHARTS and m.event in CHART_EVENTS
            else None
            for i, m in enumerate(msgs)
        ]
        cids = [
            f"chart-{m.incident_id}-{i}@alerter" if charts[i] else None for i, m in enumerate(msgs)
        ]
        mail = self._envelope(email_html.digest_subject(msgs))
        stamp = self.context.clock.now().strftime("%Y%m%dT%H%M%S")
        mail["Message-ID"] = f"<alerter.digest.{stamp}@{self._domain}>"
        mail.set_content(email_html.render_digest_text(msgs, timezone=cfg.timezone, links=links))
        mail.add_alternative(
            email_html.render_digest_html(
                msgs, timezone=cfg.timezone, links=links, chart_cids=cids
            ),
            subtype="html",
        )
        html_part = _html_part(mail)
        for png, cid in zip(charts, cids, strict=True):
            if png and cid:
                html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>")
        mail.policy = UNFOLDED  # set last: the bodies' encodings are chosen
        return mail

    def _envelope(self, subject: str) -> EmailMessage:
        mail = EmailMessage()
        mail["Subject"] = header_safe(subject)
        mail["From"] = self.config.from_
        mail["To"] = ", ".join(self.config.to)
        mail["Date"] = format_datetime(self.context.clock.now())
        mail["Auto-Submitted"] = "auto-generated"
        return mail

    def render(self, msg: Notification) -> str:
        """The message ``send`` would deliver: headers, then each part decoded (the chart
        is summarised by type, size and Content-ID rather than dumped as base64)."""
        mail = self.build(msg)
        shown = ("Subject", "From", "To", "Auto-Submitted")
        lines = [f"{name}: {mail[name]}" for name in shown if mail[name] is not None]
        for part in mail.walk():
            if part.is_multipart():
                continue
            ctype = part.get_content_type()
            if part.get_content_maintype() == "text":
                lines += ["", f"--- {ctype} ---", str(part.get_content()).rstrip("\n")]
            else:
                size = len(part.get_payload(decode=True) or b"")
                lines += ["", f"--- {ctype}: {size} bytes, Content-ID {part['Content-ID']} ---"]
        return "\n".join(lines) + "\n"

    # delivery ------------------------------------------------------------------------
    def send(self, msg: Notification, prior: str | None) -> DeliveryResult:
        mail = self.build(msg, prior)
        result = self._deliver(mail, f"incident={msg.incident_id}")
        if isinstance(result, Delivered):
            return Delivered(prior or str(mail["Message-ID"]))
        return result

    def send_many(self, msgs: Sequence[Notification]) -> DeliveryResult:
        """Deliver ``msgs`` as one digest message (mode = "digest")."""
        if not msgs:
            return Delivered(None)
        mail = self.build_digest(msgs)
        return self._deliver(mail, f"digest={len(msgs)}")

    def _password(self) -> str | None:
        if not self.config.password_env:
            return None
        return self.context.env.get(self.config.password_env) or None

    def _redact(self, text: str) -> str:
        """``text`` without the password or the user name in clear or in base64 (the forms
        AUTH PLAIN and LOGIN send, which a hostile relay may echo in its replies)."""
        return redact_credentials(text, self.config.username, self._password())

    def _tls(self) -> ssl.SSLContext:
        """Verifying TLS (hostname and chain), optionally trusting ``ca_file``."""
        if not self.config.ca_file:
            return ssl.create_default_context()
        path = Path(self.config.ca_file).expanduser()
        if not path.is_absolute():
            path = self.context.config_dir / path
        return ssl.create_default_context(cafile=str(path))

    def _connect(self, holder: list[smtplib.SMTP]) -> smtplib.SMTP:
        """Connect (and upgrade); the client is put in ``holder`` before it connects, so
        the deadline watchdog can hang up a relay that trickles its greeting."""
        cfg = self.config
        smtp: smtplib.SMTP
        if cfg.security == "tls":
            smtp = smtplib.SMTP_SSL(timeout=cfg.timeout, context=self._tls())
        else:
            smtp = smtplib.SMTP(timeout=cfg.timeout)
        # what the constructor would have kept had it connected: TLS checks this name
        smtp._host = cfg.host  # type: ignore[attr-defined]
        holder.append(smtp)
        try:
            smtp.connect(cfg.host, cfg.port)
        except BaseException:
            smtp.close()
            raise
        if cfg.security == "starttls":
            try:
                smtp.starttls(context=self._tls())
            except BaseException:
                smtp.close()
                raise
        return smtp

    def _deliver(self, mail: EmailMessage, what: str) -> DeliveryResult:
        cfg = self.config
        where = f"email {self.name}: SMTP {cfg.host}:{cfg.port}"
        if cfg.username and self._password() is None:
            return Permanent(f"{where}: env var {cfg.password_env} is not set")
        holder: list[smtplib.SMTP] = []
        expired = threading.Event()
        watchdog = threading.Timer(cfg.deadline, _hang_up, args=(holder, expired))
        watchdog.daemon = True
        watchdog.start()
        try:
            return self._session(mail, what, where, holder, expired)
        finally:
            watchdog.cancel()

    def _session(
        self,
        mail: EmailMessage,
        what: str,
        where: str,
        holder: list[smtplib.SMTP],
        expired: threading.Event,
    ) -> DeliveryResult:
        cfg = self.config
        stage = "connect"
        try:
            smtp = self._connect(holder)
            try:
                if cfg.username:
                    stage = "login"
                    smtp.login(cfg.username, self._password() or "")
                stage = "send"
                refused = smtp.send_message(mail)
                stage = "quit"
                with contextlib.suppress(smtplib.SMTPException):
                    smtp.quit()  # the server already accepted the message
            finally:
                smtp.close()
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = ", ".join(f"{code}" for code in codes)
            if all(500 <= code < 600 for code in codes):
                return self._failed(Permanent(f"{where}: all recipients refused ({detail})"))
            return self._failed(
                RetryAfter(TEMPORARY_RETRY_AFTER, f"{where}: recipients refused ({detail})")
            )
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode("utf-8", "replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            if stage == "login":  # a reply to AUTH may echo the credentials: never shown
                text = "(reply not shown)"
            reason = f"{where}: {stage} answered {exc.smtp_code} {header_safe(text, 120)}"
            if 400 <= exc.smtp_code < 500:
                return self._failed(RetryAfter(TEMPORARY_RETRY_AFTER, reason))
            return self._failed(Permanent(reason))
        except smtplib.SMTPNotSupportedError as exc:
            return self._failed(Permanent(f"{where}: {stage} not supported ({exc.args[0][:80]})"))
        except ssl.SSLError as exc:
            return self._failed(Permanent(f"{where}: TLS failed ({type(exc).__name__})"))
        except (smtplib.SMTPException, OSError) as exc:
            if expired.is_set():
                return self._failed(
                    RetryAfter(
                        CONNECT_RETRY_AFTER,
                        f"{where}: {stage} did not finish within {cfg.deadline}s (deadline)",
                    )
                )
            return self._failed(
                RetryAfter(CONNECT_RETRY_AFTER, f"{where}: {stage} failed ({type(exc).__name__})")
            )
        if refused:
            log.warning(
                "email.partially_refused notifier=%s %s refused=%d", self.name, what, len(refused)
            )
        log.info("email.sent notifier=%s %s", self.name, what)
        return Delivered(None)

    def _failed(self, result: RetryAfter | Permanent) -> RetryAfter | Permanent:
        reason = self._redact(result.reason)
        if isinstance(result, RetryAfter):
            log.warning("email.delivery_failed notifier=%s reason=%s", self.name, reason)
            return RetryAfter(result.seconds, reason)
        log.error("email.delivery_failed notifier=%s reason=%s", self.name, reason)
        return Permanent(reason)
