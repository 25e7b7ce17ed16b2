from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from alerter.notify.base import Delivered, Permanent, RetryAfter
from alerter.notify.webhook import WebhookConfig, WebhookNotifier, signature
from alerter.payload import from_record
from tests.fakes.notifications import HOSTILE, context, sample
from tests.fakes.webhook import SECRET_PATH, WebhookReceiver

SECRET = "whsec-SECRET-signing-key"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def notifier(receiver: WebhookReceiver, **cfg: Any) -> WebhookNotifier:
    config = WebhookConfig(url_env="HOOK_URL", secret_env="HOOK_SECRET", **cfg)
    return WebhookNotifier(
        "hook", config, context({"HOOK_URL": receiver.url, "HOOK_SECRET": SECRET})
    )


def test_posts_signed_record(receiver: WebhookReceiver) -> None:
    result = notifier(receiver).send(sample(), None)

    assert result == Delivered(None)
    (post,) = receiver.posts
    expected = "sha256=" + hmac.new(SECRET.encode(), post.body, hashlib.sha256).hexdigest()
    assert post.headers["X-Alerter-Signature"] == expected
    assert post.headers["X-Alerter-Event"] == "first"
    record = json.loads(post.body)
    assert record["incident"] == 42
    assert record["delta"] == "351.30"
    assert "history" not in record
    assert from_record(record).group == sample().group


def test_prior_ref_is_kept(receiver: WebhookReceiver) -> None:
    assert notifier(receiver).send(sample(), "earlier") == Delivered("earlier")


def test_history_can_be_included(receiver: WebhookReceiver) -> None:
    notifier(receiver, history=True).send(sample(), None)
    assert len(json.loads(receiver.posts[0].body)["history"]) == 7 * 24


def test_hostile_text_arrives_as_exact_data(receiver: WebhookReceiver) -> None:
    notifier(receiver).send(sample(HOSTILE), None)
    record = json.loads(receiver.posts[0].body)
    assert record["group"] == {"customer_name": HOSTILE}


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (429, 42, RetryAfter(42.0, "webhook hook: HTTP 429, retry after 42s")),
        (429, None, RetryAfter(30.0, "webhook hook: HTTP 429, retry after 30s")),
        (500, None, RetryAfter(60.0, "webhook hook: HTTP 500")),
        (503, 5, RetryAfter(5.0, "webhook hook: HTTP 503")),
        (400, None, Permanent("webhook hook: rejected with HTTP 400")),
        (401, None, Permanent("webhook hook: rejected with HTTP 401")),
        (404, None, Permanent("webhook hook: rejected with HTTP 404")),
    ],
)
def test_failures_map_to_results(
    receiver: WebhookReceiver,
    status: int,
    retry_after: int | None,
    expected: object,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver.fail(status, retry_after=retry_after)
    assert notifier(receiver).send(sample(), None) == expected
    for secret in (SECRET, SECRET_PATH):
        assert all(secret not in r.getMessage() for r in caplog.records)


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = WebhookConfig(url=f"http://127.0.0.1:{port}/hook")
    result = WebhookNotifier("hook", config, context()).send(sample(), None)
    assert result == RetryAfter(30.0, "webhook hook: POST failed (ConnectError)")


def test_missing_env_is_permanent(receiver: WebhookReceiver) -> None:
    n = notifier(receiver)
    n.context = context({"HOOK_URL": receiver.url})
    assert n.send(sample(), None) == Permanent("webhook hook: env var HOOK_SECRET is not set")
    assert receiver.posts == []


def test_render_is_the_body() -> None:
    n = WebhookNotifier("hook", WebhookConfig(url="http://x/"), context())
    assert json.loads(n.render(sample())) == json.loads(n.body(sample()))


def test_signature_format() -> None:
    assert signature("k", b"{}") == ("sha256=" + hmac.new(b"k", b"{}", hashlib.sha256).hexdigest())


@pytest.mark.parametrize(
    "config", [{}, {"url": "http://a/", "url_env": "B"}, {"url": "http://a/", "x": 1}]
)
def test_invalid_config(config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        WebhookConfig.model_validate(config)


def test_a_burst_is_one_signed_post(receiver: WebhookReceiver) -> None:
    import hashlib
    import hmac
    import json
    from dataclasses import replace

    hook = notifier(receiver)
    msgs = [replace(sample(f"Customer {i}"), incident_id=i) for i in (4, 5, 6)]
    assert hook.send_many(msgs) == Delivered(None)
    (post,) = receiver.posts
    body = json.loads(post.body)
    assert body["grouped"] is True and body["count"] == 3
    assert [n["incident"] for n in body["notifications"]] == [4, 5, 6]
    expected = "sha256=" + hmac.new(SECRET.encode(), post.body, hashlib.sha256).hexdigest()
    assert post.headers["X-Alerter-Signature"] == expected
    assert post.headers["X-Alerter-Incident"] == "4,5,6"
