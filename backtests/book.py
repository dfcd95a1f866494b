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
    return pd.DataFrame({
        "time": pd.DatetimeIndex([], tz="UTC"), "side": pd.Series([], dtype="object"),
        "qty": pd.Series([], dtype="float64"), "price": pd.Series([], dtype="float64"),
        "fee": pd.Series([], dtype="float64"),
    })


def fills_frame(times: Sequence[pd.Timestamp], signed_qty: Sequence[float], prices: Sequence[float],
                fees: Sequence[float]) -> pd.DataFrame:
    """Fills from parallel sequences; a positive quantity is a buy, a negative one a sell."""
    if not len(times):
        return empty_fills()
    qty = np.asarray(signed_qty, dtype="float64")
    return pd.DataFrame({
        "time": pd.DatetimeIndex(times).tz_convert("UTC"),
        "side": np.where(qty > 0, "buy", "sell").astype(object),
        "qty": np.abs(qty),
        "price": np.asarray(prices, dtype="float64"),
        "fee": np.asarray(fees, dtype="float64"),
    })


def make_book(bars: pd.DataFrame, *, cash: Sequence[float], position: Sequence[float], fills: pd.DataFrame,
              initial_cash: float) -> Book:
    """Assemble a ``Book`` from per-bar cash and position (after each bar's fills)."""
    index = bars.index
    cash_s = pd.Series(np.asarray(cash, dtype="float64"), index=index, name="cash")
    position_s = pd.Series(np.asarray(position, dtype="float64"), index=index, name="position")
    equity = (cash_s + position_s * bars["close"]).rename("equity")
    trades = trades_from_fills(fills, last_time=index[-1], last_close=float(bars["close"].iloc[-1]))
    return Book(equity=equity, cash=cash_s, position=position_s, fills=fills, trades=trades,
                initial_cash=float(initial_cash))


def trades_from_fills(fills: pd.DataFrame, *, last_time: pd.Timestamp, last_close: float) -> pd.DataFrame:
    """Round trips: a trade opens when the position goes from 0 to > 0 and closes when it
    is back to 0; buys and sells in between belong to the same trade.

    entry_price / exit_price are quantity-weighted averages of the buys / sells; qty is
    the total bought; pnl = sell proceeds - buy cost - fees; return_pct = pnl / buy cost
    * 100. A trade still open is marked to ``last_close`` at ``last_time`` (its remaining
    quantity counts as sold there without fee) and has ``is_open`` True.
    """
    rows: list[dict] = []
    position = peak = bought = buy_cost = sold = proceeds = fees = 0.0
    entry_time = None
    for time, side, qty, price, fee in fills[list(FILL_COLUMNS)].itertuples(index=False):
        if side == "buy":
            if entry_time is None:
                entry_time = time
            position += qty
            bought += qty
            buy_cost += qty * price
        else:
            if entry_time is None:
                raise ValueError(f"sell at {time} without an open position")
            position -= qty
            sold += qty
            proceeds += qty * price
        fees += fee
        peak = max(peak, position)
        if entry_time is not None and position <= FLAT_TOLERANCE * peak:
            rows.append(_trade(entry_time, time, bought, buy_cost, sold, proceeds, fees, is_open=False))
            position = peak = bought = buy_cost = sold = proceeds = fees = 0.0
            entry_time = None
    if entry_time is not None:
        rows.append(_trade(entry_time, last_time, bought, buy_cost, sold + position, proceeds + position * last_close,
                           fees, is_open=True))
    if not rows:
        frame = pd.DataFrame({c: pd.Series([], dtype="float64") for c in TRADE_COLUMNS})
        frame["entry_time"] = pd.DatetimeIndex([], tz="UTC")
        frame["exit_time"] = pd.DatetimeIndex([], tz="UTC")
        frame["is_open"] = frame["is_open"].astype(bool)
        return frame
    return pd.DataFrame(rows, columns=list(TRADE_COLUMNS))


def _trade(entry_time: pd.Timestamp, exit_time: pd.Timestamp, bought: float, buy_cost: float, sold: float,
           proceeds: float, fees: float, *, is_open: bool) -> dict:
    pnl = proceeds - buy_cost - fees
    return {
        "entry_time": entry_time, "exit_time": exit_time,
        "entry_price": buy_cost / bought, "exit_price": proceeds / sold if sold > 0 else float("nan"),
        "qty": bought, "pnl": pnl, "return_pct": pnl / buy_cost * 100.0, "fees": fees, "is_open": is_open,
    }
