"""Tearsheet tables of one book (what quantstats/backtesting.py users expect), from its
equity curve and the market's close: monthly and yearly returns, rolling Sharpe and
volatility, the worst drawdowns, and alpha/beta against the market's buy & hold.

Every formula comes from ``carryguard.backtests.engine.measures``; inputs are the
``RunFolder``'s per-book ``equity`` and per-market ``close`` series (UTC index).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carryguard.backtests.engine.measures import (
    annualised,
    bars_per_year,
    beta,
    drawdown_periods,
    equity_returns,
    sharpe_ratio,
)

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def period_returns(equity: pd.Series, freq: str) -> pd.Series:
    """Return [%] of each calendar period (``"M"`` months, ``"Y"`` years, UTC): the last
    equity of the period over the last of the period before (the first period starts from
    the first equity). Indexed by the period. The last equity of a period is its last
    non-NaN one (NaN when it has none), as pandas' ``groupby(...).last()`` gives it; found
    in one numpy pass over the sorted bars instead of a groupby."""
    values = equity.to_numpy(dtype="float64")
    times = pd.DatetimeIndex(equity.index).tz_convert("UTC").tz_localize(None).to_numpy()
    ordinals = times.astype(f"datetime64[{freq}]").astype("int64")  # periods since 1970: pandas' ordinals
    ends = np.flatnonzero(np.r_[ordinals[1:] != ordinals[:-1], True])
    starts = np.r_[0, ends[:-1] + 1]
    latest = np.maximum.accumulate(np.where(np.isnan(values), -1, np.arange(len(values))))[ends]
    last = np.where(latest >= starts, values[latest.clip(min=0)], np.nan)
    before = np.r_[values[:1], last[:-1]]
    index = pd.PeriodIndex.from_ordinals(ordinals[ends], freq=freq).rename(equity.index.name)
    return pd.Series((last / before - 1.0) * 100.0, index=index, name=equity.name)


def monthly_returns(equity: pd.Series) -> pd.DataFrame:
    """Return [%] per month as a table: one row per year, columns ``Jan``..``Dec`` (NaN
    for months outside the curve) and ``Year`` (the year's compounded return)."""
    months = period_returns(equity, "M")
    index = pd.PeriodIndex(months.index)
    years = np.unique(index.year)
    cells = np.full((len(years), len(MONTHS)), np.nan)
    cells[np.searchsorted(years, index.year), index.month - 1] = months.to_numpy()
    table = pd.DataFrame(cells, index=pd.Index(years, name="year"), columns=pd.Index(list(MONTHS), name="month"))
    table["Year"] = period_returns(equity, "Y").to_numpy()
    return table


def yearly_returns(equity: pd.Series) -> pd.Series:
    """Return [%] per calendar year, indexed by the year."""
    years = period_returns(equity, "Y")
    return pd.Series(years.to_numpy(), index=pd.Index(pd.PeriodIndex(years.index).year, name="year"), name="Return [%]")


def rolling_stats(equity: pd.Series, *, timeframe: str, window: str = "180D") -> pd.DataFrame:
    """Annualised ``Sharpe Ratio`` and ``Volatility (Ann.) [%]`` of the per-bar returns over
    the trailing ``window`` of bars (a duration; NaN until a full window has passed), at
    each bar's close."""
    bars = int(pd.Timedelta(window) / (pd.Timedelta(days=365) / bars_per_year(timeframe)))
    if bars < 2:
        raise ValueError(f"rolling window {window!r} holds fewer than 2 {timeframe} bars")
    per_year = bars_per_year(timeframe)
    returns = pd.Series(equity_returns(equity.to_numpy(dtype="float64")), index=equity.index[1:])
    rolling = returns.rolling(bars, min_periods=bars)
    mean, std = rolling.mean().to_numpy(), rolling.std(ddof=1).to_numpy()
    return pd.DataFrame(
        {
            "Sharpe Ratio": sharpe_ratio(mean, std, per_year),
            "Volatility (Ann.) [%]": np.asarray(annualised(std, per_year)) * 100.0,
        },
        index=returns.index,
    )


def worst_drawdowns(equity: pd.Series, count: int = 5) -> pd.DataFrame:
    """The ``count`` deepest drawdowns, deepest first: ``start`` (the peak), ``trough``,
    ``recovery`` (the bar back at the peak; NaT while still under water), ``Depth [%]``
    (negative) and ``length`` (peak to recovery, or to the last bar)."""
    periods = drawdown_periods(equity).sort_values(["depth", "start"], kind="stable").head(count)
    return pd.DataFrame(
        {
            "start": periods["start"],
            "trough": periods["trough"],
            "recovery": periods["end"].where(periods["recovered"]),
            "Depth [%]": periods["depth"] * 100.0,
            "length": periods["length"],
        }
    ).reset_index(drop=True)


def alpha_beta(equity: pd.Series, close: pd.Series, *, timeframe: str) -> dict[str, float]:
    """Against the market's buy & hold (per-bar returns of ``close`` on the equity's bars):
    ``Beta`` (slope of the book's returns on the market's) and ``Alpha (Ann.) [%]``, the
    mean per-bar excess over ``Beta`` x market compounded over a year (empyrical's)."""
    market = close.reindex(equity.index).to_numpy(dtype="float64")
    if np.isnan(market).any():
        raise ValueError("the market's close is missing on some of the book's bars")
    returns = equity_returns(equity.to_numpy(dtype="float64"))
    market_returns = equity_returns(market)
    slope = float(beta(returns, market_returns))
    excess = float(np.mean(returns - slope * market_returns)) if len(returns) else float("nan")
    return {"Alpha (Ann.) [%]": ((1.0 + excess) ** bars_per_year(timeframe) - 1.0) * 100.0, "Beta": slope}
