"""``/healthz`` and ``/metrics`` over HTTP: a small threaded stdlib server beside the daemon.

``/healthz`` answers 200 while every configured source has polled successfully within
its staleness limit (``App.staleness``), else 503; both with a JSON body listing every
source. A source that has never succeeded is measured from the daemon's start, so a
fresh daemon is healthy while its first backfill runs. ``/metrics`` is the Prometheus
text format of the App's own registry.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from alerter.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from alerter.app import App

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Health:
    """The health verdict: ``ok`` and a JSON-ready body."""

    ok: bool
    body: dict[str, Any]


def health(app: App, now: datetime, started_at: datetime) -> Health:
    """Every source's last success against its staleness limit, at ``now`` (aware UTC)."""
    polls = {p.source: p for p in app.store.poll_status()}
    sources: dict[str, Any] = {}
    stale: list[str] = []
    for name in app.config.sources:
        limit = app.staleness(name)
        status = polls.get(name)
        last = status.last_success_at if status is not None else None
        reference = last if last is not None else started_at
        age = (now - reference).total_seconds()
        is_stale = age > limit.total_seconds()
        if is_stale:
            stale.append(name)
        sources[name] = {
            "last_success_at": last.isoformat() if last is not None else None,
            "last_error": status.last_error if status is not None else None,
            "age_seconds": round(age, 3),
            "staleness_seconds": limit.total_seconds(),
            "stale": is_stale,
        }
    body = {"status": "stale" if stale else "ok", "stale": stale, "sources": sources}
    return Health(not stale, body)


UiHandler = Callable[[str, str, Mapping[str, str], bytes], tuple[int, list[tuple[str, str]], bytes]]
"""``(method, target, headers, body) -> (status, headers, body)``: the web UI (``alerter/web``)."""

UI_MAX_BODY = 64 * 1024


class HttpServer:
    """Serves ``/healthz`` and ``/metrics`` from a background thread; ``stop()`` joins it."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        health: Callable[[], Health],
        metrics: Callable[[], bytes],
        ui: UiHandler | None = None,
    ) -> None:
        self.host = host
        self.requested_port = port
        self._health = health
        self._metrics = metrics
        self._ui = ui
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port (the real one when 0 was asked for)."""
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    def start(self) -> HttpServer:
        """Bind and serve; raises ``OSError`` when the address is taken."""
        handler = type("Handler", (_Handler,), {"owner": self})
        self._server = ThreadingHTTPServer((self.host, self.requested_port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="alerter-http",
            daemon=True,
        )
        self._thread.start()
        log.info("http_listening host=%s port=%d", self.host, self.port)
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    owner: HttpServer
    server_version = "alerter"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("http_request %s", format % args)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _serve_ui(self) -> None:
        ui = self.owner._ui
        assert ui is not None
        length = int(self.headers.get("Content-Length") or 0)
        if length > UI_MAX_BODY:
            self._send(413, b"request too large", "text/plain")
            return
        body = self.rfile.read(length) if length > 0 else b""
        status, headers, payload = ui(self.command, self.path, dict(self.headers.items()), body)
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0]
        if self.owner._ui is not None and path.startswith("/ui/"):
            self._serve_ui()
        else:
            self._send(405 if path in ("/healthz", "/metrics") else 404, b"", "text/plain")

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        try:
            if self.owner._ui is not None and (path == "/" or path.startswith("/ui")):
                self._serve_ui()
            elif path == "/healthz":
                verdict = self.owner._health()
                body = json.dumps(verdict.body, sort_keys=True).encode()
                self._send(200 if verdict.ok else 503, body, "application/json")
            elif path == "/metrics":
                self._send(200, self.owner._metrics(), CONTENT_TYPE)
            else:
                self._send(404, b'{"error": "not found"}', "application/json")
        except Exception:  # a broken probe must not kill the server thread
            log.exception("http_error path=%s", path)
            self._send(500, b'{"error": "internal error"}', "application/json")

    do_HEAD = do_GET
