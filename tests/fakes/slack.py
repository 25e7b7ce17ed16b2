"""A loopback Slack Web API (and incoming webhook) fake for slack-sdk clients.

Speaks what slack-sdk sends: ``chat.postMessage`` / ``chat.update`` /
``chat.postEphemeral`` (JSON bodies), ``usergroups.users.list``,
``files.getUploadURLExternal`` + the upload URL + ``files.completeUploadExternal`` (as
``files_upload_v2`` does), and incoming-webhook POSTs. Records every call; scripted
faults answer ``ratelimited`` (429 + Retry-After), 500, or any Slack error code.

Socket Mode: ``apps.connections.open`` (app-level ``xapp-`` token only) returns a
``ws://127.0.0.1`` URL served by the same server (RFC 6455 handshake and framing). A
new socket gets ``hello``; the test sends ``interactive`` envelopes (``press``) and
``disconnect`` envelopes, or drops the socket; the client's acks (``envelope_id``) are
recorded, pings answered with pongs.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import socket
import struct
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.loopback import Loopback

TOKEN = "xoxb-test-0000-SECRET-TOKEN"
APP_TOKEN = "xapp-1-A0TEST-0000-SECRET-APP-TOKEN"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
WAIT = 120.0  # seconds, any wait on the client (generous: a loaded machine)
"""Longest wait (s) for the Socket Mode client's threads (a bound, never a sleep): after a
closed socket slack-sdk reconnects from its monitor, which runs every ping interval (5 s)."""
WEBHOOK_PATH = "/services/T000/B000/SECRETWEBHOOKPATH"
TRICKLE_GAP = 0.2
"""Seconds between two bytes of a trickled answer (each read gets data: no read timeout)."""


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Fault:
    kind: str
    """"ratelimited", "500", "no_ts" (done, answered ``ok`` without ``ts``), "trickle"
    (done, the answer sent one byte every ``TRICKLE_GAP`` s), or a Slack error code."""
    retry_after: int | str = 7


@dataclass
class SlackFake:
    """Use as a context manager; ``base_url`` goes to ``WebClient(base_url=...)``."""

    token: str = TOKEN
    channels: dict[str, str] = field(
        default_factory=lambda: {
            "#alerts": "C0ALERTS",
            "alerts": "C0ALERTS",
            "C0ALERTS": "C0ALERTS",
        }
    )
    calls: list[Call] = field(default_factory=list)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)
    webhook_posts: list[dict[str, Any]] = field(default_factory=list)
    app_token: str = APP_TOKEN
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    acks: dict[str, dict[str, Any]] = field(default_factory=dict)
    ephemerals: list[dict[str, Any]] = field(default_factory=list)
    connections_opened: int = 0
    hung_up: int = 0
    """Trickled answers the client hung up on before their end."""

    def __post_init__(self) -> None:
        self._faults: dict[str, deque[Fault]] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        self._sockets: list[_WebSocket] = []
        self._envelopes = itertools.count(1)
        self._connect_gate = threading.Event()
        self._connect_gate.set()
        self.connect_held = threading.Event()
        """Set while an ``apps.connections.open`` call waits at the closed gate."""
        self._ts = itertools.count(1)
        self._server: Loopback | None = None
        self._stop = threading.Event()

    # control ---------------------------------------------------------------------
    def fail(self, method: str, kind: str, times: int = 1, retry_after: int | str = 7) -> None:
        """Answer the next ``times`` calls of ``method`` (or ``"webhook"``) with a fault."""
        with self._lock:
            self._faults.setdefault(method, deque()).extend(
                Fault(kind, retry_after) for _ in range(times)
            )

    def _next_fault(self, method: str) -> Fault | None:
        with self._lock:
            queue = self._faults.get(method)
            return queue.popleft() if queue else None

    def methods(self) -> list[str]:
        return [c.method for c in self.calls]

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, predicate: Any, what: str, timeout: float = WAIT) -> None:
        """Block until ``predicate()`` holds (the client works in its own threads)."""
        with self._changed:
            if not self._changed.wait_for(predicate, timeout=timeout):
                raise AssertionError(f"slack fake: timed out waiting for {what}")

    # socket mode -----------------------------------------------------------------
    def hold_connections(self) -> None:
        """Hold the next ``apps.connections.open`` calls (a client mid-connect)."""
        self.connect_held.clear()
        self._connect_gate.clear()

    def release_connections(self) -> None:
        self._connect_gate.set()

    @property
    def socket(self) -> _WebSocket | None:
        """The newest open Socket Mode connection."""
        live = [s for s in self._sockets if s.open]
        return live[-1] if live else None

    def wait_connected(self, count: int = 1) -> _WebSocket:
        """Wait until ``count`` sockets were opened and one is live; return it."""
        self.wait_for(
            lambda: len(self._sockets) >= count and self.socket is not None,
            f"socket mode connection #{count}",
        )
        ws = self.socket
        assert ws is not None
        return ws

    def press(
        self,
        *,
        action_id: str,
        value: str,
        user: str,
        channel: str,
        ts: str,
        team: str = "T000",
        socket: int | None = None,
    ) -> str:
        """Send a ``block_actions`` press on the live socket (as Slack does); returns the
        envelope id. The message is the one stored at ``ts`` (blocks as last posted).
        ``socket`` picks one of several live connections (replicas), oldest first."""
        ws = self.socket if socket is None else [s for s in self._sockets if s.open][socket]
        assert ws is not None, "no socket mode connection"
        message = self.messages[ts]
        envelope_id = f"env-{next(self._envelopes):04d}"
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": team},
            "api_app_id": "A0TEST",
            "team": {"id": team},
            "container": {"type": "message", "message_ts": ts, "channel_id": message["channel"]},
            "channel": {"id": message["channel"], "name": "alerts"},
            "message": {
                "type": "message",
                "ts": ts,
                "text": message["text"],
                "blocks": message["blocks"],
            },
            "trigger_id": "1.2.3",
            "response_url": f"http://127.0.0.1:{self.port}/actions/response",
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": "alerter_actions",
                    "value": value,
                    "action_ts": "1773150100.000001",
                }
            ],
        }
        ws.send_json(
            {
                "envelope_id": envelope_id,
                "payload": payload,
                "type": "interactive",
                "accepts_response_payload": False,
            }
        )
        return envelope_id

    def wait_ack(self, envelope_id: str) -> dict[str, Any]:
        self.wait_for(lambda: envelope_id in self.acks, f"ack of {envelope_id}")
        return self.acks[envelope_id]

    def send_disconnect(self, reason: str = "refresh_requested") -> None:
        ws = self.socket
        assert ws is not None
        ws.send_json({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake"}})

    def drop_socket(self, code: int = 1001) -> None:
        """Close the live socket from the server side, as Slack does when a host goes away
        (a close frame with ``code``, then EOF)."""
        ws = self.socket
        assert ws is not None
        ws.close(code)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.port

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}"

    def __enter__(self) -> SlackFake:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if (
                    urlsplit(self.path).path != "/link/"
                    or "websocket" not in (self.headers.get("Upgrade") or "").lower()
                ):
                    self.send_error(404)
                    return
                key = self.headers.get("Sec-WebSocket-Key", "")
                accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
                self.send_response(101, "Switching Protocols")
                self.send_header("Upgrade", "websocket")
                self.send_header("Connection", "Upgrade")
                self.send_header("Sec-WebSocket-Accept", accept)
                self.end_headers()
                self.wfile.flush()
                self.close_connection = True
                ws = _WebSocket(self.connection, fake)
                fake._sockets.append(ws)
                try:
                    ws.send_json(
                        {
                            "type": "hello",
                            "num_connections": len([s for s in fake._sockets if s.open]),
                            "debug_info": {"host": "fake", "approximate_connection_time": 18060},
                            "connection_info": {"app_id": "A0TEST"},
                        }
                    )
                except OSError:  # the client hung up before its hello: a closed socket
                    ws.open = False
                    fake._notify()
                    return
                fake._notify()
                ws.serve()
                fake._notify()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, headers, payload = fake._handle(self.path, dict(self.headers), body)
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                trickle = headers.pop("X-Fake-Trickle", None) is not None
                self.send_response(status)
                ctype = "application/json" if not isinstance(payload, bytes) else "text/plain"
                self.send_header("Content-Type", f"{ctype}; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if not trickle:
                    self.wfile.write(raw)
                    fake._notify()
                    return
                fake._notify()
                try:
                    for i in range(len(raw)):
                        self.wfile.write(raw[i : i + 1])
                        self.wfile.flush()
                        if fake._stop.wait(TRICKLE_GAP):
                            return
                except OSError:
                    fake.hung_up += 1

        self._server = Loopback(Handler)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._stop.set()
        for ws in self._sockets:
            ws.kill()
        self._server.close(timeout=None)

    # protocol --------------------------------------------------------------------
    def _handle(
        self, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any] | bytes]:
        route = urlsplit(path).path
        if route.startswith("/upload/"):
            file_id = route.rsplit("/", 1)[-1]
            self.calls.append(Call("upload", {"file_id": file_id}, headers, body))
            self.uploads[file_id] = body
            return 200, {}, b"OK - " + str(len(body)).encode()
        if route == WEBHOOK_PATH:
            return self._webhook(headers, body)
        if not route.startswith("/api/"):
            return 404, {}, b"not found"
        method = route[len("/api/") :]
        params = self._params(headers, body)
        self.calls.append(Call(method, params, headers, body))
        fault = self._next_fault(method)
        if fault is not None:
            if fault.kind == "ratelimited":
                return (
                    429,
                    {"Retry-After": str(fault.retry_after)},
                    {
                        "ok": False,
                        "error": "ratelimited",
                    },
                )
            if fault.kind == "500":
                return 500, {}, b"<html>upstream connect error</html>"
            if fault.kind == "trickle_429":  # a rate-limit answer whose body trickles
                pad = "x" * 200
                headers_out = {"Retry-After": "1", "X-Fake-Trickle": "1"}
                return 429, headers_out, {"ok": False, "error": "ratelimited", "pad": pad}
            if fault.kind in ("no_ts", "trickle"):
                status, extra, answer = self._serve(method, headers, params)
                if fault.kind == "trickle":
                    return status, {**extra, "X-Fake-Trickle": "1"}, answer
                if isinstance(answer, dict):
                    answer = {k: v for k, v in answer.items() if k != "ts"}
                return status, extra, answer
            return 200, {}, {"ok": False, "error": fault.kind}
        return self._serve(method, headers, params)

    def _serve(
        self, method: str, headers: dict[str, str], params: dict[str, Any]
    ) -> tuple[int, dict[str, str], dict[str, Any] | bytes]:
        if method == "apps.connections.open":
            if not self._connect_gate.is_set():
                self.connect_held.set()
                self._connect_gate.wait(WAIT)
            if headers.get("Authorization") != f"Bearer {self.app_token}":
                return 200, {}, {"ok": False, "error": "invalid_auth"}
            self.connections_opened += 1
            ticket = f"ticket-{self.connections_opened}"
            return 200, {}, {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}"}
        if headers.get("Authorization") != f"Bearer {self.token}":
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        handler = getattr(self, "_api_" + method.replace(".", "_"), None)
        if handler is None:
            return 200, {}, {"ok": False, "error": "unknown_method"}
        return 200, {}, handler(params)

    @staticmethod
    def _params(headers: dict[str, str], body: bytes) -> dict[str, Any]:
        ctype = headers.get("Content-Type", "")
        if "json" in ctype:
            return dict(json.loads(body or b"{}"))
        return dict(parse_qsl(body.decode()))

    def _channel(self, name: str) -> str | None:
        return self.channels.get(name)

    def _api_chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(str(p.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        thread_ts = p.get("thread_ts")
        if thread_ts and thread_ts not in self.messages:
            return {"ok": False, "error": "thread_not_found"}
        ts = f"1773150000.{next(self._ts):06d}"
        self.messages[ts] = {
            "channel": channel,
            "text": p.get("text"),
            "blocks": p.get("blocks"),
            "thread_ts": thread_ts,
            "replies": [],
        }
        if thread_ts:
            self.messages[thread_ts]["replies"].append(ts)
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": p.get("text")}}

    def _api_chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(str(p.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        ts = str(p.get("ts", ""))
        if ts not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        self.messages[ts].update(text=p.get("text"), blocks=p.get("blocks"))
        self.messages[ts]["edits"] = self.messages[ts].get("edits", 0) + 1
        return {"ok": True, "channel": channel, "ts": ts}

    def _api_chat_postEphemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(str(p.get("channel", "")))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not p.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        self.ephemerals.append({"channel": channel, "user": p["user"], "text": p.get("text")})
        return {"ok": True, "message_ts": f"1773150000.{next(self._ts):06d}"}

    def _api_usergroups_users_list(self, p: dict[str, Any]) -> dict[str, Any]:
        group = str(p.get("usergroup", ""))
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.usergroups[group])}

    def _api_files_getUploadURLExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p.get("filename") or not str(p.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ts):08d}"
        return {
            "ok": True,
            "file_id": file_id,
            "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}",
        }

    def _api_files_completeUploadExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        files = json.loads(p.get("files", "[]"))
        if any(f["id"] not in self.uploads for f in files):
            return {"ok": False, "error": "file_not_found"}
        channel = p.get("channel_id")
        if channel and self._channel(str(channel)) is None:
            return {"ok": False, "error": "channel_not_found"}
        thread_ts = p.get("thread_ts")
        if thread_ts and thread_ts in self.messages:
            self.messages[thread_ts].setdefault("files", []).extend(f["id"] for f in files)
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}

    def _webhook(
        self, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], dict[str, Any] | bytes]:
        self.calls.append(Call("webhook", json.loads(body or b"{}"), headers, body))
        fault = self._next_fault("webhook")
        if fault is not None:
            if fault.kind == "trickle":
                self.webhook_posts.append(json.loads(body))
                return 200, {"X-Fake-Trickle": "1"}, b"ok" + b" " * 60
            if fault.kind == "ratelimited":
                return 429, {"Retry-After": str(fault.retry_after)}, b"rate_limited"
            if fault.kind == "500":
                return 500, {}, b"internal_error"
            status = {"invalid_token": 403, "channel_not_found": 404, "no_service": 404}
            return status.get(fault.kind, 400), {}, fault.kind.encode()
        self.webhook_posts.append(json.loads(body))
        return 200, {}, b"ok"


class _WebSocket:
    """The server end of one Socket Mode connection (RFC 6455: unmasked frames out,
    masked frames in)."""

    def __init__(self, sock: socket.socket, fake: SlackFake) -> None:
        self.sock = sock
        self.fake = fake
        self.open = True
        self.sent: list[dict[str, Any]] = []
        self._send_lock = threading.Lock()

    def _frame(self, opcode: int, data: bytes) -> bytes:
        size = len(data)
        if size < 126:
            head = struct.pack("!BB", 0x80 | opcode, size)
        elif size < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 126, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
        return head + data

    def _send(self, opcode: int, data: bytes) -> None:
        with self._send_lock:
            if self.open:
                self.sock.sendall(self._frame(opcode, data))

    def send_json(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        self._send(0x1, json.dumps(message).encode())

    def close(self, code: int) -> None:
        self._send(0x8, struct.pack("!H", code) + b"going away")
        self.kill()

    def kill(self) -> None:
        self.open = False
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("socket closed")
            data += chunk
        return data

    def serve(self) -> None:
        """Read client frames until the socket closes: acks, pings, close."""
        try:
            while self.open:
                b0, b1 = self._read(2)
                opcode, size = b0 & 0x0F, b1 & 0x7F
                if size == 126:
                    (size,) = struct.unpack("!H", self._read(2))
                elif size == 127:
                    (size,) = struct.unpack("!Q", self._read(8))
                mask = self._read(4) if b1 & 0x80 else b"\0\0\0\0"
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(self._read(size)))
                if opcode == 0x9:
                    self._send(0xA, data)
                elif opcode == 0x8:
                    self._send(0x8, data[:2])
                    break
                elif opcode == 0x1:
                    message = json.loads(data)
                    if "envelope_id" in message:
                        self.fake.acks[str(message["envelope_id"])] = message
                        self.fake._notify()
        except (ConnectionError, OSError, ValueError):
            pass
        finally:
            self.open = False
            with contextlib.suppress(OSError):
                self.sock.close()
