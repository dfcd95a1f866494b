"""What ``carryguard data fetch`` downloads, run source by source so one failure stops none.

``plan_jobs`` turns a ``FetchPlan`` into jobs (one per exchange symbol x timeframe, MOF,
each FRED series, each Yahoo ticker, each CFTC contract, each funding-rate symbol);
``run_jobs`` runs them in order, reporting progress through callbacks, and returns one
``Outcome`` per job (a result or an error line).
Each job writes its series once, only after a complete, validated download.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field

import ccxt
import pandas as pd

from carryguard.signals.errors import CarryguardError, SourceError
from carryguard.signals.sources.ccxt_source import PageEvent, make_exchange, update_series
from carryguard.signals.sources.cftc import update_cot
from carryguard.signals.sources.fred import update_fred
from carryguard.signals.sources.funding import make_funding_exchange, update_funding
from carryguard.signals.sources.http import UnreachableError, get_text
from carryguard.signals.sources.mof import update_mof
from carryguard.signals.sources.retry import RetryPolicy
from carryguard.signals.sources.update import UpdateResult
from carryguard.signals.sources.yahoo import update_yahoo
from carryguard.signals.store import Store

Status = Callable[[str], None]


CARRY_FRED = ("VIXCLS", "DEXUSAL")
CARRY_YAHOO = ("AUDJPY=X",)


@dataclass(frozen=True)
class FetchPlan:
    """The sources to fetch; the defaults are the series carryguard's studies use.

    ``exchange``: ccxt exchange id (binance); ``symbols``/``timeframes``: bars to fetch
    (BTC/USDT, ETH/USDT x 1d, 4h); ``since``: start of a series not yet stored (None:
    ``ccxt_source.DEFAULT_SINCE`` for bars, all history for Yahoo and funding); ``macro``:
    also MOF JGB, the FRED series (DEXJPUS, DGS10, DGS2) and the Yahoo tickers (JPY=X);
    ``carry`` (with ``macro``): also the carry-trade inputs, ``carry_fred`` (VIXCLS,
    DEXUSAL), ``carry_yahoo`` (AUDJPY=X), the CFTC COT contracts ``cot_codes`` (097741:
    yen) and the Binance USD-M funding rates of ``funding_symbols`` (BTC/USDT). ``data
    fetch --macro`` sets both; the paper trader's macro refresh only ``macro``.
    """

    exchange: str = "binance"
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT")
    timeframes: tuple[str, ...] = ("1d", "4h")
    since: pd.Timestamp | None = None
    macro: bool = True
    fred_series: tuple[str, ...] = ("DEXJPUS", "DGS10", "DGS2")
    yahoo_tickers: tuple[str, ...] = ("JPY=X",)
    carry: bool = False
    carry_fred: tuple[str, ...] = CARRY_FRED
    carry_yahoo: tuple[str, ...] = CARRY_YAHOO
    cot_codes: tuple[str, ...] = ("097741",)
    funding_symbols: tuple[str, ...] = ("BTC/USDT",)

    def __post_init__(self) -> None:
        lists = ("symbols", "timeframes", "fred_series", "yahoo_tickers", "carry_fred", "carry_yahoo", "cot_codes")
        for name in (*lists, "funding_symbols"):
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
    exception: Exception | None = field(default=None, compare=False, repr=False)  # behind ``error``, for --debug


@dataclass
class Reachability:
    """Hosts and exchanges found unreachable during one run: later jobs on them fail at
    once instead of waiting through every retry again (an offline machine fails fast)."""

    policy: RetryPolicy = RetryPolicy()
    down: dict[str, str] = field(default_factory=dict)

    def get(self, url: str) -> str:
        """``http.get_text`` unless the URL's host was already unreachable."""
        host = urllib.parse.urlsplit(url).netloc
        if host in self.down:
            raise UnreachableError(f"{url}: skipped, {host} was unreachable earlier in this run")
        try:
            return get_text(url, policy=self.policy)
        except UnreachableError:
            self.down[host] = url
            raise


def plan_jobs(store: Store, plan: FetchPlan, *, policy: RetryPolicy = RetryPolicy()) -> list[Job]:
    """The jobs of ``plan`` in order: exchange bars, then MOF, FRED, Yahoo, CFTC and funding.

    Raises ``DataError`` at once for an unknown exchange id (no job could run).
    """
    reach = Reachability(policy)
    jobs: list[Job] = []
    if plan.symbols and plan.timeframes:
        exchange = make_exchange(plan.exchange, timeout=policy.timeout)
        for symbol in plan.symbols:
            for timeframe in plan.timeframes:
                run = _bars_job(store, exchange, symbol, timeframe, plan, policy, reach)
                jobs.append(Job(f"{plan.exchange} {symbol} {timeframe}", run))
    if plan.macro:
        jobs.append(Job("MOF JGB", lambda status: update_mof(store, get=reach.get)))
        for series in plan.fred_series + (plan.carry_fred if plan.carry else ()):
            jobs.append(Job(f"FRED {series}", fred_job(store, series, reach)))
        for ticker in plan.yahoo_tickers + (plan.carry_yahoo if plan.carry else ()):
            jobs.append(Job(f"Yahoo {ticker}", yahoo_job(store, ticker, plan.since)))
    if plan.macro and plan.carry:
        jobs += [Job(f"CFTC COT {code}", cot_job(store, code, reach)) for code in plan.cot_codes]
        if plan.funding_symbols:
            jobs += funding_jobs(store, plan, policy, reach)
    return jobs


def fred_job(store: Store, series: str, reach: Reachability) -> Callable[[Status], UpdateResult]:
    """The job fetching FRED ``series`` (through ``reach``, so a dead host fails fast)."""

    def run(status: Status) -> UpdateResult:
        return update_fred(store, series, get=reach.get)

    return run


def yahoo_job(store: Store, ticker: str, since: pd.Timestamp | None) -> Callable[[Status], UpdateResult]:
    """The job fetching Yahoo ``ticker`` from ``since``."""

    def run(status: Status) -> UpdateResult:
        return update_yahoo(store, ticker, since=since)

    return run


def cot_job(store: Store, code: str, reach: Reachability) -> Callable[[Status], UpdateResult]:
    """The job fetching CFTC contract ``code`` (through ``reach``, so a dead host fails fast)."""

    def run(status: Status) -> UpdateResult:
        return update_cot(store, code, get=reach.get)

    return run


def funding_jobs(store: Store, plan: FetchPlan, policy: RetryPolicy, reach: Reachability) -> list[Job]:
    """One job per funding-rate symbol on Binance USD-M; after a failure to reach the
    exchange at all, the later symbols fail at once."""
    exchange = make_funding_exchange(timeout=policy.timeout)
    key = f"ccxt:{exchange.id}"

    def job(symbol: str) -> Callable[[Status], UpdateResult]:
        def run(status: Status) -> UpdateResult:
            if key in reach.down:
                raise UnreachableError(f"skipped: {reach.down[key]}")
            try:
                return update_funding(store, symbol, exchange=exchange, since=plan.since, policy=policy)
            except SourceError:
                if exchange.markets is None:
                    reach.down[key] = f"{exchange.id} could not be reached earlier in this run"
                raise

        return run

    return [Job(f"{exchange.id} {symbol} funding", job(symbol)) for symbol in plan.funding_symbols]


def _bars_job(
    store: Store,
    exchange: ccxt.Exchange,
    symbol: str,
    timeframe: str,
    plan: FetchPlan,
    policy: RetryPolicy,
    reach: Reachability,
) -> Callable[[Status], UpdateResult]:
    key = f"ccxt:{exchange.id}"

    def run(status: Status) -> UpdateResult:
        def on_page(event: PageEvent) -> None:
            status(f"{event.bars} bars, at {event.cursor:%Y-%m-%d %H:%M}")

        if key in reach.down:
            raise UnreachableError(f"skipped: {reach.down[key]}")
        try:
            return update_series(store, exchange, symbol, timeframe, since=plan.since, policy=policy, on_page=on_page)
        except SourceError:
            if exchange.markets is None:  # markets never loaded: no job on this exchange can succeed
                reach.down[key] = f"{exchange.id} could not be reached earlier in this run"
            raise

    return run


def run_jobs(
    jobs: list[Job],
    *,
    on_start: Callable[[Job], None] | None = None,
    on_status: Status | None = None,
    on_done: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Run every job; an error (a ``CarryguardError``, or any bug in one source) becomes that
    job's one-line error and the next job runs."""
    outcomes = []
    for job in jobs:
        if on_start is not None:
            on_start(job)
        try:
            outcome = Outcome(job.label, result=job.run(on_status or (lambda text: None)))
        except CarryguardError as exc:
            outcome = Outcome(job.label, error=str(exc).splitlines()[0], exception=exc)
        except Exception as exc:
            detail = (str(exc).strip().splitlines() or [""])[0]
            outcome = Outcome(
                job.label,
                error=f"internal error: {type(exc).__name__}: {detail} (--debug shows the traceback)",
                exception=exc,
            )
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
    return outcomes
