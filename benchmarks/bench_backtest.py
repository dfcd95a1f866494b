"""Time the default backtest study (and a 4h variant) on the real data; prints figures.

    python benchmarks/bench_backtest.py [--engine backtrader|fast] [--data-dir DIR]

Without --data-dir the publisher CSVs of ../shared/data are imported into a temporary
store first (not timed). Figures: wall seconds for the whole study (risk index, targets,
engine, metrics), engine-only seconds, and bars per second (bars x books / seconds).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench_support import SHARED_DATA, TIMED_ENGINE, engine_seconds

from carryguard.backtests.run.narrow import narrow
from carryguard.backtests.run.runner import ENGINES, RunResult, run_study
from carryguard.backtests.run.study import load_study
from carryguard.signals.importer import import_directory
from carryguard.signals.store import Store


def measure(label: str, study, store: Store, engine: str) -> None:
    bars_done = 0

    def count(result: RunResult) -> None:
        nonlocal bars_done
        bars_done += len(result.book.equity)

    started = time.perf_counter()
    with engine_seconds(engine) as spent:
        run = run_study(study, store, engine=TIMED_ENGINE, on_result=count)
        engine_time = spent()
    seconds = time.perf_counter() - started
    books = len(run.results)
    print(
        f"{label}: {books} books, {bars_done:,} book-bars, {seconds:.2f} s total "
        f"({bars_done / seconds:,.0f} bars/s), engine {engine_time:.2f} s "
        f"({bars_done / engine_time:,.0f} bars/s, {engine_time / books * 1000:.0f} ms/book)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", default="backtrader", choices=sorted(ENGINES))
    parser.add_argument(
        "--data-dir", type=Path, help="an existing store (default: import ../shared/data to a temp dir)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        if args.data_dir is None:
            import_directory(Store(tmp), SHARED_DATA)
        store = Store(args.data_dir or tmp)
        study = load_study()
        print(f"engine={args.engine}")
        measure("default study (1d, BTC+ETH, 2018->latest, every strategy x overlay)", study, store, args.engine)
        four_hour = narrow(study, symbols=("BTC/USDT",), timeframes=("4h",))
        measure("same on BTC/USDT 4h", four_hour, store, args.engine)


if __name__ == "__main__":
    main()
