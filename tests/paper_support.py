"""Shared pieces of the paper-trading tests: real 4h bars, the emulator, a loop factory and
an independent backtest of the same bars (``run_backtrader`` on the overlay's targets)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from carryguard.backtests.engine.backtrader import run_backtrader
from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.backtests.paper.decide import MacroLimits, OverlayDecider, RiskFeed
from carryguard.backtests.paper.loop import LoopConfig, PaperLoop
from carryguard.backtests.paper.records import BookSpec
from carryguard.backtests.paper.state import PaperState
from carryguard.signals.risk import risk_at
from carryguard.signals.sources.ccxt_source import make_exchange
from carryguard.strategies.loader import make_strategy
from carryguard.strategies.overlay import CarryOverlay, OverlayConfig
from tests.fakes.binance import read_bars

STEP = pd.Timedelta(hours=4)
FIRST_DECISION = pd.Timestamp("2025-01-01T00:00:00Z")  # open time of the first bar the paper book decides
HISTORY = 300
SPEC = BookSpec(
    strategy="sma_cross+carry", symbol="BTC/USDT", exchange="binance", timeframe="4h", cash=10_000.0, config={}
)


def paper_run_args(*extra: str, history: int, poll: str) -> list[str]:
    """``paper run`` of sma_cross+carry on the emulator's BTC/USDT 4h bars, with short
    retries and timeouts; ``extra`` options come last, so they override."""
    book = ["--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "4h", "--strategy", "sma_cross"]
    network = ["--poll", poll, "--retries", "2", "--backoff", "0.01", "--timeout", "2"]
    return ["paper", "run", *book, "--overlay", "carry", "--history", str(history), *network, *extra]


def replay_bars(shared_data: Path, *, decisions: int) -> pd.DataFrame:
    """Real Binance 4h bars: ``HISTORY`` bars of warm-up, the decided bars, and a few after."""
    bars = read_bars(shared_data / "btcusdt_4h_binance.csv")
    bars.index = bars.index.as_unit("ns")
    start = FIRST_DECISION - STEP * (HISTORY - 1)
    return bars.loc[start : FIRST_DECISION + STEP * (decisions + 3)]


def exchange_for(url: str, *, timeout: float = 2.0) -> object:
    exchange = make_exchange("binance", api_url=url, timeout=timeout)
    exchange.enableRateLimit = False
    return exchange


def make_loop(exchange: object, state: PaperState, store: object, **config: object) -> PaperLoop:
    decider = OverlayDecider(
        make_strategy("sma_cross"),
        step=STEP,
        config=OverlayConfig(),
        feed=RiskFeed(store, step=STEP, limits=MacroLimits(refresh_every=pd.Timedelta(days=2))),
    )
    settings = {
        "timeframe": "4h",
        "history": HISTORY,
        "poll_seconds": 0.005,
        "grace_seconds": 1.0,
        "max_price_age": pd.Timedelta(days=3650),
        "retries": 2,
        "backoff_seconds": 0.01,
        **config,
    }
    return PaperLoop(
        exchange=exchange,
        state=state,
        spec=SPEC,
        decider=decider,
        execution=ExecutionConfig(),
        config=LoopConfig(**settings),
    )


def backtest(bars: pd.DataFrame, store: object, first: pd.Timestamp, last: pd.Timestamp):
    """The same strategy + overlay run by the backtrader engine over the decided bars
    ``first..last`` (plus the bar after ``last``, where its order fills); targets come from
    the full history, as in ``carryguard backtest``."""
    exposure = make_strategy("sma_cross").target_exposure(bars)
    sized = CarryOverlay().apply(exposure, risk_at(store, bars.index + STEP), bars)
    window = bars.loc[first : last + STEP]
    return run_backtrader(window, sized["final_exposure"].loc[window.index], ExecutionConfig()), sized


def run_cli(args: list[str], env: dict[str, str]) -> None:
    """``carryguard ARGS`` in this (forked) process with ``env`` added and output discarded:
    the target of the crash test's pre-imported child processes."""
    import os

    from carryguard.backtests.cli import main

    os.environ.update(env)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    main(args, prog_name="carryguard")
