"""NAB score of the rules in ``bench/rules/nab.toml``, through ``alerter.backtest``.

Every data file of the Numenta Anomaly Benchmark (``../shared/bench-data/nab``) is
written as a ``timestamp,series,amount`` CSV and replayed through the same backtest
path as the daemon, with a ``csv`` source named ``bench`` whose step is the file's
median sampling interval. As NAB feeds detectors its rows in order and scores them by
position, row i is written as window i of a regular grid from the first timestamp.
Each new incident (a rule's alert) is a detection at the row of its window. Detections are scored by the NAB rules, implemented here from
their description (NAB README and Lavin & Ahmad 2015):

- a probationary period of the first 15% of rows (at most 750) is not scored;
- inside a labelled window, the best (earliest) detection earns
  ``tpWeight * S(p) / S(-1)`` with ``S(p) = 2*sigmoid(-5p) - 1`` and ``p`` the relative
  position in the window (-1 at the left edge, 0 at the right); a window without a
  detection costs ``fnWeight``;
- a detection outside every window costs ``fpWeight * S(p)`` with ``p`` its distance
  past the previous window's right edge in units of that window's width (-1 when no
  window precedes it);
- the corpus total is normalised as ``100 * (raw - null) / (perfect - null)`` where
  null makes no detection and perfect is ``tpWeight`` per window.

NAB tunes each detector's threshold per profile; an alert is binary, so there is no
threshold to tune here: the rule's parameters are the same for every profile.

    python bench/nab.py [--rule NAME] [--files GLOB]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerter.backtest import run_backtest  # noqa: E402
from alerter.config import load_config  # noqa: E402
from alerter.domain import Reason  # noqa: E402
from alerter.timeparse import floor_time  # noqa: E402

NAB = ROOT.parent / "shared" / "bench-data" / "nab"
RULES = ROOT / "bench" / "rules" / "nab.toml"

# The published scoreboard, from the README of numenta/NAB ("Scoreboard" section).
PUBLISHED = [
    ("Perfect", "100.0", "100.0", "100.0"),
    ("Numenta HTM", "70.5-69.7", "62.6-61.7", "75.2-74.2"),
    ("CAD OSE", "69.9", "67.0", "73.2"),
    ("KNN CAD", "58.0", "43.4", "64.8"),
    ("Relative Entropy", "54.6", "47.6", "58.8"),
    ("Random Cut Forest", "51.7", "38.4", "59.7"),
    ("Twitter ADVec v1.0.0", "47.1", "33.6", "53.5"),
    ("Windowed Gaussian", "39.6", "20.9", "47.4"),
    ("Etsy Skyline", "35.7", "27.1", "44.5"),
    ("Bayesian Changepoint", "17.7", "3.2", "32.2"),
    ("EXPoSE", "16.4", "3.2", "26.9"),
    ("Random", "11.0", "1.2", "19.5"),
    ("Null", "0.0", "0.0", "0.0"),
]
PROFILES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


@dataclass(frozen=True)
class DataFile:
    name: str  # e.g. "realKnownCause/nyc_taxi.csv"
    times: list[datetime]
    values: list[str]
    windows: list[tuple[datetime, datetime]]

    @property
    def step(self) -> timedelta:
        ordered = sorted(set(self.times))
        gaps = [(b - a).total_seconds() for a, b in pairwise(ordered)]
        return timedelta(seconds=int(median(gaps)))


def nab_time(text: str) -> datetime:
    return datetime.fromisoformat(text.strip()).replace(tzinfo=UTC)


def load_corpus(pattern: str) -> list[DataFile]:
    windows = json.loads((NAB / "labels" / "combined_windows.json").read_text("utf-8"))
    files = []
    for path in sorted((NAB / "data").glob(pattern)):
        name = path.relative_to(NAB / "data").as_posix()
        with path.open(encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        files.append(
            DataFile(
                name=name,
                times=[nab_time(r["timestamp"]) for r in rows],
                values=[r["value"] for r in rows],
                windows=[(nab_time(a), nab_time(b)) for a, b in windows[name]],
            )
        )
    return files


def detect(data: DataFile, rule: str) -> tuple[list[bool], int]:
    """Per-row detections of ``rule`` on one file via the backtest, and its alert count."""
    step = data.step
    start = floor_time(data.times[0], step)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        series = Path(data.name).stem
        with (tmp / "data.csv").open("w", newline="", encoding="utf-8") as fh:
            out = csv.writer(fh)
            out.writerow(["timestamp", "series", "amount"])
            # NAB feeds detectors its rows in order and scores them by position, so row i
            # becomes window i of a regular grid (gaps, repeated and out-of-order
            # timestamps in some files would otherwise read as zero or be summed)
            for i, value in enumerate(data.values):
                out.writerow([(start + step * i).strftime("%Y-%m-%dT%H:%M:%SZ"), series, value])
        (tmp / "rules").mkdir()
        (tmp / "rules" / "nab.toml").write_text(RULES.read_text("utf-8"), encoding="utf-8")
        (tmp / "config.toml").write_text(
            f"""[alerter]
state = "state.db"
rules = ["rules/*.toml"]
settle = "0s"
alert_on_backfill = true

[sources.bench]
type = "csv"
path = "data.csv"
dimensions = ["series"]
step = "{int(step.total_seconds())}s"

[notifiers.out]
type = "file"
path = "alerts.jsonl"
""",
            encoding="utf-8",
        )
        config = load_config(tmp / "config.toml")
        since = start
        until = start + step * len(data.values)
        result = run_backtest(config, since=since, until=until, rule=rule, clock_now=until)
    flags = [False] * len(data.times)
    alerts = 0
    for event in result.events:
        if event.event is Reason.FIRST:
            flags[int((event.window_start - start) / step)] = True
            alerts += 1
    return flags, alerts


def scaled_sigmoid(position: float) -> float:
    if position >= 3.0:
        return -1.0
    return 2 / (1 + math.exp(5 * position)) - 1


def score_file(data: DataFile, flags: list[bool], cost: dict[str, float]) -> float:
    """Raw NAB score of one file's detections under one cost matrix."""
    n = len(data.times)
    probation = min(math.floor(0.15 * n), 0.15 * 5000)
    index = {}
    for i, when in enumerate(data.times):
        index.setdefault(when, i)
    bounds = [(index[a], index[b]) for a, b in data.windows]
    best = {w: -cost["fnWeight"] for w, (_lo, hi) in enumerate(bounds) if hi >= probation}
    max_tp = scaled_sigmoid(-1.0)
    false_total = 0.0
    prev: tuple[int, int] | None = None
    w = 0
    for i in range(n):
        while w < len(bounds) and bounds[w][1] < i:
            prev = bounds[w]
            w += 1
        inside = w < len(bounds) and bounds[w][0] <= i <= bounds[w][1]
        if i < probation or not flags[i]:
            continue
        if inside:
            lo, hi = bounds[w]
            position = -(hi - i + 1) / (hi - lo + 1)
            gain = scaled_sigmoid(position) * cost["tpWeight"] / max_tp
            best[w] = max(best[w], gain)
        else:
            if prev is None:
                position = 3.0
            else:
                lo, hi = prev
                position = abs(hi - i) / max(hi - lo, 1)
            false_total += scaled_sigmoid(position) * cost["fpWeight"]
    return sum(best.values()) + false_total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rule", action="append", help="rule name(s); default: all in nab.toml")
    parser.add_argument("--files", default="*/*.csv", help="glob under the NAB data folder")
    args = parser.parse_args()
    import tomllib

    names = [r["name"] for r in tomllib.loads(RULES.read_text("utf-8"))["rule"]]
    rules = args.rule or names
    profiles = json.loads((NAB / "config" / "profiles.json").read_text("utf-8"))
    corpus = load_corpus(args.files)
    n_windows = sum(len(d.windows) for d in corpus)
    print(
        f"NAB corpus: {len(corpus)} files, {n_windows} windows, {sum(len(d.times) for d in corpus):,} rows"
    )
    results: dict[str, dict[str, float]] = {}
    for rule in rules:
        began = time.perf_counter()
        raw = dict.fromkeys(PROFILES, 0.0)
        null = dict.fromkeys(PROFILES, 0.0)
        alerts = 0
        for data in corpus:
            flags, count = detect(data, rule)
            alerts += count
            for profile in PROFILES:
                cost = profiles[profile]["CostMatrix"]
                raw[profile] += score_file(data, flags, cost)
                null[profile] += score_file(data, [False] * len(flags), cost)
        scores = {}
        for profile in PROFILES:
            perfect = n_windows * profiles[profile]["CostMatrix"]["tpWeight"]
            scores[profile] = 100 * (raw[profile] - null[profile]) / (perfect - null[profile])
        results[rule] = scores
        print(
            f"rule {rule}: standard {scores['standard']:.1f}, reward_low_FP "
            f"{scores['reward_low_FP_rate']:.1f}, reward_low_FN {scores['reward_low_FN_rate']:.1f}"
            f" ({alerts} alerts, {time.perf_counter() - began:.0f} s)"
        )
    best = max(results, key=lambda r: results[r]["standard"])
    print("\nNAB scoreboard (published values from the numenta/NAB README) and this project:")
    print(f"{'Detector':<34}{'Standard':>11}{'Low FP':>11}{'Low FN':>11}")
    mine = results[best]
    row = (
        f"alerter rule {best}",
        f"{mine['standard']:.1f}",
        f"{mine['reward_low_FP_rate']:.1f}",
        f"{mine['reward_low_FN_rate']:.1f}",
    )
    table = sorted([*PUBLISHED, row], key=lambda r: -float(r[1].split("-")[0]))
    for name, std, low_fp, low_fn in table:
        print(f"{name:<34}{std:>11}{low_fp:>11}{low_fn:>11}")


if __name__ == "__main__":
    main()
