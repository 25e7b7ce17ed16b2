"""Reading a FOCUS export: the ``focus`` source beside DuckDB and a naive row loop.

    python bench/focus_read.py [--series 2000] [--days 14] [--format csv.gz|parquet]

Writes a FOCUS 1.2 file (``series`` x ``days`` x 24 hourly rows, offset-less
timestamps, a JSON Tags column, some ``NULL`` cells), then measures, each in its own
child process (wall time, peak RSS):

- reference: DuckDB reads the same file and sums BilledCost per (series, day);
- the ``focus`` source's fetch (parse, check every row, sum exactly, columns out);
- the same fetch again with the file unchanged (from memory, nothing parsed);
- naive: Python's csv module, ``Decimal`` per row, a dict of sums (csv.gz only).

Nothing here is asserted; the README's figures come from its output.
"""

from __future__ import annotations

import argparse
import gzip
import io
import random
import subprocess
import sys
import tempfile
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADER = [
    "BillingPeriodStart",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "BilledCost",
    "EffectiveCost",
    "BillingCurrency",
    "ChargeCategory",
    "ChargeClass",
    "ServiceName",
    "SkuId",
    "RegionId",
    "SubAccountId",
    "ConsumedQuantity",
    "x_UsageType",
    "Tags",
]

REFERENCE = r"""
import sys, duckdb
db = duckdb.connect()
db.execute("SET TimeZone='UTC'")
path = sys.argv[1]
cols = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in sys.argv[2].split(",")) + "}"
opts = f"header=true, auto_detect=false, columns={cols}, delim=',', quote='\"', escape='\"', nullstr='NULL'"
source = f"read_parquet('{path}')" if path.endswith(".parquet") else f"read_csv('{path}', {opts})"
got = db.execute(
    "SELECT ServiceName, SkuId, RegionId, SubAccountId, ChargeCategory, "
    "epoch(CAST(ChargePeriodStart AS TIMESTAMPTZ))::BIGINT // 86400 AS d, "
    f"sum(CAST(BilledCost AS DECIMAL(38,18))) FROM {source} GROUP BY ALL"
).fetchall()
print(len(got))
"""

ALERTER = """
import asyncio, sys, time
from datetime import datetime, UTC
from pathlib import Path
from alerter.clock import FakeClock
from alerter.sources.base import SourceContext
from alerter.sources.focus import FocusConfig, FocusSource
path = Path(sys.argv[1])
src = FocusSource("b", FocusConfig(path=path.name), SourceContext(FakeClock(datetime(2030, 1, 1, tzinfo=UTC)), {}, path.parent))
since, until = datetime(2000, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)
t = time.perf_counter()
r = asyncio.run(src.fetch(since, until))
first = time.perf_counter() - t
t = time.perf_counter()
asyncio.run(src.fetch(since, until))
again = time.perf_counter() - t
print(r.n_points, f"{first:.3f}", f"{again:.3f}")
"""

NAIVE = """
import csv, gzip, io, sys
from decimal import Decimal
sums = {}
with gzip.open(sys.argv[1], "rt", newline="") as fh:
    for row in csv.DictReader(fh):
        key = (row["ServiceName"], row["SkuId"], row["RegionId"], row["SubAccountId"],
               row["ChargeCategory"], row["ChargePeriodStart"][:10])
        sums[key] = sums.get(key, Decimal(0)) + Decimal(row["BilledCost"])
print(len(sums))
"""


def write_csv(path: Path, series: int, days: int) -> int:
    rng = random.Random(1)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    out = io.StringIO()
    out.write(",".join(HEADER) + "\n")
    rows = 0
    for h in range(days * 24):
        t = start + timedelta(hours=h)
        s, e = (
            t.strftime("%Y-%m-%d %H:%M:%S"),
            (t + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S"),
        )
        for i in range(series):
            cost = f"{rng.uniform(0.01, 5):.10f}"
            qty = "NULL" if i % 50 == 0 else "1.0"
            tags = '"{""team"": ""t' + str(i % 20) + '""}"'
            out.write(
                f"2026-09-01 00:00:00,{s},{e},{cost},{cost},USD,Usage,NULL,svc{i % 40},sku{i},"
                f"r{i % 6},{100000000000 + i % 300},{qty},usage{i % 13},{tags}\n"
            )
            rows += 1
    path.write_bytes(gzip.compress(out.getvalue().encode(), compresslevel=1))
    return rows


def to_parquet(src: Path, dst: Path) -> None:
    import duckdb

    cols = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in HEADER) + "}"
    opts = f"header=true, auto_detect=false, columns={cols}, delim=',', quote='\"', escape='\"'"
    duckdb.connect().execute(
        f"COPY (SELECT * FROM read_csv('{src}', {opts})) TO '{dst}' (FORMAT parquet)"
    )


def measure(code: str, *args: str) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and stdout of ``python -c code args`` (GNU time)."""
    script = textwrap.dedent(code)
    cmd = ["/usr/bin/time", "-f", "%e %M", sys.executable, "-c", script, *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    wall, rss = done.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss) / 1024, done.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=2000)
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--format", choices=["csv.gz", "parquet"], default="csv.gz")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "focus.csv.gz"
        rows = write_csv(path, args.series, args.days)
        if args.format == "parquet":
            pq = Path(tmp) / "focus.parquet"
            to_parquet(path, pq)
            path = pq
        print(
            f"{rows:,} FOCUS rows ({args.series} series x {args.days} days x 24 h), "
            f"{args.format}, {path.stat().st_size / 1e6:.1f} MB"
        )
        ref_s, ref_mb, _ = measure(REFERENCE, str(path), ",".join(HEADER))
        al_s, al_mb, out = measure(ALERTER, str(path))
        points, first, again = out.splitlines()[-1].split()
        print(f"  DuckDB reference        {ref_s:7.2f} s  {ref_mb:7.0f} MB")
        print(
            f"  focus source (process)  {al_s:7.2f} s  {al_mb:7.0f} MB  "
            f"{al_s / ref_s:5.1f}x the reference; fetch {first} s, {points} points"
        )
        print(f"  focus, unchanged file   {float(again):7.3f} s  (nothing parsed)")
        if args.format == "csv.gz":
            nv_s, nv_mb, _ = measure(NAIVE, str(path))
            print(
                f"  naive csv + Decimal     {nv_s:7.2f} s  {nv_mb:7.0f} MB  "
                f"{nv_s / ref_s:5.1f}x the reference"
            )


if __name__ == "__main__":
    main()
