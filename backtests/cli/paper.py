"""``carryguard paper run|status``: the backtested strategy + overlay on live exchange bars.

``run`` keeps a paper book in SQLite (``carryguard.backtests.paper.state``), deciding each closed bar
exactly once and filling at the next bar's open with the backtests' execution arithmetic;
``status`` reads that book without touching the exchange.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from carryguard.backtests.cli.console import print_json, stdout
from carryguard.backtests.cli.freshness import freshness_options, guard, latest_reading
from carryguard.backtests.cli.options import DURATION, PARAM_OPTION, Finite

if TYPE_CHECKING:
    import pandas as pd

    from carryguard.backtests.cli import CliContext

DEFAULT_STATE = Path("carryguard-paper.db")
F = TypeVar("F", bound=Callable[..., object])


def _parse_params(values: tuple[str, ...]) -> dict[str, object]:
    """``--param fast=20 --param name=x`` -> ``{"fast": 20, "name": "x"}`` (JSON values, else text)."""
    params: dict[str, object] = {}
    for item in values:
        key, eq, raw = item.partition("=")
        if not eq or not key:
            raise click.BadParameter(f"{item!r}: use KEY=VALUE, e.g. fast=20", param_hint="--param")
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


def _setup_logging(log_file: Path | None, redact: tuple[str, ...]) -> None:
    from carryguard.backtests.paper.sandbox import RedactingFilter

    logger = logging.getLogger("carryguard.paper")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    formatter = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    for old in list(logger.handlers):  # a second run in the same process must not log twice
        logger.removeHandler(old)
        old.close()
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None:
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RedactingFilter(redact))
        logger.addHandler(handler)


STATE_OPTION = click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_STATE,
    show_default=True,
    help="SQLite file holding the paper book.",
)


def timeout_option(when: str) -> Callable[[F], F]:
    """``--timeout``, seconds per exchange request (run and status: one definition)."""
    kind = Finite(0, 3_600, min_open=True)
    return click.option(
        "--timeout", type=kind, default=10.0, show_default=True, help=f"Exchange request timeout{when}, s."
    )


@click.group("paper")
def paper() -> None:
    """Paper trading: run a strategy + overlay on live bars, inspect the book."""


@paper.command("run")
@click.option(
    "--study",
    "study_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Trade this study's strategy (its params), overlay, risk and execution settings; the flags override them.",
)
@click.option("--exchange", "exchange_id", default="binance", show_default=True, help="ccxt exchange id.")
@click.option("--symbol", help="Market symbol (ccxt spelling); default: the study's, else BTC/USDT.")
@click.option("--timeframe", help="Bar length (1h, 4h, 1d ...); default: the study's, else 1h.")
@click.option("--strategy", "strategy_name", help="Registered strategy name; default: the study's, else sma_cross.")
@PARAM_OPTION
@click.option(
    "--overlay",
    default=None,
    metavar="NAME",
    help="Sizing policy: carry, none, vol_target, trend, yen_shock, carry_confirmed or a product "
    "(vol_target*carry); default: carry (without a study, or the study's one sized overlay).",
)
@click.option(
    "--cash",
    type=Finite(),  # finite here; the range is ExecutionConfig's
    help="Starting cash (quote currency); default: the study's [execution], else ExecutionConfig's.",
)
@click.option("--commission", type=Finite(), help="Fee, fraction of notional; default: as --cash.")
@click.option("--slippage-bps", type=Finite(), help="Adverse fill slippage, bps; default: as --cash.")
@click.option("--band", type=Finite(), help="Smallest exposure change worth a trade; default: as --cash.")
@STATE_OPTION
@click.option("--once", is_flag=True, help="Decide every bar that is due, then exit (for cron).")
@click.option("--max-bars", type=click.IntRange(min=1), help="Stop after deciding N bars.")
@click.option(
    "--history",
    type=click.IntRange(2, 998),
    default=500,
    show_default=True,
    help="Closed bars given to the strategy at each decision.",
)
@click.option(
    "--max-price-age", type=DURATION, help="Oldest fill price to trade on (default: a quarter of a bar), e.g. 15min."
)
@click.option(
    "--max-macro-age", type=Finite(0, min_open=True), help="Oldest macro input (days) to trade on (default: 10)."
)
@click.option("--macro-every", type=DURATION, help="Re-read the macro store this often (default: 1h).")
@click.option("--macro-refresh", is_flag=True, help="Also download fresh MOF/FRED data when the store is re-read.")
@click.option(
    "--poll",
    type=Finite(0, 86_400, min_open=True),
    default=5.0,
    show_default=True,
    help="Longest sleep between clock checks, s.",
)
@click.option("--retries", type=click.IntRange(min=1), default=4, show_default=True, help="Attempts per exchange call.")
@click.option(
    "--backoff", type=Finite(0, 3_600), default=1.0, show_default=True, help="First retry delay, s (doubles)."
)
@timeout_option("")
@click.option(
    "--sandbox",
    is_flag=True,
    help="Also send the orders to the exchange's testnet (keys: $CARRYGUARD_API_KEY, $CARRYGUARD_API_SECRET).",
)
@click.option("--log", "log_file", type=click.Path(dir_okay=False, path_type=Path), help="Also append the log here.")
@freshness_options
@click.pass_obj
def run_cmd(
    obj: CliContext,
    study_path: Path | None,
    exchange_id: str,
    symbol: str | None,
    timeframe: str | None,
    strategy_name: str | None,
    params: tuple[str, ...],
    overlay: str | None,
    cash: float | None,
    commission: float | None,
    slippage_bps: float | None,
    band: float | None,
    state_path: Path,
    once: bool,
    max_bars: int | None,
    history: int,
    max_price_age: pd.Timedelta | None,
    max_macro_age: float | None,
    macro_every: pd.Timedelta | None,
    macro_refresh: bool,
    poll: float,
    retries: int,
    backoff: float,
    timeout: float,
    sandbox: bool,
    log_file: Path | None,
    max_age: float,
    require_fresh: bool,
) -> None:
    """Paper-trade STRATEGY (+ the carry overlay) on live bars of SYMBOL.

    Each closed bar is decided once: strategy exposure, overlay sizing by the risk
    index read from the store, then a simulated fill at the next bar's open with fees
    and slippage. Everything is recorded in --state; a restart resumes where it stopped.
    Stale prices or macro inputs, and exchange failures, skip the bar with a reason.
    SIGINT/SIGTERM finish the current step and exit. With --study, the book trades
    exactly what `carryguard backtest STUDY` runs for that strategy (flags override).

    \b
    Examples:
      carryguard paper run --exchange binance --symbol BTC/USDT --timeframe 1h \\
          --strategy sma_cross --overlay carry --cash 10000 --state paper.db
      carryguard paper run --timeframe 4h --once --state paper.db   # from cron
      carryguard paper run --study my_study.toml --strategy sma_cross --symbol BTC/USDT --timeframe 4h
    """
    import threading

    from carryguard.backtests.paper.decide import MacroLimits, OverlayDecider, PolicyDecider, RiskFeed, resolve_book
    from carryguard.backtests.paper.loop import LoopConfig, PaperLoop, stop_handlers
    from carryguard.backtests.paper.records import BookSpec
    from carryguard.backtests.paper.sandbox import connect, macro_refresher, sandbox_keys
    from carryguard.backtests.paper.state import PaperState
    from carryguard.backtests.run.study import load_study
    from carryguard.signals.availability import timeframe_delta
    from carryguard.signals.errors import ConfigError
    from carryguard.signals.sources.ccxt_source import page_limit_of
    from carryguard.strategies.base import params as strategy_params
    from carryguard.strategies.carry_policies import CarryPolicy
    from carryguard.strategies.policies import NoOverlay

    try:
        book = resolve_book(
            load_study(study_path) if study_path is not None else None,
            origin=str(study_path),
            strategy=strategy_name,
            params=_parse_params(params),
            symbol=symbol,
            timeframe=timeframe,
            overlay=overlay,
            execution={"cash": cash, "commission": commission, "slippage_bps": slippage_bps, "rebalance_band": band},
        )
        step = timeframe_delta(book.timeframe)
        config = LoopConfig(
            timeframe=book.timeframe,
            history=history,
            max_price_age=max_price_age,
            poll_seconds=poll,
            retries=retries,
            backoff_seconds=backoff,
            once=once,
            max_bars=max_bars,
        )
        defaults = MacroLimits()
        limits = MacroLimits(
            max_age_days=max_macro_age if max_macro_age is not None else defaults.max_age_days,
            refresh_every=macro_every if macro_every is not None else defaults.refresh_every,
        )
    except (ConfigError, ValueError, TypeError) as exc:
        raise click.UsageError(str(exc)) from exc
    strategy = book.strategy
    if history < book.history_needed:  # a backtest warms up on earlier stored bars; paper has only these
        raise click.UsageError(
            f"--history {history} is too short for {strategy.name} {strategy_params(strategy)}: its "
            f"indicators need {book.history_needed} closed bars at each decision, or the paper "
            f"book decides unlike its backtest; use --history {book.history_needed} or more"
        )
    policy = book.sizing
    keys = sandbox_keys() if sandbox else None
    _setup_logging(log_file, keys.secrets if keys is not None else ())
    exchange, orders = connect(
        exchange_id, book.symbol, book.timeframe, keys=keys, timeout=timeout, retries=retries, backoff=backoff
    )
    per_request = page_limit_of(exchange)
    if history + 2 > per_request:  # bar t and the next bar's open must come in one reply
        raise click.UsageError(
            f"--history {history} needs {history + 2} bars per request; {exchange_id} serves "
            f"{per_request}: use --history {per_request - 2} or less"
        )
    if not isinstance(policy, NoOverlay) and (reading := latest_reading(obj.store)) is not None:
        guard(reading, max_age, require_fresh)  # the same wall-clock rule as `carryguard risk`
    feed = None
    if policy.needs_risk:
        refresher = macro_refresher(obj.store) if macro_refresh else None
        feed = RiskFeed(obj.store, step=step, limits=limits, config=book.risk, refresher=refresher)
    decider: OverlayDecider | PolicyDecider = OverlayDecider(strategy, step=step)
    if isinstance(policy, CarryPolicy):
        decider = OverlayDecider(strategy, step=step, config=policy.config, feed=feed)
    elif not isinstance(policy, NoOverlay):
        decider = PolicyDecider(strategy, step=step, policy=policy, feed=feed)
    spec = BookSpec(
        strategy=book.name,
        symbol=book.symbol,
        exchange=exchange_id,
        timeframe=book.timeframe,
        cash=book.execution.cash,
        config={**book.config(), "history": history},
    )
    stop = threading.Event()
    with stop_handlers(stop), PaperState(state_path) as state:
        loop = PaperLoop(
            exchange=exchange,
            state=state,
            spec=spec,
            decider=decider,
            execution=book.execution,
            config=config,
            stop=stop,
            orders=orders,
        )
        summary = loop.run()
    stdout.print(
        f"{book.name} {book.symbol} {book.timeframe}: decided {summary.decided} bar(s), {summary.trades} trade(s), "
        f"{summary.skipped} skipped; stopped by {summary.stopped_by}; state in {state_path}",
        highlight=False,
    )


@paper.command("status")
@STATE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per book.")
@click.option("--live", is_flag=True, help="Ask the exchange for its clock (else: the time the loop last saw).")
@timeout_option(" with --live")
def status_cmd(state_path: Path, as_json: bool, live: bool, timeout: float) -> None:
    """Position, equity, PnL, the last decision with its risk reading, and how many closed
    bars the book is behind the exchange clock.

    \b
    Examples:
      carryguard paper status --state paper.db
      carryguard paper status --state paper.db --json --live
    """
    import pandas as pd

    from carryguard.backtests.paper.state import PaperState
    from carryguard.signals.errors import CarryguardError, SourceError
    from carryguard.signals.sources.ccxt_source import make_exchange

    if not state_path.is_file():
        raise CarryguardError(
            f"{state_path}: no paper state file", fix="start one with `carryguard paper run --state FILE`"
        )
    clocks: dict[str, pd.Timestamp] = {}
    with PaperState(state_path, read_only=True) as state:
        books = state.books()
        if live:
            import ccxt

            for exchange_id in sorted({book["exchange"] for book in books}):
                try:
                    clocks[exchange_id] = pd.Timestamp(
                        make_exchange(exchange_id, timeout=timeout).fetch_time(), unit="ms", tz="UTC"
                    )
                except ccxt.BaseError as exc:
                    raise SourceError(
                        f"{exchange_id}: cannot read the exchange clock ({type(exc).__name__})",
                        fix="retry, or run without --live",
                    ) from exc
        summaries = [
            state.summary(book["strategy"], book["symbol"], now=clocks.get(book["exchange"])) for book in books
        ]
    if as_json:
        print_json(summaries)
        return
    if not summaries:
        stdout.print(f"no paper book in {state_path}")
        return
    from carryguard.backtests.cli.paper_status import print_status

    print_status(state_path, summaries, live=live)


commands = [paper]
