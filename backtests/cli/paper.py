"""``carryguard paper run|status``: the backtested strategy + overlay on live exchange bars.

``run`` keeps a paper book in SQLite (``carryguard.backtests.paper.state``), deciding each closed bar
exactly once and filling at the next bar's open with the backtests' execution arithmetic;
``status`` reads that book without touching the exchange.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

import click

from carryguard.backtests.cli.console import print_json, print_table, stdout

if TYPE_CHECKING:
    import pandas as pd

    from carryguard.backtests.cli import CliContext

DEFAULT_STATE = Path("carryguard-paper.db")


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


def _duration(text: str | None, option: str) -> pd.Timedelta | None:
    """A positive pandas duration from ``option``'s text (None when not given), else a usage error."""
    import pandas as pd

    if text is None:
        return None
    try:
        value = pd.Timedelta(text)
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is not a duration (e.g. 15min, 1h, 2d)", param_hint=option) from exc
    if value <= pd.Timedelta(0):
        raise click.BadParameter(f"{text!r} must be positive", param_hint=option)
    return value


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


@click.group("paper")
def paper() -> None:
    """Paper trading: run a strategy + overlay on live bars, inspect the book."""


@paper.command("run")
@click.option("--exchange", "exchange_id", default="binance", show_default=True, help="ccxt exchange id.")
@click.option("--symbol", default="BTC/USDT", show_default=True, help="Market symbol (ccxt spelling).")
@click.option("--timeframe", default="1h", show_default=True, help="Bar length (1h, 4h, 1d ...).")
@click.option("--strategy", "strategy_name", default="sma_cross", show_default=True, help="Registered strategy name.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Strategy parameter (repeatable).")
@click.option(
    "--overlay",
    default="carry",
    show_default=True,
    metavar="NAME",
    help="Sizing policy: carry, none, vol_target, trend, yen_shock, carry_confirmed or a product (vol_target*carry).",
)
@click.option("--cash", type=float, default=10_000.0, show_default=True, help="Starting cash (quote currency).")
@click.option("--commission", type=float, default=0.001, show_default=True, help="Fee, fraction of notional.")
@click.option("--slippage-bps", type=float, default=5.0, show_default=True, help="Adverse fill slippage, bps.")
@click.option("--band", type=float, default=0.05, show_default=True, help="Smallest exposure change worth a trade.")
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_STATE,
    show_default=True,
    help="SQLite file holding the paper book.",
)
@click.option("--once", is_flag=True, help="Decide every bar that is due, then exit (for cron).")
@click.option("--max-bars", type=click.IntRange(min=1), help="Stop after deciding N bars.")
@click.option(
    "--history",
    type=click.IntRange(2, 998),
    default=500,
    show_default=True,
    help="Closed bars given to the strategy at each decision.",
)
@click.option("--max-price-age", help="Oldest fill price to trade on (default: a quarter of a bar), e.g. 15min.")
@click.option(
    "--max-macro-age", type=float, default=10.0, show_default=True, help="Oldest macro input (days) to trade on."
)
@click.option("--macro-every", default="1h", show_default=True, help="Re-read the macro store this often.")
@click.option("--macro-refresh", is_flag=True, help="Also download fresh MOF/FRED data when the store is re-read.")
@click.option("--poll", type=float, default=5.0, show_default=True, help="Longest sleep between clock checks, s.")
@click.option("--retries", type=click.IntRange(min=1), default=4, show_default=True, help="Attempts per exchange call.")
@click.option("--backoff", type=float, default=1.0, show_default=True, help="First retry delay, s (doubles).")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Exchange request timeout, s.")
@click.option(
    "--sandbox",
    is_flag=True,
    help="Also send the orders to the exchange's testnet (keys: $CARRYGUARD_API_KEY, $CARRYGUARD_API_SECRET).",
)
@click.option("--log", "log_file", type=click.Path(dir_okay=False, path_type=Path), help="Also append the log here.")
@click.pass_obj
def run_cmd(
    obj: CliContext,
    exchange_id: str,
    symbol: str,
    timeframe: str,
    strategy_name: str,
    params: tuple[str, ...],
    overlay: str,
    cash: float,
    commission: float,
    slippage_bps: float,
    band: float,
    state_path: Path,
    once: bool,
    max_bars: int | None,
    history: int,
    max_price_age: str | None,
    max_macro_age: float,
    macro_every: str,
    macro_refresh: bool,
    poll: float,
    retries: int,
    backoff: float,
    timeout: float,
    sandbox: bool,
    log_file: Path | None,
) -> None:
    """Paper-trade STRATEGY (+ the carry overlay) on live bars of SYMBOL.

    Each closed bar is decided once: strategy exposure, overlay sizing by the risk
    index read from the store, then a simulated fill at the next bar's open with fees
    and slippage. Everything is recorded in --state; a restart resumes where it stopped.
    Stale prices or macro inputs, and exchange failures, skip the bar with a reason.
    SIGINT/SIGTERM finish the current step and exit.

    \b
    Examples:
      carryguard paper run --exchange binance --symbol BTC/USDT --timeframe 1h \\
          --strategy sma_cross --overlay carry --cash 10000 --state paper.db
      carryguard paper run --timeframe 4h --once --state paper.db   # from cron
    """
    import threading

    from carryguard.backtests.engine.execution import ExecutionConfig
    from carryguard.backtests.paper.decide import MacroLimits, OverlayDecider, PolicyDecider, RiskFeed
    from carryguard.backtests.paper.loop import LoopConfig, PaperLoop, install_stop_handlers
    from carryguard.backtests.paper.sandbox import connect, macro_refresher, sandbox_keys
    from carryguard.backtests.paper.state import BookSpec, PaperState
    from carryguard.signals.availability import timeframe_delta
    from carryguard.signals.sources.ccxt_source import page_limit_of
    from carryguard.strategies.base import make_strategy
    from carryguard.strategies.base import params as strategy_params
    from carryguard.strategies.overlay import CarryOverlay
    from carryguard.strategies.policies import make_policy

    try:
        step = timeframe_delta(timeframe)
        strategy = make_strategy(strategy_name, **_parse_params(params))
        execution = ExecutionConfig(cash=cash, commission=commission, slippage_bps=slippage_bps, rebalance_band=band)
        config = LoopConfig(
            timeframe=timeframe,
            history=history,
            max_price_age=_duration(max_price_age, "--max-price-age"),
            poll_seconds=poll,
            retries=retries,
            backoff_seconds=backoff,
            once=once,
            max_bars=max_bars,
        )
        limits = MacroLimits(max_age_days=max_macro_age, refresh_every=_duration(macro_every, "--macro-every"))
    except (ValueError, TypeError) as exc:
        raise click.UsageError(str(exc)) from exc
    if history < strategy.warmup_bars + 1:  # a backtest warms up on earlier stored bars; paper has only these
        raise click.UsageError(
            f"--history {history} is too short for {strategy_name} {strategy_params(strategy)}: its "
            f"indicators need {strategy.warmup_bars + 1} closed bars at each decision, or the paper "
            f"book decides unlike its backtest; use --history {strategy.warmup_bars + 1} or more"
        )
    keys = sandbox_keys() if sandbox else None
    _setup_logging(log_file, keys.secrets if keys is not None else ())
    exchange, orders = connect(
        exchange_id, symbol, timeframe, keys=keys, timeout=timeout, retries=retries, backoff=backoff
    )
    per_request = page_limit_of(exchange)
    if history + 2 > per_request:  # bar t and the next bar's open must come in one reply
        raise click.UsageError(
            f"--history {history} needs {history + 2} bars per request; {exchange_id} serves "
            f"{per_request}: use --history {per_request - 2} or less"
        )
    try:
        policy = make_policy(overlay)
    except (ValueError, TypeError) as exc:
        raise click.BadParameter(str(exc), param_hint="--overlay") from None
    feed = None
    if policy.needs_risk:
        refresher = macro_refresher(obj.store) if macro_refresh else None
        feed = RiskFeed(obj.store, step=step, limits=limits, refresher=refresher)
    decider: OverlayDecider | PolicyDecider = OverlayDecider(strategy, step=step)
    if overlay == "carry":
        decider = OverlayDecider(strategy, step=step, overlay=CarryOverlay(), feed=feed)
    elif overlay != "none":
        decider = PolicyDecider(strategy, step=step, policy=policy, feed=feed)
    book_name = strategy.name if overlay == "none" else f"{strategy.name}+{overlay}"
    spec = BookSpec(
        strategy=book_name,
        symbol=symbol,
        exchange=exchange_id,
        timeframe=timeframe,
        cash=cash,
        config={
            "params": strategy_params(strategy),
            "commission": commission,
            "slippage_bps": slippage_bps,
            "band": band,
            "overlay": overlay,
            "history": history,
        },
    )
    stop = threading.Event()
    install_stop_handlers(stop)
    with PaperState(state_path) as state:
        loop = PaperLoop(
            exchange=exchange,
            state=state,
            spec=spec,
            decider=decider,
            execution=execution,
            config=config,
            stop=stop,
            orders=orders,
        )
        summary = loop.run()
    stdout.print(
        f"{book_name} {symbol} {timeframe}: decided {summary.decided} bar(s), {summary.trades} trade(s), "
        f"{summary.skipped} skipped; stopped by {summary.stopped_by}; state in {state_path}",
        highlight=False,
    )


@paper.command("status")
@click.option(
    "--state",
    "state_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_STATE,
    show_default=True,
    help="SQLite file holding the paper book.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list, one object per book.")
@click.option("--live", is_flag=True, help="Ask the exchange for its clock (else: the time the loop last saw).")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Exchange request timeout with --live, s.")
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
    with PaperState(state_path) as state:
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
    rows = []
    for s in summaries:
        last = s["last_decision"] or {}
        score = last.get("score")
        risk = "" if score is None or math.isnan(score) else f"{score:.1f} {last.get('regime', '')}"
        rows.append(
            (
                s["strategy"],
                s["symbol"],
                s["timeframe"],
                f"{s['position']:.6f}",
                f"{s['cash']:.2f}",
                f"{s['equity']:.2f}",
                f"{s['pnl']:+.2f} ({s['pnl_pct']:+.2f}%)",
                s["last_bar"] or "",
                last.get("action", ""),
                "" if last.get("target") is None else f"{last['target']:.2f}",
                risk,
                "" if s["bars_behind"] is None else s["bars_behind"],
            )
        )
    print_table(
        f"Paper books in {state_path}",
        [
            "book",
            "symbol",
            "tf",
            "position",
            "cash",
            "equity",
            "PnL",
            "last bar",
            "action",
            "target",
            "risk",
            "bars behind",
        ],
        rows,
        right=["position", "cash", "equity", "PnL", "target", "bars behind"],
    )
    for s in summaries:
        if s["last_decision"]:
            stdout.print(
                f"{s['strategy']} {s['symbol']} last decision: {s['last_decision']['reason']}", highlight=False
            )
        if s["exchange_time"]:
            seen = "now (--live)" if live else f"as the loop last saw it ({s['loop_note']}); --live asks the exchange"
            stdout.print(
                f"{s['strategy']} {s['symbol']} bars behind measured at exchange time {s['exchange_time']}, {seen}",
                highlight=False,
            )


commands = [paper]
