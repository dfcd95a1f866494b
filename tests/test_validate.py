"""``risk validate``: events, episodes, figures against hand counts, the shift null,
point-in-time plain rules and the command on the real-data store."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from carryguard.backtests.cli import main
from carryguard.signals.pit import MemoryStore
from carryguard.signals.risk import RiskConfig
from carryguard.signals.store import Store
from carryguard.signals.validate import (
    EventRule,
    drawdown_breaches,
    episodes,
    figures,
    fx_breaches,
    null_figures,
    shift_amounts,
    study,
)
from carryguard.signals.validate_run import CRYPTO, plain_rules

RULE = EventRule(horizons=(3,), lookback=2, gap_days=3)


def days(*texts: str) -> pd.DatetimeIndex:
    return pd.DatetimeIndex([pd.Timestamp(t, tz="UTC") for t in texts])


def test_episodes_given_breaches_less_than_gap_apart_merges_them_dated_by_the_first():
    # Act
    starts = episodes(days("2024-01-01", "2024-01-20", "2024-02-15", "2024-03-20"), gap_days=30)

    # Assert: 01-20 and 02-15 are < 30 days after the previous breach; 03-20 is 34 days later
    assert starts.tolist() == days("2024-01-01", "2024-03-20").tolist()


def test_fx_breaches_given_a_4pct_fall_over_the_window_flags_that_day():
    # Arrange
    price = pd.Series([100.0, 99.0, 97.0, 95.9, 96.5], index=pd.date_range("2024-01-01", periods=5, tz="UTC"))

    # Act
    hits = fx_breaches(price, EventRule(fx_window=3, fx_drop=0.04))

    # Assert: 95.9/100 - 1 = -4.1% (day 4); 96.5/99 - 1 = -2.5% (day 5)
    assert hits.tolist() == [price.index[3]]


def test_drawdown_breaches_given_close_20pct_below_trailing_high_flags_it():
    # Arrange
    close = pd.Series([100.0, 120.0, 100.0, 95.0, 130.0], index=pd.date_range("2024-01-01", periods=5, tz="UTC"))

    # Act
    hits = drawdown_breaches(close, EventRule(crypto_window=3, crypto_drop=0.20))

    # Assert: 95 <= 0.8 x 120 on day 4 only
    assert hits.tolist() == [close.index[3]]


def test_figures_given_small_case_match_hand_counts():
    # Arrange: 12 days, one event on day 6; the alarm is on days 4, 5 and 10
    alarm = np.zeros(12, dtype=bool)
    alarm[[4, 5, 10]] = True

    # Act
    got = {k: v[0] for k, v in figures(alarm[None, :], np.array([6]), RULE).items()}

    # Assert: horizon 3 -> days 4..6 are followed by the event; valid days are 0..9
    assert got["on_share"] == pytest.approx(3 / 12)
    assert got["precision_3d"] == pytest.approx(2 / 2)  # day 10 lies past the last full horizon
    assert got["base_3d"] == pytest.approx(3 / 10)
    assert got["episode_precision"] == pytest.approx(1.0)  # one alarm episode (day 4) before day 10's
    assert got["recall"] == 1.0 and got["lead_mean"] == 2.0 and got["lead_median"] == 2.0
    assert got["false_alarms_per_year"] == 0.0


def test_figures_given_alarm_only_after_the_event_has_no_recall():
    # Arrange
    alarm = np.zeros(12, dtype=bool)
    alarm[[7, 8]] = True

    # Act
    got = {k: v[0] for k, v in figures(alarm[None, :], np.array([6]), RULE).items()}

    # Assert
    assert got["recall"] == 0.0 and np.isnan(got["lead_mean"]) and got["precision_3d"] == 0.0


def test_shift_amounts_given_long_sample_are_distinct_and_at_least_a_year_from_either_end():
    # Act
    shifts = shift_amounts(2000, 500)

    # Assert
    assert len(shifts) == 500 and len(set(shifts)) == 500
    assert shifts.min() >= 365 and shifts.max() <= 2000 - 365


def test_study_given_alarm_leading_every_event_beats_every_shift_and_random_alarm_does_not():
    # Arrange
    rng = np.random.default_rng(7)
    starts = np.sort(rng.choice(np.arange(100, 2900, 150), 12, replace=False))
    leading = np.zeros(3000, dtype=bool)
    for e in starts:
        leading[e - 5 : e] = True
    noise = [rng.random(3000) < leading.mean() for _ in range(20)]

    # Act
    good = study(leading, starts, EventRule())
    chance = [study(alarm, starts, EventRule(shifts=100))["precision_10d"]["p"] for alarm in noise]

    # Assert: the leading alarm beats every shift; p-values of random alarms spread over (0, 1]
    assert good["shifts"] == 500 and good["recall"]["value"] == 1.0
    assert good["recall"]["p"] == pytest.approx(1 / 501) and good["precision_10d"]["p"] < 0.01
    assert 0.3 < np.mean(chance) < 0.7 and np.mean(np.array(chance) < 0.05) < 0.2


@pytest.fixture(scope="module")
def inputs(shared_store: Store) -> MemoryStore:
    return MemoryStore.load(shared_store, [*RiskConfig().series_ids(), *(s for g in CRYPTO.values() for s in g)])


def test_plain_rules_given_inputs_cut_at_each_day_equal_full_history(inputs):
    # Arrange: 12 seeded days of 2016-2025
    cfg = RiskConfig()
    calendar = pd.date_range("2016-01-01", "2025-12-31", freq="D", tz="UTC")
    picked = calendar[np.sort(np.random.default_rng(11).choice(len(calendar), 12, replace=False))]
    full = plain_rules(inputs, cfg, calendar)

    # Act / Assert
    on = 0
    for t in picked:
        cut = plain_rules(inputs.cut(t), cfg, pd.DatetimeIndex([t]))
        for name, values in full.items():
            assert cut[name][0] == values[calendar.get_loc(t)], f"look-ahead in {name} at {t}"
            on += int(cut[name][0])
    assert on > 0


def run(store: Store, *args: str):
    return CliRunner().invoke(main, ["--data-dir", str(store.root), *args])


def test_risk_validate_given_store_prints_each_event_set_within_80_columns(shared_store):
    # Act
    result = run(shared_store, "risk", "validate", "--end", "2021-12-31", "--shifts", "100")

    # Assert
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    for name in ("yen events", "BTC events", "ETH events", "v1>=60", "v2>=80", "usdjpy20<-3%", "btc<sma200"):
        assert name in result.output
    assert "p = share of 100 circular shifts" in result.output


def test_risk_validate_json_given_held_out_period_reports_only_its_episodes(shared_store):
    # Act
    result = run(shared_store, "risk", "validate", "--start", "2022-01-01", "--json", "--shifts", "50")

    # Assert
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    yen = next(e for e in data["events"] if e["name"] == "yen")
    assert data["start"] == "2022-01-01" and all(d >= "2022-01-01" for d in yen["episodes"])
    assert set(yen["alarms"]) >= {"v1>=60", "v2>=60", "btcvol>q80"}
    assert set(yen["alarms"]["v2>=60"]["recall"]) == {"value", "p"}


def test_risk_validate_plot_given_file_writes_png(shared_store, tmp_path):
    # Arrange
    target = tmp_path / "validate.png"

    # Act
    result = run(shared_store, "risk", "validate", "--shifts", "10", "--plot", str(target))

    # Assert
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_risk_validate_given_period_shorter_than_two_years_exits_1_with_one_line(shared_store):
    # Act
    result = run(shared_store, "risk", "validate", "--start", "2024-01-01", "--end", "2024-12-31")

    # Assert
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "at least 2 years" in lines[0]


def test_null_figures_given_shifts_equal_figures_of_the_shifted_copies():
    # Arrange: a clustered alarm and events; explicit shifted copies as rows
    rng = np.random.default_rng(3)
    alarm = np.zeros(1500, dtype=bool)
    for s in rng.choice(1400, 40, replace=False):
        alarm[s : s + rng.integers(1, 12)] = True
    starts = np.sort(rng.choice(np.arange(20, 1480), 15, replace=False))
    rule = EventRule()
    lags = shift_amounts(1500, 200)
    copies = alarm[(np.arange(1500)[None, :] - lags[:, None]) % 1500]

    # Act
    fast = null_figures(alarm, starts, lags, rule)
    slow = figures(copies, starts, rule)

    # Assert: counts agree for every shift; episode figures wherever no alarm episode
    # spans the sample's ends (the null takes the sample as a circle)
    for name in ("on_share", "precision_10d", "precision_20d", "false_alarms_per_year"):
        np.testing.assert_allclose(fast[name], slow[name], rtol=1e-12, err_msg=name)
    inside = ~(copies[:, : rule.gap_days].any(axis=1) & copies[:, -rule.gap_days :].any(axis=1))
    assert inside.sum() > 50
    for name in ("episode_precision", "recall", "lead_mean", "lead_median"):
        np.testing.assert_allclose(fast[name][inside], slow[name][inside], rtol=1e-12, err_msg=name)
