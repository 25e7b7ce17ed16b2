"""Typed rule models: what one ``[[rule]]`` table may say."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from functools import cache
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerter.detect import DETECTORS
from alerter.detect.base import DetectorParams
from alerter.detect.budget import Budget, parse_budget
from alerter.domain import Severity
from alerter.timeparse import Duration


@cache
def detector_params_type() -> Any:
    """The discriminated union of every registered detector's ``Params`` (on ``type``)."""
    members = tuple(cls.Params for cls in DETECTORS.values())
    if len(members) == 1:
        return members[0]
    return Annotated[Union[members], Field(discriminator="type")]  # noqa: UP007


class RuleBase(BaseModel):
    """Fields of a rule except the detector (whose type is built from the registry)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="Unique rule name, used in alerts and state.")
    source: str = Field(description="Name of the `[sources.NAME]` table this rule watches.")
    description: str = Field(default="", description="Free text shown in alerts.")
    enabled: bool = Field(default=True, description="Disabled rules are loaded but not run.")
    match: dict[str, str | list[str]] = Field(
        default_factory=dict,
        description="Dimension filters: name = exact value or glob, or a list of them.",
    )
    group_by: list[str] = Field(
        default_factory=list,
        description="Dimensions to sum per group per window; empty sums every matching series.",
    )
    min_amount: Decimal = Field(
        default=Decimal(0), ge=0, description="Ignore windows where spend stays under this."
    )
    min_delta: Decimal = Field(
        default=Decimal(0), ge=0, description="Ignore changes smaller than this, in money."
    )
    min_history: int = Field(
        default=0, ge=0, description="Known windows needed before a group is judged."
    )
    severity: Severity = Field(default=Severity.WARNING, description="info, warning or critical.")
    notify: list[str] = Field(
        default_factory=list,
        description="Notifier names; empty means every configured notifier.",
    )
    repeat_interval: Duration | None = Field(
        default=None, description="Re-notify a still-firing incident after this long."
    )
    resolve_after: int | None = Field(
        default=None, ge=1, description="Normal windows before an incident resolves."
    )
    notify_resolved: bool = Field(
        default=True,
        description="Send a resolved notice (duration, cost above expected); off still records it.",
    )
    early: bool = Field(
        default=False,
        description="Alert on a still-open window that already crossed the band on its own "
        "(marked provisional; confirmed or withdrawn in place once it settles).",
    )
    max_alerts: Budget | None = Field(
        default=None,
        description="Noise budget: how often one group may alert, e.g. '1/month'. Detectors "
        "that calibrate (cost) take it as their budget; backtests say whether it was kept.",
    )
    top_contributors: int = Field(
        default=5, ge=0, le=50, description="Child series listed as root cause."
    )

    @field_validator("group_by")
    @classmethod
    def _unique_dims(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("dimensions must be unique")
        return value

    @property
    def budget_per_week(self) -> float | None:
        """``max_alerts`` in alerts per week per group (None when not set)."""
        return parse_budget(self.max_alerts) if self.max_alerts else None

    @property
    def repeat(self) -> timedelta | None:
        return self.repeat_interval


def make_rule_model() -> type[RuleBase]:
    """The Rule model with ``detector`` typed from the current detector registry."""
    params = detector_params_type()

    class Rule(RuleBase):
        detector: params = Field(description="Detector table: `type` plus its parameters.")  # type: ignore[valid-type]

    Rule.__name__ = "Rule"
    return Rule


def detector_of(rule: RuleBase) -> DetectorParams:
    params = getattr(rule, "detector", None)
    if not isinstance(params, DetectorParams):
        raise TypeError(f"rule {rule.name!r} has no detector")
    return params
