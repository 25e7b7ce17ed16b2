"""Early alerts: an open window over the band alerts at once, provisionally, and is
confirmed or withdrawn in place when it settles."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import timedelta

import pytest

from alerter.app import App
from alerter.clock import FakeClock
from alerter.config import load_config
from tests.conftest import T0
from tests.helpers import csv_config

pytestmark = pytest.mark.scenario
H = timedelta(hours=1)
RULE = """
[[rule]]
name = "hot"
source = "bench"
group_by = ["series"]
early = true
[rule.detector]
type = "threshold"
above = 100
"""


def write_hours(path, values):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "series", "team", "amount"])
        for h, v in enumerate(values):
            w.writerow([(T0 + h * H).strftime("%Y-%m-%dT%H:%M:%SZ"), "s1", "t", v])


def cycle(tmp_path, clock):
    app = App(load_config(tmp_path / "config.toml"), clock=clock)
    try:
        asyncio.run(app.run_cycle("bench"))
    finally:
        asyncio.run(app.aclose())
    path = tmp_path / "alerts.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize(
    ("final", "outcome", "event"), [(160, "confirmed", "late_data"), (60, "withdrawn", "resolved")]
)
def test_provisional_alert_then_confirmed_or_withdrawn(tmp_path, final, outcome, event):
    data = tmp_path / "data" / "a.csv"
    csv_config(tmp_path, rules=RULE)
    clock = FakeClock(T0 + 48 * H + timedelta(minutes=30))  # hour 48 is still open
    write_hours(data, [10] * 48 + [150])  # the spend so far already crosses 100
    sent = cycle(tmp_path, clock)
    assert [(e["event"], e["partial"], e["window_start"]) for e in sent] == [
        ("first", True, "2026-09-09T00:00:00Z")
    ]
    clock.advance(timedelta(minutes=10))
    assert len(cycle(tmp_path, clock)) == 1  # still open: no second early alert

    write_hours(data, [10] * 48 + [final, 10])
    clock.set(T0 + 50 * H + timedelta(minutes=5))  # hour 48 has closed and settled
    sent = cycle(tmp_path, clock)
    assert [(e["event"], e["partial"], e["outcome"]) for e in sent[1:]] == [(event, False, outcome)]
    assert sent[1]["incident"] == sent[0]["incident"]  # the same incident, updated in place
    assert sent[1]["observed"] == f"{final}.000000"
