"""Performance metrics of one book, named backtesting.py-style with units.

Annualised on the data's own calendar: crypto trades every day, so a year is 365 days
and ``bars_per_year = 365 days / timeframe`` (365 for 1d, 2190 for 4h). Returns are the
per-bar returns of equity marked at each close; the risk-free rate is 0.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from carryguard.backtests.engine.book import Book
from carryguard.signals.availability import timeframe_delta

YEAR = pd.Timedelta(days=365)

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


def bars_per_year(timeframe: str) -> float:
    """365 days divided by the bar length: ``'1d'`` -> 365, ``'4h'`` -> 2190."""
    return YEAR / timeframe_delta(timeframe)


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
    max_dd, dd_duration = drawdown(book.equity)
    trades = book.trades
    pnl = trades["pnl"].to_numpy(dtype="float64")
    gains, losses = pnl[pnl > 0].sum(), -pnl[pnl < 0].sum()
    traded = float((book.fills["qty"] * book.fills["price"]).sum())
    return {
        "Start": index[0].isoformat(),
        "End": index[-1].isoformat(),
        "Duration": str(index[-1] - index[0]),
        "Exposure Time [%]": float((book.position.to_numpy() > 0).mean() * 100.0),
        "Equity Final [$]": final,
        "Return [%]": (total - 1.0) * 100.0,
        "Buy & Hold Return [%]": (close[-1] / close[0] - 1.0) * 100.0,
        "CAGR [%]": cagr * 100.0,
        "Volatility (Ann.) [%]": annual_volatility(returns, per_year) * 100.0,
        "Sharpe Ratio": sharpe(returns, per_year),
        "Sortino Ratio": sortino(returns, per_year),
        "Calmar Ratio": cagr / -max_dd if max_dd < 0 else float("nan"),
        "Max. Drawdown [%]": max_dd * 100.0,
        "Max. Drawdown Duration": str(dd_duration),
        "# Trades": len(trades),
        "Win Rate [%]": float((pnl > 0).mean() * 100.0) if len(pnl) else float("nan"),
        "Profit Factor": float(gains / losses) if losses > 0 else float("nan"),
        "Expectancy [%]": float(trades["return_pct"].mean()) if len(pnl) else float("nan"),
        "Turnover": traded / float(np.mean(equity)),
        "Fees [$]": float(book.fills["fee"].sum()),
    }


def compound_annual_growth(total: float, *, bars: int, per_year: float) -> float:
    """CAGR (a fraction) of a growth factor ``total`` reached over ``bars`` bar returns;
    NaN without returns or when the equity was wiped out."""
    years = bars / per_year
    return total ** (1.0 / years) - 1.0 if years > 0 and total > 0 else float("nan")


def equity_returns(equity: np.ndarray) -> np.ndarray:
    """Per-bar simple returns of the equity marked at each close (the first close equals
    the starting cash: nothing can be held before the first next-open fill)."""
    return equity[1:] / equity[:-1] - 1.0


def annual_volatility(returns: np.ndarray, per_year: float) -> float:
    """Standard deviation (ddof 1) of per-bar returns times sqrt(bars per year); NaN under two returns."""
    return float(np.std(returns, ddof=1) * math.sqrt(per_year)) if len(returns) > 1 else float("nan")


def sharpe(returns: np.ndarray, per_year: float) -> float:
    """Mean over standard deviation (ddof 1) of per-bar returns, times sqrt(bars per year)."""
    if len(returns) < 2:
        return float("nan")
    std = np.std(returns, ddof=1)
    return float(np.mean(returns) / std * math.sqrt(per_year)) if std > 0 else float("nan")


def sortino(returns: np.ndarray, per_year: float) -> float:
    """Mean return over downside deviation ``sqrt(mean(min(r, 0)^2))``, annualised."""
    if len(returns) < 2:
        return float("nan")
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    return float(np.mean(returns) / downside * math.sqrt(per_year)) if downside > 0 else float("nan")


def drawdown(equity: pd.Series) -> tuple[float, pd.Timedelta]:
    """(deepest drawdown as a negative fraction, longest time spent below a previous
    peak; a drawdown still open at the end lasts until the last bar)."""
    values = equity.to_numpy(dtype="float64")
    peak = np.maximum.accumulate(values)
    depth = values / peak - 1.0
    underwater = depth < 0
    longest = pd.Timedelta(0)
    times = equity.index
    start = None
    for i, below in enumerate(underwater):
        if below and start is None:
            start = times[i - 1] if i > 0 else times[i]
        elif not below and start is not None:
            longest = max(longest, times[i] - start)
            start = None
    if start is not None:
        longest = max(longest, times[-1] - start)
    return float(depth.min()), longest
