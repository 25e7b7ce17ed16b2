from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from alerter.config import load_config
from alerter.errors import ConfigError, RuleFileError
from tests.helpers import SPIKE_RULE, csv_config


def test_example_config_loads():
    config = load_config("config.example.toml")
    assert set(config.sources) == {"sample", "sample-daily"}
    assert config.sources["sample"].lookback == timedelta(days=3)
    assert {r.name for r in config.rules} == {"service-hourly-spike", "service-daily-shift"}


def test_unknown_key_in_source_is_an_error(tmp_path):
    cfg = csv_config(tmp_path, rules=SPIKE_RULE, extra="colour = 'red'\n")
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert "notifiers.out.colour: unknown key" in str(err.value)


def test_bad_duration_names_key(tmp_path):
    cfg = csv_config(tmp_path, rules=SPIKE_RULE)
    cfg.write_text(cfg.read_text().replace('lookback = "2d"', 'lookback = "2 days"'))
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert "sources.bench.lookback" in str(err.value)
    assert "not a duration" in str(err.value)


def test_wrong_source_type_lists_expected_types(tmp_path):
    cfg = csv_config(tmp_path, rules=SPIKE_RULE)
    cfg.write_text(cfg.read_text().replace('type = "csv"', 'type = "cvs"'))
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    message = str(err.value)
    assert "sources.bench" in message
    assert "'csv'" in message and "'focus'" in message


def test_toml_syntax_error_names_file_and_line(tmp_path):
    cfg = csv_config(tmp_path, rules=SPIKE_RULE)
    cfg.write_text(cfg.read_text() + "\n[broken\n")
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    assert str(err.value).startswith(f"{cfg}:")
    assert "TOML syntax" in str(err.value)


def test_environment_overrides_toml(tmp_path, monkeypatch):
    cfg = csv_config(tmp_path, rules=SPIKE_RULE)
    monkeypatch.setenv("ALERTER_ALERTER__SETTLE", "3h")
    monkeypatch.setenv("ALERTER_SOURCES__BENCH__LOOKBACK", "5d")
    config = load_config(cfg)
    assert config.settle == timedelta(hours=3)
    assert config.sources["bench"].lookback == timedelta(days=5)
    assert config.sources["bench"].step == timedelta(hours=1)  # type: ignore[attr-defined]


def test_rules_are_checked_against_sources_and_notifiers(tmp_path):
    rules = SPIKE_RULE.replace('source = "bench"', 'source = "nope"\nnotify = ["pager"]')
    cfg = csv_config(tmp_path, rules=rules)
    with pytest.raises(RuleFileError) as err:
        load_config(cfg)
    text = str(err.value)
    assert "unknown source 'nope' (known: bench)" in text
    assert "unknown notifier 'pager' (known: out)" in text


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "absent.toml")


def test_commented_examples_in_the_example_config_are_valid(tmp_path):
    """Uncommenting every example section gives a valid config over every bundled rule file."""
    import re
    import shutil

    text = Path("config.example.toml").read_text(encoding="utf-8")
    head, tail = text.split("# More sources and notifiers.", 1)
    head += "# More sources and notifiers."
    tail = "\n".join(
        re.sub(r"^# ", "", line) if re.match(r"^# (\[|[a-z_]+ =)", line) else line
        for line in tail.splitlines()
    )
    head = head.replace('rules = ["rules/sample.toml"]', 'rules = ["rules/*.toml"]')
    (tmp_path / "config.toml").write_text(head + tail, encoding="utf-8")
    shutil.copytree("rules", tmp_path / "rules")
    config = load_config(tmp_path / "config.toml")
    assert {"metronome", "digitalocean", "cur"} <= set(config.sources)
    assert {"slack", "finops-mail", "hook"} <= set(config.notifiers)
    assert {r.source for r in config.rules} >= {"metronome", "digitalocean", "sample", "cur"}
