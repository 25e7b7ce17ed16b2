"""NAB score of the rules in ``bench/rules/nab.toml``, through ``alerter.backtest``,
scored by the reference scorer in ``../shared/bench-data/nab/scorer/``.

Every data file of the Numenta Anomaly Benchmark (``../shared/bench-data/nab``) is
written as a ``timestamp,series,amount`` CSV and replayed through the same backtest
path as the daemon, with a ``csv`` source named ``bench`` whose step is the file's
median sampling interval. As NAB feeds detectors its rows in order and scores them by
position, row i is written as window i of a regular grid from the first timestamp.
Each new incident (a rule's alert) is a detection at the row of its window. The
detections are written as NAB results (``OUT/<category>/<file>.csv``: the data file's
timestamp and ``alert`` 0/1, one row per data row) and scored by the reference scorer
``nab_score.py --positional`` (it reproduces NAB's published scoreboard), in all three
profiles. NAB tunes each detector's threshold per profile; an alert is binary, so the
rule is the same for every profile.

    python bench/nab.py [--rule NAME] [--files GLOB] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
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
    ("ARTime", "74.9", "65.1", "80.4"),
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


def detect(data: DataFile, rule: str | None) -> tuple[list[bool], int]:
    """Per-row detections of ``rule`` (None: every rule of the file) on one file via the
    backtest, and the alert count."""
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


def write_results(out: Path, data: DataFile, flags: list[bool]) -> None:
    """The NAB results file of one data file: its own timestamps, ``alert`` 0/1."""
    path = out / data.name
    path.parent.mkdir(parents=True, exist_ok=True)
    source = NAB / "data" / data.name
    with source.open(encoding="utf-8") as fh:
        stamps = [row["timestamp"] for row in csv.DictReader(fh)]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["timestamp", "alert"])
        writer.writerows((stamp, int(flag)) for stamp, flag in zip(stamps, flags, strict=True))


def reference_score(out: Path) -> dict[str, dict[str, float]]:
    """The reference scorer's JSON for a results folder (all three profiles)."""
    scorer = NAB / "scorer" / "nab_score.py"
    done = subprocess.run(
        [sys.executable, str(scorer), "--results", str(out), "--positional", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"nab_score.py failed: {done.stderr.strip()}")
    parsed: dict[str, dict[str, float]] = json.loads(done.stdout)
    return parsed


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--rule",
        action="append",
        help="score this rule alone (repeatable); default: the rules of nab.toml together, "
        "as the daemon would alert with that file",
    )
    parser.add_argument("--files", default="*/*.csv", help="glob under the NAB data folder")
    parser.add_argument("--out", type=Path, help="keep the results folders here (one per rule)")
    args = parser.parse_args()
    import tomllib

    names = [r["name"] for r in tomllib.loads(RULES.read_text("utf-8"))["rule"]]
    rules: list[str | None] = list(args.rule) if args.rule else [None]
    corpus = load_corpus(args.files)
    n_windows = sum(len(d.windows) for d in corpus)
    print(
        f"NAB corpus: {len(corpus)} files, {n_windows} windows, {sum(len(d.times) for d in corpus):,} rows"
    )
    results: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for rule in rules:
            label = rule or "nab.toml (" + " + ".join(names) + ")"
            short = rule or "nab.toml"
            began = time.perf_counter()
            out = (args.out or Path(scratch)) / (rule or "all")
            alerts = 0
            for data in corpus:
                flags, count = detect(data, rule)
                alerts += count
                write_results(out, data, flags)
            if args.files != "*/*.csv":
                print(f"{label}: {alerts} alerts (a partial corpus is not scored)")
                continue
            scores = reference_score(out)
            results[short] = scores
            std, low_fp, low_fn = (scores[p] for p in PROFILES)
            print(
                f"{label}: standard {std['score']:.1f}, reward_low_FP {low_fp['score']:.1f}, "
                f"reward_low_FN {low_fn['score']:.1f} ({std['detected']} TP, {std['missed']} FN, "
                f"{std['false_positives']} FP; {alerts} alerts, {time.perf_counter() - began:.0f} s)"
            )
    if not results:
        return
    best = max(results, key=lambda r: results[r]["standard"]["score"])
    print("\nNAB scoreboard (published values from the numenta/NAB README) and this project:")
    print(f"{'Detector':<34}{'Standard':>11}{'Low FP':>11}{'Low FN':>11}")
    mine = results[best]
    row = (f"alerter {best}", *(f"{mine[p]['score']:.1f}" for p in PROFILES))
    table = sorted([*PUBLISHED, row], key=lambda r: -float(r[1].split("-")[0]))
    for name, std_s, low_fp_s, low_fn_s in table:
        print(f"{name:<34}{std_s:>11}{low_fp_s:>11}{low_fn_s:>11}")


if __name__ == "__main__":
    main()
