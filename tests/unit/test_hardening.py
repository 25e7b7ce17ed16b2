"""Issue 11 leftovers: Slack answers without ``ts``, secrets in every form, a trickling
Slack peer, a FOCUS period spanning millennia. Each against a loopback fake."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest

from alerter.domain import make_key
from alerter.logs import RedactFilter
from alerter.notify.base import Delivered, RetryAfter
from alerter.notify.slack import SlackConfig, SlackNotifier
from alerter.redact import redact, secret_forms
from alerter.sources.focus_table import FocusSpec, read_focus
from alerter.sources.tabular import WindowSums
from tests.fakes.notifications import context, sample
from tests.fakes.slack import TOKEN, SlackFake


@pytest.fixture
def fake() -> Iterator[SlackFake]:
    with SlackFake() as server:
        yield server


def bot(fake: SlackFake, token: str = TOKEN, **cfg: Any) -> SlackNotifier:
    config = SlackConfig(token_env="SLACK_TOKEN", channel="#alerts", base_url=fake.base_url, **cfg)
    return SlackNotifier("team", config, context({"SLACK_TOKEN": token}))


# 1. ok without ts ----------------------------------------------------------------------
def test_ok_answer_without_ts_is_delivered_once_without_a_ref(fake: SlackFake) -> None:
    fake.fail("chat.postMessage", "no_ts")

    result = bot(fake).send(sample(), None)

    assert result == Delivered(None)  # posted: a retry would post it twice
    assert len(fake.messages) == 1
    assert fake.methods() == ["chat.postMessage"]  # no ts: no chart thread


def test_grouped_ok_answer_without_ts_is_delivered_once(fake: SlackFake) -> None:
    fake.fail("chat.postMessage", "no_ts")

    result = bot(fake).send_many([sample(), sample()])

    assert result == Delivered(None)
    assert len(fake.messages) == 1


def test_an_update_after_a_refless_post_starts_a_new_message(fake: SlackFake) -> None:
    fake.fail("chat.postMessage", "no_ts")
    notifier = bot(fake)
    first = notifier.send(sample(), None)
    assert first == Delivered(None)

    second = notifier.send(sample(), first.ref)

    assert isinstance(second, Delivered) and second.ref
    assert len([m for m in fake.messages.values() if not m["thread_ts"]]) == 2


# 2. secrets in every form ------------------------------------------------------------
def test_a_stripped_token_is_redacted_in_every_form() -> None:
    raw = "xoxb-1/2+3=secret\n"  # as mounted from a file; what travels is stripped
    token = raw.strip()
    b64 = base64.b64encode(token.encode()).decode()
    text = f"a {token} b {quote(token, safe='')} c {b64} d {json.dumps(raw)}"

    cleaned = RedactFilter([raw]).redact(text)

    assert "secret" not in cleaned and "xoxb" not in cleaned
    assert b64 not in cleaned
    assert redact(text, [raw]) == cleaned
    assert all(len(form) >= 4 for form in secret_forms(raw))


def test_slack_redacts_the_stripped_webhook_url_when_quoted(fake: SlackFake) -> None:
    url = fake.webhook_url
    config = SlackConfig(webhook_url_env="SLACK_WEBHOOK")
    notifier = SlackNotifier("hook", config, context({"SLACK_WEBHOOK": url + "\n"}))

    shown = notifier.redact(f"failed for {quote(url, safe='')} and {url}")

    assert "SECRETWEBHOOKPATH" not in shown
    assert isinstance(notifier.send(sample(), None), Delivered)  # the stripped URL is used
    assert len(fake.webhook_posts) == 1


# 3. a trickling Slack peer -------------------------------------------------------------
def test_a_trickled_answer_times_out_and_is_retried(fake: SlackFake) -> None:
    fake.fail("chat.postMessage", "trickle")

    result = bot(fake, timeout=1).send(sample(), None)

    assert isinstance(result, RetryAfter)
    assert "TimeoutError" in result.reason


def test_the_send_deadline_bounds_every_request_together(fake: SlackFake) -> None:
    fake.fail("chat.postMessage", "trickle")

    result = bot(fake, timeout=30, deadline=1).send(sample(), None)

    assert isinstance(result, RetryAfter)


def test_a_trickled_webhook_answer_times_out(fake: SlackFake) -> None:
    fake.fail("webhook", "trickle")
    config = SlackConfig(webhook_url_env="SLACK_WEBHOOK", timeout=1)
    notifier = SlackNotifier("hook", config, context({"SLACK_WEBHOOK": fake.webhook_url}))

    result = notifier.send(sample(), None)

    assert isinstance(result, RetryAfter)


def test_a_trickled_error_body_is_bounded_too(fake: SlackFake) -> None:
    fake.fail("chat.postMessage", "trickle_429")
    notifier = bot(fake, timeout=1)

    result = notifier.send(sample(), None)

    assert isinstance(result, RetryAfter)
    assert "TimeoutError" in result.reason
    assert fake.messages == {}


def test_a_healthy_send_after_a_trickle_posts_once(
    fake: SlackFake, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail("chat.postMessage", "trickle")
    notifier = bot(fake, timeout=1, chart=False)
    with caplog.at_level(logging.WARNING):
        assert isinstance(notifier.send(sample(), None), RetryAfter)

    again = notifier.send(sample(), None)

    assert isinstance(again, Delivered) and again.ref
    assert TOKEN not in caplog.text


# 4. a charge period of millennia -------------------------------------------------------
HOUR_US = 3_600_000_000
FOCUS_HEADER = "ChargePeriodStart,ChargePeriodEnd,BilledCost,BillingCurrency,ServiceName\n"


def test_a_focus_row_from_year_1_to_9999_is_a_located_skip() -> None:
    spec = FocusSpec("BilledCost", ("ServiceName",), (), HOUR_US)
    text = (
        FOCUS_HEADER
        + "0001-01-01 00:00:00,9999-01-01 00:00:00,5,USD,EC2\n"
        + "0001-01-03 00:00:00,9998-12-31 00:00:00,5,USD,EC2\n"
        + "2024-09-10 01:00:00,2024-09-10 02:00:00,1.5,USD,EC2\n"
    )

    got = read_focus("export.csv", text.encode(), spec)

    assert (got.counted, got.skipped) == (1, 2)
    assert got.problems == [
        "export.csv:2: charge period outside the years 1 to 9999: 0001-01-01 00:00:00 to "
        "9999-01-01 00:00:00",
        "export.csv:3: charge period spans more than 50000 windows",
    ]
    assert got.table.num_rows == 1


def test_window_sums_visit_only_the_fetched_range() -> None:
    since = datetime(2024, 9, 10, tzinfo=UTC)
    sums = WindowSums("csv", timedelta(hours=1), since, since + timedelta(hours=3))
    key = make_key({"service": "EC2"})
    start, end = datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)

    sums.add(key, start, end, Decimal("8766000"), None, "USD")  # hours 1..9999

    points = sums.points()
    assert [p.start for p in points] == [since + timedelta(hours=h) for h in range(3)]
    assert sums.coverage()[0].start == since
    assert sums.coverage()[0].end == since + timedelta(hours=3)
    hours = int((end - start).total_seconds()) // 3600
    assert points[0].amount == Decimal("8766000") * Decimal(3600) / Decimal(hours * 3600)
