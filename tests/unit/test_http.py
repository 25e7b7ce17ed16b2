"""JsonHttpClient against a scripted loopback server: retries, waits, errors, redaction."""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from alerter.clock import FakeClock
from alerter.errors import BadResponse, RateLimited, Unavailable
from alerter.sources.http import (
    AuthRejected,
    HttpStatusError,
    JsonHttpClient,
    RetryPolicy,
    parse_retry_after,
)

NOW = datetime(2025, 3, 12, 6, 0, tzinfo=UTC)
TOKEN = "sk-live-very-secret-0123456789"

Reply = tuple[int, dict[str, str], bytes]


class Scripted:
    """A loopback server answering from a script (then 200 ``{"ok": true}``)."""

    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.seen: list[tuple[str, str]] = []  # (path with query, authorization)
        self.lock = threading.Lock()
        self.barrier: threading.Barrier | None = None
        self.inflight = 0
        self.max_inflight = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                with outer.lock:
                    outer.inflight += 1
                    outer.max_inflight = max(outer.max_inflight, outer.inflight)
                if outer.barrier is not None:
                    outer.barrier.wait()  # hold until `parties` requests are in flight
                with outer.lock:
                    outer.inflight -= 1
                    outer.seen.append((self.path, self.headers.get("Authorization", "")))
                    status, headers, body = (
                        outer.script.pop(0) if outer.script else (200, {}, b'{"ok": true}')
                    )
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> Scripted:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server() -> Iterator[Scripted]:
    with Scripted() as s:
        yield s


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


def call(
    server: Scripted,
    clock: FakeClock,
    path: str = "/v1/things",
    params: dict[str, Any] | None = None,
    **kwargs: Any,
) -> tuple[object, httpx.Headers]:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=3))

    async def go() -> tuple[object, httpx.Headers]:
        async with JsonHttpClient(
            source="billing",
            base_url=server.url,
            token=SecretStr(TOKEN),
            token_env="BILLING_TOKEN",
            clock=clock,
            **kwargs,
        ) as client:
            return await client.get_json(path, params)

    return asyncio.run(go())


def json_reply(status: int, body: object, **headers: str) -> Reply:
    return status, headers, json.dumps(body).encode()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "-3"}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": format_datetime(NOW + timedelta(seconds=30), usegmt=True)}, 30.0),
        ({"Retry-After": format_datetime(NOW - timedelta(seconds=30), usegmt=True)}, 0.0),
        ({"retry-after-ms": "250", "Retry-After": "9"}, 0.25),
        ({"retry-after-ms": "x", "Retry-After": "9"}, 9.0),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(httpx.Headers(headers), NOW) == expected


def test_json_with_bearer_token_and_decimal_numbers(server: Scripted, clock: FakeClock) -> None:
    server.script.append(json_reply(200, {"total": 1025.2, "n": 3}))
    body, headers = call(server, clock, params={"a": 1, "b": True, "c": None, "d": "x y"})
    assert body == {"total": Decimal("1025.2"), "n": 3}
    assert headers["content-length"]
    path, auth = server.seen[0]
    assert path == "/v1/things?a=1&b=true&d=x+y"
    assert auth == f"Bearer {TOKEN}"
    assert clock.slept == []


def test_429_waits_as_told_and_pauses_then_succeeds(server: Scripted, clock: FakeClock) -> None:
    server.script.append(json_reply(429, {"message": "slow down"}, **{"Retry-After": "4"}))
    body, _ = call(server, clock)
    assert body == {"ok": True}
    assert clock.slept == [4.0]
    assert len(server.seen) == 2


def test_429_without_header_backs_off_with_jitter(server: Scripted, clock: FakeClock) -> None:
    server.script += [json_reply(429, {"message": "x"}), json_reply(429, {"message": "x"})]
    call(server, clock, rng=random.Random(20261130))
    # exactly one wait per 429 (no extra pause), each the backoff less up to 25 % jitter
    assert len(clock.slept) == 2
    assert 0.375 <= clock.slept[0] <= 0.5
    assert 0.75 <= clock.slept[1] <= 1.0


def test_429_too_long_gives_up_at_once(server: Scripted, clock: FakeClock) -> None:
    server.script.append(json_reply(429, {"message": "x"}, **{"Retry-After": "3600"}))
    with pytest.raises(RateLimited) as info:
        call(server, clock)
    assert info.value.retry_after == 3600.0
    assert "billing" in str(info.value)
    assert len(server.seen) == 1


def test_429_every_time_is_rate_limited_after_max_attempts(
    server: Scripted, clock: FakeClock
) -> None:
    server.script += [json_reply(429, {"message": "x"}, **{"Retry-After": "1"})] * 3
    with pytest.raises(RateLimited, match="after 3 attempts"):
        call(server, clock)
    assert len(server.seen) == 3


def test_5xx_retried_then_unavailable_naming_endpoint(server: Scripted, clock: FakeClock) -> None:
    server.script += [(503, {}, b"<html>down</html>")] * 3
    with pytest.raises(Unavailable, match=r"GET /v1/things\?page=2 failed after 3 attempts"):
        call(server, clock, params={"page": 2})
    assert len(clock.slept) == 2


def test_hook_sees_every_response_and_may_choose_the_wait(
    server: Scripted, clock: FakeClock
) -> None:
    server.script.append(json_reply(429, {"message": "x"}, **{"ratelimit-reset": "60"}))
    seen: list[int] = []

    def hook(response: httpx.Response) -> float | None:
        seen.append(response.status_code)
        return 12.0 if response.status_code == 429 else None

    call(server, clock, on_response=hook)
    assert seen == [429, 200]
    assert clock.slept == [12.0]


def test_retry_hook_is_told_each_retried_attempt_redacted(
    server: Scripted, clock: FakeClock
) -> None:
    server.script += [
        (503, {}, b"down"),
        json_reply(429, {"message": TOKEN}, **{"Retry-After": "1"}),
    ]
    retries: list[tuple[str, str]] = []
    call(server, clock, on_retry=lambda source, reason: retries.append((source, reason)))
    assert [source for source, _r in retries] == ["billing", "billing"]
    assert retries[0][1].startswith("HTTP 503")
    assert retries[1][1].startswith("HTTP 429")
    assert all(TOKEN not in reason for _s, reason in retries)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_refused_names_env_var_never_token(
    server: Scripted, clock: FakeClock, status: int
) -> None:
    server.script.append(json_reply(status, {"message": f"bad token {TOKEN}"}))
    with pytest.raises(AuthRejected) as info:
        call(server, clock)
    assert isinstance(info.value, Unavailable)
    assert info.value.status == status
    assert "BILLING_TOKEN" in str(info.value)
    assert TOKEN not in str(info.value)
    assert len(server.seen) == 1


def test_other_4xx_carries_status_and_api_message_redacted(
    server: Scripted, clock: FakeClock
) -> None:
    server.script.append(json_reply(400, {"message": f"limit must be 1..100 ({TOKEN})"}))
    with pytest.raises(HttpStatusError) as info:
        call(server, clock)
    assert info.value.status == 400
    assert "limit must be 1..100" in str(info.value)
    assert TOKEN not in str(info.value)
    assert "***" in str(info.value)


def test_body_not_json_is_bad_response_naming_endpoint(server: Scripted, clock: FakeClock) -> None:
    server.script.append((200, {}, b'{"data": [1, 2'))
    with pytest.raises(BadResponse, match=r"GET /v1/things: body is not valid JSON"):
        call(server, clock)


def test_connection_refused_is_retried_then_unavailable(clock: FakeClock) -> None:
    with Scripted() as s:
        url = s.url

    async def go() -> None:
        async with JsonHttpClient(
            source="billing",
            base_url=url,
            token=SecretStr(TOKEN),
            token_env="BILLING_TOKEN",
            clock=clock,
            retry=RetryPolicy(max_attempts=2),
        ) as client:
            await client.get_json("/v1/things")

    with pytest.raises(Unavailable, match="connection error"):
        asyncio.run(go())
    assert len(clock.slept) == 1


def test_concurrency_is_bounded(server: Scripted, clock: FakeClock) -> None:
    server.barrier = threading.Barrier(3, timeout=10)

    async def go() -> int:
        async with JsonHttpClient(
            source="billing",
            base_url=server.url,
            token=SecretStr(TOKEN),
            token_env="BILLING_TOKEN",
            clock=clock,
            concurrency=3,
        ) as client:
            await asyncio.gather(*(client.get_json(f"/v1/n/{i}") for i in range(21)))
            return client.requests

    assert asyncio.run(go()) == 21
    assert len(server.seen) == 21
    assert server.max_inflight == 3  # three at a time reached the server, never more


def test_repr_and_redact(clock: FakeClock) -> None:
    client = JsonHttpClient(
        source="billing",
        base_url="http://127.0.0.1:9",
        token=SecretStr(TOKEN),
        token_env="BILLING_TOKEN",
        clock=clock,
    )
    assert TOKEN not in repr(client)
    assert client.redact(f"x {TOKEN} y") == "x *** y"
    with pytest.raises(ValueError, match="concurrency"):
        JsonHttpClient(
            source="b", base_url="http://x", token=None, token_env="T", clock=clock, concurrency=0
        )


def test_requests_waiting_for_a_slot_when_the_token_is_refused_are_not_sent(
    server: Scripted, clock: FakeClock
) -> None:
    server.script.append(json_reply(401, {"message": "revoked"}))

    async def go() -> tuple[list[object], int]:
        async with JsonHttpClient(
            source="billing",
            base_url=server.url,
            token=SecretStr(TOKEN),
            token_env="BILLING_TOKEN",
            clock=clock,
            concurrency=1,
        ) as client:
            results: list[object] = list(
                await asyncio.gather(
                    *(client.get_json(f"/v1/n/{i}") for i in range(5)), return_exceptions=True
                )
            )
            # a request made after the refusal is sent again (the token may be fixed)
            await client.get_json("/v1/after")
            return results, client.requests

    results, sent = asyncio.run(go())
    assert all(isinstance(r, AuthRejected) and r.status == 401 for r in results)
    assert [path for path, _ in server.seen] == ["/v1/n/0", "/v1/after"]
    assert sent == 2
    assert all(TOKEN not in str(r) and "BILLING_TOKEN" in str(r) for r in results)


def test_typed_decoder_answer_is_returned_and_none_falls_back_to_plain_json(
    server: Scripted, clock: FakeClock
) -> None:
    server.script.append((200, {}, b'{"n": 1}'))
    server.script.append((200, {}, b'{"m": 2.50}'))
    server.script.append((200, {}, b"not json"))
    seen: list[bytes] = []

    def decode(content: bytes) -> object | None:
        seen.append(content)
        return ("typed", content) if content.startswith(b'{"n"') else None

    async def go() -> list[object]:
        async with JsonHttpClient(
            source="billing",
            base_url=server.url,
            token=SecretStr(TOKEN),
            token_env="BILLING_TOKEN",
            clock=clock,
        ) as client:
            out: list[object] = []
            for i in range(3):
                try:
                    out.append((await client.get_json(f"/v1/p/{i}", decode=decode))[0])
                except BadResponse as exc:
                    out.append(str(exc))
            return out

    typed, plain, bad = asyncio.run(go())
    assert typed == ("typed", b'{"n": 1}')
    assert plain == {"m": Decimal("2.50")}
    assert isinstance(bad, str) and "GET /v1/p/2: body is not valid JSON" in bad
    assert seen == [b'{"n": 1}', b'{"m": 2.50}', b"not json"]


def test_gzip_body_is_decoded_once(server: Scripted, clock: FakeClock) -> None:
    # httpx asks for gzip; the body was decoded twice (a DecodingError) before
    body = gzip.compress(b'{"total": 12.345}')
    server.script.append((200, {"Content-Encoding": "gzip", "X-Part": "a"}, body))
    got, headers = call(server, clock)
    assert got == {"total": Decimal("12.345")}
    assert headers["x-part"] == "a"
    assert "content-encoding" not in headers  # what the caller gets is decoded
