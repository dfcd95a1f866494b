"""One retry policy for every network call (MOF, FRED, ccxt, the paper loop).

``RetryPolicy`` says how often to try, how long to wait between tries (doubling), how
long one connect or read may block (``timeout``) and how long one whole request may take
(``deadline``: a server trickling one byte a second defeats a per-read timeout, never
the deadline). ``call_with_retries`` runs a call under that policy: each try is cut off
at the deadline (``DeadlineExceeded``, raised by a SIGALRM timer in the main thread),
transient failures are retried with backoff, and the last one comes back wrapped in
``RetriesExhausted`` for the caller to turn into its own one-line error.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class DeadlineExceeded(Exception):
    """A whole request ran past its deadline (a stalled or trickling server).

    Not a ``TimeoutError`` on purpose: HTTP libraries would rewrap that as a read timeout."""


class RetriesExhausted(Exception):
    """Every try of a call failed transiently; ``last`` is the last failure."""

    def __init__(self, what: str, attempts: int, last: BaseException) -> None:
        self.what, self.attempts, self.last = what, attempts, last
        super().__init__(f"{what} failed after {attempts} tries: {describe(last)}")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry a transient failure.

    ``attempts``: total tries (default 4); ``backoff``: first wait in seconds, doubled
    each retry (default 1.0); ``timeout``: seconds one connect or read may block
    (default 30); ``deadline``: seconds one whole try may take (default 120).
    """

    attempts: int = 4
    backoff: float = 1.0
    timeout: float = 30.0
    deadline: float = 120.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")
        finite = all(math.isfinite(v) for v in (self.backoff, self.timeout, self.deadline))
        if not finite or self.backoff < 0 or self.timeout <= 0 or self.deadline <= 0:
            raise ValueError("backoff must be a finite number >= 0; timeout and deadline finite and > 0")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (0-based)."""
        return self.backoff * (2**attempt)


def describe(exc: BaseException) -> str:
    """``TypeName: first line`` of an exception (at most 300 characters)."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:300]}" if text else type(exc).__name__


@contextmanager
def deadline(seconds: float, what: str) -> Iterator[None]:
    """Raise ``DeadlineExceeded`` inside the block once it has run ``seconds``.

    Uses a SIGALRM timer, which interrupts a blocking socket read; outside the main
    thread (where signals cannot be delivered) it does nothing, so callers that read
    bodies also check the clock between reads (``http.read_body``). An enclosing
    deadline is restored, shortened by the time spent, when the block ends."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise DeadlineExceeded(f"{what}: no complete answer within {seconds:g} s (server stalled or too slow)")

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, on_alarm)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 0.001))


def call_with_retries(
    call: Callable[[], T],
    *,
    what: str,
    policy: RetryPolicy,
    transient: Callable[[BaseException], bool],
    sleep: Callable[[float], object] = time.sleep,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> T:
    """``call()`` under ``policy``: each try cut off at the deadline; a failure for which
    ``transient`` is true (and every ``DeadlineExceeded``) is retried after the policy's
    delay (``on_retry(attempt, exc, delay)`` is told first); any other failure propagates
    at once; when the tries are used up, ``RetriesExhausted`` wraps the last failure."""
    for attempt in range(policy.attempts):
        try:
            with deadline(policy.deadline, what):
                return call()
        except Exception as exc:
            if not isinstance(exc, DeadlineExceeded) and not transient(exc):
                raise
            if attempt + 1 == policy.attempts:
                raise RetriesExhausted(what, policy.attempts, exc) from exc
            wait = policy.delay(attempt)
            if on_retry is not None:
                on_retry(attempt, exc, wait)
            sleep(wait)
    raise AssertionError("unreachable")
