"""``console``: readable blocks on standard output."""

from __future__ import annotations

import builtins
import sys
from typing import ClassVar, Literal, TextIO

from alerter.domain import Notification
from alerter.notify.base import Delivered, DeliveryResult, NotifierConfig, NotifierContext
from alerter.notify.render.text import render_text


class ConsoleConfig(NotifierConfig):
    """A ``[notifiers.NAME]`` table with ``type = "console"``."""

    type: Literal["console"] = "console"


class ConsoleNotifier:
    """Writes one block per incident event to stdout."""

    type: ClassVar[str] = "console"
    Config: ClassVar[builtins.type[NotifierConfig]] = ConsoleConfig

    def __init__(
        self,
        name: str,
        config: NotifierConfig,
        context: NotifierContext,
        stream: TextIO | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.stream = stream

    def render(self, msg: Notification) -> str:
        return render_text(msg, self.config.timezone)

    def send(self, msg: Notification, prior: str | None) -> DeliveryResult:
        stream = self.stream or sys.stdout
        stream.write(self.render(msg) + "\n\n")
        stream.flush()
        return Delivered(None)
