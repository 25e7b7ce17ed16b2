"""The operator's view through the real CLI (in-process): located errors, exit codes,
tables and JSON, logs apart from alerts, dry runs to files, test-notify, config show."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from alerter.cli import main
from alerter.config import load_config
from alerter.errors import ConfigError
from alerter.logs import RedactFilter, configure
from tests.conftest import T0
from tests.helpers import SPIKE_RULE, csv_config, write_csv_series

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.scenario


@pytest.fixture(autouse=True)
def _quiet_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALERTER_CONFIG", raising=False)


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    shutil.copy(REPO / "config.example.toml", tmp_path / "config.toml")
    shutil.copytree(REPO / "rules", tmp_path / "rules")
    shutil.copytree(REPO / "examples" / "focus", tmp_path / "examples" / "focus")
    return tmp_path / "config.toml"


@pytest.fixture
def spiky(tmp_path: Path) -> Path:
    write_csv_series(tmp_path / "data" / "a.csv", T0, 24 * 4, {"s1": 10.0}, spikes={("s1", 80): 6})
    return csv_config(tmp_path, rules=SPIKE_RULE)


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


# -- config errors ---------------------------------------------------------------------
def test_config_errors_are_located_with_suggestions_and_come_with_rule_errors(tmp_path, capsys):
    rules = SPIKE_RULE.replace('source = "bench"', 'source = "bnch"\ndirection = "up"')
    cfg = csv_config(tmp_path, rules=rules)
    cfg.write_text(cfg.read_text().replace('lookback = "2d"', 'lookbak = "2d"'))
    assert main(["validate", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    line = next(i for i, t in enumerate(cfg.read_text().splitlines(), 1) if "lookbak" in t)
    assert f"{cfg}:{line}: sources.bench.lookbak: unknown key (did you mean 'lookback'?)" in err
    # the rule file's problems in the same pass, the cross-checks included
    assert "source: unknown source 'bnch' (did you mean 'bench'? known: bench)" in err
    assert "'direction' is a detector parameter: put it in [rule.detector]" in err


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("[sources.bench]", "[source.bench]", ":8: source: unknown key (did you mean 'sources'?)"),
        (
            'settle = "1h"',
            'settle = "1h"\nlookback = "2d"',
            ":6: alerter.lookback: unknown key here (it belongs in [sources.NAME])",
        ),
        (
            'rules = ["rules/*.toml"]',
            'rules = "rules/*.toml"',
            ":4: alerter.rules: input should be a valid list",
        ),
        ('settle = "1h"', "settle = ", ":5:10: TOML syntax: invalid value"),
    ],
)
def test_newcomer_mistakes_in_the_config(tmp_path, old, new, expected):
    cfg = csv_config(tmp_path, rules=SPIKE_RULE)
    cfg.write_text(cfg.read_text().replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load_config(cfg, env={})
    assert f"{cfg}{expected}" in str(err.value)


def test_wrong_type_and_bad_value_name_line_and_choices(tmp_path):
    cfg = csv_config(tmp_path, rules=SPIKE_RULE)
    cfg.write_text(cfg.read_text().replace('type = "file"', 'type = "fiel"'))
    with pytest.raises(ConfigError) as err:
        load_config(cfg, env={})
    assert "notifiers.out.type: unknown type 'fiel' (did you mean 'file'?" in str(err.value)


def test_invalid_override_names_the_variable(tmp_path):
    cfg = csv_config(tmp_path, rules=SPIKE_RULE)
    with pytest.raises(ConfigError) as err:
        load_config(cfg, env={"ALERTER_SOURCES__BENCH__LOOKBACK": "3 days"})
    assert str(err.value).startswith("ALERTER_SOURCES__BENCH__LOOKBACK: not a duration")
    assert "config.toml" not in str(err.value)


def test_hyphenated_names_are_overridden_with_underscores(sample):
    config = load_config(sample, env={"ALERTER_SOURCES__SAMPLE_DAILY__LOOKBACK": "5d"})
    assert set(config.sources) == {"sample", "sample-daily"}  # no phantom source
    assert config.sources["sample-daily"].lookback.days == 5


def test_override_creating_a_table_is_blamed_on_its_variable(tmp_path):
    cfg = csv_config(tmp_path, rules=SPIKE_RULE)
    with pytest.raises(ConfigError) as err:
        load_config(cfg, env={"ALERTER_SOURCES__GHOST__LOOKBACK": "5d"})
    assert "ALERTER_SOURCES__GHOST__LOOKBACK: required key is missing" in str(err.value)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'settle = "1h"',
            'settle = "1h"\nlog_level = "verbose"',
            "alerter.log_level: unknown log level",
        ),
        ('lookback = "2d"', 'lookback = "3000000d"', "sources.bench.lookback: duration too long"),
        ('type = "file"', 'type = "file"\ntimezone = "Mars/Base"', "unknown timezone 'Mars/Base'"),
        ('rules = ["rules/*.toml"]', 'rules = ["rulez/*.toml"]', "'rulez/*.toml' matches no file"),
    ],
)
def test_validate_rejects_what_run_would_choke_on(tmp_path, capsys, old, new, expected):
    cfg = csv_config(tmp_path, rules=SPIKE_RULE)
    cfg.write_text(cfg.read_text().replace(old, new, 1))
    assert main(["validate", "--config", str(cfg)]) == 2
    assert expected in capsys.readouterr().err


def test_validate_reports_unset_env_and_dimensions_a_source_never_has(tmp_path, capsys):
    write_csv_series(tmp_path / "data" / "a.csv", T0, 24, {"s1": 10.0})
    rules = SPIKE_RULE.replace('group_by = ["series"]', 'group_by = ["teem"]')
    extra = '[notifiers.hook]\ntype = "webhook"\nurl_env = "OPS_TEST_UNSET_HOOK"\n'
    cfg = csv_config(tmp_path, rules=rules, extra=extra)
    assert main(["validate", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "notifiers.hook.url_env: environment variable OPS_TEST_UNSET_HOOK is not set" in err
    assert (
        "rules/r.toml:2: rule \"spike\": group_by: source 'bench' has no dimension 'teem' (did you mean 'team'?"
        in err
    )


def test_log_level_is_checked_before_any_handler_changes():
    configure("INFO", "text", secrets=["s3cr3t-token"])
    handlers = logging.getLogger("alerter").handlers[:]
    with pytest.raises(ValueError, match="unknown log level 'verbose'"):
        configure("verbose", "text")
    assert logging.getLogger("alerter").handlers == handlers
    assert any(isinstance(f, RedactFilter) for f in handlers[0].filters)


# -- CLI conventions ---------------------------------------------------------------------
def test_version_help_and_config_default(tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("alerter ")
    with pytest.raises(SystemExit):
        main(["status", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "$ALERTER_CONFIG, else ./alerter.toml" in help_text
    assert "exit codes: 0 ok, 1 runtime failure" in help_text
    with pytest.raises(SystemExit):
        main(["silence", "add", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert 'how long, e.g. "2h", "7d" (default: 2h)' in help_text
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 2
    assert one_line(capsys.readouterr().err) == (
        "alerter: error: config file alerter.toml not found "
        "(give --config FILE or set ALERTER_CONFIG)"
    )
    cfg = csv_config(tmp_path, rules=SPIKE_RULE)
    monkeypatch.setenv("ALERTER_CONFIG", str(cfg))
    assert main(["validate"]) == 0


@pytest.mark.parametrize(
    "args",
    [
        ["backtest", "--since", "yesterday"],
        ["backtest", "--until", "2026-10-01T00:00:00"],
        ["explain", "--rule", "spike", "--at", "noon"],
        ["silence", "add", "--rule", "nothing-like-it"],
        ["silence", "add", "--rule", "spike", "--for", "forever"],
        ["run", "--once", "--out", "x"],
        ["test-notify", "nobody"],
    ],
)
def test_usage_errors_exit_2_with_one_line(spiky, capsys, args):
    assert main([*args, "--config", str(spiky)]) == 2
    assert one_line(capsys.readouterr().err).startswith("alerter: error: ")


def test_unknown_option_exits_2_with_one_line(spiky, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["status", "--bogus", "--config", str(spiky)])
    assert exit_.value.code == 2
    assert one_line(capsys.readouterr().err).startswith(
        "alerter: error: unrecognized arguments: --bogus"
    )


def test_state_path_that_cannot_be_created_is_one_line(tmp_path, capsys):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    cfg = csv_config(tmp_path, rules=SPIKE_RULE, state="blocker/sub/state.db")
    assert main(["validate", "--config", str(cfg)]) == 2
    assert "state file" in capsys.readouterr().err
    assert main(["run", "--once", "--config", str(cfg)]) == 2
    line = one_line(capsys.readouterr().err)
    assert str(tmp_path / "blocker") in line


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("/proc/self/state.db", "folder /proc/self is not writable: permission denied"),
        ("/proc/no-such-dir/state.db", "cannot create folder /proc/no-such-dir"),
    ],
)
def test_state_path_problems_name_path_and_reason_even_for_root(tmp_path, capsys, state, reason):
    """/proc refuses new files and folders to everyone, root included (tests run as root)."""
    cfg = csv_config(tmp_path, rules=SPIKE_RULE, state=state)
    for args in (["validate"], ["run", "--once"], ["silence", "add", "--rule", "spike"]):
        assert main([*args, "--config", str(cfg)]) == 2
        line = one_line(capsys.readouterr().err)
        assert line.startswith(f"alerter: state file {state}: ") and reason in line


# -- run --once, status, silences --------------------------------------------------------
def test_run_once_exits_1_when_a_notification_was_not_delivered(spiky, capsys):
    (spiky.parent / "alerts.jsonl").mkdir()  # the file notifier cannot write
    assert main(["run", "--once", "--config", str(spiky)]) == 1
    captured = capsys.readouterr()
    assert "notification(s) not delivered" in captured.err
    assert main(["status", "--json", "--config", str(spiky)]) == 0
    assert json.loads(capsys.readouterr().out)["outbox"]["pending"] == 2


def test_status_without_state_says_so_and_creates_nothing(spiky, capsys):
    assert main(["status", "--config", str(spiky)]) == 1
    assert "no state file at" in capsys.readouterr().err
    assert not (spiky.parent / "state.db").exists()


def test_status_and_silences_are_tables_and_json(spiky, capsys):
    assert main(["run", "--once", "--config", str(spiky)]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "silence",
                "add",
                "--rule",
                "spike",
                "series=s1",
                "--by",
                "ana",
                "--config",
                str(spiky),
            ]
        )
        == 0
    )
    assert main(["status", "--config", str(spiky)]) == 0
    out = capsys.readouterr().out
    assert "SOURCE  LAST SUCCESS" in out
    assert "None" not in out and "{" not in out  # no Python reprs
    assert "Active silences: 1" in out
    assert main(["silence", "list", "--config", str(spiky)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ID", "RULE", "MATCHERS", "UNTIL", "BY", "COMMENT"]
    assert "series=s1" in table[1] and "ana" in table[1]
    assert main(["silence", "list", "--json", "--config", str(spiky)]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["matchers"] == {"series": "s1"} and record["rule"] == "spike"


# -- logs --------------------------------------------------------------------------------
def test_logs_go_to_stderr_as_key_value_and_alerts_to_stdout(tmp_path, capsys):
    write_csv_series(tmp_path / "data" / "a.csv", T0, 24 * 4, {"s1": 10.0}, spikes={("s1", 80): 6})
    cfg = csv_config(tmp_path, rules=SPIKE_RULE, extra='[notifiers.con]\ntype = "console"\n')
    assert main(["run", "--once", "--config", str(cfg)]) == 0
    captured = capsys.readouterr()
    assert "[NEW] WARNING spike: series=s1" in captured.out
    assert "cycle_done" not in captured.out
    cycle = next(line for line in captured.err.splitlines() if "cycle_done" in line)
    assert " source=bench ok=true points=" in cycle
    event = next(line for line in captured.err.splitlines() if "incident_event" in line)
    assert 'group="series=s1"' in event and "{" not in event


def test_an_empty_csv_is_reported(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("timestamp,series,team,amount\n")
    cfg = csv_config(tmp_path, rules=SPIKE_RULE)
    assert main(["run", "--once", "--config", str(cfg)]) == 0
    assert "WARNING poll_empty source=bench" in capsys.readouterr().err


def test_an_unchanged_file_is_not_reported_as_empty(tmp_path, capsys):
    write_csv_series(tmp_path / "data" / "a.csv", T0, 24 * 4, {"s1": 10.0})
    cfg = csv_config(tmp_path, rules=SPIKE_RULE)
    assert main(["run", "--once", "--config", str(cfg)]) == 0
    capsys.readouterr()
    assert main(["run", "--once", "--config", str(cfg)]) == 0
    err = capsys.readouterr().err
    assert "poll_empty" not in err
    assert "INFO poll_unchanged source=bench files=1" in err


def test_json_logs_carry_each_field_as_a_key(spiky, capsys, monkeypatch):
    monkeypatch.setenv("ALERTER_ALERTER__LOG_FORMAT", "json")
    assert main(["run", "--once", "--config", str(spiky)]) == 0
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    cycle = next(r for r in records if r["event"] == "cycle_done")
    assert cycle["source"] == "bench" and cycle["ok"] is True and isinstance(cycle["points"], int)


def test_every_entry_point_redacts_configured_secrets(spiky, capsys, monkeypatch):
    secret = "xoxb-very-secret-value"
    monkeypatch.setenv("OPS_TEST_HOOK_URL", secret)
    spiky.write_text(
        spiky.read_text() + '\n[notifiers.hook]\ntype = "webhook"\nurl_env = "OPS_TEST_HOOK_URL"\n'
    )
    assert main(["validate", "--config", str(spiky)]) == 0
    logging.getLogger("alerter.test").error("echo body=%s", f"token {secret}\n")
    err = capsys.readouterr().err
    assert secret not in err and "***" in err


def test_status_hides_a_secret_stored_in_a_poll_error(spiky, capsys, monkeypatch):
    from alerter.store.sqlite import SqliteStore

    secret = "dop_v1_stored-secret"
    monkeypatch.setenv("OPS_TEST_HOOK_URL", secret)
    spiky.write_text(
        spiky.read_text() + '\n[notifiers.hook]\ntype = "webhook"\nurl_env = "OPS_TEST_HOOK_URL"\n'
    )
    store = SqliteStore(str(spiky.parent / "state.db"))
    store.record_poll("bench", T0, ok=False, error=f"401 for Bearer {secret}", points=0, errors=1)
    store.close()
    for args in (["status"], ["status", "--json"]):
        assert main([*args, "--config", str(spiky)]) == 0
        out = capsys.readouterr().out
        assert secret not in out and "***" in out


# -- dry run, test-notify, config show, progress -------------------------------------------
def test_dry_run_out_writes_messages_and_charts_then_says_nothing_to_send(tmp_path, capsys):
    write_csv_series(tmp_path / "data" / "a.csv", T0, 24 * 9, {"s1": 10.0}, spikes={("s1", 200): 6})
    cfg = csv_config(tmp_path, rules=SPIKE_RULE)
    out = tmp_path / "dry"
    assert main(["run", "--once", "--dry-run", "--out", str(out), "--config", str(cfg)]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert any(n.endswith(".jsonl") for n in names)
    pngs = [out / n for n in names if n.endswith(".png")]
    assert pngs and pngs[0].read_bytes().startswith(b"\x89PNG")
    assert "nothing to send" not in capsys.readouterr().out
    assert main(["run", "--once", "--config", str(cfg)]) == 0  # the real run
    capsys.readouterr()
    assert main(["run", "--once", "--dry-run", "--config", str(cfg)]) == 0
    assert "nothing to send" in capsys.readouterr().out


def test_test_notify_sends_a_marked_sample(spiky, capsys):
    assert main(["test-notify", "out", "--config", str(spiky)]) == 0
    assert "test notification sent through out (file)" in capsys.readouterr().out
    (line,) = (spiky.parent / "alerts.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert record["rule"] == "alerter-test-notification"
    assert record["group"] == {"test": "sample incident - no action needed"}
    assert record["severity"] == "info" and record["incident"] == 0


def test_config_show_is_the_effective_config_with_secrets_masked(spiky, capsys, monkeypatch):
    monkeypatch.setenv("ALERTER_SOURCES__BENCH__LOOKBACK", "5d")
    spiky.write_text(
        spiky.read_text().replace('state = "state.db"', 'state = "sqlite:///state.db"')
    )
    assert main(["config", "show", "--json", "--config", str(spiky)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sources"]["bench"]["lookback"] == "5d"
    assert data["rules_loaded"] == ["spike"]
    assert main(["config", "show", "--config", str(spiky)]) == 0
    text = capsys.readouterr().out
    assert "[sources.bench]" in text and 'lookback = "5d"' in text


def test_progress_is_drawn_only_on_a_terminal(tmp_path, capsys, monkeypatch):
    from alerter import progress

    write_csv_series(tmp_path / "data" / "a.csv", T0, 24 * 4, {"s1": 10.0})
    cfg = csv_config(tmp_path, rules=SPIKE_RULE)
    assert main(["run", "--once", "--config", str(cfg)]) == 0  # captured: not a terminal
    assert "backfill:" not in capsys.readouterr().err
    (tmp_path / "state.db").unlink()
    monkeypatch.setattr(progress, "interactive", lambda: True)  # as if on a terminal
    assert main(["run", "--once", "--config", str(cfg)]) == 0
    err = capsys.readouterr().err
    assert "backfill: bench: backfill" in err and "1/1" in err
    assert main(["run", "--once", "--config", str(cfg)]) == 0  # backfilled: no bar
    assert "backfill:" not in capsys.readouterr().err


# -- issue 11 #5: an API error body that echoes the token ------------------------------------
class _EchoingApi:
    """A loopback HTTP server answering every request 400 with a JSON body that echoes the
    bearer token it was sent (as some APIs put it into ``message`` / ``request_id``)."""

    def __init__(self) -> None:
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                body = json.dumps({"message": f"invalid token {token}", "request_id": token})
                data = body.encode()
                self.send_response(400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _EchoingApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_run_once_redacts_a_token_echoed_in_an_error_body(tmp_path, capfd, monkeypatch):
    token = "mtr-echoed-secret-7788"
    monkeypatch.setenv("OPS_METRONOME_TOKEN", token)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "r.toml").write_text(
        '[[rule]]\nname = "m"\nsource = "m"\n[rule.detector]\ntype = "change"\npct = 100\n'
    )
    with _EchoingApi() as api:
        cfg = tmp_path / "config.toml"
        cfg.write_text(
            '[alerter]\nstate = "state.db"\n[alerter.http]\nenabled = false\n'
            f'[sources.m]\ntype = "metronome"\nbase_url = "{api.url}"\n'
            'token_env = "OPS_METRONOME_TOKEN"\nbackfill = "2d"\n'
            '[notifiers.out]\ntype = "file"\npath = "alerts.jsonl"\n'
        )
        assert main(["run", "--once", "--config", str(cfg)]) == 1
        assert main(["status", "--json", "--config", str(cfg)]) == 0
    captured = capfd.readouterr()
    assert "poll_failed" in captured.err
    assert token not in captured.err and token not in captured.out
    assert "***" in captured.err  # the body was logged, redacted
