"""The fast engine: numba kernels with exactly the backtest semantics of ``carryguard.backtests.engine.execution``.

Decision at bar t's close, fill at bar t+1's open through the shared ``rebalance()`` (the
same compiled function the backtrader engine calls), commission, slippage, rebalance band,
fractional sizes, cash; equity marked at each close. ``run_fast`` returns the same ``Book``
as ``run_backtrader``; the parity tests hold the two together. The sweeps' kernels, which
keep running sums instead of per-bar arrays, are in ``stat_kernels``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carryguard.backtests.engine.book import Book, Fills, make_book, utc_values
from carryguard.backtests.engine.execution import ExecutionConfig, check_inputs, rebalance
from carryguard.backtests.engine.jit import njit


def run_fast(bars: pd.DataFrame, target: pd.Series, config: ExecutionConfig = ExecutionConfig()) -> Book:
    """Run one book like ``run_backtrader``: ``bars`` (OHLCV, UTC index), ``target``
    exposure in [0, 1] decided at each bar's close (same index), starting with ``config.cash``."""
    check_inputs(bars, target)
    open_, close = ohlc_arrays(bars)
    cash, position, qty, price, fee = simulate(
        open_,
        close,
        target.to_numpy(dtype="float64"),
        config.cash,
        config.commission,
        config.slippage,
        config.rebalance_band,
    )
    filled = np.flatnonzero(qty)
    fills = Fills(utc_values(bars.index)[filled], qty[filled], price[filled], fee[filled])
    return make_book(bars, cash=cash, position=position, fills=fills, initial_cash=config.cash)


def ohlc_arrays(bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous float64 open and close arrays (what every kernel reads)."""
    return (
        np.ascontiguousarray(bars["open"].to_numpy(dtype="float64")),
        np.ascontiguousarray(bars["close"].to_numpy(dtype="float64")),
    )


@njit(cache=True)
def simulate(
    open_: np.ndarray,
    close: np.ndarray,
    target: np.ndarray,
    cash0: float,
    commission: float,
    slippage: float,
    band: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-bar cash and position after the bar's fill, and the fill (signed qty, price, fee;
    qty 0 when none). The decision at the last bar has no next open and is not executed."""
    n = close.shape[0]
    cash_out = np.empty(n)
    pos_out = np.empty(n)
    qty_out = np.zeros(n)
    price_out = np.zeros(n)
    fee_out = np.zeros(n)
    cash = cash0
    pos = 0.0
    for t in range(n):
        if t > 0:
            cash, pos, qty, price, fee = rebalance(cash, pos, open_[t], target[t - 1], commission, slippage, band)
            qty_out[t] = qty
            price_out[t] = price
            fee_out[t] = fee
        cash_out[t] = cash
        pos_out[t] = pos
    return cash_out, pos_out, qty_out, price_out, fee_out
