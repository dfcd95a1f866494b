"""Metrics: hand-computed cases and an independent implementation (empyrical)."""

from __future__ import annotations

import math
import statistics

import empyrical
import numpy as np
import pandas as pd
import pytest

from carryguard.backtests.engine.book import fills_frame, make_book
from carryguard.backtests.engine.measures import bars_per_year
from carryguard.backtests.engine.metrics import METRIC_NAMES, compute_metrics


def bars_from_close(close: list[float], freq: str = "1D") -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=len(close), freq=freq, tz="UTC", name="time")
    values = np.asarray(close, dtype="float64")
    return pd.DataFrame({"open": values, "high": values, "low": values, "close": values, "volume": 1.0}, index=index)


def held_book(bars: pd.DataFrame, units: float, fee: float = 0.0):
    """A book holding ``units`` from the first bar, bought at the first close with ``fee``."""
    n = len(bars)
    fills = fills_frame([bars.index[0]], [units], [bars["close"].iloc[0]], [fee])
    return make_book(
        bars, cash=[0.0] * n, position=[units] * n, fills=fills, initial_cash=units * bars["close"].iloc[0]
    )


def test_compute_metrics_given_four_bar_equity_matches_hand_computation():
    # Arrange: equity 100 -> 110 -> 99 -> 121 (10 units, close 10, 11, 9.9, 12.1).
    bars = bars_from_close([10.0, 11.0, 9.9, 12.1])
    book = held_book(bars, 10.0, fee=0.1)
    returns = [0.1, 99 / 110 - 1, 121 / 99 - 1]
    mean, std = statistics.mean(returns), statistics.stdev(returns)
    downside = math.sqrt(sum(min(r, 0.0) ** 2 for r in returns) / 3)
    cagr = 1.21 ** (365 / 3) - 1

    # Act
    m = compute_metrics(book, bars, timeframe="1d")

    # Assert
    assert tuple(m) == METRIC_NAMES
    assert (m["Start"], m["End"], m["Duration"]) == (
        "2024-01-01T00:00:00+00:00",
        "2024-01-04T00:00:00+00:00",
        "3 days 00:00:00",
    )
    assert m["Equity Final [$]"] == pytest.approx(121.0)
    assert m["Return [%]"] == pytest.approx(21.0)
    assert m["Buy & Hold Return [%]"] == pytest.approx(21.0)
    assert m["CAGR [%]"] == pytest.approx(cagr * 100)
    assert m["Volatility (Ann.) [%]"] == pytest.approx(std * math.sqrt(365) * 100)
    assert m["Sharpe Ratio"] == pytest.approx(mean / std * math.sqrt(365))
    assert m["Sortino Ratio"] == pytest.approx(mean / downside * math.sqrt(365))
    assert m["Max. Drawdown [%]"] == pytest.approx(-10.0)
    assert m["Calmar Ratio"] == pytest.approx(cagr / 0.10)
    assert m["Max. Drawdown Duration"] == "2 days 00:00:00"  # peak on day 2, new high on day 4
    assert m["Exposure Time [%]"] == 100.0
    assert m["# Trades"] == 1
    assert m["Win Rate [%]"] == 100.0
    assert m["Expectancy [%]"] == pytest.approx((121 - 100 - 0.1) / 100 * 100)
    assert m["Turnover"] == pytest.approx(100.0 / np.mean([100, 110, 99, 121]))
    assert m["Fees [$]"] == pytest.approx(0.1)


def test_compute_metrics_given_a_win_and_a_loss_computes_trade_statistics():
    # Arrange: buy 1 @100, sell @130 (win 30); buy 1 @120, sell @90 (loss 30 + fees).
    bars = bars_from_close([100.0, 130.0, 120.0, 90.0, 95.0])
    fills = fills_frame(bars.index[:4], [1.0, -1.0, 1.0, -1.0], [100.0, 130.0, 120.0, 90.0], [0.0, 0.0, 1.0, 1.0])
    cash = [0.0, 130.0, 10.0, 99.0, 99.0]
    position = [1.0, 0.0, 1.0, 0.0, 0.0]
    book = make_book(bars, cash=cash, position=position, fills=fills, initial_cash=100.0)

    # Act
    m = compute_metrics(book, bars, timeframe="1d")

    # Assert
    assert m["# Trades"] == 2
    assert m["Win Rate [%]"] == 50.0
    assert m["Profit Factor"] == pytest.approx(30.0 / 32.0)
    assert m["Expectancy [%]"] == pytest.approx((30.0 + (-32.0 / 120.0 * 100)) / 2)
    assert m["Exposure Time [%]"] == pytest.approx(40.0)
    assert m["Fees [$]"] == pytest.approx(2.0)
    assert m["Turnover"] == pytest.approx(440.0 / np.mean([100.0, 130.0, 130.0, 99.0, 99.0]))
    # Equity 100, 130, 130, 99, 99: last at its peak on day 3, below it until the last bar (day 5).
    assert m["Max. Drawdown Duration"] == "2 days 00:00:00"


def test_compute_metrics_given_random_walk_agrees_with_empyrical():
    # Arrange
    rng = np.random.default_rng(3)
    close = list(100 * np.exp(np.cumsum(rng.normal(0.001, 0.03, 800))))
    bars = bars_from_close(close)
    book = held_book(bars, 2.0)
    returns = book.equity.pct_change().dropna()

    # Act
    m = compute_metrics(book, bars, timeframe="1d")

    # Assert
    assert m["Sharpe Ratio"] == pytest.approx(empyrical.sharpe_ratio(returns, annualization=365), rel=1e-9)
    assert m["Sortino Ratio"] == pytest.approx(empyrical.sortino_ratio(returns, annualization=365), rel=1e-9)
    assert m["Max. Drawdown [%]"] / 100 == pytest.approx(empyrical.max_drawdown(returns), rel=1e-9)
    assert m["CAGR [%]"] / 100 == pytest.approx(empyrical.annual_return(returns, annualization=365), rel=1e-9)
    assert m["Volatility (Ann.) [%]"] / 100 == pytest.approx(
        empyrical.annual_volatility(returns, annualization=365), rel=1e-9
    )


def test_compute_metrics_given_4h_bars_annualises_with_2190_bars_per_year():
    # Arrange
    rng = np.random.default_rng(5)
    bars = bars_from_close(list(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))), freq="4h")
    book = held_book(bars, 1.0)
    returns = book.equity.pct_change().dropna()

    # Act
    m = compute_metrics(book, bars, timeframe="4h")

    # Assert
    assert bars_per_year("4h") == 2190 and bars_per_year("1d") == 365
    assert m["Sharpe Ratio"] == pytest.approx(empyrical.sharpe_ratio(returns, annualization=2190), rel=1e-9)
    assert m["Volatility (Ann.) [%]"] / 100 == pytest.approx(
        empyrical.annual_volatility(returns, annualization=2190), rel=1e-9
    )


def test_compute_metrics_given_flat_cash_book_reports_undefined_ratios_as_nan():
    # Arrange: never trades.
    bars = bars_from_close([10.0, 12.0, 8.0])
    book = make_book(bars, cash=[100.0] * 3, position=[0.0] * 3, fills=fills_frame([], [], [], []), initial_cash=100.0)

    # Act
    m = compute_metrics(book, bars, timeframe="1d")

    # Assert
    assert m["Return [%]"] == 0.0 and m["Max. Drawdown [%]"] == 0.0 and m["# Trades"] == 0
    assert m["Buy & Hold Return [%]"] == pytest.approx(-20.0)
    assert all(math.isnan(m[k]) for k in ("Sharpe Ratio", "Sortino Ratio", "Calmar Ratio", "Win Rate [%]"))
    assert m["Max. Drawdown Duration"] == "0 days 00:00:00"


def test_compute_metrics_given_two_trades_matches_hand_computed_backtesting_py_stats():
    # Arrange: buy 1 @100 on day 1, sell @130 on day 2 (+30); buy 1 @120 on day 3, sell @90
    # on day 4 (-30 - 2 fees). Equity 100, 130, 130, 99, 99.
    bars = bars_from_close([100.0, 130.0, 120.0, 90.0, 95.0])
    fills = fills_frame(bars.index[:4], [1.0, -1.0, 1.0, -1.0], [100.0, 130.0, 120.0, 90.0], [0.0, 0.0, 1.0, 1.0])
    book = make_book(
        bars, cash=[0.0, 130.0, 10.0, 99.0, 99.0], position=[1.0, 0.0, 1.0, 0.0, 0.0], fills=fills, initial_cash=100.0
    )
    r1, r2 = 30.0, -32.0 / 120.0 * 100  # trade returns [%]
    pnl = [30.0, -32.0]

    # Act
    m = compute_metrics(book, bars, timeframe="1d")

    # Assert
    assert m["Equity Peak [$]"] == 130.0
    assert m["Best Trade [%]"] == pytest.approx(r1) and m["Worst Trade [%]"] == pytest.approx(r2)
    assert m["Avg. Trade [%]"] == pytest.approx((math.sqrt((1 + r1 / 100) * (1 + r2 / 100)) - 1) * 100)
    assert m["Max. Trade Duration"] == "1 days 00:00:00" and m["Avg. Trade Duration"] == "1 days 00:00:00"
    assert m["SQN"] == pytest.approx(math.sqrt(2) * statistics.mean(pnl) / statistics.stdev(pnl))
    assert m["Kelly Criterion"] == pytest.approx(0.5 - 0.5 / (30.0 / 32.0))
    # one drawdown: last at the 130 peak on day 3, 99 on day 4, still under water at the end (day 5)
    assert m["Avg. Drawdown [%]"] == pytest.approx((99 / 130 - 1) * 100)
    assert m["Avg. Drawdown Duration"] == "2 days 00:00:00"


def test_compute_metrics_given_two_drawdowns_averages_their_depth_and_length():
    # Arrange: equity 100, 90 (peak day 1 -> recovered day 3), 100, 110, 88, 120 (peak day 4 -> day 6)
    bars = bars_from_close([10.0, 9.0, 10.0, 11.0, 8.8, 12.0])
    book = held_book(bars, 10.0)

    # Act
    m = compute_metrics(book, bars, timeframe="1d")

    # Assert
    assert m["Avg. Drawdown [%]"] == pytest.approx((-10.0 + -20.0) / 2)
    assert m["Avg. Drawdown Duration"] == "2 days 00:00:00"
    assert m["Max. Drawdown Duration"] == "2 days 00:00:00"


def test_compute_metrics_given_random_walk_beta_and_alpha_agree_with_empyrical_and_backtesting_py():
    # Arrange: half the equity in the market (rebalanced by holding 1 unit on 2x cash)
    rng = np.random.default_rng(11)
    close = 100 * np.exp(np.cumsum(rng.normal(0.001, 0.03, 500)))
    bars = bars_from_close(list(close))
    n = len(bars)
    fills = fills_frame([bars.index[0]], [1.0], [close[0]], [0.0])
    book = make_book(bars, cash=[close[0]] * n, position=[1.0] * n, fills=fills, initial_cash=2 * close[0])
    returns = book.equity.pct_change().dropna()
    market = bars["close"].pct_change().dropna()

    # Act
    m = compute_metrics(book, bars, timeframe="1d")

    # Assert
    assert m["Beta"] == pytest.approx(empyrical.beta(returns, market), rel=1e-9)
    assert m["Alpha [%]"] == pytest.approx(m["Return [%]"] - m["Beta"] * m["Buy & Hold Return [%]"], rel=1e-12)


def test_compute_metrics_given_no_trades_gives_undefined_trade_stats():
    # Arrange
    bars = bars_from_close([10.0, 12.0, 8.0])
    book = make_book(bars, cash=[100.0] * 3, position=[0.0] * 3, fills=fills_frame([], [], [], []), initial_cash=100.0)

    # Act
    m = compute_metrics(book, bars, timeframe="1d")

    # Assert
    assert m["Max. Trade Duration"] is None and m["Avg. Trade Duration"] is None
    for name in ("Best Trade [%]", "Worst Trade [%]", "Avg. Trade [%]", "SQN", "Kelly Criterion"):
        assert math.isnan(m[name]), name
    assert m["Beta"] == 0.0 and m["Alpha [%]"] == 0.0 and m["Avg. Drawdown [%]"] == 0.0
