"""Yahoo Finance bars through yfinance: crypto (``BTC-USD``), FX (``JPY=X``), yields (``^TNX``).

``yf.download`` returns MultiIndex ``(Price, Ticker)`` columns in alphabetical order
(``Adj Close, Close, High, ...``: the Close-first layout of yfinance exports) with
float32-rounded values and exchange-local dates; ``normalise_download`` turns that into
the frame contract: ``open, high, low, close, volume`` float64 on a UTC index. A daily
bar keeps its exchange-local date, stamped 00:00 UTC (so ``JPY=X``'s 2024-08-05 stays
2024-08-05, as in yfinance's CSV exports); intraday bars are converted to UTC. The bar
still open at ``now`` is dropped.

``$CARRYGUARD_YAHOO_URL`` (or ``base_url``) sends every Yahoo request to another host
(tests serve recorded responses on 127.0.0.1).
"""

from __future__ import annotations

import logging
import os
import re
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
from curl_cffi import requests as curl_requests

from carryguard.signals.availability import timeframe_delta
from carryguard.signals.errors import DataError, SourceError
from carryguard.signals.frames import OHLCV_COLUMNS
from carryguard.signals.sources.formats import Parsed
from carryguard.signals.sources.http import UnreachableError
from carryguard.signals.sources.retry import DeadlineExceeded, describe
from carryguard.signals.sources.update import UpdateResult, resume_start, store_update
from carryguard.signals.store import SeriesMeta, Store, series_id

YAHOO_HOST = re.compile(r"^https?://([a-z0-9-]+\.)*yahoo\.com", re.IGNORECASE)
NETWORK_ERROR = re.compile(r"\(\w*(Connection|DNS|Timeout|Proxy|SSL)\w*\)")  # curl_cffi's errors in yfinance warnings
INTERVALS = {"1m": "1m", "5m": "5m", "15m": "15m", "30m": "30m", "1h": "1h", "1d": "1d", "1w": "1wk"}


class RedirectSession(curl_requests.Session):
    """A curl_cffi session (the kind yfinance expects) that sends Yahoo requests to
    ``base_url`` (empty: Yahoo itself) and bounds them: each request at most ``timeout``
    seconds (yfinance asks 30 s for its cookie whatever it is told), all of them together
    ``deadline`` seconds from the first; failures are kept in ``failures`` so an empty
    download can be told from a delisted ticker."""

    def __init__(self, base_url: str = "", *, timeout: float = 30.0, deadline: float = 120.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")
        self.cap, self.deadline = timeout, deadline
        self.started: float | None = None
        self.failures: list[str] = []

    def request(self, method: curl_requests.HttpMethod, url: str, *args: Any, **kwargs: Any) -> Any:
        self.started = time.monotonic() if self.started is None else self.started
        left = self.deadline - (time.monotonic() - self.started)
        if left <= 0:
            self.failures.append(f"no complete answer within {self.deadline:g} s")
            raise DeadlineExceeded(f"Yahoo: no complete answer within {self.deadline:g} s")
        kwargs["timeout"] = min(kwargs.get("timeout") or self.cap, self.cap, left)
        try:
            return super().request(
                method, YAHOO_HOST.sub(self.base_url, url) if self.base_url else url, *args, **kwargs
            )
        except Exception as exc:
            self.failures.append(describe(exc))
            raise


def yahoo_session(base_url: str | None = None, *, timeout: float = 30.0, deadline: float = 120.0) -> RedirectSession:
    """A bounded session aimed at ``base_url`` / ``$CARRYGUARD_YAHOO_URL`` / Yahoo itself."""
    base = base_url or os.environ.get("CARRYGUARD_YAHOO_URL") or ""
    return RedirectSession(base, timeout=timeout, deadline=deadline)


def yahoo_meta(ticker: str, timeframe: str) -> SeriesMeta:
    """Metadata of ``yahoo/<ticker>/<timeframe>`` (FX and index tickers trade on weekdays;
    daily FX bars follow ``fx_snapshot``, see ``signals.availability.fx_times``)."""
    weekdays = ticker.endswith("=X") or ticker.startswith("^")
    units = "JPY per USD" if ticker == "JPY=X" else ("percent" if ticker.startswith("^") else "quote currency")
    if re.fullmatch(r"[A-Z]{6}=X", ticker):
        units = f"{ticker[3:6]} per {ticker[:3]}"
    return SeriesMeta(
        id=series_id("yahoo", ticker, timeframe),
        kind="ohlcv",
        source="yfinance",
        publisher="Yahoo Finance",
        symbol=ticker,
        fields=OHLCV_COLUMNS,
        units=units,
        availability="fx_snapshot" if ticker.endswith("=X") and timeframe == "1d" else "bar_close",
        timeframe=timeframe,
        frequency=f"{timeframe} (weekdays)" if weekdays else timeframe,
        origin=f"yfinance download {ticker} {timeframe}",
    )


def normalise_download(raw: pd.DataFrame, ticker: str, *, timeframe: str, now: pd.Timestamp) -> pd.DataFrame:
    """``yf.download`` output (MultiIndex or flat columns, exchange-local index) -> frame contract.

    Drops rows without a close and the bar still open at ``now``. ``DataError`` when the
    price columns are missing.
    """
    frame = raw
    if isinstance(frame.columns, pd.MultiIndex):
        level = next((i for i in range(frame.columns.nlevels) if ticker in frame.columns.get_level_values(i)), None)
        frame = frame.xs(ticker, axis=1, level=level) if level is not None else frame.droplevel(-1, axis=1)
    by_name = {str(c).strip().lower(): c for c in frame.columns}
    missing = [c for c in OHLCV_COLUMNS[:4] if c not in by_name]
    if missing:
        raise DataError(
            f"Yahoo Finance {ticker}: no {missing} columns in {list(frame.columns)}", fix="report the yfinance change"
        )
    out = pd.DataFrame({c: frame[by_name[c]] if c in by_name else 0.0 for c in OHLCV_COLUMNS}).astype("float64")
    out = out[out["close"].notna()]
    index = pd.DatetimeIndex(out.index)
    if index.tz is None:
        index = index.tz_localize("UTC")
    step = timeframe_delta(timeframe)
    daily = step >= pd.Timedelta(days=1)
    local_open = index.tz_localize(None).normalize().tz_localize(index.tz) if daily else index
    still_open = (local_open + step) > now
    out = out[~still_open]
    stamps = index[~still_open]
    out.index = (
        stamps.tz_localize(None).normalize().tz_localize("UTC") if daily else stamps.tz_convert("UTC")
    ).as_unit("ns")
    out.index.name = "time"
    return out.sort_index()


class _Collect(logging.Handler):
    """Keeps yfinance's warnings and errors: the only trace of why a download came back empty."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage().strip())


@contextmanager
def _quiet_yfinance() -> Iterator[_Collect]:
    """yfinance logs failures and pandas deprecations itself; carryguard reports them once."""
    logger = logging.getLogger("yfinance")
    saved = logger.level, logger.propagate, logger.handlers[:]
    collect = _Collect()
    logger.handlers, logger.propagate = [collect], False
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield collect
    finally:
        logger.setLevel(saved[0])
        logger.propagate, logger.handlers = saved[1], saved[2]


def download_yahoo(
    ticker: str,
    *,
    timeframe: str = "1d",
    start: pd.Timestamp | None = None,
    now: pd.Timestamp | None = None,
    session: Any = None,
    timeout: float = 30.0,
) -> Parsed:
    """Closed bars of ``ticker`` from ``start`` (default: all history) up to ``now``.

    ``session``: a curl_cffi session for yfinance (default ``yahoo_session()``).
    ``SourceError`` when Yahoo returns nothing (the message is yfinance's reason).
    """
    import yfinance as yf

    if timeframe not in INTERVALS:
        raise ValueError(f"timeframe must be one of {', '.join(INTERVALS)}, got {timeframe!r}")
    now = pd.Timestamp(now) if now is not None else pd.Timestamp.now(tz="UTC")
    session = session if session is not None else yahoo_session(timeout=timeout)
    window: dict[str, Any] = (
        {"start": pd.Timestamp(start).strftime("%Y-%m-%d")} if start is not None else {"period": "max"}
    )
    with _quiet_yfinance() as log:
        raw = yf.download(
            ticker,
            interval=INTERVALS[timeframe],
            auto_adjust=False,
            actions=False,
            progress=False,
            threads=False,
            multi_level_index=True,
            ignore_tz=False,
            session=session,
            timeout=timeout,
            **window,
        )
    if raw is None or raw.empty:
        # yfinance reports "possibly delisted" even when it never reached Yahoo; its warnings say why
        network = [m for m in log.messages if NETWORK_ERROR.search(m)]
        failures = getattr(session, "failures", [])
        if failures:  # it never got an answer: a timeout is not a delisted ticker
            raise UnreachableError(
                f"Yahoo Finance {ticker}: Yahoo unreachable ({failures[-1]})",
                fix="check the network or try again later",
            )
        if network:
            raise UnreachableError(
                f"Yahoo Finance {ticker}: Yahoo unreachable ({network[-1].splitlines()[0]})",
                fix="check the network or try again later",
            )
        reasons = [m.split(": ", 1)[-1] for m in log.messages if ticker.upper() in m]
        reason = (reasons[-1] if reasons else "no rows returned").splitlines()[0]
        raise SourceError(
            f"Yahoo Finance {ticker}: download failed ({reason})", fix="check the ticker or try again later"
        )
    frame = normalise_download(raw, ticker, timeframe=timeframe, now=now)
    return Parsed(frame, yahoo_meta(ticker, timeframe))


def update_yahoo(
    store: Store,
    ticker: str,
    *,
    timeframe: str = "1d",
    since: pd.Timestamp | None = None,
    now: pd.Timestamp | None = None,
    session: Any = None,
) -> UpdateResult:
    """Fetch what ``store`` lacks of ``yahoo/<ticker>/<timeframe>`` and write it once.

    Starts where ``update.resume_start`` says (a new series without ``since``: all
    history). Nothing is written on error.
    """
    start = resume_start(store, series_id("yahoo", ticker, timeframe), since)
    parsed = download_yahoo(ticker, timeframe=timeframe, start=start, now=now, session=session)
    return store_update(store, parsed.frame, parsed.meta)
