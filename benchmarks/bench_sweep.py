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
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path

from carryguard.backtests.sweep.evaluate import combos_warmup, load_history, run_sweep
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
        f"(target >= 50 M on 2 cores)"
    )
    best = last.best()
    print(f"best by {study.metric}: {best['params']} -> {best['metrics'][study.metric]:.3f}")
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    bound = parent + last.workers * child
    print(
        f"peak RSS: this process {parent:,.0f} MB, largest worker {child:,.0f} MB; "
        f"total <= {bound:,.0f} MB (target < 2,048 MB)"
    )


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
