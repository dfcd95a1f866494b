"""``executors.evaluate_groups``: the caller's ``meanwhile`` work runs once, while the
chunks are queued, ``on_group`` hands over each group as soon as it is complete, and
neither changes the stats; one process or two give the same bits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.backtests.sweep.chunk import SweepData
from carryguard.backtests.sweep.executors import Evaluation, evaluate_groups

COMBOS = [{"fast": f, "slow": s} for f in (3, 5, 10, 20) for s in (30, 50, 100) if f < s]


@pytest.fixture(scope="module")
def data(shared_store) -> SweepData:
    bars: pd.DataFrame = shared_store.read("binance/BTC-USDT/1d")
    return SweepData.build(bars, strategy="sma_cross", execution=ExecutionConfig())


@pytest.mark.parametrize("workers", [1, 2])
def test_evaluate_groups_given_meanwhile_and_on_group_hands_over_each_group_once(data: SweepData, workers: int):
    # Arrange
    groups = [[(0, len(data.close))], [(100, 900), (900, 1_700)]]
    calls: list[int] = []
    handed: dict[int, Evaluation] = {}
    alone = evaluate_groups(data, COMBOS, groups, returns_only=[False, True], workers=1)

    # Act
    done = evaluate_groups(
        data,
        COMBOS,
        groups,
        returns_only=[False, True],
        workers=workers,
        meanwhile=lambda: calls.append(1),
        on_group=lambda group, own: handed.setdefault(group, own),
    )

    # Assert
    assert calls == [1]
    assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(alone.stats, done.stats, strict=True))
    assert done.stats[0].shape == (1, len(COMBOS), alone.stats[0].shape[2]) and done.workers == workers
    assert sorted(handed) == [0, 1]
    for group, own in handed.items():
        assert np.array_equal(own.stats[0], done.stats[group], equal_nan=True)
        assert own.seconds == [done.seconds[group]] and own.workers == workers
