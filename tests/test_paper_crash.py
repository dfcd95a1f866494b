"""Crash safety: ``carryguard paper run`` killed with SIGKILL at random moments and restarted.

``carryguard paper run`` runs in its own process against the Binance emulator on an
accelerated clock; it is killed 11 times (a seeded random delay after the run's first
decided bar, so kills land while the loop steps: between and inside steps), then a final
``--once`` run catches up. Every bar must be decided exactly once, no order repeated, the
book must rebuild from its fills, and the result must equal an uninterrupted backtest of
the same bars. The processes are forked from a server that has imported carryguard once
(multiprocessing's forkserver), so a restart takes milliseconds instead of the ~1.5 s of
imports; the clock runs accordingly faster, and the loop lags it, so every kill lands
while bars are being decided.
"""

from __future__ import annotations

import multiprocessing
import random
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from carryguard.backtests.paper.state import PaperState
from tests.fakes.binance import BinanceEmulator
from tests.fakes.exchange_clock import AcceleratedClock
from tests.paper_support import FIRST_DECISION, SPEC, STEP, backtest, paper_run_args, replay_bars, run_cli

KILLS = 11
BARS = 200
SEED = 20240805


PRELOAD = [
    "tests.paper_support",
    "carryguard.backtests.cli",
    "carryguard.backtests.cli.paper",
    "carryguard.backtests.paper.decide",
    "carryguard.backtests.paper.sandbox",
    "carryguard.strategies.trend",
    "carryguard.strategies.overlay",
    "carryguard.signals.risk",
]


def paper_command(state: Path, log: Path, *extra: str) -> list[str]:
    options = ["--state", str(state), "--max-price-age", "3650d", "--macro-every", "2d", "--log", str(log)]
    return paper_run_args(*options, *extra, history=120, poll="0.005")


def forkserver() -> multiprocessing.context.BaseContext:
    """Processes forked from a server that has imported carryguard (started on first use)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def decided_lines(log: Path) -> int:
    return (
        sum(" INFO bar " in line or " WARNING bar " in line for line in log.read_text().splitlines())
        if log.exists()
        else 0
    )


def wait_for_a_decision(log: Path, before: int, proc: multiprocessing.Process, timeout: float = 30.0) -> None:
    """Until this run has logged a decided bar (so the loop is stepping)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if decided_lines(log) > before:
            return
        if not proc.is_alive():
            raise AssertionError(f"paper run exited early with {proc.exitcode}")
        time.sleep(0.005)
    raise AssertionError("paper run decided nothing in time")


@pytest.mark.slow
def test_paper_run_given_11_sigkills_at_random_moments_decides_every_bar_once_and_matches_backtest(
    shared_data, real_store_dir, tmp_path
):
    # Arrange
    bars = replay_bars(shared_data, decisions=BARS + 10)
    start = FIRST_DECISION + STEP + pd.Timedelta(seconds=5)
    end = start + STEP * (BARS - 1)
    clock = AcceleratedClock(start, speed=STEP.total_seconds() / 0.02, end=end)
    state, log = tmp_path / "paper.db", tmp_path / "paper.log"
    rng, processes = random.Random(SEED), forkserver()
    with BinanceEmulator({("BTCUSDT", "4h"): bars}, clock=clock) as emulator:
        env = {"CARRYGUARD_BINANCE_URL": emulator.url, "CARRYGUARD_DATA_DIR": str(real_store_dir)}
        # Act: start, wait until the loop has decided a bar, kill -9 after a random delay; 11 times
        for _ in range(KILLS):
            before = decided_lines(log)
            proc = processes.Process(target=run_cli, args=(paper_command(state, log), env))
            proc.start()
            wait_for_a_decision(log, before, proc)
            clock.go()  # stands at the first bar's close until the first decision
            time.sleep(rng.uniform(0.0, 0.3))
            proc.kill()
            proc.join(timeout=10)
            assert proc.exitcode == -signal.SIGKILL
        while clock() < end:
            time.sleep(0.05)
        final = processes.Process(target=run_cli, args=(paper_command(state, log, "--once"), env))
        final.start()
        final.join(timeout=120)
    # Assert: the final run exits cleanly
    assert final.exitcode == 0, log.read_text()[-2000:]
    with PaperState(state) as book_state:
        decisions = book_state.table("decisions", SPEC.strategy, SPEC.symbol)
        orders = book_state.table("orders", SPEC.strategy, SPEC.symbol)
        fills = book_state.table("fills", SPEC.strategy, SPEC.symbol)
        equity = book_state.table("equity", SPEC.strategy, SPEC.symbol)
        book = book_state.book(SPEC.strategy, SPEC.symbol)
        rebuilt = book_state.reconstruct(SPEC.strategy, SPEC.symbol)
    times = pd.DatetimeIndex(pd.to_datetime(decisions["bar_time"], utc=True))
    first, last = times[0], end.floor(STEP) - STEP
    # every bar from the first to the newest closed one decided exactly once, none skipped
    assert times.equals(pd.date_range(first, last, freq=STEP, tz="UTC"))
    assert (decisions["action"] != "skip").all()
    # one order and one fill per trade decision, never a repeated order
    trades = decisions.loc[decisions["action"] == "trade", "bar_time"]
    assert len(trades) >= 3
    assert list(orders["bar_time"]) == list(trades) == list(fills["bar_time"])
    assert orders["client_id"].is_unique
    # the book is consistent: positions row == replay of the fills; one equity mark per bar
    assert book.cash == pytest.approx(rebuilt.cash, abs=1e-6) and book.position == pytest.approx(
        rebuilt.position, abs=1e-12
    )
    assert list(equity["bar_time"]) == list(decisions["bar_time"])
    # and the crashes changed nothing: same fills and equity as one uninterrupted backtest
    reference, _ = backtest(bars, real_store_dir_store(real_store_dir), first, last)
    np.testing.assert_allclose(
        fills[["qty", "price", "fee"]].to_numpy(), reference.fills[["qty", "price", "fee"]].to_numpy(), rtol=1e-9
    )
    np.testing.assert_allclose(equity["equity"].to_numpy(), reference.equity.loc[times].to_numpy(), rtol=1e-9)
    # the restarts really resumed mid-history
    text = log.read_text()
    assert text.count("resuming after bar") >= KILLS
    with sqlite3.connect(state) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def real_store_dir_store(root: Path):
    from carryguard.signals.store import Store

    return Store(root)
