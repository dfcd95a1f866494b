"""The result of running one book (one strategy on one symbol with its own cash).

Every engine returns a ``Book``: equity, cash and position marked at each bar's close,
the fills, and the round-trip trades derived from the fills by ``trades_from_fills``
(the one definition of a trade, shared by all engines so their trade lists agree).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from carryguard.backtests.engine.jit import njit

FILL_COLUMNS = ("time", "side", "qty", "price", "fee")
TRADE_COLUMNS = ("entry_time", "exit_time", "entry_price", "exit_price", "qty", "pnl", "return_pct", "fees", "is_open")
FLAT_TOLERANCE = 1e-12  # a position below this share of the trade's peak size counts as flat


@dataclass(frozen=True)
class Book:
    """One book's history.

    equity, cash, position: float64 Series on the bars' index (values at each close;
        equity = cash + position * close).
    fills: one row per executed order, columns ``time, side ('buy'|'sell'), qty (> 0),
        price, fee``; ``time`` is the open time of the bar whose open it filled at.
    trades: round trips from ``trades_from_fills``.
    initial_cash: the starting cash (equity before the first bar).
    """

    equity: pd.Series
    cash: pd.Series
    position: pd.Series
    fills: pd.DataFrame
    trades: pd.DataFrame
    initial_cash: float


def empty_fills() -> pd.DataFrame:
    """A fills frame without rows, with ``FILL_COLUMNS``' dtypes (so tables concatenate cleanly)."""
    return pd.DataFrame(
        {
            "time": pd.DatetimeIndex([], tz="UTC"),
            "side": pd.Series([], dtype="object"),
            "qty": pd.Series([], dtype="float64"),
            "price": pd.Series([], dtype="float64"),
            "fee": pd.Series([], dtype="float64"),
        }
    )


def fills_frame(
    times: list[pd.Timestamp] | pd.Index,
    signed_qty: Sequence[float] | np.ndarray,
    prices: Sequence[float] | np.ndarray,
    fees: Sequence[float] | np.ndarray,
) -> pd.DataFrame:
    """Fills from parallel sequences; a positive quantity is a buy, a negative one a sell."""
    if not len(times):
        return empty_fills()
    qty = np.asarray(signed_qty, dtype="float64")
    return pd.DataFrame(
        {
            "time": times
            if isinstance(times, pd.DatetimeIndex) and str(times.tz) == "UTC"
            else pd.DatetimeIndex(times).tz_convert("UTC"),
            "side": np.where(qty > 0, "buy", "sell").astype(object),
            "qty": np.abs(qty),
            "price": np.asarray(prices, dtype="float64"),
            "fee": np.asarray(fees, dtype="float64"),
        }
    )


def make_book(
    bars: pd.DataFrame,
    *,
    cash: Sequence[float] | np.ndarray,
    position: Sequence[float] | np.ndarray,
    fills: pd.DataFrame,
    initial_cash: float,
    trades: pd.DataFrame | None = None,
) -> Book:
    """Assemble a ``Book`` from per-bar cash and position (after each bar's fills);
    ``trades`` are derived from ``fills`` unless the engine passes them."""
    index = bars.index
    close = bars["close"].to_numpy(dtype="float64")
    cash_values = np.asarray(cash, dtype="float64")
    position_values = np.asarray(position, dtype="float64")
    cash_s = pd.Series(cash_values, index=index, name="cash")
    position_s = pd.Series(position_values, index=index, name="position")
    equity = pd.Series(cash_values + position_values * close, index=index, name="equity")
    if trades is None:
        trades = trades_from_fills(fills, last_time=index[-1], last_close=float(close[-1]))
    return Book(
        equity=equity, cash=cash_s, position=position_s, fills=fills, trades=trades, initial_cash=float(initial_cash)
    )


def trades_from_fills(fills: pd.DataFrame, *, last_time: pd.Timestamp, last_close: float) -> pd.DataFrame:
    """Round trips: a trade opens when the position goes from 0 to > 0 and closes when it
    is back to 0; buys and sells in between belong to the same trade.

    entry_price / exit_price are quantity-weighted averages of the buys / sells; qty is
    the total bought; pnl = sell proceeds - buy cost - fees; return_pct = pnl / buy cost
    * 100. A trade still open is marked to ``last_close`` at ``last_time`` (its remaining
    quantity counts as sold there without fee) and has ``is_open`` True.
    """
    if fills.empty:
        return empty_trades()
    signed_qty = np.where(fills["side"].to_numpy(dtype=object) == "buy", 1.0, -1.0) * fills["qty"].to_numpy(
        dtype="float64"
    )
    return round_trips(
        pd.DatetimeIndex(fills["time"]),
        signed_qty,
        fills["price"].to_numpy(dtype="float64"),
        fills["fee"].to_numpy(dtype="float64"),
        last_time=last_time,
        last_close=last_close,
    )


def round_trips(
    times: pd.DatetimeIndex,
    signed_qty: np.ndarray,
    price: np.ndarray,
    fee: np.ndarray,
    *,
    last_time: pd.Timestamp,
    last_close: float,
) -> pd.DataFrame:
    """``trades_from_fills`` on fill arrays (a positive quantity is a buy): what engines
    that already hold arrays call, skipping the DataFrame round trip."""
    if not len(times):
        return empty_trades()
    count, first, last, sums = _round_trips(
        signed_qty > 0, np.abs(signed_qty), price, fee, float(last_close), FLAT_TOLERANCE
    )
    if count < 0:
        raise ValueError(f"sell at {times[-count - 1]} without an open position")
    bought, cost, sold, proceeds, fees = sums[:, :count]
    is_open = last[:count] < 0
    stamps = times.as_unit("ns").asi8
    exit_ns = np.where(is_open, pd.Timestamp(last_time).as_unit("ns").value, stamps[np.maximum(last[:count], 0)])
    pnl = proceeds - cost - fees
    with np.errstate(invalid="ignore", divide="ignore"):
        exit_price = np.where(sold > 0, proceeds / sold, np.nan)
    return pd.DataFrame(
        {
            "entry_time": utc_times(stamps[first[:count]]),
            "exit_time": utc_times(exit_ns),
            "entry_price": cost / bought,
            "exit_price": exit_price,
            "qty": bought,
            "pnl": pnl,
            "return_pct": pnl / cost * 100.0,
            "fees": fees,
            "is_open": is_open,
        }
    )


def utc_times(nanoseconds: np.ndarray) -> pd.DatetimeIndex:
    """UTC timestamps from epoch nanoseconds."""
    return pd.DatetimeIndex(nanoseconds.view("datetime64[ns]")).tz_localize("UTC")


def empty_trades() -> pd.DataFrame:
    """A trades frame without rows, with ``TRADE_COLUMNS``' dtypes."""
    frame = pd.DataFrame({c: pd.Series([], dtype="float64") for c in TRADE_COLUMNS})
    frame["entry_time"] = pd.DatetimeIndex([], tz="UTC")
    frame["exit_time"] = pd.DatetimeIndex([], tz="UTC")
    frame["is_open"] = frame["is_open"].astype(bool)
    return frame


@njit(cache=True)
def _round_trips(
    is_buy: np.ndarray, qty: np.ndarray, price: np.ndarray, fee: np.ndarray, last_close: float, tolerance: float
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """The fills walked in order. Returns (count, first fill, last fill (-1: still open),
    sums[bought, buy cost, sold, proceeds, fees]); count = -1 - i when fill i sells flat."""
    n = len(qty)
    first = np.empty(n + 1, np.int64)
    last = np.empty(n + 1, np.int64)
    sums = np.empty((5, n + 1))
    count, start = 0, -1
    position = peak = bought = cost = sold = proceeds = fees = 0.0
    for i in range(n):
        if is_buy[i]:
            if start < 0:
                start = i
            position += qty[i]
            bought += qty[i]
            cost += qty[i] * price[i]
        else:
            if start < 0:
                return -1 - i, first, last, sums
            position -= qty[i]
            sold += qty[i]
            proceeds += qty[i] * price[i]
        fees += fee[i]
        peak = max(peak, position)
        if start >= 0 and position <= tolerance * peak:
            first[count], last[count] = start, i
            sums[0, count], sums[1, count], sums[2, count], sums[3, count], sums[4, count] = (
                bought,
                cost,
                sold,
                proceeds,
                fees,
            )
            count += 1
            start = -1
            position = peak = bought = cost = sold = proceeds = fees = 0.0
    if start >= 0:
        first[count], last[count] = start, -1
        sums[0, count], sums[1, count] = bought, cost
        sums[2, count], sums[3, count], sums[4, count] = sold + position, proceeds + position * last_close, fees
        count += 1
    return count, first, last, sums
