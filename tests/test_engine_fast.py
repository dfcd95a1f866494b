"""The fast engine: hand-computed next-open fills, input checks, and its running-sum
statistics against the full ``Book`` + ``compute_metrics`` path on real bars."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.backtests.engine.fast import run_fast
from carryguard.backtests.engine.fast_metrics import FAST_METRIC_NAMES, metrics_from_stats
from carryguard.backtests.engine.metrics import compute_metrics
from carryguard.backtests.engine.stat_kernels import (
    batch_stats,
    prefix_sums,
    sma_cross_stats,
    sma_cross_targets,
    window_means,
)
from carryguard.strategies.loader import make_strategy
from tests.engine_support import COMMISSION, SLIP, small_bars
from tests.metrics_support import assert_metrics_equal

CONFIG = ExecutionConfig()


def one_book_stats(
    bars: pd.DataFrame,
    target: pd.Series,
    *,
    timeframe: str,
    window: slice = slice(None),
    config: ExecutionConfig = CONFIG,
) -> dict:
    """``batch_stats`` of one target over ``bars[window]`` (flat with fresh cash at its start),
    read by ``metrics_from_stats``."""
    start, end, _ = window.indices(len(bars))
    stats = batch_stats(
        bars["open"].to_numpy(),
        bars["close"].to_numpy(),
        bars.index.as_unit("ns").asi8,
        target.to_numpy()[None, :].copy(),
        np.array([start]),
        np.array([end]),
        config.costs,
    )
    return metrics_from_stats(stats[0], index=bars.index[start:end], timeframe=timeframe).iloc[0].to_dict()


def assert_fast_metrics_equal(expected: dict, actual: dict) -> None:
    """The fast path gives ``FAST_METRIC_NAMES`` in ``compute_metrics``' order, with its values."""
    assert list(actual) == [name for name in expected if name in FAST_METRIC_NAMES]
    assert_metrics_equal(expected, actual)


def test_run_fast_given_small_case_fills_at_next_open_with_fees_and_slippage():
    # Arrange: all in at bar 0's close, half at bar 1's, flat at bar 2's; bar 3's decision never executes.
    bars = small_bars()
    target = pd.Series([1.0, 0.5, 0.0, 1.0], index=bars.index)
    p1 = 110.0 * (1 + SLIP)
    q1 = 10_000.0 / (p1 * (1 + COMMISSION))
    p2 = 120.0 * (1 - SLIP)
    q2 = q1 / 2
    cash2 = q2 * p2 * (1 - COMMISSION)
    p3 = 130.0 * (1 - SLIP)
    cash3 = cash2 + (q1 - q2) * p3 * (1 - COMMISSION)

    # Act
    book = run_fast(bars, target, CONFIG)

    # Assert
    assert list(book.fills["time"]) == list(bars.index[1:])
    assert list(book.fills["side"]) == ["buy", "sell", "sell"]
    assert list(book.fills["price"]) == [p1, p2, p3]
    np.testing.assert_allclose(book.fills["qty"], [q1, q2, q1 - q2], rtol=1e-12)
    np.testing.assert_allclose(
        book.fills["fee"], [q1 * p1 * COMMISSION, q2 * p2 * COMMISSION, (q1 - q2) * p3 * COMMISSION], rtol=1e-12
    )
    np.testing.assert_allclose(book.cash, [10_000.0, 0.0, cash2, cash3], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(book.equity, [10_000.0, q1 * 108.0, cash2 + (q1 - q2) * 124.0, cash3], rtol=1e-12)
    assert len(book.trades) == 1 and not book.trades["is_open"].iloc[0]


def test_run_fast_given_change_inside_band_does_not_trade():
    # Arrange: 1.0 then 0.97 (3% < 5% band), then back to 1.0.
    bars = small_bars()
    target = pd.Series([1.0, 0.97, 1.0, 1.0], index=bars.index)

    # Act
    book = run_fast(bars, target, CONFIG)

    # Assert
    assert list(book.fills["side"]) == ["buy"]
    assert bool(book.trades["is_open"].iloc[0])


@pytest.mark.parametrize(
    "target, message",
    [
        (pd.Series([1.0, np.nan, 0.0, 0.0]), "NaN"),
        (pd.Series([1.0, 1.5, 0.0, 0.0]), r"\[0, 1\]"),
        (pd.Series([1.0, 1.0, 0.0]), "indexed like bars"),
    ],
)
def test_run_fast_given_bad_target_raises_value_error(target, message):
    # Arrange
    bars = small_bars()
    target.index = bars.index[: len(target)]

    # Act / Assert
    with pytest.raises(ValueError, match=message):
        run_fast(bars, target, CONFIG)


@pytest.mark.parametrize(
    "name, params",
    [
        ("sma_cross", {"fast": 10, "slow": 40}),
        ("tsmom", {"vol_target": 0.6}),
        ("dca", {}),
        ("rsi_oversold", {}),
        ("buy_and_hold", {}),
    ],
)
def test_batch_stats_given_real_bars_match_compute_metrics_of_the_book(shared_store, name, params):
    # Arrange
    bars = shared_store.read("binance/BTC-USDT/1d")
    target = make_strategy(name, **params).target_exposure(bars)
    expected = compute_metrics(run_fast(bars, target, CONFIG), bars, timeframe="1d")

    # Act
    actual = one_book_stats(bars, target, timeframe="1d")

    # Assert
    assert_fast_metrics_equal(expected, actual)


@pytest.mark.parametrize("target", [[0.0, 0.0, 0.0, 0.0], [1.0, 1.0]], ids=["never-invested", "two-bars"])
def test_metrics_from_stats_given_undefined_ratios_gives_nan_where_compute_metrics_does(target):
    # Arrange: a flat book (no trades, zero return spread) and a one-return book (no std);
    # book_stats reads times in ns (pandas 3 makes date_range microseconds)
    bars = small_bars().iloc[: len(target)]
    series = pd.Series(target, index=bars.index)
    expected = compute_metrics(run_fast(bars, series, CONFIG), bars, timeframe="1d")

    # Act
    actual = one_book_stats(bars, series, timeframe="1d")

    # Assert
    assert math.isnan(expected["Sharpe Ratio"])  # the case does reach an undefined ratio
    assert_fast_metrics_equal(expected, actual)


def test_batch_stats_given_position_cut_to_a_sliver_keep_the_trade_open_like_the_book():
    # Arrange: all in, cut to 0.5%, then out, then in again (no band): one round trip closes
    # only at the full exit, as ``trades_from_fills`` counts it; the second is still open.
    index = pd.date_range("2024-01-01", periods=6, freq="1D", tz="UTC", name="time")
    prices = [100.0, 104.0, 97.0, 101.0, 110.0, 108.0]
    bars = pd.DataFrame({"open": prices, "high": prices, "low": prices, "close": prices, "volume": 1.0}, index=index)
    target = pd.Series([1.0, 0.005, 0.005, 0.0, 1.0, 1.0], index=index)
    config = ExecutionConfig(rebalance_band=0.0)
    book = run_fast(bars, target, config)
    expected = compute_metrics(book, bars, timeframe="1d")

    # Act
    actual = one_book_stats(bars, target, timeframe="1d", config=config)

    # Assert
    assert list(book.trades["is_open"]) == [False, True]
    assert_fast_metrics_equal(expected, actual)


def test_batch_stats_given_window_match_a_book_run_on_that_window_only(shared_store):
    # Arrange: a window in the middle of the 4h history, starting flat with fresh cash.
    bars = shared_store.read("binance/BTC-USDT/4h")
    target = make_strategy("breakout").target_exposure(bars)
    start, end = 5_000, 8_000
    window = bars.iloc[start:end]
    expected = compute_metrics(run_fast(window, target.iloc[start:end], CONFIG), window, timeframe="4h")

    # Act
    actual = one_book_stats(bars, target, timeframe="4h", window=slice(start, end))

    # Assert
    assert_fast_metrics_equal(expected, actual)


def test_sma_cross_targets_given_real_4h_closes_equal_the_strategy_exposure(shared_store):
    # Arrange
    bars = shared_store.read("binance/BTC-USDT/4h")
    hi, lo = prefix_sums(bars["close"].to_numpy())
    pairs = [(2, 10), (5, 20), (13, 89), (20, 100), (50, 200), (99, 500), (1, 2)]
    out = np.empty(len(bars))

    for fast, slow in pairs:
        # Act
        means = window_means(hi, lo, np.array([fast, slow]))
        sma_cross_targets(means[0], means[1], max(fast, slow) - 1, out)

        # Assert
        expected = make_strategy("sma_cross", fast=fast, slow=slow).target_exposure(bars).to_numpy()
        assert np.array_equal(out, expected), (fast, slow)


def test_sma_cross_stats_given_pairs_equal_batch_stats_on_strategy_targets(shared_store):
    # Arrange
    bars = shared_store.read("binance/BTC-USDT/1d")
    open_, close, times = bars["open"].to_numpy(), bars["close"].to_numpy(), bars.index.asi8
    fast, slow = np.array([5, 10, 30]), np.array([20, 50, 200])
    targets = np.stack(
        [
            make_strategy("sma_cross", fast=int(f), slow=int(s)).target_exposure(bars).to_numpy()
            for f, s in zip(fast, slow, strict=False)
        ]
    )
    windows = (np.array([0, 500]), np.array([len(bars), 2_000]))
    expected = batch_stats(open_, close, times, targets, *windows, CONFIG.costs)

    # Act
    hi, lo = prefix_sums(close)
    actual = sma_cross_stats(open_, close, times, hi, lo, fast, slow, *windows, CONFIG.costs)

    # Assert
    assert actual.shape == (2, 3, expected.shape[2])
    assert np.array_equal(actual, expected)


def test_prefix_sums_given_large_and_small_values_give_window_sums_to_rounding():
    # Arrange: values spanning eight orders of magnitude, where a plain cumsum loses digits.
    rng = np.random.default_rng(3)
    values = rng.uniform(0.0, 1.0, 5_000) * 10.0 ** rng.integers(-2, 6, 5_000)

    # Act
    hi, lo = prefix_sums(values)

    # Assert
    for a, b in [(0, 5_000), (100, 130), (4_000, 4_017), (2_500, 2_501)]:
        exact = math.fsum(values[a:b])
        assert (hi[b] - hi[a]) + (lo[b] - lo[a]) == pytest.approx(exact, rel=4e-16)


def test_jit_given_fresh_interpreter_loads_no_scipy_blas_and_a_blas_kernel_still_compiles():
    # Arrange: a fresh interpreter, as a user's command; scipy's BLAS extension is a file mapped once loaded
    code = (
        "import numpy as np\n"
        "from carryguard.backtests.engine.jit import njit\n"
        "def blas():\n"
        "    return any('cython_blas' in line for line in open('/proc/self/maps'))\n"
        "print(blas())\n"
        "dot = njit(lambda a, b: np.dot(a, b))\n"  # numba loads scipy's BLAS when it compiles this
        "print(dot(np.ones(3), np.arange(3.0)), blas())\n"
    )

    # Act
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    # Assert
    assert done.stdout.splitlines() == ["False", "3.0 True"]
