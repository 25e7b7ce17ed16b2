"""plan_judging: which windows one pass judges and reads, as a case table (pure, no store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerter.domain import make_key
from alerter.judge import JudgePlan, JudgeSettings, plan_judging
from alerter.rules.model import make_rule_model

H = timedelta(hours=1)
NOW = datetime(2026, 9, 7, 12, 30, tzinfo=UTC)  # inside the 12:00 window
DAY = datetime(2026, 9, 7, tzinfo=UTC)
SETTINGS = JudgeSettings(step=H, settle=H, resolve_after=3, notifiers=("slack",))
WEB = make_key({"team": "web"})
DB = make_key({"team": "db"})
Rule = make_rule_model()


def rule(**over: object):
    data: dict[str, object] = dict(
        name="r", source="s", detector=dict(type="change", baseline="mean", windows=3, pct=100)
    )
    data.update(over)
    return Rule.model_validate(data)


def at(hour: int) -> datetime:
    return DAY + hour * H


CASES = [
    # (id, rule overrides, settings, judged_through, late, expected plan or None)
    pytest.param(
        {}, SETTINGS, None, [],
        JudgePlan(at(6), at(11), at(6), at(11), at(6) - 4 * H, frozenset()),
        id="first-run-starts-at-first-judge-from",
    ),
    pytest.param(
        {}, SETTINGS, at(9), [],
        JudgePlan(at(9), at(11), at(9), at(11), at(5), frozenset()),
        id="goes-on-after-the-last-judged-window",
    ),
    pytest.param(
        {}, SETTINGS, at(11), [], None,
        id="nothing-settled-since-is-nothing-to-do",
    ),
    pytest.param(
        {}, SETTINGS, at(11), [(WEB, at(8))],
        JudgePlan(at(11), at(11), at(8), at(11), at(4), frozenset({(WEB, at(8))})),
        id="a-revised-old-window-is-judged-again",
    ),
    pytest.param(
        {"match": {"team": "db"}}, SETTINGS, at(11), [(WEB, at(8))], None,
        id="revisions-of-series-the-rule-does-not-match-are-ignored",
    ),
    pytest.param(
        {}, SETTINGS, at(9), [(WEB, at(10)), (DB, at(11))],
        JudgePlan(at(9), at(11), at(9), at(11), at(5), frozenset()),
        id="late-points-in-windows-not-judged-yet-need-no-second-pass",
    ),
    pytest.param(
        {"early": True}, SETTINGS, at(11), [],
        JudgePlan(at(11), at(11), at(11), at(13), at(7), frozenset()),
        id="an-early-rule-reads-up-to-the-open-window",
    ),
    pytest.param(
        {"early": True}, JudgeSettings(H, H, 3, (), replay=True), at(11), [], None,
        id="a-backtest-never-judges-early",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("over", "settings", "judged", "late", "expected"), CASES)
def test_plan(over, settings, judged, late, expected) -> None:
    plan = plan_judging(rule(**over), settings, NOW, judged, at(6), late, history=4)
    assert plan == expected


def test_first_judge_from_is_floored_to_the_step() -> None:
    plan = plan_judging(rule(), SETTINGS, NOW, None, at(6) + timedelta(minutes=20), [], 2)
    assert plan is not None
    assert plan.judge_from == at(6)
    assert plan.load_from == at(4)
