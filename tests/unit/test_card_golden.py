"""Teams cards, PagerDuty events and the Slack buttons against reviewed golden files.

The same cases as ``test_render_golden``; rewrite with ``pytest --update-golden`` and
review the diff. Cards are rendered without the chart (PNG bytes depend on matplotlib).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from alerter.notify.pagerduty import event_body
from alerter.notify.render import adaptive_card, slack_actions
from alerter.store.actions import Action, ActionRecord
from tests.conftest import T0
from tests.fakes.teams import problems
from tests.unit.test_render_golden import CASES, TEMPLATE, TZ, check

H = timedelta(hours=1)


@pytest.mark.parametrize("case", sorted(CASES))
def test_teams_card(case: str, update_golden: bool) -> None:
    body = adaptive_card.message(
        adaptive_card.card(CASES[case](), timezone=TZ, url_template=TEMPLATE)
    )
    assert problems(body) == []
    check(
        f"teams_{case}.json", json.dumps(body, indent=2, ensure_ascii=False) + "\n", update_golden
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_pagerduty_event(case: str, update_golden: bool) -> None:
    body = event_body(CASES[case](), "R" * 32, TEMPLATE)
    check(
        f"pagerduty_{case}.json",
        json.dumps(body, indent=2, ensure_ascii=False) + "\n",
        update_golden,
    )


def test_slack_buttons_and_action_log(update_golden: bool) -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "the incident"}}]
    first = slack_actions.with_actions(blocks, 42, [], "open")
    acked = ActionRecord(42, Action.ACKNOWLEDGE, "slack:U012AB3CD", T0 + 15 * H)
    after = slack_actions.with_actions(first, 42, [acked], "open")
    bogus = ActionRecord(42, Action.SILENCE_24H, "slack:<!channel>", T0 + 16 * H)
    resolved = slack_actions.with_actions(after, 42, [acked, bogus], "resolved")
    text = json.dumps({"posted": first, "after_acknowledge": after, "resolved": resolved}, indent=2)
    check("slack_buttons.json", text + "\n", update_golden)
