"""A digest-mode email notifier gets one message per cycle through the real outbox and a
real SMTP server on loopback; an SMTP outage delays it, and nothing is lost."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from alerter.notify.outbox import deliver
from tests.conftest import T0
from tests.fakes.notifications import sample
from tests.fakes.smtp import SmtpFake
from tests.unit.test_email_notifier import notifier


@pytest.fixture
def smtp():
    with SmtpFake(require_auth=True) as server:
        yield server


def test_digest_per_cycle_through_outbox_and_smtp(store, smtp):
    mail = notifier(smtp, mode="digest")
    for i, customer in enumerate(["Acme", "Globex", "Initech"], start=1):
        store.enqueue(replace(sample(customer), incident_id=i), "ops", T0)
    smtp.fail("DATA", "451 4.3.0 try again later")
    first = deliver(store, {"ops": mail}, T0)
    assert (first.sent, first.retried) == (0, 3)
    assert smtp.messages == []
    later = deliver(store, {"ops": mail}, T0 + timedelta(hours=2))
    assert later.sent == 3
    (received,) = smtp.messages
    body = received.message.get_body(("plain",)).get_content()
    for customer in ("Acme", "Globex", "Initech"):
        assert customer in body
    assert deliver(store, {"ops": mail}, T0 + timedelta(hours=3)).sent == 0  # never repeated
