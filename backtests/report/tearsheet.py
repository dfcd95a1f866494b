"""The per-book tearsheet figures the report presents: monthly/yearly returns, rolling Sharpe and
volatility, the five worst drawdowns, alpha/beta against the market's buy & hold.

Interface for the report (``book_tearsheet``); the statistics themselves belong to
``carryguard.backtests.engine.metrics`` (the ``runfolder`` branch adds them there): until
that lands these are small local computations from the equity curve, to be swapped for
the metrics functions one for one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from carryguard.backtests.engine.metrics import bars_per_year

ROLLING_DAYS = 180  # window of the rolling Sharpe / volatility, in calendar days


@dataclass(frozen=True)
class Drawdown:
    """One drawdown episode: peak (start), trough, recovery (None: not recovered), depth %, length in days."""

    start: pd.Timestamp
    trough: pd.Timestamp
    recovery: pd.Timestamp | None
    depth: float
    days: float


@dataclass(frozen=True)
class Tearsheet:
    """What the report shows per book."""

    monthly: pd.DataFrame  # rows years, columns 1..12 and "Year", returns in %
    rolling: pd.DataFrame  # columns sharpe, vol (annualised, vol in %)
    drawdowns: list[Drawdown]
    alpha: float  # annualised, %
    beta: float


def monthly_returns(equity: pd.Series) -> pd.DataFrame:
    """Compounded return of each calendar month and year, in % (NaN for months outside the run);
    the first period starts from the first equity value."""
    grid = _period_returns(equity, "ME").to_frame("value")
    months = pd.DatetimeIndex(grid.index)
    grid = grid.assign(year=months.year, month=months.month)
    table = grid.pivot(index="year", columns="month", values="value").reindex(columns=range(1, 13))
    years = _period_returns(equity, "YE")
    table["Year"] = pd.Series(years.to_numpy(), index=pd.DatetimeIndex(years.index).year)
    table.columns = [str(c) for c in table.columns]
    return table


def _period_returns(equity: pd.Series, rule: str) -> pd.Series:
    ends = equity.resample(rule).last().dropna()
    return (ends / ends.shift(1).fillna(equity.iloc[0]) - 1.0) * 100.0


def rolling_stats(equity: pd.Series, timeframe: str, days: int = ROLLING_DAYS) -> pd.DataFrame:
    """Annualised Sharpe ratio and volatility (%) over a trailing ``days`` window of per-bar returns."""
    per_year = bars_per_year(timeframe)
    returns = equity.pct_change()
    window = f"{days}D"
    mean = returns.rolling(window, min_periods=days // 2).mean()
    std = returns.rolling(window, min_periods=days // 2).std()
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = (mean / std.where(std > 0)) * math.sqrt(per_year)
    return pd.DataFrame({"sharpe": sharpe, "vol": std * math.sqrt(per_year) * 100.0}).iloc[days // 2 :]


def worst_drawdowns(equity: pd.Series, count: int = 5) -> list[Drawdown]:
    """The ``count`` deepest peak-to-recovery episodes, deepest first."""
    peak = equity.cummax()
    under = equity < peak
    episodes: list[Drawdown] = []
    start_index = None
    values, times = equity.to_numpy(), equity.index
    for i, below in enumerate(under.to_numpy()):
        if below and start_index is None:
            start_index = i - 1
        if start_index is not None and (not below or i == len(values) - 1):
            end = i if not below else None
            segment = values[start_index : (end if end is not None else len(values))]
            trough = start_index + int(np.argmin(segment))
            stop = times[end] if end is not None else times[-1]
            episodes.append(
                Drawdown(
                    start=times[start_index],
                    trough=times[trough],
                    recovery=times[end] if end is not None else None,
                    depth=float(values[trough] / values[start_index] - 1.0) * 100.0,
                    days=float((stop - times[start_index]) / pd.Timedelta(days=1)),
                )
            )
            start_index = None
    return sorted(episodes, key=lambda d: d.depth)[:count]


def alpha_beta(equity: pd.Series, market: pd.Series | None, timeframe: str) -> tuple[float, float]:
    """CAPM alpha (annualised, %) and beta of per-bar returns against the market's (risk-free 0)."""
    if market is None or len(market) < 3:
        return math.nan, math.nan
    both = pd.concat({"book": equity.pct_change(), "market": market.pct_change()}, axis=1).dropna()
    variance = float(both["market"].var())
    if len(both) < 3 or variance == 0:
        return math.nan, math.nan
    beta = float(np.cov(both["book"], both["market"])[0, 1]) / variance
    alpha = (float(both["book"].mean()) - beta * float(both["market"].mean())) * bars_per_year(timeframe) * 100.0
    return alpha, beta


def book_tearsheet(equity: pd.Series, market: pd.Series | None, timeframe: str) -> Tearsheet:
    """Everything the report's tearsheet shows for one equity curve."""
    alpha, beta = alpha_beta(equity, market, timeframe)
    return Tearsheet(
        monthly=monthly_returns(equity),
        rolling=rolling_stats(equity, timeframe),
        drawdowns=worst_drawdowns(equity),
        alpha=alpha,
        beta=beta,
    )
