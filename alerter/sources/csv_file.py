"""``csv``: a plain CSV with a timestamp column, an amount column and dimension columns."""

from __future__ import annotations

import asyncio
import builtins
import glob
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from alerter.domain import make_key
from alerter.errors import BadResponse
from alerter.money import parse_amount
from alerter.sources.base import FetchResult, SourceConfig, SourceContext
from alerter.sources.columnar import CsvLayout, read_csv_windows
from alerter.sources.grown import grown, read_grown
from alerter.sources.tabular import WindowSums, read_files, read_rows, require_columns
from alerter.timeparse import Duration, floor_time, parse_time

log = logging.getLogger(__name__)


class CsvConfig(SourceConfig):
    """A ``[sources.NAME]`` table with ``type = "csv"``."""

    type: Literal["csv"] = "csv"
    path: str = Field(description="Glob of CSV files (plain or .gz), relative to the config file.")
    timestamp_column: str = Field(default="timestamp", description="RFC 3339 window start column.")
    amount_column: str = Field(default="amount", description="Decimal amount column.")
    dimensions: list[str] = Field(
        default_factory=list, description="Columns that identify a series."
    )
    step: Duration = Field(description='Window size, e.g. "1h", "1d", "5m".')
    currency: str = Field(default="USD", description="Currency of the amounts.")

    @field_validator("step")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value.total_seconds() <= 0:
            raise ValueError("must be positive")
        return value


class CsvSource:
    """Reads the files matching the glob (unchanged ones are skipped, of a file that only
    grew just the new rows are read); a file with a bad row is rejected whole."""

    type: ClassVar[str] = "csv"
    replayable: ClassVar[bool] = True
    Config: ClassVar[builtins.type[SourceConfig]] = CsvConfig

    def __init__(self, name: str, config: SourceConfig, context: SourceContext) -> None:
        assert isinstance(config, CsvConfig)
        self.name = name
        self.config = config
        self.context = context

    @property
    def step(self) -> timedelta:
        return self.config.step

    def _read_file(self, path: Path, sums: WindowSums) -> None:
        cfg = self.config
        needed = [cfg.timestamp_column, cfg.amount_column, *cfg.dimensions]
        checked = False
        for line, row in read_rows(path):
            if not checked:
                require_columns(path, list(row), needed)
                checked = True
            try:
                start = parse_time(row[cfg.timestamp_column])
                amount = parse_amount(row[cfg.amount_column])
            except ValueError as exc:
                raise BadResponse(f"{path}:{line}: {exc}") from None
            key = make_key({d: row[d] for d in cfg.dimensions})
            window = floor_time(start, cfg.step)  # a row belongs to the window holding it
            sums.add(key, window, window + cfg.step, amount, None, cfg.currency)

    def _read(self, since: datetime, until: datetime) -> FetchResult:
        """Files unchanged since the last read are skipped; otherwise DuckDB sums them
        into columns, and a file it cannot read exactly is read row by row (which names
        the line at fault, or accepts the file: then every file is read row by row)."""
        cfg = self.config
        pattern = str(self.context.resolve(cfg.path))
        files = [Path(name) for name in sorted(glob.glob(pattern))]
        if not files:
            return FetchResult([], [], [f"source {self.name}: no file matches {pattern}"])
        layout = CsvLayout(
            cfg.timestamp_column, cfg.amount_column, tuple(cfg.dimensions), cfg.step, cfg.currency
        )
        known = grown(self.context.marks, self.name, files, since)
        if known is not None and not known[1]:
            log.debug("csv_unchanged source=%s files=%d", self.name, len(files))
            return FetchResult([], [], [], file_marks=known[0])
        if known is not None:
            appended = read_grown(self.name, *known, layout, since, until)
            if appended is not None:
                return appended
        got = read_csv_windows(files, layout, since, until)
        errors = []
        for path in got.fallback:
            try:
                self._read_file(path, WindowSums(self.name, cfg.step, since, until))
            except BadResponse as exc:
                errors.append(f"source {self.name}: {exc}")
                continue
            return read_files(self.name, pattern, cfg.step, since, until, self._read_file)
        return FetchResult([], got.coverage, errors, table=got.table, file_marks=got.marks)

    async def fetch(self, since: datetime, until: datetime) -> FetchResult:
        return await asyncio.to_thread(self._read, since, until)

    async def aclose(self) -> None:
        return None
