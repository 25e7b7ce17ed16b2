"""``file``: JSON lines, one object per notification."""

from __future__ import annotations

import builtins
import json
import os
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field

from alerter.domain import Notification
from alerter.notify.base import (
    Delivered,
    DeliveryResult,
    NotifierConfig,
    NotifierContext,
    RetryAfter,
)
from alerter.payload import to_record


class FileConfig(NotifierConfig):
    """A ``[notifiers.NAME]`` table with ``type = "file"``."""

    type: Literal["file"] = "file"
    path: str = Field(description="JSON-lines file to append to, relative to the config file.")
    history: bool = Field(default=False, description="Include the chart history in each line.")


def record_line(msg: Notification, history: bool = False) -> str:
    """The JSON line for a notification (also what ``backtest --json`` prints)."""
    return json.dumps(to_record(msg, with_history=history), sort_keys=True, ensure_ascii=False)


class FileNotifier:
    """Appends one JSON object per notification, fsynced, so a crash loses nothing sent."""

    type: ClassVar[str] = "file"
    Config: ClassVar[builtins.type[NotifierConfig]] = FileConfig

    def __init__(self, name: str, config: NotifierConfig, context: NotifierContext) -> None:
        assert isinstance(config, FileConfig)
        self.name = name
        self.config = config
        path = Path(config.path).expanduser()
        self.path = path if path.is_absolute() else context.config_dir / path

    def render(self, msg: Notification) -> str:
        return record_line(msg, self.config.history)

    def send(self, msg: Notification, prior: str | None) -> DeliveryResult:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(self.render(msg) + "\n")
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            return RetryAfter(60.0, f"cannot write {self.path}: {exc.strerror or exc}")
        return Delivered(None)
