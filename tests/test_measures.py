"""The shared metric formulas: one series (1-D) and many books (2-D) agree, drawdown episodes by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from carryguard.backtests.engine.measures import (
    annual_volatility,
    drawdown_periods,
    equity_returns,
    growth_curve,
    longest_drawdown,
    max_drawdown,
    sharpe,
    sortino,
)
from carryguard.signals.json_file import dumps


def test_measures_given_2d_books_equal_the_1d_result_of_each_row() -> None:
    # Arrange
    returns = np.random.default_rng(7).normal(0.0005, 0.02, (4, 250))
    equity = growth_curve(returns)

    # Act
    many = [sharpe(returns, 365), sortino(returns, 365), annual_volatility(returns, 365), max_drawdown(equity)]

    # Assert
    for k in range(4):
        one = [sharpe(returns[k], 365), sortino(returns[k], 365), annual_volatility(returns[k], 365)]
        assert [float(m[k]) for m in many[:3]] == one
        assert float(many[3][k]) == max_drawdown(equity[k])
        assert isinstance(one[0], float)


def test_growth_curve_given_returns_starts_at_one_and_compounds_back_to_them() -> None:
    # Act
    curve = growth_curve(np.array([0.1, -0.5, 1.0]))

    # Assert
    assert curve.tolist() == pytest.approx([1.0, 1.1, 0.55, 1.1])
    assert equity_returns(curve) == pytest.approx([0.1, -0.5, 1.0])


def test_drawdown_periods_given_two_falls_lists_start_trough_end_depth_and_length() -> None:
    # Arrange: peak 110 on day 1, trough 88 on day 3, back above on day 4; 120 then 90 to the end.
    index = pd.date_range("2024-01-01", periods=7, freq="1D", tz="UTC")
    equity = pd.Series([100.0, 110.0, 99.0, 88.0, 115.0, 120.0, 90.0], index=index)

    # Act
    periods = drawdown_periods(equity)

    # Assert
    assert periods["start"].tolist() == [index[1], index[5]]
    assert periods["trough"].tolist() == [index[3], index[6]]
    assert periods["end"].tolist() == [index[4], index[6]]
    assert periods["recovered"].tolist() == [True, False]
    assert periods["depth"].tolist() == pytest.approx([88 / 110 - 1, 90 / 120 - 1])
    assert periods["length"].tolist() == [pd.Timedelta(days=3), pd.Timedelta(days=1)]
    assert longest_drawdown(equity) == pd.Timedelta(days=3)
    assert max_drawdown(equity.to_numpy()) == pytest.approx(-0.25)


def test_sharpe_given_flat_or_single_return_is_nan() -> None:
    # Act / Assert
    assert math.isnan(sharpe(np.zeros(10), 365))
    assert math.isnan(sharpe(np.array([0.01]), 365))
    assert np.isnan(sharpe(np.zeros((2, 10)), 365)).all()


def test_dumps_given_nan_inf_and_numpy_scalars_writes_null_and_plain_numbers() -> None:
    # Act
    text = dumps({"a": float("nan"), "b": [np.float64(1.5), float("-inf")], "c": np.int64(3), "d": (1, 2)})

    # Assert
    assert json.loads(text) == {"a": None, "b": [1.5, None], "c": 3, "d": [1, 2]}
    assert text.endswith("}\n")
