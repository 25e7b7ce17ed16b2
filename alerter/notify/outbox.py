"""Durable delivery: send what the outbox holds, acknowledge each (incident, target) alone.

Bounds that keep one bad peer or item from stopping the rest:

- Every wait a peer asks for (``RetryAfter.seconds``: ``inf``, ``1e12``, NaN) is capped
  at ``MAX_WAIT`` seconds; an item whose delivery crashes (a plug-in bug, a bad payload)
  is put back for a retry and the loop goes on with the next one.
- An undelivered item is retried until it is delivered or older than ``give_up_after``
  (``[alerter] give_up_after``, 7 days by default); past ``AGING_WARNING`` each retry
  logs ``notification_aging``. A notifier's ``Permanent`` answer fails the item at once.
- ``send_deadline`` bounds one send (connect and whole answer): a send still running
  then is left behind and the item retried, so a peer trickling its answer delays only
  its own items.
- ``max_pending`` caps the outbox: past it the oldest pending items are kept as failed
  with reason ``outbox full`` and an ``outbox_overflow`` error is logged; nothing is
  dropped silently.
"""

from __future__ import annotations

import json
import logging
import math
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerter.notify import payload
from alerter.notify.base import Delivered, DeliveryResult, Notifier, Permanent, RetryAfter
from alerter.store.base import OutboxItem, Store

log = logging.getLogger(__name__)


MAX_WAIT = 6 * 3600.0
"""Longest wait (seconds) any peer's ``Retry-After`` can impose on an item."""
GIVE_UP_AFTER = timedelta(days=7)
"""Default age after which an undelivered item is kept as failed."""
AGING_WARNING = timedelta(hours=1)
"""Age past which every retry of an item logs ``notification_aging``."""


def cap_wait(seconds: float, default: float = 30.0) -> float:
    """A peer-requested wait made safe: NaN -> ``default``, clamped to ``[0, MAX_WAIT]``."""
    try:
        value = float(seconds)
    except (TypeError, ValueError, OverflowError):
        return default
    if math.isnan(value):
        return default
    return min(MAX_WAIT, max(0.0, value))


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
    max_attempts: int | None = None,
    give_up_after: timedelta = GIVE_UP_AFTER,
    send_deadline: float | None = None,
    max_pending: int | None = None,
    only: str | None = None,
    limit: int = 500,
    on_result: Callable[[str, str, str], None] | None = None,
) -> DeliveryReport:
    """Deliver every due outbox item once (see the module docstring for the bounds).

    Each item (or bundle) is marked sent, retried or failed right after its own send, so
    a crash repeats at most the message in flight. Events one rule raised in one cycle
    go out as one grouped message past the notifier's ``group_over`` (all of a cycle's
    events for a digest notifier), when the notifier has ``send_many``. A notifier over
    its ``rate_cap`` keeps its items waiting; nothing is dropped. An item for a notifier
    no longer configured is kept as failed (when ``only`` is None). ``only`` restricts
    the run to one notifier's items (the daemon runs one dispatcher per notifier).
    ``max_attempts``, when set, also fails an item after that many attempts.
    ``on_result(notifier, event, outcome)`` feeds metrics. Never raises for one item.
    """
    policy = _Policy(max_attempts, give_up_after, send_deadline)
    if max_pending is not None:
        _enforce_cap(store, max_pending, only)
    counts = {"sent": 0, "retry": 0, "failed": 0}
    seen: set[int] = set()
    foreign: set[int] = set()
    stalled: set[str] = set()
    while True:
        batch = []
        for item in store.due(now, limit=limit + len(foreign)):
            if item.id in seen or item.id in foreign:
                continue
            if only is not None and item.notifier != only:
                foreign.add(item.id)
                continue
            batch.append(item)
        if not batch:
            break
        for name, items in _bundles(batch, notifiers):
            seen.update(item.id for item in items)
            if name in stalled:
                continue  # its peer just hit the send deadline: try again next round
            try:
                outcome = _deliver_items(store, notifiers, name, items, now, policy)
            except Exception as exc:  # a bad item must not stop the items behind it
                log.exception("delivery_crashed notifier=%s items=%d", name, len(items))
                outcome = _retry_after_crash(store, items, now, exc)
            if outcome == "stalled":
                stalled.add(name)
                outcome = "retry"
            if outcome == "deferred":
                continue
            counts[outcome] += len(items)
            if on_result is not None:
                for item in items:
                    on_result(item.notifier, item.event, outcome)
    return DeliveryReport(counts["sent"], counts["retry"], counts["failed"])


def fail_unconfigured(store: Store, notifiers: Mapping[str, Notifier]) -> int:
    """Keep pending items of notifiers no longer configured as failed; returns how many."""
    gone = [i for i in store.outbox_items("pending") if i.notifier not in notifiers]
    for item in gone:
        store.mark_failed(item.id, f"notifier {item.notifier!r} is not configured")
    if gone:
        log.error("notification_failed items=%d reason=notifier_not_configured", len(gone))
    return len(gone)


@dataclass(frozen=True, slots=True)
class _Policy:
    max_attempts: int | None
    give_up_after: timedelta
    send_deadline: float | None

    def gives_up(self, item: OutboxItem, now: datetime) -> bool:
        """True when a temporary failure of ``item`` should now be final."""
        if self.max_attempts is not None and item.attempts + 1 >= self.max_attempts:
            return True
        created = item.created_at or now
        return now - created >= self.give_up_after


def _deliver_items(
    store: Store,
    notifiers: Mapping[str, Notifier],
    name: str,
    items: list[OutboxItem],
    now: datetime,
    policy: _Policy,
) -> str:
    notifier = notifiers.get(name)
    if notifier is not None and _capped(store, notifier, now):
        for item in items:
            store.defer(item.id, now + timedelta(minutes=10))
        log.warning("notification_deferred notifier=%s items=%d reason=rate_cap", name, len(items))
        return "deferred"
    if len(items) == 1:
        return _deliver_one(store, notifiers, items[0], now, policy)
    return _deliver_bundle(store, notifier, items, now, policy)


def _retry_after_crash(store: Store, items: list[OutboxItem], now: datetime, exc: Exception) -> str:
    """Put items whose delivery crashed back for a later retry (best effort)."""
    reason = f"delivery crashed ({type(exc).__name__})"
    for item in items:
        try:
            store.mark_retry(item.id, now + timedelta(seconds=backoff(item.attempts + 1)), reason)
        except Exception:
            log.exception("delivery_mark_failed item=%d", item.id)
    return "retry"


def _enforce_cap(store: Store, max_pending: int, only: str | None) -> None:
    """Keep the oldest pending items past ``max_pending`` as failed, loudly."""
    pending = [i for i in store.outbox_items("pending") if only is None or i.notifier == only]
    excess = len(pending) - max_pending
    if excess <= 0:
        return
    pending.sort(key=lambda i: i.id)
    for item in pending[:excess]:
        store.mark_failed(item.id, f"outbox full (more than {max_pending} pending items)")
    log.error(
        "outbox_overflow notifier=%s failed=%d max_pending=%d",
        only or "*",
        excess,
        max_pending,
    )


class _Stalled(RetryAfter):
    """The send hit its deadline: the notifier's other items wait for the next round."""


def _call(fn: Callable[[], DeliveryResult], deadline: float | None, what: str) -> DeliveryResult:
    """``fn()``, or a ``RetryAfter`` when it has not returned within ``deadline`` seconds.

    The send keeps running in its daemon thread (it cannot be interrupted); its result
    is discarded, so the outbox retries the item later.
    """
    if deadline is None:
        return fn()
    box: list[DeliveryResult | BaseException] = []

    def run() -> None:
        try:
            box.append(fn())
        except BaseException as exc:
            box.append(exc)

    worker = threading.Thread(target=run, name=f"alerter-send-{what}", daemon=True)
    worker.start()
    worker.join(deadline)
    if not box:
        log.warning("delivery_deadline %s seconds=%g", what, deadline)
        return _Stalled(0.0, f"send did not finish within {deadline:g}s")
    outcome = box[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _capped(store: Store, notifier: Notifier, now: datetime) -> bool:
    cap = notifier.config.rate_cap
    return cap is not None and store.sent_since(notifier.name, now - timedelta(hours=1)) >= cap


def _rule_of(item: OutboxItem) -> str:
    try:
        return str(json.loads(item.payload)["rule"])
    except (ValueError, KeyError, TypeError):
        return ""  # an unreadable payload goes out alone and fails on its own


def _bundles(
    items: list[OutboxItem], notifiers: Mapping[str, Notifier]
) -> list[tuple[str, list[OutboxItem]]]:
    """Split due items into what goes out together: singles, grouped rule bursts, digests."""
    out: list[tuple[str, list[OutboxItem]]] = []
    groups: dict[tuple[str, str, object], list[OutboxItem]] = {}
    for item in items:
        notifier = notifiers.get(item.notifier)
        rule = _rule_of(item)
        if notifier is None or not hasattr(notifier, "send_many") or not rule:
            out.append((item.notifier, [item]))
            continue
        digest = bool(getattr(notifier, "digest", False))
        groups.setdefault((item.notifier, "" if digest else rule, item.created_at), []).append(item)
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
    policy: _Policy,
) -> str:
    """Send several items as one message; every item shares the outcome. No ref is kept,
    so a later event of one of these incidents starts its own message."""
    assert notifier is not None
    msgs = [payload.loads(item.payload) for item in items]
    send_many = notifier.send_many  # type: ignore[attr-defined]
    try:
        result = _call(
            lambda: send_many(msgs),
            policy.send_deadline,
            f"notifier={notifier.name} items={len(items)}",
        )
    except Exception as exc:  # a plug-in bug must not stop the others
        log.exception("delivery_crashed notifier=%s items=%d", notifier.name, len(items))
        result = RetryAfter(backoff(items[0].attempts + 1), f"notifier raised {type(exc).__name__}")
    oldest = min(items, key=lambda i: (i.created_at or now, -i.attempts))
    if isinstance(result, Delivered):
        for item in items:
            store.mark_sent(item.id, None, now)
        log.info("notification_sent notifier=%s grouped=%d", notifier.name, len(items))
        return "sent"
    if isinstance(result, Permanent) or policy.gives_up(oldest, now):
        for item in items:
            store.mark_failed(item.id, result.reason)
        log.error(
            "notification_failed notifier=%s grouped=%d reason=%s",
            notifier.name,
            len(items),
            result.reason,
        )
        return "failed"
    attempts = max(item.attempts for item in items)
    wait = max(cap_wait(result.seconds), backoff(attempts + 1))
    for item in items:
        store.mark_retry(item.id, now + timedelta(seconds=wait), result.reason)
    log.warning(
        "notification_retry notifier=%s grouped=%d in_s=%.0f reason=%s",
        notifier.name,
        len(items),
        wait,
        result.reason,
    )
    _warn_aging(oldest, now, policy)
    return "stalled" if isinstance(result, _Stalled) else "retry"


def _deliver_one(
    store: Store,
    notifiers: Mapping[str, Notifier],
    item: OutboxItem,
    now: datetime,
    policy: _Policy,
) -> str:
    """Send one item and record the outcome: ``sent``, ``retry`` or ``failed``."""
    notifier = notifiers.get(item.notifier)
    if notifier is None:
        store.mark_failed(item.id, f"notifier {item.notifier!r} is not configured")
        return "failed"
    try:
        msg = payload.loads(item.payload)
    except Exception as exc:  # a payload no longer readable (an older version's shape)
        reason = f"payload unreadable ({type(exc).__name__})"
        store.mark_failed(item.id, reason)
        log.error(
            "notification_failed notifier=%s item=%d reason=%s", item.notifier, item.id, reason
        )
        return "failed"
    prior = store.delivery_ref(item.incident_id, item.notifier)
    try:
        result = _call(
            lambda: notifier.send(msg, prior),
            policy.send_deadline,
            f"notifier={item.notifier} item={item.id}",
        )
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
    elif isinstance(result, Permanent) or policy.gives_up(item, now):
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
        wait = max(cap_wait(result.seconds), backoff(item.attempts + 1))
        store.mark_retry(item.id, now + timedelta(seconds=wait), result.reason)
        outcome = "stalled" if isinstance(result, _Stalled) else "retry"
        log.warning(
            "notification_retry notifier=%s incident=%d event=%s in_s=%.0f reason=%s",
            item.notifier,
            item.incident_id,
            item.event,
            wait,
            result.reason,
        )
        _warn_aging(item, now, policy)
    return outcome


def _warn_aging(item: OutboxItem, now: datetime, policy: _Policy) -> None:
    if item.created_at is None:
        return
    age = now - item.created_at
    if age >= AGING_WARNING:
        log.warning(
            "notification_aging notifier=%s incident=%d age_s=%.0f gives_up_in_s=%.0f",
            item.notifier,
            item.incident_id,
            age.total_seconds(),
            max(0.0, (policy.give_up_after - age).total_seconds()),
        )
