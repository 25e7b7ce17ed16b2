"""What ``run --dry-run`` does with the notifications it would send: print each one as
its notifier renders it, and with ``--out DIR`` also write it (and its chart) to files."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from alerter.notify.base import Notifier
from alerter.notify.pipeline import Envelope
from alerter.notify.render.chart import safe_chart

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

SUFFIX = {"slack": "json", "webhook": "json", "file": "jsonl", "email": "eml.txt"}


class DryRunSink:
    """Collects a dry run's rendered messages; ``count`` is how many were rendered."""

    def __init__(self, out: TextIO, out_dir: Path | None = None) -> None:
        self.out = out
        self.out_dir = out_dir
        self.count = 0
        self.files: list[Path] = []

    def write(self, envelopes: Sequence[Envelope], notifiers: Mapping[str, Notifier]) -> None:
        """Render every (notification, target) pair; print it, and file it with ``out_dir``."""
        for env in envelopes:
            for target in env.targets:
                notifier = notifiers.get(target)
                if notifier is None:
                    continue
                text = notifier.render(env.msg)
                self.count += 1
                self.out.write(f"--- {target} ({notifier.type}) ---\n{text}\n\n")
                if self.out_dir is not None:
                    self._file(target, notifier, env, text)
        self.out.flush()

    def _file(self, target: str, notifier: Notifier, env: Envelope, text: str) -> None:
        assert self.out_dir is not None
        self.out_dir.mkdir(parents=True, exist_ok=True)
        msg = env.msg
        stem = _UNSAFE.sub("_", f"{self.count:03d}-{target}-{msg.rule}-{msg.event.value}")
        suffix = SUFFIX.get(notifier.type, "txt")
        path = self.out_dir / f"{stem}.{suffix}"
        path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        self.files.append(path)
        png = safe_chart(msg, notifier.config.timezone)
        if png is not None:
            chart = self.out_dir / f"{stem}.png"
            chart.write_bytes(png)
            self.files.append(chart)
