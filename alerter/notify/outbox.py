"""Durable delivery: send what the outbox holds, acknowledge each (incident, target) alone."""

from __future__ import annotations

import json
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
    return float(delay * (1 - jitter + 2 * jitter * rand()))


def deliver(
    store: Store,
    notifiers: Mapping[str, Notifier],
    now: datetime,
    *,
    max_attempts: int = 12,
    limit: int = 500,
    on_result: Callable[[str, str, str], None] | None = None,
    claim_valid: Callable[[int], bool] | None = None,
) -> DeliveryReport:
    """Deliver every due outbox item once.

    Each item (or bundle) is marked sent, retried or failed right after its own send, so
    a crash repeats at most the message in flight. Events one rule raised in one cycle
    go out as one grouped message past the notifier's ``group_over`` (all of a cycle's
    events for a digest notifier), when the notifier has ``send_many``. A notifier over
    its ``rate_cap`` keeps its items waiting; nothing is dropped. An item for a notifier
    no longer configured is kept as failed. ``on_result(notifier, event, outcome)``
    feeds metrics. ``claim_valid(item_id)`` (shared state) is asked immediately before
    each send: an item whose claim this replica lost is left to its new claimant.
    """
    counts = {"sent": 0, "retry": 0, "failed": 0, "lost": 0}
    seen: set[int] = set()
    while True:
        batch = [item for item in store.due(now, limit=limit) if item.id not in seen]
        if not batch:
            break
        for name, items in _bundles(batch, notifiers):
            seen.update(item.id for item in items)
            notifier = notifiers.get(name)
            if notifier is not None and _capped(store, notifier, now):
                for item in items:
                    store.defer(item.id, now + timedelta(minutes=10))
                log.warning(
                    "notification_deferred notifier=%s items=%d reason=rate_cap", name, len(items)
                )
                continue
            if claim_valid is not None and not all(claim_valid(item.id) for item in items):
                counts["lost"] += len(items)
                continue
            if len(items) == 1:
                outcome = _deliver_one(store, notifiers, items[0], now, max_attempts)
            else:
                outcome = _deliver_bundle(store, notifier, items, now, max_attempts)
            counts[outcome] += len(items)
            if on_result is not None:
                for item in items:
                    on_result(item.notifier, item.event, outcome)
    return DeliveryReport(counts["sent"], counts["retry"], counts["failed"])


def _capped(store: Store, notifier: Notifier, now: datetime) -> bool:
    cap = notifier.config.rate_cap
    return cap is not None and store.sent_since(notifier.name, now - timedelta(hours=1)) >= cap


def _bundles(
    items: list[OutboxItem], notifiers: Mapping[str, Notifier]
) -> list[tuple[str, list[OutboxItem]]]:
    """Split due items into what goes out together: singles, grouped rule bursts, digests."""
    out: list[tuple[str, list[OutboxItem]]] = []
    groups: dict[tuple[str, str, object], list[OutboxItem]] = {}
    for item in items:
        notifier = notifiers.get(item.notifier)
        if notifier is None or not hasattr(notifier, "send_many"):
            out.append((item.notifier, [item]))
            continue
        digest = bool(getattr(notifier, "digest", False))
        rule = "" if digest else str(json.loads(item.payload)["rule"])
        groups.setdefault((item.notifier, rule, item.created_at), []).append(item)
    for (name, _rule, _created), members in groups.items():
        notifier = notifiers[name]
        digest = bool(getattr(notifier, "digest", False))
        limit = notifier.config.group_over
        if (digest and len(members) > 1) or len(members) > limit:
            out.append((name, members))
        else:
            out.extend((name, [m]) for m in members)
    out.sort(key=lambda pair: pair[1][0].id)
    return out


def _deliver_bundle(
    store: Store,
    notifier: Notifier | None,
    items: list[OutboxItem],
    now: datetime,
    max_attempts: int,
) -> str:
    """Send several items as one message; every item shares the outcome. No ref is kept,
    so a later event of one of these incidents starts its own message."""
    assert notifier is not None
    msgs = [payload.loads(item.payload) for item in items]
    try:
        result = notifier.send_many(msgs)  # type: ignore[attr-defined]
    except Exception as exc:  # a plug-in bug must not stop the others
        log.exception("delivery_crashed notifier=%s items=%d", notifier.name, len(items))
        result = RetryAfter(backoff(items[0].attempts + 1), f"notifier raised {type(exc).__name__}")
    attempts = max(item.attempts for item in items)
    if isinstance(result, Delivered):
        for item in items:
            store.mark_sent(item.id, None, now)
        log.info("notification_sent notifier=%s grouped=%d", notifier.name, len(items))
        return "sent"
    if isinstance(result, Permanent) or attempts + 1 >= max_attempts:
        for item in items:
            store.mark_failed(item.id, result.reason)
        log.error(
            "notification_failed notifier=%s grouped=%d reason=%s",
            notifier.name,
            len(items),
            result.reason,
        )
        return "failed"
    wait = max(result.seconds, backoff(attempts + 1))
    for item in items:
        store.mark_retry(item.id, now + timedelta(seconds=wait), result.reason)
    log.warning(
        "notification_retry notifier=%s grouped=%d in_s=%.0f reason=%s",
        notifier.name,
        len(items),
        wait,
        result.reason,
    )
    return "retry"


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
