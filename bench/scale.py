"""The whole path at scale: CSV file -> store -> seasonal rule, beside DuckDB reading the file.

    python bench/scale.py [--series 10000,100000] [--days 28] [--keep DIR]
                          [--api-customers N] [--metronome-customers N]

For each series count, writes an hourly CSV (``series`` x ``days`` x 24 rows, two
dimension columns) ending four hours before now, then measures, each in its own child process (wall time, peak RSS):

- reference: DuckDB reads the same CSV and sums it per (series, hour) into numpy arrays
  (series as a 64-bit hash of its dimensions, so no Python string per row);
- ``alerter run --once`` on a fresh state (csv source + one seasonal rule);
- ``alerter run --once`` again with the file unchanged;
- ``alerter run --once`` after one more hour for every series was appended;
- the daemon (``alerter run``, polling every few seconds) on that state: the cycle after
  one more hour is appended (its mirror of the series is read from the store), then the
  cycle after yet another hour (the incremental cycle of a running daemon), and the
  daemon's peak RSS;

and prints the figures, their ratios to the reference, and the state size per million
points. Nothing here is asserted; the README's speed section is written from its output.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]

REFERENCE = """
import sys, duckdb
db = duckdb.connect()
db.execute("SET TimeZone='UTC'")
db.execute(f"SET memory_limit='{sys.argv[2]}'")
got = db.execute(
    "SELECT hash(customer, sku) AS series, "
    "(epoch(timestamp::TIMESTAMPTZ)::BIGINT // 3600) * 3600 AS w, "
    "sum(amount::DECIMAL(38,10))::DOUBLE AS amount "
    "FROM read_csv(?, header=true, all_varchar=true) GROUP BY customer, sku, w", [sys.argv[1]]
).fetchnumpy()
print(len(got["w"]))
"""


def write_csv(path: Path, series: int, start: datetime, hours: int, first_hour: int = 0) -> int:
    """``series`` x ``hours`` rows: customer c<i//3>, sku s<i%3>, a weekly+daily pattern."""
    db = duckdb.connect()
    db.execute("SET memory_limit='1GB'")
    t0 = int(start.timestamp())
    db.execute(
        f"""COPY (
            SELECT strftime(to_timestamp({t0} + h * 3600) AT TIME ZONE 'UTC',
                            '%Y-%m-%dT%H:%M:%SZ') AS timestamp,
                   round(10 + (i % 97) + 5 * sin(h / 24.0 * 2 * pi()) + (h * 7 + i) % 3, 4)
                       AS amount,
                   'c' || (i // 3) AS customer, 's' || (i % 3) AS sku
            FROM range({first_hour}, {first_hour + hours}) t(h), range({series}) s(i)
        ) TO '{path}' (HEADER, DELIMITER ',')"""
    )
    db.close()
    return series * hours


def run_child(args: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (GB) and the cycle's own seconds (``cycle_done`` log) of one
    child, timed by a wrapper process whose only child it is."""
    wrapper = textwrap.dedent(
        """
        import resource, subprocess, sys, time
        t = time.perf_counter()
        code = subprocess.call(sys.argv[1:])
        s = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 / 1024
        print(f"BENCH {s:.3f} {peak:.3f} {code}", file=sys.stderr)
        sys.exit(code)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", wrapper, *args], cwd=cwd, capture_output=True, text=True
    )
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("BENCH ")][-1]
    _, seconds, peak, code = line.split()
    if int(code) != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"{args} exited {code}")
    cycle = [ln for ln in proc.stderr.splitlines() if "cycle_done" in ln]
    inner = cycle[-1].rsplit("seconds=", 1)[-1] if cycle else ""
    return float(seconds), float(peak), inner


CONFIG = """
[alerter]
state = "state.db"
rules = ["rules.toml"]
settle = "1h"
alert_on_backfill = false

[sources.usage]
type = "csv"
path = "usage.csv"
timestamp_column = "timestamp"
amount_column = "amount"
dimensions = ["customer", "sku"]
step = "1h"
schedule = "1h"
lookback = "48h"
backfill = "{days}d"

[notifiers.out]
type = "file"
path = "alerts.jsonl"
"""

RULES = """
[[rule]]
name = "usage-seasonal"
source = "usage"
group_by = ["customer", "sku"]
min_amount = 1
min_delta = 5
notify = ["out"]
detector = { type = "seasonal", weeks = 3, k = 6 }
"""


API_STORE = """
import sys, time, resource
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from alerter.domain import CostPoint, Coverage, make_key
from alerter.sources.base import FetchResult
from alerter.store.sqlite import SqliteStore

customers, hours = int(sys.argv[1]), int(sys.argv[2])
until = datetime(2026, 9, 7, tzinfo=UTC)
H = timedelta(hours=1)
keys = [make_key({"customer_id": f"c{c}", "customer_name": f"Customer {c}",
                  "line_item": p, "product_id": f"p{n}", "credit_type": "USD"})
        for c in range(customers) for n, p in enumerate(("GPU", "API", "Storage"))]
t = time.perf_counter()
points = [CostPoint("m", k, until - (h + 1) * H, until - h * H, Decimal(100 + (i + h) % 37) / 7)
          for h in range(hours) for i, k in enumerate(keys)]
built = time.perf_counter() - t
store = SqliteStore(sys.argv[3])
t = time.perf_counter()
with store.transaction():
    store.upsert("m", FetchResult(points, [Coverage(until - hours * H, until)]), until)
first = time.perf_counter() - t
t = time.perf_counter()
with store.transaction():
    report = store.upsert("m", FetchResult(points, [Coverage(until - hours * H, until)]), until)
again = time.perf_counter() - t
t = time.perf_counter()
store.load_series("m", until - hours * H, until)
read = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
print(f"API path, {len(points):,} CostPoints ({customers:,} customers x 3 products x {hours} h): "
      f"building the objects {built:.2f} s; upsert first {first:.2f} s "
      f"({len(points) / first / 1e3:.0f} k points/s), unchanged again {again:.2f} s "
      f"({report.unchanged:,} unchanged); read for the judge {read:.2f} s; peak {peak:.2f} GB")
"""


def append_hour(csv: Path, series: int, start: datetime, hour: int) -> None:
    """One more hour for every series, appended to the file (as an export grows)."""
    extra = csv.with_name("extra.csv")
    write_csv(extra, series, start, 1, first_hour=hour)
    with csv.open("a") as out, extra.open() as more:
        next(more)
        shutil.copyfileobj(more, out)
    extra.unlink()


def daemon_cycles(
    work: Path, csv: Path, series: int, start: datetime, next_hour: int
) -> tuple[float, float, float]:
    """Seconds of the daemon's cycle after one appended hour (mirror read from the store),
    of the cycle after a second one (warm), and the daemon's peak RSS in GB."""
    config = (work / "config.toml").read_text().replace('schedule = "1h"', 'schedule = "3s"')
    (work / "daemon.toml").write_text(config)
    proc = subprocess.Popen(
        [sys.executable, "-m", "alerter", "run", "--config", "daemon.toml"],
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    cycles: list[tuple[int, float]] = []
    done = threading.Condition()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            got = re.search(r"cycle_done .*points=(\d+).*seconds=([\d.]+)", line)
            if got:
                with done:
                    cycles.append((int(got.group(1)), float(got.group(2))))
                    done.notify_all()

    threading.Thread(target=read, daemon=True).start()

    def next_cycle_with_points(timeout: float = 1800) -> float:
        with done:
            seen = len(cycles)
            ok = done.wait_for(
                lambda: any(n > 0 for n, _ in cycles[seen:]) or proc.poll() is not None,
                timeout,
            )
            hits = [s for n, s in cycles[seen:] if n > 0]
            if not ok or not hits:
                raise SystemExit(f"the daemon did not judge a new hour (exit {proc.poll()})")
            return hits[0]

    try:
        with done:  # its first cycle: the file is unchanged
            done.wait_for(lambda: cycles or proc.poll() is not None, 600)
        append_hour(csv, series, start, next_hour)
        cold = next_cycle_with_points()
        append_hour(csv, series, start, next_hour + 1)
        warm = next_cycle_with_points()
        status = Path(f"/proc/{proc.pid}/status").read_text()
        peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024 / 1024  # type: ignore[union-attr]
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    return cold, warm, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--series",
        default="10000",
        help="series counts, comma-separated (e.g. 10000,100000): each measured in turn",
    )
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument(
        "--reference-memory",
        default="3GB",
        help="DuckDB memory_limit of the reference (it spills past it; its default, 80%% "
        "of RAM, would take ~10 GB at 100k series)",
    )
    parser.add_argument(
        "--api-customers",
        type=int,
        default=10_000,
        help="customers for the API-path store figure (0: skip)",
    )
    parser.add_argument(
        "--metronome-customers",
        type=int,
        default=0,
        help="also run bench/poll_metronome.py with this many customers (20 ms latency, "
        "concurrency 32) and print its figures (0: skip)",
    )
    args = parser.parse_args()
    for n in [int(x) for x in str(args.series).split(",") if x.strip()]:
        work = (
            (args.keep / str(n)) if args.keep else Path(tempfile.mkdtemp(prefix="alerter-scale-"))
        )
        work.mkdir(parents=True, exist_ok=True)
        measure(n, args.days, work, args.reference_memory)
        if not args.keep:
            shutil.rmtree(work)
    if args.api_customers:
        with tempfile.TemporaryDirectory(prefix="alerter-api-") as folder:
            api = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    API_STORE,
                    str(args.api_customers),
                    "48",
                    folder + "/api.db",
                ],
                capture_output=True,
                text=True,
                check=True,
            )
        print(api.stdout.strip())
    if args.metronome_customers:
        print(f"Metronome poll, {args.metronome_customers:,} customers x 3 products x 48 h:")
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "poll_metronome.py"),
                "--customers",
                str(args.metronome_customers),
                "--latency",
                "0.02",
                "--concurrency",
                "32",
            ],
            check=True,
        )


def measure(series: int, days: int, work: Path, reference_memory: str) -> None:
    """Every figure of one data size, printed as a table."""
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    hours = days * 24
    start = now - timedelta(hours=hours + 4)  # room for three appended hours, all settled
    csv = work / "usage.csv"
    n_points = write_csv(csv, series, start, hours)
    for stale in work.glob("state.db*"):
        stale.unlink()
    (work / "config.toml").write_text(CONFIG.format(days=days + 1))
    (work / "rules.toml").write_text(RULES)
    alerter = [sys.executable, "-m", "alerter", "run", "--once", "--config", "config.toml"]
    mb = csv.stat().st_size / 1e6
    print(f"data: {series:,} series x {hours} h = {n_points:,} points, CSV {mb:.0f} MB")
    print(f"load average at the start: {_load()}")

    ref_s, ref_rss, ref_c = run_child(
        [sys.executable, "-c", REFERENCE, str(csv), reference_memory], work
    )
    first_s, first_rss, first_c = run_child(alerter, work)
    same_s, same_rss, same_c = run_child(alerter, work)
    append_hour(csv, series, start, hours)
    inc_s, inc_rss, inc_c = run_child(alerter, work)
    cold_s, warm_s, daemon_rss = daemon_cycles(work, csv, series, start, hours + 1)
    state = work / "state.db"
    points_file = Path(str(state) + ".points.duckdb")
    size = state.stat().st_size + points_file.stat().st_size
    alerts = (
        (work / "alerts.jsonl").read_text().count("\n") if (work / "alerts.jsonl").exists() else 0
    )

    rows = [
        ("DuckDB read + sum per (series, hour) -> numpy (reference)", ref_s, ref_rss, ref_c),
        ("alerter run --once, first run (parse, store, judge)", first_s, first_rss, first_c),
        ("alerter run --once, file unchanged", same_s, same_rss, same_c),
        ("alerter run --once, one new hour appended", inc_s, inc_rss, inc_c),
    ]
    print(
        f"{'process (wall, with interpreter start)':<58} {'seconds':>8} {'x ref':>6} "
        f"{'peak RSS':>9} {'cycle s':>8}"
    )
    for name, s, rss, cycle in rows:
        print(f"{name:<58} {s:>8.2f} {s / ref_s:>6.1f} {rss:>6.2f} GB {cycle or '-':>8}")
    print(
        f"{'daemon (alerter run): new hour, first after start (cycle s)':<58} {cold_s:>8.2f} "
        f"{cold_s / ref_s:>6.1f} {daemon_rss:>6.2f} GB {'':>8}"
    )
    print(
        f"{'daemon (alerter run): the next new hour (cycle s)':<58} {warm_s:>8.2f} "
        f"{warm_s / ref_s:>6.1f} {'':>9} {'':>8}"
    )
    print(f"load average at the end: {_load()} (2 cores: above 2, other work shared them)")
    stored = n_points + 3 * series  # three hours appended
    per_million = size / 1e6 / (stored / 1e6)
    parquet = parquet_size(points_file, work / "points.parquet") / 1e6 / (stored / 1e6)
    print(
        f"state: {size / 1e6:.0f} MB ({per_million:.1f} MB per million points; the same "
        f"points as Parquet (zstd): {parquet:.1f} MB per million; CSV "
        f"{mb / (n_points / 1e6):.1f} MB per million rows); alerts written: {alerts}"
    )


def _load() -> str:
    """The 1, 5 and 15 minute load averages (the figures are wall times on shared cores)."""
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def parquet_size(points_file: Path, out: Path) -> int:
    """Bytes of the stored points (series id, start, end, exact amount) written as one
    zstd Parquet file: the columnar size of the same data, for the state's figure."""
    db = duckdb.connect(str(points_file), read_only=True)
    try:
        db.execute(
            f"COPY (SELECT series, start, \"end\", amount FROM points) TO '{out}' "
            "(FORMAT parquet, COMPRESSION zstd)"
        )
    finally:
        db.close()
    size = out.stat().st_size
    out.unlink()
    return size


if __name__ == "__main__":
    main()
