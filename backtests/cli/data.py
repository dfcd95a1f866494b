"""``carryguard data import|list`` (and ``fetch``): get series into the local store."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import TYPE_CHECKING

import click

from carryguard.backtests.cli.console import print_json, print_table, stderr, stdout
from carryguard.backtests.cli.options import UTC_TIME, list_option
from carryguard.backtests.cli.risk import warm_cache

if TYPE_CHECKING:
    import pandas as pd

    from carryguard.backtests.cli import CliContext
    from carryguard.signals.store import SeriesMeta


def show_traceback(obj: CliContext, exc: BaseException | None) -> None:
    """With ``--debug``, the traceback behind a per-file or per-source error line."""
    if obj.debug and exc is not None:
        traceback.print_exception(exc)


@click.group("data")
def data() -> None:
    """Import, fetch and list the stored series."""


@data.command("import")
@click.argument("folder", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--allow-fewer-fields",
    is_flag=True,
    help="Accept a file lacking a field (MOF tenor) the stored series has; its cells stay empty.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON list: file, series, first, last, rows, gaps, flags."
)
@click.pass_obj
def import_cmd(obj: CliContext, folder: Path, allow_fewer_fields: bool, as_json: bool) -> None:
    """Store every publisher CSV in FOLDER and its subfolders (MOF, FRED, Yahoo, Binance
    klines and funding, CFTC COT, OHLCV, close tables).

    FOLDER may also be one CSV file. Yahoo's all-'null' rows are skipped with a note; a
    daily series whose close equals its open on most rows of a year is flagged (note).
    Each file is imported all-or-nothing; a rejected file is named with the reason and
    the exit code is 1; a file of no known format is skipped with a note. The latest
    risk reading is then computed and kept, so `carryguard risk` answers at once.

    \b
    Examples:
      carryguard data import ../shared/data
      carryguard data import ../shared/data/fred_DGS10.csv
      carryguard data import ../shared/data --json
    """
    from carryguard.signals.errors import DataError
    from carryguard.signals.importer import import_directory, import_file

    outcomes = (
        [import_file(obj.store, folder, allow_fewer_fields=allow_fewer_fields)]
        if folder.is_file()
        else import_directory(obj.store, folder, allow_fewer_fields=allow_fewer_fields)
    )
    if folder.is_file() and outcomes[0].skipped:  # asked for by name: not knowing its format is an error
        raise DataError(f"{folder}: {outcomes[0].skipped}", fix="pass a publisher CSV file or a folder of them")
    rows = []
    for outcome in outcomes:
        for meta in outcome.stored:
            rows.append(
                (
                    outcome.path.name,
                    meta.id,
                    meta.first[:10],
                    meta.last[:10],
                    meta.rows,
                    len(meta.gaps),
                    len(meta.flags),
                )
            )
        for note in outcome.notes:
            stderr.print(f"note: {note}", highlight=False)
        if outcome.skipped:
            stderr.print(f"skipped {outcome.path}: {outcome.skipped}", highlight=False)
    if as_json:
        names = ("file", "series", "first", "last", "rows", "gaps", "flags")
        print_json([dict(zip(names, row, strict=True)) for row in rows])
    elif rows:
        print_table(
            f"Imported into {obj.store.root}",
            ["file", "series", "first", "last", "rows", "gaps", "flags"],
            rows,
            right=["rows", "gaps", "flags"],
        )
    else:
        stdout.print(f"nothing imported into {obj.store.root}", highlight=False)
    if rows:
        warm_cache(obj.store)
    failed = [o for o in outcomes if o.error]
    for outcome in failed:
        show_traceback(obj, outcome.exception)
        click.echo(f"error: {outcome.error}", err=True)
    if failed:
        raise SystemExit(1)


@data.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
@click.pass_obj
def list_cmd(obj: CliContext, as_json: bool) -> None:
    """One row per stored series: id, source, first, last, rows, gaps, fetched_at.

    A series file that cannot be read is named on stderr (exit 1) after the others.

    \b
    Examples:
      carryguard data list
      carryguard data list --json
    """
    from carryguard.signals.errors import DataError

    metas: list[SeriesMeta] = []
    unreadable: list[DataError] = []
    for sid in obj.store.ids():
        try:
            metas.append(obj.store.meta(sid))
        except DataError as exc:
            unreadable.append(exc)
    records = [
        {
            "id": m.id,
            "source": m.source,
            "publisher": m.publisher,
            "first": m.first,
            "last": m.last,
            "rows": m.rows,
            "gaps": len(m.gaps),
            "flags": len(m.flags),
            "fetched_at": m.fetched_at,
            "availability": m.availability,
        }
        for m in metas
    ]
    if as_json:
        print_json(records)
    elif not records:
        stdout.print(f"no series in {obj.store.root}; run `carryguard data import DIR` or `carryguard data fetch`")
    else:
        print_table(
            f"Series in {obj.store.root}",
            ["id", "source", "first", "last", "rows", "gaps", "fetched_at"],
            [(m.id, m.source, m.first[:16], m.last[:16], m.rows, len(m.gaps), m.fetched_at) for m in metas],
            right=["rows", "gaps"],
        )
    for error in unreadable:
        show_traceback(obj, error)
        click.echo(f"error: {error}", err=True)
    if unreadable:
        raise SystemExit(1)


def fetch_status(record: dict) -> str:
    """``failed``, ``no data`` (the source had no closed bar since the start) or ``ok``."""
    return "failed" if record["error"] else ("no data" if not record["rows"] else "ok")


@data.command("fetch")
@click.option("--exchange", default="binance", show_default=True, help="ccxt exchange id.")
@list_option(
    "--symbol",
    "symbols",
    aliases=["--symbols"],
    default=("BTC/USDT", "ETH/USDT"),
    show_default=True,
    metavar="BASE/QUOTE",
    help="Market symbol.",
)
@list_option(
    "--timeframe", "timeframes", aliases=["--timeframes"], default=("1d", "4h"), show_default=True, help="Bar length."
)
@click.option(
    "--since",
    type=UTC_TIME,
    default=None,
    help="Start of series not stored yet (default: 2017-01-01 for bars, all history for Yahoo).",
)
@click.option(
    "--macro/--no-macro",
    default=True,
    show_default=True,
    help="Also fetch MOF JGB, FRED DEXJPUS/DGS10/DGS2/VIXCLS/DEXUSAL, Yahoo JPY=X/AUDJPY=X, "
    "CFTC COT yen positions and Binance BTC/USDT perpetual funding.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of what each source added.")
@click.pass_obj
def fetch_cmd(
    obj: CliContext,
    exchange: str,
    symbols: tuple[str, ...],
    timeframes: tuple[str, ...],
    since: pd.Timestamp | None,
    macro: bool,
    as_json: bool,
) -> None:
    """Download new bars and macro series from the internet into the store.

    Stored series continue from their last bar (re-fetched, so a bar stored while still
    open is replaced); the bar still open now is never stored. Each source is written
    once after a complete download; a failed source is named, the others are still
    fetched, and the exit code is 1. The latest risk reading is then computed and kept,
    so a bot's next `carryguard risk --json` answers at once. Base URLs can be pointed elsewhere with
    CARRYGUARD_<EXCHANGE>_URL, CARRYGUARD_MOF_URL, CARRYGUARD_FRED_URL, CARRYGUARD_YAHOO_URL,
    CARRYGUARD_CFTC_URL and CARRYGUARD_BINANCEUSDM_URL (funding rates).

    \b
    Examples:
      carryguard data fetch                                  # Binance BTC+ETH 1d/4h and macro
      carryguard data fetch --symbol BTC/USDT --timeframe 1d --no-macro
      carryguard data fetch --exchange bybit --since 2021-01-01 --no-macro
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from carryguard.signals.availability import timeframe_delta
    from carryguard.signals.errors import SourceError
    from carryguard.signals.fetch import FetchPlan, plan_jobs, run_jobs

    for timeframe in timeframes:  # a usage error before any network call, as in `backtest`
        try:
            timeframe_delta(timeframe)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--timeframe") from None
    plan = FetchPlan(
        exchange=exchange,
        symbols=symbols,
        timeframes=timeframes,
        macro=macro,
        carry=macro,
        since=since,
    )
    jobs = plan_jobs(obj.store, plan)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=stderr, transient=True, disable=not stderr.is_terminal) as progress:
        task = progress.add_task("fetching", total=len(jobs))
        current = {"label": ""}

        def on_start(job) -> None:
            current["label"] = job.label
            progress.update(task, description=job.label)

        outcomes = run_jobs(
            jobs,
            on_start=on_start,
            on_status=lambda text: progress.update(task, description=f"{current['label']}: {text}"),
            on_done=lambda outcome: progress.advance(task),
        )
    records = [  # a failed source gained nothing and its stored state is not reported: null, not 0
        {
            "source": o.label,
            "series": o.result.series if o.result else None,
            "added": o.result.added if o.result else None,
            "rows": o.result.rows if o.result else None,
            "last": o.result.last if o.result else None,
            "error": o.error,
        }
        for o in outcomes
    ]
    if as_json:
        print_json(records)
    else:
        print_table(
            f"Fetched into {obj.store.root}",
            ["source", "series", "new rows", "rows", "last", "status"],
            [
                (r["source"], r["series"], r["added"], r["rows"], str(r["last"] or "")[:16], fetch_status(r))
                for r in records
            ],
            right=["new rows", "rows"],
        )
    warm_cache(obj.store)
    failed = [o for o in outcomes if o.error]
    for outcome in failed:
        show_traceback(obj, outcome.exception)
    if failed:
        others = f" (+{len(failed) - 1} more: {', '.join(o.label for o in failed[1:])})" if len(failed) > 1 else ""
        raise SourceError(f"{failed[0].label} failed: {failed[0].error}{others}")


commands = [data]
