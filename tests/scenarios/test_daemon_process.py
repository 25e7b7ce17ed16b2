"""The real daemon process: health, metrics, a rejected SIGHUP reload, a clean SIGTERM.

Timeline (the daemon's clock pinned to a fixed start, running at the real pace;
one-minute windows): a CSV source holds forty minutes of history
for two series, with a spike of ``a`` five minutes ago, and normal values for the next
ten minutes. ``python -m alerter run`` polls every second, serving HTTP on a free port.
The first poll alerts the spike; ``/healthz`` answers 200 and ``/metrics`` counts polls,
points and the delivery. The rule file is then broken and SIGHUP sent: the process keeps
running and logs the broken file. A past window of ``b`` revised into a spike after
that (late data, so nothing waits for a window to close) is still alerted by the old
rules. SIGTERM exits 0 with every outbox item delivered.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from alerter.clock import PinnedClock

REPO = Path(__file__).resolve().parents[2]
STEP = 60  # seconds per window
BOUND = 120.0  # seconds, every wait (generous: a loaded machine starts Python slowly)
T = TypeVar("T")

RULES = """
[[rule]]
name = "spike"
source = "bench"
group_by = ["series"]
min_delta = 5
min_history = 24
[rule.detector]
type = "change"
baseline = "median"
windows = 24
pct = 200
"""

BROKEN_RULES = """
[[rule]]
name = "spike"
source = "bench"
group_by = ["series"]
[rule.detector]
type = "no-such-detector"
"""


def _floor(t: datetime) -> datetime:
    return datetime.fromtimestamp(int(t.timestamp()) // STEP * STEP, UTC)


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_setup(tmp: Path, now: datetime) -> tuple[Path, datetime]:
    """History from now-40min to now+10min; series ``a`` spiked five minutes ago."""
    start = _floor(now) - timedelta(minutes=40)
    spike = _floor(now) - timedelta(minutes=5)
    (tmp / "data").mkdir()
    lines = ["timestamp,series,amount"]
    for i in range(50 * 60 // STEP):
        t = start + timedelta(seconds=i * STEP)
        for series in ("a", "b"):
            amount = 100 + (i % 3)
            if series == "a" and t == spike:
                amount *= 10
            lines.append(f"{_stamp(t)},{series},{amount}")
    (tmp / "data" / "usage.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp / "rules").mkdir()
    (tmp / "rules" / "r.toml").write_text(RULES, encoding="utf-8")
    config = tmp / "config.toml"
    config.write_text(
        f"""
[alerter]
state = "state.db"
rules = ["rules/*.toml"]
settle = "{STEP}s"
alert_on_backfill = true
resolve_after = 100000  # incidents stay open: the counts below stay still
log_format = "json"

[alerter.http]
host = "127.0.0.1"
port = 0

[sources.bench]
type = "csv"
path = "data/*.csv"
dimensions = ["series"]
step = "{STEP}s"
schedule = "1s"
lookback = "5m"
backfill = "1h"
staleness = "1h"

[notifiers.out]
type = "file"
path = "alerts.jsonl"
""",
        encoding="utf-8",
    )
    return config, spike


def wait_for(
    what: str, probe: Callable[[], T | None], proc: subprocess.Popen[bytes], log: Path
) -> T:
    """Poll ``probe`` until it returns a value; fail after BOUND seconds or if the process died."""
    deadline = time.monotonic() + BOUND
    while time.monotonic() < deadline:
        value = probe()
        if value is not None:
            return value
        if proc.poll() is not None:
            raise AssertionError(
                f"daemon exited with {proc.returncode} while waiting for {what}:\n{_tail(log)}"
            )
        time.sleep(0.1)  # polling a real process: the only way to wait for it
    raise AssertionError(f"timed out after {BOUND:.0f}s waiting for {what}:\n{_tail(log)}")


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=BOUND) as resp:  # loopback only
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


def metric(text: str, name: str, **labels: str) -> float | None:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        metric_name, _, rest = key.partition("{")
        if metric_name != name:
            continue
        have = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
        if have == want:
            return float(value)
    return None


def records(tmp: Path) -> list[dict[str, object]]:
    path = tmp / "alerts.jsonl"
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    complete = text[: text.rfind("\n") + 1]  # a line being appended is read next time
    return [json.loads(line) for line in complete.splitlines() if line]


@pytest.mark.scenario
@pytest.mark.slow
def test_daemon_serves_health_and_metrics_survives_a_bad_reload_and_stops_cleanly(
    tmp_path: Path, pinned_clock: PinnedClock
) -> None:
    config, past_spike = write_setup(tmp_path, pinned_clock.now())
    log_path = tmp_path / "daemon.log"
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "alerter", "run", "--config", str(config)],
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:

        def log_text() -> str:
            return log_path.read_text(encoding="utf-8", errors="replace")

        port = int(
            wait_for(
                "the http listener",
                lambda: (
                    (m := re.search(r"http_listening host=\S+ port=(\d+)", log_text()))
                    and m.group(1)
                ),
                proc,
                log_path,
            )
        )
        base = f"http://127.0.0.1:{port}"

        # the first poll alerts the past spike, and the dispatcher delivers it
        first = wait_for("the first alert", lambda: records(tmp_path) or None, proc, log_path)
        assert [(r["event"], r["group"], r["window_start"]) for r in first] == [
            ("first", {"series": "a"}, _stamp(past_spike))
        ]
        status, body = get(f"{base}/healthz")
        assert status == 200, body
        health = json.loads(body)
        assert health["status"] == "ok"
        assert health["stale"] == []
        assert health["sources"]["bench"]["last_success_at"] is not None

        # the record is written before the outbox marks it sent and the cycle reports
        # itself, so the counters are read once they have caught up with the record
        def counted() -> str | None:
            text = get(f"{base}/metrics")[1].decode()
            caught_up = (
                (metric(text, "alerter_notifications_sent_total", notifier="out") or 0) >= 1
                and (metric(text, "alerter_polls_total", source="bench", outcome="ok") or 0) >= 1
                and (metric(text, "alerter_cycle_duration_seconds_count", source="bench") or 0) >= 1
            )
            return text if caught_up else None

        text = wait_for("the metrics of the first delivery", counted, proc, log_path)
        assert (metric(text, "alerter_polls_total", source="bench", outcome="ok") or 0) >= 1
        assert (metric(text, "alerter_points_ingested_total", source="bench") or 0) >= 2 * 30
        assert metric(text, "alerter_notifications_sent_total", notifier="out") == 1
        assert metric(text, "alerter_open_incidents") == 1
        assert metric(text, "alerter_outbox_depth", status="pending") == 0
        assert metric(text, "alerter_outbox_depth", status="failed") == 0
        assert (metric(text, "alerter_cycle_duration_seconds_count", source="bench") or 0) >= 1
        assert metric(text, "alerter_build_info", version="0.1.0") == 1
        assert get(f"{base}/nope")[0] == 404

        # a broken rule file on SIGHUP is rejected, naming the file; the process lives on
        (tmp_path / "rules" / "r.toml").write_text(BROKEN_RULES, encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        rejected = wait_for(
            "the rejected reload",
            lambda: next(
                (line for line in log_text().splitlines() if "reload_rejected" in line), None
            ),
            proc,
            log_path,
        )
        assert "r.toml" in rejected
        assert proc.poll() is None

        # the old rules still judge: a past window revised into a spike is alerted
        spike = _floor(pinned_clock.now()) - timedelta(minutes=3)
        usage = tmp_path / "data" / "usage.csv"
        text = usage.read_text(encoding="utf-8")
        text = re.sub(rf"(?m)^{_stamp(spike)},b,\d+$", f"{_stamp(spike)},b,2000", text)
        (tmp_path / "usage.csv.new").write_text(text, encoding="utf-8")
        os.replace(tmp_path / "usage.csv.new", usage)  # atomic: a poll never sees half a file
        second = wait_for(
            "the alert after the rejected reload",
            lambda: [r for r in records(tmp_path) if r["group"] == {"series": "b"}] or None,
            proc,
            log_path,
        )
        assert [(r["event"], r["window_start"]) for r in second] == [("first", _stamp(spike))]
        assert "reload_applied" not in log_text()
        _, raw = get(f"{base}/metrics")
        assert metric(raw.decode(), "alerter_config_reloads_total", outcome="rejected") == 1
        assert get(f"{base}/healthz")[0] == 200

        # SIGTERM: exit 0, nothing left undelivered
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=BOUND)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=BOUND)
    log = log_path.read_text(encoding="utf-8", errors="replace")
    assert code == 0, log
    records_ = [json.loads(line) for line in log.splitlines() if line.strip()]  # all JSON
    events = [r["event"] for r in records_]
    assert events[-1] == "daemon_stopped"
    assert "daemon_stopping" in events
    assert "shutdown_delivered" in events
    assert [r["event"] for r in records_ if r["level"] in ("error", "critical")] == [
        "reload_rejected"
    ]
    cycles = [r["message"] for r in records_ if r["event"] == "cycle_done"]
    assert cycles
    assert all(re.search(r"points=\d+ .* seconds=\d+\.\d+$", m) for m in cycles)
    with sqlite3.connect(tmp_path / "state.db") as db:
        statuses = [row[0] for row in db.execute("SELECT status FROM outbox")]
    db.close()
    sent_lines = records(tmp_path)
    assert statuses == ["sent"] * len(sent_lines)
    assert len(sent_lines) >= 2
