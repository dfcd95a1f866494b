"""Trailing technical indicators: pure functions of price Series.

Every value at bar t uses only values up to and including t (no centring, no
backfill), so appending later bars never changes earlier outputs (truncation safe).
Warm-up values that cannot be computed yet are NaN.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

YEAR = pd.Timedelta(days=365)  # crypto trades every day: 365 daily bars a year


def _check_window(window: int, name: str = "window") -> None:
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(window).__name__}")
    if window < 1:
        raise ValueError(f"{name} must be >= 1, got {window}")


def sma(series: pd.Series, window: int) -> pd.Series:
    """Simple moving average over the last ``window`` values (NaN until ``window`` seen)."""
    _check_window(window)
    return series.rolling(window, min_periods=window).mean()


def _wilder_mean(values: pd.Series, period: int) -> pd.Series:
    """Wilder smoothing: seed = mean of the first ``period`` values (from position 1),
    then ``avg_t = (avg_{t-1} * (period - 1) + x_t) / period``."""
    out = pd.Series(np.nan, index=values.index, dtype="float64")
    if len(values) <= period:
        return out
    tail = values.iloc[period:].copy()
    tail.iloc[0] = values.iloc[1 : period + 1].mean()
    out.iloc[period:] = tail.ewm(alpha=1.0 / period, adjust=False).mean().to_numpy()
    return out


def rsi(close: pd.Series, period: int = 14) -> pd.Series:
    """Wilder's Relative Strength Index in [0, 100] (NaN for the first ``period`` bars).

    A window with no losses reads 100, one with neither gains nor losses reads 50.
    """
    _check_window(period, "period")
    change = close.diff()
    avg_gain = _wilder_mean(change.clip(lower=0.0), period).to_numpy()
    avg_loss = _wilder_mean((-change).clip(lower=0.0), period).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        value = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    value = np.where(avg_loss == 0.0, np.where(avg_gain > 0.0, 100.0, 50.0), value)
    value = np.where(np.isnan(avg_gain), np.nan, value)
    return pd.Series(value, index=close.index, name="rsi")


def rolling_high(series: pd.Series, window: int, *, min_periods: int = 1) -> pd.Series:
    """Highest value of the last ``window`` values, the current one included."""
    _check_window(window)
    return series.rolling(window, min_periods=min_periods).max()


def drawdown_from_high(close: pd.Series, window: int) -> pd.Series:
    """``close / rolling_high(close, window) - 1``: 0 at a new high, -0.2 at 20% below it."""
    return close / rolling_high(close, window) - 1.0


def donchian(high: pd.Series, low: pd.Series, window: int) -> pd.DataFrame:
    """Donchian channel: columns ``upper`` (highest high) and ``lower`` (lowest low) of
    the last ``window`` bars, the current bar included; shift by one for "prior N bars"."""
    _check_window(window)
    return pd.DataFrame(
        {
            "upper": high.rolling(window, min_periods=window).max(),
            "lower": low.rolling(window, min_periods=window).min(),
        }
    )


def periods_per_year(index: pd.DatetimeIndex) -> float:
    """Bars per year from the bar spacing (median step): 365 for daily, 2190 for 4h bars."""
    if len(index) < 2:
        raise ValueError("need at least two bars to infer the bar spacing; pass periods_per_year")
    step = pd.Series(index).diff().median()
    return float(YEAR / step)


def realized_volatility(close: pd.Series, window: int = 30, *, periods_per_year: float) -> pd.Series:
    """Annualized realized volatility: std (ddof=1) of the last ``window`` log returns
    times sqrt(periods_per_year); 0.6 means 60% a year. NaN until ``window`` returns exist."""
    _check_window(window)
    if window < 2:
        raise ValueError(f"window must be >= 2 for a standard deviation, got {window}")
    if not periods_per_year > 0:
        raise ValueError(f"periods_per_year must be > 0, got {periods_per_year}")
    returns = np.log(close).diff()
    return returns.rolling(window, min_periods=window).std() * np.sqrt(periods_per_year)
