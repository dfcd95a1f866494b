"""The Carry-Unwind Risk Index on the real data: no look-ahead, events, config, staleness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from carryguard.signals.errors import DataError
from carryguard.signals.features import carry_spread
from carryguard.signals.pit import MemoryStore, on_availability
from carryguard.signals.risk import COMPONENTS, REGIMES, RiskConfig, explain, latest_time, risk_at
from carryguard.signals.store import Store

DEFAULT = RiskConfig()
V1 = RiskConfig(version=1)
DEXJPUS = RiskConfig(fx_series="fred/DEXJPUS")
PARTS = ("value", "change", "zscore", "contribution", "weight")


def compared(cfg: RiskConfig) -> list[str]:
    """Every numeric column of a reading under ``cfg``."""
    extra = ["trigger", "amplifier", "rank"] if cfg.version == 2 else []
    moves = [f"usdjpy_return_{w}d" for w in cfg.fx_return_windows]
    return ["score", "composite", *extra] + [f"{c}_{p}" for c in cfg.components() for p in PARTS] + moves


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture(scope="module")
def inputs(shared_store: Store) -> MemoryStore:
    ids = {*DEFAULT.inputs().values(), "fred/DEXJPUS", "binance/BTC-USDT/4h"}
    return MemoryStore.load(shared_store, ids)


@pytest.fixture(scope="module")
def history(inputs: MemoryStore) -> pd.DataFrame:
    return risk_at(inputs, pd.date_range(utc("2000-01-01"), latest_time(inputs), freq="D"))


@pytest.fixture(scope="module")
def history_v1(inputs: MemoryStore) -> pd.DataFrame:
    return risk_at(inputs, pd.date_range(utc("2000-01-01"), latest_time(inputs), freq="D"), V1)


def assert_same_as_full(inputs: MemoryStore, times: pd.DatetimeIndex, cfg: RiskConfig) -> int:
    """Each time's reading from inputs cut at that time equals the full-history reading;
    returns how many readings had a score (so the comparison is not vacuous)."""
    full = risk_at(inputs, times, cfg)
    scored = 0
    for t in times:
        cut = risk_at(inputs.cut(t), [t], cfg).iloc[0]
        row = full.loc[t]
        np.testing.assert_allclose(
            cut[compared(cfg)].to_numpy(float),
            row[compared(cfg)].to_numpy(float),
            rtol=0,
            atol=1e-9,
            err_msg=f"look-ahead at {t}",
        )
        assert cut["regime"] == row["regime"] and cut["stale"] == row["stale"]
        dates = [f"{i}_date" for i in cfg.inputs()]
        assert cut[dates].tolist() == row[dates].tolist(), f"look-ahead in data dates at {t}"
        scored += bool(np.isfinite(row["score"]))
    return scored


@pytest.mark.slow
@pytest.mark.parametrize("cfg", [DEFAULT, V1], ids=["v2", "v1"])
def test_risk_at_given_inputs_cut_at_50_random_days_equals_full_history(inputs, cfg):
    # Arrange: 50 seeded daily decision times (00:00 UTC) across 2000-2026
    days = pd.date_range("2000-01-01", "2026-06-27", freq="D", tz="UTC")
    times = days[np.sort(np.random.default_rng(20240805).choice(len(days), 50, replace=False))]

    # Act
    scored = assert_same_as_full(inputs, times, cfg)

    # Assert: v2 needs a year of its own daily readings before it ranks one
    assert scored >= (45 if cfg.version == 1 else 40)


@pytest.mark.slow
def test_risk_at_given_inputs_cut_at_4h_bar_closes_equals_full_history(inputs):
    # Arrange: 4h bar closes of Binance BTC, with DEXJPUS as the FX input (its weekly
    # H.10 release at 16:15 New York falls between 4h closes)
    closes = inputs.read("binance/BTC-USDT/4h").index + pd.Timedelta(hours=4)
    closes = closes[closes < utc("2026-01-30")]
    times = closes[np.sort(np.random.default_rng(4).choice(len(closes), 30, replace=False))]
    cfg = RiskConfig(fx_series="fred/DEXJPUS")

    # Act
    scored_dexjpus = assert_same_as_full(inputs, times, cfg)
    scored_default = assert_same_as_full(inputs, times[:20], DEFAULT)

    # Assert
    assert scored_dexjpus == 30 and scored_default == 20


@pytest.mark.parametrize(
    "at, cfg, expected",
    [
        # MOF and DGS (end of day) from 00:00 UTC of the next day; v1 reads a Yahoo daily bar
        # at its close, v2 its close from the snapshot at 01:00 London of its own day
        ("2024-08-05 23:59", V1, {"jgb": "2024-08-02", "usdjpy": "2024-08-02", "us10y": "2024-08-02"}),
        ("2024-08-06 00:00", V1, {"jgb": "2024-08-05", "usdjpy": "2024-08-05", "us10y": "2024-08-05"}),
        ("2024-08-04 23:59", DEFAULT, {"jgb": "2024-08-02", "usdjpy": "2024-08-02"}),
        ("2024-08-05 00:00", DEFAULT, {"jgb": "2024-08-02", "usdjpy": "2024-08-05"}),  # 01:00 BST
        ("2024-01-08 00:59", DEFAULT, {"usdjpy": "2024-01-05"}),
        ("2024-01-08 01:00", DEFAULT, {"usdjpy": "2024-01-08"}),  # 01:00 GMT
        # DEXJPUS (H.10): a week's fixings released the next Monday 16:15 New York, i.e.
        # 20:15 UTC in summer (EDT), 21:15 UTC in winter (EST)
        ("2024-08-12 20:14", DEXJPUS, {"usdjpy": "2024-08-02"}),
        ("2024-08-12 20:15", DEXJPUS, {"usdjpy": "2024-08-09"}),
        ("2024-01-08 21:14", DEXJPUS, {"usdjpy": "2023-12-29"}),
        ("2024-01-08 21:15", DEXJPUS, {"usdjpy": "2024-01-05"}),
    ],
)
def test_risk_at_given_stored_inputs_uses_each_value_from_its_publication_time(inputs, at, cfg, expected):
    # Arrange: the rules come from the metadata the importer stored with each series

    # Act
    row = risk_at(inputs, [utc(at)], cfg).iloc[0]

    # Assert
    assert {name: row[f"{name}_date"] for name in expected} == {k: utc(v) for k, v in expected.items()}


@pytest.mark.parametrize("version", [1, 2])
def test_risk_at_given_august_2024_unwind_reads_stress_or_crisis_after_a_july_rise(history, history_v1, version):
    # Arrange
    history = history if version == 2 else history_v1
    early_july = history.loc["2024-07-01":"2024-07-05", "score"].mean()

    # Act
    aug2, aug5 = history.loc["2024-08-02"], history.loc["2024-08-05"]

    # Assert
    assert aug2["regime"] in ("stress", "crisis") and aug5["regime"] in ("stress", "crisis")
    assert early_july < 60 and aug2["score"] - early_july > 20
    assert aug2["yen_strength_contribution"] > 0 and aug2["carry_spread_contribution"] > 0


def test_risk_at_given_2025_11_20_v1_long_end_jgb_components_lead(history_v1):
    # Act
    row = history_v1.loc["2025-11-20"]
    ranked = sorted(COMPONENTS, key=lambda c: row[f"{c}_contribution"], reverse=True)

    # Assert: the two JGB long-end components are the two largest contributors
    assert set(ranked[:2]) == {"jgb_momentum", "jgb_level"}
    assert row["jgb_level_contribution"] > 0 and row["jgb_momentum_contribution"] > 0


@pytest.mark.parametrize("version", [1, 2])
def test_risk_at_given_full_history_regimes_are_graded(history, history_v1, version):
    # Act
    readings = history if version == 2 else history_v1
    shares = readings.loc["2002":, "regime"].value_counts(normalize=True)  # v2 ranks from a year of readings

    # Assert: calm is the usual state and crisis the rare one
    assert set(shares.index) <= set(REGIMES)
    assert shares["calm"] > 0.5 and shares["crisis"] < 0.1 and shares["crisis"] > 0


def test_risk_at_given_any_v1_reading_contributions_add_up_to_the_composite(history_v1):
    # Arrange
    scored = history_v1[history_v1["score"].notna()]
    contributions = scored[[f"{c}_contribution" for c in COMPONENTS]]

    # Act
    total = contributions.sum(axis=1, min_count=1)
    logistic = 100 / (1 + np.exp(-(scored["composite"] - V1.center) / V1.scale))

    # Assert
    np.testing.assert_allclose(total, scored["composite"], atol=1e-12)
    np.testing.assert_allclose(logistic, scored["score"], atol=1e-9)


def test_risk_at_given_40y_too_young_for_a_zscore_ignores_it(inputs):
    # Arrange: 40Y starts 2007-11-06; its 60-day change z-score needs 250 observations more
    without_40y = RiskConfig(momentum_tenors=("20Y", "30Y"))
    times = pd.DatetimeIndex([utc("2008-06-02"), utc("2012-06-01")])

    # Act
    default = risk_at(inputs, times, DEFAULT)["jgb_momentum_zscore"]
    narrow = risk_at(inputs, times, without_40y)["jgb_momentum_zscore"]

    # Assert: identical while 40Y lacks history, different once it counts
    assert default.iloc[0] == narrow.iloc[0]
    assert default.iloc[1] != narrow.iloc[1]


def test_carry_spread_given_us_holiday_dates_each_row_by_its_oldest_input():
    # Arrange: JGB of Mon 2024-01-15 (usable Tue 00:00) while DGS has no MLK-day value,
    # so the spread at Tue 00:00 pairs Monday's JGB with Friday's US yields
    jgb = frame_of("mof/jgb", {"10Y": [0.6, 0.7], "2Y": [0.0, 0.1]}, ["2024-01-12", "2024-01-15"])
    us = {
        key: frame_of(f"fred/{fid}", {fid: [4.1]}, ["2024-01-12"])
        for key, fid in (("us10y", "DGS10"), ("us2y", "DGS2"))
    }
    source = MemoryStore({**jgb, **us["us10y"], **us["us2y"]})
    timed = {sid: on_availability(source.read(sid), source.meta(sid)) for sid in source.ids()}

    # Act
    spread = carry_spread(timed["mof/jgb"], {"us10y": timed["fred/DGS10"], "us2y": timed["fred/DGS2"]}, DEFAULT)

    # Assert: the Tuesday row's spread uses Friday's US yield and is dated Friday
    assert spread.values.index.tolist() == [utc("2024-01-13"), utc("2024-01-16")]
    assert spread.values["value"].round(6).tolist() == [3.5, 3.4]
    assert spread.data_date.tolist() == [utc("2024-01-12"), utc("2024-01-12")]


def frame_of(sid: str, columns: dict[str, list[float]], dates: list[str]) -> dict[str, pd.DataFrame]:
    return {sid: pd.DataFrame(columns, index=pd.DatetimeIndex([utc(d) for d in dates], name="time"))}


def test_risk_at_given_yahoo_spike_day_uses_previous_close(inputs):
    # Act: the flagged 2008-04-08 bar would be usable at 2008-04-09 00:00
    row = risk_at(inputs, [utc("2008-04-09")]).iloc[0]

    # Assert
    assert row["usdjpy_date"] == utc("2008-04-07")
    assert row["yen_strength_value"] < 104


def test_risk_at_given_old_inputs_reports_stale_then_drops_them(inputs):
    # Arrange: DEXJPUS ends 2026-01-30 while the other inputs run to mid-2026
    cfg = RiskConfig(fx_series="fred/DEXJPUS", version=1)

    # Act
    readings = risk_at(inputs, [utc("2026-02-03"), utc("2026-02-12"), utc("2026-03-20")], cfg)

    # Assert: fresh, then stale but used, then expired (yen components out, score from the rest)
    assert readings["stale"].tolist() == ["", "usdjpy", "usdjpy"]
    assert np.isfinite(readings["yen_vol_zscore"].iloc[1]) and np.isnan(readings["yen_vol_zscore"].iloc[2])
    assert np.isfinite(readings["score"]).all()
    assert np.isnan(readings["yen_vol_contribution"].iloc[2])


def test_risk_at_given_times_before_any_history_scores_nan_with_empty_regime(inputs):
    # Act
    row = risk_at(inputs, [utc("1985-01-01")]).iloc[0]

    # Assert
    assert np.isnan(row["score"]) and row["regime"] == ""


def test_risk_at_given_store_without_jgb_raises_data_error_naming_it(tmp_path: Path):
    # Act / Assert
    with pytest.raises(DataError, match=r"mof/jgb is not in the store.*carryguard data import"):
        risk_at(Store(tmp_path), [utc("2024-08-05")])


def test_explain_given_time_matches_risk_at_row(inputs):
    # Act
    reading = explain(inputs, "2024-08-05T00:00Z")
    row = risk_at(inputs, [utc("2024-08-05")]).iloc[0]

    # Assert
    assert reading.score == row["score"] and reading.regime == row["regime"]
    assert [c.name for c in reading.components] == list(DEFAULT.components())
    assert reading.components[0].data_date == row["usdjpy_date"] == utc("2024-08-05")  # the snapshot of 08-05
    assert list(reading.to_json()) == ["as_of", "version", "score", "regime", "components", "stale"]
    assert reading.version == 2 and reading.rank == row["rank"]


def test_risk_config_from_toml_given_risk_table_overrides_defaults(tmp_path: Path):
    # Arrange
    path = tmp_path / "risk.toml"
    path.write_text(
        '[risk]\nfx_series = "fred/DEXJPUS"\nthresholds = [30, 50, 70]\n'
        "[risk.weights]\njgb_momentum = 1.0\nyen_strength = 0.5\n"
    )

    # Act
    cfg = RiskConfig.from_toml(path)

    # Assert
    assert cfg.fx_series == "fred/DEXJPUS" and cfg.thresholds == (30, 50, 70)
    assert dict(cfg.weights) == {
        "jgb_momentum": 1.0,
        "jgb_level": 0.15,
        "yen_strength": 0.5,
        "yen_vol": 0.15,
        "carry_spread": 0.20,
    }
    assert cfg.regime(55.0) == "stress" and cfg.regime(50.0) == "stress" and cfg.regime(float("nan")) == ""


@pytest.mark.parametrize(
    "text, message",
    [
        ("zscore_windw = 10\n", "unknown key 'zscore_windw' \\(did you mean 'zscore_window'\\?\\)"),
        ("thresholds = [60, 40, 80]\n", "rising within 0..100"),
        ("[weights]\ncarry = 1.0\n", "unknown risk components"),
        ('clip = "high"\n', "clip = 'high': should be a number"),
        ("thresholds = [40, 60]\n", "thresholds = \\(40, 60\\): too few values"),
        # the v2 index's settings
        ("version = 3\n", "version must be one of"),
        ("[trigger_weights]\njgb_level = 1.0\n", "unknown risk components in trigger_weights"),
        ("amplifier_floor = 0.5\n", "amplifier_floor must be <= 0"),
        ("rank_min_days = 5000\n", "rank_min_days must be in"),
    ],
)
def test_risk_config_from_toml_given_bad_setting_raises_data_error(tmp_path: Path, text: str, message: str):
    # Arrange
    path = tmp_path / "risk.toml"
    path.write_text(text)

    # Act / Assert
    with pytest.raises(DataError, match=message):
        RiskConfig.from_toml(path)


def test_shipped_default_config_equals_the_dataclass_defaults():
    # Arrange
    shipped = Path(__file__).resolve().parents[1] / "signals" / "risk_default.toml"

    # Act
    cfg = RiskConfig.from_toml(shipped)

    # Assert
    assert cfg == DEFAULT


def test_risk_at_given_weekly_released_dexjpus_keeps_daily_windows(inputs):
    # Arrange: a week of DEXJPUS fixings (to Friday 2024-08-09) becomes usable together on
    # Monday 2024-08-12 20:15 UTC; the 20-day return must span 20 fixings, not 20 weeks
    cfg = RiskConfig(fx_series="fred/DEXJPUS")
    fixings = inputs.read("fred/DEXJPUS")["DEXJPUS"].loc[:"2024-08-09"]
    expected = 100.0 * (fixings.iloc[-1] / fixings.iloc[-1 - cfg.fx_return_windows[-1]] - 1.0)

    # Act
    row = risk_at(inputs, [utc("2024-08-12 20:15")], cfg).iloc[0]

    # Assert
    assert row["usdjpy_date"] == utc("2024-08-09")
    assert row["yen_strength_change"] == pytest.approx(expected, rel=1e-12)
