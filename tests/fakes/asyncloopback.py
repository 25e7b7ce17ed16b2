"""An asyncio HTTP/1.1 server on 127.0.0.1 for fakes that must serve many connections
at once cheaply (bench/ and large scenarios), in the thread or process that runs it.

``ThreadingHTTPServer`` (``loopback.py``) costs a thread per connection, parses headers
with the email package and sleeps a thread to add latency; this one answers every
connection from one event loop, waits ``latency`` with ``asyncio.sleep`` (other requests
go on meanwhile), and keeps connections alive (HTTP/1.1). It understands what the
billing fakes need: ``GET`` with no body, answered in order per connection::

    server = await AsyncLoopback.start(respond, latency=0.02)   # respond(target, headers)
    server.url                                                 # http://127.0.0.1:PORT
    await server.close()

``respond`` returns an ``Answer``-like object with ``status``, ``body``, ``headers``,
``action`` (``"send"``, ``"drop"`` or ``"trickle"``) and ``delay``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Protocol


class Reply(Protocol):
    @property
    def status(self) -> int: ...
    @property
    def body(self) -> bytes: ...
    @property
    def headers(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def action(self) -> str: ...
    @property
    def delay(self) -> float: ...


Respond = Callable[[str, Mapping[str, str]], Reply]
"""``(request target, headers with lower-case names) -> reply``."""

_MAX_HEAD = 64 * 1024


def _head(reply: Reply) -> bytes:
    reason = (
        HTTPStatus(reply.status).phrase if reply.status in HTTPStatus._value2member_map_ else ""
    )
    lines = [
        f"HTTP/1.1 {reply.status} {reason}",
        "Content-Type: application/json",
        f"Content-Length: {len(reply.body)}",
        *(f"{k}: {v}" for k, v in reply.headers),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class AsyncLoopback:
    """The server; ``start`` binds a port the OS picks and serves until ``close``."""

    def __init__(self, respond: Respond, latency: float) -> None:
        self._respond = respond
        self._latency = latency
        self._server: asyncio.Server | None = None

    @classmethod
    async def start(cls, respond: Respond, *, latency: float = 0.0) -> AsyncLoopback:
        self = cls(respond, latency)
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024)
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                if len(head) > _MAX_HEAD:
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = [*lines[0].split(" "), "", "", ""][:3]
                headers = {}
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                length = headers.get("content-length", "0")
                if length.isdigit() and int(length):
                    await reader.readexactly(int(length))
                if self._latency > 0:
                    await asyncio.sleep(self._latency)
                if method != "GET":
                    writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                reply = self._respond(target, headers)
                if reply.action == "drop":
                    return
                if reply.action == "trickle":
                    writer.write(_head(reply))
                    for i in range(len(reply.body)):
                        writer.write(reply.body[i : i + 1])
                        await writer.drain()
                        await asyncio.sleep(reply.delay)
                else:
                    # one write: head and body leave together, as a real server's
                    # would, not as a small segment of their own (TCP_NODELAY) that
                    # wakes the client once more per answer
                    writer.write(_head(reply) + reply.body)
                await writer.drain()
                if version != "HTTP/1.1" or headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, OSError):
            return
        finally:
            writer.close()
