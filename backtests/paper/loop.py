"""The paper-trading loop: one decision per closed bar, filled at the next bar's open.

Each step, for bar t (the oldest closed bar not yet decided):
1. fetch the closed bars up to t (and the bar t+1 whose open is the fill price) via ccxt;
2. mark the book at t's close, ask the decider for the target exposure (strategy, then
   the carry overlay with the risk reading at t's close);
3. simulate the fill at t+1's open with ``carryguard.backtests.engine.execution.rebalance`` (the same
   arithmetic as the backtests, so paper and backtest agree);
4. write decision, order, fill, position and equity snapshot in one transaction.

A step trades only on fresh inputs: the fill price must be at most ``max_price_age``
old (exchange time) and the decider must not report stale macro inputs; otherwise the
bar is recorded as ``skip`` with the reason. Exchange errors, timeouts and garbage
responses are retried with exponential backoff (``feed``); when the retries are used up
the bar is skipped with a logged reason. A stop request (SIGINT/SIGTERM) lets the current step
finish and then ends the loop; a step interrupted before its commit leaves no trace and
is simply done again on the next start.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

import pandas as pd

from carryguard.backtests.engine.execution import ExecutionConfig, rebalance
from carryguard.backtests.paper.feed import Exchange, ExchangeFeed, ExchangeUnavailable
from carryguard.backtests.paper.records import BookSpec, Decision, Fill, Step, client_order_id
from carryguard.backtests.paper.state import PaperState
from carryguard.signals.availability import timeframe_delta
from carryguard.signals.sources.retry import RetryPolicy

log = logging.getLogger("carryguard.paper")
ALREADY_DECIDED = "already decided"


class Decider(Protocol):
    """What the loop asks for a target at each closed bar (``decide.OverlayDecider``)."""

    def decide(self, bars: pd.DataFrame, at: pd.Timestamp, *, now: pd.Timestamp) -> Decision:
        """Target exposure at ``at`` (the close of ``bars``' last row) from closed bars only.

        ``now`` is the exchange clock (later than ``at`` while catching up): it paces the
        decider's own reads (when the macro store is due a re-read), never what it sees."""


class OrderSink(Protocol):
    """Where real (testnet) orders go after the paper fill is committed."""

    def reconcile(self, state: PaperState, strategy: str, symbol: str) -> None: ...

    def submit(self, state: PaperState, client_id: str, side: str, qty: float) -> None: ...


@dataclass(frozen=True)
class LoopConfig:
    """How the loop waits, retries and judges freshness.

    history: closed bars handed to the strategy at each decision (warm-up; <= 998).
    max_price_age: oldest acceptable fill price, exchange time (default: a quarter bar).
    poll_seconds: longest real sleep between two looks at the exchange clock.
    grace_seconds: exchange seconds to wait after a close before fetching the bar.
    retries: attempts per exchange call; backoff_seconds doubles after each failure.
    deadline_seconds: longest one exchange call may take (a trickling server is cut off).
    once: decide every bar that is due, then exit instead of waiting for the next close.
    max_bars: stop after deciding this many bars (None: run until stopped).
    """

    timeframe: str
    history: int = 500
    max_price_age: pd.Timedelta | None = None
    poll_seconds: float = 5.0
    grace_seconds: float = 2.0
    retries: int = 4
    backoff_seconds: float = 1.0
    deadline_seconds: float = 60.0
    once: bool = False
    max_bars: int | None = None

    def __post_init__(self) -> None:
        timeframe_delta(self.timeframe)
        if not 2 <= self.history <= 998:
            raise ValueError(f"history must be in [2, 998] bars, got {self.history}")
        if self.retries < 1:
            raise ValueError(f"retries must be >= 1, got {self.retries}")
        if self.max_bars is not None and self.max_bars < 1:
            raise ValueError(f"max_bars must be >= 1, got {self.max_bars}")
        numbers = (self.poll_seconds, self.backoff_seconds, self.grace_seconds, self.deadline_seconds)
        if not all(math.isfinite(v) for v in numbers):
            raise ValueError("poll, backoff, grace and deadline seconds must be finite numbers")
        if self.poll_seconds <= 0 or self.backoff_seconds < 0 or self.grace_seconds < 0 or self.deadline_seconds <= 0:
            raise ValueError("poll_seconds and deadline_seconds must be > 0; backoff_seconds and grace_seconds >= 0")

    @property
    def step(self) -> pd.Timedelta:
        return timeframe_delta(self.timeframe)

    @property
    def price_age_limit(self) -> pd.Timedelta:
        """``max_price_age``, or a quarter of a bar when not set."""
        return self.max_price_age if self.max_price_age is not None else self.step / 4

    @property
    def bars_per_fetch(self) -> int:
        """Bars asked for per fetch, the still-open one included: the step decides on the
        ``history`` bars up to t and fills at t+1's open."""
        return self.history + 2

    @property
    def retry_policy(self) -> RetryPolicy:
        """Each exchange call's tries, backoff and deadline."""
        return RetryPolicy(attempts=self.retries, backoff=self.backoff_seconds, deadline=self.deadline_seconds)


@dataclass
class RunSummary:
    """What one ``run`` did: bars it decided (trades and skips among them) and why it
    stopped (``once``, ``max-bars``, ``signal``)."""

    decided: int = 0
    trades: int = 0
    skipped: int = 0
    stopped_by: str = ""


@contextmanager
def stop_handlers(stop: threading.Event) -> Iterator[None]:
    """While the loop runs, SIGINT/SIGTERM set ``stop``: it finishes its step and exits
    cleanly. The previous handlers come back afterwards (the command may run in-process)."""

    def handler(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if not stop.is_set():
            log.info("received %s: finishing the current step, then stopping", name)
        stop.set()

    previous = {signum: signal.signal(signum, handler) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def span(delta: pd.Timedelta) -> str:
    """A duration for a trader: ``2h07m``, ``4d21h``, ``45m30s``."""
    seconds = max(int(delta.total_seconds()), 0)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def _number(value: float | None, spec: str) -> str | None:
    return None if value is None or math.isnan(value) else format(value, spec)


def bar_line(step: Step) -> str:
    """One log line per decided bar: time, action | close, risk reading, target | fill | reason."""
    market = [
        f"close {close}" if (close := _number(step.close, ".2f")) else "",
        f"risk {score} {step.regime} x{step.multiplier:.2f}" if (score := _number(step.score, ".1f")) else "",
        f"target {target}" if (target := _number(step.target, ".3f")) else "",
    ]
    fill = step.fill
    parts = [
        f"bar {step.bar_time.isoformat()} {step.action}",
        " ".join(p for p in market if p),
        f"{fill.side} {fill.qty:.8f} @ {fill.price:.2f} fee {fill.fee:.2f}" if fill else "",
        step.reason,
    ]
    return " | ".join(p for p in parts if p)


class PaperLoop:
    """Runs one paper book against an exchange client (a ccxt exchange or a stand-in)."""

    def __init__(
        self,
        *,
        exchange: Exchange,
        state: PaperState,
        spec: BookSpec,
        decider: Decider,
        execution: ExecutionConfig,
        config: LoopConfig,
        stop: threading.Event | None = None,
        orders: OrderSink | None = None,
    ) -> None:
        if spec.timeframe != config.timeframe:
            raise ValueError(f"book timeframe {spec.timeframe} differs from loop timeframe {config.timeframe}")
        self.state, self.spec, self.decider = state, spec, decider
        self.execution, self.config = execution, config
        self.stop = stop if stop is not None else threading.Event()
        self.orders = orders
        self.feed = ExchangeFeed(
            exchange, symbol=spec.symbol, timeframe=config.timeframe, policy=config.retry_policy, stop=self.stop
        )

    def run(self) -> RunSummary:
        """Decide bars until stopped (signal, ``once``, ``max_bars``), holding the book's lock."""
        with self.state.exclusive(self.spec.strategy, self.spec.symbol):
            return self._run()

    def _run(self) -> RunSummary:
        summary = RunSummary()
        start = now = self.feed.now()
        book = self.state.open_book(self.spec, now=start)
        if self.orders is not None:
            self.orders.reconcile(self.state, self.spec.strategy, self.spec.symbol)
        last = self.state.last_decided(self.spec.strategy, self.spec.symbol)
        next_bar = last + self.config.step if last is not None else None
        log.info(
            "paper book %s %s %s: cash %.2f position %.8f, %s",
            self.spec.strategy,
            self.spec.symbol,
            self.config.timeframe,
            book.cash,
            book.position,
            f"resuming after bar {last.isoformat()}" if last is not None else "new book",
        )
        while not self.stop.is_set():
            try:
                now = self.feed.now()
            except ExchangeUnavailable as exc:
                if self.config.once:
                    raise
                log.error("exchange clock unreachable: %s; waiting", exc)
                self.stop.wait(self.config.poll_seconds)
                continue
            if next_bar is None:
                self.state.heartbeat(self.spec.strategy, self.spec.symbol, now, "starting")
                next_bar = self._newest_closed(now)
                if next_bar is None:
                    continue
            due = next_bar + self.config.step + pd.Timedelta(seconds=self.config.grace_seconds)
            self.state.heartbeat(
                self.spec.strategy,
                self.spec.symbol,
                now,
                f"{'waiting for' if now < due else 'deciding'} bar {next_bar.isoformat()}",
            )
            if now < due:
                if self.config.once:
                    summary.stopped_by = "once"
                    break
                self.stop.wait(min(self.config.poll_seconds, (due - now).total_seconds()))
                continue
            step = self.step(next_bar)
            if step is None:  # interrupted by a stop request before anything was written
                break
            if step.reason == ALREADY_DECIDED:  # decided by another run of this book
                next_bar = next_bar + self.config.step
                continue
            summary.decided += 1
            summary.trades += step.action == "trade"
            summary.skipped += step.action == "skip"
            next_bar = next_bar + self.config.step
            if self.config.max_bars is not None and summary.decided >= self.config.max_bars:
                summary.stopped_by = "max-bars"
                break
        if self.stop.is_set() and not summary.stopped_by:
            summary.stopped_by = "signal"
        self.state.heartbeat(self.spec.strategy, self.spec.symbol, now, f"stopped ({summary.stopped_by or 'stop'})")
        log.info(
            "paper loop stopped (%s) after %d decided bar(s), %d trade(s), %d skipped",
            summary.stopped_by or "stop",
            summary.decided,
            summary.trades,
            summary.skipped,
        )
        return summary

    def _newest_closed(self, now: pd.Timestamp) -> pd.Timestamp | None:
        """First start: the newest bar that has closed by ``now``."""
        try:
            bars = self.feed.bars(None, limit=self.config.bars_per_fetch)
        except ExchangeUnavailable as exc:
            if self.config.once:
                raise
            log.error("cannot find the newest closed bar: %s; waiting", exc)
            self.stop.wait(self.config.poll_seconds)
            return None
        closed = bars.index[bars.index + self.config.step <= now]
        if len(closed) == 0:
            raise ExchangeUnavailable(f"the exchange has no closed {self.config.timeframe} bar of {self.spec.symbol}")
        return closed[-1]

    def step(self, bar: pd.Timestamp) -> Step | None:
        """Decide bar ``bar`` (already closed) and record it; None if stopped mid-way."""
        strategy, symbol, tf = self.spec.strategy, self.spec.symbol, self.config.step
        if self.state.is_decided(strategy, symbol, bar):
            return self._already_decided(bar)
        fill_time = bar + tf
        try:
            bars = self.feed.bars(bar - tf * (self.config.history - 1), limit=self.config.bars_per_fetch)
            now = self.feed.now()
        except ExchangeUnavailable as exc:
            if self.stop.is_set():
                return None
            return self._record(
                Step(bar_time=bar, decided_at=bar + tf, action="skip", reason=f"exchange error, no trade: {exc}")
            )
        if bar not in bars.index:
            return self._record(
                Step(
                    bar_time=bar,
                    decided_at=now,
                    action="skip",
                    reason=f"the exchange returned no {self.config.timeframe} bar at {bar.isoformat()}, no trade",
                )
            )
        window = bars.loc[:bar]
        close = float(window["close"].iloc[-1])
        book = self.state.book(strategy, symbol)
        mark = (book.cash, book.position)
        decision = self.decider.decide(window, bar + tf, now=now)
        base = dict(bar_time=bar, decided_at=now, close=close, mark=mark, **decision.readings())
        if fill_time not in bars.index:
            return self._record(
                Step(
                    **base,
                    action="skip",
                    reason=f"no price for the fill: bar {fill_time.isoformat()} "
                    "has not opened on the exchange, no trade",
                )
            )
        age = now - fill_time
        if age > self.config.price_age_limit:
            return self._record(
                Step(
                    **base,
                    action="skip",
                    reason=f"stale price: the fill price (open of {fill_time.isoformat()}) is {span(age)} old "
                    f"> limit {span(self.config.price_age_limit)}, no trade",
                )
            )
        if decision.blocked:
            return self._record(Step(**base, action="skip", reason=f"{decision.blocked}, no trade"))
        open_price = float(bars.loc[fill_time, "open"])
        cash, position, qty, price, fee = rebalance(
            book.cash,
            book.position,
            open_price,
            decision.target,
            self.execution.commission,
            self.execution.slippage,
            self.execution.rebalance_band,
        )
        if qty == 0.0:
            return self._record(Step(**base, action="hold", reason=decision.reason or "within the rebalance band"))
        fill = Fill(fill_time=fill_time, side="buy" if qty > 0 else "sell", qty=abs(qty), price=price, fee=fee)
        step = Step(
            **base,
            action="trade",
            reason=decision.reason,
            fill=fill,
            cash=cash,
            position=position,
            order_status="pending" if self.orders is not None else "filled",
        )
        recorded = self._record(step)
        if self.orders is not None and recorded is step:
            self.orders.submit(self.state, client_order_id(strategy, symbol, bar), fill.side, fill.qty)
        return recorded

    def _record(self, step: Step) -> Step:
        """Commit ``step`` and log it; if the bar was decided meanwhile (another run of the
        same book), nothing is written and an ``already decided`` step comes back instead,
        so the caller sends no order for it."""
        if not self.state.record_step(self.spec.strategy, self.spec.symbol, step):
            return self._already_decided(step.bar_time)
        log.log(logging.WARNING if step.action == "skip" else logging.INFO, "%s", bar_line(step))
        return step

    def _already_decided(self, bar: pd.Timestamp) -> Step:
        """The stand-in for a bar decided before (a restart, or another run of this book):
        logged, nothing written, no order sent."""
        log.info("bar %s already decided; not repeating it", bar.isoformat())
        return Step(bar_time=bar, decided_at=bar + self.config.step, action="hold", reason=ALREADY_DECIDED)
