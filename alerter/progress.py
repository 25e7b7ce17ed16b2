"""A progress display for long CLI work (first backfill, long backtests), drawn with rich
on stderr only when both stdout and stderr are terminals; otherwise nothing at all."""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any


def interactive() -> bool:
    """True when a person watches: stdout and stderr are both terminals."""
    return sys.stdout.isatty() and sys.stderr.isatty()


class Progress:
    """``with Progress("backfill", total, enabled=...) as bar: bar.step("source a")``."""

    def __init__(self, label: str, total: int, *, enabled: bool = True) -> None:
        self.label = label
        self.total = total
        self.enabled = enabled and interactive()
        self._bar: Any = None
        self._task: Any = None
        self._started = False

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.progress import (
                Progress as RichProgress,
            )

            self._bar = RichProgress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=Console(file=sys.stderr, force_terminal=True),  # checked above
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def step(self, description: str) -> None:
        """Start the next unit of work (the previous one counts as done)."""
        if self._bar is None:
            return
        if self._started:
            self._bar.advance(self._task)
        self._started = True
        self._bar.update(self._task, description=f"{self.label}: {description}")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            if self._started:
                self._bar.advance(self._task)
            self._bar.stop()
