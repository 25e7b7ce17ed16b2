"""The billing sources' connection pool: aiohttp's, with httpx's exceptions and types.

``JsonHttpClient`` sends every ``GET`` through one ``AiohttpPool`` and hands its callers
httpx types (``httpx.Response`` to hooks, ``httpx.Headers``), as it always has. Why not
``httpx.AsyncClient``: at 32 requests in flight, httpcore's pool rescans every
connection for every request and goes through anyio for each socket call, and httpx
builds and parses a URL, a request and a cookie jar per request. bench/poll_metronome.py
measured about 5 ms of client CPU per request with httpx's pool, 2 ms with httpx over
aiohttp's pool, and less again with aiohttp alone, on the same 2-CPU machine; a poll of
20,000 pages was bound by that CPU, not by the API.

What the pool keeps as the httpx client did: the given headers go out on every request,
compressed bodies (``gzip``, ``deflate``) are asked for and decoded, no redirect is
followed, a ``connect`` timeout applies (the caller puts a deadline on each whole
request), a proxy comes from the usual
environment variables (``HTTPS_PROXY``, ``NO_PROXY`` ...; no ``.netrc``), no cookie is
kept, and every failure is raised as the httpx exception it stands for
(``ConnectError``, ``ConnectTimeout``, ``ReadTimeout``, ``RemoteProtocolError``,
``ReadError``), so the callers' retry rules hold.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import aiohttp
import httpx
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

_READ_CHUNK = 1 << 16
_Proxy = tuple[URL | None, aiohttp.BasicAuth | None]


class AiohttpPool:
    """At most ``connections`` kept-alive connections, made inside the event loop that
    uses them (``get`` opens the session on first use)."""

    def __init__(
        self,
        connections: int,
        headers: Mapping[str, str],
        *,
        connect_timeout: float,
    ) -> None:
        self._connections = connections
        self._headers = dict(headers)
        # no sock_read: the caller bounds each request with its own deadline, and
        # aiohttp would move a timer on every chunk it reads
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout)
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, _Proxy] = {}

    def _ensure(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._connections, limit_per_host=self._connections, ttl_dns_cache=300
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                timeout=self._timeout,
                trust_env=False,  # a proxy is looked up once per origin (_proxy), not per request
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            # aiohttp resends a GET once, silently, when a kept-alive connection drops;
            # the caller's RetryPolicy counts, backs off and reports every failed attempt
            # itself (the switch aiohttp's own test client uses)
            self._session._retry_connection = False
        return self._session

    def _proxy(self, text: str, url: URL) -> _Proxy:
        """The proxy the environment names for ``url``'s origin, looked up once per
        origin (keyed by the text before the path, ``text`` being ``url`` as given):
        aiohttp's ``trust_env`` would ask in a thread for every request."""
        end = text.find("/", text.find("//") + 2)
        origin = text if end < 0 else text[:end]
        found = self._proxies.get(origin)
        if found is None:
            try:
                found = get_env_proxy_for_url(url)
            except LookupError:
                found = (None, None)
            self._proxies[origin] = found
        return found

    async def get(
        self, url: str, max_body: int, too_large: Callable[[], Exception]
    ) -> PlainResponse:
        """``GET url`` (already encoded), its decoded body read in full; raises
        ``too_large()`` past ``max_body`` bytes (declared or decoded) and httpx
        exceptions for network failures. The answer carries no ``Content-Encoding``
        (its body is decoded)."""
        session = self._ensure()
        target = URL(url, encoded=True)
        proxy, proxy_auth = self._proxy(url, target)
        try:
            async with session.get(
                target, allow_redirects=False, proxy=proxy, proxy_auth=proxy_auth
            ) as response:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_body:
                    raise too_large()
                content = await _read_capped(response, max_body, too_large)
                raw = response.raw_headers
                status = response.status
        except (aiohttp.ClientError, OSError) as exc:
            raise _as_httpx(exc) from None
        return PlainResponse(status, raw, content, url)

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


async def _read_capped(
    response: aiohttp.ClientResponse, max_body: int, too_large: Callable[[], Exception]
) -> bytes:
    """The decoded body, counted as it arrives (a gzip bomb is cut off)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(_READ_CHUNK):
        size += len(chunk)
        if size > max_body:
            raise too_large()
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class PlainResponse:
    """One answer as the pool read it: what the retrying client looks at for every
    request (status, body), with the httpx views (``headers``, ``httpx_response``)
    built only when asked for: an ``httpx.Response`` per request cost about as much
    CPU as aiohttp's whole answer path."""

    __slots__ = ("_headers", "_raw", "content", "status_code", "url")

    def __init__(
        self, status: int, raw: tuple[tuple[bytes, bytes], ...], content: bytes, url: str
    ) -> None:
        self.status_code = status
        self.content = content
        self.url = url
        self._raw = raw
        self._headers: httpx.Headers | None = None

    @property
    def headers(self) -> httpx.Headers:
        """The response headers, less ``Content-Encoding`` (the body is decoded)."""
        if self._headers is None:
            self._headers = httpx.Headers(
                [(k, v) for k, v in self._raw if k.lower() != b"content-encoding"],
                encoding="latin-1",
            )
        return self._headers

    def httpx_response(self) -> httpx.Response:
        """The answer as an ``httpx.Response`` whose ``request`` is ``GET url``."""
        return httpx.Response(
            self.status_code,
            headers=self.headers,
            content=self.content,
            request=httpx.Request("GET", self.url),
        )


def _as_httpx(exc: BaseException) -> httpx.TransportError:
    """The httpx exception an aiohttp failure stands for."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(text)
    if isinstance(exc, aiohttp.ServerTimeoutError | TimeoutError):
        return httpx.ReadTimeout(text)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(text)
    if isinstance(
        exc,
        aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError,
    ):
        return httpx.RemoteProtocolError(text)
    return httpx.ReadError(text)
