"""The paper book in SQLite: decisions, orders, fills, positions and equity snapshots.

Every row is keyed by ``(strategy, symbol, bar_time)`` with a UNIQUE constraint, and one
bar's decision, order, fill, position update and equity snapshot are written in ONE
transaction (``record_step``). A crash before the commit leaves no trace of the bar (it is
decided again on restart); a crash after it leaves the bar decided, and a second attempt
is refused by the constraint. So a restart neither repeats nor loses a decision.

The database runs in WAL mode with ``synchronous=FULL``; readers (``carryguard paper
status``) never block the loop. Times are stored as ISO-8601 UTC strings. The values
written and read (``BookSpec``, ``Step``, ``Book``) are in ``records``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from carryguard.backtests.paper.records import Book, BookSpec, Step, client_order_id
from carryguard.signals.availability import timeframe_delta
from carryguard.signals.errors import CarryguardError
from carryguard.signals.json_file import finite_or_none

SCHEMA = """
CREATE TABLE IF NOT EXISTS books (
    strategy TEXT NOT NULL, symbol TEXT NOT NULL, exchange TEXT NOT NULL, timeframe TEXT NOT NULL,
    config TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (strategy, symbol));
CREATE TABLE IF NOT EXISTS decisions (
    strategy TEXT NOT NULL, symbol TEXT NOT NULL, bar_time TEXT NOT NULL, decided_at TEXT NOT NULL,
    close REAL, strategy_exposure REAL, score REAL, regime TEXT, multiplier REAL, vol_scale REAL,
    target REAL, action TEXT NOT NULL CHECK (action IN ('trade', 'hold', 'skip')), reason TEXT NOT NULL,
    UNIQUE (strategy, symbol, bar_time));
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY, strategy TEXT NOT NULL, symbol TEXT NOT NULL, bar_time TEXT NOT NULL,
    client_id TEXT NOT NULL UNIQUE, side TEXT NOT NULL CHECK (side IN ('buy', 'sell')), qty REAL NOT NULL,
    status TEXT NOT NULL, exchange_id TEXT,
    UNIQUE (strategy, symbol, bar_time));
CREATE TABLE IF NOT EXISTS fills (
    order_id INTEGER NOT NULL UNIQUE REFERENCES orders (id), strategy TEXT NOT NULL, symbol TEXT NOT NULL,
    bar_time TEXT NOT NULL, fill_time TEXT NOT NULL, side TEXT NOT NULL, qty REAL NOT NULL, price REAL NOT NULL,
    fee REAL NOT NULL,
    UNIQUE (strategy, symbol, bar_time));
CREATE TABLE IF NOT EXISTS positions (
    strategy TEXT NOT NULL, symbol TEXT NOT NULL, cash REAL NOT NULL, position REAL NOT NULL,
    bar_time TEXT, PRIMARY KEY (strategy, symbol));
CREATE TABLE IF NOT EXISTS equity (
    strategy TEXT NOT NULL, symbol TEXT NOT NULL, bar_time TEXT NOT NULL, close REAL NOT NULL,
    cash REAL NOT NULL, position REAL NOT NULL, equity REAL NOT NULL,
    UNIQUE (strategy, symbol, bar_time));
CREATE TABLE IF NOT EXISTS heartbeat (
    strategy TEXT NOT NULL, symbol TEXT NOT NULL, exchange_time TEXT NOT NULL, note TEXT NOT NULL,
    PRIMARY KEY (strategy, symbol));
"""


def iso(ts: pd.Timestamp) -> str:
    """A time as stored: ISO-8601 in UTC."""
    return pd.Timestamp(ts).tz_convert("UTC").isoformat()


class PaperState:
    """One SQLite file holding any number of paper books."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path)
        if read_only:  # paper status: never create or change the file (it may be read-only or not ours)
            self.conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=30.0)
            self.conn.row_factory = sqlite3.Row
            try:
                tables = {row[0] for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            except sqlite3.DatabaseError as exc:
                tables, detail = set(), str(exc)
            else:
                detail = "empty file" if not tables else "no paper book tables"
            if "books" not in tables:
                self.conn.close()
                raise CarryguardError(
                    f"{self.path}: not a paper state file ({detail})",
                    fix="pass the --state file `carryguard paper run` wrote",
                )
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        self.conn.row_factory = sqlite3.Row
        try:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise CarryguardError(
                f"{self.path}: not a paper state file ({exc})",
                fix="pass the --state file `carryguard paper run` wrote, or a new file name",
            ) from exc

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> PaperState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def exclusive(self, strategy: str, symbol: str) -> Iterator[None]:
        """Hold the book's run lock: one ``paper run`` per book at a time (say, a cron
        ``--once`` overlapping a long run), so two runs never race to send the same
        testnet order. An ``flock`` on a side file, released by the OS even on SIGKILL."""
        digest = hashlib.sha256(f"{strategy}|{symbol}".encode()).hexdigest()[:8]
        path = self.path.with_name(f"{self.path.name}.{digest}.lock")
        with open(path, "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CarryguardError(
                    f"{self.path}: book {strategy} {symbol} is being run by another `paper run` (lock {path.name})",
                    fix="stop that run first, or use another --state file",
                ) from None
            yield

    def open_book(self, spec: BookSpec, *, now: pd.Timestamp) -> Book:
        """Create the book (cash, no position) or check a restart uses the same config."""
        config = json.dumps(
            {"exchange": spec.exchange, "timeframe": spec.timeframe, "cash": spec.cash, **spec.config},
            sort_keys=True,
            default=str,
        )
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            row = self.conn.execute(
                "SELECT config FROM books WHERE strategy=? AND symbol=?", (spec.strategy, spec.symbol)
            ).fetchone()
            if row is None:
                self.conn.execute(
                    "INSERT INTO books VALUES (?,?,?,?,?,?)",
                    (spec.strategy, spec.symbol, spec.exchange, spec.timeframe, config, iso(now)),
                )
                self.conn.execute(
                    "INSERT INTO positions VALUES (?,?,?,?,NULL)", (spec.strategy, spec.symbol, spec.cash, 0.0)
                )
            elif row["config"] != config:
                stored, wanted = json.loads(row["config"]), json.loads(config)
                changes = ", ".join(
                    f"{key} {stored.get(key)!r} -> {wanted.get(key)!r}"
                    for key in sorted(set(stored) | set(wanted))
                    if stored.get(key) != wanted.get(key)
                )
                raise CarryguardError(
                    f"{self.path}: book {spec.strategy} {spec.symbol} was started with a different configuration "
                    f"({changes})",
                    fix="use the same options, or a new --state file",
                )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return self.book(spec.strategy, spec.symbol)

    def book(self, strategy: str, symbol: str) -> Book:
        row = self.conn.execute(
            "SELECT cash, position, bar_time FROM positions WHERE strategy=? AND symbol=?", (strategy, symbol)
        ).fetchone()
        if row is None:
            raise CarryguardError(
                f"{self.path}: no paper book {strategy} {symbol}", fix="start one with `carryguard paper run`"
            )
        return Book(row["cash"], row["position"], pd.Timestamp(row["bar_time"]) if row["bar_time"] else None)

    def last_decided(self, strategy: str, symbol: str) -> pd.Timestamp | None:
        """Open time of the newest decided bar (None for a new book): where a restart resumes."""
        row = self.conn.execute(
            "SELECT MAX(bar_time) FROM decisions WHERE strategy=? AND symbol=?", (strategy, symbol)
        ).fetchone()
        return pd.Timestamp(row[0]) if row[0] else None

    def is_decided(self, strategy: str, symbol: str, bar_time: pd.Timestamp) -> bool:
        """Whether the bar opened at ``bar_time`` has a committed decision."""
        return (
            self.conn.execute(
                "SELECT 1 FROM decisions WHERE strategy=? AND symbol=? AND bar_time=?",
                (strategy, symbol, iso(bar_time)),
            ).fetchone()
            is not None
        )

    def record_step(self, strategy: str, symbol: str, step: Step) -> bool:
        """Write one bar's decision (+ order, fill, position, equity) in one transaction.

        Returns False, writing nothing, when the bar was already decided (a restart
        re-running a committed step)."""
        bar = iso(step.bar_time)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            if self.is_decided(strategy, symbol, step.bar_time):
                self.conn.execute("ROLLBACK")
                return False
            self.conn.execute(
                "INSERT INTO decisions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    strategy,
                    symbol,
                    bar,
                    iso(step.decided_at),
                    step.close,
                    finite_or_none(step.strategy_exposure),
                    finite_or_none(step.score),
                    step.regime,
                    finite_or_none(step.multiplier),
                    finite_or_none(step.vol_scale),
                    finite_or_none(step.target),
                    step.action,
                    step.reason,
                ),
            )
            if step.mark is not None and step.close is not None:
                cash, position = step.mark
                self.conn.execute(
                    "INSERT INTO equity VALUES (?,?,?,?,?,?,?)",
                    (strategy, symbol, bar, step.close, cash, position, cash + position * step.close),
                )
            if step.fill is not None:
                fill = step.fill
                cursor = self.conn.execute(
                    "INSERT INTO orders (strategy, symbol, bar_time, client_id, side, qty, status)"
                    " VALUES (?,?,?,?,?,?,?)",
                    (
                        strategy,
                        symbol,
                        bar,
                        client_order_id(strategy, symbol, step.bar_time),
                        fill.side,
                        abs(fill.qty),
                        step.order_status,
                    ),
                )
                self.conn.execute(
                    "INSERT INTO fills VALUES (?,?,?,?,?,?,?,?,?)",
                    (
                        cursor.lastrowid,
                        strategy,
                        symbol,
                        bar,
                        iso(fill.fill_time),
                        fill.side,
                        abs(fill.qty),
                        fill.price,
                        fill.fee,
                    ),
                )
            if step.cash is not None and step.position is not None:
                self.conn.execute(
                    "UPDATE positions SET cash=?, position=?, bar_time=? WHERE strategy=? AND symbol=?",
                    (step.cash, step.position, bar, strategy, symbol),
                )
            else:
                self.conn.execute(
                    "UPDATE positions SET bar_time=? WHERE strategy=? AND symbol=?", (bar, strategy, symbol)
                )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return True

    def set_order_status(self, client_id: str, *, status: str, exchange_id: str | None) -> None:
        """Record what the sandbox exchange did with an order (autocommitted)."""
        self.conn.execute(
            "UPDATE orders SET status=?, exchange_id=? WHERE client_id=?", (status, exchange_id, client_id)
        )

    def orders_with_status(self, strategy: str, symbol: str, status: str) -> list[sqlite3.Row]:
        return self.conn.execute(
            "SELECT * FROM orders WHERE strategy=? AND symbol=? AND status=? ORDER BY bar_time",
            (strategy, symbol, status),
        ).fetchall()

    def heartbeat(self, strategy: str, symbol: str, exchange_time: pd.Timestamp, note: str) -> None:
        """Remember the exchange time last seen by the loop (for ``paper status``)."""
        self.conn.execute(
            "INSERT OR REPLACE INTO heartbeat VALUES (?,?,?,?)", (strategy, symbol, iso(exchange_time), note)
        )

    def books(self) -> list[sqlite3.Row]:
        return self.conn.execute("SELECT * FROM books ORDER BY strategy, symbol").fetchall()

    def table(self, name: str, strategy: str, symbol: str) -> pd.DataFrame:
        """One table of one book as a frame (rows in bar order)."""
        if name not in ("decisions", "orders", "fills", "equity"):
            raise ValueError(f"unknown table {name!r}")
        return pd.read_sql_query(
            f"SELECT * FROM {name} WHERE strategy=? AND symbol=? ORDER BY bar_time",
            self.conn,
            params=(strategy, symbol),
        )

    def reconstruct(self, strategy: str, symbol: str) -> Book:
        """Cash and position rebuilt from the starting cash and the fills alone."""
        config = json.loads(
            self.conn.execute("SELECT config FROM books WHERE strategy=? AND symbol=?", (strategy, symbol)).fetchone()[
                "config"
            ]
        )
        cash, position = float(config["cash"]), 0.0
        for fill in self.conn.execute(
            "SELECT side, qty, price, fee FROM fills WHERE strategy=? AND symbol=? ORDER BY bar_time",
            (strategy, symbol),
        ):
            sign = 1.0 if fill["side"] == "buy" else -1.0
            cash -= sign * fill["qty"] * fill["price"] + fill["fee"]
            position += sign * fill["qty"]
        return Book(cash, position, self.last_decided(strategy, symbol))

    def summary(self, strategy: str, symbol: str, *, now: pd.Timestamp | None = None) -> dict:
        """Position, equity, PnL, last decision and lag, as plain JSON-able values.

        The lag (``bars_behind``: closed bars not yet decided) is measured against ``now``
        (the exchange clock) if given, else against the exchange time the loop last saw."""
        spec = self.conn.execute("SELECT * FROM books WHERE strategy=? AND symbol=?", (strategy, symbol)).fetchone()
        config = json.loads(spec["config"])
        book = self.book(strategy, symbol)
        last = self.conn.execute(
            "SELECT * FROM decisions WHERE strategy=? AND symbol=? ORDER BY bar_time DESC LIMIT 1", (strategy, symbol)
        ).fetchone()
        mark = self.conn.execute(
            "SELECT * FROM equity WHERE strategy=? AND symbol=? ORDER BY bar_time DESC LIMIT 1", (strategy, symbol)
        ).fetchone()
        beat = self.conn.execute("SELECT * FROM heartbeat WHERE strategy=? AND symbol=?", (strategy, symbol)).fetchone()
        counts = {
            name: self.conn.execute(
                f"SELECT COUNT(*) FROM {name} WHERE strategy=? AND symbol=?",
                (strategy, symbol),
            ).fetchone()[0]
            for name in ("decisions", "fills")
        }
        price = last["close"] if last is not None and last["close"] is not None else (mark["close"] if mark else None)
        equity = book.cash + book.position * price if price is not None else book.cash
        clock = now if now is not None else (pd.Timestamp(beat["exchange_time"]) if beat is not None else None)
        behind = None
        if clock is not None and book.bar_time is not None:
            step = timeframe_delta(spec["timeframe"])  # bars closed after the last decided one closed:
            behind = max(
                (clock - book.bar_time - step) // step, 0
            )  # no grid anchor needed (weekly bars open on Mondays)
        return {
            "strategy": strategy,
            "symbol": symbol,
            "exchange": spec["exchange"],
            "timeframe": spec["timeframe"],
            "cash": book.cash,
            "position": book.position,
            "price": price,
            "equity": equity,
            "start_cash": float(config["cash"]),
            "pnl": equity - float(config["cash"]),
            "pnl_pct": (equity / float(config["cash"]) - 1.0) * 100.0,
            "decisions": counts["decisions"],
            "fills": counts["fills"],
            "last_decision": dict(last) if last is not None else None,
            "exchange_time": clock.isoformat() if clock is not None else None,
            "loop_note": beat["note"] if beat is not None else None,
            "last_bar": book.bar_time.isoformat() if book.bar_time is not None else None,
            "bars_behind": behind,
        }
