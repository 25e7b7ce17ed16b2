"""Durable delivery: send what the outbox holds, acknowledge each (incident, target) alone."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerter.notify import payload
from alerter.notify.base import Delivered, Notifier, Permanent, RetryAfter
from alerter.store.base import OutboxItem, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def backoff(
    attempt: int,
    base: float = 30.0,
    cap: float = 3600.0,
    jitter: float = 0.2,
    rand: Callable[[], float] = random.random,
) -> float:
    """Exponential backoff in seconds for the ``attempt``-th retry (1-based), with jitter."""
    delay = min(cap, base * (2 ** max(0, attempt - 1)))
    return delay * (1 - jitter + 2 * jitter * rand())


def deliver(
    store: Store,
    notifiers: Mapping[str, Notifier],
    now: datetime,
    *,
    max_attempts: int = 12,
    limit: int = 500,
    on_result: Callable[[str, str, str], None] | None = None,
) -> DeliveryReport:
    """Deliver every due outbox item once.

    Each item is marked sent, retried or failed right after its own send, so a crash
    repeats at most the one message in flight. An item for a notifier no longer
    configured is kept as failed. ``on_result(notifier, event, outcome)`` feeds metrics.
    """
    sent = retried = failed = 0
    seen: set[int] = set()
    while True:
        batch = [item for item in store.due(now, limit=limit) if item.id not in seen]
        if not batch:
            break
        for item in batch:
            seen.add(item.id)
            outcome = _deliver_one(store, notifiers, item, now, max_attempts)
            sent += outcome == "sent"
            retried += outcome == "retry"
            failed += outcome == "failed"
            if on_result is not None:
                on_result(item.notifier, item.event, outcome)
    return DeliveryReport(sent, retried, failed)


def _deliver_one(
    store: Store,
    notifiers: Mapping[str, Notifier],
    item: OutboxItem,
    now: datetime,
    max_attempts: int,
) -> str:
    """Send one item and record the outcome: ``sent``, ``retry`` or ``failed``."""
    notifier = notifiers.get(item.notifier)
    if notifier is None:
        store.mark_failed(item.id, f"notifier {item.notifier!r} is not configured")
        return "failed"
    msg = payload.loads(item.payload)
    prior = store.delivery_ref(item.incident_id, item.notifier)
    try:
        result = notifier.send(msg, prior)
    except Exception as exc:  # a plug-in bug must not stop the others
        log.exception("delivery_crashed notifier=%s item=%d", item.notifier, item.id)
        result = RetryAfter(backoff(item.attempts + 1), f"notifier raised {type(exc).__name__}")
    if isinstance(result, Delivered):
        store.mark_sent(item.id, result.ref, now)
        outcome = "sent"
        log.info(
            "notification_sent notifier=%s incident=%d event=%s",
            item.notifier,
            item.incident_id,
            item.event,
        )
    elif isinstance(result, Permanent) or item.attempts + 1 >= max_attempts:
        reason = result.reason
        store.mark_failed(item.id, reason)
        outcome = "failed"
        log.error(
            "notification_failed notifier=%s incident=%d event=%s reason=%s",
            item.notifier,
            item.incident_id,
            item.event,
            reason,
        )
    else:
        wait = max(result.seconds, backoff(item.attempts + 1))
        store.mark_retry(item.id, now + timedelta(seconds=wait), result.reason)
        outcome = "retry"
        log.warning(
            "notification_retry notifier=%s incident=%d event=%s in_s=%.0f reason=%s",
            item.notifier,
            item.incident_id,
            item.event,
            wait,
            result.reason,
        )
    return outcome
