"""The bundled sample through the real CLI: run, run again, backtest, dry run, validate."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from alerter.cli import main
from tests.conftest import T0
from tests.helpers import SPIKE_RULE, csv_config, write_csv_series

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.scenario


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    shutil.copy(REPO / "config.example.toml", tmp_path / "config.toml")
    shutil.copytree(REPO / "rules", tmp_path / "rules")
    shutil.copytree(REPO / "examples" / "focus", tmp_path / "examples" / "focus")
    return tmp_path / "config.toml"


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_run_once_alerts_then_stays_quiet_and_backtest_agrees(sample, capsys):
    assert main(["run", "--once", "--config", str(sample)]) == 0
    out = capsys.readouterr().out
    assert "[NEW] CRITICAL service-hourly-spike: RegionId=us-east-1, ServiceName=AmazonEC2" in out
    assert "window     Thu 01 Oct 2026 14:00–15:00 UTC" in out
    assert "[NEW] WARNING service-daily-shift: ServiceName=AmazonRDS" in out
    assert "window     Mon 05 Oct 2026 (UTC)" in out  # a daily window is a date
    assert "[RESOLVED] WARNING service-daily-shift" in out
    assert "anomalous  Mon 05 Oct 2026 – Thu 08 Oct 2026 (UTC)" in out
    assert "duration   4d" in out
    sent = lines(sample.parent / "alerts.jsonl")
    assert [(e["rule"], e["event"]) for e in sent] == [
        ("service-hourly-spike", "first"),
        ("service-hourly-spike", "resolved"),
        ("service-daily-shift", "first"),
        ("service-daily-shift", "resolved"),
    ]
    for event in sent:
        assert {
            "rule",
            "group",
            "window_start",
            "window_end",
            "observed",
            "expected",
            "severity",
            "event",
        } <= set(event)

    assert main(["run", "--once", "--config", str(sample)]) == 0
    assert "NEW" not in capsys.readouterr().out
    assert len(lines(sample.parent / "alerts.jsonl")) == 4  # nothing new

    assert main(["backtest", "--json", "--config", str(sample)]) == 0
    replayed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    fields = (
        "rule",
        "group",
        "window_start",
        "window_end",
        "observed",
        "expected",
        "severity",
        "event",
    )
    assert sorted(tuple(json.dumps(e[f]) for f in fields) for e in replayed) == sorted(
        tuple(json.dumps(e[f]) for f in fields) for e in sent
    )


def test_dry_run_prints_per_notifier_and_leaves_no_trace(sample, capsys):
    assert main(["run", "--once", "--dry-run", "--config", str(sample)]) == 0
    out = capsys.readouterr().out
    assert "--- console (console) ---" in out
    assert "--- jsonl (file) ---" in out
    assert not (sample.parent / "alerts.jsonl").exists()
    assert main(["run", "--once", "--config", str(sample)]) == 0  # the real run still alerts
    assert "[NEW] CRITICAL service-hourly-spike" in capsys.readouterr().out


def test_backtest_text_sums_alerts_per_week(sample, capsys):
    assert (
        main(
            [
                "backtest",
                "--config",
                str(sample),
                "--rule",
                "service-hourly-spike",
                "--since",
                "2026-09-07T00:00:00Z",
                "--until",
                "2026-10-12T00:00:00Z",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "alerts per week (new incidents, over the span that holds data):" in out
    assert "service-hourly-spike: 0.20" in out  # one incident in five weeks
    assert "service-daily-shift" not in out  # --rule lists only that rule
    assert main(["backtest", "--config", str(sample), "--rule", "nope"]) == 2
    assert "no enabled rule named 'nope'" in capsys.readouterr().err


def test_backtest_defaults_to_the_files_own_range_and_writes_html(sample, capsys, tmp_path):
    report = tmp_path / "report.html"
    assert main(["backtest", "--config", str(sample), "--html", str(report)]) == 0
    out = capsys.readouterr().out
    # no --since/--until: the range is the files' data, not the last backfill before now
    assert "[NEW] CRITICAL service-hourly-spike:" in out
    assert "range 2026-" in out
    page = report.read_text(encoding="utf-8")
    assert "service-hourly-spike" in page and "data:image/png;base64," in page
    assert "http://" not in page and "https://" not in page  # self-contained


def test_backtest_of_an_empty_range_says_where_the_data_is(sample, capsys):
    args = ["backtest", "--config", str(sample), "--since", "2020-01-01", "--until", "2020-02-01"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "no data in this range; its data covers 2026-" in out


def test_tune_replays_a_rule_at_each_budget_and_proposes_one(sample, capsys):
    args = ["tune", "--config", str(sample), "--rule", "service-hourly-spike"]
    assert main([*args, "--budget", "1/week", "--budget", "1/year"]) == 0
    out = capsys.readouterr().out
    assert "rule service-hourly-spike: 1 past incidents" in out
    assert "max_alerts = '1/week'" in out and "max_alerts = '1/year'" in out
    assert "caught 1/1" in out
    assert "EXCEEDED" in out  # one incident in five weeks is more than 1/year allows
    assert 'proposal: max_alerts = "1/week"' in out
    assert main([*args, "--budget", "often"]) == 2
    assert "--budget: not a budget: 'often'" in capsys.readouterr().err


def test_validate_exit_codes(sample, capsys):
    assert main(["validate", "--config", str(sample)]) == 0
    assert "ok (2 source(s), 2 notifier(s), 2 rule(s))" in capsys.readouterr().out
    broken = sample.parent / "rules" / "sample.toml"
    broken.write_text(broken.read_text().replace("pct = 150", "pct = 0"))
    assert main(["validate", "--config", str(sample)]) == 2
    err = capsys.readouterr().err
    assert (
        'rules/sample.toml:15: rule "service-hourly-spike": detector.pct: input should be greater than 0 (got 0)'
        in err
    )


def test_malformed_csv_row_is_reported_with_file_and_line(tmp_path, capsys):
    data = write_csv_series(tmp_path / "data" / "a.csv", T0, 72, {"s1": 10.0})
    with data.open("a") as fh:
        fh.write("2026-09-10T01:00:00Z,s1,team-1,12.4.5\n")
    cfg = csv_config(tmp_path, rules=SPIKE_RULE)
    assert main(["run", "--once", "--config", str(cfg)]) == 1  # the only source failed
    err = capsys.readouterr().err
    assert f"{data}:74: not a decimal amount: '12.4.5'" in err
    assert main(["status", "--json", "--config", str(cfg)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert "12.4.5" in status["sources"][0]["last_error"]


def test_late_data_updates_the_incident_instead_of_alerting_again(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ALERTER_SOURCES__BENCH__LOOKBACK", "3650d")  # re-read the old files
    path = tmp_path / "data" / "a.csv"
    write_csv_series(path, T0, 24 * 4, {"s1": 10.0, "s2": 10.0}, spikes={("s1", 80): 6.0})
    cfg = csv_config(tmp_path, rules=SPIKE_RULE)
    assert main(["run", "--once", "--config", str(cfg)]) == 0
    first = lines(tmp_path / "alerts.jsonl")
    assert [(e["event"], e["group"]) for e in first] == [
        ("first", {"series": "s1"}),
        ("resolved", {"series": "s1"}),
    ]
    # the billing system revises the spike upwards (backdated usage)
    text = path.read_text().splitlines()
    row = next(i for i, line in enumerate(text) if line.startswith("2026-09-10T08:00:00Z,s1"))
    ts, name, team, amount = text[row].split(",")
    text[row] = f"{ts},{name},{team},{float(amount) * 2:.4f}"
    path.write_text("\n".join(text) + "\n")
    assert main(["run", "--once", "--config", str(cfg)]) == 0
    events = lines(tmp_path / "alerts.jsonl")[2:]
    assert [e["event"] for e in events] == ["late_data"]
    assert float(events[0]["observed"]) > float(first[0]["observed"]) * 1.9


def test_explain_shows_band_baseline_and_guard(sample, capsys):
    args = [
        "explain",
        "--config",
        str(sample),
        "--rule",
        "service-hourly-spike",
        "--group",
        "ServiceName=AmazonEC2",
        "RegionId=us-east-1",
    ]
    assert main([*args, "--at", "2026-10-01T14:30:00Z"]) == 0
    out = capsys.readouterr().out
    assert "window    2026-10-01T14:00:00Z" in out
    assert "observed  $203.29" in out
    assert "verdict   flagged" in out
    assert "2026-09-17T14:00:00Z" in out and "2026-09-24T14:00:00Z" in out  # same hour, 2 weeks
    assert main([*args, "--at", "2026-10-01T03:00:00Z"]) == 0
    assert "not flagged: inside the detector's band" in capsys.readouterr().out
    assert main([*args, "--at", "2026-09-08T14:00:00Z"]) == 0  # week 2: no baseline yet
    assert "unknown: no data for this window or no baseline yet" in capsys.readouterr().out
    assert (
        main(
            [
                "explain",
                "--config",
                str(sample),
                "--rule",
                "service-hourly-spike",
                "--group",
                "ServiceName=Nope",
                "--at",
                "2026-10-01T14:00:00Z",
            ]
        )
        == 2
    )
    assert "has no group 'ServiceName=Nope'" in capsys.readouterr().err
