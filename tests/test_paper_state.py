"""The paper book in SQLite: one transaction per bar, UNIQUE keys, rebuild from fills."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from carryguard.backtests.paper.records import BookSpec, Fill, Step, client_order_id
from carryguard.backtests.paper.state import PaperState
from carryguard.signals.errors import CarryguardError

SPEC = BookSpec("sma_cross+carry", "BTC/USDT", "binance", "4h", 10_000.0, {"commission": 0.001})
T0 = pd.Timestamp("2025-01-01T00:00:00Z")
STEP = pd.Timedelta(hours=4)


def trade(
    bar: pd.Timestamp,
    *,
    side: str,
    qty: float,
    price: float,
    fee: float,
    cash: float,
    position: float,
    mark: tuple[float, float] = (10_000.0, 0.0),
) -> Step:
    return Step(
        bar_time=bar,
        decided_at=bar + STEP,
        action="trade",
        reason="test",
        close=price,
        target=1.0,
        mark=mark,
        fill=Fill(fill_time=bar + STEP, side=side, qty=qty, price=price, fee=fee),
        cash=cash,
        position=position,
    )


def hold(bar: pd.Timestamp, close: float = 100.0) -> Step:
    return Step(
        bar_time=bar,
        decided_at=bar + STEP,
        action="hold",
        reason="within band",
        close=close,
        target=0.0,
        mark=(10_000.0, 0.0),
    )


@pytest.fixture()
def state(tmp_path: Path):
    with PaperState(tmp_path / "paper.db") as opened:
        opened.open_book(SPEC, now=T0)
        yield opened


def count(state: PaperState, table: str) -> int:
    return state.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_record_step_given_bar_already_decided_returns_false_and_writes_nothing(state):
    # Arrange
    step = trade(T0, side="buy", qty=1.0, price=100.0, fee=0.1, cash=9_899.9, position=1.0)
    assert state.record_step(SPEC.strategy, SPEC.symbol, step)
    # Act
    again = state.record_step(SPEC.strategy, SPEC.symbol, step)
    # Assert
    assert again is False
    assert [count(state, t) for t in ("decisions", "orders", "fills", "equity")] == [1, 1, 1, 1]
    assert state.book(SPEC.strategy, SPEC.symbol).position == 1.0


def test_record_step_given_failure_after_decision_insert_rolls_back_the_whole_bar(state):
    # Arrange: an order side the schema rejects, so the insert fails after the decision row
    bad = trade(T0, side="hold", qty=1.0, price=100.0, fee=0.1, cash=1.0, position=1.0)
    # Act
    with pytest.raises(sqlite3.IntegrityError):
        state.record_step(SPEC.strategy, SPEC.symbol, bad)
    # Assert: no trace of the bar, book unchanged, and the bar can still be decided
    assert [count(state, t) for t in ("decisions", "orders", "fills", "equity")] == [0, 0, 0, 0]
    assert state.book(SPEC.strategy, SPEC.symbol).cash == 10_000.0
    assert state.record_step(SPEC.strategy, SPEC.symbol, hold(T0))


def test_unique_constraints_given_direct_duplicate_insert_raise_integrity_error(state):
    # Arrange
    state.record_step(
        SPEC.strategy, SPEC.symbol, trade(T0, side="buy", qty=1.0, price=100.0, fee=0.1, cash=9_899.9, position=1.0)
    )
    # Act / Assert: the schema itself refuses a second decision or order for the bar
    with pytest.raises(sqlite3.IntegrityError):
        state.conn.execute(
            "INSERT INTO decisions (strategy, symbol, bar_time, decided_at, action, reason) "
            "VALUES (?, ?, ?, ?, 'hold', '')",
            (SPEC.strategy, SPEC.symbol, T0.isoformat(), "x"),
        )
    with pytest.raises(sqlite3.IntegrityError):
        state.conn.execute(
            "INSERT INTO orders (strategy, symbol, bar_time, client_id, side, qty, status) "
            "VALUES (?, ?, ?, 'other', 'buy', 1, 'filled')",
            (SPEC.strategy, SPEC.symbol, T0.isoformat()),
        )


def test_reconstruct_given_buys_and_sells_rebuilds_cash_and_position_from_fills(state):
    # Arrange: buy 2 @ 100 (fee 0.2), sell 0.5 @ 120 (fee 0.06), hand-computed cash
    state.record_step(
        SPEC.strategy,
        SPEC.symbol,
        trade(T0, side="buy", qty=2.0, price=100.0, fee=0.2, cash=10_000 - 200 - 0.2, position=2.0),
    )
    state.record_step(SPEC.strategy, SPEC.symbol, hold(T0 + STEP))
    state.record_step(
        SPEC.strategy,
        SPEC.symbol,
        trade(
            T0 + 2 * STEP, side="sell", qty=0.5, price=120.0, fee=0.06, cash=10_000 - 200.2 + 60 - 0.06, position=1.5
        ),
    )
    # Act
    rebuilt = state.reconstruct(SPEC.strategy, SPEC.symbol)
    book = state.book(SPEC.strategy, SPEC.symbol)
    # Assert
    assert rebuilt.cash == pytest.approx(9_859.74) and rebuilt.position == pytest.approx(1.5)
    assert (book.cash, book.position) == pytest.approx((rebuilt.cash, rebuilt.position))
    assert book.bar_time == T0 + 2 * STEP == state.last_decided(SPEC.strategy, SPEC.symbol)


def test_open_book_given_different_config_on_restart_raises_carryguard_error(state):
    # Arrange
    changed = BookSpec(SPEC.strategy, SPEC.symbol, SPEC.exchange, SPEC.timeframe, SPEC.cash, {"commission": 0.002})
    # Act / Assert
    with pytest.raises(
        CarryguardError, match=r"was started with a different configuration \(commission 0.001 -> 0.002\)"
    ):
        state.open_book(changed, now=T0)
    assert state.open_book(SPEC, now=T0).cash == 10_000.0  # the same config reopens


def test_state_given_a_file_that_is_not_sqlite_raises_carryguard_error_and_leaves_it_alone(tmp_path):
    # Arrange
    path = tmp_path / "notes.db"
    path.write_text("not a database\n")
    # Act / Assert
    with pytest.raises(CarryguardError, match=r"notes\.db: not a paper state file"):
        PaperState(path)
    assert path.read_text() == "not a database\n"


def test_exclusive_given_book_run_elsewhere_raises_until_that_run_ends(tmp_path):
    # Arrange: two connections to one file, as two processes would have
    with PaperState(tmp_path / "p.db") as first, PaperState(tmp_path / "p.db") as second:
        with first.exclusive(SPEC.strategy, SPEC.symbol):
            # Act / Assert: the same book is refused, another book is free
            refused = r"sma_cross\+carry BTC/USDT is being run by another `paper run`"
            with pytest.raises(CarryguardError, match=refused), second.exclusive(SPEC.strategy, SPEC.symbol):
                pass
            with second.exclusive("sma_cross", SPEC.symbol):
                pass
        with second.exclusive(SPEC.strategy, SPEC.symbol):  # released with the first run
            pass


def test_summary_given_heartbeat_reports_equity_pnl_and_bars_behind(state):
    # Arrange: long 1 @ 100, last close 110, the loop last saw the clock 3 closed bars later
    state.record_step(
        SPEC.strategy, SPEC.symbol, trade(T0, side="buy", qty=1.0, price=100.0, fee=0.1, cash=9_899.9, position=1.0)
    )
    state.record_step(SPEC.strategy, SPEC.symbol, hold(T0 + STEP, close=110.0))
    state.heartbeat(SPEC.strategy, SPEC.symbol, T0 + STEP * 5 + pd.Timedelta(minutes=1), "waiting")
    # Act
    summary = state.summary(SPEC.strategy, SPEC.symbol)
    live = state.summary(SPEC.strategy, SPEC.symbol, now=T0 + STEP * 2 + pd.Timedelta(seconds=1))
    # Assert
    assert summary["equity"] == pytest.approx(9_899.9 + 110.0)
    assert summary["pnl"] == pytest.approx(9.9) and summary["pnl_pct"] == pytest.approx(0.099)
    assert summary["bars_behind"] == 3 and live["bars_behind"] == 0
    assert summary["last_decision"]["reason"] == "within band"


def test_summary_given_weekly_book_counts_bars_behind_from_monday_opens(tmp_path):
    # Arrange: a 1w book whose last decided bar opened Monday 2025-01-06; the 2025-01-13 bar
    # closed at 2025-01-20 00:00 (a Monday; a 7-day floor is anchored on Thursdays)
    weekly = BookSpec("sma_cross", "BTC/USDT", "binance", "1w", 10_000.0, {})
    monday = pd.Timestamp("2025-01-06T00:00:00Z")
    with PaperState(tmp_path / "w.db") as state:
        state.open_book(weekly, now=monday)
        state.record_step(weekly.strategy, weekly.symbol, hold(monday))
        # Act
        before, after = (
            state.summary(weekly.strategy, weekly.symbol, now=pd.Timestamp(t))["bars_behind"]
            for t in ("2025-01-19T23:59:00Z", "2025-01-20T00:00:05Z")
        )
    # Assert
    assert (before, after) == (0, 1)


def test_state_given_new_file_uses_wal_journal(tmp_path):
    # Arrange / Act
    with PaperState(tmp_path / "p.db") as opened:
        mode = opened.conn.execute("PRAGMA journal_mode").fetchone()[0]
    # Assert
    assert mode == "wal"


def test_client_order_id_given_bars_is_deterministic_unique_and_binance_valid():
    # Arrange
    bars = pd.date_range(T0, periods=48, freq="1h", tz="UTC")
    # Act
    ids = [client_order_id(SPEC.strategy, SPEC.symbol, bar) for bar in bars]
    # Assert
    assert len(set(ids)) == 48 and ids[0] == client_order_id(SPEC.strategy, SPEC.symbol, T0)
    assert ids[0] != client_order_id("sma_cross", SPEC.symbol, T0)
    assert all(re.fullmatch(r"[.A-Z:/a-z0-9_-]{1,36}", cid) for cid in ids)


CHILD = """
import sys, time
import pandas as pd
from carryguard.backtests.paper.records import BookSpec, Step
from carryguard.backtests.paper.state import PaperState
spec = BookSpec("sma_cross+carry", "BTC/USDT", "binance", "4h", 10000.0, {"commission": 0.001})
state = PaperState(sys.argv[1])
state.open_book(spec, now=pd.Timestamp("2025-01-01T00:00:00Z"))

class SlowCommit:
    def __init__(self, conn):
        self.conn = conn
    def execute(self, sql, *args):
        if sql == "COMMIT":
            print("in transaction", flush=True)
            time.sleep(60)
        return self.conn.execute(sql, *args)

state.conn = SlowCommit(state.conn)
bar = pd.Timestamp("2025-01-01T00:00:00Z")
state.record_step(spec.strategy, spec.symbol, Step(bar_time=bar, decided_at=bar, action="hold", reason="x",
                                                   close=1.0, mark=(10000.0, 0.0), cash=5.0, position=7.0))
"""


def test_state_given_process_killed_inside_the_transaction_keeps_no_trace_of_the_bar(tmp_path):
    # Arrange: a child process that stops just before COMMIT
    path = tmp_path / "paper.db"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "in transaction"
    # Act
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    time.sleep(0.05)
    # Assert: the bar is not decided, the book untouched, and it can be decided now
    with PaperState(path) as state:
        assert count(state, "decisions") == 0 and count(state, "equity") == 0
        book = state.book(SPEC.strategy, SPEC.symbol)
        assert (book.cash, book.position, book.bar_time) == (10_000.0, 0.0, None)
        assert state.record_step(SPEC.strategy, SPEC.symbol, hold(T0))


class KillAfter:
    """A connection stand-in that SIGKILLs its process right after the n-th statement."""

    def __init__(self, conn: sqlite3.Connection, n: int | None) -> None:
        self.conn, self.n, self.count = conn, n, 0

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        result = self.conn.execute(sql, *args)
        self.count += 1
        if self.count == self.n:
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    def __getattr__(self, name: str) -> object:
        return getattr(self.conn, name)


def test_record_step_given_sigkill_after_each_of_its_statements_is_all_or_nothing_and_redone_once(tmp_path):
    # Arrange: a trade step, and how many SQL statements recording it takes
    buy = trade(T0, side="buy", qty=2.0, price=100.0, fee=0.2, cash=9_799.8, position=2.0)
    with PaperState(tmp_path / "count.db") as counting:
        counting.open_book(SPEC, now=T0)
        counting.conn = KillAfter(counting.conn, None)
        counting.record_step(SPEC.strategy, SPEC.symbol, buy)
        statements = counting.conn.count
    for n in range(1, statements + 1):
        path = tmp_path / f"kill{n}.db"
        with PaperState(path) as fresh:
            fresh.open_book(SPEC, now=T0)
        # Act: a forked child records the step and is killed right after statement n
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                child = PaperState(path)
                child.conn = KillAfter(child.conn, n)
                child.record_step(SPEC.strategy, SPEC.symbol, buy)
            finally:
                os._exit(3)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, f"statement {n}: not killed"
        with PaperState(path) as state:
            rows = [count(state, t) for t in ("decisions", "orders", "fills", "equity")]
            book = state.book(SPEC.strategy, SPEC.symbol)
            # Assert: the bar is there completely (killed after COMMIT) or not at all
            expected = [1, 1, 1, 1] if n == statements else [0, 0, 0, 0]
            assert rows == expected, f"killed after statement {n} of {statements}: rows {rows}"
            assert (book.cash, book.position) == ((9_799.8, 2.0) if n == statements else (10_000.0, 0.0))
            # and the restart decides it exactly once
            assert state.record_step(SPEC.strategy, SPEC.symbol, buy) is (n != statements)
            assert [count(state, t) for t in ("decisions", "orders", "fills", "equity")] == [1, 1, 1, 1]
            rebuilt, book = state.reconstruct(SPEC.strategy, SPEC.symbol), state.book(SPEC.strategy, SPEC.symbol)
            assert (book.cash, book.position) == pytest.approx((rebuilt.cash, rebuilt.position)) == (9_799.8, 2.0)
