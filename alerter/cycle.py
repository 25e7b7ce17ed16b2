"""What a poll cycle did: ``CycleReport`` (one source) holding a ``JudgeReport`` per rule.

Plain data read by the CLI, the metrics hooks and the web UI; it sits below all of them
(and below ``app``, which fills it in).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from alerter.detect.engine import RuleEvaluation
from alerter.domain import Notification
from alerter.notify.outbox import DeliveryReport


@dataclass
class JudgeReport:
    """What judging one rule did."""

    rule: str
    windows: int = 0
    anomalies: int = 0
    events: list[Notification] = field(default_factory=list)
    evaluation: RuleEvaluation | None = field(default=None, repr=False)
    """The detector's arrays (kept out of repr: asyncio formats a finished task's result
    when ``asyncio.run`` restores its SIGINT handler: over a second for 30,000 series)."""
    load_from: datetime | None = None
    """The oldest window this rule read (what the store must keep in memory)."""


@dataclass
class CycleReport:
    """What one poll cycle of one source did."""

    source: str
    ok: bool
    points: int = 0
    revised: int = 0
    skipped_rows: int = 0
    errors: list[str] = field(default_factory=list)
    judged: list[JudgeReport] = field(default_factory=list)
    delivery: DeliveryReport | None = None
    seconds: float = 0.0
    skipped: dict[str, int] = field(default_factory=dict)
    """Records the source left out on purpose this cycle, by kind (a metric)."""
    unchanged_files: int = 0
    """Files a file source skipped as read before and unchanged (nothing new is not
    nothing there)."""
    not_run: str = ""
    """Why the cycle did not run (``lease_held_elsewhere``, ``fencing_rejected``); empty
    when it ran."""

    @property
    def events(self) -> list[Notification]:
        return [e for j in self.judged for e in j.events]
