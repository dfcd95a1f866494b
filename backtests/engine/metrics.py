"""The metrics table of one book, named backtesting.py-style with units.

Every formula comes from ``carryguard.backtests.engine.measures`` (the fast engine's
``fast_metrics`` applies the same ones to its running sums).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carryguard.backtests.engine.book import Book
from carryguard.backtests.engine.measures import (
    annual_volatility,
    bars_per_year,
    calmar_ratio,
    compound_annual_growth,
    equity_returns,
    longest_drawdown,
    max_drawdown,
    percent_of,
    profit_factor,
    sharpe,
    sortino,
)

METRIC_NAMES = (
    "Start",
    "End",
    "Duration",
    "Exposure Time [%]",
    "Equity Final [$]",
    "Return [%]",
    "Buy & Hold Return [%]",
    "CAGR [%]",
    "Volatility (Ann.) [%]",
    "Sharpe Ratio",
    "Sortino Ratio",
    "Calmar Ratio",
    "Max. Drawdown [%]",
    "Max. Drawdown Duration",
    "# Trades",
    "Win Rate [%]",
    "Profit Factor",
    "Expectancy [%]",
    "Turnover",
    "Fees [$]",
)


def compute_metrics(book: Book, bars: pd.DataFrame, *, timeframe: str) -> dict[str, object]:
    """The metrics of ``book`` run on ``bars`` (same index), in ``METRIC_NAMES`` order.

    Floats are plain Python floats (NaN where undefined, e.g. Sharpe of a flat curve,
    Win Rate without trades); Start/End are ISO timestamps, durations ``'N days HH:MM:SS'``.
    """
    equity = book.equity.to_numpy(dtype="float64")
    close = bars["close"].to_numpy(dtype="float64")
    index = book.equity.index
    per_year = bars_per_year(timeframe)
    returns = equity_returns(equity)
    final = float(equity[-1])
    total = final / book.initial_cash
    cagr = compound_annual_growth(total, bars=len(returns), per_year=per_year)
    max_dd = max_drawdown(equity)
    trades = book.trades
    pnl = trades["pnl"].to_numpy(dtype="float64")
    traded = float((book.fills["qty"] * book.fills["price"]).sum())
    return {
        "Start": index[0].isoformat(),
        "End": index[-1].isoformat(),
        "Duration": str(index[-1] - index[0]),
        "Exposure Time [%]": percent_of(int((book.position.to_numpy() > 0).sum()), len(equity)),
        "Equity Final [$]": final,
        "Return [%]": (total - 1.0) * 100.0,
        "Buy & Hold Return [%]": (close[-1] / close[0] - 1.0) * 100.0,
        "CAGR [%]": cagr * 100.0,
        "Volatility (Ann.) [%]": annual_volatility(returns, per_year) * 100.0,
        "Sharpe Ratio": sharpe(returns, per_year),
        "Sortino Ratio": sortino(returns, per_year),
        "Calmar Ratio": calmar_ratio(cagr, max_dd),
        "Max. Drawdown [%]": max_dd * 100.0,
        "Max. Drawdown Duration": str(longest_drawdown(book.equity)),
        "# Trades": len(trades),
        "Win Rate [%]": percent_of(int((pnl > 0).sum()), len(pnl)),
        "Profit Factor": profit_factor(pnl[pnl > 0].sum(), -pnl[pnl < 0].sum()),
        "Expectancy [%]": float(trades["return_pct"].mean()) if len(pnl) else float("nan"),
        "Turnover": traded / float(np.mean(equity)),
        "Fees [$]": float(book.fills["fee"].sum()),
    }
