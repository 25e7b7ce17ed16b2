"""The lease seam: which replica polls and judges a source, with fencing tokens.

A lease is one row per source: ``holder`` may poll and judge the source until the row
expires; a renewal by the holder extends it; anyone may take over an expired lease, and
every takeover increases the ``token``. Writes made under a lease carry a ``Fence`` and
re-check it in their own transaction, so a holder that was paused or partitioned past
its lease commits nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Fence:
    """The lease a write is made under: ``holder`` held ``source`` with ``token``."""

    source: str
    holder: str
    token: int


@dataclass(frozen=True, slots=True)
class LeaseGrant:
    """A successful acquire: ``taken`` is True when the lease was (re)acquired rather than
    renewed (the token changed); ``seconds_left`` until it expires (database clock)."""

    source: str
    holder: str
    token: int
    taken: bool
    seconds_left: float

    @property
    def fence(self) -> Fence:
        return Fence(self.source, self.holder, self.token)


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """A lease as stored: ``live`` while not expired; ``takeovers`` counts holder changes."""

    source: str
    holder: str
    token: int
    live: bool
    seconds_left: float
    takeovers: int


class LeaseStore(Protocol):
    """Leases on a shared database; every method is its own short transaction."""

    def acquire(self, source: str, holder: str, ttl: float) -> LeaseGrant | None:
        """Renew ``holder``'s lease on ``source`` or take it if free or expired, for
        ``ttl`` seconds; None when another holder's lease is live."""
        ...

    def release(self, source: str, holder: str, token: int) -> bool:
        """Expire the lease now if ``holder`` still holds it with ``token``."""
        ...

    def leases(self) -> list[LeaseRow]:
        """Every lease row, by source."""
        ...

    def close(self) -> None: ...
