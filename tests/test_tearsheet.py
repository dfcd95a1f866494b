"""Tearsheet tables: monthly/yearly returns, rolling stats, worst drawdowns, alpha/beta."""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pandas as pd
import pytest

from carryguard.backtests.report.tearsheet import (
    MONTHS,
    alpha_beta,
    monthly_returns,
    rolling_stats,
    worst_drawdowns,
    yearly_returns,
)


def daily(values: list[float], start: str = "2023-12-30") -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="1D", tz="UTC", name="time"))


def test_monthly_returns_given_curve_across_a_year_end_chains_month_ends():
    # Arrange: 2023-12-30 100, 12-31 110 | 2024-01-01 121, ... Jan ends 132, Feb starts after
    equity = pd.Series(
        [100.0, 110.0, 121.0, 132.0, 99.0],
        index=pd.DatetimeIndex(
            ["2023-12-30", "2023-12-31", "2024-01-01", "2024-01-31", "2024-02-01"], tz="UTC", name="time"
        ),
    )

    # Act
    table = monthly_returns(equity)
    years = yearly_returns(equity)

    # Assert
    assert list(table.columns) == [*MONTHS, "Year"] and list(table.index) == [2023, 2024]
    assert table.loc[2023, "Dec"] == pytest.approx(10.0)
    assert table.loc[2024, "Jan"] == pytest.approx(20.0)  # 132 / 110
    assert table.loc[2024, "Feb"] == pytest.approx(-25.0)  # 99 / 132
    assert math.isnan(table.loc[2024, "Mar"]) and math.isnan(table.loc[2023, "Nov"])
    assert years.to_dict() == pytest.approx({2023: 10.0, 2024: 99 / 110 * 100 - 100})
    assert table["Year"].tolist() == pytest.approx(years.tolist())


def test_monthly_returns_given_missing_equity_at_a_month_end_uses_the_months_last_known_equity():
    # Arrange: Jan ends on a missing value (its last known equity is 120); February has none at all
    equity = pd.Series(
        [100.0, 120.0, math.nan, math.nan, 90.0],
        index=pd.DatetimeIndex(
            ["2024-01-01", "2024-01-15", "2024-01-31", "2024-02-10", "2024-03-01"], tz="UTC", name="time"
        ),
    )

    # Act
    table = monthly_returns(equity)

    # Assert: as pandas' groupby(month).last() gives the month ends (120, NaN, 90)
    assert table.loc[2024, "Jan"] == pytest.approx(20.0)
    assert math.isnan(table.loc[2024, "Feb"]) and math.isnan(table.loc[2024, "Mar"])  # 90 / NaN
    assert table.loc[2024, "Year"] == pytest.approx(-10.0)  # 90 / 100


def test_rolling_stats_given_window_equals_sharpe_and_volatility_of_each_window():
    # Arrange
    rng = np.random.default_rng(2)
    equity = daily(list(100 * np.cumprod(1 + rng.normal(0.001, 0.02, 60))))
    returns = equity.pct_change().dropna()

    # Act
    stats = rolling_stats(equity, timeframe="1d", window="30D")

    # Assert
    assert stats.iloc[:29].isna().all().all() and not stats.iloc[29:].isna().any().any()
    last = returns.iloc[-30:]
    assert stats["Sharpe Ratio"].iloc[-1] == pytest.approx(empyrical.sharpe_ratio(last, annualization=365), rel=1e-9)
    assert stats["Volatility (Ann.) [%]"].iloc[-1] / 100 == pytest.approx(
        empyrical.annual_volatility(last, annualization=365), rel=1e-9
    )


def test_worst_drawdowns_given_three_falls_lists_deepest_first_with_recovery():
    # Arrange: -10% (days 1-3, recovered), -30% (days 4-6, recovered), -20% (days 7-8, open)
    equity = daily([100.0, 110.0, 99.0, 110.0, 120.0, 84.0, 121.0, 125.0, 100.0])

    # Act
    worst = worst_drawdowns(equity, count=2)

    # Assert
    index = equity.index
    assert worst["Depth [%]"].tolist() == pytest.approx([-30.0, -20.0])
    assert worst["start"].tolist() == [index[4], index[7]]
    assert worst["trough"].tolist() == [index[5], index[8]]
    assert worst["recovery"].iloc[0] == index[6] and pd.isna(worst["recovery"].iloc[1])
    assert worst["length"].tolist() == [pd.Timedelta(days=2), pd.Timedelta(days=1)]


def test_alpha_beta_given_random_walk_agrees_with_empyrical():
    # Arrange
    rng = np.random.default_rng(4)
    close = daily(list(100 * np.exp(np.cumsum(rng.normal(0.0, 0.03, 400)))))
    equity = 0.5 * close + 50 + daily(list(np.cumsum(rng.normal(0.05, 0.5, 400))))
    returns, market = equity.pct_change().dropna(), close.pct_change().dropna()

    # Act
    result = alpha_beta(equity, close, timeframe="1d")

    # Assert
    alpha, beta = empyrical.alpha_beta(returns, market, annualization=365)
    assert result["Beta"] == pytest.approx(beta, rel=1e-9)
    assert result["Alpha (Ann.) [%]"] / 100 == pytest.approx(alpha, rel=1e-9)
