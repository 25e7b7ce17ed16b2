"""Acting from the alert: a Slack button pressed over Socket Mode changes what happens next.

Timeline (hourly windows, settle 1 h, threshold 100, repeat every hour):
hour 48 spend jumps to 150 and stays there. At 50:00 the incident is posted; at 51:00 a
repeat goes out; then a button is pressed; at 52:00 the repeat is (or is not) sent.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from alerter.app import App
from alerter.clock import FakeClock
from alerter.config import load_config
from alerter.daemon import Daemon
from alerter.notify.interactive import SocketModeRunner, start_interactions
from alerter.store.actions import Action, actions_of
from tests.conftest import T0
from tests.fakes.pagerduty import ROUTING_KEY, PagerDutyFake
from tests.fakes.slack import APP_TOKEN, TOKEN, SlackFake
from tests.helpers import csv_config
from tests.postgres import scratch_database

pytestmark = pytest.mark.scenario
H = timedelta(hours=1)
ALLOWED = "U0ALLOWED1"
INTRUDER = "U0INTRUDER"
RULE = """
[[rule]]
name = "hot"
source = "bench"
group_by = ["series"]
repeat_interval = "1h"
[rule.detector]
type = "threshold"
above = 100
"""


def write_hours(path: Path, values: list[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "series", "team", "amount"])
        for h, v in enumerate(values):
            w.writerow([(T0 + h * H).strftime("%Y-%m-%dT%H:%M:%SZ"), "s1", "t", v])


@pytest.fixture
def slack() -> Iterator[SlackFake]:
    with SlackFake(usergroups={"S0ONCALL": ["U0ONCALL1"]}) as fake:
        yield fake


@pytest.fixture
def pagerduty() -> Iterator[PagerDutyFake]:
    with PagerDutyFake() as fake:
        yield fake


def interactive_extra(slack: SlackFake, pagerduty: PagerDutyFake) -> str:
    """A PagerDuty notifier and a Slack notifier with Socket Mode buttons."""
    return f"""
[notifiers.oncall]
type = "pagerduty"
routing_key_env = "PD_KEY"
base_url = "{pagerduty.url}"

[notifiers.team]
type = "slack"
token_env = "SLACK_TOKEN"
app_token_env = "SLACK_APP_TOKEN"
channel = "#alerts"
base_url = "{slack.base_url}"
chart = false
allowed_users = ["{ALLOWED}"]
allowed_groups = ["S0ONCALL"]
"""


@pytest.fixture
def world(
    tmp_path: Path, slack: SlackFake, pagerduty: PagerDutyFake
) -> Iterator[tuple[App, FakeClock, SocketModeRunner]]:
    csv_config(tmp_path, rules=RULE, extra=interactive_extra(slack, pagerduty))
    write_hours(tmp_path / "data" / "a.csv", [10.0] * 48 + [150.0] * 8)
    clock = FakeClock(T0 + 50 * H)
    env = {"SLACK_TOKEN": TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "PD_KEY": ROUTING_KEY}
    app = App(load_config(tmp_path / "config.toml"), clock=clock, env=env)
    runners = start_interactions(app.notifiers, app.store, app.clock, app.env)
    assert len(runners) == 1
    slack.wait_connected()
    try:
        yield app, clock, runners[0]
    finally:
        for runner in runners:
            runner.close()
        asyncio.run(app.aclose())


def cycle(app: App, clock: FakeClock, hours: float) -> None:
    clock.set(T0 + hours * H)
    asyncio.run(app.run_cycle("bench", T0 + hours * H))


def posts(slack: SlackFake) -> list[str]:
    """Top-level messages and thread replies (``chat.postMessage``) in order."""
    return [str(c.params.get("text")) for c in slack.calls if c.method == "chat.postMessage"]


def top_ts(slack: SlackFake) -> str:
    return next(ts for ts, m in slack.messages.items() if not m["thread_ts"])


def replies(slack: SlackFake, ts: str) -> list[str]:
    return [str(slack.messages[r]["text"]) for r in slack.messages[ts]["replies"]]


def button_ids(message: dict[str, Any]) -> list[str]:
    return [
        e["action_id"]
        for b in message["blocks"]
        if b.get("block_id") == "alerter_actions"
        for e in b["elements"]
    ]


def test_allowed_user_silences_from_slack_and_the_next_repeat_is_not_sent(world, slack):
    app, clock, _runner = world
    cycle(app, clock, 50)  # window 48 settled: the incident is posted with its buttons
    ts = top_ts(slack)
    assert button_ids(slack.messages[ts]) == [
        "alerter:acknowledge",
        "alerter:silence_24h",
        "alerter:silence_7d",
        "alerter:expected_change",
    ]
    cycle(app, clock, 51)  # still firing: a repeat in the thread
    assert any("Still firing" in text for text in posts(slack))
    incident_id = int(slack.messages[ts]["blocks"][-1]["elements"][0]["value"])
    edits_before = slack.messages[ts].get("edits", 0)

    env_id = slack.press(
        action_id="alerter:silence_24h",
        value=str(incident_id),
        user=ALLOWED,
        channel="C0ALERTS",
        ts=ts,
    )
    assert slack.wait_ack(env_id) == {"envelope_id": env_id}
    slack.wait_for(lambda: slack.messages[ts].get("edits", 0) > edits_before, "the edit")
    slack.wait_for(lambda: any("Silenced" in r for r in replies(slack, ts)), "the reply")

    silences = app.store.silences(clock.now())
    assert [(s.rule, s.matchers, s.created_by) for s in silences] == [
        ("hot", {"series": "s1"}, f"slack:{ALLOWED}")
    ]
    assert silences[0].ends_at - silences[0].starts_at == timedelta(hours=24)
    edited = slack.messages[ts]
    log_block = next(b for b in edited["blocks"] if b.get("block_id") == "alerter_action_log")
    assert f"Silenced for 24 h by <@{ALLOWED}>" in log_block["elements"][0]["text"]
    assert "alerter:silence_24h" not in button_ids(edited)
    assert f"Silenced for 24 h by <@{ALLOWED}>" in replies(slack, ts)[-1]
    history = actions_of(app.store).history(incident_id)  # type: ignore[union-attr]
    assert [(r.action, r.actor) for r in history] == [(Action.SILENCE_24H, f"slack:{ALLOWED}")]

    sent_before = len(posts(slack))
    updates_before = slack.methods().count("chat.update")
    cycle(app, clock, 52)  # would be a repeat: silenced, nothing goes to Slack
    assert len(posts(slack)) == sent_before
    assert slack.methods().count("chat.update") == updates_before


def test_a_user_not_allowed_changes_nothing(world, slack):
    app, clock, _runner = world
    cycle(app, clock, 50)
    cycle(app, clock, 51)
    ts = top_ts(slack)
    incident_id = app.store.incidents("open")[0].id
    before = dict(slack.messages[ts])

    env_id = slack.press(
        action_id="alerter:silence_24h",
        value=str(incident_id),
        user=INTRUDER,
        channel="C0ALERTS",
        ts=ts,
    )
    slack.wait_ack(env_id)
    slack.wait_for(lambda: slack.ephemerals, "the ephemeral answer")
    assert slack.ephemerals[0]["user"] == INTRUDER
    assert "not allowed" in slack.ephemerals[0]["text"]
    assert app.store.silences() == []
    assert actions_of(app.store).history(incident_id) == []  # type: ignore[union-attr]
    assert slack.messages[ts]["blocks"] == before["blocks"]

    sent_before = len(posts(slack))
    cycle(app, clock, 52)  # the repeat still goes out
    assert len(posts(slack)) == sent_before + 1


def test_double_click_acts_once_and_acknowledge_stops_repeats(world, slack, pagerduty):
    app, clock, _runner = world
    cycle(app, clock, 50)
    ts = top_ts(slack)
    incident_id = app.store.incidents("open")[0].id
    first = slack.press(
        action_id="alerter:acknowledge",
        value=str(incident_id),
        user="U0ONCALL1",
        channel="C0ALERTS",
        ts=ts,
    )
    second = slack.press(
        action_id="alerter:acknowledge",
        value=str(incident_id),
        user="U0ONCALL1",
        channel="C0ALERTS",
        ts=ts,
    )
    slack.wait_ack(first)
    slack.wait_ack(second)
    slack.wait_for(lambda: slack.ephemerals, "the 'already done' answer")
    slack.wait_for(lambda: any("Acknowledged" in r for r in replies(slack, ts)), "the reply")
    assert "Already done" in slack.ephemerals[0]["text"]
    history = actions_of(app.store).history(incident_id)  # type: ignore[union-attr]
    assert [(r.action, r.actor) for r in history] == [(Action.ACKNOWLEDGE, "slack:U0ONCALL1")]
    assert slack.messages[ts]["edits"] == 1
    sent_before = len(posts(slack))
    cycle(app, clock, 51)  # a repeat is due, but the incident is acknowledged
    cycle(app, clock, 52)
    assert len(posts(slack)) == sent_before
    # PagerDuty heard the acknowledgement, on the alert the trigger opened
    assert [e["event_action"] for e in pagerduty.events] == ["trigger", "acknowledge"]
    assert {e["dedup_key"] for e in pagerduty.events} == {f"alerter-incident-{incident_id}"}
    assert pagerduty.alerts == {f"alerter-incident-{incident_id}": "acknowledged"}
    assert pagerduty.rejected == []


def test_on_postgres_state_a_press_reaching_two_replicas_acts_once(tmp_path, slack, pagerduty):
    """Two replicas share PostgreSQL state, each with its Socket Mode connection; the same
    Acknowledge press arrives on both: one records and applies it (one edit, one reply,
    one PagerDuty acknowledge), the other answers "Already done"; repeats stop."""
    with scratch_database("alerter_slack") as url:
        csv_config(tmp_path, rules=RULE, extra=interactive_extra(slack, pagerduty), state=url)
        write_hours(tmp_path / "data" / "a.csv", [10.0] * 48 + [150.0] * 8)
        env = {"SLACK_TOKEN": TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "PD_KEY": ROUTING_KEY}
        replicas: list[App] = []
        runners: list[SocketModeRunner] = []
        try:
            for _ in range(2):
                replica = App(
                    load_config(tmp_path / "config.toml"), clock=FakeClock(T0 + 50 * H), env=env
                )
                replicas.append(replica)
                runners += start_interactions(
                    replica.notifiers, replica.store, replica.clock, replica.env
                )
                slack.wait_connected(count=len(runners))
            a, b = replicas
            assert actions_of(a.store) is not None and actions_of(b.store) is not None
            clock_a = a.clock
            assert isinstance(clock_a, FakeClock)
            cycle(a, clock_a, 50)  # replica a takes the source's lease and posts
            ts = top_ts(slack)
            incident_id = a.store.incidents("open")[0].id
            presses = [
                slack.press(
                    action_id="alerter:acknowledge",
                    value=str(incident_id),
                    user=ALLOWED,
                    channel="C0ALERTS",
                    ts=ts,
                    socket=n,
                )
                for n in (0, 1)
            ]
            for env_id in presses:
                slack.wait_ack(env_id)
            slack.wait_for(lambda: slack.ephemerals, "the 'already done' answer")
            slack.wait_for(lambda: any("Acknowledged" in r for r in replies(slack, ts)), "reply")
            assert [e["text"].split(":")[0] for e in slack.ephemerals] == ["Already done"]
            history = actions_of(b.store).history(incident_id)  # type: ignore[union-attr]
            assert [(r.action, r.actor) for r in history] == [
                (Action.ACKNOWLEDGE, f"slack:{ALLOWED}")
            ]
            assert slack.messages[ts]["edits"] == 1
            assert sum("Acknowledged" in r for r in replies(slack, ts)) == 1
            for replica in replicas:  # both deliver: the acknowledge goes out once
                replica.deliver()
            assert [e["event_action"] for e in pagerduty.events] == ["trigger", "acknowledge"]
            sent_before = len(posts(slack))
            cycle(a, clock_a, 51)  # a repeat is due, but the incident is acknowledged
            cycle(a, clock_a, 52)
            assert len(posts(slack)) == sent_before
        finally:
            for runner in runners:
                runner.close()
            for replica in replicas:
                asyncio.run(replica.aclose())


def test_disconnect_envelope_and_dropped_socket_reconnect(world, slack, caplog):
    app, clock, _runner = world
    caplog.set_level(logging.DEBUG)
    cycle(app, clock, 50)
    ts = top_ts(slack)
    incident_id = app.store.incidents("open")[0].id
    slack.send_disconnect()
    slack.wait_connected(count=2)
    assert slack.connections_opened == 2
    slack.drop_socket()
    slack.wait_connected(count=3)
    env_id = slack.press(
        action_id="alerter:expected_change",
        value=str(incident_id),
        user=ALLOWED,
        channel="C0ALERTS",
        ts=ts,
    )
    slack.wait_ack(env_id)
    slack.wait_for(lambda: slack.messages[ts].get("edits", 0) >= 1, "the edit")
    assert app.store.incidents("open") == []
    restarts = actions_of(app.store).restarts("hot")  # type: ignore[union-attr]
    assert [(r.group, r.since) for r in restarts] == [((("series", "s1"),), T0 + 48 * H)]
    assert button_ids(slack.messages[ts]) == []
    slack.wait_for(lambda: any("expected change" in r for r in replies(slack, ts)), "the reply")
    app.deliver()  # the resolve it caused goes out like any other
    header = slack.messages[ts]["blocks"][0]["text"]["text"]
    assert header.startswith("RESOLVED")
    assert f"Marked as expected change by <@{ALLOWED}>" in str(slack.messages[ts]["blocks"])
    assert button_ids(slack.messages[ts]) == []
    assert "Resolved as an expected change" in replies(slack, ts)[-1]
    for secret in (TOKEN, APP_TOKEN):
        assert all(secret not in r.getMessage() for r in caplog.records)


def socket_mode_app(tmp_path: Path, slack: SlackFake, *, deliver_in_cycle: bool = False) -> App:
    """An app whose one Slack notifier has Socket Mode buttons, on four quiet hours."""
    extra = f"""
[notifiers.team]
type = "slack"
token_env = "SLACK_TOKEN"
app_token_env = "SLACK_APP_TOKEN"
channel = "#alerts"
base_url = "{slack.base_url}"
allowed_users = ["{ALLOWED}"]
"""
    csv_config(tmp_path, rules=RULE, extra=extra)
    write_hours(tmp_path / "data" / "a.csv", [10.0] * 4)
    env = {"SLACK_TOKEN": TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}
    return App(
        load_config(tmp_path / "config.toml"),
        clock=FakeClock(T0 + 4 * H),
        env=env,
        deliver_in_cycle=deliver_in_cycle,
    )


def test_the_daemon_starts_socket_mode_restarts_it_on_reload_and_closes_it_on_stop(
    tmp_path, slack, pagerduty
):
    daemon = Daemon(socket_mode_app(tmp_path, slack), grace=10.0, serve_http=False)

    async def scenario() -> int:
        serving = asyncio.create_task(daemon.serve())
        await asyncio.to_thread(slack.wait_connected)
        assert await daemon.reload()  # SIGHUP: Socket Mode follows the reloaded notifiers
        await asyncio.to_thread(slack.wait_connected, 2)
        daemon.request_stop("SIGTERM")
        return await asyncio.wait_for(serving, 120)

    assert asyncio.run(scenario()) == 0
    assert daemon.interactions == []
    assert slack.connections_opened == 2
    slack.wait_for(lambda: slack.socket is None, "the client to close its socket")


@pytest.mark.scenario
def test_a_socket_mode_close_that_hangs_does_not_stop_a_reload_or_a_stop(
    tmp_path, slack, pagerduty, caplog
):
    # slack-sdk's close() joins its session thread without a timeout; a thread left
    # watching a superseded connection state never returns. The daemon must go on.
    daemon = Daemon(socket_mode_app(tmp_path, slack), grace=10.0, serve_http=False)
    daemon.socket_close_wait = 0.2
    release = threading.Event()
    stuck: list[SocketModeRunner] = []

    def hang(runner: SocketModeRunner) -> None:
        real = runner.close

        def close() -> None:
            release.wait(30)
            real()

        runner.close = close  # type: ignore[method-assign]
        stuck.append(runner)

    async def scenario() -> int:
        serving = asyncio.create_task(daemon.serve())
        await asyncio.to_thread(slack.wait_connected)
        while not daemon.interactions:  # the first start returns after its connection
            await asyncio.sleep(0)
        hang(daemon.interactions[0])
        assert await daemon.reload()
        await asyncio.to_thread(slack.wait_connected, 2)  # reconnected all the same
        while len(daemon.interactions) != 1 or daemon.interactions[0] in stuck:
            await asyncio.sleep(0)
        hang(daemon.interactions[0])
        daemon.request_stop("SIGTERM")
        return await asyncio.wait_for(serving, 60)  # and the stop is not held up

    with caplog.at_level(logging.WARNING, logger="alerter"):
        assert asyncio.run(scenario()) == 0
    assert slack.connections_opened == 2
    slow = [r.getMessage() for r in caplog.records if "socket_mode_close_slow" in r.getMessage()]
    assert len(slow) == 2 and all("notifier=team" in m for m in slow)
    release.set()  # let the held closes finish, so no thread outlives the test
    for runner in stuck:
        runner.client.close()
    slack.wait_for(lambda: slack.socket is None, "the clients to close their sockets")


@pytest.mark.scenario
def test_a_stop_while_a_reload_reconnects_still_closes_the_new_connection(
    tmp_path, slack, pagerduty
):
    app = socket_mode_app(tmp_path, slack, deliver_in_cycle=True)
    daemon = Daemon(app, grace=0.0, serve_http=False)  # no grace: background work is cut

    async def scenario() -> int:
        serving = asyncio.create_task(daemon.serve())
        await asyncio.to_thread(slack.wait_connected)
        slack.hold_connections()
        assert await daemon.reload()
        # the reload's new connection is being opened (held at Slack) when the stop comes
        assert await asyncio.to_thread(slack.connect_held.wait, 120)
        daemon.request_stop("SIGTERM")
        slack.release_connections()
        return await asyncio.wait_for(serving, 120)

    assert asyncio.run(scenario()) == 0
    assert daemon.interactions == []
    assert slack.connections_opened == 2
    slack.wait_for(lambda: slack.socket is None, "the client to close its new socket")
