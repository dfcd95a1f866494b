"""Time writing the default study's run folder (``write_results``) and loading it back.

    python benchmarks/bench_write.py [--data-dir DIR] [--repeat 5]

Runs the default study once on the fast engine (not timed), then writes its run folder
``--repeat`` times and loads each back with ``load_run``; prints min/median of both and
the folder's size. Without --data-dir the CSVs of ../shared/data are imported into a
temporary store first (not timed).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from importlib.resources import files
from pathlib import Path

from carryguard.backtests.run.folder import load_run
from carryguard.backtests.run.runner import run_study
from carryguard.backtests.run.study import load_study
from carryguard.backtests.run.write import write_results
from carryguard.signals.importer import import_directory
from carryguard.signals.store import Store

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(args.data_dir or Path(tmp) / "store")
        if args.data_dir is None:
            import_directory(store, SHARED_DATA)
        study = load_study(Path(str(files("carryguard.backtests.studies") / "carry_unwind.toml")))
        run = run_study(study, store, engine="fast")
        writes, loads = [], []
        for _ in range(args.repeat):
            started = time.perf_counter()
            folder = write_results(run, Path(tmp) / "results")
            writes.append(time.perf_counter() - started)
            started = time.perf_counter()
            load_run(folder)
            loads.append(time.perf_counter() - started)
        size = sum(p.stat().st_size for p in folder.iterdir())
        names = ", ".join(sorted(p.name for p in folder.iterdir()))
        print(f"books: {len(run.results)}; folder: {size / 1e6:.1f} MB ({names})")
        print(f"write_results: min {min(writes):.3f} s, median {statistics.median(writes):.3f} s")
        print(f"load_run:      min {min(loads):.3f} s, median {statistics.median(loads):.3f} s")


if __name__ == "__main__":
    main()
