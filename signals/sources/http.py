"""Plain HTTP GET for the CSV publishers (MOF, FRED): retries, then a clear error.

Uses the standard library so the downloaders need nothing beyond Python itself. A
transient failure (connection refused/reset, timeout, 429, 5xx) is retried with
exponential backoff; anything else, or the last failure, raises ``SourceError`` naming
the URL. A 200 response that is an HTML page (a portal's error page) is rejected too.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from carryguard.signals.errors import SourceError
from carryguard.signals.sources.formats import looks_like_html

USER_AGENT = "carryguard (+https://github.com/carryguard)"
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class UnreachableError(SourceError):
    """The host could not be reached at all (no connection, DNS failure, timeouts)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a transient failure.

    ``attempts``: total tries (default 4); ``backoff``: first wait in seconds, doubled
    each retry (default 1.0); ``timeout``: seconds per request (default 30).
    """

    attempts: int = 4
    backoff: float = 1.0
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")
        if self.backoff < 0 or self.timeout <= 0:
            raise ValueError("backoff must be >= 0 and timeout > 0")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (0-based)."""
        return self.backoff * (2**attempt)


def get_text(
    url: str,
    *,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    encoding: str = "utf-8-sig",
) -> str:
    """The body of ``url`` as text; ``SourceError`` (naming the URL) when it cannot be had."""
    last, reached = "", False
    for attempt in range(policy.attempts):
        try:
            request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "text/csv,*/*"})
            with urllib.request.urlopen(request, timeout=policy.timeout) as response:
                body = response.read()
            text = body.decode(encoding, errors="replace")
            if looks_like_html(text):
                raise SourceError(f"{url} returned an HTML page, not CSV", fix="check the URL or try again later")
            return text
        except urllib.error.HTTPError as exc:
            last, reached = f"HTTP {exc.code} {exc.reason}", True
            if exc.code not in TRANSIENT_STATUS:
                raise SourceError(f"{url}: {last}", fix="check the URL or the series id") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            last, reached = f"unreachable ({reason})", False
        if attempt + 1 < policy.attempts:
            sleep(policy.delay(attempt))
    error = SourceError if reached else UnreachableError
    raise error(f"{url}: {last} after {policy.attempts} tries", fix="check the network or try again later")
