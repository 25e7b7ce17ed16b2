"""Expected change and acknowledgement, as recorded by the buttons, through the CLI:
``status`` lists who acted, ``backtest`` and ``explain`` judge the group from its
restarted baseline."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from alerter.app import App
from alerter.cli import main
from alerter.clock import FakeClock
from alerter.config import load_config
from alerter.detect.engine import evaluate
from alerter.notify.actions import apply_action
from alerter.store.actions import Action
from alerter.store.sqlite import SqliteStore
from tests.conftest import T0
from tests.helpers import SPIKE_RULE, csv_config, write_csv_series

pytestmark = pytest.mark.scenario
H = timedelta(hours=1)


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    path = csv_config(tmp_path, rules=SPIKE_RULE)
    write_csv_series(
        tmp_path / "data" / "a.csv",
        T0,
        72,
        {"s1": 10.0, "s2": 10.0},
        spikes={("s1", h): 5.0 for h in range(66, 72)},  # a new level from hour 66 on
        rhythm=False,
    )
    return path


def backtest_firsts(cfg: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    args = ["backtest", "--json", "--config", str(cfg), "--since", "2026-09-08T00:00:00Z"]
    assert main([*args, "--until", "2026-09-10T00:00:00Z"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return [e["window_start"] for e in events if e["event"] == "first"]


def test_status_backtest_and_explain_follow_the_chat_actions(cfg, capsys):
    assert main(["run", "--once", "--config", str(cfg)]) == 0
    capsys.readouterr()
    assert backtest_firsts(cfg, capsys) == ["2026-09-09T18:00:00Z"]

    state = SqliteStore(str(cfg.parent / "state.db"))
    [incident] = state.incidents("open")
    assert incident.first_window == T0 + 66 * H
    apply_action(state, incident.id, Action.ACKNOWLEDGE, "slack:U0ALICE", T0 + 70 * H)
    state.close()
    assert main(["status", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "acknowledge by slack:U0ALICE at 2026-09-09 22:00 UTC: repeats stopped" in out
    assert main(["status", "--json", "--config", str(cfg)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["open_incidents"][0]["actions"][0]["by"] == "slack:U0ALICE"

    state = SqliteStore(str(cfg.parent / "state.db"))
    apply_action(state, incident.id, Action.EXPECTED_CHANGE, "slack:U0ALICE", T0 + 71 * H)
    state.close()
    # the new level is accepted: judged from hour 66 on, the shift is no anomaly
    assert backtest_firsts(cfg, capsys) == []
    args = ["explain", "--config", str(cfg), "--rule", "spike", "--group", "series=s1"]
    assert main([*args, "--at", "2026-09-09T20:00:00Z"]) == 0
    out = capsys.readouterr().out
    assert "baseline restarted at 2026-09-09T18:00:00Z" in out
    assert "expected_change by slack:U0ALICE" in out
    used = out.split("baseline windows used", 1)[1].split("actions from chat:", 1)[0]
    assert "2026-09-09T17:00:00Z  unknown" in used  # before the restart: no longer counts


def test_an_expected_change_pressed_while_the_detector_runs_opens_no_new_incident(
    tmp_path, monkeypatch
):
    """The button is pressed after the cycle read the state but before it judged: the
    judge sees the restart inside its transaction and judges with it, so the accepted
    level opens no new incident for the group."""
    cfg = csv_config(tmp_path, rules=SPIKE_RULE)
    data = tmp_path / "data" / "a.csv"
    series = {"s1": 10.0, "s2": 10.0}
    shift = {("s1", h): 5.0 for h in range(66, 76)}
    write_csv_series(data, T0, 72, series, spikes=shift, rhythm=False)
    app = App(load_config(cfg), clock=FakeClock(T0 + 73 * H))

    def cycle(now: datetime):
        async def go():
            return await app.run_cycle("bench", now)

        return asyncio.run(go())

    try:
        cycle(T0 + 73 * H)
        [incident] = app.store.incidents("open")
        write_csv_series(data, T0, 76, series, spikes=shift, rhythm=False)
        pressed: list[bool] = []

        def evaluate_then_press(*args, **kwargs):
            result = evaluate(*args, **kwargs)
            if not pressed:  # the first pass: the press lands while it ran
                pressed.append(True)
                apply_action(
                    app.store, incident.id, Action.EXPECTED_CHANGE, "slack:U0BOB", T0 + 76 * H
                )
            return result

        monkeypatch.setattr("alerter.judge.evaluate", evaluate_then_press)
        report = cycle(T0 + 77 * H)
        assert pressed and report.ok
        assert app.store.incidents("open") == []
        assert [i.id for i in app.store.incidents() if i.group == incident.group] == [incident.id]
    finally:
        asyncio.run(app.aclose())
