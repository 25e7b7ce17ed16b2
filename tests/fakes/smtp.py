"""A real SMTP server on loopback (aiosmtpd) that records messages and can refuse on demand."""

from __future__ import annotations

import socket
import ssl
import threading
from collections import deque
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER = "alerts@example.com"
PASSWORD = "smtp-SECRET-password-123"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    tls: bool = False

    @property
    def message(self) -> EmailMessage:
        parsed = BytesParser(policy=policy.default).parsebytes(self.raw)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class SmtpFake:
    """``with SmtpFake() as smtp:`` then ``smtp.port``; ``smtp.fail("DATA", "451 ...")``."""

    require_auth: bool = False
    starttls: ssl.SSLContext | None = None
    """Offer STARTTLS with this server context."""
    implicit_tls: ssl.SSLContext | None = None
    """Speak TLS from the first byte (SMTPS) with this server context."""
    messages: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._faults: dict[str, deque[str]] = {}
        self._lock = threading.Lock()
        self._controller: Controller | None = None
        self.port = 0

    def fail(self, stage: str, reply: str, times: int = 1) -> None:
        """Answer the next ``times`` ``stage`` commands ("MAIL", "RCPT", "DATA") with ``reply``."""
        with self._lock:
            self._faults.setdefault(stage, deque()).extend([reply] * times)

    def _fault(self, stage: str) -> str | None:
        with self._lock:
            queue = self._faults.get(stage)
            return queue.popleft() if queue else None

    # aiosmtpd handler hooks ------------------------------------------------------
    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        fault = self._fault("MAIL")
        if fault:
            return fault
        if self.require_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        fault = self._fault("RCPT")
        if fault:
            return fault
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        fault = self._fault("DATA")
        if fault:
            return fault
        raw = envelope.original_content or envelope.content
        self.messages.append(
            Received(
                envelope.mail_from, list(envelope.rcpt_tos), bytes(raw), session.ssl is not None
            )
        )
        return "250 Message accepted for delivery"

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode()
            ok = user == USER and auth_data.password.decode() == PASSWORD
            if ok:
                self.logins.append(user)
            return AuthResult(success=ok, handled=False)
        return AuthResult(success=False, handled=False)

    def __enter__(self) -> SmtpFake:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self._authenticate,
            auth_require_tls=False,
            auth_required=False,
            tls_context=self.starttls,
            ssl_context=self.implicit_tls,
        )
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._controller is not None
        self._controller.stop()
