"""The paper loop's view of the exchange: its clock and one market's bars, checked and retried.

Every call runs under the shared retry policy (``retry.call_with_retries``: a deadline per
try, exponential backoff); a stop request ends the waiting. Replies are checked before the
loop sees them: a clock that is not a millisecond timestamp, or bars that
``ccxt_source.parse_ohlcv_rows`` rejects, count as a failed try like a network error. What
still fails after the last try is ``ExchangeUnavailable``, which the loop records as a
skipped bar. The loop judges every freshness and lag rule on this clock, never the local one.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import ccxt
import pandas as pd

from carryguard.signals.availability import timeframe_delta
from carryguard.signals.errors import SourceError
from carryguard.signals.sources.ccxt_source import GarbageResponse, parse_ohlcv_rows
from carryguard.signals.sources.retry import RetriesExhausted, RetryPolicy, call_with_retries, describe

log = logging.getLogger("carryguard.paper")
RETRYABLE = (ccxt.BaseError, GarbageResponse, ValueError, TypeError, KeyError)
T = TypeVar("T")


class ExchangeUnavailable(SourceError):
    """An exchange call still failed after every retry."""


class Exchange(Protocol):
    """What the loop calls on its exchange client (a ccxt exchange or a stand-in); the replies
    are checked here, so they are typed as whatever the client returns."""

    def fetch_time(self) -> Any: ...

    def fetch_ohlcv(self, symbol: str, timeframe: str, since: int | None = None, limit: int | None = None) -> Any: ...


class ExchangeFeed:
    """The clock and the ``symbol`` ``timeframe`` bars of one exchange client."""

    def __init__(
        self, exchange: Exchange, *, symbol: str, timeframe: str, policy: RetryPolicy, stop: threading.Event
    ) -> None:
        self.exchange, self.symbol, self.timeframe = exchange, symbol, timeframe
        self.step = timeframe_delta(timeframe)
        self.policy, self.stop = policy, stop

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()`` under the retry policy; ``ExchangeUnavailable`` once it gives up."""

        def on_retry(attempt: int, exc: BaseException, wait: float) -> None:
            log.warning(
                "%s failed (attempt %d/%d): %s; retrying in %.2fs",
                what,
                attempt + 1,
                self.policy.attempts,
                describe(exc),
                wait,
            )

        try:
            return call_with_retries(
                fn,
                what=what,
                policy=self.policy,
                transient=lambda exc: isinstance(exc, RETRYABLE) and not self.stop.is_set(),
                sleep=self.stop.wait,
                on_retry=on_retry,
            )
        except RetriesExhausted as exc:
            raise ExchangeUnavailable(f"{what} failed after {exc.attempts} attempt(s): {describe(exc.last)}") from exc
        except RETRYABLE as exc:  # a stop request ended the retries
            raise ExchangeUnavailable(f"{what} failed (stopping): {describe(exc)}") from exc

    def now(self) -> pd.Timestamp:
        """The exchange's clock."""

        def fetch() -> pd.Timestamp:
            ms = self.exchange.fetch_time()
            if not isinstance(ms, int | float) or isinstance(ms, bool) or not 1e12 <= ms < 1e14:
                raise GarbageResponse(f"server time {ms!r} is not a millisecond timestamp")
            return pd.Timestamp(int(ms), unit="ms", tz="UTC")

        return self._call("fetch_time", fetch)

    def bars(self, since: pd.Timestamp | None, *, limit: int) -> pd.DataFrame:
        """Up to ``limit`` bars opened from ``since`` (the newest when None), the still-open
        one included: the caller picks the closed bars it may decide on."""
        since_ms = None if since is None else int(since.value // 1_000_000)

        def fetch() -> pd.DataFrame:
            rows = self.exchange.fetch_ohlcv(self.symbol, self.timeframe, since=since_ms, limit=limit)
            if isinstance(rows, list) and not rows:  # closed bars were asked for: ccxt's answer to an unparseable body
                body = str(getattr(self.exchange, "last_http_response", "") or "")[:80]
                raise GarbageResponse(f"empty or unparseable OHLCV reply {body!r}")
            return parse_ohlcv_rows(rows, self.step)

        return self._call(f"fetch_ohlcv {self.symbol} {self.timeframe}", fetch)
