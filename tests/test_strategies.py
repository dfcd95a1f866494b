"""Strategies: registry, truncation safety of every strategy, bounds, hand-checked paths."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import carryguard.strategies  # noqa: F401  (registers every strategy)
from carryguard.signals.errors import DataError
from carryguard.signals.store import Store
from carryguard.strategies.base import REGISTRY, params, parse_strategy_spec
from carryguard.strategies.loader import make_strategy

NAMES = sorted(REGISTRY)
# non-default parameters that switch on optional branches, truncation-tested too
VARIANTS = [(name, {}) for name in NAMES] + [("tsmom", {"vol_target": 0.6, "lookback": 30})]


def bars_from_closes(closes: list[float], freq: str = "1D") -> pd.DataFrame:
    """OHLCV bars whose open/high/low hug the close (high = low = close unless given)."""
    close = np.asarray(closes, dtype="float64")
    index = pd.date_range("2024-01-01", periods=len(close), freq=freq, tz="UTC", name="time")
    return pd.DataFrame({"open": close, "high": close, "low": close, "close": close, "volume": 1.0}, index=index)


def synthetic_bars(n: int = 1500, seed: int = 11) -> pd.DataFrame:
    """A seeded random walk on 4h bars with bear and bull phases (so every rule trades)."""
    rng = np.random.default_rng(seed)
    drift = np.where((np.arange(n) // 250) % 2 == 0, -0.002, 0.002)
    close = 100.0 * np.exp(np.cumsum(drift + rng.normal(0.0, 0.02, n)))
    bars = bars_from_closes(list(close), freq="4h")
    bars["high"] = close * (1.0 + rng.uniform(0.0, 0.02, n))
    bars["low"] = close * (1.0 - rng.uniform(0.0, 0.02, n))
    return bars


@pytest.fixture(scope="module")
def btc_bars(shared_store: Store) -> pd.DataFrame:
    return shared_store.read("binance/BTC-USDT/1d")


@pytest.fixture(scope="module")
def datasets(btc_bars: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {"binance/BTC-USDT/1d": btc_bars, "synthetic 4h": synthetic_bars()}


def test_registry_given_package_import_lists_every_strategy_with_baseline_flags() -> None:
    # Arrange
    expected = {
        "buy_and_hold": False,
        "dca": False,
        "sma_cross": False,
        "breakout": False,
        "tsmom": False,
        "dip_buy": True,
        "rsi_oversold": True,
        "dca_dips": True,
    }
    # Act
    flags = {name: cls.baseline for name, cls in REGISTRY.items()}
    # Assert
    assert flags == expected


@pytest.mark.parametrize(("name", "overrides"), VARIANTS, ids=[f"{n}{'-' + str(o) if o else ''}" for n, o in VARIANTS])
def test_strategy_given_random_cut_points_is_truncation_safe(
    name: str, overrides: dict[str, object], datasets: dict[str, pd.DataFrame]
) -> None:
    # Arrange
    strategy = make_strategy(name, **overrides)
    rng = np.random.default_rng(2024)
    for label, bars in datasets.items():
        full = strategy.target_exposure(bars)
        cuts = sorted(set(rng.integers(1, len(bars), 12).tolist()) | {1, 2, len(bars) - 1})
        for cut in cuts:
            # Act
            truncated = strategy.target_exposure(bars.iloc[:cut])
            # Assert
            pd.testing.assert_series_equal(truncated, full.iloc[:cut], obj=f"{name} on {label}[:{cut}]")


@pytest.mark.parametrize(("name", "overrides"), VARIANTS, ids=[f"{n}{'-' + str(o) if o else ''}" for n, o in VARIANTS])
def test_strategy_given_real_and_synthetic_bars_returns_float_exposure_in_unit_interval(
    name: str, overrides: dict[str, object], datasets: dict[str, pd.DataFrame]
) -> None:
    # Arrange
    strategy = make_strategy(name, **overrides)
    for bars in datasets.values():
        # Act
        exposure = strategy.target_exposure(bars)
        # Assert
        assert exposure.index.equals(bars.index)
        assert exposure.dtype == np.float64 and exposure.notna().all()
        assert exposure.between(0.0, 1.0).all()
        if name != "buy_and_hold":
            assert exposure.nunique() > 1, f"{name} never changes exposure on real/synthetic data"


@settings(max_examples=25, deadline=None)
@given(returns=st.lists(st.floats(-0.3, 0.3, allow_nan=False), min_size=1, max_size=150), cut=st.integers(1, 150))
def test_strategies_given_arbitrary_paths_stay_bounded_and_truncation_safe(returns: list[float], cut: int) -> None:
    # Arrange: short windows so the rules act on short generated paths
    bars = bars_from_closes(list(100.0 * np.exp(np.cumsum(returns))))
    cut = min(cut, len(bars))
    small = {
        "sma_cross": {"fast": 2, "slow": 5},
        "breakout": {"entry": 3, "exit": 2},
        "tsmom": {"lookback": 3},
        "dip_buy": {"window": 10, "max_hold": 5},
        "rsi_oversold": {"period": 3},
        "dca_dips": {"window": 10},
        "dca": {"period": 3, "steps": 4},
    }
    for name in NAMES:
        strategy = make_strategy(name, **small.get(name, {}))
        # Act
        full = strategy.target_exposure(bars)
        truncated = strategy.target_exposure(bars.iloc[:cut])
        # Assert
        assert full.between(0.0, 1.0).all()
        pd.testing.assert_series_equal(truncated, full.iloc[:cut], obj=name)


def test_dca_given_period_2_and_3_steps_steps_up_by_a_third() -> None:
    # Arrange
    bars = bars_from_closes([10.0] * 7)
    # Act
    exposure = make_strategy("dca", period=2, steps=3).target_exposure(bars)
    # Assert
    np.testing.assert_allclose(exposure.to_numpy(), [1 / 3, 1 / 3, 2 / 3, 2 / 3, 1.0, 1.0, 1.0])


def test_sma_cross_given_rise_then_fall_is_long_only_while_fast_above_slow() -> None:
    # Arrange: fast 2 / slow 3
    bars = bars_from_closes([10.0, 10.0, 10.0, 13.0, 16.0, 13.0, 7.0, 4.0])
    # Act
    exposure = make_strategy("sma_cross", fast=2, slow=3).target_exposure(bars)
    # Assert: sma2 vs sma3 at bars 2..7: 10/10, 11.5/11, 14.5/13, 14.5/14, 10/12, 5.5/8
    assert exposure.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0]


def test_breakout_given_close_above_prior_high_enters_and_below_prior_low_exits() -> None:
    # Arrange: entry 3 bars, exit 2 bars
    bars = bars_from_closes([10.0, 11.0, 10.5, 11.5, 12.0, 11.8, 11.9, 11.0, 12.5])
    # Act
    exposure = make_strategy("breakout", entry=3, exit=2).target_exposure(bars)
    # Assert: bar 3 closes 11.5 > max(10, 11, 10.5); bar 7 closes 11.0 < min(11.8, 11.9);
    # bar 8 closes 12.5 > max(11.8, 11.9, 11.0)
    assert exposure.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 1.0]


def test_tsmom_given_lookback_2_is_long_when_two_bar_return_positive() -> None:
    # Arrange
    bars = bars_from_closes([10.0, 9.0, 11.0, 8.0, 12.0, 12.0])
    # Act
    exposure = make_strategy("tsmom", lookback=2).target_exposure(bars)
    # Assert: returns vs two bars back: 11/10, 8/9, 12/11, 12/8
    assert exposure.tolist() == [0.0, 0.0, 1.0, 0.0, 1.0, 1.0]


def test_tsmom_given_vol_target_scales_down_by_target_over_realized_vol() -> None:
    # Arrange: a steady uptrend with alternating +5%/-1% log returns
    returns = [0.0] + [0.05, -0.01] * 20
    bars = bars_from_closes(list(100.0 * np.exp(np.cumsum(returns))))
    # Act
    exposure = make_strategy("tsmom", lookback=4, vol_target=0.5, vol_window=4).target_exposure(bars)
    # Assert
    vol = np.std(np.diff(np.log(bars["close"].to_numpy()))[-4:], ddof=1) * np.sqrt(365.0)
    assert exposure.iloc[-1] == pytest.approx(0.5 / vol)
    assert exposure.iloc[:4].eq(0.0).all()


def test_dip_buy_given_20pct_drop_enters_that_bar_and_exits_on_stop() -> None:
    # Arrange: high 100, -20% at bar 2 (entry close 80), stop 15% below 80 is 68
    bars = bars_from_closes([100.0, 90.0, 80.0, 75.0, 69.0, 67.0, 66.0, 90.0, 79.0])
    # Act
    exposure = make_strategy("dip_buy").target_exposure(bars)
    # Assert: flat before the dip, long from bar 2, out at the 67 close (<= 68); no
    # re-entry at 66 (still the same dip) until the dip is left (90) and re-entered (79)
    assert exposure.tolist() == [0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0]


def test_dip_buy_given_recovery_to_prior_high_exits() -> None:
    # Arrange
    bars = bars_from_closes([100.0, 80.0, 90.0, 100.0, 105.0])
    # Act
    exposure = make_strategy("dip_buy").target_exposure(bars)
    # Assert
    assert exposure.tolist() == [0.0, 1.0, 1.0, 0.0, 0.0]


def test_dip_buy_given_max_hold_exits_after_that_many_bars() -> None:
    # Arrange: a dip that neither recovers nor stops out
    bars = bars_from_closes([100.0, 80.0, 79.0, 81.0, 80.0, 79.5, 80.5])
    # Act
    exposure = make_strategy("dip_buy", max_hold=3).target_exposure(bars)
    # Assert: held 3 bars (1, 2, 3), then flat; still in the dip so not re-bought
    assert exposure.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]


def test_rsi_oversold_given_losses_then_gains_enters_below_30_and_exits_above_55() -> None:
    # Arrange: period 3; three losses -> RSI 0; gains lift it
    bars = bars_from_closes([10.0, 9.0, 8.0, 7.0, 7.5, 9.0, 12.0])
    # Act
    exposure = make_strategy("rsi_oversold", period=3).target_exposure(bars)
    # Assert: bar 3: seed averages gain 0, loss 1 -> RSI 0 -> in;
    # bar 4: gain 0.5/3, loss 2/3 -> RSI 20 (still in);
    # bar 5: gain (0.5/3*2 + 1.5)/3 = 0.611, loss 4/9 = 0.444 -> RSI 57.9 > 55 -> out
    assert exposure.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]


def test_dca_dips_given_ladder_path_buys_in_thirds_and_sells_on_recovery() -> None:
    # Arrange: drawdowns 0, -5, -11, -21, -15, -31, -4, -12 from the 100 high
    bars = bars_from_closes([100.0, 95.0, 89.0, 79.0, 85.0, 69.0, 96.0, 88.0])
    # Act
    exposure = make_strategy("dca_dips").target_exposure(bars)
    # Assert: rungs 1/3, 2/3 kept on the bounce to -15%, 1 at -31%, out at -4%, new dip 1/3
    np.testing.assert_allclose(exposure.to_numpy(), [0, 0, 1 / 3, 2 / 3, 2 / 3, 1, 0, 1 / 3])


def test_make_strategy_given_unknown_name_or_parameter_raises_value_error() -> None:
    # Act / Assert
    with pytest.raises(ValueError, match="unknown strategy 'nope'"):
        make_strategy("nope")
    with pytest.raises(ValueError, match="has no parameter 'slowest'"):
        make_strategy("sma_cross", slowest=3)


@pytest.mark.parametrize(
    ("name", "bad", "error", "message"),
    [
        ("sma_cross", {"fast": 50, "slow": 20}, ValueError, "SmaCross.fast .50. must be < slow"),
        ("sma_cross", {"fast": 2.5}, TypeError, "SmaCross.fast must be an int"),
        ("dca", {"period": 0}, ValueError, "Dca.period must be >= 1"),
        ("dip_buy", {"drawdown": 1.5}, ValueError, "DipBuy.drawdown must be a fraction"),
        (
            "rsi_oversold",
            {"buy_below": 60, "sell_above": 50},
            ValueError,
            "RsiOversold needs 0 < buy_below < sell_above",
        ),
        ("dca_dips", {"levels": (0.3, 0.1)}, ValueError, "DcaDips.levels must be increasing"),
        ("dca_dips", {"exit_drawdown": 0.2}, ValueError, "DcaDips.exit_drawdown must be in"),
        ("tsmom", {"vol_target": -1.0}, ValueError, "Tsmom.vol_target must be > 0"),
    ],
)
def test_strategy_given_invalid_parameters_raises_naming_the_parameter(
    name: str, bad: dict[str, object], error: type[Exception], message: str
) -> None:
    # Act / Assert
    with pytest.raises(error, match=message):
        make_strategy(name, **bad)


def test_dca_dips_given_levels_as_list_stores_a_tuple() -> None:
    # Act
    strategy = make_strategy("dca_dips", levels=[0.1, 0.25])
    # Assert
    assert strategy.levels == (0.1, 0.25)
    assert params(strategy) == {"levels": (0.1, 0.25), "window": 90, "exit_drawdown": 0.05}


@pytest.mark.parametrize(("name", "column"), [("dip_buy", "close"), ("breakout", "high")])
def test_strategy_given_bars_without_needed_column_raises_data_error(name: str, column: str) -> None:
    # Arrange
    bars = bars_from_closes([1.0, 2.0]).drop(columns=column)
    # Act / Assert
    with pytest.raises(DataError, match=f"no '{column}' column"):
        make_strategy(name).target_exposure(bars)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("sma_cross", ("sma_cross", False)),
        ("sma_cross+carry", ("sma_cross", True)),
        (" dip_buy+carry ", ("dip_buy", True)),
    ],
)
def test_parse_strategy_spec_given_name_with_or_without_carry_splits_it(spec: str, expected: tuple[str, bool]) -> None:
    # Act / Assert
    assert parse_strategy_spec(spec) == expected


@pytest.mark.parametrize("spec", ["sma_cross+vol", "+carry", "sma_cross+"])
def test_parse_strategy_spec_given_bad_suffix_raises_value_error(spec: str) -> None:
    # Act / Assert
    with pytest.raises(ValueError, match="bad strategy spec"):
        parse_strategy_spec(spec)


@pytest.mark.parametrize(
    ("name", "overrides", "expected"),
    [
        ("buy_and_hold", {}, 0),
        ("dca", {"period": 7}, 0),
        ("sma_cross", {"fast": 5, "slow": 50}, 49),
        ("breakout", {"entry": 20, "exit": 30}, 30),
        ("tsmom", {"lookback": 90}, 90),
        ("tsmom", {"lookback": 10, "vol_target": 0.5, "vol_window": 40}, 40),
        ("dip_buy", {"window": 10, "max_hold": 5}, 14),
        ("rsi_oversold", {"period": 7}, 70),
        ("dca_dips", {"window": 20}, 39),
    ],
)
def test_warmup_bars_given_parameters_follows_each_rules_windows(name: str, overrides: dict, expected: int) -> None:
    # Act
    warmup = make_strategy(name, **overrides).warmup_bars
    # Assert
    assert warmup == expected


@pytest.mark.parametrize(("name", "overrides"), [("sma_cross", {}), ("tsmom", {}), ("tsmom", {"vol_target": 0.6})])
def test_window_rule_given_warmup_bars_of_history_equals_full_history_after_them(
    name: str, overrides: dict[str, object], btc_bars: pd.DataFrame
) -> None:
    # Arrange
    strategy = make_strategy(name, **overrides)
    warmup = strategy.warmup_bars
    full = strategy.target_exposure(btc_bars)
    for cut in (warmup + 1, 400, 1500, len(btc_bars) - 10):
        # Act
        warm = strategy.target_exposure(btc_bars.iloc[cut - warmup :]).iloc[warmup:]
        short = strategy.target_exposure(btc_bars.iloc[cut - warmup + 1 :])
        # Assert: warmup_bars earlier bars are enough, one fewer leaves the first decision undecided (flat)
        pd.testing.assert_series_equal(warm, full.iloc[cut:], obj=f"{name} from bar {cut}")
        assert short.iloc[0] == 0.0


@pytest.mark.parametrize(
    ("name", "bad", "message"),
    [
        ("dip_buy", {"drawdown": "a"}, "DipBuy.drawdown must be a number, got 'a'"),
        ("rsi_oversold", {"buy_below": None}, "RsiOversold.buy_below must be a number"),
        ("dca_dips", {"levels": ["a"]}, r"DcaDips.levels must be a list of numbers, got \['a'\]"),
        ("dca_dips", {"levels": 0.1}, "DcaDips.levels must be a list of numbers"),
        ("tsmom", {"vol_target": "a"}, "Tsmom.vol_target must be a number"),
        ("tsmom", {"periods_per_year": 0}, "Tsmom.periods_per_year must be > 0"),
    ],
)
def test_strategy_given_parameter_of_wrong_type_raises_naming_it(name: str, bad: dict, message: str) -> None:
    # Act / Assert
    with pytest.raises((TypeError, ValueError), match=message):
        make_strategy(name, **bad)
