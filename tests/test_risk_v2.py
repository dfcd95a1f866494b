"""Index v2 on the real data: its legs, its point-in-time rank score, the named unwinds,
fail-closed on a missing yen leg, and the columns other code relies on."""

from __future__ import annotations

from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from carryguard.signals.pit import MemoryStore
from carryguard.signals.risk import RiskConfig, latest_time, risk_at
from carryguard.signals.store import Store

DEFAULT = RiskConfig()


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture(scope="module")
def inputs(shared_store: Store) -> MemoryStore:
    return MemoryStore.load(shared_store, DEFAULT.series_ids())


@pytest.fixture(scope="module")
def history(inputs: MemoryStore) -> pd.DataFrame:
    return risk_at(inputs, pd.date_range(utc("2000-01-01"), latest_time(inputs), freq="D"))


def test_risk_at_v2_given_any_reading_contributions_add_up_to_trigger_plus_amplifier(history):
    # Arrange
    scored = history[history["score"].notna()]
    trigger = scored[[f"{c}_contribution" for c in DEFAULT.trigger_weights]].sum(axis=1)
    amplifier = scored[[f"{c}_contribution" for c in DEFAULT.amplifier_weights]].sum(axis=1)

    # Act / Assert
    np.testing.assert_allclose(trigger, scored["trigger"], atol=1e-12)
    np.testing.assert_allclose(amplifier, scored["amplifier"], atol=1e-12)
    np.testing.assert_allclose(trigger + amplifier, scored["composite"], atol=1e-12)
    assert len(scored) > 7000


def test_risk_at_v2_given_contrary_rates_leg_subtracts_at_most_gain_times_floor(history):
    # Act
    amplifier = history["amplifier"].dropna()

    # Assert: the cap binds on some days, and never lets the rates leg take more off
    floor = DEFAULT.amplifier_gain * DEFAULT.amplifier_floor
    assert amplifier.min() == pytest.approx(floor) and (amplifier == floor).sum() > 100


def test_risk_at_v2_given_rank_the_score_is_its_normal_quantile_through_the_logistic(history):
    # Arrange
    scored = history[history["score"].notna()]
    q = np.array([NormalDist().inv_cdf(p) for p in scored["rank"]])

    # Act
    expected = 100 / (1 + np.exp(-(q - DEFAULT.rank_center) / DEFAULT.rank_scale))

    # Assert
    np.testing.assert_allclose(scored["score"], expected, atol=1e-9)


def test_risk_at_v2_given_daily_readings_rank_matches_a_trailing_count(history):
    # Arrange: on a daily calendar the rank of day D is its place among days D-1094..D
    day = utc("2019-06-03")
    window = history["composite"].loc[day - pd.Timedelta(days=DEFAULT.rank_window_days - 1) : day].dropna()
    value = history.loc[day, "composite"]

    # Act
    expected = ((window < value).sum() + 0.5 * (window == value).sum()) / len(window)

    # Assert
    assert history.loc[day, "rank"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("day", ["2016-02-11", "2020-03-10", "2024-08-05"])
def test_risk_at_v2_given_named_carry_unwinds_reads_stress_or_worse(history, day):
    # Act
    row = history.loc[day]

    # Assert: the yen trigger carries the reading even where the rates leg is contrary
    assert row["regime"] in ("stress", "crisis") and row["score"] >= DEFAULT.thresholds[1]
    assert row["trigger"] > 0


def test_risk_at_v2_given_expired_yen_input_scores_nan(inputs):
    # Arrange: DEXJPUS ends 2026-01-30; by 2026-03-20 it is older than expire_days
    cfg = RiskConfig(fx_series="fred/DEXJPUS")

    # Act
    readings = risk_at(inputs, [utc("2026-02-03"), utc("2026-03-20")], cfg)

    # Assert: without the trigger leg v2 does not guess from the rates leg (fail closed)
    assert np.isfinite(readings["score"].iloc[0])
    assert np.isnan(readings["score"].iloc[1]) and readings["regime"].iloc[1] == ""


def test_risk_at_given_fx_return_columns_equal_the_point_in_time_usdjpy_moves(inputs):
    # Arrange: at 2024-08-06 00:00 (01:00 London) the newest Yahoo close is the 08-06 snapshot
    closes = inputs.read(DEFAULT.fx_series)["close"].loc[:"2024-08-06"]

    # Act
    row = risk_at(inputs, [utc("2024-08-06")]).iloc[0]

    # Assert
    assert row["usdjpy_date"] == utc("2024-08-06")
    for w in DEFAULT.fx_return_windows:
        assert row[f"usdjpy_return_{w}d"] == pytest.approx(closes.iloc[-1] / closes.iloc[-1 - w] - 1, rel=1e-12)


def test_risk_at_given_version_1_has_the_five_v1_components_and_no_rank(inputs):
    # Act
    row = risk_at(inputs, [utc("2024-08-05")], RiskConfig(version=1)).iloc[0]

    # Assert
    assert "jgb_level_zscore" in row.index and "rank" not in row.index and "trigger" not in row.index


def test_risk_config_from_toml_given_v2_tables_overrides_only_the_named_weights(tmp_path: Path):
    # Arrange
    path = tmp_path / "risk.toml"
    path.write_text("[risk]\nversion = 2\n[risk.amplifier_weights]\ncarry_spread = 0.0\n")

    # Act
    cfg = RiskConfig.from_toml(path)

    # Assert
    assert dict(cfg.amplifier_weights) == {"jgb_momentum": 0.5, "carry_spread": 0.0}
    assert dict(cfg.trigger_weights) == dict(DEFAULT.trigger_weights)


WITH_OPTIONAL = RiskConfig(
    amplifier_weights={
        "jgb_momentum": 0.5,
        "carry_spread": 0.5,
        "audjpy_drawdown": 0.5,
        "vix": 0.5,
        "btc_funding": 0.5,
    },
    positioning_gain=0.25,
)
OPTIONAL = ("audjpy_drawdown", "vix", "btc_funding", "yen_positioning")


@pytest.fixture(scope="module")
def all_inputs(shared_store: Store) -> MemoryStore:
    return MemoryStore.load(shared_store, WITH_OPTIONAL.series_ids())


def test_risk_at_v2_given_optional_amplifiers_cut_at_random_times_equals_full_history(all_inputs):
    # Arrange: AUD/JPY (Yahoo snapshot timing), VIX (next US business day 16:00 New York),
    # BTC funding (at its settlement time) and CFTC positioning (Friday 15:30 New York
    # release) at 16 seeded 4h times, 2016-2026
    hours = pd.date_range("2016-01-01", "2026-01-30", freq="4h", tz="UTC")
    times = hours[np.sort(np.random.default_rng(12).choice(len(hours), 16, replace=False))]
    full = risk_at(all_inputs, times, WITH_OPTIONAL)
    columns = ["score", "composite", "trigger", "amplifier", "rank"] + [
        f"{c}_{p}" for c in OPTIONAL for p in ("value", "zscore", "contribution")
    ]

    # Act / Assert
    for t in times:
        cut = risk_at(all_inputs.cut(t), [t], WITH_OPTIONAL).iloc[0]
        np.testing.assert_allclose(
            cut[columns].to_numpy(float), full.loc[t, columns].to_numpy(float), atol=1e-9, err_msg=f"look-ahead at {t}"
        )
        for name in ("audjpy", "vix", "funding", "positioning"):
            got, want = cut[f"{name}_date"], full.loc[t, f"{name}_date"]
            assert (pd.isna(got) and pd.isna(want)) or got == want, f"look-ahead in {name} dates at {t}"
    counted = {c: full[f"{c}_contribution"].notna().sum() for c in OPTIONAL}
    assert min(counted.values()) >= 4, counted


def test_risk_at_v2_given_positioning_scales_only_a_positive_trigger(all_inputs):
    # Arrange
    days = pd.date_range("2010-01-01", "2025-12-31", freq="D", tz="UTC")
    plain = RiskConfig(amplifier_weights=dict(WITH_OPTIONAL.amplifier_weights))

    # Act
    scaled, base = risk_at(all_inputs, days, WITH_OPTIONAL), risk_at(all_inputs, days, plain)

    # Assert: a crowded short yen adds to a positive trigger; it never creates or cancels one
    up = base["trigger"] > 0
    np.testing.assert_allclose(scaled.loc[~up, "trigger"], base.loc[~up, "trigger"], atol=1e-12)
    assert (scaled.loc[up, "trigger"] >= base.loc[up, "trigger"] - 1e-12).all()
    assert (scaled.loc[up, "trigger"] > base.loc[up, "trigger"] + 1e-6).sum() > 100
    np.testing.assert_allclose(
        scaled["trigger"] - base["trigger"], scaled["yen_positioning_contribution"].fillna(0), atol=1e-12
    )


def test_risk_at_v2_given_vix_input_uses_the_value_posted_the_next_us_business_day(all_inputs):
    # Act: the Cboe close of Friday 2024-08-02 is on FRED from Monday 16:00 New York (20:00 UTC)
    before, after = risk_at(all_inputs, [utc("2024-08-05 19:59"), utc("2024-08-05 20:00")], WITH_OPTIONAL)["vix_date"]

    # Assert
    assert before == utc("2024-08-01") and after == utc("2024-08-02")
