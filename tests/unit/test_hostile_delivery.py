"""Hostile peers on the delivery side (issue 11, findings 1, 8 and 10), acted out by
loopback webhook receivers: one peer's answer affects only its own items."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta

import pytest

from alerter.notify.outbox import MAX_WAIT, cap_wait, deliver
from alerter.notify.webhook import WebhookConfig, WebhookNotifier
from tests.conftest import T0
from tests.fakes.notifications import context, sample
from tests.fakes.webhook import WebhookReceiver


@pytest.fixture
def good() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
def bad() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def hook(name: str, receiver: WebhookReceiver, **cfg: object) -> WebhookNotifier:
    config = WebhookConfig(url_env="URL", **cfg)
    return WebhookNotifier(name, config, context({"URL": receiver.url}))


def two_items(store, first: str = "bad", second: str = "good") -> None:
    store.enqueue(replace(sample(), incident_id=1, rule="one"), first, T0)
    store.enqueue(replace(sample(), incident_id=2, rule="two"), second, T0)


@pytest.mark.parametrize("retry_after", ["inf", "1e12", "nan", "-5", "1e400", "99999999999999"])
def test_an_absurd_retry_after_delays_only_its_own_item(store, good, bad, retry_after) -> None:
    bad.fail(429, retry_after=retry_after)
    two_items(store)
    notifiers = {"bad": hook("bad", bad), "good": hook("good", good)}

    report = deliver(store, notifiers, T0)

    assert (report.sent, report.retried) == (1, 1)
    assert len(good.posts) == 1
    (waiting,) = store.outbox_items("pending")
    assert waiting.notifier == "bad" and waiting.attempts == 1
    assert T0 < waiting.next_attempt_at <= T0 + timedelta(seconds=MAX_WAIT)


def test_cap_wait_clamps_every_number() -> None:
    assert cap_wait(float("inf")) == MAX_WAIT
    assert cap_wait(float("nan"), default=7.0) == 7.0
    assert cap_wait(-3.0) == 0.0
    assert cap_wait(12.5) == 12.5


def test_a_crashing_delivery_step_never_stops_the_items_behind_it(store, good) -> None:
    class Exploding(WebhookNotifier):
        def send(self, msg, prior):
            raise OverflowError("date value out of range")

    two_items(store)
    notifiers = {
        "bad": Exploding("bad", WebhookConfig(url="http://x"), context({})),
        "good": hook("good", good),
    }

    report = deliver(store, notifiers, T0)

    assert report.sent == 1 and len(good.posts) == 1
    (waiting,) = store.outbox_items("pending")
    assert waiting.notifier == "bad" and waiting.attempts == 1


def test_an_outage_shorter_than_give_up_after_loses_nothing(store, bad, caplog) -> None:
    """A peer down for two days: the item waits (aging warnings), then goes out."""
    bad.fail(503, times=10_000)
    store.enqueue(sample(), "bad", T0)
    notifiers = {"bad": hook("bad", bad)}
    now = T0
    with caplog.at_level(logging.WARNING, logger="alerter.notify.outbox"):
        while now < T0 + timedelta(days=2):
            deliver(store, notifiers, now)
            now += timedelta(hours=1, minutes=1)
    (item,) = store.outbox_items()
    assert item.status == "pending" and item.attempts > 12
    assert any(r.getMessage().startswith("notification_aging") for r in caplog.records)

    bad._faults.clear()
    deliver(store, notifiers, now + timedelta(hours=2))
    assert [i.status for i in store.outbox_items()] == ["sent"]


def test_an_item_older_than_give_up_after_is_kept_as_failed(store, bad) -> None:
    bad.fail(503, times=10)
    store.enqueue(sample(), "bad", T0)
    notifiers = {"bad": hook("bad", bad)}
    deliver(store, notifiers, T0, give_up_after=timedelta(days=1))
    assert store.outbox_items("pending")
    deliver(store, notifiers, T0 + timedelta(days=1, hours=1), give_up_after=timedelta(days=1))
    (item,) = store.outbox_items()
    assert item.status == "failed" and "503" in (item.last_error or "")


def test_the_outbox_cap_keeps_the_oldest_as_failed_and_says_so(store, bad, caplog) -> None:
    bad.fail(503, times=100)
    for i in range(1, 6):
        store.enqueue(replace(sample(), incident_id=i), "bad", T0)
    with caplog.at_level(logging.ERROR, logger="alerter.notify.outbox"):
        deliver(store, {"bad": hook("bad", bad)}, T0, max_pending=3)
    failed = store.outbox_items("failed")
    assert [i.incident_id for i in failed] == [1, 2]
    assert all("outbox full" in (i.last_error or "") for i in failed)
    assert len(store.outbox_items("pending")) == 3
    assert any(r.getMessage().startswith("outbox_overflow") for r in caplog.records)


def test_a_trickled_answer_hits_the_send_deadline_and_others_still_go_out(store, good) -> None:
    with WebhookReceiver(trickle=0.2) as slow:
        two_items(store, first="slow")
        notifiers = {"slow": hook("slow", slow, timeout=5.0), "good": hook("good", good)}

        report = deliver(store, notifiers, T0, send_deadline=0.5)

    assert report.sent == 1 and len(good.posts) == 1
    (waiting,) = store.outbox_items("pending")
    assert waiting.notifier == "slow"
    assert "did not finish within 0.5s" in (waiting.last_error or "")


def test_a_trickled_answer_body_is_never_waited_for(store) -> None:
    with WebhookReceiver(trickle=0.5, trickle_head=False, trickle_bytes=10**6) as peer:
        store.enqueue(sample(), "hook", T0)
        report = deliver(store, {"hook": hook("hook", peer)}, T0, send_deadline=20)
    assert report.sent == 1  # the status said 200: the body does not matter
