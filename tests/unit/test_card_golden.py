"""Teams cards, PagerDuty events and the Slack buttons against reviewed golden files.

The same cases as ``test_render_golden``; rewrite with ``pytest --update-golden`` and
review the diff. Cards are rendered without the chart (PNG bytes depend on matplotlib).
"""

from __future__ import annotations

import json

import pytest

from alerter.notify.pagerduty import event_body
from alerter.notify.render import adaptive_card, slack_blocks
from tests.fakes.teams import problems
from tests.unit.test_render_golden import CASES, TEMPLATE, TZ, check


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
    first = slack_blocks.with_actions(blocks, 42, [], [])
    after = slack_blocks.with_actions(
        first,
        42,
        [":ballot_box_with_check: Acknowledged by <@U012AB3CD> at 2026-03-10 15:04 UTC"],
        ["acknowledge"],
    )
    text = json.dumps({"posted": first, "after_acknowledge": after}, indent=2) + "\n"
    check("slack_buttons.json", text, update_golden)
