"""``focus``: FOCUS 1.x cost and usage export files (AWS, Azure, Google Cloud, ...)."""

from __future__ import annotations

import asyncio
import builtins
import fnmatch
import json
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from alerter.domain import make_key
from alerter.errors import BadResponse
from alerter.money import parse_amount
from alerter.sources.base import FetchResult, SourceConfig, SourceContext
from alerter.sources.tabular import WindowSums, read_files, read_rows, require_columns
from alerter.timeparse import parse_time

log = logging.getLogger(__name__)

DIMENSIONS = ("ServiceName", "SkuId", "RegionId", "SubAccountId", "ChargeCategory")


class FocusConfig(SourceConfig):
    """A ``[sources.NAME]`` table with ``type = "focus"``."""

    type: Literal["focus"] = "focus"
    path: str = Field(
        description="Glob of FOCUS CSV exports (plain or .gz), relative to the config."
    )
    window: Literal["hour", "day"] = Field(
        default="day", description="Aggregate into hourly or daily windows."
    )
    cost_column: Literal["BilledCost", "EffectiveCost"] = Field(
        default="BilledCost", description="Which FOCUS cost column is the amount."
    )
    tags: list[str] = Field(
        default_factory=list,
        description='Tag keys exposed as `tag.KEY` dimensions (globs; ["*"] for all).',
    )


class FocusSource:
    """Sums FOCUS rows per (dimensions, window); a file with a bad row is rejected whole."""

    type: ClassVar[str] = "focus"
    Config: ClassVar[builtins.type[SourceConfig]] = FocusConfig

    def __init__(self, name: str, config: SourceConfig, context: SourceContext) -> None:
        assert isinstance(config, FocusConfig)
        self.name = name
        self.config = config
        self.context = context

    @property
    def step(self) -> timedelta:
        return timedelta(hours=1) if self.config.window == "hour" else timedelta(days=1)

    def _tags(self, path: Path, line: int, raw: str) -> dict[str, str]:
        if not self.config.tags or not raw.strip():
            return {}
        try:
            tags = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise BadResponse(f"{path}:{line}: Tags is not JSON: {exc.msg}") from None
        if not isinstance(tags, dict):
            raise BadResponse(f"{path}:{line}: Tags must be a JSON object")
        return {
            f"tag.{k}": "" if v is None else str(v)
            for k, v in tags.items()
            if any(fnmatch.fnmatchcase(str(k), p) for p in self.config.tags)
        }

    def _read_file(self, path: Path, sums: WindowSums) -> None:
        cost = self.config.cost_column
        needed = ["ChargePeriodStart", "ChargePeriodEnd", cost, "BillingCurrency", *DIMENSIONS]
        checked = False
        for line, row in read_rows(path):
            if not checked:
                require_columns(path, list(row), needed)
                checked = True
            try:
                start = parse_time(row["ChargePeriodStart"])
                end = parse_time(row["ChargePeriodEnd"])
                amount = parse_amount(row[cost])
                quantity_text = (row.get("ConsumedQuantity") or "").strip()
                quantity = parse_amount(quantity_text) if quantity_text else None
            except ValueError as exc:
                raise BadResponse(f"{path}:{line}: {exc}") from None
            if end < start:
                raise BadResponse(f"{path}:{line}: ChargePeriodEnd is before ChargePeriodStart")
            dims = {d: row[d] for d in DIMENSIONS}
            dims.update(self._tags(path, line, row.get("Tags", "")))
            currency = row["BillingCurrency"].strip() or "USD"
            sums.add(make_key(dims), start, end, amount, quantity, currency)

    def _read(self, since: datetime, until: datetime) -> FetchResult:
        pattern = str(self.context.resolve(self.config.path))
        return read_files(self.name, pattern, self.step, since, until, self._read_file)

    async def fetch(self, since: datetime, until: datetime) -> FetchResult:
        return await asyncio.to_thread(self._read, since, until)

    async def aclose(self) -> None:
        return None


__all__ = ["FocusConfig", "FocusSource"]
