"""The result of running one book (one strategy on one symbol with its own cash).

Every engine returns a ``Book``: equity, cash and position marked at each bar's close,
the fills, and the round-trip trades derived from the fills by ``trades_from_fills``
(the one definition of a trade, shared by all engines so their trade lists agree).
A book holds plain arrays (what the metrics and the run-folder writer read); its pandas
frames (``equity``, ``fills``, ``trades`` ...) are built on first use only, so a study
of a hundred books never builds the ones nobody looks at.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from carryguard.backtests.engine.jit import njit

FILL_COLUMNS = ("time", "side", "qty", "price", "fee")
TRADE_COLUMNS = ("entry_time", "exit_time", "entry_price", "exit_price", "qty", "pnl", "return_pct", "fees", "is_open")
FLAT_TOLERANCE = 1e-12  # a position below this share of the trade's peak size counts as flat


@dataclass(frozen=True)
class Fills:
    """A book's fills as arrays: ``time`` (UTC epoch nanoseconds of the bar whose open it
    filled at), signed ``qty`` (> 0 a buy, < 0 a sell), ``price`` and ``fee``."""

    time: np.ndarray
    qty: np.ndarray
    price: np.ndarray
    fee: np.ndarray

    def frame(self) -> pd.DataFrame:
        """The ``FILL_COLUMNS`` frame (``Book.fills``)."""
        return fills_frame(utc_times(self.time), self.qty, self.price, self.fee)


@dataclass(frozen=True)
class Trades:
    """Round trips as arrays, one element per trade (``TRADE_COLUMNS``; times as UTC
    epoch nanoseconds)."""

    entry_time: np.ndarray
    exit_time: np.ndarray
    entry_price: np.ndarray
    exit_price: np.ndarray
    qty: np.ndarray
    pnl: np.ndarray
    return_pct: np.ndarray
    fees: np.ndarray
    is_open: np.ndarray

    def frame(self) -> pd.DataFrame:
        """The ``TRADE_COLUMNS`` frame (``Book.trades``)."""
        if not len(self.pnl):
            return empty_trades()
        return pd.DataFrame(
            {
                "entry_time": utc_times(self.entry_time),
                "exit_time": utc_times(self.exit_time),
                "entry_price": self.entry_price,
                "exit_price": self.exit_price,
                "qty": self.qty,
                "pnl": self.pnl,
                "return_pct": self.return_pct,
                "fees": self.fees,
                "is_open": self.is_open,
            }
        )


@dataclass(frozen=True)
class Book:
    """One book's history, as arrays on the bars' ``index`` (values at each close:
    ``equity_values = cash_values + position_values * close``), ``fill_arrays``,
    ``trade_arrays`` (round trips from ``trades_from_fills``) and ``initial_cash`` (the
    equity before the first bar). The frames below are built from them on first use:

    equity, cash, position: float64 Series on the bars' index.
    fills: one row per executed order, columns ``time, side ('buy'|'sell'), qty (> 0),
        price, fee``; ``time`` is the open time of the bar whose open it filled at.
    trades: the round trips, columns ``TRADE_COLUMNS``.
    """

    index: pd.DatetimeIndex
    equity_values: np.ndarray
    cash_values: np.ndarray
    position_values: np.ndarray
    fill_arrays: Fills
    trade_arrays: Trades
    initial_cash: float

    @cached_property
    def equity(self) -> pd.Series:
        return pd.Series(self.equity_values, index=self.index, name="equity")

    @cached_property
    def cash(self) -> pd.Series:
        return pd.Series(self.cash_values, index=self.index, name="cash")

    @cached_property
    def position(self) -> pd.Series:
        return pd.Series(self.position_values, index=self.index, name="position")

    @cached_property
    def fills(self) -> pd.DataFrame:
        return self.fill_arrays.frame()

    @cached_property
    def trades(self) -> pd.DataFrame:
        return self.trade_arrays.frame()


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


def fill_arrays(fills: pd.DataFrame) -> Fills:
    """A ``fills_frame`` as ``Fills`` arrays (times keep their unit)."""
    signed = np.where(fills["side"].to_numpy(dtype=object) == "buy", 1.0, -1.0) * fills["qty"].to_numpy(dtype="float64")
    return Fills(
        utc_values(pd.Index(fills["time"])),
        signed,
        fills["price"].to_numpy(dtype="float64"),
        fills["fee"].to_numpy(dtype="float64"),
    )


def make_book(
    bars: pd.DataFrame,
    *,
    cash: Sequence[float] | np.ndarray,
    position: Sequence[float] | np.ndarray,
    fills: pd.DataFrame | Fills,
    initial_cash: float,
) -> Book:
    """Assemble a ``Book`` from per-bar cash and position (after each bar's fills) and the
    fills (a ``fills_frame`` or ``Fills``); the trades are derived from the fills."""
    index = bars.index
    close = bars["close"].to_numpy(dtype="float64")
    cash_values = np.asarray(cash, dtype="float64")
    position_values = np.asarray(position, dtype="float64")
    fill_values = fills if isinstance(fills, Fills) else fill_arrays(fills)
    trades = trade_arrays(fill_values, last_time=index[-1], last_close=float(close[-1]))
    return Book(
        index,
        cash_values + position_values * close,
        cash_values,
        position_values,
        fill_values,
        trades,
        float(initial_cash),
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
    return trade_arrays(fill_arrays(fills), last_time=last_time, last_close=last_close).frame()


def trade_arrays(fills: Fills, *, last_time: pd.Timestamp, last_close: float) -> Trades:
    """``trades_from_fills`` on ``Fills`` arrays (what engines that hold arrays call,
    skipping the DataFrame round trip); times in nanoseconds."""
    if not len(fills.qty):
        nothing, never = np.empty(0), np.empty(0, dtype="datetime64[ns]")
        return Trades(never, never, nothing, nothing, nothing, nothing, nothing, nothing, np.empty(0, dtype=bool))
    signed_qty = fills.qty
    count, first, last, sums = _round_trips(
        signed_qty > 0, np.abs(signed_qty), fills.price, fills.fee, float(last_close), FLAT_TOLERANCE
    )
    if count < 0:
        raise ValueError(f"sell at {utc_times(fills.time)[-count - 1]} without an open position")
    bought, cost, sold, proceeds, fees = sums[:, :count]
    is_open = last[:count] < 0
    stamps = fills.time.astype("datetime64[ns]").view("int64")
    exit_ns = np.where(is_open, pd.Timestamp(last_time).as_unit("ns").value, stamps[np.maximum(last[:count], 0)])
    pnl = proceeds - cost - fees
    with np.errstate(invalid="ignore", divide="ignore"):
        exit_price = np.where(sold > 0, proceeds / sold, np.nan)
    return Trades(
        stamps[first[:count]].view("datetime64[ns]"),
        exit_ns.view("datetime64[ns]"),
        cost / bought,
        exit_price,
        bought,
        pnl,
        pnl / cost * 100.0,
        fees,
        is_open,
    )


def utc_values(index: pd.Index) -> np.ndarray:
    """A time index's UTC values as naive ``datetime64`` of its own unit (``utc_times``'s inverse)."""
    times = index if isinstance(index, pd.DatetimeIndex) else pd.DatetimeIndex(index)
    return times.asi8.view(f"datetime64[{times.unit}]")


def utc_times(times: np.ndarray) -> pd.DatetimeIndex:
    """UTC timestamps from naive UTC ``datetime64`` values (their unit kept)."""
    return pd.DatetimeIndex(times).tz_localize("UTC")


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
