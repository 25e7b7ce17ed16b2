"""The notify pipeline: silence -> targets -> enqueue, each a stage of one signature.

A stage takes the envelope and returns it (possibly changed) or None to stop it. Adding a
stage is one line in ``STAGES``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from alerter.domain import Notification, Reason, Silence
from alerter.incidents.silences import matching_silence
from alerter.store.actions import actions_of
from alerter.store.base import IncidentStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Envelope:
    """One incident event on its way to the outbox."""

    msg: Notification
    targets: tuple[str, ...]
    now: datetime
    silenced_by: int | None = None


class Outbox(Protocol):
    """Where the pipeline leaves notifications: the store's outbox, or a dry run's."""

    def enqueue(self, msg: Notification, notifier: str, now: datetime) -> int:
        """Queue ``msg`` for ``notifier`` (inside the caller's transaction); the row id."""
        ...


@dataclass(frozen=True)
class PipelineContext:
    """What the stages share within one judging pass."""

    store: IncidentStore
    """The incidents' store (acknowledgements are read from it)."""
    outbox: Outbox
    silences: Sequence[Silence]
    all_notifiers: tuple[str, ...]


Stage = Callable[[Envelope, PipelineContext], Envelope | None]


def silence_stage(env: Envelope, ctx: PipelineContext) -> Envelope | None:
    """Silenced events are recorded in the log but not sent."""
    active = [s for s in ctx.silences if s.starts_at <= env.now < s.ends_at]
    hit = matching_silence(active, env.msg.rule, env.msg.group)
    if hit is None:
        return env
    log.info(
        "notification_silenced rule=%s incident=%d event=%s reason=%s silence=%d",
        env.msg.rule,
        env.msg.incident_id,
        env.msg.event,
        Reason.SILENCED,
        hit.id,
    )
    return None


def acknowledged_stage(env: Envelope, ctx: PipelineContext) -> Envelope | None:
    """An acknowledged incident gets no more repeats (its other events still go out)."""
    if env.msg.event is not Reason.REPEAT_DUE:
        return env
    actions = actions_of(ctx.store)
    if actions is None or not actions.acknowledged([env.msg.incident_id]):
        return env
    log.info(
        "notification_skipped rule=%s incident=%d event=%s reason=acknowledged",
        env.msg.rule,
        env.msg.incident_id,
        env.msg.event,
    )
    return None


def target_stage(env: Envelope, ctx: PipelineContext) -> Envelope | None:
    """An empty target list means every configured notifier."""
    targets = env.targets or ctx.all_notifiers
    return replace(env, targets=tuple(targets)) if targets else None


def enqueue_stage(env: Envelope, ctx: PipelineContext) -> Envelope | None:
    """Write one outbox row per target (inside the caller's transaction)."""
    for target in env.targets:
        ctx.outbox.enqueue(env.msg, target, env.now)
    return env


STAGES: tuple[Stage, ...] = (silence_stage, acknowledged_stage, target_stage, enqueue_stage)


def run_pipeline(env: Envelope, ctx: PipelineContext, stages: Sequence[Stage] = STAGES) -> bool:
    """Pass ``env`` through the stages; True if it reached the end (was enqueued)."""
    current: Envelope | None = env
    for stage in stages:
        if current is None:
            return False
        current = stage(current, ctx)
    return current is not None
