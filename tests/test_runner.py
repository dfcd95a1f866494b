"""The study runner: indicators warmed up on the bars before the study's start, the
engine run on the window only, each book independent of the rest of the study."""

from __future__ import annotations

import pandas as pd
import pytest

from carryguard.backtests.run.runner import decision_times, run_study
from carryguard.backtests.run.study import Study, parse_study
from carryguard.signals.indicators import realized_volatility
from carryguard.signals.risk import risk_at
from carryguard.signals.store import Store
from carryguard.strategies.loader import make_strategy
from carryguard.strategies.overlay import HYSTERESIS_WARMUP

SID = "binance/BTC-USDT/1d"
START = "2021-03-15"  # mid-history: over 1,200 stored bars before it


def study_of(strategies: dict[str, dict], **keys: object) -> Study:
    return parse_study(
        {
            "name": "warmup",
            "data": {"symbols": ["BTC/USDT"], "start": START, "end": "2022-06-30"},
            "strategies": strategies,
            **keys,
        }
    )


def book(run, strategy: str, overlay: bool):
    name = "carry" if overlay else "none"
    (result,) = [r for r in run.results if r.strategy == strategy and r.overlay == name]
    return result


@pytest.fixture(scope="module")
def btc(shared_store: Store) -> pd.DataFrame:
    return shared_store.read(SID)


@pytest.fixture(scope="module")
def warm_run(shared_store: Store):
    study = study_of(
        {"sma_cross": {}, "tsmom": {"vol_target": 0.6}, "buy_and_hold": {}, "dca": {}}, overlay={"vol_target": 0.6}
    )
    return run_study(study, shared_store, engine="fast")


@pytest.mark.parametrize(("name", "params"), [("sma_cross", {}), ("tsmom", {"vol_target": 0.6})])
def test_run_study_given_mid_history_start_equals_full_history_target_on_the_window(warm_run, btc, name, params):
    # Arrange
    window = warm_run.bars[("BTC/USDT", "1d")].index
    full = make_strategy(name, **params).target_exposure(btc)

    # Act
    exposure = book(warm_run, name, overlay=False).exposure["strategy_exposure"]

    # Assert
    assert exposure.index.equals(window) and window[0] == pd.Timestamp(START, tz="UTC")
    pd.testing.assert_series_equal(exposure, full.loc[window], check_names=False)
    cold = make_strategy(name, **params).target_exposure(btc.loc[window])
    assert not cold.equals(full.loc[window])  # the warm-up matters here: a cold start differs


@pytest.mark.parametrize("name", ["buy_and_hold", "dca"])
def test_run_study_given_zero_warmup_strategy_starts_at_the_study_start(warm_run, name):
    # Arrange
    window = warm_run.bars[("BTC/USDT", "1d")]

    # Act
    exposure = book(warm_run, name, overlay=False).exposure["strategy_exposure"]

    # Assert
    pd.testing.assert_series_equal(exposure, make_strategy(name).target_exposure(window), check_names=False)
    assert warm_run.warmup[SID][name] == 0


def test_run_study_given_vol_target_overlay_warms_its_vol_window_on_earlier_bars(warm_run, btc):
    # Arrange
    window = warm_run.bars[("BTC/USDT", "1d")].index
    vol = realized_volatility(btc["close"], 30, periods_per_year=365.0)

    # Act
    sized = book(warm_run, "sma_cross", overlay=True).exposure

    # Assert: the vol scale reads the 30 returns before each bar, also at the window's first bars
    expected = (0.6 / vol).clip(upper=1.0).loc[window]
    assert sized["vol_scale"].to_numpy() == pytest.approx(expected.to_numpy(), rel=1e-12)
    assert sized["vol_scale"].iloc[0] < 1.0  # a cold start would read the cap (1.0) for 30 bars
    assert warm_run.warmup[SID]["carry"] == min(HYSTERESIS_WARMUP, int((btc.index < window[0]).sum()))


def test_run_study_given_warm_start_engine_runs_on_the_window_and_first_fill_is_its_second_open(warm_run):
    # Arrange
    window = warm_run.bars[("BTC/USDT", "1d")]
    result = book(warm_run, "sma_cross", overlay=False)

    # Act
    first_fill = result.book.fills.iloc[0]

    # Assert: long at the start (fast SMA above slow on 2021-03-15), bought at the next open
    assert result.exposure["strategy_exposure"].iloc[0] == 1.0
    assert result.book.equity.index.equals(window.index)
    assert result.book.equity.iloc[0] == result.book.initial_cash
    assert first_fill["time"] == window.index[1] and first_fill["side"] == "buy"
    assert result.metrics["Start"] == window.index[0].isoformat()


def test_run_study_given_other_strategies_in_the_study_book_is_unchanged(shared_store):
    # Arrange
    alone = study_of({"sma_cross": {}})
    crowded = study_of({"sma_cross": {}, "dip_buy": {"window": 300}, "rsi_oversold": {}})

    # Act
    runs = [run_study(study, shared_store, engine="fast") for study in (alone, crowded)]

    # Assert: dip_buy's 389-bar warm-up does not lengthen sma_cross's
    for overlay in (False, True):
        first, second = (book(run, "sma_cross", overlay) for run in runs)
        assert first.metrics == second.metrics
        pd.testing.assert_frame_equal(first.exposure, second.exposure)
    assert runs[1].warmup[SID]["dip_buy"] == 389 and runs[1].warmup[SID]["sma_cross"] == 99


def test_run_study_given_start_at_first_stored_bar_uses_no_warmup(shared_store, btc):
    # Arrange
    study = parse_study(
        {
            "name": "cold",
            "data": {"symbols": ["BTC/USDT"], "end": "2018-06-30"},
            "strategies": {"sma_cross": {}},
            "with_overlay": [False],
        }
    )

    # Act
    run = run_study(study, shared_store, engine="fast")

    # Assert
    assert run.warmup[SID] == {"sma_cross": 0}
    assert run.bars[("BTC/USDT", "1d")].index[0] == btc.index[0]


def test_run_study_given_1d_and_4h_books_each_reads_the_risk_at_its_own_bar_closes(shared_store):
    # Arrange: one run reads the risk index once for both calendars and the daily risk.csv
    study = parse_study(
        {
            "name": "calendars",
            "data": {"symbols": ["BTC/USDT"], "timeframes": ["1d", "4h"], "start": "2022-05-01", "end": "2022-06-30"},
            "strategies": {"buy_and_hold": {}},
            "with_overlay": [False],
        }
    )

    # Act
    run = run_study(study, shared_store, engine="fast")

    # Assert: each book's readings are risk_at on that book's closes alone, the daily ones on midnights
    for result in run.results:
        window = run.bars[(result.symbol, result.timeframe)]
        expected = risk_at(shared_store, decision_times(window, result.timeframe))
        assert result.exposure["risk_score"].to_numpy() == pytest.approx(expected["score"].to_numpy(), nan_ok=True)
        assert list(result.exposure["regime"]) == list(expected["regime"])
    days = pd.date_range("2022-05-02", "2022-07-01", freq="1D", tz="UTC", name="time")
    pd.testing.assert_frame_equal(run.risk, risk_at(shared_store, days)[["score", "regime"]], check_freq=False)
    assert len({r.timeframe for r in run.results}) == 2 and run.risk["score"].notna().all()
