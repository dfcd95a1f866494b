"""Crash safety: ``carryguard paper run`` killed with SIGKILL at random moments and restarted.

A real subprocess runs against the Binance emulator on an accelerated clock; it is killed
11 times (a seeded random delay after the run's first decided bar, so kills land while
the loop steps: between and inside steps), then a final ``--once`` run catches up. Every bar must be decided exactly once,
no order repeated, the book must rebuild from its fills, and the result must equal an
uninterrupted backtest of the same bars.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtests.paper.state import PaperState
from tests.fakes.binance import BinanceEmulator
from tests.fakes.exchange_clock import AcceleratedClock
from tests.paper_support import FIRST_DECISION, SPEC, STEP, backtest, replay_bars

KILLS = 11
BARS = 200
SEED = 20240805


def paper_command(state: Path, log: Path, *extra: str) -> list[str]:
    return [str(Path(sys.executable).parent / "carryguard"), "paper", "run", "--exchange", "binance", "--symbol", "BTC/USDT",
            "--timeframe", "4h", "--strategy", "sma_cross", "--overlay", "carry", "--state", str(state), "--history",
            "300", "--max-price-age", "3650d", "--poll", "0.005", "--macro-every", "2d", "--retries", "2", "--backoff",
            "0.01", "--timeout", "2", "--log", str(log), *extra]


def decided_lines(log: Path) -> int:
    return sum(" INFO bar " in line or " WARNING bar " in line for line in log.read_text().splitlines()) if log.exists() else 0


def wait_for_a_decision(log: Path, before: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    """Until this run has logged a decided bar (so the loop is stepping)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if decided_lines(log) > before:
            return
        if proc.poll() is not None:
            raise AssertionError(f"paper run exited early with {proc.returncode}")
        time.sleep(0.005)
    raise AssertionError("paper run decided nothing in time")


def test_paper_run_given_11_sigkills_at_random_moments_decides_every_bar_once_and_matches_backtest(
        shared_data, real_store_dir, tmp_path):
    # Arrange
    bars = replay_bars(shared_data, decisions=BARS + 10)
    start = FIRST_DECISION + STEP + pd.Timedelta(seconds=5)
    end = start + STEP * (BARS - 1)
    clock = AcceleratedClock(start, speed=STEP.total_seconds() / 0.04, end=end)
    state, log = tmp_path / "paper.db", tmp_path / "paper.log"
    env = {**os.environ, "CARRYGUARD_BINANCE_URL": "", "CARRYGUARD_DATA_DIR": str(real_store_dir)}
    rng = random.Random(SEED)
    with BinanceEmulator({("BTCUSDT", "4h"): bars}, clock=clock) as emulator:
        env["CARRYGUARD_BINANCE_URL"] = emulator.url
        # Act: start, wait until the loop has decided a bar, kill -9 after a random delay; 11 times
        for _ in range(KILLS):
            before = decided_lines(log)
            proc = subprocess.Popen(paper_command(state, log), env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            wait_for_a_decision(log, before, proc)
            clock.go()  # stands at the first bar's close until the first decision
            time.sleep(rng.uniform(0.0, 0.3))
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
        while clock() < end:
            time.sleep(0.05)
        final = subprocess.run(paper_command(state, log, "--once"), env=env, capture_output=True, text=True, timeout=120)
    # Assert: the final run exits cleanly
    assert final.returncode == 0, final.stderr
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
    assert book.cash == pytest.approx(rebuilt.cash, abs=1e-6) and book.position == pytest.approx(rebuilt.position, abs=1e-12)
    assert list(equity["bar_time"]) == list(decisions["bar_time"])
    # and the crashes changed nothing: same fills and equity as one uninterrupted backtest
    reference, _ = backtest(bars, real_store_dir_store(real_store_dir), first, last)
    np.testing.assert_allclose(fills[["qty", "price", "fee"]].to_numpy(),
                               reference.fills[["qty", "price", "fee"]].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(equity["equity"].to_numpy(), reference.equity.loc[times].to_numpy(), rtol=1e-9)
    # the restarts really resumed mid-history
    text = log.read_text()
    assert text.count("resuming after bar") >= KILLS
    with sqlite3.connect(state) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def real_store_dir_store(root: Path):
    from signals.store import Store  # noqa: PLC0415

    return Store(root)
