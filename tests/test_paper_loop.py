"""The paper loop against the local Binance emulator (ccxt's real client, real 4h bars)."""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import threading
import time

import numpy as np
import pandas as pd
import pytest

from carryguard.backtests.paper.decide import MacroLimits, OverlayDecider, RiskFeed
from carryguard.backtests.paper.loop import LoopConfig, stop_handlers
from carryguard.backtests.paper.records import Step
from carryguard.backtests.paper.state import PaperState
from carryguard.signals.risk import risk_at
from carryguard.signals.sources.ccxt_source import GarbageResponse
from carryguard.signals.sources.ccxt_source import parse_ohlcv_rows as parse_bars
from carryguard.strategies.loader import make_strategy
from carryguard.strategies.overlay import CarryOverlay, OverlayConfig
from tests.fakes.binance import BinanceEmulator
from tests.fakes.exchange_clock import AcceleratedClock
from tests.paper_support import FIRST_DECISION, SPEC, STEP, backtest, exchange_for, make_loop, replay_bars

DECISIONS = 210


class KlineFaults(BinanceEmulator):
    """Serves queued faults to ``/api/v3/klines`` only (the clock keeps answering)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.kline_faults: list[object] = []

    def _serve(self, path: str, query: dict[str, str]):
        if path == "/api/v3/klines" and self.kline_faults:
            self.fail_next(self.kline_faults.pop(0))
        return super()._serve(path, query)


@pytest.fixture(scope="module")
def bars(shared_data) -> pd.DataFrame:
    return replay_bars(shared_data, decisions=DECISIONS)


@pytest.mark.slow
def test_paper_run_given_accelerated_clock_over_210_bars_matches_backtrader_backtest(bars, shared_store, tmp_path):
    # Arrange: the exchange clock stands just after the first decided bar closes, then runs 4h per 25 ms
    start = FIRST_DECISION + STEP + pd.Timedelta(seconds=5)
    clock = AcceleratedClock(start, speed=STEP.total_seconds() / 0.025, end=start + STEP * (DECISIONS + 1))
    with BinanceEmulator({("BTCUSDT", "4h"): bars}, clock=clock) as emulator, PaperState(tmp_path / "p.db") as state:
        exchange = exchange_for(emulator.url)
        first_run = make_loop(exchange, state, shared_store, once=True).run()  # the clock stands: the first bar only
        clock.go()
        # Act
        summary = make_loop(exchange, state, shared_store, max_bars=DECISIONS - 1).run()
        decisions = state.table("decisions", SPEC.strategy, SPEC.symbol)
        fills = state.table("fills", SPEC.strategy, SPEC.symbol)
        equity = state.table("equity", SPEC.strategy, SPEC.symbol)
        book = state.book(SPEC.strategy, SPEC.symbol)
    first, last = FIRST_DECISION, FIRST_DECISION + STEP * (DECISIONS - 1)
    reference, sized = backtest(bars, shared_store, first, last)
    # Assert: every bar decided once, in order, none skipped, with trades to compare
    assert first_run.decided == 1 and summary.decided == DECISIONS - 1 and summary.skipped == 0
    times = pd.DatetimeIndex(pd.to_datetime(decisions["bar_time"], utc=True))
    assert times.equals(pd.date_range(first, last, freq=STEP, tz="UTC"))
    assert len(fills) >= 5
    # the paper targets are the backtest's targets (strategy on bars up to t, overlay at t's close)
    np.testing.assert_allclose(
        decisions["target"].to_numpy(), sized["final_exposure"].loc[times].to_numpy(), atol=1e-12
    )
    # the same fills: time (next bar's open), side, quantity, price with slippage, fee
    expected = reference.fills
    assert list(pd.to_datetime(fills["fill_time"], utc=True)) == list(expected["time"])
    assert list(fills["side"]) == list(expected["side"])
    np.testing.assert_allclose(
        fills[["qty", "price", "fee"]].to_numpy(), expected[["qty", "price", "fee"]].to_numpy(), rtol=1e-9
    )
    # equity marked at each close and the final book agree with the backtest
    np.testing.assert_allclose(equity["equity"].to_numpy(), reference.equity.loc[times].to_numpy(), rtol=1e-9)
    assert book.cash == pytest.approx(reference.cash.iloc[-1], rel=1e-9, abs=1e-6)
    assert book.position == pytest.approx(reference.position.iloc[-1], rel=1e-9)


def _catch_up(bars: pd.DataFrame, store, tmp_path, faults: list[object], caplog, **config: object):
    """A book decides one bar, then the clock jumps 3 bars ahead and ``faults`` hit the next
    kline requests; returns the decisions and fills of the catch-up run."""
    now = FIRST_DECISION + STEP + pd.Timedelta(seconds=5)
    with KlineFaults({("BTCUSDT", "4h"): bars}, now=now) as emulator, PaperState(tmp_path / "f.db") as state:
        emulator.hang_seconds = 0.6
        exchange = exchange_for(emulator.url, timeout=0.3)
        make_loop(exchange, state, store, once=True).run()
        emulator.set_now(now + STEP * 3)
        emulator.kline_faults = list(faults)
        with caplog.at_level(logging.INFO, logger="carryguard.paper"):
            make_loop(exchange, state, store, once=True, **config).run()
        return state.table("decisions", SPEC.strategy, SPEC.symbol), state.table("fills", SPEC.strategy, SPEC.symbol)


@pytest.mark.parametrize(
    "fault, detail",
    [
        (500, "ExchangeNotAvailable"),
        (503, "503 Service Unavailable"),
        ("timeout", "RequestTimeout"),
        ("malformed", "GarbageResponse"),
        ("html", "GarbageResponse"),
    ],
)
def test_loop_given_exchange_fault_on_every_retry_skips_the_bar_with_a_clear_log_line(
    bars, shared_store, tmp_path, caplog, fault, detail
):
    # Arrange / Act: both attempts of the first catch-up bar fail
    decisions, fills = _catch_up(bars, shared_store, tmp_path, [fault, fault], caplog)
    # Assert: that bar is decided as a skip (no trade, no order), the next ones normally
    skipped = decisions[decisions["action"] == "skip"]
    assert list(skipped["bar_time"]) == [(FIRST_DECISION + STEP).isoformat()]
    assert (
        skipped["reason"]
        .iloc[0]
        .startswith("exchange error, no trade: fetch_ohlcv BTC/USDT 4h failed after 2 attempt(s)")
    )
    assert detail in skipped["reason"].iloc[0]
    assert skipped["bar_time"].iloc[0] not in set(fills["bar_time"])
    assert len(decisions) == 4 and (decisions["action"] != "skip").sum() == 3
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"bar {(FIRST_DECISION + STEP).isoformat()} skip" in line and "exchange error" in line for line in lines)


def test_loop_given_one_transient_fault_retries_and_decides_the_bar_normally(bars, shared_store, tmp_path, caplog):
    # Arrange / Act: only the first attempt fails
    decisions, _ = _catch_up(bars, shared_store, tmp_path, [502], caplog)
    # Assert
    assert (decisions["action"] == "skip").sum() == 0 and len(decisions) == 4
    assert any("failed (attempt 1/2)" in r.getMessage() and "retrying" in r.getMessage() for r in caplog.records)


def test_loop_given_price_older_than_limit_records_skip_instead_of_trading(bars, shared_store, tmp_path, caplog):
    # Arrange / Act: catching up 3 bars with a 1h price-age limit: the fills would be 8h+ old
    decisions, fills = _catch_up(bars, shared_store, tmp_path, [], caplog, max_price_age=pd.Timedelta(hours=1))
    # Assert: the catch-up bars are decided (marked, target recorded) but not traded
    late = decisions.iloc[1:3]
    assert (late["action"] == "skip").all()
    assert all(
        reason.startswith("stale price: the fill price") and "> limit 1h00m, no trade" in reason
        for reason in late["reason"]
    )
    assert late["target"].notna().all()
    assert not set(late["bar_time"]) & set(fills["bar_time"])


def test_loop_given_macro_inputs_older_than_limit_records_skip(bars, shared_store, tmp_path):
    # Arrange: a store whose JGB series ends 20 days before the decision
    from carryguard.signals.pit import MemoryStore

    source = {sid: shared_store.read(sid) for sid in ("yahoo/JPY=X/1d", "fred/DGS10", "fred/DGS2", "mof/jgb")}
    source["mof/jgb"] = source["mof/jgb"].loc[: FIRST_DECISION - pd.Timedelta(days=20)]
    store = MemoryStore(source, {sid: shared_store.meta(sid) for sid in source})
    now = FIRST_DECISION + STEP + pd.Timedelta(seconds=5)
    with BinanceEmulator({("BTCUSDT", "4h"): bars}, now=now) as emulator, PaperState(tmp_path / "m.db") as state:
        # Act
        make_loop(exchange_for(emulator.url), state, store, once=True).run()
        decisions = state.table("decisions", SPEC.strategy, SPEC.symbol)
    # Assert
    assert list(decisions["action"]) == ["skip"]
    assert decisions["reason"].iloc[0].startswith("stale macro input jgb: newest value")
    assert "> limit 10 days, no trade" in decisions["reason"].iloc[0]


def test_loop_given_stop_request_finishes_the_step_and_exits(bars, shared_store, tmp_path):
    # Arrange: a standing clock (nothing due after the first bar); the loop runs in a thread
    now = FIRST_DECISION + STEP + pd.Timedelta(seconds=5)
    stop, result = threading.Event(), {}
    with BinanceEmulator({("BTCUSDT", "4h"): bars}, now=now) as emulator:

        def run() -> None:
            with PaperState(tmp_path / "s.db") as state:
                loop = make_loop(exchange_for(emulator.url), state, shared_store, poll_seconds=0.05)
                loop.stop = stop
                result["summary"] = loop.run()

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _decided(tmp_path / "s.db"):
            time.sleep(0.01)
        # Act: stop once the first bar is decided and the loop waits for the next close
        stop.set()
        thread.join(timeout=10)
    # Assert
    assert not thread.is_alive()
    assert result["summary"].stopped_by == "signal" and result["summary"].decided == 1
    assert _decided(tmp_path / "s.db") == 1


class RecordingSink:
    """An order sink that only remembers what it was asked to send."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def reconcile(self, state, strategy: str, symbol: str) -> None:
        pass

    def submit(self, state, client_id: str, side: str, qty: float) -> None:
        self.sent.append(client_id)


class RacingDecider:
    """Decides like ``inner``, but another run of the same book commits the bar first."""

    def __init__(self, inner, path) -> None:
        self.inner, self.path = inner, path

    def decide(self, bars: pd.DataFrame, at: pd.Timestamp, *, now: pd.Timestamp):
        with PaperState(self.path) as other:
            other.record_step(
                SPEC.strategy,
                SPEC.symbol,
                Step(bar_time=bars.index[-1], decided_at=at, action="hold", reason="decided by the other run"),
            )
        return self.inner.decide(bars, at, now=now)


def test_loop_given_bar_committed_by_another_run_meanwhile_sends_no_order(bars, shared_store, tmp_path):
    # Arrange: the clock just after BUY_BAR closes, where the book would buy
    buy_bar = pd.Timestamp("2025-01-04T04:00:00Z")
    sink = RecordingSink()
    with (
        BinanceEmulator({("BTCUSDT", "4h"): bars}, now=buy_bar + STEP + pd.Timedelta(seconds=5)) as emulator,
        PaperState(tmp_path / "r.db") as state,
    ):
        loop = make_loop(exchange_for(emulator.url), state, shared_store, once=True)
        loop.decider, loop.orders = RacingDecider(loop.decider, tmp_path / "r.db"), sink
        # Act
        summary = loop.run()
        decisions = state.table("decisions", SPEC.strategy, SPEC.symbol)
        orders = state.table("orders", SPEC.strategy, SPEC.symbol)
    # Assert: the other run's decision stands; this run neither records nor sends an order
    assert list(decisions["reason"]) == ["decided by the other run"] and orders.empty
    assert sink.sent == [] and summary.trades == 0 and summary.decided == 0


def _decided(path) -> int:
    if not path.exists():
        return 0
    with sqlite3.connect(path) as conn:
        try:
            return conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0]
        except sqlite3.OperationalError:  # schema not created yet
            return 0


@pytest.mark.parametrize(
    "rows",
    [
        {"not": "a list"},
        [[1, 2, 3]],
        [[1735689600000, "x", 1, 1, 1, 1]],
        [[1735689600000, 1.0, 0.5, 2.0, 1.0, 1.0]],
        [[1735704000000, 1, 1, 1, 1, 1], [1735689600000, 1, 1, 1, 1, 1]],
    ],
)
def test_parse_bars_given_garbage_raises_garbage_response(rows):
    # Arrange / Act / Assert
    with pytest.raises(GarbageResponse):
        parse_bars(rows, STEP)


def test_loop_config_given_bad_values_raises_value_error():
    # Arrange / Act / Assert
    with pytest.raises(ValueError, match="history"):
        LoopConfig(timeframe="4h", history=1)
    with pytest.raises(ValueError, match="timeframe"):
        LoopConfig(timeframe="4x")


def test_risk_feed_given_refresh_interval_rereads_the_store_only_when_due(shared_store):
    # Arrange: a refresher that counts calls, refresh every 1 day, 4h decisions over 3 days
    calls: list[int] = []
    feed = RiskFeed(
        shared_store,
        step=STEP,
        limits=MacroLimits(refresh_every=pd.Timedelta(days=1)),
        refresher=lambda: calls.append(1),
    )
    closes = pd.date_range(FIRST_DECISION + STEP, periods=18, freq=STEP, tz="UTC")
    # Act
    rows = [feed.readings(closes[: i + 1], now=close).iloc[-1] for i, close in enumerate(closes)]
    # Assert: refreshed at the start, then once per day; readings equal a direct point-in-time call
    assert len(calls) == 3
    direct = risk_at(shared_store, closes)
    np.testing.assert_allclose([row["score"] for row in rows], direct["score"].to_numpy())


def test_loop_given_three_closed_bars_to_catch_up_refreshes_the_macro_store_once(bars, shared_store, tmp_path):
    # Arrange: a refresh due every hour of exchange time, the clock 3 bars (12h) past the last decided bar
    now = FIRST_DECISION + STEP + pd.Timedelta(seconds=5)
    refreshes: list[int] = []
    with BinanceEmulator({("BTCUSDT", "4h"): bars}, now=now) as emulator, PaperState(tmp_path / "c.db") as state:
        exchange = exchange_for(emulator.url)
        make_loop(exchange, state, shared_store, once=True).run()
        emulator.set_now(now + STEP * 3)
        loop = make_loop(exchange, state, shared_store, once=True)
        loop.decider.feed = RiskFeed(
            shared_store,
            step=STEP,
            limits=MacroLimits(refresh_every=pd.Timedelta(hours=1)),
            refresher=lambda: refreshes.append(1),
        )
        # Act
        summary = loop.run()
    # Assert: three bars decided at closes 4h apart, but the exchange clock moved less than an hour
    assert summary.decided == 3 and summary.skipped == 0
    assert len(refreshes) == 1


class ScriptedFeed(RiskFeed):
    """Risk readings from a function of time (score only)."""

    def __init__(self, score) -> None:
        super().__init__(None, step=STEP)
        self.score = score

    def readings(self, times: pd.DatetimeIndex, *, now: pd.Timestamp) -> pd.DataFrame:
        return pd.DataFrame({"score": [self.score(t) for t in times]}, index=times)


def _rising_bars(periods: int, end: pd.Timestamp) -> pd.DataFrame:
    index = pd.date_range(end=end, periods=periods, freq=STEP, tz="UTC", name="time")
    close = np.linspace(100.0, 130.0, periods)
    return pd.DataFrame({"open": close, "high": close, "low": close, "close": close, "volume": 1.0}, index=index)


def test_decider_given_hysteresis_memory_older_than_history_sizes_like_a_backtest_from_the_start():
    # Arrange: score 30, then 62 (stress) from 60 to 20 days before the decision, then 58: the
    # overlay holds stress (58 + 5 >= 62); the 30 bars handed to the strategy only see the 58s
    at = FIRST_DECISION + STEP
    feed = ScriptedFeed(
        lambda t: 30.0 if t < at - pd.Timedelta(days=60) else 62.0 if t < at - pd.Timedelta(days=20) else 58.0
    )
    decider = OverlayDecider(make_strategy("buy_and_hold"), step=STEP, config=OverlayConfig(), feed=feed)
    history = _rising_bars(400, FIRST_DECISION)
    # Act
    decision = decider.decide(history.iloc[-30:], at)
    # Assert: the same exposure as the overlay run over the whole history, as a backtest does
    backtest = CarryOverlay().apply(
        pd.Series(1.0, index=history.index), feed.readings(history.index + STEP, now=at), history
    )
    assert backtest["regime"].iloc[-1] == "stress" and decision.regime == "stress"
    assert decision.target == backtest["final_exposure"].iloc[-1] == 0.25
    assert "held at 62.0 by hysteresis" in decision.reason and "not settled" not in decision.reason


def test_decider_given_hysteresis_memory_that_never_settles_says_so_in_the_reason():
    # Arrange: a score flat at 58 forever: a path entering with memory 63 would still hold 63
    decider = OverlayDecider(
        make_strategy("buy_and_hold"), step=STEP, config=OverlayConfig(), feed=ScriptedFeed(lambda t: 58.0)
    )
    # Act
    decision = decider.decide(_rising_bars(30, FIRST_DECISION), FIRST_DECISION + STEP)
    # Assert
    assert decision.regime == "elevated"
    assert decision.reason.endswith("; hysteresis memory not settled over 1440 days (sticky score 58.0 to 63.0)")


def test_macro_refresh_given_new_mof_row_feeds_it_to_the_next_risk_reading(
    shared_data, real_store, tmp_path, monkeypatch, caplog
):
    # Arrange: MOF serves one new day (2026-07-01) beyond the stored history; FRED and Yahoo as stored
    import yfinance as yf

    from carryguard.backtests.paper.sandbox import macro_refresher
    from tests.fakes.http_server import FileServer
    from tests.fakes.yahoo import YahooServer, recorded_chart

    yf.set_tz_cache_location(str(tmp_path / "yf-cache"))
    header = "Interest Rate,,,,,,,,,,,,,,,(Unit : %)\r\nDate,1Y,2Y,3Y,4Y,5Y,6Y,7Y,8Y,9Y,10Y,15Y,20Y,25Y,30Y,40Y\r\n"
    new_day = "2026/7/1,1.16,1.38,1.53,1.75,1.93,2.07,2.23,2.39,2.55,2.68,3.26,3.61,3.87,3.86,3.78\r\n"
    files = FileServer(
        {
            "/mof/historical/jgbcme_all.csv": (shared_data / "mof_jgbcme_all.csv").read_bytes(),
            "/mof/jgbcme.csv": (header + new_day).encode(),
            **{f"/fred?id={s}": (shared_data / f"fred_{s}.csv").read_bytes() for s in ("DEXJPUS", "DGS10", "DGS2")},
        }
    )
    at = pd.Timestamp("2026-07-02T04:00:00Z")
    with files, YahooServer({"JPY=X": recorded_chart("JPY=X")}) as yahoo:
        for name, url in (("MOF", files.url + "/mof"), ("FRED", files.url + "/fred"), ("YAHOO", yahoo.url)):
            monkeypatch.setenv(f"CARRYGUARD_{name}_URL", url)
        feed = RiskFeed(real_store, step=STEP, refresher=macro_refresher(real_store))
        # Act
        with caplog.at_level(logging.INFO, logger="carryguard.paper"):
            reading = feed.readings(pd.DatetimeIndex([at]), now=at).iloc[-1]
    # Assert
    assert real_store.read("mof/jgb").index[-1] == pd.Timestamp("2026-07-01", tz="UTC")
    assert pd.Timestamp(reading["jgb_date"]).date().isoformat() == "2026-07-01"
    assert any(r.getMessage().startswith("macro refresh: MOF JGB +1 rows") for r in caplog.records)


def test_stop_handlers_given_sigterm_sets_stop_then_restores_the_previous_handler():
    # Arrange: a handler of the embedding program (or of an earlier in-process command)
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: seen.append(signum))
    stop = threading.Event()
    try:
        # Act
        with stop_handlers(stop):
            os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)

        # Assert: inside, the loop's stop request; afterwards, the program's own handler again
        assert stop.is_set()
        assert seen == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)
