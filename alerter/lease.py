"""This replica's leases: which sources it may poll and judge (PostgreSQL state only).

Every replica schedules every source; a poll first calls ``claim(source)``, which renews
the lease when this replica holds it, takes it over when it has expired, and otherwise
says no (the poll is skipped). ``watch()`` runs every third of the TTL on every replica:
a held lease never lapses between polls, and an expired one is taken (and its source
polled at once) within a third of the TTL, whatever the source's schedule. A cycle's writes carry the ``Fence`` returned by ``claim``
and commit only if the lease still holds with that token (``FencingRejected`` otherwise).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from alerter.errors import StoreError
from alerter.store.leases import Fence, LeaseStore

log = logging.getLogger(__name__)

DEFAULT_TTL = 30.0


def replica_id() -> str:
    """A name unique to this process: host, pid and a random suffix (a restarted process
    is a new holder, so it never inherits its predecessor's token)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class LeaseState:
    """What ``/healthz`` and ``/metrics`` show about one source's lease on this replica."""

    source: str
    held: bool
    token: int | None
    takeovers: int
    lost: int
    rejections: int


class Leases:
    """The leases of one replica (``holder``), each held for ``ttl`` seconds."""

    def __init__(
        self,
        store: LeaseStore,
        holder: str,
        ttl: float = DEFAULT_TTL,
        outbox_rejections: Callable[[], int] = lambda: 0,
    ) -> None:
        """``outbox_rejections`` counts sends and acknowledgements refused because an
        outbox claim was lost (the store's count, for ``/metrics``)."""
        self.store = store
        self.holder = holder
        self.ttl = ttl
        self.outbox_rejections = outbox_rejections
        self._held: dict[str, Fence] = {}
        self._takeovers: dict[str, int] = {}
        self._lost: dict[str, int] = {}
        self._rejections: dict[str, int] = {}
        self._lock = threading.Lock()

    def claim(self, source: str) -> Fence | None:
        """Renew or take ``source``'s lease; the fence to write under, or None (another
        replica holds it, or the database is unreachable: not ours to judge)."""
        try:
            grant = self.store.acquire(source, self.holder, self.ttl)
        except StoreError as exc:
            log.warning("lease_unavailable source=%s error=%s", source, exc)
            self._drop(source, "unavailable")
            return None
        if grant is None:
            self._drop(source, "held_elsewhere")
            return None
        with self._lock:
            before = self._held.get(source)
            self._held[source] = grant.fence
            if grant.taken:
                self._takeovers[source] = self._takeovers.get(source, 0) + 1
        if before is None or before.token != grant.token:
            log.info(
                "lease_acquired source=%s holder=%s token=%d ttl_s=%.1f",
                source,
                self.holder,
                grant.token,
                self.ttl,
            )
        return grant.fence

    def watch(self, sources: list[str]) -> list[str]:
        """Renew the held leases and take expired ones (run every ``ttl / 3`` seconds);
        returns the sources newly taken, which should be polled at once."""
        taken = []
        for source in sources:
            held_before = self.fence(source) is not None
            if self.claim(source) is not None and not held_before:
                taken.append(source)
        return taken

    def fence(self, source: str) -> Fence | None:
        """The fence of a held lease, without asking the database."""
        with self._lock:
            return self._held.get(source)

    def rejected(self, source: str) -> None:
        """A write under ``source``'s lease was refused: the lease is gone."""
        with self._lock:
            self._rejections[source] = self._rejections.get(source, 0) + 1
        self._drop(source, "fencing_rejected")

    def _drop(self, source: str, reason: str) -> None:
        with self._lock:
            fence = self._held.pop(source, None)
            if fence is not None:
                self._lost[source] = self._lost.get(source, 0) + 1
        if fence is not None:
            log.warning(
                "lease_lost source=%s holder=%s token=%d reason=%s",
                source,
                self.holder,
                fence.token,
                reason,
            )

    def release_all(self) -> None:
        """Expire every held lease now (clean shutdown: another replica takes over at
        its next poll instead of after the TTL)."""
        with self._lock:
            held = list(self._held.values())
            self._held.clear()
        for fence in held:
            try:
                self.store.release(fence.source, fence.holder, fence.token)
            except StoreError as exc:
                log.warning("lease_release_failed source=%s error=%s", fence.source, exc)
            else:
                log.info("lease_released source=%s token=%d", fence.source, fence.token)

    def states(self, sources: list[str]) -> list[LeaseState]:
        """This replica's view of every source's lease."""
        with self._lock:
            return [
                LeaseState(
                    source,
                    source in self._held,
                    self._held[source].token if source in self._held else None,
                    self._takeovers.get(source, 0),
                    self._lost.get(source, 0),
                    self._rejections.get(source, 0),
                )
                for source in sources
            ]

    def close(self) -> None:
        self.store.close()
