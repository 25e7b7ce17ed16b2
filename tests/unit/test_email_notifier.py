from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import trustme
from pydantic import ValidationError

from alerter.notify.base import Delivered, Permanent, RetryAfter
from alerter.notify.email import EmailConfig, EmailNotifier
from tests.fakes.notifications import HOSTILE, context, resolved, sample
from tests.fakes.smtp import PASSWORD, USER, SmtpFake


@pytest.fixture
def smtp() -> Iterator[SmtpFake]:
    with SmtpFake(require_auth=True) as server:
        yield server


def notifier(smtp: SmtpFake, password: str = PASSWORD, **cfg: Any) -> EmailNotifier:
    config = EmailConfig.model_validate(
        {
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": "none",
            "username": USER,
            "password_env": "SMTP_PASSWORD",
            "from": "alerter@example.com",
            "to": ["ops@example.com", "finance@example.com"],
            "timezone": "Europe/Berlin",
            **cfg,
        }
    )
    return EmailNotifier("ops", config, context({"SMTP_PASSWORD": password}))


def parts(message: EmailMessage) -> list[str]:
    return [p.get_content_type() for p in message.walk()]


def test_incident_email_is_multipart_with_inline_chart(smtp: SmtpFake) -> None:
    result = notifier(smtp, url_template="https://dash.example/{incident}").send(sample(), None)

    assert isinstance(result, Delivered)
    (received,) = smtp.messages
    assert smtp.logins == [USER]
    assert received.rcpt_tos == ["ops@example.com", "finance@example.com"]
    message = received.message
    assert message["Subject"] == (
        "[NEW] CRITICAL customer-hourly-spike: customer_name=Acme Corp +$351.30 (+574%)"
    )
    assert message["From"] == "alerter@example.com"
    assert result.ref == message["Message-ID"]
    assert parts(message) == [
        "multipart/alternative",
        "text/plain",
        "multipart/related",
        "text/html",
        "image/png",
    ]
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "Window:     Tue 10 Mar 2026 15:00–16:00 CET" in text.get_content()
    assert "Dashboard: https://dash.example/42" in text.get_content()
    image = next(p for p in message.walk() if p.get_content_type() == "image/png")
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html.get_content()
    assert image.get_content().startswith(b"\x89PNG")


def test_follow_up_threads_under_the_first_message(smtp: SmtpFake) -> None:
    n = notifier(smtp)
    first = n.send(sample(), None)
    assert isinstance(first, Delivered)
    second = n.send(resolved(), first.ref)
    assert second == Delivered(first.ref)
    follow_up = smtp.messages[1].message
    assert follow_up["In-Reply-To"] == first.ref
    assert follow_up["Subject"].startswith("[RESOLVED]")
    assert "image/png" not in parts(follow_up)
    body = follow_up.get_body(("plain",))
    assert body is not None
    assert "Spend was above the expected band for 3h" in body.get_content()
    assert "$1,204.75 above expected in total." in body.get_content()


def test_hostile_name_is_escaped_in_html_and_kept_out_of_headers(smtp: SmtpFake) -> None:
    name = HOSTILE + "\r\nBcc: victim@example.com"
    result = notifier(smtp).send(sample(name), None)
    assert isinstance(result, Delivered)
    (received,) = smtp.messages
    assert received.rcpt_tos == ["ops@example.com", "finance@example.com"]
    message = received.message
    assert message["Bcc"] is None
    assert "\n" not in message["Subject"]
    html = message.get_body(("html",))
    assert html is not None
    content = html.get_content()
    assert "<!channel>" not in content
    assert "<https://evil" not in content
    assert "&lt;!channel&gt; *x* &lt;https://evil|click&gt; Bcc: victim@example.com" in content


@pytest.mark.parametrize(
    ("stage", "reply", "kind"),
    [
        ("DATA", "451 4.3.0 Try again later", RetryAfter),
        ("MAIL", "421 4.7.0 Too busy", RetryAfter),
        ("RCPT", "550 5.1.1 No such user", Permanent),
        ("DATA", "554 5.7.1 Rejected as spam", Permanent),
        ("MAIL", "552 5.3.4 Message too big", Permanent),
    ],
)
def test_smtp_replies_map_to_results(smtp: SmtpFake, stage: str, reply: str, kind: type) -> None:
    smtp.fail(stage, reply, times=2)
    result = notifier(smtp).send(sample(), None)
    assert isinstance(result, kind)
    assert not isinstance(result, Delivered)
    assert f"SMTP 127.0.0.1:{smtp.port}" in result.reason
    assert smtp.messages == []


def test_wrong_password_is_permanent_and_never_shown(
    smtp: SmtpFake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-SECRET-pw"
    result = notifier(smtp, password=wrong).send(sample(), None)
    assert isinstance(result, Permanent)
    assert "login answered 535" in result.reason
    for secret in (wrong, PASSWORD):
        assert secret not in result.reason
        assert all(secret not in r.getMessage() for r in caplog.records)


def test_missing_password_env_is_permanent(smtp: SmtpFake) -> None:
    n = notifier(smtp)
    n.context = context({})
    assert n.send(sample(), None) == Permanent(
        f"email ops: SMTP 127.0.0.1:{smtp.port}: env var SMTP_PASSWORD is not set"
    )


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = EmailConfig.model_validate(
        {"host": "127.0.0.1", "port": port, "security": "none", "from": "a@x", "to": ["b@x"]}
    )
    result = EmailNotifier("ops", config, context()).send(sample(), None)
    assert isinstance(result, RetryAfter)
    assert "connect failed (ConnectionRefusedError)" in result.reason


def test_starttls_refused_by_server_is_permanent(smtp: SmtpFake) -> None:
    result = notifier(smtp, security="starttls").send(sample(), None)
    assert isinstance(result, Permanent)
    assert "not supported" in result.reason


def test_digest_is_one_message_for_many_events(smtp: SmtpFake) -> None:
    result = notifier(smtp, mode="digest").send_many([sample(), resolved("Beta Ltd")])
    assert isinstance(result, Delivered)
    (received,) = smtp.messages
    message = received.message
    assert message["Subject"] == "[alerter] 2 incident updates: customer-hourly-spike"
    body = message.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "customer_name=Acme Corp" in text
    assert "customer_name=Beta Ltd" in text
    assert parts(message).count("image/png") == 1


def test_render_shows_the_message_as_sent(smtp: SmtpFake) -> None:
    rendered = notifier(smtp).render(sample())
    assert rendered.startswith(
        "Subject: [NEW] CRITICAL customer-hourly-spike: customer_name=Acme Corp"
    )
    assert "--- text/plain ---\n[NEW] CRITICAL" in rendered
    assert "Window:     Tue 10 Mar 2026 15:00–16:00 CET" in rendered
    assert "--- text/html ---\n<!DOCTYPE html>" in rendered
    assert "--- image/png: " in rendered
    assert "Content-ID <chart-42@alerter>" in rendered


@pytest.mark.parametrize(
    "change",
    [
        {"to": []},
        {"security": "ssl"},
        {"from": "a@x\r\nBcc: evil@x"},
        {"to": ["ok@x", "b@x\nBcc: evil@x"]},
        {"mode": "weekly"},
        {"password": "inline"},
    ],
)
def test_invalid_config_is_rejected(change: dict[str, Any]) -> None:
    base = {"host": "h", "from": "a@x", "to": ["b@x"]}
    with pytest.raises(ValidationError):
        EmailConfig.model_validate({**base, **change})


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


def tls_notifier(port: int, security: str, ca_file: Path | None) -> EmailNotifier:
    config = EmailConfig.model_validate(
        {
            "host": "127.0.0.1",
            "port": port,
            "security": security,
            "username": USER,
            "password_env": "SMTP_PASSWORD",
            "from": "alerter@example.com",
            "to": ["ops@example.com"],
            "chart": False,
            **({"ca_file": ca_file.name} if ca_file else {}),
        }
    )
    config_dir = ca_file.parent if ca_file else Path(".")
    return EmailNotifier("ops", config, context({"SMTP_PASSWORD": PASSWORD}, config_dir))


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_with_a_trusted_private_ca(ca: trustme.CA, tmp_path: Path, security: str) -> None:
    ca_file = tmp_path / "relay-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    tls = server_context(ca)
    kwargs = {"starttls": tls} if security == "starttls" else {"implicit_tls": tls}
    with SmtpFake(require_auth=True, **kwargs) as smtp:  # type: ignore[arg-type]
        result = tls_notifier(smtp.port, security, ca_file).send(sample(), None)
        assert isinstance(result, Delivered)
        (received,) = smtp.messages
        assert smtp.logins == [USER]
        if security == "starttls":
            assert received.tls


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_untrusted_certificate_is_permanent(ca: trustme.CA, security: str) -> None:
    tls = server_context(ca)
    kwargs = {"starttls": tls} if security == "starttls" else {"implicit_tls": tls}
    with SmtpFake(**kwargs) as smtp:  # type: ignore[arg-type]
        result = tls_notifier(smtp.port, security, None).send(sample(), None)
        assert isinstance(result, Permanent)
        assert "TLS failed" in result.reason
        assert smtp.messages == []
