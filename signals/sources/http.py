"""Plain HTTP GET for the CSV publishers (MOF, FRED): retries, deadline, then a clear error.

Uses the standard library so the downloaders need nothing beyond Python itself. The
policy is ``retry.RetryPolicy``: a transient failure (connection refused/reset, timeout,
a body cut short of its Content-Length, a stalled or trickling server past the
deadline, 429, 5xx) is retried with exponential backoff; anything else, or the last
failure, raises ``SourceError`` naming the URL. A 200 response that is an HTML page (a
portal's error page) is rejected too.
"""

from __future__ import annotations

import http.client
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from carryguard.signals.errors import SourceError
from carryguard.signals.sources.formats import looks_like_html
from carryguard.signals.sources.retry import (
    DeadlineExceeded,
    RetriesExhausted,
    RetryPolicy,
    call_with_retries,
    describe,
)

__all__ = ["RetryPolicy", "UnreachableError", "get_text", "read_body"]

USER_AGENT = "carryguard (+https://github.com/carryguard)"
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
CHUNK = 1 << 16


class UnreachableError(SourceError):
    """The host could not be reached at all (no connection, DNS failure, timeouts)."""


def read_body(response: http.client.HTTPResponse, url: str, *, policy: RetryPolicy, started: float) -> bytes:
    """The whole body, read chunk by chunk with the clock checked between reads: past
    ``policy.deadline`` since ``started`` it is ``DeadlineExceeded``; a body shorter than
    its Content-Length is ``http.client.IncompleteRead``."""
    chunks: list[bytes] = []
    sock = getattr(getattr(response.fp, "raw", None), "_sock", None)  # to bound each read by the time left
    while True:
        left = policy.deadline - (time.monotonic() - started)
        if left <= 0:
            raise DeadlineExceeded(f"{url}: no complete answer within {policy.deadline:g} s (server too slow)")
        if isinstance(sock, socket.socket):
            sock.settimeout(min(policy.timeout, left))
        try:
            chunk = response.read1(CHUNK)
        except TimeoutError as exc:
            if policy.deadline - (time.monotonic() - started) <= 0:
                raise DeadlineExceeded(f"{url}: no complete answer within {policy.deadline:g} s") from exc
            raise
        if not chunk:
            break
        chunks.append(chunk)
    body = b"".join(chunks)
    expected = response.headers.get("Content-Length", "")
    if expected.isdigit() and len(body) < int(expected):
        raise http.client.IncompleteRead(body, int(expected) - len(body))
    return body


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code in TRANSIENT_STATUS
    return isinstance(exc, urllib.error.URLError | OSError | http.client.HTTPException)


def _failure(exc: BaseException) -> tuple[str, bool]:
    """A short description of a failed try, and whether the host answered at all."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}", True
    if isinstance(exc, http.client.IncompleteRead):
        got = len(exc.partial)
        return f"body cut short ({got} of {got + (exc.expected or 0)} bytes)", True
    if isinstance(exc, http.client.HTTPException):
        return f"broken reply ({describe(exc)})", True
    if isinstance(exc, DeadlineExceeded):
        return str(exc).split(": ", 1)[-1], True
    return f"unreachable ({getattr(exc, 'reason', exc)})", False


def get_text(
    url: str,
    *,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    encoding: str = "utf-8-sig",
) -> str:
    """The body of ``url`` as text; ``SourceError`` (naming the URL) when it cannot be had."""

    def once() -> str:
        started = time.monotonic()
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "text/csv,*/*"})
        with urllib.request.urlopen(request, timeout=min(policy.timeout, policy.deadline)) as response:
            body = read_body(response, url, policy=policy, started=started)
        text = body.decode(encoding, errors="replace")
        if looks_like_html(text):
            raise SourceError(f"{url} returned an HTML page, not CSV", fix="check the URL or try again later")
        return text

    try:
        return call_with_retries(once, what=url, policy=policy, transient=_transient, sleep=sleep)
    except urllib.error.HTTPError as exc:  # not transient: 404, 403, ...
        raise SourceError(f"{url}: HTTP {exc.code} {exc.reason}", fix="check the URL or the series id") from exc
    except RetriesExhausted as exc:
        last, reached = _failure(exc.last)
        error = SourceError if reached else UnreachableError
        raise error(f"{url}: {last} after {policy.attempts} tries", fix="check the network or try again later") from exc
