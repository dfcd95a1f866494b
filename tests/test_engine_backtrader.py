"""The backtrader engine: next-open fills, fees, slippage and the shared rebalance arithmetic."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carryguard.backtests.engine.backtrader import affordable, run_backtrader
from carryguard.backtests.engine.book import fills_frame, trades_from_fills
from carryguard.backtests.engine.execution import ExecutionConfig, rebalance
from tests.engine_support import COMMISSION, SLIP, small_bars


def test_run_backtrader_given_small_case_fills_at_next_open_with_fees_and_slippage():
    # Arrange: all in at bar 0's close, half at bar 1's, flat at bar 2's; bar 3's decision never executes.
    bars = small_bars()
    target = pd.Series([1.0, 0.5, 0.0, 1.0], index=bars.index)
    config = ExecutionConfig(cash=10_000.0, commission=COMMISSION, slippage_bps=5.0, rebalance_band=0.05)
    p1 = 110.0 * (1 + SLIP)
    q1 = 10_000.0 / (p1 * (1 + COMMISSION))
    fee1 = q1 * p1 * COMMISSION
    p2 = 120.0 * (1 - SLIP)
    q2 = q1 / 2  # exposure 1 -> 0.5 at the open: sell half the units
    fee2 = q2 * p2 * COMMISSION
    cash2 = q2 * p2 - fee2
    p3 = 130.0 * (1 - SLIP)
    q3 = q1 - q2
    fee3 = q3 * p3 * COMMISSION
    cash3 = cash2 + q3 * p3 - fee3

    # Act
    book = run_backtrader(bars, target, config)

    # Assert
    fills = book.fills
    assert list(fills["time"]) == list(bars.index[1:])
    assert list(fills["side"]) == ["buy", "sell", "sell"]
    np.testing.assert_allclose(fills["qty"], [q1, q2, q3], rtol=1e-12)
    assert list(fills["price"]) == [p1, p2, p3]  # exactly open * (1 +/- s), even beyond high/low
    np.testing.assert_allclose(fills["fee"], [fee1, fee2, fee3], rtol=1e-12)
    np.testing.assert_allclose(book.position, [0.0, q1, q1 - q2, 0.0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(book.cash, [10_000.0, 0.0, cash2, cash3], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(book.equity, [10_000.0, q1 * 108.0, cash2 + (q1 - q2) * 124.0, cash3], rtol=1e-12)
    trade = book.trades.iloc[0]
    assert len(book.trades) == 1 and not trade["is_open"]
    assert (trade["entry_time"], trade["exit_time"]) == (bars.index[1], bars.index[3])
    assert trade["pnl"] == pytest.approx(q2 * p2 + q3 * p3 - q1 * p1 - fee1 - fee2 - fee3, rel=1e-12)
    assert trade["fees"] == pytest.approx(fee1 + fee2 + fee3, rel=1e-12)


def test_run_backtrader_given_change_inside_band_places_no_order():
    # Arrange: 0.5 then 0.53 (a 3% move, band 5%): only the first decision trades.
    bars = small_bars()
    target = pd.Series([0.5, 0.53, 0.53, 0.53], index=bars.index)

    # Act
    book = run_backtrader(bars, target, ExecutionConfig(slippage_bps=0.0))

    # Assert
    assert len(book.fills) == 1
    assert book.fills["price"].iloc[0] == 110.0
    assert book.fills["qty"].iloc[0] == pytest.approx(5_000.0 / (110.0 * (1 + COMMISSION)), rel=1e-12)


def test_run_backtrader_given_real_bars_and_churning_target_matches_rebalance_loop(shared_store):
    # Arrange: a target that trades often on 600 real BTC days.
    bars = shared_store.read("binance/BTC-USDT/1d").iloc[-600:]
    rng = np.random.default_rng(7)
    target = pd.Series(np.round(rng.uniform(0, 1, len(bars)), 1), index=bars.index)
    target.iloc[::17] = 0.0
    config = ExecutionConfig()
    cash, position, expected_cash = config.cash, 0.0, [config.cash]
    for t in range(1, len(bars)):
        cash, position, *_ = rebalance(
            cash,
            position,
            bars["open"].iloc[t],
            target.iloc[t - 1],
            config.commission,
            config.slippage,
            config.rebalance_band,
        )
        expected_cash.append(cash)

    # Act
    book = run_backtrader(bars, target, config)

    # Assert: the broker's cash follows rebalance()'s arithmetic to float rounding.
    np.testing.assert_allclose(book.cash, expected_cash, rtol=1e-9, atol=1e-6)
    assert len(book.fills) > 100
    assert (book.cash > -1e-9).all()


def test_run_backtrader_given_4h_bars_marks_equity_on_every_bar(shared_store):
    # Arrange
    bars = shared_store.read("binance/BTC-USDT/4h").iloc[:300]
    target = pd.Series(1.0, index=bars.index)

    # Act
    book = run_backtrader(bars, target)

    # Assert: one all-in buy at bar 1's open, then equity moves with the close.
    assert len(book.fills) == 1 and book.fills["time"].iloc[0] == bars.index[1]
    assert book.equity.index.equals(bars.index)
    np.testing.assert_allclose(book.equity.iloc[1:], book.position.iloc[-1] * bars["close"].iloc[1:], rtol=1e-9)
    assert bool(book.trades["is_open"].iloc[0])


def test_run_backtrader_given_misaligned_target_raises_value_error():
    # Arrange
    bars = small_bars()
    target = pd.Series([1.0, 1.0, 1.0], index=bars.index[:3])

    # Act / Assert
    with pytest.raises(ValueError, match="indexed like bars"):
        run_backtrader(bars, target, ExecutionConfig())


def test_trades_from_fills_given_add_reduce_and_open_trade_counts_round_trips():
    # Arrange: buy 2 @10, buy 2 @12, sell 4 @15 (one trade); buy 1 @20 still open at close 18.
    times = pd.date_range("2024-01-01", periods=4, freq="1D", tz="UTC")
    fills = fills_frame(times, [2.0, 2.0, -4.0, 1.0], [10.0, 12.0, 15.0, 20.0], [0.1, 0.1, 0.2, 0.05])

    # Act
    trades = trades_from_fills(fills, last_time=times[-1] + pd.Timedelta(days=3), last_close=18.0)

    # Assert
    assert len(trades) == 2
    first, second = trades.iloc[0], trades.iloc[1]
    assert first["entry_price"] == pytest.approx(11.0) and first["exit_price"] == pytest.approx(15.0)
    assert first["pnl"] == pytest.approx(60.0 - 44.0 - 0.4)
    assert first["return_pct"] == pytest.approx((60.0 - 44.0 - 0.4) / 44.0 * 100)
    assert not first["is_open"]
    assert bool(second["is_open"]) and second["exit_price"] == 18.0
    assert second["pnl"] == pytest.approx(18.0 - 20.0 - 0.05)


def test_affordable_given_all_in_buys_keeps_broker_cash_non_negative_within_ulps():
    # Arrange: all-in sizes qty = cash / (price * (1 + c)); most of them round backtrader's
    # cash - qty*price - qty*c*price below zero, and the broker would drop those orders.
    rng = np.random.default_rng(1)
    cases = [(float(rng.uniform(1, 1e6)), float(rng.uniform(0.01, 1e5))) for _ in range(2000)]

    # Act
    sizes = [(cash, price, cash / (price * (1 + COMMISSION))) for cash, price in cases]
    adjusted = [(cash, price, qty, affordable(qty, cash, price, COMMISSION)) for cash, price, qty in sizes]

    # Assert
    assert any(cash - qty * price - qty * COMMISSION * price < 0 for cash, price, qty, _ in adjusted)
    for cash, price, qty, fixed in adjusted:
        assert cash - fixed * price - fixed * COMMISSION * price >= 0.0
        assert fixed <= qty and (qty - fixed) <= 8 * np.spacing(qty)
