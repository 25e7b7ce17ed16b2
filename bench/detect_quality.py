"""Detection quality on labelled synthetic cost scenarios, through ``alerter.backtest``.

Generates hourly and daily spend series (daily and weekly rhythm, trend, heavy-tailed
noise, zero-inflated series) with injected events (spikes of 1-6 windows, level shifts,
slow runaway ramps, new spend, drops) and clean series; writes them as a
``timestamp,series,amount`` CSV; runs the rules of ``bench/rules/cost-hourly.toml``
(``cost-daily.toml`` for daily data) over a ``csv`` source named ``bench`` through the
same backtest path as the daemon; and scores the alerts (new incidents) per scenario.

Scoring, per event: detected if some alert starts inside its label window; delay is
the first such alert's window minus the event start. An alert inside no label window
of its series is a false alert. Alerts inside a window after the first are repeats
(a level shift keeps an incident open until the baseline adapts), not false alerts.
precision = detected / (detected + false alerts), recall = detected / events.

    python bench/detect_quality.py [--series 300] [--seed 7] [--only hourly|daily]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerter.backtest import run_backtest  # noqa: E402
from alerter.config import load_config  # noqa: E402
from alerter.domain import Reason, key_get  # noqa: E402

T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
KINDS = ("spike", "level_shift", "ramp", "new_spend", "drop", "zero_inflated_burst")


@dataclass(frozen=True)
class Scenario:
    """Shape of one dataset: hourly or daily."""

    name: str
    step: timedelta
    per_day: int
    weeks: int
    judge_from_week: int
    rules: str
    spike_len: tuple[int, int]
    ramp_len: tuple[int, int]
    window_after: int  # label window (windows) of a persistent change: until the baseline adapts
    occupancy: tuple[float, float]  # share of non-zero windows of zero-inflated series


HOURLY = Scenario(
    "hourly",
    timedelta(hours=1),
    24,
    9,
    4,
    "cost-hourly.toml",
    (1, 6),
    (24, 96),
    24 * 15,
    (0.02, 0.3),
)
DAILY = Scenario(
    "daily", timedelta(days=1), 1, 30, 9, "cost-daily.toml", (1, 3), (4, 10), 35, (0.05, 0.4)
)


@dataclass(frozen=True)
class Event:
    series: str
    kind: str
    start: int  # window index
    end: int  # label window end (exclusive)


def generate(
    sc: Scenario, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, list[str], list[Event]]:
    """Spend matrix (series x windows), series kinds, injected events."""
    per_week = 7 * sc.per_day
    total = sc.weeks * per_week
    t = np.arange(total)
    hour = (t % sc.per_day) * (24 // sc.per_day)
    weekday = (t // sc.per_day) % 7
    values = np.zeros((n, total))
    kinds: list[str] = []
    events: list[Event] = []
    first = sc.judge_from_week * per_week
    for i in range(n):
        name = f"s{i:04d}"
        level = float(np.clip(rng.lognormal(np.log(20), 1.0), 2, 2000))
        peak = rng.uniform(8, 18)
        daily_amp = rng.uniform(0.2, 1.5) if sc.per_day > 1 else 0.0
        circ = np.minimum(np.abs(hour - peak), 24 - np.abs(hour - peak))
        daily = 1 + daily_amp * np.exp(-((circ / 4) ** 2))
        weekly = np.where(weekday < 5, 1.0, rng.uniform(0.4, 1.0))
        trend = (1 + rng.normal(0, 0.02)) ** (t / per_week)
        sigma = rng.uniform(0.02, 0.08)
        noise = np.exp(sigma * np.sqrt(3 / 5) * rng.standard_t(5, total))
        expected = level * daily * weekly * trend
        row = expected * noise
        kind = rng.choice(["clean", *KINDS], p=[0.35, 0.12, 0.1, 0.1, 0.1, 0.1, 0.13])
        if kind in ("zero_inflated_burst",) or (kind == "clean" and rng.random() < 0.3):
            occupancy = rng.uniform(*sc.occupancy)
            blips = rng.lognormal(np.log(level), 0.5, total)
            row = np.where(rng.random(total) < occupancy, blips, 0.0)
            kinds.append("zero_inflated" if kind == "clean" else kind)
        else:
            kinds.append(str(kind))
        start = int(rng.integers(first + per_week // 2, total - per_week))
        if kind == "spike":
            length = int(rng.integers(sc.spike_len[0], sc.spike_len[1] + 1))
            row[start : start + length] += expected[start : start + length] * rng.uniform(0.6, 4)
            events.append(Event(name, kind, start, start + length))
        elif kind == "zero_inflated_burst":
            length = int(rng.integers(sc.spike_len[0], sc.spike_len[1] + 1))
            row[start : start + length] = level * rng.uniform(10, 30, length)
            events.append(Event(name, kind, start, start + length))
        elif kind == "level_shift":
            row[start:] *= rng.uniform(1.5, 3.0)
            events.append(Event(name, kind, start, start + sc.window_after))
        elif kind == "ramp":
            length = int(rng.integers(sc.ramp_len[0], sc.ramp_len[1] + 1))
            top = rng.uniform(2, 5)
            factor = np.ones(total)
            factor[start:] = top
            factor[start : start + length] = np.linspace(1, top, length)[: total - start]
            row *= factor
            events.append(Event(name, kind, start, start + length + sc.window_after))
        elif kind == "new_spend":
            row[:start] = 0.0
            events.append(Event(name, kind, start, start + sc.window_after))
        elif kind == "drop":
            row[start:] *= rng.uniform(0.0, 0.5)
            events.append(Event(name, kind, start, start + sc.window_after))
        values[i] = np.round(row, 4)
    return values, kinds, events


def write_csv(path: Path, sc: Scenario, values: np.ndarray) -> None:
    starts = [T0 + sc.step * j for j in range(values.shape[1])]
    stamps = [s.strftime("%Y-%m-%dT%H:%M:%SZ") for s in starts]
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["timestamp", "series", "amount"])
        for i, row in enumerate(values):
            name = f"s{i:04d}"
            out.writerows((stamps[j], name, f"{v:.4f}") for j, v in enumerate(row))


def write_config(tmp: Path, sc: Scenario) -> Path:
    step = "1h" if sc.per_day == 24 else "1d"
    rules = (ROOT / "bench" / "rules" / sc.rules).read_text(encoding="utf-8")
    (tmp / "rules").mkdir()
    (tmp / "rules" / sc.rules).write_text(rules, encoding="utf-8")
    cfg = tmp / "config.toml"
    cfg.write_text(
        f"""[alerter]
state = "state.db"
rules = ["rules/*.toml"]
settle = "0s"
alert_on_backfill = true

[sources.bench]
type = "csv"
path = "data.csv"
timestamp_column = "timestamp"
amount_column = "amount"
dimensions = ["series"]
step = "{step}"

[notifiers.out]
type = "file"
path = "alerts.jsonl"
""",
        encoding="utf-8",
    )
    return cfg


def backtest_alerts(sc: Scenario, values: np.ndarray) -> tuple[list[tuple[str, str, int]], float]:
    """(rule, series, window index) of every new incident, and the backtest seconds."""
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        write_csv(tmp / "data.csv", sc, values)
        config = load_config(write_config(tmp, sc))
        since = T0 + sc.step * (sc.judge_from_week * 7 * sc.per_day)
        until = T0 + sc.step * values.shape[1]
        began = time.perf_counter()
        result = run_backtest(config, since=since, until=until, clock_now=until)
        seconds = time.perf_counter() - began
    alerts = [
        (e.rule, key_get(e.group, "series"), int((e.window_start - T0) / sc.step))
        for e in result.events
        if e.event is Reason.FIRST
    ]
    return alerts, seconds


def score(
    sc: Scenario, kinds: list[str], events: list[Event], alerts: list[tuple[str, str, int]]
) -> list[dict[str, object]]:
    by_series: dict[str, list[int]] = defaultdict(list)
    for _rule, series, j in alerts:
        by_series[series].append(j)
    event_of = {e.series: e for e in events}
    detected: dict[str, list[int]] = defaultdict(list)  # kind -> delays
    counts: dict[str, int] = defaultdict(int)
    false: dict[str, int] = defaultdict(int)
    repeats: dict[str, int] = defaultdict(int)
    series_weeks: dict[str, float] = defaultdict(float)
    judged_weeks = sc.weeks - sc.judge_from_week
    for i, kind in enumerate(kinds):
        name = f"s{i:04d}"
        series_weeks[kind] += judged_weeks
        event = event_of.get(name)
        hits = sorted(by_series.get(name, []))
        if event is not None:
            counts[kind] += 1
            inside = [j for j in hits if event.start <= j < event.end]
            if inside:
                detected[kind].append(inside[0] - event.start)
                repeats[kind] += len(inside) - 1
            false[kind] += sum(1 for j in hits if not event.start <= j < event.end)
        else:
            false[kind] += len(hits)
    rows: list[dict[str, object]] = []
    order = ["clean", "zero_inflated", *KINDS]
    for kind in [*order, "overall"]:
        if kind == "overall":
            n_events = sum(counts.values())
            delays = [d for v in detected.values() for d in v]
            fa = sum(false.values())
            rep = sum(repeats.values())
            weeks = sum(series_weeks.values())
        else:
            if kind not in series_weeks:
                continue
            n_events, delays, fa, weeks = (
                counts[kind],
                detected[kind],
                false[kind],
                series_weeks[kind],
            )
            rep = repeats[kind]
        hit = len(delays)
        precision = hit / (hit + fa) if hit + fa else float("nan")
        recall = hit / n_events if n_events else float("nan")
        f1 = 2 * precision * recall / (precision + recall) if hit else float("nan")
        rows.append(
            {
                "scenario": kind,
                "series": sum(1 for k in kinds if k == kind) if kind != "overall" else len(kinds),
                "events": n_events,
                "detected": hit,
                "false": fa,
                "repeats": rep,
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "delay": statistics.median(delays) if delays else float("nan"),
                "fa_per_100sw": 100 * fa / weeks if weeks else float("nan"),
            }
        )
    return rows


def print_table(sc: Scenario, rows: list[dict[str, object]], unit: str) -> None:
    print(f"\n{sc.name}: {sc.rules}  (delay in {unit}; false alerts per 100 series-weeks)")
    head = f"{'scenario':<21}{'series':>7}{'events':>7}{'hit':>5}{'false':>6}{'repeat':>7}"
    print(head + f"{'prec':>7}{'recall':>7}{'F1':>7}{'delay':>7}{'FA/100sw':>10}")
    for r in rows:
        print(
            f"{r['scenario']:<21}{r['series']:>7}{r['events']:>7}{r['detected']:>5}{r['false']:>6}{r['repeats']:>7}"
            f"{r['precision']:>7.3f}{r['recall']:>7.3f}{r['f1']:>7.3f}{r['delay']:>7.1f}"
            f"{r['fa_per_100sw']:>10.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--series", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--only", choices=["hourly", "daily"])
    args = parser.parse_args()
    for sc in (HOURLY, DAILY):
        if args.only and sc.name != args.only:
            continue
        rng = np.random.default_rng(args.seed)
        values, kinds, events = generate(sc, args.series, rng)
        alerts, seconds = backtest_alerts(sc, values)
        rows = score(sc, kinds, events, alerts)
        print_table(sc, rows, "hours" if sc.per_day == 24 else "days")
        quiet = [r for r in rows if r["scenario"] in ("clean", "zero_inflated")]
        weeks = sum(int(r["series"]) for r in quiet) * (sc.weeks - sc.judge_from_week)  # type: ignore[call-overload]
        fa = sum(int(r["false"]) for r in quiet)  # type: ignore[call-overload]
        print(
            f"false alerts on clean series: {fa} in {weeks} series-weeks = {100 * fa / weeks:.2f} per 100"
        )
        print(f"backtest: {values.size:,} points, {len(alerts)} alerts, {seconds:.1f} s")


if __name__ == "__main__":
    main()
