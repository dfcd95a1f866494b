"""OHLCV bars from any ccxt exchange, paged from a start time to now, stored incrementally.

``make_exchange`` builds ccxt's real client (rate limit on, spot markets only, base URL
overridable so tests point it at 127.0.0.1); ``fetch_bars`` pages through
``fetch_ohlcv`` within the exchange's page limit, retrying transient errors with
exponential backoff, and drops the bar still open at the exchange's clock;
``update_series`` continues a stored series from its last bar (re-fetching that bar, so
a bar stored while still forming is replaced) and writes once.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import ccxt
import numpy as np
import pandas as pd

from carryguard.signals.availability import timeframe_delta
from carryguard.signals.errors import DataError, SourceError
from carryguard.signals.frames import OHLCV_COLUMNS, check_bar_range
from carryguard.signals.sources.retry import RetriesExhausted, RetryPolicy, call_with_retries, describe
from carryguard.signals.sources.update import UpdateResult, resume_start, store_update
from carryguard.signals.store import SeriesMeta, Store, series_id

T = TypeVar("T")
DEFAULT_SINCE = pd.Timestamp("2017-01-01", tz="UTC")  # before Binance's first bar (2017-08-17)
DEFAULT_PAGE_LIMIT = 500  # when the exchange does not state its maximum
HOST = re.compile(r"^https?://[^/]+")


class GarbageResponse(ValueError):
    """The exchange answered, but with something that is not a valid bar list or time."""


@dataclass(frozen=True)
class PageEvent:
    """Progress of a paged download: bars so far, and where the cursor stands."""

    symbol: str
    timeframe: str
    bars: int
    cursor: pd.Timestamp
    now: pd.Timestamp


def api_url_from_env(exchange_id: str) -> str | None:
    """``$CARRYGUARD_<EXCHANGE>_URL`` (e.g. ``CARRYGUARD_BINANCE_URL``), if set."""
    return os.environ.get(f"CARRYGUARD_{exchange_id.upper()}_URL") or None


def make_exchange(
    exchange_id: str, *, api_url: str | None = None, timeout: float = 30.0, market_types: tuple[str, ...] = ("spot",)
) -> ccxt.Exchange:
    """ccxt's client for ``exchange_id`` with rate limiting on and only ``market_types`` loaded.

    ``api_url`` (default ``$CARRYGUARD_<EXCHANGE>_URL``) replaces the scheme and host of
    every REST endpoint, e.g. ``http://127.0.0.1:8080``. API keys are never set here:
    OHLCV is public data.
    """
    if exchange_id not in ccxt.exchanges:
        close = [e for e in ccxt.exchanges if e.startswith(exchange_id[:3].lower())][:5]
        hint = f"did you mean {', '.join(close)}?" if close else "see ccxt.exchanges for the ids"
        raise DataError(f"unknown exchange id {exchange_id!r}", fix=hint)
    exchange: ccxt.Exchange = getattr(ccxt, exchange_id)({"enableRateLimit": True, "timeout": int(timeout * 1000)})
    exchange.enableLastJsonResponse = True  # to tell a malformed body from an empty page
    fetch_markets = exchange.options.get("fetchMarkets")
    if isinstance(fetch_markets, dict) and "types" in fetch_markets:
        exchange.options["fetchMarkets"] = {**fetch_markets, "types": list(market_types)}
    base = api_url or api_url_from_env(exchange_id)
    if base:
        exchange.urls["api"] = rebase_urls(exchange.urls["api"], base.rstrip("/"), exchange.hostname)
    return exchange


def rebase_urls(urls: Any, base: str, hostname: str | None = None) -> Any:
    """Every URL in ccxt's (nested) ``urls['api']`` with its scheme and host replaced by
    ``base`` (``{hostname}`` placeholders filled first); the paths stay."""
    if isinstance(urls, dict):
        return {key: rebase_urls(value, base, hostname) for key, value in urls.items()}
    if isinstance(urls, str):
        url = urls.replace("{hostname}", hostname or "")
        return HOST.sub(base, url)
    return urls


def with_retries(call: Callable[[], T], *, what: str, policy: RetryPolicy, sleep: Callable[[float], None]) -> T:
    """Run ``call`` under ``policy`` (``retry.call_with_retries``: a deadline per try, backoff).

    ccxt's transient errors (network, timeout, 429, 5xx) and a try past the deadline are
    retried; the last one becomes ``SourceError``; ccxt's ``BadSymbol`` becomes
    ``DataError``; any other exchange error ``SourceError`` at once.
    """
    try:
        return call_with_retries(
            call, what=what, policy=policy, transient=lambda exc: isinstance(exc, ccxt.NetworkError), sleep=sleep
        )
    except RetriesExhausted as exc:
        raise SourceError(str(exc), fix="check the network or try again later") from exc
    except ccxt.BadSymbol as exc:
        raise DataError(f"{what}: {describe(exc).split(': ', 1)[-1]}", fix="check the symbol, e.g. BTC/USDT") from exc
    except ccxt.BaseError as exc:
        raise SourceError(f"{what}: {describe(exc)}") from exc


def parse_ohlcv_rows(rows: object, step: pd.Timedelta) -> pd.DataFrame:
    """ccxt OHLCV rows -> bar frame (the paper loop's reader of ``fetch_ohlcv``); anything
    malformed raises ``GarbageResponse``: not a list of 6-number rows, empty values, times
    not strictly increasing or off the ``step`` grid, non-positive prices, high < low, an
    open or close outside low..high, negative volume."""
    if not isinstance(rows, list):
        raise GarbageResponse(f"OHLCV reply is {type(rows).__name__}, not a list")
    try:
        values = np.asarray(rows, dtype="float64")
    except (TypeError, ValueError) as exc:
        raise GarbageResponse(f"OHLCV reply has a malformed row ({str(exc)[:80]})") from exc
    if values.ndim != 2 or values.shape[1] != 6:
        raise GarbageResponse(f"OHLCV reply rows are not [time, open, high, low, close, volume] (shape {values.shape})")
    if np.isnan(values).any():
        raise GarbageResponse("OHLCV reply has empty values")
    index = pd.DatetimeIndex(pd.to_datetime(values[:, 0].astype("int64"), unit="ms", utc=True), name="time").as_unit(
        "ns"
    )
    frame = pd.DataFrame(values[:, 1:], index=index, columns=["open", "high", "low", "close", "volume"])
    if not index.is_monotonic_increasing or index.has_duplicates:
        raise GarbageResponse("OHLCV reply is not in strictly increasing time order")
    if ((index.asi8 % step.value) != 0).any() and step <= pd.Timedelta(days=1):
        raise GarbageResponse(f"OHLCV reply has bars not aligned to the {step} grid")
    prices = frame[["open", "high", "low", "close"]]
    if (prices <= 0).any().any() or (frame["high"] < frame["low"]).any() or (frame["volume"] < 0).any():
        raise GarbageResponse("OHLCV reply has non-positive prices, high < low or negative volume")
    try:
        check_bar_range(frame, "OHLCV reply")
    except DataError as exc:
        raise GarbageResponse(str(exc)) from exc
    return frame


def to_millis(ts: pd.Timestamp) -> int:
    """Epoch milliseconds, the time unit of ccxt."""
    return int(pd.Timestamp(ts).value // 1_000_000)


def check_market(
    exchange: ccxt.Exchange, symbol: str, timeframe: str, *, policy: RetryPolicy, sleep: Callable[[float], None]
) -> None:
    """Load markets (with retries) and reject an unknown symbol or timeframe with ``DataError``."""
    with_retries(exchange.load_markets, what=f"{exchange.id} load_markets", policy=policy, sleep=sleep)
    if not exchange.has.get("fetchOHLCV"):
        raise DataError(f"exchange {exchange.id} does not serve OHLCV through ccxt", fix="pick another exchange")
    if symbol not in exchange.markets:
        quote = symbol.split("/")[-1] if "/" in symbol else "USDT"
        examples = [s for s in exchange.symbols if s.endswith(f"/{quote}")][:5] or exchange.symbols[:5]
        raise DataError(
            f"unknown symbol {symbol!r} on {exchange.id}", fix=f"use a market symbol such as {', '.join(examples)}"
        )
    if timeframe not in (exchange.timeframes or {}):
        raise DataError(
            f"timeframe {timeframe!r} not supported by {exchange.id}",
            fix=f"use one of {', '.join(exchange.timeframes or {})}",
        )
    try:
        timeframe_delta(timeframe)
    except ValueError as exc:  # e.g. ccxt's 1M: bars of varying length have no gap or close rule
        raise DataError(
            f"timeframe {timeframe!r} is not a fixed bar length carryguard can store",
            fix="use seconds, minutes, hours, days or weeks, e.g. 1h, 4h, 1d, 1w",
        ) from exc


def exchange_now(exchange: ccxt.Exchange, *, policy: RetryPolicy, sleep: Callable[[float], None]) -> pd.Timestamp:
    """The exchange's clock (``fetch_time``) where it has one, else the local clock."""
    if exchange.has.get("fetchTime"):
        millis = with_retries(exchange.fetch_time, what=f"{exchange.id} fetch_time", policy=policy, sleep=sleep)
        if millis:
            return pd.Timestamp(int(millis), unit="ms", tz="UTC")
    return pd.Timestamp.now(tz="UTC")


def page_limit_of(exchange: ccxt.Exchange) -> int:
    """Bars per ``fetch_ohlcv`` call the exchange allows (ccxt's ``features``), else 500."""
    features = (getattr(exchange, "features", None) or {}).get("spot") or {}
    limit = (features.get("fetchOHLCV") or {}).get("limit")
    return int(limit) if limit else DEFAULT_PAGE_LIMIT


def fetch_bars(
    exchange: ccxt.Exchange,
    symbol: str,
    timeframe: str,
    *,
    since: pd.Timestamp,
    now: pd.Timestamp | None = None,
    page_limit: int | None = None,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    on_page: Callable[[PageEvent], None] | None = None,
) -> pd.DataFrame:
    """Closed bars of ``symbol`` opened from ``since`` up to ``now`` (default: exchange clock).

    Pages of at most ``page_limit`` bars (default: the exchange's maximum) ask for an
    explicit window ``[cursor, cursor + limit bars)``; a short page continues after its
    last bar, an empty one after its window (exchange outages leave gaps). Bars whose
    close is after ``now`` are dropped. Returns a frame obeying the OHLCV contract
    (possibly empty). Errors: ``DataError`` (unknown symbol/timeframe), ``SourceError``
    (unreachable, persistent 429/5xx, malformed answers).
    """
    if page_limit is not None and page_limit < 1:
        raise ValueError(f"page_limit must be >= 1, got {page_limit}")
    check_market(exchange, symbol, timeframe, policy=policy, sleep=sleep)
    now = pd.Timestamp(now) if now is not None else exchange_now(exchange, policy=policy, sleep=sleep)
    limit = page_limit or page_limit_of(exchange)
    step = int(exchange.parse_timeframe(timeframe) * 1000)
    now_ms, cursor = to_millis(now), to_millis(since)
    rows: dict[int, list[float]] = {}
    what = f"{exchange.id} fetch_ohlcv {symbol} {timeframe}"
    while cursor + step <= now_ms:  # a bar opened later cannot have closed by now
        until = min(cursor + limit * step - 1, now_ms)
        page = with_retries(
            partial(_page, exchange, symbol, timeframe, cursor, until, limit), what=what, policy=policy, sleep=sleep
        )
        inside = [bar for bar in page if cursor <= bar[0] <= until]
        for bar in inside:
            values = [float(v) if v is not None else float("nan") for v in bar[1:6]]
            known = rows.setdefault(int(bar[0]), values)
            if known[:4] != values[:4]:  # the same bar twice with other prices: which one is true?
                when = pd.Timestamp(int(bar[0]), unit="ms", tz="UTC").isoformat()
                raise SourceError(
                    f"{what}: bar {when} came twice with different prices (close {known[3]:g} and {values[3]:g})",
                    fix="try again later; nothing was stored",
                )
        last = max((int(bar[0]) for bar in inside), default=None)
        cursor = last + step if last is not None and last + step <= until else until + 1
        if on_page is not None:
            on_page(
                PageEvent(symbol, timeframe, len(rows), pd.Timestamp(min(cursor, now_ms), unit="ms", tz="UTC"), now)
            )
    closed = sorted(t for t in rows if t + step <= now_ms)
    index = pd.DatetimeIndex(pd.to_datetime(closed, unit="ms", utc=True), name="time").as_unit("ns")
    frame = pd.DataFrame([rows[t] for t in closed], index=index, columns=list(OHLCV_COLUMNS), dtype="float64")
    if frame.isna().any().any():
        raise SourceError(
            f"{what}: bars with empty prices at {frame.index[frame.isna().any(axis=1)][0].isoformat()}",
            fix="try again later or report the exchange data",
        )
    return frame


def _page(exchange: ccxt.Exchange, symbol: str, timeframe: str, start: int, until: int, limit: int) -> list:
    """One ``fetch_ohlcv`` call; an empty page whose body was not JSON is a (retried) NetworkError."""
    page = exchange.fetch_ohlcv(symbol, timeframe, since=start, limit=limit, params={"until": until})
    if not page and exchange.last_json_response is None and exchange.last_http_response:
        raise ccxt.NetworkError(f"response is not JSON: {str(exchange.last_http_response)[:80]!r}")
    return page


def ohlcv_meta(exchange: ccxt.Exchange, symbol: str, timeframe: str, *, fetched_at: str = "") -> SeriesMeta:
    """Metadata of a ccxt bar series: id ``<exchange id>/<BASE-QUOTE>/<timeframe>``."""
    market = exchange.markets.get(symbol, {}) if exchange.markets else {}
    base, quote = market.get("base") or symbol.split("/")[0], market.get("quote") or symbol.split("/")[-1]
    return SeriesMeta(
        id=series_id(exchange.id, symbol, timeframe),
        kind="ohlcv",
        source="ccxt",
        publisher=str(exchange.name),
        symbol=symbol,
        fields=OHLCV_COLUMNS,
        units=f"{quote}; volume in {base}",
        frequency=timeframe,
        availability="bar_close",
        timeframe=timeframe,
        fetched_at=fetched_at,
        origin=f"ccxt {exchange.id} fetch_ohlcv {symbol} {timeframe}",
    )


def update_series(
    store: Store,
    exchange: ccxt.Exchange,
    symbol: str,
    timeframe: str,
    *,
    since: pd.Timestamp | None = None,
    now: pd.Timestamp | None = None,
    page_limit: int | None = None,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    on_page: Callable[[PageEvent], None] | None = None,
) -> UpdateResult:
    """Fetch what ``store`` lacks of one series and write it once (merge).

    Starts where ``update.resume_start`` says (a new series without ``since``: at
    ``DEFAULT_SINCE``). On any error nothing is written.
    """
    start = resume_start(store, series_id(exchange.id, symbol, timeframe), since)
    frame = fetch_bars(
        exchange,
        symbol,
        timeframe,
        since=DEFAULT_SINCE if start is None else start,
        now=now,
        page_limit=page_limit,
        policy=policy,
        sleep=sleep,
        on_page=on_page,
    )
    return store_update(store, frame, ohlcv_meta(exchange, symbol, timeframe))
