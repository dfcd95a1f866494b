"""What ``carryguard data fetch`` downloads, run source by source so one failure stops none.

``plan_jobs`` turns a ``FetchPlan`` into jobs (one per exchange symbol x timeframe, MOF,
each FRED series, each Yahoo ticker); ``run_jobs`` runs them in order, reporting progress
through callbacks, and returns one ``Outcome`` per job (a result or an error line).
Each job writes its series once, only after a complete, validated download.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from signals.errors import CarryguardError
from signals.sources.ccxt_source import PageEvent, make_exchange, update_series
from signals.sources.fred import update_fred
from signals.sources.http import RetryPolicy
from signals.sources.mof import update_mof
from signals.sources.update import UpdateResult
from signals.sources.yahoo import update_yahoo
from signals.store import Store

Status = Callable[[str], None]


@dataclass(frozen=True)
class FetchPlan:
    """The sources to fetch; the defaults are the series carryguard's studies use.

    ``exchange``: ccxt exchange id (binance); ``symbols``/``timeframes``: bars to fetch
    (BTC/USDT, ETH/USDT x 1d, 4h); ``since``: start of a series not yet stored (None:
    ``ccxt_source.DEFAULT_SINCE`` for bars, all history for Yahoo); ``macro``: also MOF
    JGB, the FRED series (DEXJPUS, DGS10, DGS2) and the Yahoo tickers (JPY=X).
    """

    exchange: str = "binance"
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT")
    timeframes: tuple[str, ...] = ("1d", "4h")
    since: pd.Timestamp | None = None
    macro: bool = True
    fred_series: tuple[str, ...] = ("DEXJPUS", "DGS10", "DGS2")
    yahoo_tickers: tuple[str, ...] = ("JPY=X",)

    def __post_init__(self) -> None:
        for name in ("symbols", "timeframes", "fred_series", "yahoo_tickers"):
            if isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a tuple of strings, not one string")
        if self.since is not None and pd.Timestamp(self.since).tzinfo is None:
            object.__setattr__(self, "since", pd.Timestamp(self.since).tz_localize("UTC"))


@dataclass(frozen=True)
class Job:
    """One series to fetch: a label for people and the call that fetches and stores it."""

    label: str
    run: Callable[[Status], UpdateResult]


@dataclass(frozen=True)
class Outcome:
    """A job's result, or the one-line error that stopped it."""

    label: str
    result: UpdateResult | None = None
    error: str = ""


def plan_jobs(store: Store, plan: FetchPlan, *, policy: RetryPolicy = RetryPolicy()) -> list[Job]:
    """The jobs of ``plan`` in order: exchange bars, then MOF, FRED and Yahoo.

    Raises ``DataError`` at once for an unknown exchange id (no job could run).
    """
    jobs: list[Job] = []
    if plan.symbols and plan.timeframes:
        exchange = make_exchange(plan.exchange, timeout=policy.timeout)
        for symbol in plan.symbols:
            for timeframe in plan.timeframes:
                jobs.append(Job(f"{plan.exchange} {symbol} {timeframe}", _bars_job(store, exchange, symbol, timeframe, plan, policy)))
    if plan.macro:
        jobs.append(Job("MOF JGB", lambda status: update_mof(store)))
        for series in plan.fred_series:
            jobs.append(Job(f"FRED {series}", lambda status, s=series: update_fred(store, s)))
        for ticker in plan.yahoo_tickers:
            jobs.append(Job(f"Yahoo {ticker}", lambda status, t=ticker: update_yahoo(store, t, since=plan.since)))
    return jobs


def _bars_job(store: Store, exchange, symbol: str, timeframe: str, plan: FetchPlan,
              policy: RetryPolicy) -> Callable[[Status], UpdateResult]:
    def run(status: Status) -> UpdateResult:
        def on_page(event: PageEvent) -> None:
            status(f"{event.bars} bars, at {event.cursor:%Y-%m-%d %H:%M}")

        return update_series(store, exchange, symbol, timeframe, since=plan.since, policy=policy, on_page=on_page)

    return run


def run_jobs(jobs: list[Job], *, on_start: Callable[[Job], None] | None = None, on_status: Status | None = None,
             on_done: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run every job; a ``CarryguardError`` becomes that job's error and the next job runs."""
    outcomes = []
    for job in jobs:
        if on_start is not None:
            on_start(job)
        try:
            outcome = Outcome(job.label, result=job.run(on_status or (lambda text: None)))
        except CarryguardError as exc:
            outcome = Outcome(job.label, error=str(exc).splitlines()[0])
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
    return outcomes
