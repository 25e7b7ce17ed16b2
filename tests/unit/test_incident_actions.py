"""Incident actions in the store: recorded once, applied once, and what they cause.

The cases that take ``store`` run on SQLite state and on PostgreSQL state (a scratch
database of the machine's server, ``tests/postgres.py``): the same contract."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from alerter import payload
from alerter.detect.base import SeriesFrame
from alerter.detect.restarts import restart_baselines
from alerter.domain import Incident, Reason, Severity, make_key
from alerter.incidents.silences import matching_silence
from alerter.notify.actions import (
    EXPECTED_CHANGE,
    ActionError,
    apply_action,
    history_notes,
)
from alerter.notify.base import NotifierContext
from alerter.notify.pipeline import Envelope, PipelineContext, run_pipeline
from alerter.notify.slack import SlackConfig, SlackNotifier
from alerter.store.actions import Action, ActionRecord, actions_of
from alerter.store.base import Store
from alerter.store.postgres import PostgresStore
from alerter.store.sqlite import SqliteStore
from tests.conftest import T0
from tests.fakes.notifications import context, sample
from tests.postgres import scratch_database

H = timedelta(hours=1)
GROUP = make_key({"customer_name": "Acme [EU] *"})


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """A fresh store: in-memory SQLite, or a scratch PostgreSQL database."""
    if request.param == "sqlite":
        lite = SqliteStore(":memory:")
        yield lite
        lite.close()
        return
    with scratch_database("alerter_actions") as url:
        pg = PostgresStore(url, holder="a")
        yield pg
        pg.close()


def open_incident(store: Store) -> Incident:
    incident = Incident(
        id=0,
        rule="customer-hourly-spike",
        group=GROUP,
        status="open",
        severity=Severity.CRITICAL,
        opened_at=T0 + 10 * H,
        first_window=T0 + 9 * H,
        last_window=T0 + 9 * H,
        last_anomalous_window=T0 + 9 * H,
        observed=Decimal(400),
        expected=Decimal(60),
        peak_score=9.0,
        normal_streak=0,
        excess=Decimal(340),
    )
    saved = store.save_incident(incident)
    msg = sample("Acme [EU] *", incident_id=saved.id)
    for target in ("slack", "pd", "mail"):
        store.enqueue(msg, target, T0 + 10 * H)
    for item in store.due(T0 + 10 * H):
        if item.notifier in ("slack", "pd"):  # mail never got it out
            store.mark_sent(item.id, f"ref-{item.notifier}", T0 + 10 * H)
    return saved


def pending(store: Store) -> list[tuple[str, str]]:
    return [(i.notifier, i.event) for i in store.outbox_items("pending") if i.notifier != "mail"]


def test_silence_is_recorded_once_and_matches_exactly_this_group(store):
    incident = open_incident(store)
    now = T0 + 11 * H
    first = apply_action(store, incident.id, Action.SILENCE_7D, "slack:U1", now)
    again = apply_action(store, incident.id, Action.SILENCE_7D, "slack:U2", now + H)
    assert (first.applied, again.applied) == (True, False)
    active = store.silences(now)
    [silence] = active
    assert silence.ends_at == now + timedelta(days=7)
    assert silence.created_by == "slack:U1"
    assert matching_silence(active, incident.rule, GROUP) == silence
    # the group value's own glob characters are literal, not wildcards
    assert matching_silence(active, incident.rule, make_key({"customer_name": "Acme E x"})) is None
    assert [(r.action, r.actor) for r in again.history] == [(Action.SILENCE_7D, "slack:U1")]


def test_acknowledge_tells_on_call_targets_that_carry_the_incident(store):
    incident = open_incident(store)
    apply_action(
        store, incident.id, Action.ACKNOWLEDGE, "slack:U1", T0 + 11 * H, ack_targets=["pd", "pd2"]
    )
    assert pending(store) == [("pd", "acknowledged")]
    assert actions_of(store).acknowledged() == {incident.id}  # type: ignore[union-attr]


def test_acknowledged_incident_skips_repeats_but_not_other_events(store):
    incident = open_incident(store)
    apply_action(store, incident.id, Action.ACKNOWLEDGE, "slack:U1", T0 + 11 * H)
    ctx = PipelineContext(store=store, outbox=store, silences=[], all_notifiers=("slack",))
    repeat = sample(incident_id=incident.id, event=Reason.REPEAT_DUE)
    escalated = sample(incident_id=incident.id, event=Reason.ESCALATED)
    assert not run_pipeline(Envelope(repeat, (), T0 + 12 * H), ctx)
    assert run_pipeline(Envelope(escalated, (), T0 + 12 * H), ctx)


def test_expected_change_resolves_and_restarts_the_baseline(store):
    incident = open_incident(store)
    now = T0 + 11 * H
    apply_action(
        store,
        incident.id,
        Action.EXPECTED_CHANGE,
        "slack:U1",
        now,
        resolve_targets=["pd", "mail"],
    )
    [stored] = store.incidents()
    assert (stored.status, stored.resolved_at) == ("resolved", now)
    [restart] = actions_of(store).restarts(incident.rule)  # type: ignore[union-attr]
    assert (restart.group, restart.since, restart.actor) == (GROUP, T0 + 9 * H, "slack:U1")
    [(target, event)] = pending(store)
    assert (target, event) == ("pd", "resolved")
    item = next(i for i in store.outbox_items("pending") if i.notifier == "pd")
    assert payload.loads(item.payload).outcome == EXPECTED_CHANGE
    notes = history_notes(store, incident.rule, GROUP)
    assert notes[0].startswith("baseline restarted at 2026-09-07T09:00:00Z")
    assert "expected_change by slack:U1" in notes[1]


def test_unknown_incident_is_an_error(store):
    with pytest.raises(ActionError, match="no incident #99"):
        apply_action(store, 99, Action.ACKNOWLEDGE, "slack:U1", T0)


def test_restart_blanks_only_the_restarted_groups_earlier_windows():
    starts = (np.datetime64(T0.replace(tzinfo=None), "s") + np.arange(6) * 3600).astype(
        "datetime64[s]"
    )
    keys = [make_key({"team": "a", "sku": "x"}), make_key({"team": "b", "sku": "y"})]
    frame = SeriesFrame(keys=keys, starts=starts, step=H, values=np.ones((2, 6)))
    same = restart_baselines(frame, [], ["team"])
    assert same is frame
    out = restart_baselines(frame, [(make_key({"team": "a"}), T0 + 3 * H)], ["team"])
    assert np.isnan(out.values[0, :3]).all()
    assert (out.values[0, 3:] == 1).all()
    assert (out.values[1] == 1).all()
    assert (frame.values == 1).all()  # the input is left alone


def test_a_rerendered_slack_message_keeps_the_action_log_and_remaining_buttons():
    acked = ActionRecord(42, Action.ACKNOWLEDGE, "slack:U0ALICE1", T0 + H)
    base = context()
    ctx = NotifierContext(base.clock, base.env, base.config_dir, lambda incident: [acked])
    cfg = SlackConfig(token_env="T", app_token_env="A", channel="#alerts")
    slack = SlackNotifier("team", cfg, ctx)

    def ids(blocks: list[dict[str, Any]]) -> list[str]:
        return [
            e["action_id"]
            for b in blocks
            if b.get("block_id") == "alerter_actions"
            for e in b["elements"]
        ]

    escalated = slack.payload(sample(event=Reason.ESCALATED))["blocks"]
    assert "Acknowledged by <@U0ALICE1>" in str(escalated)
    assert ids(escalated) == [
        "alerter:silence_24h",
        "alerter:silence_7d",
        "alerter:expected_change",
    ]
    resolved_blocks = slack.payload(sample(event=Reason.RESOLVED))["blocks"]
    assert ids(resolved_blocks) == []
    assert "Acknowledged by <@U0ALICE1>" in str(resolved_blocks)
