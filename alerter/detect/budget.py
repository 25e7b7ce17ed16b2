"""Noise budgets: how often a clean series (or a rule) may alert, e.g. ``"1/month"``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_PERIODS = {
    "hour": timedelta(hours=1),
    "day": timedelta(days=1),
    "week": timedelta(weeks=1),
    "month": timedelta(days=30),
    "quarter": timedelta(days=91),
    "year": timedelta(days=365),
}
_BUDGET = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(\d*)\s*([a-z]+?)s?\s*$")


def parse_budget(text: str) -> float:
    """``"<n>/<period>"`` (period hour, day, week, month = 30 days, quarter, year, optionally
    with a count as in ``"2/3months"``) -> alerts per week; raises ValueError."""
    match = _BUDGET.match(text.lower()) if isinstance(text, str) else None
    if not match or match.group(3) not in _PERIODS:
        raise ValueError(
            f"not a budget: {text!r} (use e.g. '1/month', '2/week', '1/2weeks', '0.5/day')"
        )
    count = float(match.group(1))
    span = _PERIODS[match.group(3)] * (int(match.group(2)) if match.group(2) else 1)
    if count <= 0 or span <= timedelta(0):
        raise ValueError(f"budget {text!r} must allow a positive number of alerts")
    return count / (span / timedelta(weeks=1))


def format_budget(per_week: float) -> str:
    """A readable spelling of a rate in alerts per week."""
    per_month = per_week * 30 / 7
    if per_month < 1.5:
        return f"{per_month:.2g}/month"
    return f"{per_week:.2g}/week"


def _validate(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"a budget is a string such as '1/month' (got {value!r})")
    parse_budget(value)
    return value.strip()


Budget = Annotated[str, BeforeValidator(_validate), PlainSerializer(lambda v: v)]
"""A budget string such as ``"1/month"``, checked when the rule is loaded."""
