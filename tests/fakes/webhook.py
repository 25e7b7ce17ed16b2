"""A loopback HTTP receiver for the webhook notifier: records POSTs, answers scripted statuses."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SECRET_PATH = "/hooks/SECRET-PATH-abc123"


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    posts: list[Post] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._faults: deque[tuple[int, dict[str, str]]] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._closing = threading.Event()

    trickle: float | None = None
    """When set, the whole answer (status line, headers, body) is written one byte every
    ``trickle`` seconds (a slow peer)."""
    trickle_bytes: int = 4096
    trickle_head: bool = True
    """False: status line and headers at once, then only the body trickled."""
    """How long a trickled answer is (its Content-Length)."""

    def fail(self, status: int, times: int = 1, retry_after: int | str | None = None) -> None:
        """Answer the next ``times`` POSTs with ``status`` (and ``Retry-After``, any text)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        with self._lock:
            self._faults.extend([(status, headers)] * times)

    def _trickle(self, handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        """The whole answer, status line and headers included, one byte at a time."""
        head = f"HTTP/1.1 {status} OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        if not self.trickle_head:
            handler.wfile.write(head)
            handler.wfile.flush()
            head = b""
        for byte in head + body:
            if self._closing.wait(self.trickle or 0.0):
                return
            try:
                handler.wfile.write(bytes([byte]))
                handler.wfile.flush()
            except OSError:
                return

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{SECRET_PATH}"

    def __enter__(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.posts.append(Post(self.path, dict(self.headers), body))
                with receiver._lock:
                    status, headers = receiver._faults.popleft() if receiver._faults else (200, {})
                if self.path != SECRET_PATH:
                    status, headers = 404, {}
                raw = b"{}" if status == 200 else b'{"error": "nope"}'
                if receiver.trickle is not None:
                    receiver._trickle(self, status, b" " * receiver.trickle_bytes)
                    return
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
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
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
