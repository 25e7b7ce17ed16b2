"""Failover time of replicas sharing PostgreSQL state: holder killed -> first poll by the next.

Starts ``--replicas`` real daemons (``python -m alerter run``) on a scratch database of
the machine's PostgreSQL (``ALERTER_TEST_PG``, default postgresql://postgres@127.0.0.1:5432),
all polling one Metronome fake (``--customers`` customers, hourly windows, schedule 1 s
or ``--schedule``). For each TTL in ``--ttl`` and each of ``--runs`` rounds: wait until
the lease holder has finished a cycle, SIGKILL it between two cycles, and time how long
until the fake sees the next breakdown request (only the lease holder polls, so that is
the new holder's first poll).
The killed replica is started again so every round has the same number of replicas.

Also printed, from the daemons' ``cycle_done`` log lines: the first cycle of the run
(a backfill: what a new holder would have to do first if points lived only in each
replica's local store) beside a new holder's first cycle (a lookback fetch: points in
PostgreSQL are already there).

    python bench/failover.py [--ttl 2 5] [--runs 5] [--replicas 3] [--customers 20]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from alerter.clock import SystemClock  # noqa: E402
from tests.fakes.metronome import (  # noqa: E402
    Customer,
    FakeMetronome,
    MetronomeDataset,
    Product,
)
from tests.postgres import scratch_database  # noqa: E402

TOKEN = "bench-failover-token"
GPU = Product("GPU compute")
BOUND = 120.0


def steady(customer: Customer, product: Product, hour: datetime) -> Decimal:
    return Decimal(10000 + 100 * (hour.hour % 3))


class TimedMetronome(FakeMetronome):
    """The Metronome fake, stamping every breakdown request (monotonic clock)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stamps: list[float] = []
        self._stamp_lock = threading.Lock()

    def list_breakdowns(self, *args: Any, **kwargs: Any) -> Any:
        # stamped when the request is read (the holder is killed between two cycles, so
        # no request of the killed replica is still on its way)
        with self._stamp_lock:
            self.stamps.append(time.monotonic())
        return super().list_breakdowns(*args, **kwargs)

    def first_after(self, t: float) -> float | None:
        with self._stamp_lock:
            later = [s for s in self.stamps if s > t]
        return min(later) if later else None


def write_config(tmp: Path, url: str, metronome: str, ttl: float, schedule: str) -> Path:
    config = tmp / f"alerter-{ttl:g}.toml"
    (tmp / "rules").mkdir(exist_ok=True)
    (tmp / "rules" / "r.toml").write_text(
        '[[rule]]\nname = "spike"\nsource = "metronome"\ngroup_by = ["customer_id"]\n'
        'min_history = 24\n[rule.detector]\ntype = "change"\nbaseline = "median"\n'
        "windows = 24\npct = 200\n",
        encoding="utf-8",
    )
    config.write_text(
        f"""
[alerter]
state = "{url}"
lease_ttl = "{ttl:g}s"
rules = ["rules/*.toml"]

[alerter.http]
enabled = false

[sources.metronome]
type = "metronome"
base_url = "{metronome}"
token_env = "BENCH_METRONOME_TOKEN"
window = "hour"
schedule = "{schedule}"
lookback = "12h"
backfill = "35d"
staleness = "1h"

[notifiers.out]
type = "console"
""",
        encoding="utf-8",
    )
    return config


def wait(what: str, probe: Any) -> Any:
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.02)
    raise SystemExit(f"timed out waiting for {what}")


def holder_pid(url: str) -> int | None:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT holder FROM leases WHERE source='metronome' AND expires_at > clock_timestamp()"
        ).fetchone()
    if row is None:
        return None
    found = re.search(r"-(\d+)-[0-9a-f]+$", str(row[0]))
    return int(found.group(1)) if found else None


def cycle_seconds(logs: list[Path]) -> list[float]:
    out = []
    for log in logs:
        text = log.read_text(encoding="utf-8", errors="replace")
        out += [
            float(s) for s in re.findall(r"cycle_done source=metronome .*seconds=([\d.]+)", text)
        ]
    return out


def run(ttl: float, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    data = MetronomeDataset(steady)
    for n in range(args.customers):
        data.add_customer(f"Customer {n:03d}", [GPU])
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BENCH_METRONOME_TOKEN": TOKEN,
    }
    failovers: list[float] = []
    procs: dict[int, subprocess.Popen[bytes]] = {}
    logs: list[Path] = []
    fake = TimedMetronome(data, token=TOKEN, now=SystemClock().now)
    with scratch_database("alerter_bench") as url, fake:
        config = write_config(tmp, url, fake.url, ttl, args.schedule)

        def start() -> None:
            log = tmp / f"ttl{ttl:g}-replica{len(logs)}.log"
            logs.append(log)
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "alerter", "run", "--config", str(config)],
                    cwd=ROOT,
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            procs[proc.pid] = proc

        try:
            for _ in range(args.replicas):
                start()
            wait("the first backfill", lambda: cycle_seconds(logs))
            backfill = cycle_seconds(logs)[0]
            new_holder_cycles: list[float] = []
            for _ in range(args.runs):
                pid = wait("a live lease", lambda: holder_pid(url))
                done_before = len(cycle_seconds(logs))
                wait("a cycle of the holder", lambda n=done_before: len(cycle_seconds(logs)) > n)
                time.sleep(0.3)  # between two cycles: no request of the holder in flight
                done_before = len(cycle_seconds(logs))
                killed_at = time.monotonic()
                procs[pid].send_signal(signal.SIGKILL)
                procs.pop(pid).wait()
                first = wait("the new holder's first poll", lambda t=killed_at: fake.first_after(t))
                failovers.append(first - killed_at)
                wait(
                    "the new holder's first cycle",
                    lambda n=done_before: len(cycle_seconds(logs)) > n,
                )
                new_holder_cycles.append(cycle_seconds(logs)[-1])
                start()
        finally:
            for proc in procs.values():
                proc.kill()
                proc.wait()
    return {
        "ttl": ttl,
        "failovers": failovers,
        "backfill_cycle": backfill,
        "new_holder_cycle": statistics.median(new_holder_cycles),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ttl", type=float, nargs="+", default=[2.0, 5.0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--schedule", default="1s")
    args = parser.parse_args()
    print(
        f"replicas={args.replicas} customers={args.customers} schedule={args.schedule} "
        f"runs={args.runs} (one SIGKILL of the lease holder per run)"
    )
    print(f"{'lease_ttl':>9} {'median_s':>9} {'max_s':>7} {'min_s':>7} {'median/ttl':>10}")
    results = []
    with tempfile.TemporaryDirectory(prefix="alerter-failover-") as tmp:
        for ttl in args.ttl:
            result = run(ttl, args, Path(tmp))
            results.append(result)
            f = result["failovers"]
            med = statistics.median(f)
            print(f"{ttl:>9g} {med:>9.2f} {max(f):>7.2f} {min(f):>7.2f} {med / ttl:>10.2f}")
    print()
    print("first cycle of a holder (seconds, from cycle_done):")
    for r in results:
        print(
            f"  ttl={r['ttl']:g}: backfill 35d (cold replica, local points) "
            f"{r['backfill_cycle']:.2f} s; new holder, points in PostgreSQL "
            f"{r['new_holder_cycle']:.2f} s"
        )


if __name__ == "__main__":
    main()
