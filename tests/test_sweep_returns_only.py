"""Returns-only sweep kernels: the same bits as the full kernels on what they keep, and a
walk-forward ranked on them equal to one ranked on full statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.backtests.engine.fast_metrics import FAST_METRIC_NAMES, metrics_from_stats
from carryguard.backtests.engine.stat_kernels import RETURN_STATS, batch_stats, prefix_sums, sma_cross_stats
from carryguard.backtests.sweep.chunk import SweepData
from carryguard.backtests.sweep.study import combos, study_from_dict
from carryguard.backtests.sweep.walkforward import RETURN_METRICS, plan_walk, walk_result

COSTS = ExecutionConfig(commission=0.001, slippage_bps=5.0, rebalance_band=0.05).costs


@pytest.fixture(scope="module")
def daily(shared_store) -> pd.DataFrame:
    return shared_store.read("binance/BTC-USDT/1d")


def _windows(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Whole, long, short and the shortest windows (one bar; three bars)."""
    pairs = [(0, n), (300, n), (100, 1_200), (2_000, 2_003), (7, 8)]
    return np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])


def _assert_same_kept_bits(full: np.ndarray, returns: np.ndarray) -> None:
    kept = list(RETURN_STATS)
    assert full[..., kept].tobytes() == returns[..., kept].tobytes()
    assert np.isnan(np.delete(returns, kept, axis=2)).all()


def test_batch_stats_given_returns_only_keeps_the_return_stats_bit_for_bit(daily):
    # Arrange: fractional targets (partial fills inside and outside the band), all in, flat
    rng = np.random.default_rng(5)
    targets = rng.uniform(0.0, 1.0, (4, len(daily)))
    targets[1] = 1.0
    targets[2] = 0.0
    targets[3, rng.uniform(size=len(daily)) < 0.5] = 0.0
    args = (daily["open"].to_numpy(), daily["close"].to_numpy(), daily.index.as_unit("ns").asi8, targets)

    # Act
    full = batch_stats(*args, *_windows(len(daily)), COSTS, False)
    returns = batch_stats(*args, *_windows(len(daily)), COSTS, True)

    # Assert
    _assert_same_kept_bits(full, returns)


def test_sma_cross_stats_given_returns_only_keeps_the_return_stats_bit_for_bit(daily):
    # Arrange
    open_, close, times = daily["open"].to_numpy(), daily["close"].to_numpy(), daily.index.as_unit("ns").asi8
    hi, lo = prefix_sums(close)
    fast, slow = np.array([2, 5, 20, 50]), np.array([10, 30, 100, 200])

    # Act
    full = sma_cross_stats(open_, close, times, hi, lo, fast, slow, *_windows(len(daily)), COSTS, False)
    returns = sma_cross_stats(open_, close, times, hi, lo, fast, slow, *_windows(len(daily)), COSTS, True)

    # Assert
    _assert_same_kept_bits(full, returns)


def test_return_metrics_given_returns_only_stats_are_exactly_the_metrics_they_give(daily):
    # Arrange
    open_, close, times = daily["open"].to_numpy(), daily["close"].to_numpy(), daily.index.as_unit("ns").asi8
    hi, lo = prefix_sums(close)
    fast, slow = np.arange(2, 40, 3), np.arange(20, 400, 30)
    window = (np.array([100]), np.array([len(daily)]))
    full = sma_cross_stats(open_, close, times, hi, lo, fast, slow, *window, COSTS, False)[0]
    returns = sma_cross_stats(open_, close, times, hi, lo, fast, slow, *window, COSTS, True)[0]

    # Act
    expected = metrics_from_stats(full, index=daily.index[100:], timeframe="1d")
    with np.errstate(invalid="ignore"):
        actual = metrics_from_stats(returns, index=daily.index[100:], timeframe="1d")

    # Assert: a metric is a return metric exactly when the returns-only stats give it unchanged
    same = {name for name in FAST_METRIC_NAMES if expected[name].equals(actual[name])}
    assert same - {"Start", "End", "Duration"} == RETURN_METRICS


@pytest.mark.parametrize("metric", ["Sharpe Ratio", "Sortino Ratio", "Return [%]"])
def test_walk_result_given_returns_only_stats_equals_the_one_from_full_stats(daily, metric):
    # Arrange
    study = study_from_dict(
        {
            "name": "wf",
            "data": {"symbols": ["BTC/USDT"], "timeframes": ["1d"]},
            "strategies": {"sma_cross": {}},
            "sweep": {"constraints": ["fast < slow"], "metric": metric},
            "params": {"fast": [5, 10, 20, 50], "slow": [30, 100, 200]},
            "walkforward": {"mode": "rolling", "train": "730D", "test": "365D"},
        }
    )
    todo = combos(study)
    data = SweepData.build(daily, strategy="sma_cross", execution=study.execution)
    assert study.walkforward is not None
    plan = plan_walk(daily.index, 0, study.walkforward, metric=metric)
    starts = np.array([w[0] for w in plan.windows])
    ends = np.array([w[1] for w in plan.windows])
    fast = np.array([c["fast"] for c in todo])
    slow = np.array([c["slow"] for c in todo])
    kernel = (data.open, data.close, data.times, data.hi, data.lo, fast, slow, starts, ends, study.execution.costs)

    # Act
    from_full = walk_result(study, data, todo, plan, sma_cross_stats(*kernel, False))
    from_returns = walk_result(study, data, todo, plan, sma_cross_stats(*kernel, True))

    # Assert
    assert plan.returns_only
    assert from_returns.to_dict() == from_full.to_dict()
    assert from_returns.oos_equity.equals(from_full.oos_equity)
