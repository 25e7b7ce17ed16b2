"""A loopback Slack Web API (and incoming webhook) fake for slack-sdk clients.

Speaks what slack-sdk sends: ``chat.postMessage`` / ``chat.update`` (JSON bodies),
``files.getUploadURLExternal`` + the upload URL + ``files.completeUploadExternal`` (as
``files_upload_v2`` does), and incoming-webhook POSTs. Records every call; scripted
faults answer ``ratelimited`` (429 + Retry-After), 500, or any Slack error code.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

TOKEN = "xoxb-test-0000-SECRET-TOKEN"
WEBHOOK_PATH = "/services/T000/B000/SECRETWEBHOOKPATH"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Fault:
    kind: str  # "ratelimited", "500", or a Slack error code ("invalid_auth", ...)
    retry_after: int = 7


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

    def __post_init__(self) -> None:
        self._faults: dict[str, deque[Fault]] = {}
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # control ---------------------------------------------------------------------
    def fail(self, method: str, kind: str, times: int = 1, retry_after: int = 7) -> None:
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

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

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

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, headers, payload = fake._handle(self.path, dict(self.headers), body)
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                ctype = "application/json" if not isinstance(payload, bytes) else "text/plain"
                self.send_header("Content-Type", f"{ctype}; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        assert self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

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
            return 200, {}, {"ok": False, "error": fault.kind}
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
            if fault.kind == "ratelimited":
                return 429, {"Retry-After": str(fault.retry_after)}, b"rate_limited"
            if fault.kind == "500":
                return 500, {}, b"internal_error"
            status = {"invalid_token": 403, "channel_not_found": 404, "no_service": 404}
            return status.get(fault.kind, 400), {}, fault.kind.encode()
        self.webhook_posts.append(json.loads(body))
        return 200, {}, b"ok"
