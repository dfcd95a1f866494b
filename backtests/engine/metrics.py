"""The metrics table of one book, named backtesting.py-style with units.

Every formula comes from ``carryguard.backtests.engine.measures`` (the fast engine's
``fast_metrics`` applies the same ones to its running sums).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carryguard.backtests.engine.book import Book, utc_values
from carryguard.backtests.engine.measures import (
    annual_volatility,
    bars_per_year,
    beta,
    calmar_ratio,
    compound_annual_growth,
    drawdown_runs,
    equity_returns,
    geometric_mean_return,
    kelly_criterion,
    max_drawdown,
    percent_of,
    profit_factor,
    sharpe,
    sortino,
    system_quality,
)

METRIC_NAMES = (
    "Start",
    "End",
    "Duration",
    "Exposure Time [%]",
    "Equity Final [$]",
    "Equity Peak [$]",
    "Fees [$]",
    "Return [%]",
    "Buy & Hold Return [%]",
    "CAGR [%]",
    "Volatility (Ann.) [%]",
    "Sharpe Ratio",
    "Sortino Ratio",
    "Calmar Ratio",
    "Alpha [%]",
    "Beta",
    "Max. Drawdown [%]",
    "Avg. Drawdown [%]",
    "Max. Drawdown Duration",
    "Avg. Drawdown Duration",
    "# Trades",
    "Win Rate [%]",
    "Best Trade [%]",
    "Worst Trade [%]",
    "Avg. Trade [%]",
    "Max. Trade Duration",
    "Avg. Trade Duration",
    "Profit Factor",
    "Expectancy [%]",
    "SQN",
    "Kelly Criterion",
    "Turnover",
)


def compute_metrics(book: Book, bars: pd.DataFrame, *, timeframe: str) -> dict[str, object]:
    """The metrics of ``book`` run on ``bars`` (same index), in ``METRIC_NAMES`` order.

    Floats are plain Python floats (NaN where undefined, e.g. Sharpe of a flat curve,
    Win Rate without trades); Start/End are ISO timestamps, durations ``'N days HH:MM:SS'``
    (trade durations None without trades). Computed on the book's arrays: the averages of
    durations and of drawdown depths are taken as pandas takes them (float sum / count,
    a mean duration truncated to its unit), so the values equal those of the frames.
    """
    equity = book.equity_values
    close = bars["close"].to_numpy(dtype="float64")
    index = book.index
    per_year = bars_per_year(timeframe)
    returns = equity_returns(equity)
    final = float(equity[-1])
    total = final / book.initial_cash
    market = (close[-1] / close[0] - 1.0) * 100.0
    cagr = compound_annual_growth(total, bars=len(returns), per_year=per_year)
    max_dd = max_drawdown(equity)
    starts, _, ends, _, depths = drawdown_runs(equity)
    times = utc_values(index)
    lengths = times[ends] - times[starts]
    trades, fills = book.trade_arrays, book.fill_arrays
    pnl = trades.pnl
    trade_returns = trades.return_pct
    held = trades.exit_time - trades.entry_time
    traded = float((np.abs(fills.qty) * fills.price).sum())
    slope = beta(returns, equity_returns(close))
    return {
        "Start": index[0].isoformat(),
        "End": index[-1].isoformat(),
        "Duration": str(index[-1] - index[0]),
        "Exposure Time [%]": percent_of(int((book.position_values > 0).sum()), len(equity)),
        "Equity Final [$]": final,
        "Equity Peak [$]": float(equity.max()),
        "Fees [$]": float(fills.fee.sum()),
        "Return [%]": (total - 1.0) * 100.0,
        "Buy & Hold Return [%]": market,
        "CAGR [%]": cagr * 100.0,
        "Volatility (Ann.) [%]": annual_volatility(returns, per_year) * 100.0,
        "Sharpe Ratio": sharpe(returns, per_year),
        "Sortino Ratio": sortino(returns, per_year),
        "Calmar Ratio": calmar_ratio(cagr, max_dd),
        "Alpha [%]": (total - 1.0) * 100.0 - slope * market,
        "Beta": slope,
        "Max. Drawdown [%]": max_dd * 100.0,
        "Avg. Drawdown [%]": _mean(depths) * 100.0 if len(depths) else 0.0,
        "Max. Drawdown Duration": str(pd.Timedelta(lengths.max()) if len(lengths) else pd.Timedelta(0)),
        "Avg. Drawdown Duration": _duration(_mean_duration(lengths) if len(lengths) else pd.Timedelta(0)),
        "# Trades": len(pnl),
        "Win Rate [%]": percent_of(int((pnl > 0).sum()), len(pnl)),
        "Best Trade [%]": float(trade_returns.max()) if len(pnl) else float("nan"),
        "Worst Trade [%]": float(trade_returns.min()) if len(pnl) else float("nan"),
        "Avg. Trade [%]": geometric_mean_return(trade_returns / 100.0) * 100.0,
        "Max. Trade Duration": _duration(pd.Timedelta(held.max())) if len(pnl) else None,
        "Avg. Trade Duration": _duration(_mean_duration(held)) if len(pnl) else None,
        "Profit Factor": profit_factor(pnl[pnl > 0].sum(), -pnl[pnl < 0].sum()),
        "Expectancy [%]": _mean(trade_returns) if len(pnl) else float("nan"),
        "SQN": system_quality(pnl),
        "Kelly Criterion": kelly_criterion(pnl),
        "Turnover": traded / float(np.mean(equity)),
    }


def _mean(values: np.ndarray) -> float:
    """The mean as pandas' ``Series.mean`` takes it: the float sum over the count."""
    return float(values.sum(dtype="float64") / np.float64(len(values)))


def _mean_duration(values: np.ndarray) -> pd.Timedelta:
    """The mean of non-empty ``timedelta64`` values as pandas takes it: the float sum of
    the integer values over the count, truncated to the values' unit."""
    unit = np.datetime_data(values.dtype)[0]
    return pd.Timedelta(int(np.int64(_mean(values.view("int64")))), unit=unit)


def _duration(value: pd.Timedelta) -> str:
    """A duration as ``'N days HH:MM:SS'``, to the second."""
    return str(pd.Timedelta(value).round("s"))
