"""The notify pipeline: silence -> acknowledged -> targets -> enqueue, on a real store."""

from __future__ import annotations

from datetime import timedelta

from alerter.domain import Reason, Silence
from alerter.notify.dryrun import DryRunOutbox
from alerter.notify.pipeline import Envelope, PipelineContext, run_pipeline
from alerter.store.sqlite import SqliteStore
from tests.conftest import T0
from tests.fakes.notifications import sample

H = timedelta(hours=1)


def silence(rule: str | None, matchers: dict[str, str], hours: int = 2) -> Silence:
    return Silence(1, rule, matchers, T0 - H, T0 + hours * H, "maintenance", "ops")


def queued(store: SqliteStore) -> list[tuple[int, str]]:
    return [(item.incident_id, item.notifier) for item in store.outbox_items()]


def test_no_targets_means_every_notifier_one_row_each_in_order(store: SqliteStore) -> None:
    ctx = PipelineContext(store, store, [], ("slack", "mail"))
    assert run_pipeline(Envelope(sample(), (), T0), ctx)
    assert queued(store) == [(42, "slack"), (42, "mail")]


def test_the_rule_targets_win_over_the_default(store: SqliteStore) -> None:
    ctx = PipelineContext(store, store, [], ("slack", "mail"))
    assert run_pipeline(Envelope(sample(), ("mail",), T0), ctx)
    assert queued(store) == [(42, "mail")]


def test_no_notifier_at_all_stops_quietly(store: SqliteStore) -> None:
    ctx = PipelineContext(store, store, [], ())
    assert not run_pipeline(Envelope(sample(), (), T0), ctx)
    assert queued(store) == []


def test_an_active_matching_silence_stops_the_event(store: SqliteStore) -> None:
    msg = sample("Acme Corp")
    hit = silence(msg.rule, {"customer_name": "Acme*"})
    ctx = PipelineContext(store, store, [hit], ("slack",))
    assert not run_pipeline(Envelope(msg, (), T0), ctx)
    assert queued(store) == []


def test_silences_that_do_not_match_or_are_not_active_let_it_through(
    store: SqliteStore,
) -> None:
    msg = sample("Acme Corp")
    other_group = silence(msg.rule, {"customer_name": "Globex"})
    other_rule = silence("another-rule", {})
    ended = silence(None, {}, hours=0)  # ended at T0: [starts_at, ends_at) excludes it
    ctx = PipelineContext(store, store, [other_group, other_rule, ended], ("slack",))
    assert run_pipeline(Envelope(msg, (), T0), ctx)
    assert queued(store) == [(42, "slack")]


def test_a_dry_run_outbox_keeps_what_would_be_queued_and_writes_nothing(
    store: SqliteStore,
) -> None:
    dry = DryRunOutbox()
    ctx = PipelineContext(store, dry, [], ("slack", "mail"))
    first, resolved = sample(), sample(event=Reason.RESOLVED)
    assert run_pipeline(Envelope(first, (), T0), ctx)
    assert run_pipeline(Envelope(resolved, ("mail",), T0 + H), ctx)
    assert [(e.msg.event, e.targets, e.now) for e in dry.envelopes] == [
        (Reason.FIRST, ("slack",), T0),
        (Reason.FIRST, ("mail",), T0),
        (Reason.RESOLVED, ("mail",), T0 + H),
    ]
    assert queued(store) == []
