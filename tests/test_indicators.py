"""Trailing indicators: hand-computed values, an independent RSI, truncation safety."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carryguard.signals.indicators import (
    donchian,
    drawdown_from_high,
    periods_per_year,
    realized_volatility,
    rolling_high,
    rsi,
    sma,
)


def series(values: list[float], freq: str = "1D") -> pd.Series:
    index = pd.date_range("2024-01-01", periods=len(values), freq=freq, tz="UTC", name="time")
    return pd.Series(values, index=index, dtype="float64")


def wilder_rsi_by_hand(close: list[float], period: int) -> list[float]:
    """Textbook Wilder RSI written as a plain loop (independent of the pandas version)."""
    changes = [b - a for a, b in itertools.pairwise(close)]
    out = [float("nan")] * len(close)
    if len(changes) < period:
        return out
    gain = sum(max(c, 0.0) for c in changes[:period]) / period
    loss = sum(max(-c, 0.0) for c in changes[:period]) / period
    for i in range(period, len(close)):
        if i > period:
            change = changes[i - 1]
            gain = (gain * (period - 1) + max(change, 0.0)) / period
            loss = (loss * (period - 1) + max(-change, 0.0)) / period
        out[i] = 100.0 if loss == 0 else 100.0 - 100.0 / (1.0 + gain / loss)
    return out


def test_sma_given_window_3_averages_last_three_and_nan_warmup() -> None:
    # Arrange
    values = series([1.0, 2.0, 3.0, 4.0, 8.0])
    # Act
    result = sma(values, 3)
    # Assert
    assert result.isna().tolist() == [True, True, False, False, False]
    assert result.iloc[2:].tolist() == [2.0, 3.0, 5.0]


def test_rsi_given_random_walk_matches_textbook_wilder_loop() -> None:
    # Arrange
    rng = np.random.default_rng(7)
    close = list(100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.03, 200))))
    # Act
    result = rsi(series(close), 14)
    # Assert
    expected = wilder_rsi_by_hand(close, 14)
    np.testing.assert_allclose(result.to_numpy(), expected, rtol=1e-12, equal_nan=True)
    assert result.iloc[:14].isna().all() and result.iloc[14:].notna().all()


def test_rsi_given_only_gains_reads_100_and_only_losses_reads_0() -> None:
    # Arrange
    up = series([float(v) for v in range(1, 21)])
    down = series([float(v) for v in range(20, 0, -1)])
    flat = series([5.0] * 20)
    # Act / Assert
    assert (rsi(up, 5).iloc[5:] == 100.0).all()
    assert (rsi(down, 5).iloc[5:] == 0.0).all()
    assert (rsi(flat, 5).iloc[5:] == 50.0).all()


def test_rolling_high_and_drawdown_given_small_path_match_hand_values() -> None:
    # Arrange
    close = series([100.0, 120.0, 90.0, 60.0, 80.0])
    # Act
    high = rolling_high(close, 3)
    dd = drawdown_from_high(close, 3)
    # Assert: the window of 3 drops the 120 high at the last bar
    assert high.tolist() == [100.0, 120.0, 120.0, 120.0, 90.0]
    np.testing.assert_allclose(dd.to_numpy(), [0.0, 0.0, -0.25, -0.5, 80.0 / 90.0 - 1.0])


def test_donchian_given_window_2_gives_highest_high_and_lowest_low() -> None:
    # Arrange
    high = series([10.0, 12.0, 11.0, 15.0])
    low = series([8.0, 9.0, 7.0, 10.0])
    # Act
    channel = donchian(high, low, 2)
    # Assert
    assert channel["upper"].iloc[1:].tolist() == [12.0, 12.0, 15.0]
    assert channel["lower"].iloc[1:].tolist() == [8.0, 7.0, 7.0]
    assert np.isnan(channel["upper"].iloc[0])


def test_realized_volatility_given_alternating_returns_matches_numpy_std() -> None:
    # Arrange: log returns +0.01, -0.01, ... in a daily series
    close = series(list(100.0 * np.exp(np.cumsum([0.0] + [0.01, -0.01] * 10))))
    returns = np.diff(np.log(close.to_numpy()))
    # Act
    vol = realized_volatility(close, 4, periods_per_year=365.0)
    # Assert
    expected = np.std(returns[-4:], ddof=1) * np.sqrt(365.0)
    assert vol.iloc[-1] == pytest.approx(expected)
    assert vol.iloc[:4].isna().all() and vol.iloc[4:].notna().all()


@pytest.mark.parametrize(("freq", "expected"), [("1D", 365.0), ("4h", 6 * 365.0)])
def test_periods_per_year_given_bar_spacing_returns_crypto_calendar(freq: str, expected: float) -> None:
    # Arrange
    index = series([1.0] * 10, freq=freq).index
    # Act / Assert
    assert periods_per_year(index) == pytest.approx(expected)


def test_indicators_given_bad_window_raise_type_and_value_errors() -> None:
    # Arrange
    close = series([1.0, 2.0, 3.0])
    # Act / Assert
    with pytest.raises(TypeError, match="window must be an int"):
        sma(close, 2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="window must be >= 1"):
        rolling_high(close, 0)
    with pytest.raises(ValueError, match="periods_per_year"):
        realized_volatility(close, 2, periods_per_year=0.0)


@settings(max_examples=40, deadline=None)
@given(
    returns=st.lists(st.floats(-0.2, 0.2, allow_nan=False), min_size=2, max_size=80),
    cut=st.integers(1, 79),
)
def test_indicators_given_any_cut_point_are_truncation_safe(returns: list[float], cut: int) -> None:
    # Arrange
    close = series(list(100.0 * np.exp(np.cumsum(returns))))
    cut = min(cut, len(close))
    computations = {
        "sma": lambda s: sma(s, 5),
        "rsi": lambda s: rsi(s, 5),
        "drawdown": lambda s: drawdown_from_high(s, 10),
        "donchian": lambda s: donchian(s * 1.01, s * 0.99, 7)["lower"],
        "vol": lambda s: realized_volatility(s, 5, periods_per_year=365.0),
    }
    for name, compute in computations.items():
        # Act
        full = compute(close).iloc[:cut]
        truncated = compute(close.iloc[:cut])
        # Assert
        pd.testing.assert_series_equal(truncated, full, check_names=False, obj=name)
