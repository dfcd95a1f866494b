"""``carryguard sweep STUDY.toml``: grid/random parameter search on the fast engine."""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from carryguard.backtests.cli.console import print_json, print_table, say, stderr, stdout
from carryguard.backtests.cli.options import RESULTS_DIR_OPTION, Choice, MetricName

if TYPE_CHECKING:
    from carryguard.backtests.cli import CliContext
    from carryguard.backtests.sweep.heatmap import HeatmapProcess
    from carryguard.backtests.sweep.service import SweepOutcome
    from carryguard.backtests.sweep.walkforward import WalkForwardResult

TABLE_METRICS = ["Sharpe Ratio", "Return [%]", "Max. Drawdown [%]", "# Trades"]
SAME_AS = "same book as"
MAX_PARAM_COLUMNS = 3  # more parameters share one folding "combo" column (the table fits 80 columns)


def _ranked_metrics() -> list[str]:
    """The metrics a combo can be ranked by (the fast engine's numeric ones)."""
    from carryguard.backtests.engine.fast_metrics import FAST_METRIC_NAMES
    from carryguard.backtests.sweep.study import TEXT_METRICS

    return [name for name in FAST_METRIC_NAMES if name not in TEXT_METRICS]


@click.command("sweep")
@click.argument("study_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--executor",
    type=Choice(["local", "dask"]),
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
@RESULTS_DIR_OPTION
@click.option(
    "--metric",
    type=MetricName(_ranked_metrics),
    help="Rank the combos by this metric, e.g. 'Sortino Ratio' or sharpe (default: the study's [sweep] metric).",
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
    metric: str | None,
    as_json: bool,
) -> None:
    """Evaluate every parameter combo of STUDY_FILE on the fast engine and rank them.

    Combos that make the same book (e.g. an overlay threshold that is never reached)
    are ranked once, as one row naming the others under "same book as". Prints the
    out-of-sample book (walk-forward), the in-sample best and the untuned default.

    Writes results/<run-id>/sweep.parquet (one row per combo: parameters, metrics,
    book), summary.json, manifest.json, equity.csv (the three books' equity),
    heatmap.png (two-parameter grids) and, with walk-forward, walkforward.json.

    \b
    Examples:
      carryguard sweep backtests/studies/sweep_sma_4h.toml
      carryguard sweep backtests/studies/sweep_sma_4h.toml --workers 2 --json
      carryguard sweep backtests/studies/sweep_sma_4h.toml --metric 'Sortino Ratio'
      carryguard sweep my_study.toml --executor dask --scheduler tcp://127.0.0.1:8786
    """
    if scheduler is not None and executor != "dask":
        raise click.UsageError("--scheduler needs --executor dask")
    if scheduler is not None:
        from distributed.comm.addressing import parse_address, parse_host_port

        try:
            parse_host_port(parse_address(scheduler)[1])
        except ValueError as error:
            raise click.BadParameter(f"{error}; use tcp://HOST:PORT", param_hint="--scheduler") from None
    if "numpy" not in sys.modules:  # no BLAS in a sweep: unless told otherwise, numpy's and scipy's
        # OpenBLAS start no worker threads (each spins about a tenth of a second of CPU after its start)
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from carryguard.backtests.sweep.heatmap import HeatmapProcess

    # forked before the heavy imports below: it imports matplotlib on the other core meanwhile
    with HeatmapProcess() as drawer:
        outcome = _run(obj, study_file, metric, drawer, executor, scheduler, workers, walk, results_dir)
    from carryguard.backtests.sweep.output import cell, compact, short, top_rows
    from carryguard.backtests.sweep.reference import HEADLINE

    if as_json:
        print_json(outcome.summary)
        return
    study, result = outcome.result.study, outcome.result
    metric_columns = [study.metric] + [m for m in TABLE_METRICS if m != study.metric]
    one_column = len(result.param_names) > MAX_PARAM_COLUMNS
    params = ["combo"] if one_column else [short(p) for p in result.param_names]
    rows = top_rows(result, metric_columns, one_column=one_column)
    merged = any(row[-1] for row in rows)  # the "same book as" column only when a shown book has several combos
    headers = ["#", *params, *metric_columns, *([SAME_AS] if merged else [])]
    print_table(
        f"Top {min(study.top, result.books)} of {result.books:,} distinct books ({len(result.frame):,} combos) "
        f"by {study.metric} ({outcome.series}, {result.bars:,} bars)",
        headers,
        [row if merged else row[:-1] for row in rows],
        right=["#", *metric_columns],
        drop=metric_columns[:0:-1],
    )
    say(
        f"{len(result.frame):,} combos x {result.bars:,} bars in {result.seconds:.3f} s "
        f"({result.bar_steps_per_second / 1e6:,.1f} M bar-steps/s, {result.executor}, {result.workers} "
        f"worker(s); setup {result.setup_seconds:.2f} s)"
    )
    if outcome.walkforward is not None:
        _print_walkforward(outcome.walkforward)
    books = outcome.summary["reference_books"]
    print_table(
        "Out-of-sample against in-sample best and untuned default",
        ["book", "span", *HEADLINE],
        [[b["name"], f"{b['start'][:10]}..{b['end'][:10]}", *(cell(b[m]) for m in HEADLINE)] for b in books],
        right=list(HEADLINE),
        legend="\n".join(
            textwrap.fill(f"{b['name']}: {compact(b['params'])}", width=80, subsequent_indent="  ")
            for b in books
            if b["params"] is not None
        ),
    )
    stdout.print(f"results: {outcome.run_dir}", highlight=False)


def _run(
    obj: CliContext,
    study_file: Path,
    metric: str | None,
    drawer: HeatmapProcess,
    executor: str,
    scheduler: str | None,
    workers: int | None,
    walk: bool | None,
    results_dir: Path,
) -> SweepOutcome:
    """Plan and run the sweep with a progress display; ``drawer`` ends at once when the study is no grid."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from carryguard.backtests.sweep.service import plan_sweep, run_sweep_study

    plan = plan_sweep(study_file)  # a mistake in the file: exit 1 naming it, before any work
    if plan.study.search != "grid":
        drawer.cancel()
    if metric is not None:
        plan = replace(plan, study=replace(plan.study, settings=replace(plan.study.settings, metric=metric)))
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=False, disable=not stderr.is_terminal) as progress:

        def track(name: str, total: int) -> Callable[[int], None]:
            task = progress.add_task(name, total=total)
            return lambda n: progress.advance(task, n)

        return run_sweep_study(
            plan,
            obj.store,
            results_dir=results_dir,
            executor=executor,
            workers=workers,
            scheduler=scheduler,
            walk=walk,
            track=track,
            drawer=drawer,
        )


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
