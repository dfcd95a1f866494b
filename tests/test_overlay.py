"""The carry overlay: maps, hysteresis, vol scaling, NaN scores, truncation, size() == apply()."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carryguard.signals.errors import CarryguardError
from carryguard.signals.store import Store
from carryguard.strategies.loader import make_strategy
from carryguard.strategies.overlay import COLUMNS, HYSTERESIS_WARMUP, CarryOverlay, OverlayConfig

DAY = pd.Timedelta(days=1)


def flat_bars(n: int, *, closes: np.ndarray | None = None, freq: str = "1D") -> pd.DataFrame:
    close = np.full(n, 100.0) if closes is None else np.asarray(closes, dtype="float64")
    index = pd.date_range("2024-01-01", periods=n, freq=freq, tz="UTC", name="time")
    return pd.DataFrame({"open": close, "high": close, "low": close, "close": close, "volume": 1.0}, index=index)


def risk_on(bars: pd.DataFrame, scores: list[float] | np.ndarray, *, at_close: bool = True) -> pd.DataFrame:
    """A risk frame like ``risk_at``'s: one reading per bar at its close (or open) time."""
    scores = np.asarray(scores, dtype="float64")
    index = bars.index + (bars.index[1] - bars.index[0] if at_close else pd.Timedelta(0))
    regimes = np.where(np.isnan(scores), "", "calm")  # the overlay recomputes regimes itself
    return pd.DataFrame({"score": scores, "regime": regimes}, index=index)


def run(scores: list[float], config: OverlayConfig | None = None, exposure: float = 1.0) -> pd.DataFrame:
    bars = flat_bars(len(scores))
    return CarryOverlay(config).apply(pd.Series(exposure, index=bars.index), risk_on(bars, scores), bars)


@pytest.fixture(scope="module")
def btc_bars(shared_store: Store) -> pd.DataFrame:
    return shared_store.read("binance/BTC-USDT/1d")


def random_scores(n: int, seed: int) -> np.ndarray:
    """A seeded random-walk score path in [0, 100] with a NaN warm-up (no macro data yet)."""
    rng = np.random.default_rng(seed)
    scores = np.clip(50.0 + np.cumsum(rng.normal(0.0, 4.0, n)), 0.0, 100.0)
    scores[:60] = np.nan
    return scores


def test_apply_given_scores_in_each_regime_uses_step_multipliers() -> None:
    # Arrange: each reading starts fresh after a NaN, so hysteresis does not carry over
    scores = [10.0, np.nan, 45.0, np.nan, 65.0, np.nan, 85.0]
    # Act
    frame = run(scores)
    # Assert
    assert list(frame.columns) == list(COLUMNS)
    assert frame["regime"].tolist() == ["calm", "", "elevated", "", "stress", "", "crisis"]
    assert frame["multiplier"].tolist() == [1.0, 1.0, 0.75, 1.0, 0.25, 1.0, 0.0]
    assert frame["final_exposure"].tolist() == [1.0, 1.0, 0.75, 1.0, 0.25, 1.0, 0.0]


def test_apply_given_continuous_map_is_linear_from_40_to_80() -> None:
    # Arrange: rising scores (hysteresis never holds a rising path)
    scores = [20.0, 40.0, 50.0, 60.0, 70.0, 80.0, 95.0]
    # Act
    frame = run(scores, OverlayConfig(mode="continuous"))
    # Assert
    np.testing.assert_allclose(frame["multiplier"].to_numpy(), [1.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0])
    assert frame["regime"].tolist() == ["calm", "elevated", "elevated", "stress", "stress", "crisis", "crisis"]


def test_apply_given_score_oscillating_around_60_does_not_flap() -> None:
    # Arrange: wobble 57..63 around the stress threshold, then a real fall to 54
    wobble = [58.0, 61.0, 57.0, 62.0, 56.0, 63.0, 57.5, 60.5, 56.0]
    scores = [*wobble, 54.0]
    # Act
    sticky = run(scores)
    plain = run(scores, OverlayConfig(hysteresis=0.0))
    # Assert: enters stress at 61 and stays until the score is below 55
    assert sticky["regime"].tolist() == ["elevated"] + ["stress"] * 8 + ["elevated"]
    assert sticky["multiplier"].tolist() == [0.75] + [0.25] * 8 + [0.75]
    changes = lambda frame: int((frame["multiplier"].diff().fillna(0.0) != 0.0).sum())  # noqa: E731
    assert changes(sticky) == 2
    assert changes(plain) == 8  # without hysteresis every crossing flips the exposure


def test_apply_given_rising_score_enters_higher_regime_immediately() -> None:
    # Arrange
    scores = [30.0, 80.0, 76.0, 74.9]
    # Act
    frame = run(scores)
    # Assert: crisis at once; left only below 80 - 5 = 75, to stress (74.9 >= 60)
    assert frame["regime"].tolist() == ["calm", "crisis", "crisis", "stress"]
    assert frame["multiplier"].tolist() == [1.0, 0.0, 0.0, 0.25]


def test_apply_given_continuous_map_holds_multiplier_until_score_falls_hysteresis_points() -> None:
    # Arrange: peak 70, then 67 (within 5), then 60 (10 below the peak)
    scores = [70.0, 67.0, 60.0]
    # Act
    frame = run(scores, OverlayConfig(mode="continuous"))
    # Assert: 67 is held at 70; 60 releases to 60 + 5 = 65
    np.testing.assert_allclose(frame["multiplier"].to_numpy(), [0.25, 0.25, 0.375])
    np.testing.assert_allclose(frame["risk_score"].to_numpy(), scores)


def test_apply_given_nan_score_gives_multiplier_1_and_empty_regime() -> None:
    # Arrange
    scores = [np.nan, np.nan, 90.0]
    # Act
    frame = run(scores, exposure=0.6)
    # Assert
    assert frame["multiplier"].tolist() == [1.0, 1.0, 0.0]
    assert frame["regime"].tolist() == ["", "", "crisis"]
    assert frame["final_exposure"].tolist() == [0.6, 0.6, 0.0]


def test_size_given_no_risk_reading_says_so_and_keeps_exposure() -> None:
    # Arrange
    bars = flat_bars(3)
    risk = risk_on(bars, [np.nan, np.nan, np.nan])
    # Act
    sized = CarryOverlay().size(0.8, at=risk.index[-1], risk=risk)
    # Assert
    assert sized.exposure == 0.8 and sized.multiplier == 1.0 and sized.regime == ""
    assert np.isnan(sized.score)
    assert "no risk reading" in sized.reason


def test_apply_given_vol_target_scales_by_target_over_realized_vol_with_cap() -> None:
    # Arrange: 10 quiet bars (0.1% moves) then 10 wild bars (10% moves), window 5
    moves = [0.0] + [0.001, -0.001] * 5 + [0.1, -0.1] * 5
    bars = flat_bars(len(moves), closes=100.0 * np.exp(np.cumsum(moves)))
    config = OverlayConfig(vol_target=0.6, vol_window=5)
    # Act
    frame = CarryOverlay(config).apply(pd.Series(1.0, index=bars.index), risk_on(bars, [10.0] * len(moves)), bars)
    # Assert
    wild_vol = np.std(np.array(moves[-5:]), ddof=1) * np.sqrt(365.0)
    assert frame["vol_scale"].iloc[:5].eq(1.0).all()  # warm-up: no vol reading, the cap
    assert frame["vol_scale"].iloc[5:11].eq(1.0).all()  # quiet: 0.6 / ~2% would be > 1, capped
    assert frame["vol_scale"].iloc[-1] == pytest.approx(0.6 / wild_vol)
    assert frame["final_exposure"].iloc[-1] == pytest.approx(0.6 / wild_vol)


def test_apply_given_vol_cap_below_one_never_exceeds_the_cap() -> None:
    # Arrange
    bars = flat_bars(40, closes=100.0 * np.exp(np.cumsum([0.0] + [0.001, -0.001] * 19 + [0.0])))
    config = OverlayConfig(vol_target=0.6, vol_cap=0.5)
    # Act
    frame = CarryOverlay(config).apply(pd.Series(1.0, index=bars.index), risk_on(bars, [10.0] * 40), bars)
    # Assert
    assert frame["vol_scale"].eq(0.5).all()


def test_apply_given_real_bars_and_random_cuts_is_truncation_safe(btc_bars: pd.DataFrame) -> None:
    # Arrange
    overlay = CarryOverlay(OverlayConfig(vol_target=0.6))
    exposure = make_strategy("sma_cross").target_exposure(btc_bars)
    risk = risk_on(btc_bars, random_scores(len(btc_bars), seed=3))
    full = overlay.apply(exposure, risk, btc_bars)
    rng = np.random.default_rng(99)
    for cut in sorted(set(rng.integers(2, len(btc_bars), 10).tolist()) | {2, 61, len(btc_bars) - 1}):
        # Act
        truncated = overlay.apply(exposure.iloc[:cut], risk.iloc[:cut], btc_bars.iloc[:cut])
        # Assert
        pd.testing.assert_frame_equal(truncated, full.iloc[:cut], obj=f"overlay on bars[:{cut}]")


@pytest.mark.parametrize("mode", ["step", "continuous"])
def test_size_given_same_time_equals_apply_row(btc_bars: pd.DataFrame, mode: str) -> None:
    # Arrange: risk indexed by bar close times, as risk_at returns it; the full history is passed
    overlay = CarryOverlay(OverlayConfig(mode=mode, vol_target=0.6))
    exposure = make_strategy("rsi_oversold").target_exposure(btc_bars)
    risk = risk_on(btc_bars, random_scores(len(btc_bars), seed=5))
    frame = overlay.apply(exposure, risk, btc_bars)
    for i in np.random.default_rng(1).integers(0, len(btc_bars), 15):
        # Act
        sized = overlay.size(float(exposure.iloc[i]), at=risk.index[i], risk=risk, bars=btc_bars)
        # Assert
        row = frame.iloc[i]
        assert sized.exposure == pytest.approx(row["final_exposure"], abs=1e-12)
        assert sized.multiplier == row["multiplier"] and sized.regime == row["regime"]
        assert sized.vol_scale == pytest.approx(row["vol_scale"], abs=1e-12)
        assert sized.score == pytest.approx(row["risk_score"], nan_ok=True)


def test_size_given_reading_held_by_hysteresis_explains_it() -> None:
    # Arrange
    bars = flat_bars(3)
    risk = risk_on(bars, [65.0, 58.0, 57.0])
    # Act
    sized = CarryOverlay().size(1.0, at=risk.index[-1], risk=risk)
    # Assert
    assert (sized.regime, sized.multiplier, sized.exposure) == ("stress", 0.25, 0.25)
    assert "score 57.0, held at 62.0 by hysteresis -> stress -> multiplier 0.25" in sized.reason


def test_size_given_later_risk_rows_ignores_them() -> None:
    # Arrange: a crisis reading after `at` must not leak into the decision
    bars = flat_bars(4)
    risk = risk_on(bars, [20.0, 30.0, 90.0, 95.0])
    # Act
    sized = CarryOverlay().size(1.0, at=risk.index[1], risk=risk)
    # Assert
    assert (sized.regime, sized.exposure) == ("calm", 1.0)


def test_size_given_vol_target_without_bars_raises_value_error() -> None:
    # Arrange
    bars = flat_bars(3)
    # Act / Assert
    with pytest.raises(ValueError, match="pass the bars"):
        CarryOverlay(OverlayConfig(vol_target=0.6)).size(1.0, at=bars.index[-1], risk=risk_on(bars, [1.0] * 3))


def test_apply_given_misaligned_risk_raises_value_error() -> None:
    # Arrange
    bars = flat_bars(5)
    late = risk_on(bars, [10.0] * 5).set_axis(bars.index + 3 * DAY)
    # Act / Assert
    with pytest.raises(ValueError, match="one row per bar"):
        CarryOverlay().apply(pd.Series(1.0, index=bars.index), risk_on(bars, [10.0] * 4 + [np.nan]).iloc[:4], bars)
    with pytest.raises(ValueError, match="one row per bar"):
        CarryOverlay().apply(pd.Series(1.0, index=bars.index), late, bars)


def test_apply_given_risk_on_open_times_equals_risk_on_close_times() -> None:
    # Arrange
    bars = flat_bars(6)
    scores = [10.0, 50.0, 70.0, 66.0, 40.0, np.nan]
    exposure = pd.Series(1.0, index=bars.index)
    # Act
    on_close = CarryOverlay().apply(exposure, risk_on(bars, scores), bars)
    on_open = CarryOverlay().apply(exposure, risk_on(bars, scores, at_close=False), bars)
    # Assert
    pd.testing.assert_frame_equal(on_close, on_open)


@settings(max_examples=40, deadline=None)
@given(
    scores=st.lists(st.one_of(st.floats(0.0, 100.0), st.just(float("nan"))), min_size=2, max_size=60),
    exposure=st.floats(0.0, 1.0),
    mode=st.sampled_from(["step", "continuous"]),
)
def test_apply_given_any_score_path_final_exposure_is_at_most_strategy_exposure(
    scores: list[float], exposure: float, mode: str
) -> None:
    # Act
    frame = run(scores, OverlayConfig(mode=mode), exposure=exposure)
    # Assert
    assert frame["multiplier"].between(0.0, 1.0).all()
    assert (frame["final_exposure"] <= frame["strategy_exposure"] + 1e-15).all()
    assert frame["final_exposure"].between(0.0, 1.0).all()


def test_config_from_toml_given_overlay_table_reads_it(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "study.toml"
    path.write_text('[overlay]\nmode = "continuous"\nhysteresis = 3.0\nvol_target = 0.6\n', encoding="utf-8")
    # Act
    config = OverlayConfig.from_toml(path)
    # Assert
    assert config == OverlayConfig(mode="continuous", hysteresis=3.0, vol_target=0.6)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[overlay]\nmode = "sigmoid"\n', "mode must be one of"),
        ("[overlay]\nhysterisis = 3\n", "unknown key 'hysterisis' \\(did you mean 'hysteresis'\\?\\)"),
        ("[overlay\n", "is not valid TOML"),
        ("[overlay]\nstress = 0.9\n", "non-increasing"),
        ("[overlay]\nvol_cap = 2.0\n", "vol_cap must be in"),
    ],
)
def test_config_from_toml_given_bad_file_raises_carryguard_error_naming_it(
    tmp_path: Path, text: str, message: str
) -> None:
    # Arrange
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    # Act / Assert
    with pytest.raises(CarryguardError, match=message) as error:
        OverlayConfig.from_toml(path)
    assert str(path) in str(error.value)


def test_config_from_toml_given_missing_file_raises_carryguard_error(tmp_path: Path) -> None:
    # Act / Assert
    with pytest.raises(CarryguardError, match=r"overlay config file .* not found"):
        OverlayConfig.from_toml(tmp_path / "absent.toml")


def test_shipped_overlay_toml_given_defaults_matches_overlay_config() -> None:
    # Arrange
    path = Path(__file__).resolve().parents[1] / "strategies" / "overlay.toml"
    # Act
    config = OverlayConfig.from_toml(path)
    # Assert
    assert config == OverlayConfig()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, HYSTERESIS_WARMUP),
        ({"hysteresis": 0.0}, 0),
        ({"vol_target": 0.6, "vol_window": 60}, HYSTERESIS_WARMUP),
        ({"hysteresis": 0.0, "vol_target": 0.6, "vol_window": 10}, 10),
        ({"vol_target": 0.6, "vol_window": HYSTERESIS_WARMUP + 5}, HYSTERESIS_WARMUP + 5),
    ],
)
def test_warmup_bars_given_config_covers_hysteresis_and_vol_window(values: dict, expected: int) -> None:
    # Act
    warmup = OverlayConfig(**values).warmup_bars
    # Assert
    assert warmup == expected


@pytest.mark.parametrize("field", ["hysteresis", "vol_target", "stress", "zero_at"])
def test_config_given_non_numeric_setting_raises_type_error_naming_it(field: str) -> None:
    # Act / Assert
    with pytest.raises(TypeError, match=f"overlay {field} must be a number, got 'a'"):
        OverlayConfig(**{field: "a"})
