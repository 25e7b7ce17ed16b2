from __future__ import annotations

import dataclasses
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from alerter.clock import FakeClock
from alerter.domain import Notification, Reason
from alerter.notify.base import Delivered, Permanent, RetryAfter
from alerter.notify.outbox import deliver
from alerter.notify.render.escape import ZWSP
from alerter.notify.slack import SlackConfig, SlackNotifier
from tests.conftest import T0
from tests.fakes.notifications import HOSTILE, context, resolved, sample
from tests.fakes.slack import TOKEN, SlackFake


@pytest.fixture
def fake() -> Iterator[SlackFake]:
    with SlackFake() as server:
        yield server


def bot(fake: SlackFake, token: str = TOKEN, **cfg: Any) -> SlackNotifier:
    config = SlackConfig(token_env="SLACK_TOKEN", channel="#alerts", base_url=fake.base_url, **cfg)
    return SlackNotifier("team", config, context({"SLACK_TOKEN": token}))


def webhook(fake: SlackFake, url: str | None = None) -> SlackNotifier:
    config = SlackConfig(webhook_url_env="SLACK_WEBHOOK")
    return SlackNotifier("hook", config, context({"SLACK_WEBHOOK": url or fake.webhook_url}))


def test_first_event_posts_blocks_and_uploads_chart_into_thread(fake: SlackFake) -> None:
    result = bot(
        fake, url_template="https://dash.example/i/{incident}?c={group.customer_name}"
    ).send(sample(), None)

    assert isinstance(result, Delivered)
    ref = json.loads(result.ref or "")
    assert ref["channel"] == "C0ALERTS"
    assert fake.methods() == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "upload",
        "files.completeUploadExternal",
    ]
    posted = fake.messages[ref["ts"]]
    header = posted["blocks"][0]
    assert header["type"] == "header"
    assert (
        "NEW · CRITICAL · customer-hourly-spike · customer_name=Acme Corp" in header["text"]["text"]
    )
    fields = "\n".join(f["text"] for f in posted["blocks"][2]["fields"])
    assert "*Observed*\n$412.50" in fields
    assert "+$351.30 (+574%)" in fields
    assert "Tue 10 Mar 2026 14:00–15:00 UTC" in fields
    blocks_text = json.dumps(posted["blocks"], ensure_ascii=False).replace(ZWSP, "")
    assert "line_item=GPU hours: +$340.00 (97%)" in blocks_text
    button = posted["blocks"][-1]["elements"][0]
    assert button["url"] == "https://dash.example/i/42?c=Acme%20Corp"
    assert posted["files"] == [next(iter(fake.uploads))]
    assert next(iter(fake.uploads.values())).startswith(b"\x89PNG")
    complete = fake.calls[3].params
    assert complete["thread_ts"] == ref["ts"]


def test_escalation_updates_original_and_replies_in_thread(fake: SlackFake) -> None:
    notifier = bot(fake)
    first = notifier.send(sample(), None)
    assert isinstance(first, Delivered)
    ts = json.loads(first.ref or "")["ts"]

    escalated = dataclasses.replace(sample(), event=Reason.ESCALATED)
    second = notifier.send(escalated, first.ref)

    assert second == Delivered(first.ref)
    assert fake.messages[ts]["edits"] == 1
    assert "ESCALATED" in fake.messages[ts]["blocks"][0]["text"]["text"]
    (reply_ts,) = fake.messages[ts]["replies"]
    assert fake.messages[reply_ts]["thread_ts"] == ts
    assert "*ESCALATED*" in fake.messages[reply_ts]["text"]
    assert fake.methods()[4:6] == ["chat.update", "chat.postMessage"]


def test_resolution_updates_header_and_replies_without_chart(fake: SlackFake) -> None:
    notifier = bot(fake)
    first = notifier.send(sample(), None)
    assert isinstance(first, Delivered)
    uploads_before = len(fake.uploads)

    result = notifier.send(resolved(), first.ref)

    assert isinstance(result, Delivered)
    ts = json.loads(first.ref or "")["ts"]
    assert fake.messages[ts]["blocks"][0]["text"]["text"].startswith("RESOLVED")
    reply = fake.messages[fake.messages[ts]["replies"][0]]["text"]
    assert "Back to normal. Spend was above the expected band for 3h" in reply
    assert "$1,204.75 above expected in total." in reply
    assert len(fake.uploads) == uploads_before


def test_provisional_alert_is_marked(fake: SlackFake) -> None:
    result = bot(fake, chart=False).send(sample(partial=True), None)
    assert isinstance(result, Delivered)
    posted = fake.messages[json.loads(result.ref or "")["ts"]]
    assert posted["blocks"][0]["text"]["text"].startswith("PROVISIONAL")
    assert "still open" in posted["blocks"][1]["text"]["text"]
    assert "files.getUploadURLExternal" not in fake.methods()


@pytest.mark.parametrize(
    ("outcome", "event", "header"),
    [("confirmed", Reason.LATE_DATA, "CONFIRMED"), ("withdrawn", Reason.RESOLVED, "WITHDRAWN")],
)
def test_settled_early_alert_is_confirmed_or_withdrawn_in_place(
    fake: SlackFake, outcome: str, event: Reason, header: str
) -> None:
    notifier = bot(fake, chart=False)
    early = notifier.send(sample(partial=True), None)
    assert isinstance(early, Delivered)
    ts = json.loads(early.ref or "")["ts"]

    settled = notifier.send(sample(event=event, outcome=outcome), early.ref)

    assert settled == Delivered(early.ref)
    assert len([m for m in fake.messages.values() if not m["thread_ts"]]) == 1
    assert fake.messages[ts]["blocks"][0]["text"]["text"].startswith(header)
    (reply_ts,) = fake.messages[ts]["replies"]
    assert f"*{header}*" in fake.messages[reply_ts]["text"]


def test_update_of_a_vanished_message_posts_a_new_one(fake: SlackFake) -> None:
    prior = json.dumps({"channel": "C0ALERTS", "ts": "1.000000"})
    result = bot(fake, chart=False).send(
        dataclasses.replace(sample(), event=Reason.LATE_DATA), prior
    )
    assert isinstance(result, Delivered)
    assert result.ref != prior
    assert fake.methods() == ["chat.update", "chat.postMessage"]


def test_short_ratelimit_is_waited_out_on_the_injected_clock(fake: SlackFake) -> None:
    notifier = bot(fake, chart=False)
    fake.fail("chat.postMessage", "ratelimited", retry_after=2)

    result = notifier.send(sample(), None)

    assert isinstance(result, Delivered)
    assert fake.methods() == ["chat.postMessage", "chat.postMessage"]
    clock = notifier.context.clock
    assert isinstance(clock, FakeClock)
    assert clock.slept == [2.0]


def test_long_ratelimit_goes_back_to_the_outbox(fake: SlackFake) -> None:
    fake.fail("chat.postMessage", "ratelimited", retry_after=120)
    result = bot(fake).send(sample(), None)
    assert isinstance(result, RetryAfter)
    assert result.seconds == 120
    assert "ratelimited" in result.reason
    assert len(fake.messages) == 0


@pytest.mark.parametrize("method", ["chat.postMessage", "chat.update"])
def test_server_error_is_retryable(fake: SlackFake, method: str) -> None:
    notifier = bot(fake, chart=False)
    first = notifier.send(sample(), None)
    assert isinstance(first, Delivered)
    fake.fail(method, "500")
    result = notifier.send(dataclasses.replace(sample(), event=Reason.ESCALATED), first.ref)
    assert isinstance(result, RetryAfter)
    assert "HTTP 500" in result.reason
    assert "<html>" not in result.reason


@pytest.mark.parametrize("error", ["invalid_auth", "channel_not_found", "not_in_channel"])
def test_rejections_are_permanent(fake: SlackFake, error: str) -> None:
    fake.fail("chat.postMessage", error)
    result = bot(fake).send(sample(), None)
    assert result == Permanent(f"slack team: chat.postMessage rejected: {error}")


def test_unknown_channel_and_wrong_token_are_permanent(fake: SlackFake) -> None:
    wrong = bot(fake, token="xoxb-wrong-SECRET").send(sample(), None)
    assert isinstance(wrong, Permanent)
    assert "invalid_auth" in wrong.reason
    assert "SECRET" not in wrong.reason
    config = SlackConfig(token_env="T", channel="#nowhere", base_url=fake.base_url)
    missing = SlackNotifier("team", config, context({"T": TOKEN})).send(sample(), None)
    assert missing == Permanent("slack team: chat.postMessage rejected: channel_not_found")


def test_missing_token_env_is_permanent(fake: SlackFake) -> None:
    config = SlackConfig(token_env="NOT_SET", channel="#alerts", base_url=fake.base_url)
    result = SlackNotifier("team", config, context({})).send(sample(), None)
    assert result == Permanent("slack team: env var NOT_SET is not set")
    assert fake.calls == []


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = SlackConfig(token_env="T", channel="#alerts", base_url=f"http://127.0.0.1:{port}/api")
    result = SlackNotifier("team", config, context({"T": TOKEN})).send(sample(), None)
    assert isinstance(result, RetryAfter)
    assert "connection" in result.reason


def test_chart_failure_does_not_fail_the_delivered_message(fake: SlackFake) -> None:
    fake.fail("files.getUploadURLExternal", "500")
    result = bot(fake).send(sample(), None)
    assert isinstance(result, Delivered)
    assert len(fake.messages) == 1


def test_chart_drawing_failure_still_delivers(fake: SlackFake) -> None:
    msg = sample()
    bad = dataclasses.replace(msg.history[-1], observed="x")  # type: ignore[arg-type]
    result = bot(fake).send(dataclasses.replace(msg, history=(*msg.history[:-1], bad)), None)
    assert isinstance(result, Delivered)
    assert fake.methods() == ["chat.postMessage"]


def test_hostile_customer_name_is_inert(fake: SlackFake) -> None:
    result = bot(fake).send(sample(HOSTILE), None)
    assert isinstance(result, Delivered)
    body = fake.calls[0].body.decode()
    text = json.dumps(json.loads(body), ensure_ascii=False)
    assert "<!channel>" not in text
    assert "<https://evil" not in text
    assert "&lt;!channel&gt;" in text
    mrkdwn = [t for t in _texts(json.loads(body)) if t.get("type") == "mrkdwn"]
    assert mrkdwn
    assert all("*x*" not in t["text"] for t in mrkdwn)


def _texts(node: Any) -> Iterator[dict[str, Any]]:
    """Every text object (``{"type": ..., "text": str}``) in a Block Kit payload."""
    if isinstance(node, dict):
        if isinstance(node.get("text"), str) and "type" in node:
            yield node
        for value in node.values():
            yield from _texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _texts(item)


def test_webhook_mode_posts_blocks(fake: SlackFake) -> None:
    result = webhook(fake).send(sample(), None)
    assert result == Delivered(None)
    (posted,) = fake.webhook_posts
    assert posted["blocks"][0]["type"] == "header"
    assert posted["unfurl_links"] is False


@pytest.mark.parametrize(
    ("fault", "kind"),
    [
        ("ratelimited", RetryAfter),
        ("500", RetryAfter),
        ("invalid_token", Permanent),
        ("channel_not_found", Permanent),
    ],
)
def test_webhook_failures(
    fake: SlackFake, fault: str, kind: type, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail("webhook", fault)
    result = webhook(fake).send(sample(), None)
    assert isinstance(result, kind)
    if fault == "ratelimited":
        assert isinstance(result, RetryAfter)
        assert result.seconds == 7
    assert not isinstance(result, Delivered)
    assert "SECRETWEBHOOKPATH" not in result.reason
    assert all("SECRETWEBHOOKPATH" not in r.getMessage() for r in caplog.records)


def test_render_is_the_posted_payload(fake: SlackFake) -> None:
    notifier = bot(fake)
    rendered = json.loads(notifier.render(sample()))
    assert rendered["channel"] == "#alerts"
    assert rendered["blocks"] == notifier.payload(sample())["blocks"]
    update = json.loads(notifier.render(resolved()))
    assert "thread_reply" in update


@pytest.mark.parametrize(
    "config",
    [
        {"channel": "#a"},
        {"token_env": "T", "webhook_url_env": "W", "channel": "#a"},
        {"token_env": "T"},
        {"token_env": "T", "channel": "#a", "url_template": "https://x/{nope}"},
        {"token_env": "T", "channel": "#a", "timezone": "Mars/Olympus"},
        {"token_env": "T", "channel": "#a", "colour": "red"},
    ],
)
def test_invalid_config_is_rejected(config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        SlackConfig.model_validate(config)


def burst(n: int, customer: str = "Customer") -> list[Notification]:
    return [dataclasses.replace(sample(f"{customer} {i}"), incident_id=100 + i) for i in range(n)]


def test_grouped_burst_is_one_message(fake: SlackFake) -> None:
    result = bot(fake, url_template="https://dash.example/{incident}").send_many(burst(3))
    assert isinstance(result, Delivered)
    assert fake.methods() == ["chat.postMessage"]
    (posted,) = fake.messages.values()
    assert posted["blocks"][0]["text"]["text"] == "3 incident updates · customer-hourly-spike"
    lines = [b for b in posted["blocks"] if b["type"] == "section"]
    assert len(lines) == 3
    assert "customer_name=Customer 0" in lines[0]["text"]["text"]
    assert lines[2]["accessory"]["url"] == "https://dash.example/102"


def test_grouped_burst_is_capped_at_twenty_lines(fake: SlackFake) -> None:
    result = webhook(fake).send_many(burst(23))
    assert result == Delivered(None)
    (posted,) = fake.webhook_posts
    assert len([b for b in posted["blocks"] if b["type"] == "section"]) == 20
    assert "…and 3 more" in posted["blocks"][-1]["elements"][0]["text"]
    assert len(posted["blocks"]) <= 50


def test_grouped_burst_failures_and_hostile_text(fake: SlackFake) -> None:
    notifier = bot(fake)
    fake.fail("chat.postMessage", "500")
    assert isinstance(notifier.send_many(burst(2)), RetryAfter)
    fake.fail("chat.postMessage", "channel_not_found")
    assert isinstance(notifier.send_many(burst(2)), Permanent)
    assert isinstance(notifier.send_many(burst(2, HOSTILE)), Delivered)
    body = fake.calls[-1].body.decode()
    assert "<!channel>" not in body
    assert "&lt;!channel&gt;" in body


def test_outbox_groups_a_rule_burst_beyond_group_over(fake: SlackFake, store: Any) -> None:
    notifier = bot(fake, group_over=2)
    for msg in burst(4):
        store.enqueue(msg, "team", T0)

    report = deliver(store, {"team": notifier}, T0)

    assert report.sent == 4
    assert fake.methods() == ["chat.postMessage"]
    assert deliver(store, {"team": notifier}, T0).sent == 0
