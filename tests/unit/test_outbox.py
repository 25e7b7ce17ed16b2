from __future__ import annotations

import builtins
import random
from datetime import timedelta
from decimal import Decimal
from typing import ClassVar

from alerter.domain import Direction, Notification, Reason, Severity
from alerter.notify.base import Delivered, NotifierConfig, Permanent, RetryAfter
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

    type: ClassVar[str] = "scripted"
    Config: ClassVar[builtins.type[NotifierConfig]] = NotifierConfig

    def __init__(self, name, answers, **config):
        self.name = name
        self.config = NotifierConfig(type="scripted", **config)
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


class Batching(Scripted):
    def __init__(self, name, answers=(), digest=False, **config):
        super().__init__(name, answers, **config)
        self.digest = digest
        self.batches = []

    def send_many(self, msgs):
        self.batches.append([(m.rule, m.incident_id) for m in msgs])
        return self.answers.pop(0) if self.answers else Delivered("group-ref")


def rule_note(incident_id, rule):
    from dataclasses import replace

    return replace(note(incident_id), rule=rule)


def test_a_burst_from_one_rule_goes_out_as_one_grouped_message(store):
    for i in range(1, 5):
        store.enqueue(rule_note(i, "burst"), "slack", T0)
    store.enqueue(rule_note(9, "other"), "slack", T0)
    slack = Batching("slack", group_over=3)
    report = deliver(store, {"slack": slack}, T0)
    assert report.sent == 5
    assert slack.batches == [[("burst", 1), ("burst", 2), ("burst", 3), ("burst", 4)]]
    assert slack.calls == [(9, Reason.FIRST, None)]  # under the limit: sent on its own
    assert store.delivery_ref(1, "slack") is None  # later events start their own message


def test_small_bursts_are_sent_one_by_one(store):
    for i in range(1, 4):
        store.enqueue(rule_note(i, "burst"), "slack", T0)
    slack = Batching("slack", group_over=3)
    deliver(store, {"slack": slack}, T0)
    assert slack.batches == []
    assert len(slack.calls) == 3


def test_digest_notifier_gets_one_message_per_cycle_and_retries_it_whole(store):
    store.enqueue(rule_note(1, "a"), "mail", T0)
    store.enqueue(rule_note(2, "b"), "mail", T0)
    store.enqueue(rule_note(3, "a"), "mail", T0 + timedelta(hours=1))  # the next cycle
    mail = Batching("mail", [RetryAfter(60, "421 try later")], digest=True)
    first = deliver(store, {"mail": mail}, T0)
    assert first.retried == 2
    later = deliver(store, {"mail": mail}, T0 + timedelta(hours=2))
    assert later.sent == 3
    assert mail.batches == [[("a", 1), ("b", 2)], [("a", 1), ("b", 2)]]
    assert mail.calls == [(3, Reason.FIRST, None)]


def test_rate_cap_delays_but_never_drops(store):
    for i in range(1, 6):
        store.enqueue(note(i), "pager", T0)
    pager = Scripted("pager", [], rate_cap=2)
    assert deliver(store, {"pager": pager}, T0).sent == 2
    assert len(store.outbox_items("pending")) == 3
    assert deliver(store, {"pager": pager}, T0 + timedelta(minutes=30)).sent == 0
    assert deliver(store, {"pager": pager}, T0 + timedelta(hours=1, minutes=10)).sent == 2
    assert deliver(store, {"pager": pager}, T0 + timedelta(hours=2, minutes=20)).sent == 1
    assert [c[0] for c in pager.calls] == [1, 2, 3, 4, 5]
