"""Late data for groups of several series (a csv source, ``group_by`` one of two
dimensions): a revised member updates its group's incident in place, and hours that
arrive after their windows were judged unknown are judged when they come, each
group through its own member series only."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerter.app import App
from alerter.clock import FakeClock
from alerter.config import load_config
from tests.conftest import T0
from tests.helpers import SPIKE_RULE, csv_config

pytestmark = pytest.mark.scenario
H = timedelta(hours=1)
# the shared spike rule, grouped by team: each team is a group of its series
RULE = SPIKE_RULE.replace('name = "spike"', 'name = "team-spike"').replace(
    'group_by = ["series"]', 'group_by = ["team"]'
)
# two series in team t1, one in t2
SERIES = {("a", "t1"): 10.0, ("b", "t1"): 10.0, ("c", "t2"): 10.0}


def write_hours(
    path: Path, hours: range, factor: dict[tuple[str, int], float], *, append: bool = False
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a" if append else "w", newline="") as fh:
        out = csv.writer(fh)
        if not append:
            out.writerow(["timestamp", "series", "team", "amount"])
        for h in hours:
            for (name, team), base in SERIES.items():
                value = base * (1 + (h % 5) / 100) * factor.get((name, h), 1.0)
                out.writerow([(T0 + h * H).strftime("%Y-%m-%dT%H:%M:%SZ"), name, team, value])


def cycle(tmp: Path, now: datetime) -> list[dict[str, Any]]:
    app = App(load_config(tmp / "config.toml"), clock=FakeClock(now))
    try:
        asyncio.run(app.run_cycle("bench"))
    finally:
        asyncio.run(app.aclose())
    path = tmp / "alerts.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_a_revised_member_updates_its_groups_incident(tmp_path: Path) -> None:
    data = tmp_path / "data" / "a.csv"
    csv_config(tmp_path, rules=RULE, extra="", data_glob="data/*.csv")
    write_hours(data, range(72), {("a", 60): 8.0})
    sent = cycle(tmp_path, T0 + 73 * H)
    assert [(e["event"], e["group"]) for e in sent] == [
        ("first", {"team": "t1"}),
        ("resolved", {"team": "t1"}),
    ]
    # the other member of t1 is revised upwards in the spike's window (backdated usage);
    # t2 is revised too, in a window it never had an incident for: nothing to say there
    write_hours(data, range(72), {("a", 60): 8.0, ("b", 60): 3.0, ("c", 50): 1.5})
    events = cycle(tmp_path, T0 + 74 * H)[2:]
    assert [(e["event"], e["group"]) for e in events] == [("late_data", {"team": "t1"})]
    assert float(events[0]["observed"]) > float(sent[0]["observed"])


def test_hours_judged_unknown_are_judged_when_they_arrive(tmp_path: Path) -> None:
    data = tmp_path / "data" / "a.csv"
    csv_config(tmp_path, rules=RULE)
    write_hours(data, range(60), {})
    assert cycle(tmp_path, T0 + 66 * H) == []  # hours 60-64 judged while unknown
    # they arrive late, appended to the file; one member of t2 spiked in hour 62
    write_hours(data, range(60, 66), {("c", 62): 8.0}, append=True)
    sent = cycle(tmp_path, T0 + 67 * H)
    assert [(e["event"], e["group"], e["window_start"]) for e in sent][:1] == [
        ("first", {"team": "t2"}, (T0 + 62 * H).strftime("%Y-%m-%dT%H:%M:%SZ"))
    ]
    assert {tuple(e["group"].items()) for e in sent} == {(("team", "t2"),)}
