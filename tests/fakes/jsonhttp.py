"""A loopback JSON receiver: records POSTs, validates them, answers scripted faults.

The Teams and PagerDuty fakes subclass it with their endpoint, schema and answers.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class JsonReceiver:
    """Subclasses implement ``answer(received) -> (status, headers, body)``."""

    path = "/"

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.rejected: list[tuple[Received, str]] = []
        self._faults: deque[tuple[int, dict[str, str]]] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def fail(self, status: int, times: int = 1, retry_after: int | None = None) -> None:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        with self._lock:
            self._faults.extend([(status, headers)] * times)

    @property
    def base(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return self.base + self.path

    def answer(self, received: Received) -> tuple[int, dict[str, str], Any]:
        raise NotImplementedError

    def _respond(self, received: Received) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self.received.append(received)
            fault = self._faults.popleft() if self._faults else None
        if fault is not None:
            return fault[0], fault[1], {"error": "scripted fault"}
        if received.path != self.path:
            return 404, {}, {"error": "not found"}
        return self.answer(received)

    def __enter__(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, headers, payload = receiver._respond(
                    Received(self.path, dict(self.headers), body)
                )
                raw = json.dumps(payload).encode()
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
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
