"""Hostile text in rendered messages (issue 11, minor findings): Block Kit limits for any
input, bidi controls neutralised, dimension values capped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerter.clock import FakeClock
from alerter.domain import MAX_DIMENSION_VALUE, Contributor, cap_value, key_get, make_key
from alerter.notify.email import EmailConfig, EmailNotifier
from alerter.notify.render import slack_blocks
from alerter.notify.render.escape import (
    BIDI_CONTROLS,
    header_safe,
    html_text,
    plain_text,
    slack_mrkdwn,
    slack_text,
)
from alerter.notify.slack import SlackConfig, SlackNotifier
from tests.fakes.metronome import FakeMetronome
from tests.fakes.notifications import context, sample
from tests.fakes.slack import TOKEN, SlackFake
from tests.unit import test_metronome_source as mtr

TOM = "Tom & Jerry <> " * 20
BIDI = "\u202eevil\u202c \u2066x\u2069 \u202a\u202b\u202d\u2067\u2068"


@pytest.fixture
def slack() -> Iterator[SlackFake]:
    with SlackFake() as server:
        yield server


def bot(fake: SlackFake) -> SlackNotifier:
    config = SlackConfig(
        token_env="SLACK_TOKEN",
        channel="#alerts",
        base_url=fake.base_url,
        chart=False,
        url_template="https://dash.example/{group.customer_name}",
    )
    return SlackNotifier("team", config, context({"SLACK_TOKEN": TOKEN}))


def check_block_kit(blocks: list[dict[str, Any]]) -> None:
    """Slack's documented limits (what makes it answer ``invalid_blocks``)."""
    assert len(blocks) <= 50
    assert len(json.dumps(blocks, ensure_ascii=False)) <= 12000
    for block in blocks:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            if "text" in block:
                assert len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "context":
            assert all(len(e["text"]) <= 3000 for e in block["elements"])


def hostile(name: str = TOM, rule: str = "r" * 5000) -> Any:
    group = (("customer_name", name), ("region", name))  # raw, as an older store may hold
    contributors = tuple(
        Contributor(
            key=(("customer_name", name), ("line_item", f"{name}{i}")),
            observed=Decimal(10),
            expected=Decimal(1),
            delta=Decimal(9),
            share=0.01,
        )
        for i in range(40)
    )
    return replace(sample(), group=group, rule=rule, source=name * 3, contributors=contributors)


def test_a_hostile_name_still_posts_within_block_kit_limits(slack: SlackFake) -> None:
    result = bot(slack).send(hostile(), None)

    assert result.__class__.__name__ == "Delivered"
    (posted,) = slack.messages.values()
    check_block_kit(posted["blocks"])
    header = posted["blocks"][0]["text"]["text"]
    assert header.endswith("…") and len(header) <= 150


def test_a_grouped_burst_of_hostile_names_stays_within_limits(slack: SlackFake) -> None:
    msgs = [replace(hostile(rule=f"rule-{i % 3}" + "x" * 500), incident_id=i) for i in range(80)]
    assert bot(slack).send_many(msgs).__class__.__name__ == "Delivered"
    (posted,) = slack.messages.values()
    check_block_kit(posted["blocks"])


@settings(max_examples=60)
@given(st.text(max_size=400), st.integers(min_value=0, max_value=60))
def test_fit_blocks_holds_for_any_text(text: str, n: int) -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": slack_text(text * 3)}},
        *(
            {"type": "section", "text": {"type": "mrkdwn", "text": slack_mrkdwn(text * 20)}}
            for _ in range(n)
        ),
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": slack_mrkdwn(text * 9)} for _ in range(14)],
        },
    ]
    check_block_kit(slack_blocks.fit_blocks(blocks))


def test_bidi_controls_are_removed_by_every_escape() -> None:
    for escape in (slack_text, slack_mrkdwn, plain_text, html_text, header_safe):
        shown = escape(f"Acme {BIDI} Corp")
        assert not set(shown) & BIDI_CONTROLS, escape.__name__
        assert "evil" in shown


def test_bidi_controls_reach_neither_slack_nor_email(slack: SlackFake) -> None:
    msg = sample(customer=f"Acme {BIDI}")
    bot(slack).send(msg, None)
    (posted,) = slack.messages.values()
    assert not set(json.dumps(posted, ensure_ascii=False)) & BIDI_CONTROLS

    config = EmailConfig.model_validate(
        {"host": "127.0.0.1", "from": "a@example.com", "to": ["b@example.com"], "chart": False}
    )
    mail = EmailNotifier("ops", config, context({})).build(msg)
    assert not set(str(mail["Subject"])) & BIDI_CONTROLS
    for part in mail.walk():
        if part.get_content_maintype() == "text":
            assert not set(str(part.get_content())) & BIDI_CONTROLS


def test_dimension_values_are_capped_with_a_marker() -> None:
    long_a, long_b = "A" * 100_000, "A" * 99_999 + "B"
    key_a, key_b = make_key({"customer_name": long_a}), make_key({"customer_name": long_b})
    value = key_get(key_a, "customer_name")
    assert len(value) == MAX_DIMENSION_VALUE and "…#" in value
    assert key_a != key_b  # distinct values stay distinct series
    assert make_key({"customer_name": long_a}) == key_a  # and stable across cycles
    assert cap_value("short") == "short"


def test_a_100kb_customer_name_is_stored_capped() -> None:
    clock = FakeClock(mtr.NOW)
    data = mtr.make_dataset(0)
    customer = data.add_customer("N" * 100_000, products=[mtr.GPU])
    data.set_usage(customer.id, mtr.GPU.name, mtr.DAY0, Decimal(100))
    with FakeMetronome(data, token=mtr.TOKEN, now=clock.now) as fake:
        source = mtr.make_source(fake, clock)
        result = mtr.run_fetch(source, mtr.DAY0, mtr.DAY0 + timedelta(hours=2))
    assert result.points and not result.errors
    for point in result.points:
        assert all(len(v) <= MAX_DIMENSION_VALUE for _k, v in point.key)
