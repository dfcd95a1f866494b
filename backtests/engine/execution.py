"""Execution semantics shared by every engine (backtrader, fast, paper trading).

At each bar t the strategy (and overlay) decide a target exposure w_t in [0, 1] at the
close. The order executes at the **next bar's open** (t+1):

- equity at the open: ``E = cash + position * open``; current exposure ``x = position * open / E``;
- trade only if ``|w_t - x| >= rebalance_band``, or to go flat (``w_t == 0`` and a position);
- buys fill at ``open * (1 + slippage)``, sells at ``open * (1 - slippage)``
  (``slippage = slippage_bps / 1e4``), commission ``commission * |qty| * fill price``;
- a buy spends ``min(cash, (w_t - x) * E)``, commission included, so cash never goes
  negative: ``qty = spend / (buy_price * (1 + commission))``;
- a sell of ``qty = (x - w_t) * E / open`` (all of it when ``w_t == 0``), capped at the position;
- sizes are fractional; equity is marked at each bar's close: ``cash + position * close``;
- the decision at the last bar has no next open and is not executed.

``rebalance`` below is the one implementation of that arithmetic; the engines call it
(it is numba-compiled so the fast engine's kernels can call it too). ``check_inputs`` is
the engines' one input contract.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from carryguard.backtests.engine.jit import njit


@dataclass(frozen=True)
class ExecutionConfig:
    """Costs and cash of one book.

    cash: starting cash in quote currency (10,000).
    commission: fraction of traded notional (0.001 = 0.1%, Binance spot taker).
    slippage_bps: adverse price move on every fill, in basis points (5).
    rebalance_band: smallest exposure change worth a trade (0.05 = 5% of equity), so
        drift and small overlay moves do not churn fees.
    """

    cash: float = 10_000.0
    commission: float = 0.001
    slippage_bps: float = 5.0
    rebalance_band: float = 0.05

    def __post_init__(self) -> None:
        if self.cash <= 0:
            raise ValueError(f"cash must be > 0, got {self.cash}")
        if not 0 <= self.commission < 0.1:
            raise ValueError(f"commission must be in [0, 0.1), got {self.commission}")
        if not 0 <= self.slippage_bps < 1000:
            raise ValueError(f"slippage_bps must be in [0, 1000), got {self.slippage_bps}")
        if not 0 <= self.rebalance_band < 1:
            raise ValueError(f"rebalance_band must be in [0, 1), got {self.rebalance_band}")

    @property
    def slippage(self) -> float:
        return self.slippage_bps / 1e4

    @property
    def costs(self) -> tuple[float, float, float, float]:
        """(cash, commission, slippage, rebalance_band): what the batch kernels take."""
        return (float(self.cash), float(self.commission), self.slippage, float(self.rebalance_band))


def check_inputs(bars: pd.DataFrame, target: pd.Series) -> None:
    """What every engine requires of its inputs, as ``ValueError`` naming what is wrong:
    bars, and one target exposure in [0, 1] (no NaN) per bar, on the bars' index."""
    if bars.empty:
        raise ValueError("bars are empty")
    if not target.index.equals(bars.index):
        raise ValueError("target must be indexed like bars (one exposure per bar close)")
    values = target.to_numpy(dtype="float64")
    if np.isnan(values).any() or (values < 0).any() or (values > 1).any():
        raise ValueError("target exposure must be in [0, 1] without NaN")


@njit(cache=True)
def rebalance(
    cash: float, position: float, open_price: float, target: float, commission: float, slippage: float, band: float
) -> tuple[float, float, float, float, float]:
    """One next-open rebalance. Returns (cash, position, signed qty, fill price, fee);
    qty is 0.0 when no trade is due."""
    equity = cash + position * open_price
    if equity <= 0.0:
        return cash, position, 0.0, 0.0, 0.0
    current = position * open_price / equity
    going_flat = target <= 0.0 and position > 0.0
    if abs(target - current) < band and not going_flat:
        return cash, position, 0.0, 0.0, 0.0
    if target > current:
        price = open_price * (1.0 + slippage)
        spend = min(cash, (target - current) * equity)
        qty = spend / (price * (1.0 + commission))
        if qty <= 0.0:
            return cash, position, 0.0, 0.0, 0.0
        fee = qty * price * commission
        # spend == cash leaves float dust (about -1e-13); an all-in buy ends at exactly 0.
        return max(cash - qty * price - fee, 0.0), position + qty, qty, price, fee
    price = open_price * (1.0 - slippage)
    qty = position if going_flat else min(position, (current - target) * equity / open_price)
    if qty <= 0.0:
        return cash, position, 0.0, 0.0, 0.0
    fee = qty * price * commission
    return cash + qty * price - fee, position - qty, -qty, price, fee
