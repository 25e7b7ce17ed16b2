"""The shared formats every renderer uses, unfolded subjects, masked config output."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from alerter.configshow import _mask
from alerter.notify.email import EmailConfig, EmailNotifier
from alerter.notify.render import fmt, summary
from alerter.table import table
from tests.fakes.notifications import context, resolved, sample


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("1234.5"), "$1,234.50"),
        (Decimal("-3.504"), "-$3.50"),
    ],
)
def test_money(value: Decimal, text: str) -> None:
    assert fmt.money(value) == text


@pytest.mark.parametrize(
    ("pct", "text"),
    [(415.4, "+415%"), (-42.0, "-42%"), (3.25, "+3.2%"), (-0.5, "-0.5%"), (None, "new spend")],
)
def test_percent(pct: float | None, text: str) -> None:
    assert fmt.percent(pct) == text


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(days=7), "7d"),
        (timedelta(hours=168 + 2), "7d 2h"),
        (timedelta(hours=5, minutes=30), "5h 30m"),
        (timedelta(minutes=45), "45m"),
        (timedelta(seconds=-5), "0m"),
    ],
)
def test_duration(delta: timedelta, text: str) -> None:
    assert fmt.duration(delta) == text


def test_signed_money_and_when() -> None:
    assert fmt.signed_money(Decimal(12), "EUR") == "+12.00 EUR"
    assert fmt.when(datetime(2026, 10, 5, 14, 0, tzinfo=UTC)) == "2026-10-05 14:00 UTC"
    assert fmt.when(None) == "-"


def test_a_utc_day_reads_as_a_date_in_any_timezone() -> None:
    start = datetime(2026, 10, 5, tzinfo=UTC)
    berlin = ZoneInfo("Europe/Berlin")
    assert summary.window_text(start, start + timedelta(days=1), berlin) == "Mon 05 Oct 2026 (UTC)"
    local = datetime(2026, 10, 5, tzinfo=berlin)
    assert summary.window_text(local, local + timedelta(days=1), berlin) == (
        "Mon 05 Oct 2026 (CEST)"
    )


def test_resolved_notice_covers_the_span_not_the_resolving_window() -> None:
    msg = resolved()
    first, end = summary.span(msg)
    assert first == msg.first_window
    assert end - first == timedelta(hours=3)
    assert msg.window_start >= end  # the message's own window is a normal one after it
    assert summary.change_text(msg) == "lasted 3h, $1,204.75 above expected in total"
    assert summary.state_label(msg) == "RESOLVED"


def test_an_email_subject_is_never_folded() -> None:
    config = EmailConfig.model_validate(
        {"host": "127.0.0.1", "from": "a@example.com", "to": ["b@example.com"]}
    )
    notifier = EmailNotifier("mail", config, context())
    for msg in (sample(), sample("A" * 60), dataclasses.replace(resolved(), rule="r" * 40)):
        raw = notifier.build(msg).as_string()
        (line,) = [line for line in raw.splitlines() if line.startswith("Subject:")]
        assert line.startswith("Subject: [")
        following = raw.splitlines()[raw.splitlines().index(line) + 1]
        assert not following.startswith((" ", "\t"))  # no continuation line


def test_config_show_masks_secret_like_values_but_not_variable_names() -> None:
    data = {
        "token_env": "SLACK_BOT_TOKEN",
        "password": "hunter2",
        "url": "https://user:pw@hooks.example/x",
        "nested": {"api_key": "k-123"},
    }
    assert _mask("", data) == {
        "token_env": "SLACK_BOT_TOKEN",
        "password": "***",
        "url": "https://***@hooks.example/x",
        "nested": {"api_key": "***"},
    }


def test_table_aligns_columns_and_shows_missing_as_dash() -> None:
    text = table(["id", "rule"], [[1, "spike"], [12, None]])
    assert text.splitlines() == ["ID  RULE", "1   spike", "12  -"]
    assert table(["id"], [], empty="(none)") == "(none)"
