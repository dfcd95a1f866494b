"""The sweep_sma_4h study: bar-steps per second (combos x bars / seconds) and peak memory; prints figures.

    python benchmarks/bench_sweep.py [--data-dir DIR] [--workers N] [--repeat N] [--executor local|dask]

Without --data-dir the publisher CSVs of ../shared/data are imported into a temporary
store first (not timed). Each repeat is a full ``run_sweep`` of
``backtests/studies/sweep_sma_4h.toml`` (every combo on the whole BTC/USDT 4h history,
metrics included); its ``seconds`` exclude data loading, worker start and JIT warm-up,
which are printed separately. Peak memory is the resident set size high-water mark
(``getrusage``) of this process and of the largest worker process (local processes, or
the Dask LocalCluster's worker processes); forked workers share the parent's pages, so
parent + workers x largest worker is an upper bound of the total.

When vectorbt is importable (optional, not a dependency), the same grid runs through it
in the same process right after, with the same bars, costs and timing (exposure 1 while
the fast SMA is above the slow one, decided at the close, filled at the next open; total
return, Sharpe ratio and max drawdown per pair), in chunks of 500 pairs so its frames stay
small, after a JIT warm-up on a short slice; the ratio of the two rates is printed.
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import statistics
import tempfile
import time
from pathlib import Path

from carryguard.backtests.sweep.chunk import combos_warmup, load_history
from carryguard.backtests.sweep.evaluate import run_sweep
from carryguard.backtests.sweep.study import combos, load_sweep_study
from carryguard.signals.importer import import_directory
from carryguard.signals.store import Store

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
STUDY = REPO / "backtests" / "studies" / "sweep_sma_4h.toml"


def measure(store: Store, *, workers: int | None, repeat: int, executor: str) -> None:
    study = load_sweep_study(STUDY)
    started = time.perf_counter()
    todo = combos(study)
    history = load_history(store, study, warmup=combos_warmup(study, todo))
    load_seconds = time.perf_counter() - started
    runs = [
        run_sweep(study, bars=history.bars, first=history.first, combos=todo, workers=workers, executor=executor)
        for _ in range(repeat)
    ]
    seconds = [r.seconds for r in runs]
    rates = [r.bar_steps_per_second for r in runs]
    last = runs[-1]
    steps = len(todo) * last.bars
    print(
        f"{study.name}: {len(todo):,} combos x {last.bars:,} bars = {steps / 1e6:,.1f} M bar-steps "
        f"({executor}, {last.workers} worker(s), {repeat} repeats)"
    )
    print(
        f"data load {load_seconds:.2f} s; "
        f"worker start + JIT warm-up {statistics.median(r.setup_seconds for r in runs):.2f} s"
        " (median, not in the rate)"
    )
    print(f"sweep seconds: best {min(seconds):.3f}, median {statistics.median(seconds):.3f}")
    print(
        f"bar-steps per second: best {max(rates) / 1e6:,.1f} M, median {statistics.median(rates) / 1e6:,.1f} M "
        f"(issue 15 target: >= 100 M on 2 cores)"
    )
    best = last.best()
    print(f"best by {study.metric}: {best['params']} -> {best['metrics'][study.metric]:.3f}")
    if importlib.util.find_spec("vectorbt") is None:
        print("vectorbt not installed: no comparison (pip install vectorbt to add it)")
    else:
        vbt_seconds = vectorbt_seconds(history.bars.iloc[history.first :], todo, study.execution, repeat=repeat)
        vbt_rate = steps / vbt_seconds
        print(
            f"vectorbt on the same grid: {vbt_seconds:.3f} s (best of {repeat}), {vbt_rate / 1e6:,.1f} M bar-steps/s; "
            f"carryguard is {max(rates) / vbt_rate:,.1f}x faster (best vs best)"
        )
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    bound = parent + last.workers * child
    print(
        f"peak RSS: this process {parent:,.0f} MB, largest worker {child:,.0f} MB; "
        f"total <= {bound:,.0f} MB (target < 2,048 MB)"
    )


def vectorbt_seconds(bars, todo: list[dict], execution, *, repeat: int, chunk: int = 500) -> float:  # type: ignore[no-untyped-def]
    """Best of ``repeat`` seconds for vectorbt to run every (fast, slow) pair of ``todo``."""
    import numpy as np
    import pandas as pd
    import vectorbt as vbt

    close, open_ = bars["close"], bars["open"]

    def run(close: pd.Series, open_: pd.Series, pairs: list[dict]) -> None:
        fast = vbt.MA.run(close, window=[p["fast"] for p in pairs], short_name="fast")
        slow = vbt.MA.run(close, window=[p["slow"] for p in pairs], short_name="slow")
        held = fast.ma_above(slow).to_numpy()
        held = np.vstack([np.zeros((1, held.shape[1]), dtype=bool), held[:-1]])  # decided at t, filled at t+1
        portfolio = vbt.Portfolio.from_signals(
            close.to_numpy()[:, None],
            entries=held,
            exits=~held,
            price=open_.to_numpy()[:, None],
            fees=execution.commission,
            slippage=execution.slippage,
            init_cash=execution.cash,
            freq="4h",
        )
        portfolio.total_return()
        portfolio.sharpe_ratio()
        portfolio.max_drawdown()

    run(close.iloc[:600], open_.iloc[:600], todo[:4])  # JIT warm-up, not timed
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        for at in range(0, len(todo), chunk):
            run(close, open_, todo[at : at + chunk])
        timings.append(time.perf_counter() - started)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, help="an existing store (default: import ../shared/data to a temp dir)"
    )
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--executor",
        choices=("local", "dask"),
        default="local",
        help="dask: a LocalCluster on 127.0.0.1 with --workers processes",
    )
    args = parser.parse_args()
    if args.data_dir:
        measure(Store(args.data_dir), workers=args.workers, repeat=args.repeat, executor=args.executor)
        return
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        import_directory(Store(tmp), SHARED_DATA)
        measure(Store(tmp), workers=args.workers, repeat=args.repeat, executor=args.executor)


if __name__ == "__main__":
    main()
