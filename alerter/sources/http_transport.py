"""An httpx transport on aiohttp's connection pool, for the billing sources' hot path.

``JsonHttpClient`` keeps httpx's interface (requests, ``httpx.Response``, headers,
exceptions) and sends through ``AiohttpTransport``. Why: at 32 requests in flight,
httpcore's pool rescans every connection for every request and goes through anyio for
each socket call; bench/poll_metronome.py measured about 5 ms of client CPU per
request with it against about 0.4 ms for aiohttp's pool and C HTTP parser on the same
2-CPU machine, and a poll of 20,000 pages was bound by that CPU, not by the API.

What the transport keeps as httpx does: the request's headers go out unchanged (httpx
sets ``Accept-Encoding`` and decodes the body; aiohttp does not decompress), no
redirect is followed, the request's ``connect``/``read`` timeouts apply, a proxy comes
from the usual environment variables (``HTTPS_PROXY``, ``NO_PROXY`` ...; no ``.netrc``),
and every failure is raised
as the httpx exception it stands for (``ConnectError``, ``ConnectTimeout``,
``ReadTimeout``, ``RemoteProtocolError``, ``ReadError``), so callers' retry rules hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import httpx
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

_READ_CHUNK = 1 << 16


class _Body(httpx.AsyncByteStream):
    """An aiohttp response body as an httpx stream; closing it releases the connection."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(_READ_CHUNK):
                yield chunk
        except BaseException as exc:
            raise _as_httpx(exc, self._request, reading=True) from None

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests through one aiohttp session with at most ``connections``
    connections (kept alive and reused). Made inside the event loop that uses it."""

    def __init__(self, connections: int) -> None:
        self._connections = connections
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[
            tuple[str, str, int | None], tuple[URL | None, aiohttp.BasicAuth | None]
        ] = {}

    def _proxy(self, url: URL) -> tuple[URL | None, aiohttp.BasicAuth | None]:
        """The proxy the environment names for ``url``'s origin (``HTTPS_PROXY``,
        ``NO_PROXY`` ...), looked up once per origin: aiohttp's ``trust_env`` would ask
        in a thread for every request."""
        origin = (url.scheme, url.host or "", url.port)
        found = self._proxies.get(origin)
        if found is None:
            try:
                found = get_env_proxy_for_url(url)
            except LookupError:
                found = (None, None)
            self._proxies[origin] = found
        return found

    def _ensure(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._connections, limit_per_host=self._connections, ttl_dns_cache=300
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,  # httpx decodes Content-Encoding itself
                trust_env=False,  # a proxy is looked up once per origin (_proxy), not per request
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"),
            )
            # aiohttp resends a GET once, silently, when a kept-alive connection drops;
            # the caller's RetryPolicy counts, backs off and reports every failed attempt
            # itself (the switch aiohttp's own test client uses)
            self._session._retry_connection = False
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._ensure()
        timeouts = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=timeouts.get("connect"),
            sock_read=timeouts.get("read"),
        )
        headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() != "host"]
        body = request.content if request.method not in ("GET", "HEAD") else None
        url = URL(str(request.url), encoded=True)
        proxy, proxy_auth = self._proxy(url)
        try:
            response = await session.request(
                request.method,
                url,
                proxy=proxy,
                proxy_auth=proxy_auth,
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=timeout,
            )
        except BaseException as exc:
            raise _as_httpx(exc, request, reading=False) from None
        return httpx.Response(
            response.status,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers],
            stream=_Body(response, request),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _as_httpx(exc: BaseException, request: httpx.Request, *, reading: bool) -> BaseException:
    """The httpx exception an aiohttp failure stands for (others are returned as they are)."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, aiohttp.ConnectionTimeoutError | aiohttp.ServerTimeoutError):
        connect = isinstance(exc, aiohttp.ConnectionTimeoutError)
        kind = httpx.ConnectTimeout if connect else httpx.ReadTimeout
        return kind(text, request=request)
    if isinstance(exc, TimeoutError) and not isinstance(exc, asyncio.CancelledError):
        # aiohttp raises a bare TimeoutError for a sock_read timeout on some paths; the
        # caller's own deadline (asyncio.timeout) cancels instead, so it is not seen here
        return httpx.ReadTimeout(text, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(text, request=request)
    if isinstance(
        exc,
        aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError,
    ):
        return httpx.RemoteProtocolError(text, request=request)
    if isinstance(exc, aiohttp.ClientError | OSError):
        return (httpx.ReadError if reading else httpx.ConnectError)(text, request=request)
    return exc
