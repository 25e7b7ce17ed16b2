"""How fast the web UI's incidents page loads with many open incidents.

The whole user path: a state file holding N open incidents (each with a delivered
notification and its history, as the daemon leaves them; every tenth acknowledged)
and a few silences, the UI mounted on the daemon's HTTP server on a loopback port,
and GET requests over HTTP
timed end to end (query, silence matching, template, socket). Beside it, in the same
run: ``/healthz`` on the same server (the floor: one request with no page) and an
incident page.

    python bench/ui_load.py                      # 1,000 open incidents, 30 requests
    python bench/ui_load.py --incidents 5000 --requests 20
    python bench/ui_load.py --state postgresql://postgres@127.0.0.1:5432/scratch  # empty db
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alerter.app import App  # noqa: E402
from alerter.clock import FakeClock  # noqa: E402
from alerter.config import load_config  # noqa: E402
from alerter.daemon import Daemon  # noqa: E402
from alerter.domain import (  # noqa: E402
    Direction,
    HistoryPoint,
    Incident,
    Notification,
    Reason,
    Severity,
)
from alerter.server import HttpServer  # noqa: E402
from alerter.store.actions import Action, ActionRecord, actions_of  # noqa: E402
from alerter.web import WebUI  # noqa: E402

NOW = datetime(2026, 9, 7, 12, tzinfo=UTC)


def fill(app: App, count: int) -> None:
    store = app.store
    actions = actions_of(store)
    assert actions is not None, "SQLite and PostgreSQL state keep incident actions"
    severities = [Severity.CRITICAL, Severity.WARNING, Severity.INFO]
    with store.transaction():
        for i in range(count):
            window = NOW - timedelta(hours=2 + i % 48)
            group = (("customer_id", f"c-{i:05d}"), ("customer_name", f"Customer <{i}> & Co"))
            inc = store.save_incident(
                Incident(
                    id=0,
                    rule=f"rule-{i % 7}",
                    group=group,
                    status="open",
                    severity=severities[i % 3],
                    opened_at=window,
                    first_window=window,
                    last_window=window,
                    last_anomalous_window=window,
                    observed=Decimal("512.25"),
                    expected=Decimal("50.10"),
                    peak_score=9.5,
                    normal_streak=0,
                    excess=Decimal("462.15"),
                    provisional=i % 11 == 0,
                )
            )
            history = tuple(
                HistoryPoint(window - timedelta(hours=h), 50.0 + h % 5, 50.0, 40.0, 60.0)
                for h in range(168, 0, -1)
            )
            msg = Notification(
                incident_id=inc.id,
                rule=inc.rule,
                group=group,
                source="bench",
                event=Reason.FIRST,
                severity=inc.severity,
                window_start=window,
                window_end=window + timedelta(hours=1),
                observed=inc.observed,
                expected=inc.expected,
                lower=Decimal(40),
                upper=Decimal(60),
                score=9.5,
                direction=Direction.UP,
                history=history,
            )
            item = store.enqueue(msg, "jsonl", window)
            store.mark_sent(item, None, window)
            if i % 10 == 0:  # every tenth acknowledged, as the Acknowledge button leaves it
                actions.record(
                    ActionRecord(inc.id, Action.ACKNOWLEDGE, "oncall", NOW, "repeats stopped")
                )
        for j in range(20):
            store.add_silence(
                f"rule-{j % 7}", {"customer_id": f"c-{j:05d}"}, NOW, NOW + timedelta(hours=4)
            )


def timed(url: str, requests: int) -> tuple[list[float], int]:
    samples = []
    size = 0
    for _ in range(requests):
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=30) as resp:
            body = resp.read()
        samples.append((time.perf_counter() - start) * 1000)
        size = len(body)
    return samples, size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument(
        "--state", default="state.db", help="a SQLite file (default) or an empty PostgreSQL db"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "rules").mkdir()
        (folder / "data").mkdir()
        (folder / "rules" / "bench.toml").write_text(
            "".join(
                f'[[rule]]\nname = "rule-{r}"\nsource = "bench"\nmax_alerts = "1/month"\n'
                'group_by = ["customer_id", "customer_name"]\n'
                'detector = { type = "threshold", above = 100 }\n\n'
                for r in range(7)
            ),
            encoding="utf-8",
        )
        (folder / "config.toml").write_text(
            f'[alerter]\nstate = "{args.state}"\nrules = ["rules/*.toml"]\n\n'
            "[alerter.http]\nui = true\nport = 0\n\n"
            '[sources.bench]\ntype = "csv"\npath = "data/*.csv"\nstep = "1h"\n',
            encoding="utf-8",
        )
        app = App(
            load_config(folder / "config.toml"),
            clock=FakeClock(NOW),
            env={},
            out=io.StringIO(),
            deliver_in_cycle=False,
        )
        start = time.perf_counter()
        fill(app, args.incidents)
        print(f"filled {args.incidents} open incidents in {time.perf_counter() - start:.1f} s")
        daemon = Daemon(app, serve_http=False)
        server = HttpServer(
            "127.0.0.1",
            0,
            health=daemon._health,
            metrics=daemon.metrics.render,
            ui=WebUI(app).handle,
        ).start()
        base = f"http://127.0.0.1:{server.port}"
        try:
            timed(base + "/ui/", 2)  # warm: templates compiled, caches filled
            rows = []
            for label, path in (
                ("/healthz (floor)", "/healthz"),
                (f"/ui/ ({args.incidents} open)", "/ui/"),
                ("/ui/incidents/1", "/ui/incidents/1"),
            ):
                samples, size = timed(base + path, args.requests)
                rows.append((label, statistics.median(samples), max(samples), size))
        finally:
            server.stop()
            app.store.close()
    floor = rows[0][1]
    print(f"{'page':<28} {'median ms':>10} {'max ms':>8} {'bytes':>9} {'x floor':>8}")
    for label, median, worst, size in rows:
        print(f"{label:<28} {median:>10.1f} {worst:>8.1f} {size:>9,} {median / floor:>8.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
