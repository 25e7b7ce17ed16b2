"""Small builders shared by the foundation tests (data files, configs)."""

from __future__ import annotations

import csv
import math
import random
from datetime import datetime, timedelta
from pathlib import Path


def write_csv_series(
    path: Path,
    start: datetime,
    hours: int,
    series: dict[str, float],
    *,
    spikes: dict[tuple[str, int], float] | None = None,
    seed: int = 1,
    rhythm: bool = True,
) -> Path:
    """timestamp,series,team,amount rows: hourly, with a daily rhythm and small noise.

    ``spikes[(series, hour_index)] = factor`` multiplies one window.
    """
    rng = random.Random(seed)
    spikes = spikes or {}
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["timestamp", "series", "team", "amount"])
        for h in range(hours):
            t = start + timedelta(hours=h)
            shape = 0.6 + 0.4 * math.sin(math.pi * (t.hour % 24) / 24) if rhythm else 1.0
            for name, base in series.items():
                value = base * shape * (1 + rng.gauss(0, 0.02))
                value *= spikes.get((name, h), 1.0)
                writer.writerow(
                    [t.strftime("%Y-%m-%dT%H:%M:%SZ"), name, f"team-{name[-1]}", f"{value:.4f}"]
                )
    return path


def csv_config(
    tmp: Path,
    *,
    data_glob: str = "data/*.csv",
    rules: str = "",
    extra: str = "",
    state: str = "state.db",
) -> Path:
    """A config with one hourly csv source `bench`, a file notifier and the given rules."""
    (tmp / "rules").mkdir(exist_ok=True)
    (tmp / "rules" / "r.toml").write_text(rules, encoding="utf-8")
    cfg = tmp / "config.toml"
    cfg.write_text(
        f"""
[alerter]
state = "{state}"
rules = ["rules/*.toml"]
settle = "1h"
alert_on_backfill = true

[sources.bench]
type = "csv"
path = "{data_glob}"
timestamp_column = "timestamp"
amount_column = "amount"
dimensions = ["series", "team"]
step = "1h"
lookback = "2d"
backfill = "3650d"

[notifiers.out]
type = "file"
path = "alerts.jsonl"
{extra}
""",
        encoding="utf-8",
    )
    return cfg


SPIKE_RULE = """
[[rule]]
name = "spike"
source = "bench"
group_by = ["series"]
min_delta = 5
[rule.detector]
type = "change"
baseline = "median"
windows = 24
pct = 200
"""
