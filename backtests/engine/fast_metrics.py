"""Metrics from the fast engine's running sums, vectorised over many books.

``metrics_from_stats`` gives, for each row of ``stat_kernels.book_stats`` statistics, the same
numbers as ``carryguard.backtests.engine.metrics.compute_metrics`` on the full ``Book``
for ``FAST_METRIC_NAMES``: same names, order and units, and the same formulas (``measures``) applied to moments
taken from running sums (equal up to floating-point summation order), without ever
holding an equity curve per combination.

``gathered_moments`` is the same idea for resampled series (the bootstrap): the running
mean, standard deviation and deepest drawdown of many books along many index rows, for
``measures.sharpe_ratio`` and the drawdown of ``measures.max_drawdown``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import prange

from carryguard.backtests.engine.jit import njit
from carryguard.backtests.engine.measures import (
    annualised,
    bars_per_year,
    calmar_ratio,
    compound_annual_growth,
    percent_of,
    profit_factor,
    sharpe_ratio,
    sortino_ratio,
)
from carryguard.backtests.engine.metrics import METRIC_NAMES
from carryguard.backtests.engine.stat_kernels import Stat

# The metrics the running sums give (the sweep ranks by these); the per-trade and
# per-drawdown statistics and alpha/beta need the whole book (``compute_metrics``).
FAST_METRIC_NAMES = tuple(
    name
    for name in METRIC_NAMES
    if name
    not in {
        "Equity Peak [$]",
        "Alpha [%]",
        "Beta",
        "Avg. Drawdown [%]",
        "Avg. Drawdown Duration",
        "Best Trade [%]",
        "Worst Trade [%]",
        "Avg. Trade [%]",
        "Max. Trade Duration",
        "Avg. Trade Duration",
        "SQN",
        "Kelly Criterion",
    }
)


def return_moments(stats: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard deviation (ddof 1) and downside deviation of the per-bar returns
    from their count, sum and sums of squares (NaN under two returns)."""
    count, total = stats[:, Stat.ret_count], stats[:, Stat.ret_sum]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(count > 1, total / count, np.nan)
        variance = np.maximum(stats[:, Stat.ret_sumsq] - total * mean, 0.0) / (count - 1)
        std = np.where(count > 1, np.sqrt(variance), np.nan)
        downside = np.sqrt(stats[:, Stat.ret_down_sumsq] / count)
    return mean, std, downside


def metrics_from_stats(stats: np.ndarray, *, index: pd.DatetimeIndex, timeframe: str) -> pd.DataFrame:
    """One row of ``FAST_METRIC_NAMES`` per row of ``stats`` (combos x N_STATS), for books run on
    the bars of ``index`` (the simulated range). NaN where ``compute_metrics`` gives NaN."""
    stats = np.atleast_2d(np.asarray(stats, dtype="float64"))
    col = {field.name: stats[:, field] for field in Stat}
    per_year = bars_per_year(timeframe)
    total = col["final_equity"] / col["start_equity"]
    cagr = compound_annual_growth(total, bars=col["ret_count"], per_year=per_year)
    mean, std, downside = return_moments(stats)
    max_dd = col["max_drawdown"]
    trades = col["trades"]
    with np.errstate(divide="ignore", invalid="ignore"):
        expectancy = np.where(trades > 0, col["sum_return_pct"] / trades, np.nan)
        turnover = col["notional"] / (col["equity_sum"] / col["bars"])
    frame = pd.DataFrame(
        {
            "Start": index[0].isoformat(),
            "End": index[-1].isoformat(),
            "Duration": str(index[-1] - index[0]),
            "Exposure Time [%]": percent_of(col["exposure_bars"], col["bars"]),
            "Equity Final [$]": col["final_equity"],
            "Return [%]": (total - 1.0) * 100.0,
            "Buy & Hold Return [%]": (col["last_close"] / col["first_close"] - 1.0) * 100.0,
            "CAGR [%]": cagr * 100.0,
            "Volatility (Ann.) [%]": annualised(std, per_year) * 100.0,
            "Sharpe Ratio": sharpe_ratio(mean, std, per_year),
            "Sortino Ratio": sortino_ratio(mean, downside, per_year),
            "Calmar Ratio": calmar_ratio(cagr, max_dd),
            "Max. Drawdown [%]": max_dd * 100.0,
            "Max. Drawdown Duration": _durations(col["max_dd_ns"]),
            "# Trades": trades.astype("int64"),
            "Win Rate [%]": percent_of(col["wins"], trades),
            "Profit Factor": profit_factor(col["gross_profit"], col["gross_loss"]),
            "Expectancy [%]": expectancy,
            "Turnover": turnover,
            "Fees [$]": col["fees"],
        }
    )
    return frame[list(FAST_METRIC_NAMES)]


@njit(cache=True, parallel=True)
def gathered_moments(returns: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard deviation (ddof 1) and max. drawdown (negative fraction, as
    ``measures.max_drawdown`` of the equity compounding from 1.0) of ``returns[index[b], j]``
    over each row b of ``index`` (resamples x bars) for each book j of ``returns`` (bars x
    books, C order: one resampled bar reads one contiguous row of every book), each
    ``(resamples, books)``; NaN std under two bars. Rows run in parallel, each on its own."""
    n_rows, n = index.shape
    books = returns.shape[1]
    mean = np.empty((n_rows, books))
    std = np.empty((n_rows, books))
    drawdown = np.empty((n_rows, books))
    for b in prange(n_rows):
        total = np.zeros(books)
        squares = np.zeros(books)
        equity = np.ones(books)
        peak = np.ones(books)
        worst = np.ones(books)  # lowest equity / running peak so far
        for t in range(n):
            row = returns[index[b, t]]
            for j in range(books):
                r = row[j]
                total[j] += r
                squares[j] += r * r
                value = equity[j] * (1.0 + r)
                equity[j] = value
                peak[j] = max(peak[j], value)
                worst[j] = min(worst[j], value / peak[j])
        for j in range(books):
            average = total[j] / n
            mean[b, j] = average
            variance = (squares[j] - n * average * average) / (n - 1) if n > 1 else np.nan
            std[b, j] = np.sqrt(max(variance, 0.0)) if n > 1 else np.nan
            drawdown[b, j] = worst[j] - 1.0
    return mean, std, drawdown


def _durations(nanoseconds: np.ndarray) -> np.ndarray:
    """``str(pd.Timedelta(ns))`` of each value, formatted once per distinct value (a sweep
    has thousands of combos but few distinct drawdown lengths)."""
    distinct, where = np.unique(nanoseconds.astype("int64"), return_inverse=True)
    return np.array([str(pd.Timedelta(int(ns))) for ns in distinct], dtype=object)[where.reshape(-1)]
