"""Parity of the fast engine with the backtrader reference on the real Binance BTC/USDT bars.

Every registered strategy (default parameters), without and with the carry overlay
(risk index read point in time at each bar's close, as the runner does), on daily bars
(the whole history, 3,064 bars) and on 4h bars. The 4h runs are restricted to the last
4,000 bars (2024-02..2026-01, about 667 days, the Aug 2024 unwind included): backtrader
runs about 10,000 bars/s here, so 16 full-history 4h books would take ~30 s of the
suite's budget on their own. Required: the same number of trades, final equity within
0.01%, equity within 0.1% at every bar.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import carryguard.strategies  # noqa: F401  (registers every strategy)
from carryguard.backtests.engine.backtrader import run_backtrader
from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.backtests.engine.fast import run_fast
from carryguard.backtests.run.runner import decision_times
from carryguard.signals.risk import risk_at
from carryguard.strategies.base import REGISTRY
from carryguard.strategies.loader import make_strategy
from carryguard.strategies.overlay import CarryOverlay

WINDOW_4H = 4_000
CONFIG = ExecutionConfig()


@pytest.fixture(scope="module")
def market(shared_store) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """(bars, risk at the bars' closes) per timeframe."""
    out = {}
    for timeframe, rows in (("1d", None), ("4h", WINDOW_4H)):
        bars = shared_store.read(f"binance/BTC-USDT/{timeframe}")
        bars = bars.iloc[-rows:] if rows else bars
        out[timeframe] = (bars, risk_at(shared_store, decision_times(bars, timeframe)))
    return out


@pytest.mark.parametrize("timeframe", ["1d", "4h"])
@pytest.mark.parametrize("overlay", [False, True], ids=["plain", "carry"])
@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_run_fast_given_real_bars_matches_backtrader(market, name, overlay, timeframe):
    # Arrange
    bars, risk = market[timeframe]
    target = make_strategy(name).target_exposure(bars)
    if overlay:
        target = CarryOverlay().apply(target, risk, bars)["final_exposure"]
    reference = run_backtrader(bars, target, CONFIG)

    # Act
    book = run_fast(bars, target, CONFIG)

    # Assert
    assert len(reference.fills) > 0, "a parity case that never trades proves nothing"
    assert len(book.trades) == len(reference.trades)
    assert book.equity.iloc[-1] == pytest.approx(reference.equity.iloc[-1], rel=1e-4)
    assert np.all(np.abs(book.equity.to_numpy() / reference.equity.to_numpy() - 1.0) <= 1e-3)
    assert book.equity.index.equals(reference.equity.index)


def test_parity_cases_given_overlay_the_overlay_changes_some_targets(market):
    """Guard: the 'carry' cases above differ from the plain ones (the risk index is live)."""
    # Arrange
    bars, risk = market["1d"]
    plain = make_strategy("buy_and_hold").target_exposure(bars)

    # Act
    sized = CarryOverlay().apply(plain, risk, bars)["final_exposure"]

    # Assert
    assert (sized < plain).sum() > 50
