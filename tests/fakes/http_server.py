"""A tiny threaded HTTP server on 127.0.0.1 with fault injection, for network tests.

Subclass ``LocalServer`` and implement ``respond(path, query)``; or use ``FileServer``
to serve fixed bodies by path (the publishers' real CSV files). Faults queued with
``fail_next`` are served before normal replies, one per request: an HTTP status code,
``"timeout"`` (hold the connection for ``hang_seconds``), ``"malformed"`` (a truncated
body with status 200) or ``"html"`` (an HTML error page with status 200).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.parse
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Fault = int | str


@dataclass(frozen=True)
class Reply:
    """One HTTP response."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: object, status: int = 200) -> Reply:
        return cls(status, json.dumps(data).encode(), "application/json")

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/csv") -> Reply:
        return cls(status, text.encode(), content_type)


@dataclass(frozen=True)
class Request:
    """What a client asked for (query values: the last one of each name), and when
    (``time.monotonic()`` at arrival, to check a client's rate limiting)."""

    path: str
    query: dict[str, str]
    at: float = field(default_factory=time.monotonic)


class LocalServer:
    """Start/stop a server on a free port in a daemon thread; records every request."""

    hang_seconds = 2.0

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.faults: deque[Fault] = deque()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> LocalServer:
        handler = _handler_for(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- behaviour -------------------------------------------------------------------
    def fail_next(self, *faults: Fault) -> None:
        """Queue faults, served in order to the next requests."""
        with self._lock:
            self.faults.extend(faults)

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def respond(self, path: str, query: dict[str, str]) -> Reply:
        raise NotImplementedError

    def _serve(self, path: str, query: dict[str, str]) -> Reply | None:
        with self._lock:
            self.requests.append(Request(path, query))
            fault = self.faults.popleft() if self.faults else None
        if fault is None:
            return self.respond(path, query)
        if isinstance(fault, int):  # like a gateway/proxy answer: plain text, no API error code
            return Reply.text(f"injected HTTP {fault}", status=fault, content_type="text/plain")
        if fault == "timeout":
            time.sleep(self.hang_seconds)
            return None
        if fault == "malformed":
            return Reply(200, b'{"truncated": [1, 2', "application/json")
        if fault == "html":
            return Reply.text("<!DOCTYPE html><html><body>Service unavailable</body></html>", content_type="text/html")
        raise ValueError(f"unknown fault {fault!r}")


class FileServer(LocalServer):
    """Serves fixed bodies by path (query ignored unless the key includes it)."""

    def __init__(self, routes: dict[str, bytes | Reply]) -> None:
        super().__init__()
        self.routes = dict(routes)

    def respond(self, path: str, query: dict[str, str]) -> Reply:
        full = f"{path}?{urllib.parse.urlencode(query)}" if query else path
        for key in (full, path):
            if key in self.routes:
                body = self.routes[key]
                return body if isinstance(body, Reply) else Reply(200, body, "text/csv")
        return Reply.text("<html><body>404 Not Found</body></html>", status=404, content_type="text/html")


def closed_port() -> int:
    """A local port nothing listens on (for "exchange unreachable" cases)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _handler_for(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.close_connection = True

        def do_GET(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(parsed.query, keep_blank_values=True))
            reply = server._serve(urllib.parse.unquote(parsed.path), query)
            if reply is None:  # injected timeout: drop the connection without a reply
                self.close_connection = True
                return
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            self.send_header("Connection", "close")  # so stop() really takes the service down
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

    return Handler
