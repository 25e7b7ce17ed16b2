"""The Notifier seam: deliver one incident notification, or say why not."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field

from alerter.clock import Clock
from alerter.domain import Notification
from alerter.store.actions import ActionRecord


class NotifierConfig(BaseModel):
    """Fields every notifier has; each subclasses it with ``type: Literal[...]``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = Field(default="UTC", description="IANA timezone used to show windows.")
    group_over: int = Field(
        default=5,
        ge=1,
        description="When one rule raises more incident events than this in one cycle, they "
        "go out as one grouped message (for notifiers that can send one).",
    )
    rate_cap: int | None = Field(
        default=None,
        ge=1,
        description="At most this many messages an hour; the rest wait in the outbox (never dropped).",
    )


@dataclass(frozen=True, slots=True)
class Delivered:
    """Sent; ``ref`` identifies the message for later in-place updates (or None)."""

    ref: str | None = None


@dataclass(frozen=True, slots=True)
class RetryAfter:
    """Temporary failure (429, 5xx, connection refused): try again after ``seconds``."""

    seconds: float
    reason: str


@dataclass(frozen=True, slots=True)
class Permanent:
    """Rejected for good (bad channel, invalid auth, SMTP 5xx): kept as failed, not retried."""

    reason: str


DeliveryResult = Delivered | RetryAfter | Permanent


@dataclass(frozen=True, slots=True)
class NotifierContext:
    """What a notifier may use besides its config."""

    clock: Clock
    env: Mapping[str, str]
    config_dir: Path
    incident_actions: Callable[[int], Sequence[ActionRecord]] | None = None
    """What people did to an incident from chat, oldest first (None: not kept), so a
    re-rendered message still shows who acknowledged or silenced it."""


class BatchNotifier(Protocol):
    """Optional: a notifier that can deliver several notifications as one message."""

    def send_many(self, msgs: Sequence[Notification]) -> DeliveryResult:
        """Deliver ``msgs`` as one grouped message or digest; same contract as ``send``."""
        ...


class Notifier(Protocol):
    """A notifier, constructed as ``cls(name, config, context)``."""

    type: ClassVar[str]
    Config: ClassVar[builtins.type[NotifierConfig]]
    name: str

    @property
    def config(self) -> NotifierConfig:
        """The notifier's validated config (read-only here, so a subclass model fits)."""
        ...

    def render(self, msg: Notification) -> str:
        """Exactly what ``send`` would deliver, as text (``--dry-run`` prints it)."""
        ...

    def send(self, msg: Notification, prior: str | None) -> DeliveryResult:
        """Deliver ``msg``; blocking (the outbox runs it off the event loop).

        ``prior`` is the ``Delivered.ref`` of this incident's earlier message on this
        notifier, if any, so the message can be updated in place. Never raises for a
        delivery failure: returns ``RetryAfter`` or ``Permanent``, whose reasons never
        contain a secret.
        """
        ...
