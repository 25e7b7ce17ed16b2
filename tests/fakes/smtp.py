"""A real SMTP server on loopback (aiosmtpd) that records messages and can refuse on demand."""

from __future__ import annotations

import socket
import socketserver
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


class HostileRelay:
    """A scripted SMTP relay on loopback that echoes what the client sent back in replies.

    ``mode``: ``"echo_auth"`` answers every AUTH step with ``535`` quoting the client's
    base64 credentials (PLAIN, and LOGIN's user and password steps); ``"echo_later"``
    accepts the AUTH and answers MAIL with ``451`` quoting the credentials it was sent;
    ``"trickle"`` sends its greeting one byte every ``delay`` seconds (never finishing
    within a short deadline); ``"drop_data"`` accepts MAIL, RCPT and DATA, reads a few
    lines of the message, then closes the connection without a reply (``dropped`` counts
    them). ``with HostileRelay("echo_auth") as relay: relay.port``.
    """

    def __init__(self, mode: str, delay: float = 0.2) -> None:
        self.mode = mode
        self.delay = delay
        self.port = 0
        self.heard: list[str] = []
        self.dropped = 0
        self._closing = threading.Event()
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> HostileRelay:
        relay = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                relay._converse(self.rfile, self.wfile)

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def _converse(self, rfile: Any, wfile: Any) -> None:
        def say(line: str) -> None:
            wfile.write(line.encode() + b"\r\n")
            wfile.flush()

        if self.mode == "trickle":
            for byte in b"220 relay.example ESMTP slowly\r\n":
                if self._closing.wait(self.delay):
                    return
                wfile.write(bytes([byte]))
                wfile.flush()
            return
        say("220 relay.example ESMTP")
        creds: list[str] = []
        while not self._closing.is_set():
            raw = rfile.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.heard.append(line)
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                say("250-relay.example")
                say("250 AUTH PLAIN LOGIN")
            elif verb == "AUTH":
                parts = line.split()
                mech = parts[1].upper() if len(parts) > 1 else ""
                if mech == "PLAIN":
                    data = parts[2] if len(parts) > 2 else rfile.readline().decode().strip()
                    creds.append(data)
                else:  # LOGIN: user, then password, each as base64
                    say("334 VXNlcm5hbWU6")
                    creds.append(rfile.readline().decode().strip())
                    if self.mode == "echo_auth":
                        say(f"334 {creds[-1]}")  # a "prompt" quoting the user name
                    else:
                        say("334 UGFzc3dvcmQ6")
                    creds.append(rfile.readline().decode().strip())
                if self.mode == "echo_auth":
                    say(f"535 5.7.8 rejected credentials {' '.join(creds)}")
                else:
                    say("235 2.7.0 Authentication successful")
            elif self.mode == "drop_data" and verb in ("MAIL", "RCPT"):
                say("250 2.1.0 OK")
            elif self.mode == "drop_data" and verb == "DATA":
                say("354 End data with <CR><LF>.<CR><LF>")
                for _ in range(5):
                    rfile.readline()
                self.dropped += 1
                return  # the handler closes the socket: dropped mid-DATA, no reply
            elif verb == "MAIL":
                say(f"451 4.3.0 temporary failure for {' '.join(creds)}")
            elif verb == "QUIT":
                say("221 bye")
                return
            elif verb == "RSET":
                say("250 OK")
            else:
                say("502 5.5.2 not implemented")
