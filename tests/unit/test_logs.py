"""Log lines as people and scripts read them; redaction that survives reloads."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path

import pytest

from alerter.app import App
from alerter.clock import FakeClock
from alerter.config import load_config
from alerter.daemon import Daemon
from alerter.domain import Reason
from alerter.logs import JsonFormatter, RedactFilter, TextFormatter, configure, fields
from tests.conftest import T0
from tests.helpers import SPIKE_RULE, csv_config, write_csv_series


def record(msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("alerter.x", logging.INFO, __file__, 1, msg, args, None)


def test_fields_come_from_the_template_not_the_rendered_text() -> None:
    rec = record(
        "incident_event rule=%s incident=%d reason=%s group=%s seconds=%.3f",
        "spike",
        7,
        Reason.FIRST,
        {"customer_name": "Acme Inc", "region": "nyc1"},
        1.23456,
    )
    event, data = fields(rec)
    assert event == "incident_event"
    assert data == {
        "rule": "spike",
        "incident": 7,
        "reason": "first",
        "group": "customer_name=Acme Inc,region=nyc1",
        "seconds": 1.235,
    }
    line = TextFormatter().format(rec)
    assert line.endswith(
        "INFO incident_event rule=spike incident=7 reason=first "
        'group="customer_name=Acme Inc,region=nyc1" seconds=1.235'
    )
    out = json.loads(JsonFormatter().format(rec))
    assert out["event"] == "incident_event" and out["incident"] == 7 and out["reason"] == "first"


def test_pre_rendered_parts_and_literals_become_fields() -> None:
    _, data = fields(record("email.sent notifier=%s %s reason=grace_expired", "ops", "incident=4"))
    assert data == {"notifier": "ops", "incident": "4", "reason": "grace_expired"}


def test_prose_from_a_library_stays_one_message_field() -> None:
    rec = record("Run time of job %s was missed by %s", "poll sample", "0:00:02")
    assert fields(rec) == ("log", {"message": "Run time of job poll sample was missed by 0:00:02"})
    assert (
        TextFormatter()
        .format(rec)
        .endswith('INFO log message="Run time of job poll sample was missed by 0:00:02"')
    )


def test_a_secret_is_redacted_however_a_library_quotes_it() -> None:
    token = "tok-123456\n"  # a file-mounted secret with its newline
    redactor = RedactFilter([token])
    for shown in (
        f"Illegal header value b'Bearer {token!r}'",
        "Illegal header value b'Bearer tok-123456\\n'",
        f"body echoed {token.strip()} back",
        "535 auth failed for dG9rLTEyMzQ1Ng==",  # base64 of the stripped token
    ):
        rec = record("http_error source=%s error=%s", "m", ValueError(shown))
        assert redactor.filter(rec)
        assert "tok-123456" not in TextFormatter().format(rec)


def test_configure_rejects_a_bad_level_and_keeps_the_redaction() -> None:
    configure("INFO", "text", secrets=["hunter2-secret"])
    before = logging.getLogger("alerter").handlers[:]
    with pytest.raises(ValueError, match="unknown log level"):
        configure("verbose", "json")
    assert logging.getLogger("alerter").handlers == before
    configure("DEBUG", "json")  # secrets kept when not given again
    (handler,) = logging.getLogger("alerter").handlers
    (redactor,) = [f for f in handler.filters if isinstance(f, RedactFilter)]
    assert "hunter2-secret" in redactor.secrets


def test_sighup_with_an_invalid_log_level_is_rejected_and_logged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_csv_series(tmp_path / "data" / "a.csv", T0, 24, {"s1": 100.0})
    cfg = csv_config(
        tmp_path,
        rules=SPIKE_RULE,
        extra='[notifiers.hook]\ntype = "webhook"\nurl_env = "HOOK_URL"\n',
    )
    secret = "https://hooks.example/very-secret-path"
    app = App(load_config(cfg, env={}), clock=FakeClock(T0), env={"HOOK_URL": secret})
    daemon = Daemon(app, serve_http=False)
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)  # where configure() points every handler

    async def scenario() -> None:
        configure("INFO", "text", secrets=[secret])
        cfg.write_text(
            cfg.read_text().replace('settle = "1h"', 'settle = "1h"\nlog_level = "verbose"')
        )
        assert await daemon.reload() is False
        logging.getLogger("alerter.test").error("later error=%s", f"posting to {secret} failed")
        cfg.write_text(cfg.read_text().replace('log_level = "verbose"', 'log_level = "DEBUG"'))
        assert await daemon.reload() is True
        logging.getLogger("alerter.test").error("after error=%s", f"posting to {secret} failed")

    try:
        asyncio.run(scenario())
    finally:
        daemon.metrics.close()
        asyncio.run(app.aclose())
    lines = stream.getvalue().splitlines()
    rejected = [line for line in lines if "reload_rejected" in line]
    assert len(rejected) == 1 and "alerter.log_level: unknown log level 'verbose'" in rejected[0]
    assert any("reload_applied" in line for line in lines)
    assert app.config.alerter.log_level == "DEBUG"
    assert secret not in stream.getvalue()
    assert sum("***" in line for line in lines if "error=" in line) == 2
