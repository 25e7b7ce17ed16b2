"""A hostile SMTP relay (issue 11, findings 7 and 8): the credentials it echoes back, in
clear or base64, never reach a log record or a delivery reason; a relay that trickles
its answers costs one send deadline, not the other notifiers' deliveries."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from alerter.notify.base import Notifier, Permanent, RetryAfter
from alerter.notify.email import EmailConfig, EmailNotifier
from alerter.notify.outbox import deliver
from alerter.notify.webhook import WebhookConfig, WebhookNotifier
from tests.conftest import T0
from tests.fakes.notifications import context, sample
from tests.fakes.smtp import PASSWORD, USER, HostileRelay
from tests.fakes.webhook import WebhookReceiver


def relay_notifier(port: int, **cfg: Any) -> EmailNotifier:
    config = EmailConfig.model_validate(
        {
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "username": USER,
            "password_env": "SMTP_PASSWORD",
            "from": "alerter@example.com",
            "to": ["ops@example.com"],
            "chart": False,
            **cfg,
        }
    )
    return EmailNotifier("ops", config, context({"SMTP_PASSWORD": PASSWORD}))


def forbidden_forms() -> list[str]:
    plain = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    return [
        PASSWORD,
        plain,
        plain[:24],
        base64.b64encode(PASSWORD.encode()).decode(),
        base64.b64encode(USER.encode()).decode(),
    ]


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.DEBUG):
        yield caplog


@pytest.mark.parametrize("mode", ["echo_auth", "echo_later"])
def test_echoed_credentials_never_reach_logs_or_reasons(mode: str, logs) -> None:
    with HostileRelay(mode) as relay:
        result = relay_notifier(relay.port).send(sample(), None)
        heard = list(relay.heard)

    assert any(line.upper().startswith("AUTH") for line in heard)  # the relay got them
    assert isinstance(result, RetryAfter | Permanent)
    shown = result.reason + "\n" + logs.text
    for form in forbidden_forms():
        assert form not in shown, form
    assert "SMTP 127.0.0.1" in result.reason  # still says where it failed


def test_a_trickling_relay_costs_one_deadline_and_others_still_go_out(store) -> None:
    with HostileRelay("trickle", delay=0.2) as relay, WebhookReceiver() as good:
        store.enqueue(replace(sample(), incident_id=1, rule="a"), "mail", T0)
        store.enqueue(replace(sample(), incident_id=2, rule="b"), "hook", T0)
        notifiers: dict[str, Notifier] = {
            "mail": relay_notifier(relay.port, timeout=5),
            "hook": WebhookNotifier("hook", WebhookConfig(url=good.url), context({})),
        }
        report = deliver(store, notifiers, T0, send_deadline=0.5)
        posts = len(good.posts)

    assert report.sent == 1 and posts == 1
    (waiting,) = store.outbox_items("pending")
    assert waiting.notifier == "mail" and "did not finish" in (waiting.last_error or "")


def test_a_relay_trickling_its_greeting_is_hung_up_on_at_the_deadline() -> None:
    with HostileRelay("trickle", delay=0.3) as relay:
        result = relay_notifier(relay.port, timeout=30, deadline=1).send(sample(), None)
    assert isinstance(result, RetryAfter)
    assert "did not finish within 1s (deadline)" in result.reason
