"""``carryguard backtest``: run a study with its overlays, write results/<run-id>/."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from carryguard.backtests.cli.console import print_json, print_table, say, stderr, stdout
from carryguard.backtests.cli.options import END_TIME, RESULTS_DIR_OPTION, UTC_TIME, Choice, list_option
from carryguard.backtests.engine import DEFAULT_ENGINE, ENGINE_NAMES
from carryguard.signals.errors import CarryguardError

if TYPE_CHECKING:  # for hints only: cli imports this module, the runner imports backtrader
    import pandas as pd

    from carryguard.backtests.cli import CliContext
    from carryguard.backtests.run.runner import Parity
    from carryguard.backtests.run.study import Study
    from carryguard.signals.store import Store


@click.command("backtest")
@click.argument(
    "study_path", metavar="[STUDY.toml]", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@list_option(
    "--strategy",
    "strategies",
    metavar="NAME",
    help="Only this strategy; NAME+carry (every one) keeps only the overlay runs.",
)
@list_option("--symbol", "symbols", metavar="BASE/QUOTE", help="Only this symbol.")
@list_option("--timeframe", "timeframes", metavar="TF", help="Only this timeframe, e.g. 1d or 4h.")
@click.option("--start", type=UTC_TIME, help="First bar (YYYY-MM-DD[THH:MM], UTC), overriding the study.")
@click.option("--end", type=END_TIME, help="Last bar (YYYY-MM-DD[THH:MM] or 'latest'), overriding the study.")
@click.option(
    "--overlay/--no-overlay",
    "overlay",
    default=None,
    help="--no-overlay: only the unsized books (none); --overlay: only carry; default: the study's overlays.",
)
@list_option(
    "--overlays",
    metavar="NAME",
    help="Overlays to run, e.g. none,vol_target,carry,vol_target*carry (overrides the study).",
)
@click.option(
    "--walk-forward",
    "walk_forward",
    is_flag=True,
    help="Also walk forward over overlay choice and parameters (out of sample); writes walkforward.json.",
)
@click.option(
    "--engine",
    type=Choice(ENGINE_NAMES),
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
@RESULTS_DIR_OPTION
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
    start: pd.Timestamp | None,
    end: pd.Timestamp | str | None,
    overlay: bool | None,
    overlays: tuple[str, ...],
    walk_forward: bool,
    engine: str,
    verify: int,
    results_dir: Path,
    as_csv: bool,
    as_json: bool,
) -> None:
    """Backtest a study: every strategy x symbol x timeframe x overlay (a sizing policy:
    none, the controls vol_target and trend, the carry-based carry, yen_shock,
    carry_confirmed, or a product such as vol_target*carry), each its own book
    (next-open fills, fees, slippage).

    No STUDY.toml runs the default study (backtests/studies/carry_unwind.toml: BTC/USDT
    and ETH/USDT daily from 2018-01-01, every strategy and baseline, with no overlay, the
    two controls and the carry-based policies); the options narrow or override it. A sweep
    study runs its base (its [params] are not backtested). Writes manifest.json,
    metrics.json, equity/exposure/prices.parquet (CSV with --csv) and fills/trades/risk.csv
    to RESULTS_DIR/<run-id>/ and prints a table: per strategy and market the book without
    an overlay, the best control and the best carry-based policy (* marks the
    bottom-fishing baselines). Indicators are warmed up on the stored bars before --start
    (see manifest.json "warmup_bars").

    \b
    Examples:
      carryguard backtest
      carryguard backtest --strategy sma_cross --strategy dip_buy --symbol BTC/USDT
      carryguard backtest --strategy sma_cross+carry --symbol BTC/USDT --timeframe 4h
      carryguard backtest --overlays none,vol_target,vol_target*carry --strategy buy_and_hold
      carryguard backtest my_study.toml --no-overlay --json
      carryguard backtest --schema > study.schema.json
      carryguard backtest --engine backtrader       # the reference engine itself
      carryguard backtest --verify 4                # 4 books re-run on backtrader
    """
    from carryguard.backtests.run.narrow import narrow
    from carryguard.backtests.run.runner import run_study, verify_books
    from carryguard.backtests.run.study import load_study, read_study, sweep_key
    from carryguard.backtests.run.write import metrics_document, write_results
    from carryguard.signals.errors import ConfigError

    if study_path is not None and (key := sweep_key(read_study(study_path))) is not None:
        stderr.print(
            f"note: {study_path} is a sweep study ([{key}]); backtesting its base settings",
            markup=False,
            highlight=False,
        )
    loaded = load_study(study_path)  # a mistake in the file: exit 1 naming file, table and key
    try:  # a mistake in the options: a usage error, exit 2
        study = narrow(
            loaded,
            strategies=strategies,
            symbols=symbols,
            timeframes=timeframes,
            start=start,
            end=end,
            overlays=_overlay_choice(overlay, overlays),
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    books = len(study.strategies) * len(study.symbols) * len(study.timeframes) * len(study.overlays)
    with progress_bar("backtesting", books) as advance:
        run = run_study(study, obj.store, engine=engine, on_result=lambda result: advance(result.label))
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
        study.overlays,
        title=f"{study.name}: {books} book{'' if books == 1 else 's'} ({engine})",
    )
    if walk_forward:
        _walk_forward(study, obj.store, folder)
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
    print_json(study_schema())
    ctx.exit()


def study_schema() -> dict[str, Any]:
    """JSON schema of a study file (backtest and sweep tables) for editor completion: the
    CLI knows both kinds, so the backtest study need not reach up into the sweep's."""
    from carryguard.backtests.engine.execution import ExecutionConfig
    from carryguard.backtests.run.study import DataSettings, Header
    from carryguard.backtests.sweep.study import SweepSettings, WalkForwardConfig
    from carryguard.signals.config import config_schema
    from carryguard.signals.risk_config import RiskConfig
    from carryguard.strategies.overlay import OverlayConfig

    header = config_schema(Header)
    tables = {
        "data": config_schema(DataSettings),
        "strategies": {"type": "object", "description": "name = { parameters }", "minProperties": 1},
        "overlay": config_schema(OverlayConfig),
        "risk": config_schema(RiskConfig),
        "execution": config_schema(ExecutionConfig),
        "params": {"type": "object", "description": "sweep: parameter = values; [params.overlay]: overlay fields"},
        "sweep": config_schema(SweepSettings),
        "walkforward": config_schema(WalkForwardConfig),
    }
    return {
        **header,
        "title": "carryguard study",
        "properties": {**header["properties"], **tables},
        "required": ["name", "strategies"],
    }


def _walk_forward(study: Study, store: Store, folder: Path) -> None:
    """The walk-forward over overlays: print its out-of-sample table, write walkforward.json."""
    import json

    from carryguard.backtests.sweep.overlay_walkforward import (
        CONFIG,
        TABLE_COLUMNS,
        summary,
        table_rows,
        walk_forward_overlays,
    )

    with stderr.status("walking forward over the overlays ..."):
        results = walk_forward_overlays(study, store)
    document = summary(results)
    (folder / "walkforward.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    span = f"{results[0].oos_start.date()}..{results[0].oos_end.date()}" if results else ""
    print_table(
        f"Out of sample {span}: overlay and parameters chosen by {CONFIG.metric} on each {CONFIG.mode} train "
        f"window (first {CONFIG.train}), traded the next {CONFIG.test}; Sharpe beside the fixed overlays",
        TABLE_COLUMNS,
        table_rows(results),
        right=TABLE_COLUMNS[2:-1],
    )


def _overlay_choice(flag: bool | None, names: tuple[str, ...]) -> tuple[str, ...]:
    """The overlays the options ask for (empty: the study's own list)."""
    if names:
        return names
    return () if flag is None else (("carry",) if flag else ("none",))


@contextmanager
def progress_bar(description: str, total: int) -> Iterator[Callable[[str], None]]:
    """A progress bar of ``total`` steps on stderr (only on a terminal: piped stderr keeps to
    the one-line error contract); yields ``advance(label)``, one step done."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=True, disable=not stderr.is_terminal) as progress:
        task = progress.add_task(description, total=total)
        yield lambda label: progress.update(task, advance=1, description=label)


def _print_pairs(results: list[dict], overlays: tuple[str, ...], *, title: str) -> None:
    """One row per strategy x symbol x timeframe: Sharpe and max. drawdown without an
    overlay, then the best control (vol_target, trend ...) and the best carry-based policy
    by Sharpe, each named, so the row reads left to right at about 100 columns."""
    from carryguard.strategies.policies import is_carry_based

    groups = [
        ("none", [o for o in overlays if o == "none"]),
        ("control", [o for o in overlays if o != "none" and not is_carry_based(o)]),
        ("carry-based", [o for o in overlays if is_carry_based(o)]),
    ]
    groups = [(label, specs) for label, specs in groups if specs]
    rows: dict[tuple[str, str, str], dict] = {}
    for result in results:
        key = (result["strategy"], result["symbol"], result["timeframe"])
        rows.setdefault(key, {"baseline": result["baseline"]})[result["overlay"]] = result["metrics"]

    def best(entry: dict, specs: list[str]) -> str | None:
        ranked = [(_sharpe(entry[s]), s) for s in specs if s in entry]
        return max(ranked, key=lambda pair: pair[0])[1] if ranked else None

    columns = ["strategy", "market"]
    for label, _ in groups:
        columns += ([] if label == "none" else [label]) + ["Sharpe", "MaxDD %"]
    table = []
    order = sorted(rows.items(), key=lambda kv: (-max(_sharpe(m) for k, m in kv[1].items() if k != "baseline"), kv[0]))
    for (strategy, symbol, timeframe), entry in order:
        cells = [f"{strategy}{' *' if entry['baseline'] else ''}", f"{symbol.split('/')[0]} {timeframe}"]
        for label, specs in groups:
            chosen = best(entry, specs)
            metrics = entry.get(chosen, {}) if chosen else {}
            if label != "none":
                cells.append(chosen or "n/a")
            cells += [_fmt(metrics.get("Sharpe Ratio"), "Sharpe Ratio"), _fmt(metrics.get("Max. Drawdown [%]"), "")]
        table.append(cells)
    print_table(title, columns, table, right=["Sharpe", "MaxDD %"])
    legend = [f"{label}: best of {', '.join(specs)} by Sharpe" for label, specs in groups if label != "none"]
    legend += ["* = bottom-fishing baseline"] if any(entry["baseline"] for entry in rows.values()) else []
    for line in [*legend, "sorted by the row's best Sharpe"]:  # one per line: fits 80 columns
        say(line)


def _sharpe(metrics: dict) -> float:
    value = metrics.get("Sharpe Ratio")
    return -math.inf if value is None else float(value)


def _fmt(value: float | None, name: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if name == "Sharpe Ratio" else f"{value:,.1f}"


commands = [backtest]
