"""One loopback HTTP server for the fakes: 127.0.0.1, a port the OS picks, a daemon thread.

Each fake keeps its own handler (what it speaks) and hands it to ``Loopback``::

    self._server = Loopback(Handler)      # listening and serving from here on
    self._server.url                      # http://127.0.0.1:PORT
    self._server.close()                  # stop serving, close the socket, join
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Loopback:
    """A ``ThreadingHTTPServer`` serving ``handler`` on 127.0.0.1 from a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], poll_interval: float = 0.05) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True  # a request still open never blocks close()
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop serving, close the listening socket and wait for the serving thread."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=timeout)
