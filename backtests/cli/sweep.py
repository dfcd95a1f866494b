"""``carryguard sweep STUDY.toml``: grid/random parameter search on the fast engine."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from carryguard.backtests.cli.console import print_json, print_table, stderr, stdout

if TYPE_CHECKING:
    from carryguard.backtests.cli import CliContext
    from carryguard.backtests.sweep.walkforward import WalkForwardResult

TABLE_METRICS = ["Sharpe Ratio", "Return [%]", "Max. Drawdown [%]", "# Trades"]


@click.command("sweep")
@click.argument("study_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--executor",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="local: worker processes on this machine; dask: a dask.distributed cluster.",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="Dask scheduler, e.g. tcp://scheduler-host:8786 (with --executor dask; default: a local cluster).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Local processes (default: all cores) or local Dask workers.",
)
@click.option(
    "--walk-forward/--no-walk-forward",
    "walk",
    default=None,
    help="Also run walk-forward validation (default: when the study has a [walkforward] table).",
)
@click.option(
    "--results-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results"),
    show_default=True,
    help="Where results/<run-id>/ is created.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def sweep(
    obj: CliContext,
    study_file: Path,
    executor: str,
    scheduler: str | None,
    workers: int | None,
    walk: bool | None,
    results_dir: Path,
    as_json: bool,
) -> None:
    """Evaluate every parameter combo of STUDY_FILE on the fast engine and rank them.

    Writes results/<run-id>/sweep.parquet (one row per combo: parameters and metrics),
    summary.json, manifest.json, heatmap.png (two-parameter grids) and, with
    walk-forward, walkforward.json and oos_equity.csv.

    \b
    Examples:
      carryguard sweep backtests/studies/sweep_sma_4h.toml
      carryguard sweep backtests/studies/sweep_sma_4h.toml --workers 2 --json
      carryguard sweep my_study.toml --executor dask --scheduler tcp://127.0.0.1:8786
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from carryguard.backtests.run.layout import fingerprints
    from carryguard.backtests.sweep.evaluate import combos_warmup, load_history, load_risk, run_sweep, validate_combos
    from carryguard.backtests.sweep.output import new_run_dir, short, top_rows, write_sweep
    from carryguard.backtests.sweep.study import WalkForwardConfig, combos, load_sweep_study
    from carryguard.backtests.sweep.walkforward import fold_windows, walk_forward
    from carryguard.signals.errors import CarryguardError
    from carryguard.signals.store import series_id

    if scheduler is not None and executor != "dask":
        raise click.UsageError("--scheduler needs --executor dask")
    if scheduler is not None:
        from distributed.comm.addressing import parse_address, parse_host_port

        try:
            parse_host_port(parse_address(scheduler)[1])
        except ValueError as error:
            raise click.BadParameter(f"{error}; use tcp://HOST:PORT", param_hint="--scheduler") from None
    try:  # everything wrong with the study file is a usage error, found before any work
        study = load_sweep_study(study_file)
        todo = combos(study)
        validate_combos(study.strategy, todo)
    except ValueError as error:
        raise click.UsageError(f"{study_file}: {error}") from None
    except CarryguardError as error:
        raise click.UsageError(str(error)) from None
    history = load_history(obj.store, study, warmup=combos_warmup(study, todo))
    bars, first = history.bars, history.first
    run_walk = walk if walk is not None else study.walkforward is not None
    walk_config = (study.walkforward or WalkForwardConfig()) if run_walk else None
    if walk_config is not None:
        try:
            fold_windows(history.window.index, walk_config)
        except ValueError as error:
            raise CarryguardError(
                f"{study_file}: walk-forward: {error}", fix="shorten [walkforward] train/test"
            ) from None
    risk_config = study.risk_config()
    risk = load_risk(obj.store, bars, study.timeframe, risk_config) if study.overlay else None
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    wf = None
    with Progress(*columns, console=stderr, transient=False) as progress:
        task = progress.add_task(f"sweep {study.name}", total=len(todo))
        result = run_sweep(
            study,
            bars=bars,
            risk=risk,
            first=first,
            executor=executor,
            workers=workers,
            scheduler=scheduler,
            combos=todo,
            progress=lambda n: progress.advance(task, n),
        )
        if walk_config is not None:
            folds = progress.add_task("walk-forward", total=len(todo))
            wf = walk_forward(
                study,
                bars=bars,
                risk=risk,
                first=first,
                config=walk_config,
                executor=executor,
                workers=workers,
                scheduler=scheduler,
                combos=todo,
                progress=lambda n: progress.advance(folds, n),
            )
    created = datetime.now(UTC)
    run_dir = new_run_dir(results_dir, study.name, created_at=created)
    sid = series_id(study.source, study.symbol, study.timeframe)
    inputs = [sid, *(risk_config.inputs().values() if study.overlay else ())]
    data = fingerprints({name: obj.store.meta(name) for name in inputs})
    doc = write_sweep(result, run_dir, data=data, walkforward=wf, created_at=created)
    if as_json:
        print_json(doc)
        return
    metric_columns = [study.metric] + [m for m in TABLE_METRICS if m != study.metric]
    headers = ["#", *(short(p) for p in result.param_names), *metric_columns]
    print_table(
        f"Top {min(study.top, len(result.frame))} of {len(result.frame):,} combos by {study.metric} "
        f"({sid}, {result.bars:,} bars)",
        headers,
        top_rows(result, metric_columns),
        right=headers,
    )
    stdout.print(
        f"{len(result.frame):,} combos x {result.bars:,} bars in {result.seconds:.3f} s "
        f"({result.bar_steps_per_second / 1e6:,.1f} M bar-steps/s, {result.executor}, {result.workers} "
        f"worker(s); setup {result.setup_seconds:.2f} s)",
        highlight=False,
    )
    if wf is not None:
        _print_walkforward(wf)
    stdout.print(f"results: {run_dir}", highlight=False)


def _print_walkforward(wf: WalkForwardResult) -> None:
    """Out-of-sample next to in-sample, then one row per fold."""
    from carryguard.backtests.sweep.output import cell, compact

    doc = wf.to_dict()
    metric = wf.metric
    oos = doc["out_of_sample"]
    hindsight = doc["in_sample"]["hindsight_best"]
    numbers = [metric, "Return [%]", "Max. Drawdown [%]"]
    rows = [
        [
            "in-sample: picks on their train windows (mean)",
            "per fold",
            cell(doc["in_sample"]["mean_train_metric"]),
            "",
            "",
        ],
        [
            "in-sample: hindsight best, on the OOS span",
            compact(hindsight["params"]),
            *(cell(hindsight["metrics"][m]) for m in numbers),
        ],
        ["out-of-sample: picks, test windows joined", "per fold", *(cell(oos[m]) for m in numbers)],
    ]
    print_table(
        f"Walk-forward ({doc['mode']}, train {doc['train']}, test {doc['test']}, {len(doc['folds'])} folds; "
        f"OOS {oos['Start'][:10]}..{oos['End'][:10]})",
        ["result", "params", *numbers],
        rows,
        right=numbers,
    )
    print_table(
        "Folds",
        ["test start", "test end", "chosen on train", f"train {metric}", f"test {metric}"],
        [
            [
                f["test_start"][:10],
                f["test_end"][:10],
                compact(f["params"]),
                cell(f["train_metric"]),
                cell(f["test_metric"]),
            ]
            for f in doc["folds"]
        ],
        right=[f"train {metric}", f"test {metric}"],
    )


commands = [sweep]
