"""Teams and PagerDuty over a whole incident lifecycle, against fakes that check every
body against the published schemas (Adaptive Card 1.5 / Events API v2)."""

from __future__ import annotations

import dataclasses
from typing import Any

from alerter.domain import Notification, Reason, Severity, make_key
from alerter.notify import NOTIFIERS
from alerter.notify.base import Delivered
from alerter.notify.render import adaptive_card
from tests.fakes.notifications import context, resolved, sample
from tests.fakes.pagerduty import ROUTING_KEY, PagerDutyFake
from tests.fakes.teams import SIZE_LIMIT, TeamsFake, problems

LIFECYCLE = [
    sample(),
    dataclasses.replace(sample(), event=Reason.ESCALATED),
    dataclasses.replace(sample(), event=Reason.LATE_DATA),
    dataclasses.replace(sample(), event=Reason.REPEAT_DUE),
    resolved(),
]


def make(type_: str, raw: dict[str, Any], env: dict[str, str]) -> Any:
    cls: Any = NOTIFIERS[type_]
    return cls(type_, cls.Config.model_validate({"type": type_, **raw}), context(env))


def card_text(card: dict[str, Any]) -> str:
    return str(card)


def test_teams_receives_a_valid_card_for_every_lifecycle_event() -> None:
    with TeamsFake() as fake:
        teams = make(
            "teams",
            {"url_env": "URL", "url_template": "https://d.example/{incident}"},
            {"URL": fake.url},
        )
        prior = None
        for msg in LIFECYCLE:
            result = teams.send(msg, prior)
            assert isinstance(result, Delivered), result
            prior = result.ref
    assert fake.rejected == []
    titles = [card["body"][0]["text"] for card in fake.cards]
    assert titles == [
        "Incident #42 · NEW · CRITICAL · customer-hourly-spike",
        "Incident #42 · ESCALATED · CRITICAL · customer-hourly-spike",
        "Incident #42 · UPDATED · CRITICAL · customer-hourly-spike",
        "Incident #42 · STILL FIRING · CRITICAL · customer-hourly-spike",
        "Incident #42 · RESOLVED · CRITICAL · customer-hourly-spike",
    ]
    first, last = fake.cards[0], fake.cards[-1]
    facts = {f["title"]: f["value"] for f in first["body"][3]["facts"]}
    assert facts["Observed"] == "$412.50"
    assert facts["Delta"].startswith("+$351.30")
    assert any(b["type"] == "Image" for b in first["body"])  # the chart fits
    assert first["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open dashboard", "url": "https://d.example/42"}
    ]
    assert "Back to normal" in card_text(last)
    assert all(b["type"] != "Image" for b in last["body"])


def test_teams_card_stays_under_the_size_limit_with_huge_billing_text() -> None:
    huge = "x" * 50_000
    contributors = tuple(
        dataclasses.replace(c, key=make_key({"customer_name": huge, "sku": str(i)}))
        for i, c in enumerate(sample().contributors * 5)
    )
    msg = dataclasses.replace(sample(huge), contributors=contributors)
    body = adaptive_card.bounded_message(msg, chart=lambda dpi: b"\x89PNG" + b"\0" * 40_000)
    assert adaptive_card.size(body) <= adaptive_card.PAYLOAD_LIMIT < SIZE_LIMIT
    assert problems(body) == []
    with TeamsFake() as fake:
        teams = make("teams", {"url_env": "URL"}, {"URL": fake.url})
        assert isinstance(teams.send(msg, None), Delivered)
    assert fake.rejected == []


def test_pagerduty_trigger_acknowledge_resolve_share_one_dedup_key() -> None:
    with PagerDutyFake() as fake:
        pd = make("pagerduty", {"routing_key_env": "PD", "base_url": fake.url}, {"PD": ROUTING_KEY})
        events: list[Notification] = [
            sample(),
            dataclasses.replace(sample(), event=Reason.ACKNOWLEDGED),
            resolved(),
        ]
        refs = [pd.send(msg, None) for msg in events]
    assert all(isinstance(r, Delivered) for r in refs)
    assert fake.rejected == []
    assert [e["event_action"] for e in fake.events] == ["trigger", "acknowledge", "resolve"]
    keys = {e["dedup_key"] for e in fake.events}
    assert keys == {"alerter-incident-42"}
    assert fake.alerts == {"alerter-incident-42": "resolved"}
    trigger = fake.events[0]["payload"]
    assert trigger["severity"] == "critical"
    assert trigger["custom_details"]["root_cause"][0] == {
        "series": "customer_name=Acme Corp,line_item=GPU hours",
        "observed": "380.00",
        "expected": "40.00",
        "delta": "340.00",
        "share": 0.9678,
    }


def test_pagerduty_severity_follows_the_rule_and_late_data_after_resolve_is_not_a_new_alert() -> (
    None
):
    with PagerDutyFake() as fake:
        pd = make("pagerduty", {"routing_key_env": "PD", "base_url": fake.url}, {"PD": ROUTING_KEY})
        pd.send(dataclasses.replace(sample(), severity=Severity.WARNING), None)
        pd.send(resolved(), None)
        late = dataclasses.replace(resolved(), event=Reason.LATE_DATA)
        assert isinstance(pd.send(late, "alerter-incident-42"), Delivered)
    assert fake.events[0]["payload"]["severity"] == "warning"
    assert [e["event_action"] for e in fake.events] == ["trigger", "resolve"]
