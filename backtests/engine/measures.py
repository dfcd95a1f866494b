"""The one definition of every performance measure, for one series and for many at once.

vectorbt-style: each function takes one equity/returns series (1-D, giving a float) or a
2-D array of books (one per row, giving an array), reducing over the last axis. The ratio
functions take the moments themselves (mean, standard deviation, counts), so the metrics
table (per-bar arrays), the fast engine's running sums (``fast_metrics``), the bootstrap
(resampled rows) and the crisis windows all apply the same formula to their own inputs.

Annualised on the data's own calendar: crypto trades every day, so a year is 365 days
and ``bars_per_year = 365 days / timeframe``. Returns are simple per-bar returns; the
risk-free rate is 0. Undefined values (a flat curve's Sharpe, no trades' win rate) are NaN.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from carryguard.signals.availability import timeframe_delta

YEAR = pd.Timedelta(days=365)
ArrayOrFloat = np.ndarray | float


def bars_per_year(timeframe: str) -> float:
    """365 days divided by the bar length: ``'1d'`` -> 365, ``'4h'`` -> 2190."""
    return YEAR / timeframe_delta(timeframe)


def _out(value: np.ndarray | np.floating) -> ArrayOrFloat:
    """A 0-d result as a Python float, anything else as an array."""
    return float(value) if np.ndim(value) == 0 else np.asarray(value)


def _where(condition: Any, value: Any) -> ArrayOrFloat:
    """``value`` where ``condition`` holds, else NaN (no warnings for the discarded part)."""
    return _out(np.where(condition, value, np.nan))


def equity_returns(equity: np.ndarray) -> np.ndarray:
    """Per-bar simple returns of equity marked at each close (the first close equals the
    starting cash: nothing can be held before the first next-open fill)."""
    return equity[..., 1:] / equity[..., :-1] - 1.0


def growth_curve(returns: np.ndarray) -> np.ndarray:
    """The equity of 1.0 compounding ``returns``, starting with the 1.0 itself."""
    ones = np.ones((*returns.shape[:-1], 1))
    return np.concatenate([ones, np.cumprod(1.0 + returns, axis=-1)], axis=-1)


# --- ratios from moments: the formulas every path shares --------------------------------


def compound_annual_growth(total: ArrayOrFloat, *, bars: ArrayOrFloat, per_year: float) -> ArrayOrFloat:
    """CAGR (a fraction) of a growth factor ``total`` reached over ``bars`` bar returns;
    NaN without returns or when the equity was wiped out."""
    years = np.asarray(bars, dtype="float64") / per_year
    total = np.asarray(total, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _where((years > 0) & (total > 0), total ** (1.0 / years) - 1.0)


def annualised(std: ArrayOrFloat, per_year: float) -> ArrayOrFloat:
    """A per-bar standard deviation annualised: times sqrt(bars per year)."""
    return _out(np.asarray(std) * np.sqrt(per_year))


def sharpe_ratio(mean: ArrayOrFloat, std: ArrayOrFloat, per_year: float) -> ArrayOrFloat:
    """Mean over standard deviation of per-bar returns, annualised; NaN for a flat curve."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _where(np.asarray(std) > 0, np.asarray(mean) / std * np.sqrt(per_year))


def sortino_ratio(mean: ArrayOrFloat, downside: ArrayOrFloat, per_year: float) -> ArrayOrFloat:
    """Mean return over downside deviation ``sqrt(mean(min(r, 0)^2))``, annualised."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _where(np.asarray(downside) > 0, np.asarray(mean) / downside * np.sqrt(per_year))


def calmar_ratio(cagr: ArrayOrFloat, max_drawdown: ArrayOrFloat) -> ArrayOrFloat:
    """CAGR over the depth of the deepest drawdown (both fractions); NaN without a drawdown."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _where(np.asarray(max_drawdown) < 0, np.asarray(cagr) / -np.asarray(max_drawdown))


def percent_of(count: ArrayOrFloat, total: ArrayOrFloat) -> ArrayOrFloat:
    """``count / total`` in percent (exposure time, win rate); NaN when ``total`` is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _where(np.asarray(total) > 0, np.asarray(count) / total * 100.0)


def profit_factor(gross_profit: ArrayOrFloat, gross_loss: ArrayOrFloat) -> ArrayOrFloat:
    """Gross profit over gross loss (a positive amount); NaN without losses."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _where(np.asarray(gross_loss) > 0, np.asarray(gross_profit) / gross_loss)


# --- the same measures from one series (1-D) or many (2-D, one book per row) -------------


def _mean_std(returns: np.ndarray) -> tuple[ArrayOrFloat, ArrayOrFloat]:
    """Mean and standard deviation (ddof 1) over the last axis; NaN under two returns."""
    if returns.shape[-1] < 2:
        nan = np.full(returns.shape[:-1], np.nan)
        return _out(nan), _out(nan)
    return _out(returns.mean(axis=-1)), _out(returns.std(axis=-1, ddof=1))


def downside_deviation(returns: np.ndarray) -> ArrayOrFloat:
    """``sqrt(mean(min(r, 0)^2))`` over the last axis."""
    return _out(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2, axis=-1)))


def annual_volatility(returns: np.ndarray, per_year: float) -> ArrayOrFloat:
    """Standard deviation (ddof 1) of per-bar returns, annualised; NaN under two returns."""
    return annualised(_mean_std(returns)[1], per_year)


def sharpe(returns: np.ndarray, per_year: float) -> ArrayOrFloat:
    """Annualised Sharpe ratio of per-bar returns (std ddof 1); NaN under two returns or flat."""
    mean, std = _mean_std(returns)
    return sharpe_ratio(mean, std, per_year)


def sortino(returns: np.ndarray, per_year: float) -> ArrayOrFloat:
    """Annualised Sortino ratio of per-bar returns; NaN under two returns or no loss."""
    mean, _ = _mean_std(returns)
    return sortino_ratio(mean, downside_deviation(returns), per_year)


def drawdown_depth(equity: np.ndarray) -> np.ndarray:
    """Each bar's fall below the running peak as a negative fraction (0 at a peak)."""
    return equity / np.maximum.accumulate(equity, axis=-1) - 1.0


def max_drawdown(equity: np.ndarray) -> ArrayOrFloat:
    """The deepest fall below a running peak, a negative fraction (0 if none)."""
    return _out(drawdown_depth(equity).min(axis=-1))


def drawdown_runs(equity: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every drawdown of a 1-D equity curve as positions: one element per maximal run of
    bars below the running peak, (start: the last bar at the peak, trough: the run's first
    lowest bar, end: the bar back at the peak or the last bar while still under water,
    recovered, depth: a negative fraction). Vectorised: a daily book has hundreds."""
    depth = drawdown_depth(equity)
    below = np.concatenate([[False], depth < 0, [False]])
    edges = np.flatnonzero(below[1:] != below[:-1])
    firsts, stops = edges[0::2], edges[1::2]  # first bar under water, first bar back (or len)
    starts = np.maximum(firsts - 1, 0)
    # each run's first lowest bar: sort the under-water bars by (run, value, position)
    run = np.repeat(np.arange(len(firsts)), stops - firsts)
    bars = np.flatnonzero(below[1:-1])
    troughs = bars[np.lexsort((bars, equity[bars], run))][np.searchsorted(run, np.arange(len(firsts)))]
    recovered = stops < len(equity)
    ends = np.where(recovered, stops, len(equity) - 1)
    return starts, troughs, ends, recovered, depth[troughs]


def drawdown_periods(equity: pd.Series) -> pd.DataFrame:
    """Every drawdown of ``equity`` (``drawdown_runs``): one row per run with ``start``,
    ``trough``, ``end``, ``recovered``, ``depth`` and ``length`` (end - start) as times."""
    starts, troughs, ends, recovered, depth = drawdown_runs(equity.to_numpy(dtype="float64"))
    times = pd.DatetimeIndex(equity.index)
    if not len(starts):
        return pd.DataFrame([], columns=["start", "trough", "end", "recovered", "depth", "length"]).astype(
            {"recovered": bool, "depth": "float64"}
        )
    return pd.DataFrame(
        {
            "start": times[starts],
            "trough": times[troughs],
            "end": times[ends],
            "recovered": recovered,
            "depth": depth,
            "length": times[ends] - times[starts],
        }
    )


def longest_drawdown(equity: pd.Series, *, periods: pd.DataFrame | None = None) -> pd.Timedelta:
    """The longest time spent below a previous peak (0 without a drawdown); ``periods``:
    ``drawdown_periods(equity)`` when the caller has it already."""
    periods = drawdown_periods(equity) if periods is None else periods
    return pd.Timedelta(periods["length"].max()) if len(periods) else pd.Timedelta(0)


def beta(returns: np.ndarray, market: np.ndarray) -> ArrayOrFloat:
    """Covariance of per-bar returns with the market's over the market's variance (the
    slope of returns on market returns); NaN under two returns or a flat market."""
    if returns.shape[-1] < 2:
        return _out(np.full(returns.shape[:-1], np.nan))
    r = returns - returns.mean(axis=-1, keepdims=True)
    m = market - market.mean(axis=-1, keepdims=True)
    variance = (m * m).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _where(variance > 0, (r * m).sum(axis=-1) / variance)


def geometric_mean_return(returns: np.ndarray) -> ArrayOrFloat:
    """``prod(1 + r) ** (1 / n) - 1`` over the last axis; NaN when empty or a return <= -100%."""
    growth = 1.0 + np.asarray(returns, dtype="float64")
    if growth.shape[-1] == 0:
        return _out(np.full(growth.shape[:-1], np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.exp(np.log(growth).mean(axis=-1)) - 1.0
    return _where((growth > 0).all(axis=-1), value)


def system_quality(pnl: np.ndarray) -> float:
    """Van Tharp's SQN: ``sqrt(n) * mean(pnl) / std(pnl)`` (ddof 1); NaN under two trades or equal ones."""
    if len(pnl) < 2:
        return float("nan")
    std = float(np.std(pnl, ddof=1))
    return math.sqrt(len(pnl)) * float(np.mean(pnl)) / std if std > 0 else float("nan")


def kelly_criterion(pnl: np.ndarray) -> float:
    """``W - (1 - W) / R``: W the share of winning trades, R the mean win over the mean loss;
    NaN without both a win and a loss."""
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    if not len(wins) or not len(losses):
        return float("nan")
    win_rate = len(wins) / len(pnl)
    return win_rate - (1.0 - win_rate) / (float(np.mean(wins)) / -float(np.mean(losses)))
