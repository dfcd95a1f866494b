"""Metrics from the fast engine's running sums, vectorised over many books.

``metrics_from_stats`` gives, for each row of ``engine_fast`` statistics, the same
numbers as ``carryguard.backtests.engine.metrics.compute_metrics`` on the full ``Book`` (same names, order,
units and formulas; equal up to floating-point summation order), without ever holding an
equity curve per combination.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carryguard.backtests.engine.fast import STAT_INDEX
from carryguard.backtests.engine.metrics import METRIC_NAMES, bars_per_year


def metrics_from_stats(stats: np.ndarray, *, index: pd.DatetimeIndex, timeframe: str) -> pd.DataFrame:
    """One row of ``METRIC_NAMES`` per row of ``stats`` (combos x N_STATS), for books run on
    the bars of ``index`` (the simulated range). NaN where ``compute_metrics`` gives NaN."""
    stats = np.atleast_2d(np.asarray(stats, dtype="float64"))
    col = {name: stats[:, i] for name, i in STAT_INDEX.items()}
    per_year = bars_per_year(timeframe)
    with np.errstate(divide="ignore", invalid="ignore"):
        total = col["final_equity"] / col["start_equity"]
        years = col["ret_count"] / per_year
        cagr = np.where((years > 0) & (total > 0), total ** (1.0 / years) - 1.0, np.nan)
        count = col["ret_count"]
        mean = np.where(count > 1, col["ret_sum"] / count, np.nan)
        variance = np.maximum(col["ret_sumsq"] - col["ret_sum"] * mean, 0.0) / (count - 1)
        std = np.where(count > 1, np.sqrt(variance), np.nan)
        downside = np.sqrt(col["ret_down_sumsq"] / count)
        max_dd = col["max_drawdown"]
        trades = col["trades"]
        frame = pd.DataFrame(
            {
                "Start": index[0].isoformat(),
                "End": index[-1].isoformat(),
                "Duration": str(index[-1] - index[0]),
                "Exposure Time [%]": col["exposure_bars"] / col["bars"] * 100.0,
                "Equity Final [$]": col["final_equity"],
                "Return [%]": (total - 1.0) * 100.0,
                "Buy & Hold Return [%]": (col["last_close"] / col["first_close"] - 1.0) * 100.0,
                "CAGR [%]": cagr * 100.0,
                "Volatility (Ann.) [%]": std * np.sqrt(per_year) * 100.0,
                "Sharpe Ratio": np.where(std > 0, mean / std * np.sqrt(per_year), np.nan),
                "Sortino Ratio": np.where(downside > 0, mean / downside * np.sqrt(per_year), np.nan),
                "Calmar Ratio": np.where(max_dd < 0, cagr / -max_dd, np.nan),
                "Max. Drawdown [%]": max_dd * 100.0,
                "Max. Drawdown Duration": [str(pd.Timedelta(int(ns))) for ns in col["max_dd_ns"]],
                "# Trades": trades.astype("int64"),
                "Win Rate [%]": np.where(trades > 0, col["wins"] / trades * 100.0, np.nan),
                "Profit Factor": np.where(col["gross_loss"] > 0, col["gross_profit"] / col["gross_loss"], np.nan),
                "Expectancy [%]": np.where(trades > 0, col["sum_return_pct"] / trades, np.nan),
                "Turnover": col["notional"] / (col["equity_sum"] / col["bars"]),
                "Fees [$]": col["fees"],
            }
        )
    return frame[list(METRIC_NAMES)]
