"""The reference event-driven engine: one backtrader run per book.

Semantics (``carryguard.backtests.engine.execution``): the target exposure decided at bar t's close is read
in ``next()``; at bar t+1 ``next_open()`` (``cheat_on_open``) sizes the order with the
shared ``rebalance()`` at t+1's open, and the broker fills it at that open with slippage
``open * (1 +/- s)`` (exact, also when the open is the bar's high or low) and commission
``commission * qty * price``. Equity, cash and position are recorded at every close.
"""

from __future__ import annotations

import math

import backtrader as bt
import pandas as pd

from carryguard.backtests.engine.book import Book, fills_frame, make_book
from carryguard.backtests.engine.execution import ExecutionConfig, check_inputs, rebalance


def run_backtrader(bars: pd.DataFrame, target: pd.Series, config: ExecutionConfig = ExecutionConfig()) -> Book:
    """Run one book: ``bars`` (OHLCV, UTC index), ``target`` exposure in [0, 1] decided at
    each bar's close (same index), starting with ``config.cash``."""
    check_inputs(bars, target)
    cerebro = bt.Cerebro(stdstats=False, cheat_on_open=True, maxcpus=1)
    feed = bt.feeds.PandasData(dataname=bars.tz_convert(None), openinterest=None)
    cerebro.adddata(feed)
    broker = cerebro.getbroker()
    broker.setcash(config.cash)
    broker.setcommission(commission=config.commission)
    broker.set_slippage_perc(config.slippage, slip_open=True, slip_match=True, slip_out=True)
    broker.set_checksubmit(False)
    cerebro.addstrategy(_TargetExposure, target=target.to_numpy(dtype="float64"), config=config)
    (run,) = cerebro.run()
    index = bars.index
    fills = fills_frame([index[i] for i in run.fill_bar], run.fill_qty, run.fill_price, run.fill_fee)
    return make_book(
        bars, cash=run.cash_at_close, position=run.position_at_close, fills=fills, initial_cash=config.cash
    )


def affordable(qty: float, cash: float, price: float, commission: float) -> float:
    """``qty`` lowered by a few ulps if backtrader's ``cash - qty*price - qty*price*commission``
    would round below zero (the broker then silently drops the order)."""
    while qty > 0 and cash - qty * price - abs(qty) * commission * price < 0.0:
        qty = math.nextafter(qty, 0.0)
    return qty


class _TargetExposure(bt.Strategy):
    """Trades one data feed toward a precomputed target exposure series."""

    params = (("target", None), ("config", None))

    def __init__(self) -> None:
        self.pending: float | None = None
        self.cash_at_close: list[float] = []
        self.position_at_close: list[float] = []
        self.fill_bar: list[int] = []
        self.fill_qty: list[float] = []
        self.fill_price: list[float] = []
        self.fill_fee: list[float] = []

    def next_open(self) -> None:
        if self.pending is None:
            return
        config: ExecutionConfig = self.p.config
        cash = self.broker.getcash()
        position = self.position.size
        _, _, qty, price, _ = rebalance(
            cash, position, self.data.open[0], self.pending, config.commission, config.slippage, config.rebalance_band
        )
        if qty > 0:
            self.buy(size=affordable(qty, cash, price, config.commission))
        elif qty < 0:
            self.sell(size=-qty)

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            # One execution bit per order (no volume filler); its price is the exact fill
            # price, while ``executed.price`` is a re-averaged value off by an ulp.
            (bit,) = order.executed.exbits
            self.fill_bar.append(len(self.data) - 1)
            self.fill_qty.append(bit.size)
            self.fill_price.append(bit.price)
            self.fill_fee.append(bit.comm)
        elif order.status in (order.Canceled, order.Margin, order.Rejected):
            raise RuntimeError(f"backtrader dropped an order at bar {len(self.data) - 1}: {order.getstatusname()}")

    def next(self) -> None:
        self.cash_at_close.append(self.broker.getcash())
        self.position_at_close.append(self.position.size)
        self.pending = float(self.p.target[len(self.data) - 1])
