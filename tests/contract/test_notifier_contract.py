"""The Notifier contract, run against every notifier in ``NOTIFIERS``.

Each notifier gets a harness: its real delivery target on loopback (Slack fake, aiosmtpd,
HTTP receiver, a stream, a file), a way to read back what arrived, and for remote
targets a way to script a rate limit, a server error and a permanent rejection.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from alerter.domain import Notification
from alerter.notify import NOTIFIERS
from alerter.notify.base import Delivered, Notifier, NotifierContext, Permanent, RetryAfter
from tests.fakes.notifications import HOSTILE, context, sample
from tests.fakes.pagerduty import ROUTING_KEY, PagerDutyFake
from tests.fakes.slack import TOKEN, SlackFake
from tests.fakes.smtp import PASSWORD, USER, SmtpFake
from tests.fakes.teams import SECRET_PATH as TEAMS_PATH
from tests.fakes.teams import TeamsFake
from tests.fakes.webhook import SECRET_PATH, WebhookReceiver

HOOK_SECRET = "whsec-SECRET-contract"


@dataclass
class Harness:
    notifier: Notifier
    arrived: Callable[[], str]
    inert: Callable[[str], None]
    secrets: list[str] = field(default_factory=list)
    rate_limit: Callable[[], None] | None = None
    server_error: Callable[[], None] | None = None
    reject: Callable[[], None] | None = None
    idempotency_keys: Callable[[], list[str]] | None = None


def make(
    type_: str, name: str, raw: dict[str, Any], ctx: NotifierContext, **extra: Any
) -> Notifier:
    """Construct a registered notifier the way the app does: ``cls(name, config, context)``."""
    cls: Any = NOTIFIERS[type_]
    config = cls.Config.model_validate({"type": type_, **raw})
    notifier: Notifier = cls(name, config, ctx, **extra)
    return notifier


# -- inertness per medium -------------------------------------------------------------
def inert_in_slack(body: str) -> None:
    assert "<!channel>" not in body
    assert "<https://evil" not in body
    assert "&lt;!channel&gt;" in body


def inert_in_email(raw: str) -> None:
    head, _, _ = raw.partition("\n\n")
    subject = [line for line in head.splitlines() if line.startswith("Subject:")]
    assert len(subject) == 1
    html = raw[raw.index("<!DOCTYPE html>") :]
    assert "<!channel>" not in html
    assert "<https://evil" not in html
    assert "&lt;!channel&gt;" in html


def inert_as_json(body: str) -> None:
    for line in body.splitlines():
        record = json.loads(line)
        # a grouped webhook body carries its records under "notifications"
        for one in record.get("notifications", [record]):
            assert one["group"] == {"customer_name": HOSTILE}


def _card_texts(element: Any) -> Iterator[tuple[str, str]]:
    """``(kind, text)`` of every text in a card: markdown-ish (TextBlock, Fact) or plain."""
    if isinstance(element, dict):
        kind = element.get("type")
        if kind == "TextBlock":
            yield "markdown", element["text"]
        elif kind == "TextRun":
            yield "plain", element["text"]
        if "title" in element and "value" in element:
            yield "markdown", element["title"]
            yield "markdown", element["value"]
        for value in element.values():
            yield from _card_texts(value)
    elif isinstance(element, list):
        for item in element:
            yield from _card_texts(item)


def inert_in_teams(body: str) -> None:
    texts = [t for line in body.splitlines() for t in _card_texts(json.loads(line))]
    assert any(kind == "plain" and HOSTILE in text for kind, text in texts)
    for kind, text in texts:
        if kind == "markdown":  # billing text never reaches markdown-rendered fields
            assert "evil" not in text
            assert "*x*" not in text


def inert_in_pagerduty(body: str) -> None:
    for line in body.splitlines():
        event = json.loads(line)
        if event["event_action"] == "trigger":  # PagerDuty shows these as plain text
            assert event["payload"]["custom_details"]["group"] == {"customer_name": HOSTILE}
            assert len(event["payload"]["summary"]) <= 1024


def inert_on_terminal(text: str) -> None:
    assert HOSTILE in text
    assert all(ch.isprintable() or ch == "\n" for ch in text)


# -- harnesses ------------------------------------------------------------------------
@contextlib.contextmanager
def console_harness(tmp_path: Path) -> Iterator[Harness]:
    stream = io.StringIO()
    notifier = make("console", "stdout", {}, context(), stream=stream)
    yield Harness(notifier, stream.getvalue, inert_on_terminal)


@contextlib.contextmanager
def file_harness(tmp_path: Path) -> Iterator[Harness]:
    path = tmp_path / "out" / "alerts.jsonl"
    notifier = make("file", "log", {"path": str(path)}, context(config_dir=tmp_path))
    yield Harness(notifier, lambda: path.read_text(encoding="utf-8"), inert_as_json)


@contextlib.contextmanager
def slack_harness(tmp_path: Path) -> Iterator[Harness]:
    with SlackFake() as fake:
        cfg = {"token_env": "SLACK_TOKEN", "channel": "#alerts", "base_url": fake.base_url}
        notifier = make("slack", "team", cfg, context({"SLACK_TOKEN": TOKEN}))
        yield Harness(
            notifier,
            lambda: "\n".join(c.body.decode() for c in fake.calls if c.method.startswith("chat.")),
            inert_in_slack,
            secrets=[TOKEN],
            rate_limit=lambda: fake.fail("chat.postMessage", "ratelimited", retry_after=30),
            server_error=lambda: fake.fail("chat.postMessage", "500"),
            reject=lambda: fake.fail("chat.postMessage", "invalid_auth"),
        )


@contextlib.contextmanager
def email_harness(tmp_path: Path) -> Iterator[Harness]:
    with SmtpFake(require_auth=True) as smtp:
        cfg = {
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": "none",
            "username": USER,
            "password_env": "SMTP_PASSWORD",
            "from": "alerter@example.com",
            "to": ["ops@example.com"],
        }
        notifier = make("email", "ops", cfg, context({"SMTP_PASSWORD": PASSWORD}))
        yield Harness(
            notifier,
            lambda: "\n".join(m.message.as_string() for m in smtp.messages),
            inert_in_email,
            secrets=[PASSWORD],
            rate_limit=lambda: smtp.fail("MAIL", "421 4.7.0 Too many messages, slow down"),
            server_error=lambda: smtp.fail("DATA", "451 4.3.0 Local error in processing"),
            reject=lambda: smtp.fail("RCPT", "550 5.1.1 No such user"),
        )


@contextlib.contextmanager
def webhook_harness(tmp_path: Path) -> Iterator[Harness]:
    with WebhookReceiver() as receiver:
        cfg = {"url_env": "HOOK_URL", "secret_env": "HOOK_SECRET"}
        env = {"HOOK_URL": receiver.url, "HOOK_SECRET": HOOK_SECRET}
        notifier = make("webhook", "hook", cfg, context(env))
        yield Harness(
            notifier,
            lambda: "\n".join(p.body.decode() for p in receiver.posts),
            inert_as_json,
            secrets=[HOOK_SECRET, SECRET_PATH],
            rate_limit=lambda: receiver.fail(429, retry_after=30),
            server_error=lambda: receiver.fail(502),
            reject=lambda: receiver.fail(403),
            idempotency_keys=lambda: [p.headers["Idempotency-Key"] for p in receiver.posts],
        )


@contextlib.contextmanager
def teams_harness(tmp_path: Path) -> Iterator[Harness]:
    with TeamsFake() as fake:
        notifier = make(
            "teams", "msteams", {"url_env": "TEAMS_URL"}, context({"TEAMS_URL": fake.url})
        )
        yield Harness(
            notifier,
            lambda: "\n".join(r.body.decode() for r in fake.received),
            inert_in_teams,
            secrets=[TEAMS_PATH],
            rate_limit=lambda: fake.fail(429, retry_after=30),
            server_error=lambda: fake.fail(502),
            reject=lambda: fake.fail(403),
            idempotency_keys=lambda: [r.headers["Idempotency-Key"] for r in fake.received],
        )


@contextlib.contextmanager
def pagerduty_harness(tmp_path: Path) -> Iterator[Harness]:
    with PagerDutyFake() as fake:
        cfg = {"routing_key_env": "PD_KEY", "base_url": fake.url}
        notifier = make("pagerduty", "oncall", cfg, context({"PD_KEY": ROUTING_KEY}))
        yield Harness(
            notifier,
            lambda: "\n".join(r.body.decode() for r in fake.received),
            inert_in_pagerduty,
            secrets=[ROUTING_KEY],
            rate_limit=lambda: fake.fail(429, retry_after=30),
            server_error=lambda: fake.fail(500),
            reject=lambda: fake.fail(400),
            idempotency_keys=lambda: [r.headers["Idempotency-Key"] for r in fake.received],
        )


HARNESSES: dict[str, Callable[[Path], contextlib.AbstractContextManager[Harness]]] = {
    "console": console_harness,
    "file": file_harness,
    "slack": slack_harness,
    "email": email_harness,
    "webhook": webhook_harness,
    "teams": teams_harness,
    "pagerduty": pagerduty_harness,
}
REMOTE = ["slack", "email", "webhook", "teams", "pagerduty"]
BATCH = sorted(name for name, cls in NOTIFIERS.items() if hasattr(cls, "send_many"))


@pytest.fixture(params=sorted(NOTIFIERS))
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    with HARNESSES[request.param](tmp_path) as h:
        yield h


@pytest.fixture(params=REMOTE)
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    with HARNESSES[request.param](tmp_path) as h:
        yield h


@pytest.fixture(params=BATCH)
def batch(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    with HARNESSES[request.param](tmp_path) as h:
        yield h


def test_every_registered_notifier_has_a_harness() -> None:
    assert set(NOTIFIERS) == set(HARNESSES)
    assert all(NOTIFIERS[name].type == name for name in NOTIFIERS)


def test_delivers_and_renders(harness: Harness) -> None:
    result = harness.notifier.send(sample(), None)
    assert isinstance(result, Delivered)
    assert "customer-hourly-spike" in harness.arrived()
    assert "customer-hourly-spike" in harness.notifier.render(sample())


def test_hostile_text_arrives_inert(harness: Harness) -> None:
    result = harness.notifier.send(sample(HOSTILE), None)
    assert isinstance(result, Delivered)
    harness.inert(harness.arrived())


def test_rate_limit_is_retry_after(remote: Harness) -> None:
    assert remote.rate_limit is not None
    remote.rate_limit()
    result = remote.notifier.send(sample(), None)
    assert isinstance(result, RetryAfter)
    assert result.seconds > 0


def test_server_error_is_retry_after(remote: Harness) -> None:
    assert remote.server_error is not None
    remote.server_error()
    assert isinstance(remote.notifier.send(sample(), None), RetryAfter)


def test_rejection_is_permanent(remote: Harness) -> None:
    assert remote.reject is not None
    remote.reject()
    assert isinstance(remote.notifier.send(sample(), None), Permanent)


def test_no_secret_in_any_result_or_log_record(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    reasons = []
    for script in (harness.rate_limit, harness.server_error, harness.reject, None):
        if script is not None:
            script()
        result = harness.notifier.send(sample(), None)
        reasons.append(repr(result))
    reasons.append(harness.notifier.render(sample()))
    assert reasons
    for secret in harness.secrets:
        assert all(secret not in r for r in reasons)
        assert all(secret not in record.getMessage() for record in caplog.records)


def test_grouped_send_delivers_inert_text_and_maps_failures(batch: Harness) -> None:
    send_many: Callable[[list[Notification]], object] = batch.notifier.send_many  # type: ignore[attr-defined]
    msgs = [replace(sample(HOSTILE), incident_id=i) for i in (1, 2, 3)]
    assert isinstance(send_many(msgs), Delivered)
    batch.inert(batch.arrived())
    assert batch.server_error is not None
    assert batch.reject is not None
    batch.server_error()
    assert isinstance(send_many(msgs), RetryAfter)
    batch.reject()
    assert isinstance(send_many(msgs), Permanent)


@pytest.mark.parametrize("kind", ["webhook", "teams", "pagerduty"])
def test_http_notifiers_send_an_idempotency_key_stable_across_retries(
    kind: str, tmp_path: Path
) -> None:
    with HARNESSES[kind](tmp_path) as h:
        assert h.server_error is not None
        h.server_error()
        assert isinstance(h.notifier.send(sample(), None), RetryAfter)
        assert isinstance(h.notifier.send(sample(), None), Delivered)  # the retry
        assert isinstance(h.notifier.send(replace(sample(), incident_id=7), None), Delivered)
        assert h.idempotency_keys is not None
        keys = h.idempotency_keys()
    assert len(keys) == 3
    assert keys[0] == keys[1] != keys[2]
