"""``carryguard trades RUN_DIR``: every round trip of a run, and why each exposure change happened."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from carryguard.backtests.cli.console import print_json, print_table, say
from carryguard.backtests.cli.options import list_option
from carryguard.backtests.cli.paths import RunDir, nearest

if TYPE_CHECKING:
    from carryguard.backtests.run.folder import BookKey


@click.command("trades")
@click.argument("run_dir", type=RunDir("run"))
@list_option(
    "--book",
    "books",
    metavar="NAME",
    help="Only this book: a label (sma_cross+carry), optionally with symbol and timeframe ('sma_cross BTC/USDT 1d').",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of books, each with its round trips.")
def trades(run_dir: Path, books: tuple[str, ...], as_json: bool) -> None:
    """The round trips of each book: entry and exit time and price, return, duration, and the
    cause of every change of exposure (signal, overlay cut / restore, vol rescale, rebalance band).

    \b
    Examples:
      carryguard trades latest --book sma_cross+carry
      carryguard trades results/20260101-120000-carry_unwind --book 'breakout BTC/USDT 1d' --json
    """
    from carryguard.backtests.report.html import number
    from carryguard.backtests.report.trades import find_book, round_trips
    from carryguard.backtests.run.folder import load_run

    run = load_run(run_dir)
    keys: list[BookKey] = []
    for name in books:
        found = find_book(run, name)
        if not found:
            labels = list(dict.fromkeys(key.label for key in run.books))
            raise click.BadParameter(
                f"no book '{name}' in {run_dir}; expected one of {', '.join(labels)}{nearest(name.split()[0], labels)}",
                param_hint="--book",
            )
        keys.extend(k for k in found if k not in keys)
    keys = keys or run.books
    trips_by_book = [(str(key), round_trips(run, key)) for key in keys]
    if as_json:
        print_json([{"book": book, "round_trips": trips} for book, trips in trips_by_book])
        return
    for book, trips in trips_by_book:
        rows = [
            (
                number(trip["entry_time"]),
                number(trip["exit_time"]) if trip["exit_time"] else "open",
                number(trip["entry_price"]),
                number(trip["exit_price"]),
                number(trip["return_pct"], signed=True),
                number(trip["duration_days"], 1),
                trip["entry_cause"],
                trip["exit_cause"],
                ", ".join(trip["resizes"]),
            )
            for trip in trips
        ]
        columns = [
            "entry",
            "exit",
            "entry price",
            "exit price",
            "return %",
            "days",
            "entry cause",
            "exit cause",
            "resizes",
        ]
        print_table(
            f"{book}: {len(rows)} round trips",
            columns,
            rows,
            right=["entry price", "exit price", "return %", "days"],
            drop=["resizes", "entry price", "exit price", "exit cause"],
        )
    say(
        "cause: what changed in the decision behind a fill since the previous fill (signal = the strategy; "
        "overlay cut/restore = the risk multiplier; vol rescale; rebalance band = price drift only)"
    )


commands = [trades]
