"""Fast engine vs backtrader on SMA cross (20/100), Binance BTC/USDT 4h, whole history; prints figures.

    python benchmarks/bench_fast_vs_backtrader.py [--data-dir DIR] [--repeat N]

Without --data-dir the publisher CSVs of ../shared/data are imported into a temporary
store first (not timed). Both engines get the same bars and target (computed once, not
timed) and are measured in the same run: backtrader once per repeat, the fast engine
as the best of many repeats after JIT warm-up. Figures: seconds per book, bars per
second, and the ratio, for ``run_fast`` end to end (kernel + Book with fills, trades and
pandas series), for the numba kernel alone (``simulate``: per-bar cash, position and
fills) and for the sweep kernel on one book (``batch_stats``: the running sums behind
every metric). Both books are checked to
agree (trades, final equity) before anything is printed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from carryguard.backtests.engine.backtrader import run_backtrader
from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.backtests.engine.fast import ohlc_arrays, run_fast, simulate
from carryguard.backtests.engine.stat_kernels import batch_stats
from carryguard.signals.importer import import_directory
from carryguard.signals.store import Store
from carryguard.strategies.loader import make_strategy

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SERIES = "binance/BTC-USDT/4h"


def best_of(repeat: int, work) -> float:
    """Shortest wall time of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(store: Store, repeat: int) -> None:
    bars = store.read(SERIES)
    target = make_strategy("sma_cross", fast=20, slow=100).target_exposure(bars)
    config = ExecutionConfig()
    open_, close = ohlc_arrays(bars)
    values = target.to_numpy(dtype="float64")
    run_fast(bars, target, config)  # JIT warm-up (or load from numba's cache)

    backtrader_seconds = best_of(max(1, repeat // 20), lambda: run_backtrader(bars, target, config))
    fast_seconds = best_of(repeat, lambda: run_fast(bars, target, config))
    costs = config.costs
    kernel_seconds = best_of(repeat * 10, lambda: simulate(open_, close, values, *costs))
    window = (np.array([0]), np.array([len(bars)]))
    stats_seconds = best_of(
        repeat * 10, lambda: batch_stats(open_, close, bars.index.asi8, values[None, :], *window, costs)
    )

    reference, book = run_backtrader(bars, target, config), run_fast(bars, target, config)
    assert len(reference.trades) == len(book.trades)
    assert np.isclose(reference.equity.iloc[-1], book.equity.iloc[-1], rtol=1e-4)

    n = len(bars)
    print(
        f"{SERIES}, sma_cross 20/100: {n:,} bars, {len(book.trades)} trades, "
        f"final equity {book.equity.iloc[-1]:,.2f} (backtrader {reference.equity.iloc[-1]:,.2f})"
    )
    print(f"backtrader           : {backtrader_seconds * 1e3:10.3f} ms/book  {n / backtrader_seconds:16,.0f} bars/s")
    print(
        f"fast (run_fast, Book): {fast_seconds * 1e3:10.3f} ms/book  {n / fast_seconds:16,.0f} bars/s  "
        f"{backtrader_seconds / fast_seconds:10,.0f}x backtrader"
    )
    print(
        f"fast (kernel only)   : {kernel_seconds * 1e3:10.3f} ms/book  {n / kernel_seconds:16,.0f} bars/s  "
        f"{backtrader_seconds / kernel_seconds:10,.0f}x backtrader"
    )
    print(
        f"fast (sweep kernel)  : {stats_seconds * 1e3:10.3f} ms/book  {n / stats_seconds:16,.0f} bars/s  "
        f"{backtrader_seconds / stats_seconds:10,.0f}x backtrader (one book with every metric's running sums)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, help="an existing store (default: import ../shared/data to a temp dir)"
    )
    parser.add_argument("--repeat", type=int, default=60, help="fast-engine repeats (backtrader: repeat / 20)")
    args = parser.parse_args()
    if args.data_dir:
        measure(Store(args.data_dir), args.repeat)
        return
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        import_directory(Store(tmp), SHARED_DATA)
        measure(Store(tmp), args.repeat)


if __name__ == "__main__":
    main()
