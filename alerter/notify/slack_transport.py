"""slack-sdk clients with a total deadline per request and per send.

slack-sdk reads through ``urllib``, whose ``timeout`` bounds each socket read only: a
peer that trickles one byte a second never times out. Here every request runs under a
watchdog timer that shuts its socket down when ``timeout`` seconds have passed since the
request started (connect, upload and whole answer), and a second watchdog per send
(``SendGuard``) hangs up whatever request is under way once the send's ``deadline`` has
passed, and every later one at once. The blocked read then fails and the request raises
``TimeoutError`` (an ``OSError``), which the notifier turns into a retry: the send has
ended, so nothing of it can still be posted after the outbox gave up on it.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import logging
import socket
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.error import HTTPError
from urllib.request import OpenerDirector, Request

from slack_sdk import WebClient
from slack_sdk.web.file_upload_v2_result import FileUploadV2Result
from slack_sdk.webhook import WebhookClient, WebhookResponse

log = logging.getLogger(__name__)


class Watchdog:
    """Sockets of requests under way; ``hang_up`` shuts them so a blocked read returns."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socks: list[socket.socket] = []
        self.expired = False

    def add(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._socks.append(sock)
            if not self.expired:
                return
        _shut(sock)

    def hang_up(self) -> None:
        with self._lock:
            self.expired = True
            socks = list(self._socks)
        for sock in socks:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


class SendGuard:
    """One send's deadline: started by ``start``, ended by ``stop``; None = no bound."""

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline
        self.watchdog = Watchdog()
        self._timer: threading.Timer | None = None

    def start(self) -> None:
        if self.deadline is not None:
            self._timer = threading.Timer(self.deadline, self.watchdog.hang_up)
            self._timer.daemon = True
            self._timer.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _opener(watchdogs: tuple[Watchdog, ...], ssl: Any) -> OpenerDirector:
    """A urllib opener whose connections register their socket with ``watchdogs``."""

    def track(conn: http.client.HTTPConnection) -> None:
        for dog in watchdogs:
            dog.add(conn.sock)

    class Plain(http.client.HTTPConnection):
        def connect(self) -> None:
            super().connect()
            track(self)

    class Secure(http.client.HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            track(self)

    class PlainHandler(urllib.request.HTTPHandler):
        def http_open(self, req: Request) -> http.client.HTTPResponse:
            return self.do_open(Plain, req)

    class SecureHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: Request) -> http.client.HTTPResponse:
            return self.do_open(Secure, req, context=ssl)

    return urllib.request.build_opener(PlainHandler(), SecureHandler(context=ssl))


@contextlib.contextmanager
def _bounded(seconds: float, guard: SendGuard | None, ssl: Any) -> Iterator[OpenerDirector]:
    """An opener for one request that is hung up on after ``seconds`` (or at the send's
    deadline); a failure after a hang-up is raised as ``TimeoutError``."""
    dog = Watchdog()
    dogs = (dog,) if guard is None else (dog, guard.watchdog)
    timer = threading.Timer(seconds, dog.hang_up)
    timer.daemon = True
    timer.start()
    try:
        yield _opener(dogs, ssl)
    except HTTPError as exc:
        # slack-sdk reads an error's body after we return: read it now, under the deadline
        try:
            body = exc.read()
        except Exception:
            if any(d.expired for d in dogs):
                raise _timeout(seconds, guard) from None
            raise
        raise HTTPError(exc.url, exc.code, exc.msg, exc.headers, io.BytesIO(body)) from None
    except Exception:
        if any(d.expired for d in dogs):
            raise _timeout(seconds, guard) from None
        raise
    finally:
        timer.cancel()


def _timeout(seconds: float, guard: SendGuard | None) -> TimeoutError:
    if guard is not None and guard.watchdog.expired:
        return TimeoutError(f"send did not finish within {guard.deadline:g}s (deadline)")
    return TimeoutError(f"no complete answer within {seconds:g}s (timeout)")


def _check_url(url: str) -> None:
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError("slack: only http(s) URLs are requested")


class DeadlineWebClient(WebClient):
    """``WebClient`` whose ``timeout`` bounds each whole request, not each socket read."""

    def __init__(self, *args: Any, guard: SendGuard | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        _check_url(url)
        with _bounded(float(self.timeout), self.guard, self.ssl) as opener:
            resp = opener.open(req, timeout=self.timeout)
            if resp.headers.get_content_type() == "application/gzip":
                return {"status": resp.code, "headers": resp.headers, "body": resp.read()}
            charset = resp.headers.get_content_charset() or "utf-8"
            body = resp.read().decode(charset)
        return {"status": resp.code, "headers": resp.headers, "body": body}

    def _upload_file(
        self,
        *,
        url: str,
        data: bytes,
        logger: logging.Logger,
        timeout: int,
        proxy: str | None,
        ssl: Any,
    ) -> FileUploadV2Result:
        _check_url(url)
        req = Request(method="POST", url=url, data=data, headers={})  # noqa: S310 (checked)
        with _bounded(float(timeout), self.guard, ssl) as opener:
            resp = opener.open(req, timeout=timeout)
            charset = resp.headers.get_content_charset() or "utf-8"
            body = resp.read().decode(charset)
        return FileUploadV2Result(status=resp.status, body=body)


class DeadlineWebhookClient(WebhookClient):
    """``WebhookClient`` whose ``timeout`` bounds each whole request."""

    def __init__(self, *args: Any, guard: SendGuard | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.guard = guard

    def _perform_http_request_internal(self, url: str, req: Request) -> WebhookResponse:
        _check_url(url)
        with _bounded(float(self.timeout), self.guard, self.ssl) as opener:
            resp = opener.open(req, timeout=self.timeout)
            charset = resp.headers.get_content_charset() or "utf-8"
            body = resp.read().decode(charset)
        return WebhookResponse(url=url, status_code=resp.status, body=body, headers=resp.headers)
