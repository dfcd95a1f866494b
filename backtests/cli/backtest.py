"""``carryguard backtest``: run a study with and without the overlay, write results/<run-id>/."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import click

from carryguard.backtests.cli.console import print_json, print_table, stderr, stdout
from carryguard.backtests.engine import DEFAULT_ENGINE, ENGINE_NAMES
from carryguard.signals.errors import CarryguardError

if TYPE_CHECKING:  # for hints only: cli imports this module, the runner imports backtrader
    from carryguard.backtests.cli import CliContext
    from carryguard.backtests.run.runner import Parity, RunResult, StudyRun
    from carryguard.backtests.run.study import Study
    from carryguard.signals.store import Store

PAIR_METRICS = (
    ("Return [%]", "Return %"),
    ("CAGR [%]", "CAGR %"),
    ("Max. Drawdown [%]", "MaxDD %"),
    ("Sharpe Ratio", "Sharpe"),
)


@click.command("backtest")
@click.argument(
    "study_path", metavar="[STUDY.toml]", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--strategy",
    "strategies",
    multiple=True,
    metavar="NAME",
    help="Only this strategy (repeatable); NAME+carry (every one) keeps only the overlay runs.",
)
@click.option("--symbol", "symbols", multiple=True, metavar="BASE/QUOTE", help="Only this symbol (repeatable).")
@click.option(
    "--timeframe", "timeframes", multiple=True, metavar="TF", help="Only this timeframe, e.g. 1d or 4h (repeatable)."
)
@click.option("--start", metavar="DATE", help="First bar (YYYY-MM-DD[THH:MM], UTC), overriding the study.")
@click.option("--end", metavar="DATE", help="Last bar (YYYY-MM-DD[THH:MM] or 'latest'), overriding the study.")
@click.option(
    "--overlay/--no-overlay",
    "overlay",
    default=None,
    help="Only the runs with (or without) the carry overlay; default: as the study says (both).",
)
@click.option(
    "--engine",
    default=DEFAULT_ENGINE,
    show_default=True,
    help=f"{' or '.join(ENGINE_NAMES)}: backtrader is the reference event-driven engine, fast (numba) "
    "runs the same execution semantics in a fraction of the time.",
)
@click.option(
    "--verify",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Re-run the first N books on the other engine and print their parity (exit 1 if they differ).",
)
@click.option(
    "--results-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results"),
    show_default=True,
    help="Where the run folder <YYYYmmdd-HHMMSS>-<study> is written.",
)
@click.option("--csv", "as_csv", is_flag=True, help="Write the per-bar tables as CSV instead of parquet.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print {"run_dir", "results": [{"strategy", "symbol", "timeframe", "overlay", "baseline", "metrics"}]}.',
)
@click.option(
    "--schema",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=lambda ctx, _param, value: _print_schema(ctx) if value else None,
    help="Print the JSON schema of study files (for editor completion) and exit.",
)
@click.pass_obj
def backtest(
    obj: CliContext,
    study_path: Path | None,
    strategies: tuple[str, ...],
    symbols: tuple[str, ...],
    timeframes: tuple[str, ...],
    start: str | None,
    end: str | None,
    overlay: bool | None,
    engine: str,
    verify: int,
    results_dir: Path,
    as_csv: bool,
    as_json: bool,
) -> None:
    """Backtest a study: every strategy x symbol x timeframe, without and with the
    carry-unwind overlay, each its own book (next-open fills, fees, slippage).

    No STUDY.toml runs the default study (backtests/studies/carry_unwind.toml: BTC/USDT
    and ETH/USDT daily from 2018-01-01, every strategy and baseline); the options narrow
    or override it. A sweep study runs its base (its [params] are not backtested).
    Writes manifest.json, metrics.json, equity/exposure/prices.parquet (CSV with --csv)
    and fills/trades/risk.csv to RESULTS_DIR/<run-id>/ and prints a table: each metric
    without the overlay, then with it (+carry), sorted by the better Sharpe ratio of each
    pair (* marks the bottom-fishing baselines). Indicators are warmed up on the stored
    bars before --start (see manifest.json "warmup_bars").

    \b
    Examples:
      carryguard backtest
      carryguard backtest --strategy sma_cross --strategy dip_buy --symbol BTC/USDT
      carryguard backtest --strategy sma_cross+carry --symbol BTC/USDT --timeframe 4h
      carryguard backtest my_study.toml --no-overlay --json
      carryguard backtest --schema > study.schema.json
      carryguard backtest --engine backtrader       # the reference engine itself
      carryguard backtest --verify 4                # 4 books re-run on backtrader
    """
    from carryguard.backtests.run.runner import verify_books
    from carryguard.backtests.run.study import load_study, narrow, read_study, sweep_key
    from carryguard.backtests.run.write import metrics_document, write_results
    from carryguard.signals.errors import ConfigError

    if engine not in ENGINE_NAMES:
        raise click.BadParameter(f"unknown engine {engine!r}; known: {', '.join(ENGINE_NAMES)}", param_hint="--engine")
    try:
        if study_path is not None and (key := sweep_key(read_study(study_path))) is not None:
            stderr.print(
                f"note: {study_path} is a sweep study ([{key}]); backtesting its base settings",
                markup=False,
                highlight=False,
            )
        study = narrow(
            load_study(study_path),
            strategies=strategies,
            symbols=symbols,
            timeframes=timeframes,
            start=start,
            end=end,
            with_overlay=() if overlay is None else (overlay,),
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    run = _run_with_progress(study, obj.store, engine)
    folder = write_results(run, results_dir, csv=as_csv)
    document = metrics_document(run)
    parities = verify_books(run, verify) if verify else []
    if as_json:
        extra = {"verify": [{**vars(p), "ok": p.ok} for p in parities]} if verify else {}
        print_json({"run_dir": str(folder), "results": document["results"], **extra})
        _fail_unless_parity(parities)
        return
    books = len(run.results)
    _print_pairs(
        document["results"],
        study.with_overlay,
        title=f"{study.name}: {books} book{'' if books == 1 else 's'} ({engine})",
    )
    stdout.print(f"results: {folder}", highlight=False)
    _print_parity(run.engine, parities)
    _fail_unless_parity(parities)


def _print_parity(engine: str, parities: list[Parity]) -> None:
    """The --verify table: each re-run book's fills and equity gaps between the engines."""
    if parities:
        columns = ["book", "fills", "final equity gap", "worst close gap", "parity"]
        rows = [
            [p.label, f"{p.fills[0]} / {p.fills[1]}", f"{p.final_gap:.2e}", f"{p.worst_bar_gap:.2e}", _ok(p.ok)]
            for p in parities
        ]
        print_table(f"{engine} vs {parities[0].engine} ({len(parities)} books)", columns, rows, right=columns[1:4])


def _ok(ok: bool) -> str:
    return "ok" if ok else "DIFFERS"


def _fail_unless_parity(parities: list[Parity]) -> None:
    differ = [p.label for p in parities if not p.ok]
    if differ:
        raise CarryguardError(f"{len(differ)} book(s) differ between the engines: {', '.join(differ)}")


def _print_schema(ctx: click.Context) -> None:
    from carryguard.backtests.run.study import study_schema

    print_json(study_schema())
    ctx.exit()


def _run_with_progress(study: Study, store: Store, engine: str) -> StudyRun:
    """``run_study`` with a progress bar of the books on stderr (only on a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from carryguard.backtests.run.runner import run_count, run_study

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # Only on a terminal: piped stderr keeps to the one-line error contract.
    with Progress(*columns, console=stderr, transient=True, disable=not stderr.is_terminal) as progress:
        task = progress.add_task("backtesting", total=run_count(study))

        def advance(result: RunResult) -> None:
            progress.update(task, advance=1, description=result.label)

        return run_study(study, store, engine=engine, on_result=advance)


def _print_pairs(results: list[dict], modes: tuple[bool, ...], *, title: str) -> None:
    """One row per strategy x symbol x timeframe; each metric without the overlay next to
    the same metric with it (``+carry``), so a pair reads left to right in ~110 columns."""
    rows: dict[tuple[str, str, str], dict] = {}
    for result in results:
        key = (result["strategy"], result["symbol"], result["timeframe"])
        rows.setdefault(key, {"baseline": result["baseline"]})[result["overlay"]] = result["metrics"]
    columns = ["strategy", "symbol", "tf"] + [
        _header(short, mode, modes) for _, short in PAIR_METRICS for mode in modes
    ]

    def best_sharpe(entry: dict) -> float:
        values = [entry[m]["Sharpe Ratio"] for m in modes if entry[m]["Sharpe Ratio"] is not None]
        return max(values) if values else -math.inf

    table = []
    for (strategy, symbol, timeframe), entry in sorted(rows.items(), key=lambda kv: (-best_sharpe(kv[1]), kv[0])):
        cells = [f"{strategy}{' *' if entry['baseline'] else ''}", symbol, timeframe]
        cells += [_fmt(entry[mode][name], name) for name, _ in PAIR_METRICS for mode in modes]
        table.append(cells)
    pairs = {name: [3 + m * len(modes) + k for k in range(len(modes))] for m, (name, _) in enumerate(PAIR_METRICS)}
    narrow_first = [pairs["CAGR [%]"], 2, pairs["Return [%]"]]  # each metric goes with its +carry twin
    print_table(title, columns, table, right=columns[3:], drop=narrow_first)
    paired = len(modes) > 1
    legend = ["+carry = the column to its left with the carry overlay"] if paired else []
    legend += ["* = bottom-fishing baseline"] if any(entry["baseline"] for entry in rows.values()) else []
    legend += ["sorted by the pair's better Sharpe" if paired else "sorted by Sharpe"]
    stdout.print("; ".join(legend), highlight=False)


def _header(short: str, overlay: bool, modes: tuple[bool, ...]) -> str:
    """A pair is two adjacent columns, the metric then ``+carry``; one mode alone is named in full."""
    if not overlay:
        return short
    return "+carry" if len(modes) > 1 else f"{short} +carry"


def _fmt(value: float | None, name: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if name == "Sharpe Ratio" else f"{value:,.1f}"


commands = [backtest]
