"""Rendered Slack blocks and email bodies against reviewed golden files.

Rewrite with ``pytest --update-golden`` and review the diff. Charts are not goldens
(PNG bytes depend on the matplotlib version); fixed times and timezones keep the rest
deterministic.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from alerter.domain import Notification, Reason, Severity
from alerter.notify.render import email_html, slack_blocks, summary
from alerter.notify.render.text import render_text
from tests.fakes.notifications import HOSTILE, resolved, sample

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
TZ = "Europe/Berlin"
TEMPLATE = "https://grafana.example/d/cost?var-rule={rule}&var-customer={group.customer_name}&from={window_start_ms}"


def daily() -> Notification:
    msg = sample("Globex")
    start = msg.window_start.replace(hour=0)
    return dataclasses.replace(
        msg,
        window_start=start,
        window_end=start.replace(day=start.day + 1),
        step_seconds=86400,
        severity=Severity.WARNING,
        event=Reason.LATE_DATA,
        history=(),
    )


CASES: dict[str, Callable[[], Notification]] = {
    "first": sample,
    "provisional": lambda: sample(partial=True),
    "escalated": lambda: dataclasses.replace(sample(), event=Reason.ESCALATED),
    "resolved": resolved,
    "hostile": lambda: sample(HOSTILE),
    "daily_late_data": daily,
    "confirmed": lambda: sample(event=Reason.LATE_DATA, outcome="confirmed"),
    "withdrawn": lambda: sample(
        event=Reason.RESOLVED,
        outcome="withdrawn",
        observed=Decimal("70.10"),
        excess=Decimal(0),
        contributors=(),
    ),
}


def check(name: str, actual: str, update: bool) -> None:
    path = GOLDEN / name
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"missing golden {path}; run pytest --update-golden and review it"
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


@pytest.mark.parametrize("case", sorted(CASES))
def test_slack_blocks(case: str, update_golden: bool) -> None:
    msg = CASES[case]()
    payload = slack_blocks.render_payload(msg, timezone=TZ, url_template=TEMPLATE)
    payload["thread_reply"] = slack_blocks.reply_text(msg, timezone=TZ)
    text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    check(f"slack_{case}.json", text, update_golden)


@pytest.mark.parametrize("case", sorted(CASES))
def test_email_bodies(case: str, update_golden: bool) -> None:
    msg = CASES[case]()
    link = summary.link(TEMPLATE, msg)
    text = f"Subject: {email_html.subject(msg)}\n\n" + email_html.render_text(
        msg, timezone=TZ, link=link
    )
    html = email_html.render_html(msg, timezone=TZ, link=link, chart_cid="chart-42@alerter")
    check(f"email_{case}.txt", text, update_golden)
    check(f"email_{case}.html", html, update_golden)


@pytest.mark.parametrize("case", sorted(CASES))
def test_console_text(case: str, update_golden: bool) -> None:
    """The console block: same headline, sentence and formats as Slack and email."""
    check(f"console_{case}.txt", render_text(CASES[case](), TZ) + "\n", update_golden)


def test_email_digest(update_golden: bool) -> None:
    msgs = [sample(), resolved("Beta Ltd")]
    text = f"Subject: {email_html.digest_subject(msgs)}\n" + email_html.render_digest_text(
        msgs, timezone=TZ
    )
    check("email_digest.txt", text, update_golden)


def test_slack_grouped(update_golden: bool) -> None:
    msgs = [
        dataclasses.replace(sample(name), incident_id=100 + i)
        for i, name in enumerate(["Acme Corp", "Globex", HOSTILE])
    ] + [dataclasses.replace(resolved("Initech"), incident_id=103)]
    payload = slack_blocks.grouped_payload(msgs, timezone=TZ, url_template=TEMPLATE)
    check(
        "slack_grouped.json",
        json.dumps(payload, indent=2, ensure_ascii=False) + "\n",
        update_golden,
    )
