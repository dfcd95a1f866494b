"""Perpetual-swap funding rates through ccxt's ``fetchFundingRateHistory`` (Binance USD-M).

A rate is stored at its funding time (snapped to the 8-hour grid: Binance stamps it a
few milliseconds late) and is usable from then (rule ``at_time``): it is settled and
charged at that moment. A stored series continues from its last funding time; only
funding times up to the exchange's clock exist, so nothing is stored before it settles.
``$CARRYGUARD_BINANCEUSDM_URL`` (or ``api_url``) sends every request to another host.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import ccxt
import pandas as pd

from carryguard.signals.errors import DataError
from carryguard.signals.sources.carry_formats import funding_meta, snap_funding_times
from carryguard.signals.sources.ccxt_source import make_exchange, to_millis, with_retries
from carryguard.signals.sources.retry import RetryPolicy
from carryguard.signals.sources.update import UpdateResult, resume_start, store_update
from carryguard.signals.store import Store

FUNDING_EXCHANGE = "binanceusdm"
FIRST_FUNDING = pd.Timestamp("2019-09-10 08:00", tz="UTC")  # Binance BTCUSDT perpetual's first funding
PAGE = 1000  # Binance's maximum rows per fundingRate request


def make_funding_exchange(*, api_url: str | None = None, timeout: float = 30.0) -> ccxt.Exchange:
    """ccxt's Binance USD-M client (linear swaps only)."""
    return make_exchange(FUNDING_EXCHANGE, api_url=api_url, timeout=timeout, market_types=("linear",))


def swap_symbol(symbol: str) -> str:
    """``BTC/USDT`` -> ccxt's linear perpetual ``BTC/USDT:USDT`` (already-swap symbols kept)."""
    if ":" in symbol:
        return symbol
    quote = symbol.split("/")[-1]
    return f"{symbol}:{quote}"


def fetch_funding(
    exchange: ccxt.Exchange,
    symbol: str,
    *,
    since: pd.Timestamp,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
) -> pd.DataFrame:
    """Every funding rate of ``symbol`` from ``since`` (inclusive), paged forward until a
    page adds nothing; a ``funding_rate`` frame on the 8-hour grid."""
    what = f"{exchange.id} {symbol} funding"
    market = swap_symbol(symbol)
    cursor, rows = to_millis(since), {}
    while True:
        page = with_retries(
            partial(exchange.fetch_funding_rate_history, market, since=cursor, limit=PAGE),
            what=what,
            policy=policy,
            sleep=sleep,
        )
        fresh = [r for r in page if r.get("timestamp") is not None and r["timestamp"] >= cursor]
        for record in fresh:
            if record.get("fundingRate") is None:
                raise DataError(f"{what}: no rate at {record['timestamp']} ms", fix="report the exchange response")
            rows[int(record["timestamp"])] = float(record["fundingRate"])
        if not fresh or len(page) < PAGE:
            break
        cursor = max(r["timestamp"] for r in fresh) + 1
    stamps = pd.DatetimeIndex(pd.to_datetime(sorted(rows), unit="ms", utc=True)).as_unit("ns")
    index = snap_funding_times(stamps, what, first_line=1)
    return pd.DataFrame({"funding_rate": [rows[k] for k in sorted(rows)]}, index=index)


def update_funding(
    store: Store,
    symbol: str = "BTC/USDT",
    *,
    exchange: ccxt.Exchange | None = None,
    since: pd.Timestamp | None = None,
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
) -> UpdateResult:
    """Fetch new funding rates of ``symbol`` into ``binance/<BASE-QUOTE>/funding`` (one write)."""
    exchange = exchange or make_funding_exchange(timeout=policy.timeout)
    meta = funding_meta(symbol, f"ccxt {exchange.id} fetchFundingRateHistory {swap_symbol(symbol)}")
    start = resume_start(store, meta.id, since) or FIRST_FUNDING
    frame = fetch_funding(exchange, symbol, since=start, policy=policy, sleep=sleep)
    return store_update(store, frame, meta)
