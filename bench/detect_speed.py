"""Speed of the detectors: hourly series, vectorised vs naive.

``seasonal`` (default): in one process, builds a series x windows matrix of synthetic
hourly spend; runs the ``seasonal`` detector of rule ``hourly-up`` (``SEASONAL_RULE``
below, the rule the first benchmark rounds used) over all of it (every column judged),
then the same rule through ``alerter.detect.engine`` (grouping, detector, guards), then
one incremental evaluation (the last 48 windows); runs a naive per-series pure-Python
implementation of the same detector on a sample of series and checks that it flags the
same windows; prints points/s, the ratio, and the peak RSS (``resource.getrusage``)
after each stage.

``--detector cost``: the ``cost`` detector of rule ``hourly-cost`` in
``bench/rules/cost-hourly.toml`` (its budget from the rule's ``max_alerts``), on a frame
of exactly the history it reads plus one day, for each ``--series`` count: one judged
day (24 columns: a backtest's or a catching-up daemon's unit of work), one new hour (the
last column: what the daemon judges each hourly cycle), and the engine (grouping,
detector, guards) on that hour; the ``seasonal`` detector judging the same day is the
reference in the same run (timings on a shared machine are only comparable as ratios).
Each is timed cold, then warm twice.

    python bench/detect_speed.py [--series 100000] [--days 28] [--naive-sample 200]
    python bench/detect_speed.py --detector cost --series 10000 --series 100000
"""

from __future__ import annotations

import argparse
import math
import resource
import statistics
import sys
import time
import tomllib
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerter.detect import band  # noqa: E402
from alerter.detect.base import SeriesFrame  # noqa: E402
from alerter.detect.cost import CostDetector, CostParams  # noqa: E402
from alerter.detect.engine import evaluate  # noqa: E402
from alerter.detect.seasonal import SeasonalDetector, SeasonalParams  # noqa: E402
from alerter.judge import make_detector  # noqa: E402
from alerter.rules.model import RuleBase, make_rule_model  # noqa: E402

RULE = "hourly-up"
SEASONAL_RULE = """
name = "hourly-up"
source = "bench"
group_by = ["series"]
min_delta = 2
min_history = 168
resolve_after = 24
detector = { type = "seasonal", weeks = 4, min_weeks = 2, k = 8, rel_floor = 0.1, direction = "up" }
"""
COST_RULE = "hourly-cost"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_values(n: int, windows: int, seed: int) -> np.ndarray:
    """Hourly spend: per-series level, daily peak, quieter weekends, noise, a few gaps."""
    rng = np.random.default_rng(seed)
    t = np.arange(windows)
    daily = 1 + 0.8 * np.sin(np.pi * (t % 24) / 24) ** 2
    weekly = np.where((t // 24) % 7 < 5, 1.0, 0.6)
    values = np.empty((n, windows))
    chunk = 10_000
    for lo in range(0, n, chunk):
        hi = min(n, lo + chunk)
        level = rng.lognormal(3, 1, (hi - lo, 1))
        block = level * daily * weekly * rng.lognormal(0, 0.05, (hi - lo, windows))
        block[rng.random(block.shape) < 1e-4] = np.nan  # unknown windows
        block[rng.random(block.shape) < 1e-4] *= 6  # a few spikes, so there is something to flag
        values[lo:hi] = block
    return values


def load_rule() -> tuple[object, SeasonalParams]:
    rule = make_rule_model().model_validate(tomllib.loads(SEASONAL_RULE))
    params = rule.detector  # type: ignore[attr-defined]
    assert isinstance(params, SeasonalParams)
    return rule, params


def load_cost_rule() -> tuple[RuleBase, CostParams]:
    data = tomllib.loads((ROOT / "bench" / "rules" / "cost-hourly.toml").read_text("utf-8"))
    table = next(r for r in data["rule"] if r["name"] == COST_RULE)
    rule = make_rule_model().model_validate(table)
    detector = make_detector(rule)  # the rule's max_alerts becomes the detector's budget
    assert isinstance(detector, CostDetector)
    return rule, detector.params


def bench_cost(counts: list[int], seed: int, repeat: int) -> None:
    """The cost detector per judged day and per one new hour, at each series count."""
    rule, params = load_cost_rule()
    detector = CostDetector(params)
    seasonal = SeasonalDetector(load_rule()[1])
    step = timedelta(hours=1)
    windows = (-(-detector.history(step) // 24) + 1) * 24  # whole days: history + one day
    print(f"rule {COST_RULE}: {params.model_dump(mode='json')}")
    print(f"frame: {windows} hourly windows ({windows // 24} days: the history it reads + 1 day)")
    print("| series | what | cold s | warm s | points judged/s (best) | flagged |")
    print("|---|---|---|---|---|---|")
    for n in counts:
        values = make_values(n, windows, seed)
        starts = np.datetime64("2026-01-05T00:00:00", "s") + np.arange(windows) * (
            np.timedelta64(3600, "s")
        )
        keys = [(("series", f"s{i:06d}"),) for i in range(n)]
        frame = SeriesFrame(keys, starts, step, values)
        cases: list[tuple[str, Callable[[], int]]] = [
            (
                "reference: seasonal detector (hourly-up), same day",
                lambda f=frame: int(seasonal.evaluate(f, slice(-24, None)).flagged.sum()),
            ),
            (
                "detector, one judged day (24 columns)",
                lambda f=frame: int(detector.evaluate(f, slice(-24, None)).flagged.sum()),
            ),
            (
                "detector, one new hour (last column)",
                lambda f=frame: int(detector.evaluate(f, slice(-1, None)).flagged.sum()),
            ),
            (
                "engine (group + detector + guards), one new hour",
                lambda f=frame, n=n: int(
                    evaluate(rule, detector, f, ["USD"] * n, slice(-1, None)).flagged.sum()  # type: ignore[arg-type]
                ),
            ),
        ]
        for label, run in cases:
            times, flagged = [], 0
            for _attempt in range(repeat):
                began = time.perf_counter()
                flagged = run()
                times.append(time.perf_counter() - began)
            judged = n * (24 if "day" in label else 1)
            print(
                f"| {n:,} | {label} | {times[0]:.2f} | {', '.join(f'{t:.2f}' for t in times[1:])} | "
                f"{judged / min(times) / 1e3:,.0f} k | {flagged} |"
            )
        print(f"| {n:,} | peak RSS so far | {peak_rss_mb():,.0f} MB | | | |")
        del frame, values


def naive_seasonal(row: list[float], period: int, p: SeasonalParams) -> list[bool]:
    """The seasonal detector for one series in plain Python: same maths, no numpy."""
    n = len(row)
    h = min(p.smooth, period - 1)

    def lags(u: int) -> list[float]:
        out = []
        for k in range(1, p.weeks + 1):
            j = u - k * period
            if 0 <= j < n and not math.isnan(row[j]):
                out.append(row[j])
        return out

    def center_and_mad(u: int) -> tuple[float, float, int]:
        values = lags(u)
        if not values:
            return math.nan, math.nan, 0
        center = statistics.median(values)
        return center, statistics.median([abs(v - center) for v in values]), len(values)

    stats = {u: center_and_mad(u) for u in range(-h, n + h)}
    flags = []
    for t in range(n):
        x = row[t]
        expected, _mad, count = stats[t]
        if math.isnan(x) or count < p.min_weeks or math.isnan(expected):
            flags.append(False)
            continue
        spread = sum(stats[t + j][1] for j in range(-h, h + 1)) / (2 * h + 1) * 1.4826
        floors = [p.rel_floor * abs(expected), p.min_spread]
        window = [v for v in row[max(0, t - period * p.weeks) : t] if not math.isnan(v)]
        nonzero = [abs(v) for v in window if v != 0]
        if nonzero:
            floors.append(
                p.level_floor * sum(nonzero) / len(nonzero) * (1 - len(nonzero) / len(window))
            )
        spread = max([s for s in [spread, *floors] if not math.isnan(s)])
        deviation = x - expected
        signed = {"up": deviation, "down": -deviation, "both": abs(deviation)}[p.direction]
        score = 0.0 if signed == 0 else (math.inf if spread == 0 else signed / spread)
        flags.append(score > p.k)
    return flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", choices=["seasonal", "cost"], default="seasonal")
    parser.add_argument(
        "--series", type=int, action="append", help="series count (repeatable with cost)"
    )
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--naive-sample", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each cost case")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.detector == "cost":
        bench_cost(args.series or [10_000, 100_000], args.seed, args.repeat)
        return
    args.series = (args.series or [100_000])[0]
    windows = args.days * 24
    rule, params = load_rule()
    detector = SeasonalDetector(params)
    values = make_values(args.series, windows, args.seed)
    starts = np.datetime64("2026-01-05T00:00:00", "s") + np.arange(windows) * np.timedelta64(
        3600, "s"
    )
    keys = [(("series", f"s{i:06d}"),) for i in range(args.series)]
    frame = SeriesFrame(keys, starts, timedelta(hours=1), values)
    points = values.size
    print(f"frame: {args.series:,} series x {windows} hourly windows = {points:,} points")
    print(f"rule {RULE}: {params.model_dump(mode='json')}")
    print(f"threads: {band.WORKERS}; peak RSS after data: {peak_rss_mb():,.0f} MB")

    best: dict[str, float] = {}
    verdict_from = params.min_weeks * detector.period(frame.step)
    ranges = {
        f"columns {verdict_from}-{windows} judged (those with >= min_weeks of history)": slice(
            verdict_from, None
        ),
        f"all {windows} columns judged": slice(0, None),
    }
    for index, (label, judge) in enumerate(ranges.items()):
        if index == 1:  # the engine on the judged range, before the larger all-columns run
            for attempt in ("cold", "warm", "warm"):
                began = time.perf_counter()
                result = evaluate(
                    rule, detector, frame, ["USD"] * args.series, slice(verdict_from, None)
                )  # type: ignore[arg-type]
                seconds = time.perf_counter() - began
                print(
                    f"engine (group by series + detector + guards, columns {verdict_from}-{windows}, "
                    f"{attempt}): {seconds:.2f} s = {points / seconds / 1e6:.1f} M points/s; "
                    f"alerts {int(result.flagged.sum())}"
                )
                del result
            print(f"peak RSS after engine: {peak_rss_mb():,.0f} MB")
        for attempt in ("cold", "warm", "warm"):
            began = time.perf_counter()
            verdicts = detector.evaluate(frame, judge)
            seconds = time.perf_counter() - began
            best[label] = min(best.get(label, math.inf), seconds)
            print(
                f"detector, {label} ({attempt}): {seconds:.2f} s = "
                f"{points / seconds / 1e6:.1f} M points/s; flagged {int(verdicts.flagged.sum())}"
            )
            del verdicts
        print(f"peak RSS so far: {peak_rss_mb():,.0f} MB")
    fastest = min(best.values())

    began = time.perf_counter()
    tail = detector.evaluate(frame, slice(windows - 48, windows))
    incremental = time.perf_counter() - began
    print(f"incremental evaluation, last 48 windows of all series: {incremental:.3f} s")

    sample = np.random.default_rng(0).choice(args.series, args.naive_sample, replace=False)
    period = detector.period(frame.step)
    began = time.perf_counter()
    naive = [naive_seasonal(values[i].tolist(), period, params) for i in sample]
    naive_seconds = time.perf_counter() - began
    naive_rate = args.naive_sample * windows / naive_seconds
    vector = detector.evaluate(
        SeriesFrame([keys[i] for i in sample], starts, frame.step, values[sample]), slice(0, None)
    )
    mismatches = int((np.array(naive) != vector.flagged).sum())
    print(
        f"naive per-series Python on {args.naive_sample} series: {naive_seconds:.2f} s = "
        f"{naive_rate / 1e3:.1f} k points/s; flags differing from vectorised: {mismatches}"
    )
    print(f"ratio vectorised (best run) / naive: {points / fastest / naive_rate:,.0f}x")
    print(f"tail verdicts flagged: {int(tail.flagged.sum())}; peak RSS: {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()
