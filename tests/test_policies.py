"""Sizing policies: truncation safety, hand-checked paths, products, carry identity, parity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carryguard.backtests.engine.backtrader import run_backtrader
from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.backtests.engine.fast import run_fast
from carryguard.backtests.paper.decide import MacroLimits, PolicyDecider, RiskFeed
from carryguard.backtests.run.runner import decision_times
from carryguard.signals.indicators import realized_volatility
from carryguard.signals.pit import MemoryStore
from carryguard.signals.risk import RiskConfig, risk_at
from carryguard.signals.store import Store
from carryguard.strategies.carry_policies import YEN_COLUMNS, multipliers_now, yen_moves
from carryguard.strategies.loader import make_strategy
from carryguard.strategies.overlay import CarryOverlay, OverlayConfig
from carryguard.strategies.policies import PolicyInputs, make_policy, spec_of

SPECS = ("none", "vol_target", "trend", "carry", "yen_shock", "carry_confirmed", "vol_target*carry")


def bars_of(closes: list[float] | np.ndarray) -> pd.DataFrame:
    close = np.asarray(closes, dtype="float64")
    index = pd.date_range("2024-01-01", periods=len(close), freq="1D", tz="UTC", name="time")
    return pd.DataFrame({"open": close, "high": close, "low": close, "close": close, "volume": 1.0}, index=index)


def yen_risk(bars: pd.DataFrame, ret5: list[float], ret20: list[float], score: float = 10.0) -> pd.DataFrame:
    """A risk frame at the bars' closes with the USD/JPY moves yen_shock reads."""
    index = bars.index + pd.Timedelta(days=1)
    return pd.DataFrame(
        {"score": score, "regime": "calm", YEN_COLUMNS[0]: ret5, YEN_COLUMNS[1]: ret20}, index=index, dtype=object
    ).astype({"score": float, YEN_COLUMNS[0]: float, YEN_COLUMNS[1]: float})


@pytest.fixture(scope="module")
def market(shared_store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Real BTC/USDT daily bars and the risk readings (with USD/JPY moves) at their closes."""
    bars = shared_store.read("binance/BTC-USDT/1d")
    times = decision_times(bars, "1d")
    return bars, risk_at(shared_store, times).join(yen_moves(shared_store, times))


@pytest.mark.parametrize("spec", SPECS)
def test_path_given_real_data_cut_at_random_bars_is_truncation_safe(market, spec: str) -> None:
    # Arrange
    bars, risk = market
    policy = make_policy(spec)
    full = policy.path(PolicyInputs(bars, risk))
    cuts = np.random.default_rng(7).integers(400, len(bars), size=6)

    for cut in cuts:
        # Act
        part = policy.path(PolicyInputs(bars.iloc[: cut + 1], risk.iloc[: cut + 1]))

        # Assert
        np.testing.assert_array_equal(part.multiplier, full.multiplier[: cut + 1])
        assert part.reason[-1] == full.reason[cut]


@pytest.mark.parametrize("spec", SPECS)
def test_path_given_real_data_stays_in_zero_one(market, spec: str) -> None:
    bars, risk = market

    multiplier = make_policy(spec).path(PolicyInputs(bars, risk)).multiplier

    assert np.isfinite(multiplier).all()
    assert ((multiplier >= 0.0) & (multiplier <= 1.0)).all()


def test_yen_moves_given_store_cut_at_a_time_equals_full_reading(shared_store: Store) -> None:
    # Arrange
    at = pd.Timestamp("2024-08-06", tz="UTC")
    full = yen_moves(shared_store, pd.DatetimeIndex([at]))
    cut = MemoryStore.load(shared_store, [RiskConfig().fx_series]).cut(at)

    # Act
    part = yen_moves(cut, pd.DatetimeIndex([at]))

    # Assert
    np.testing.assert_allclose(part.to_numpy(), full.to_numpy())
    assert full[YEN_COLUMNS[1]].iloc[0] < -0.03  # the Aug 2024 unwind: USD/JPY down > 3% in 20 days


def test_yen_shock_given_fade_reentry_cuts_only_while_it_fires() -> None:
    bars = bars_of([100.0] * 5)
    risk = yen_risk(bars, [0.0, -0.01, -0.01, 0.0, 0.0], [0.0, -0.035, -0.01, -0.031, 0.0])

    path = make_policy("yen_shock").path(PolicyInputs(bars, risk))

    np.testing.assert_array_equal(path.multiplier, [1.0, 0.0, 1.0, 0.0, 1.0])
    assert path.reason[1].startswith("yen shock")


def test_yen_shock_given_hold_days_holds_the_cut_after_the_shock_fades() -> None:
    bars = bars_of([100.0] * 6)
    risk = yen_risk(bars, [0.0, -0.025, 0.0, 0.0, 0.0, 0.0], [0.0] * 6)

    path = make_policy("yen_shock", {"yen_shock": {"hold_days": 2}}).path(PolicyInputs(bars, risk))

    np.testing.assert_array_equal(path.multiplier, [1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    assert "holding" in path.reason[2]


def test_yen_shock_given_days_reentry_reenters_while_still_firing_and_rearms_after_fade() -> None:
    # Arrange: fires on bars 1-4, quiet on 5, fires again on 6
    bars = bars_of([100.0] * 8)
    ret20 = [0.0, -0.04, -0.04, -0.04, -0.04, 0.0, -0.04, 0.0]
    risk = yen_risk(bars, [0.0] * 8, ret20)
    policy = make_policy("yen_shock", {"yen_shock": {"reentry": "days", "hold_days": 2, "cut_to": 0.25}})

    # Act
    path = policy.path(PolicyInputs(bars, risk))

    # Assert: cut on 1-2, back in on 3-4 although still firing, re-armed on 5, cut again on 6-7
    np.testing.assert_array_equal(path.multiplier, [1.0, 0.25, 0.25, 1.0, 1.0, 1.0, 0.25, 0.25])
    assert path.reason[3].startswith("re-entered")


def test_policies_given_missing_risk_backtest_runs_unsized_and_live_fails_closed() -> None:
    bars = bars_of(np.linspace(100.0, 120.0, 30))
    risk = yen_risk(bars, [np.nan] * 30, [np.nan] * 30, score=np.nan)

    for spec in ("carry", "yen_shock", "carry_confirmed"):
        backtest = make_policy(spec).path(PolicyInputs(bars, risk))
        live = make_policy(spec).path(PolicyInputs(bars, risk, live=True))

        np.testing.assert_array_equal(backtest.multiplier, np.ones(30))
        np.testing.assert_array_equal(live.multiplier, np.zeros(30))


def test_product_given_two_policies_multiplies_their_paths_and_joins_reasons() -> None:
    # Arrange: trending then crashing closes; carry in stress (0.25) on the last 5 bars
    closes = np.concatenate([np.linspace(100.0, 200.0, 40), np.linspace(190.0, 120.0, 10)])
    bars = bars_of(closes)
    risk = yen_risk(bars, [0.0] * 50, [0.0] * 50)
    risk.loc[risk.index[-5:], "score"] = 65.0
    inputs = PolicyInputs(bars, risk)

    # Act
    product = make_policy("vol_target*carry").path(inputs)

    # Assert
    vol = realized_volatility(bars["close"], 30, periods_per_year=365.0).to_numpy()
    vol_scale = np.where(np.isnan(vol), 1.0, np.minimum(1.0, 0.6 / vol))
    carry = np.where(np.arange(50) >= 45, 0.25, 1.0)
    np.testing.assert_allclose(product.multiplier, vol_scale * carry, rtol=1e-12)
    assert product.reason[-1].startswith("vol target 60%") and "(stress): x0.25" in product.reason[-1]


def test_trend_given_close_below_its_average_is_flat() -> None:
    closes = [10.0, 10.0, 10.0, 13.0, 9.0]
    path = make_policy("trend", {"trend": {"days": 3}}).path(PolicyInputs(bars_of(closes), None))

    # averages from bar 2: 10, 11, 10.67 -> bar 4 (9 < 10.67) is below
    np.testing.assert_array_equal(path.multiplier, [1.0, 1.0, 1.0, 1.0, 0.0])


def test_carry_confirmed_given_stress_without_crypto_weakness_does_not_cut() -> None:
    # Arrange: a steady uptrend with a constant small return (no vol spike), carry in stress
    bars = bars_of(100.0 * 1.01 ** np.arange(200))
    risk = yen_risk(bars, [0.0] * 200, [0.0] * 200, score=70.0)

    # Act
    confirmed = make_policy("carry_confirmed").path(PolicyInputs(bars, risk))
    carry = make_policy("carry").path(PolicyInputs(bars, risk))

    # Assert
    assert (carry.multiplier == 0.25).all()
    assert (confirmed.multiplier[150:] == 1.0).all()


def test_carry_policy_given_real_data_equals_the_carry_overlay_exactly(market) -> None:
    bars, risk = market
    exposure = make_strategy("sma_cross").target_exposure(bars)
    for config in (OverlayConfig(), OverlayConfig(mode="continuous")):
        old = CarryOverlay(config).apply(exposure, risk, bars)

        path = make_policy("carry", {"carry": {"mode": config.mode}}).path(PolicyInputs(bars, risk))

        np.testing.assert_array_equal(path.multiplier, old["multiplier"].to_numpy())
        np.testing.assert_array_equal(np.clip(exposure.to_numpy() * path.multiplier, 0, 1), old["final_exposure"])
        np.testing.assert_array_equal(path.regime, old["regime"].to_numpy())


@pytest.mark.parametrize(
    ("spec", "params", "message"),
    [
        ("carry+trend", {}, "unknown overlay"),
        ("trend*trend", {}, "repeats"),
        ("trend", {"trend": {"window": 3}}, "no parameter 'window'"),
        ("yen_shock", {"yen_shock": {"reentry": "never"}}, "reentry"),
        ("carry", {"carry": {"hysteresis": -1}}, "hysteresis"),
    ],
)
def test_make_policy_given_bad_spec_or_parameter_raises_value_error_naming_it(spec, params, message) -> None:
    with pytest.raises(ValueError, match=message):
        make_policy(spec, params)


def test_make_policy_given_product_builds_its_parts_in_order() -> None:
    assert [part.name for part in make_policy(" vol_target * carry").parts] == ["vol_target", "carry"]
    assert spec_of(make_policy(" vol_target * carry")) == "vol_target*carry"


@pytest.mark.parametrize("spec", SPECS)
def test_engines_given_each_policy_on_real_bars_agree(market, spec: str) -> None:
    # Arrange: the last 900 daily bars (2023-2026), sma_cross sized by the policy
    bars, risk = market
    policy = make_policy(spec)
    path = policy.path(PolicyInputs(bars, risk))
    exposure = make_strategy("sma_cross").target_exposure(bars).to_numpy()
    window = slice(len(bars) - 900, None)
    target = pd.Series(np.clip(exposure * path.multiplier, 0, 1)[window], index=bars.index[window])
    config = ExecutionConfig()

    # Act
    reference = run_backtrader(bars.iloc[window], target, config)
    book = run_fast(bars.iloc[window], target, config)

    # Assert
    assert len(reference.fills) > 0
    assert len(book.trades) == len(reference.trades)
    assert book.equity.iloc[-1] == pytest.approx(reference.equity.iloc[-1], rel=1e-4)
    assert np.all(np.abs(book.equity.to_numpy() / reference.equity.to_numpy() - 1.0) <= 1e-3)


def test_policy_decider_given_yen_shock_on_2024_08_06_cuts_and_names_policy_and_reason(shared_store: Store) -> None:
    # Arrange: daily BTC bars up to the one closing at 2024-08-06 00:00 UTC
    day = pd.Timedelta(days=1)
    bars = shared_store.read("binance/BTC-USDT/1d").loc[:"2024-08-05"].iloc[-300:]
    feed = RiskFeed(shared_store, step=day, limits=MacroLimits(max_age_days=30))
    decider = PolicyDecider(make_strategy("buy_and_hold"), step=day, policy=make_policy("yen_shock"), feed=feed)

    # Act
    decision = decider.decide(bars, bars.index[-1] + day)

    # Assert
    assert decision.strategy_exposure == 1.0 and decision.target == 0.0 and decision.multiplier == 0.0
    assert decision.reason.startswith("buy_and_hold +yen_shock: yen shock (USD/JPY 5d")
    assert decision.blocked == ""


def test_policy_decider_given_policy_reading_risk_without_feed_raises_value_error() -> None:
    with pytest.raises(ValueError, match="needs a RiskFeed"):
        PolicyDecider(make_strategy("dca"), step=pd.Timedelta(days=1), policy=make_policy("vol_target*carry"))


def test_multipliers_now_given_the_2024_unwind_cuts_with_both_risk_policies(shared_store: Store) -> None:
    now = multipliers_now(shared_store, pd.Timestamp("2024-08-06", tz="UTC"))

    assert now["carry"]["multiplier"] == 0.0 and "crisis" in now["carry"]["reason"]
    assert now["yen_shock"]["multiplier"] == 0.0 and now["yen_shock"]["reason"].startswith("yen shock")
