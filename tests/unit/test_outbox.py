from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

from alerter.domain import Direction, Notification, Reason, Severity
from alerter.notify.base import Delivered, Permanent, RetryAfter
from alerter.notify.outbox import backoff, deliver
from tests.conftest import T0


def note(incident_id: int, event: Reason = Reason.FIRST) -> Notification:
    return Notification(
        incident_id=incident_id,
        rule="r",
        group=(("k", "v"),),
        source="s",
        event=event,
        severity=Severity.WARNING,
        window_start=T0,
        window_end=T0 + timedelta(hours=1),
        observed=Decimal("10"),
        expected=Decimal("1"),
        lower=Decimal("0"),
        upper=Decimal("2"),
        score=4.0,
        direction=Direction.UP,
    )


class Scripted:
    """A notifier that answers from a script and records what it was asked."""

    type = "scripted"

    def __init__(self, name, answers):
        self.name = name
        self.answers = list(answers)
        self.calls = []

    def render(self, msg):
        return msg.event.value

    def send(self, msg, prior):
        self.calls.append((msg.incident_id, msg.event, prior))
        return self.answers.pop(0) if self.answers else Delivered(f"ref-{msg.incident_id}")


def test_each_target_is_acknowledged_on_its_own(store):
    store.enqueue(note(1), "good", T0)
    store.enqueue(note(1), "bad", T0)
    good, bad = Scripted("good", []), Scripted("bad", [Permanent("channel_not_found")])
    report = deliver(store, {"good": good, "bad": bad}, T0)
    assert (report.sent, report.failed) == (1, 1)
    assert {i.notifier: i.status for i in store.outbox_items()} == {"good": "sent", "bad": "failed"}
    again = deliver(store, {"good": good, "bad": bad}, T0 + timedelta(hours=1))
    assert again.sent == again.failed == 0  # a success is never repeated, a failure kept
    assert len(good.calls) == 1


def test_retry_after_waits_then_updates_in_place_with_the_ref(store):
    store.enqueue(note(1), "slack", T0)
    store.enqueue(note(1, Reason.RESOLVED), "slack", T0)
    slack = Scripted("slack", [RetryAfter(120, "ratelimited")])
    first = deliver(store, {"slack": slack}, T0)
    assert (first.sent, first.retried) == (0, 1)
    assert len(slack.calls) == 1  # the resolve waits behind the post
    (pending, _) = store.outbox_items("pending")
    assert pending.next_attempt_at >= T0 + timedelta(seconds=120)
    assert deliver(store, {"slack": slack}, T0 + timedelta(seconds=60)).sent == 0
    later = deliver(store, {"slack": slack}, T0 + timedelta(hours=2))
    assert later.sent == 2
    assert slack.calls[-2:] == [(1, Reason.FIRST, None), (1, Reason.RESOLVED, "ref-1")]


def test_gives_up_after_max_attempts(store):
    store.enqueue(note(1), "down", T0)
    down = Scripted("down", [RetryAfter(1, "503")] * 10)
    now = T0
    for _ in range(3):
        deliver(store, {"down": down}, now, max_attempts=3)
        now += timedelta(days=1)
    (item,) = store.outbox_items()
    assert item.status == "failed" and item.attempts == 3 and item.last_error == "503"


def test_a_crashing_notifier_is_retried_not_fatal(store):
    class Boom(Scripted):
        def send(self, msg, prior):
            raise RuntimeError("bug")

    store.enqueue(note(1), "boom", T0)
    report = deliver(store, {"boom": Boom("boom", [])}, T0)
    assert report.retried == 1
    assert store.outbox_items("pending")[0].last_error == "notifier raised RuntimeError"


def test_unknown_notifier_is_kept_as_failed(store):
    store.enqueue(note(1), "gone", T0)
    assert deliver(store, {}, T0).failed == 1


def test_backoff_grows_and_is_capped():
    fixed = random.Random(0).random
    delays = [backoff(n, rand=lambda: 0.5) for n in range(1, 12)]
    assert delays[:3] == [30.0, 60.0, 120.0]
    assert max(delays) == 3600.0
    assert 24 <= backoff(1, rand=fixed) <= 36
