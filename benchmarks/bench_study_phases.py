"""CPU and wall seconds per phase of the default study (what ``carryguard backtest`` does),
in one process; prints one line per phase and per step of ``run_study``.

    python benchmarks/bench_study_phases.py [--data-dir DIR] [--repeat 3]

Phases: the imports (pandas, numba, the runner), loading the study, the first kernel
call (numba's cache), ``run_study`` (with CPU per step: risk readings, policy paths,
strategy exposures, engine, metrics) and ``write_results``. CPU time (user + system of
this process) is what the machine's load inflates least; run it with another
checkout's interpreter (``/path/to/other/.venv/bin/python benchmarks/bench_study_phases.py``)
for a before/after on the same store. ``--repeat`` runs ``run_study`` and
``write_results`` again (warm) and prints their median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

STEPS = ("risk_at", "yen_moves", "policy_path", "warm_exposure", "compute_metrics")


class Clock:
    """Laps of process CPU and wall time."""

    def __init__(self) -> None:
        self.cpu, self.wall = time.process_time(), time.perf_counter()
        self.start = (self.cpu, self.wall)

    def lap(self, label: str) -> tuple[float, float]:
        cpu, wall = time.process_time(), time.perf_counter()
        took = (cpu - self.cpu, wall - self.wall)
        self.cpu, self.wall = cpu, wall
        print(f"{label:34} cpu {took[0]:6.3f}  wall {took[1]:6.3f}", flush=True)
        return took


def timed(module: Any, name: str, totals: dict[str, float]) -> None:
    """Wrap ``module.name`` so its CPU seconds add up in ``totals[name]``."""
    inner: Callable[..., Any] = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            totals[name] = totals.get(name, 0.0) + time.process_time() - began

    setattr(module, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("CARRYGUARD_DATA_DIR"), help="an imported store")
    parser.add_argument("--repeat", type=int, default=1, help="warm runs of run_study and write_results")
    args = parser.parse_args()
    if not args.data_dir:
        parser.error("--data-dir (or CARRYGUARD_DATA_DIR) is required: a store made by `carryguard data import`")
    clock = Clock()
    import pandas  # noqa: F401

    clock.lap("import pandas")
    import numba  # noqa: F401

    clock.lap("import numba")
    import numpy as np

    from carryguard.backtests.engine import fast
    from carryguard.backtests.run import runner
    from carryguard.backtests.run.study import load_study
    from carryguard.backtests.run.write import write_results
    from carryguard.signals.store import Store

    clock.lap("import runner, fast engine, writer")
    study = load_study(None)
    clock.lap("load_study (default)")
    fast.simulate(np.ones(3), np.ones(3), np.ones(3), 1.0, 0.0, 0.0, 0.0)
    clock.lap("first kernel call (numba cache)")
    totals: dict[str, float] = {}
    for name in STEPS:
        if hasattr(runner, name):
            timed(runner, name, totals)
    store = Store(args.data_dir)
    run = runner.run_study(study, store)
    clock.lap(f"run_study ({len(run.results)} books)")
    for name, seconds in totals.items():
        print(f"  {name:32} cpu {seconds:6.3f}")
    folder = Path(tempfile.mkdtemp(prefix="bench-phases-"))
    write_results(run, folder)
    clock.lap("write_results")
    cpu, wall = time.process_time() - clock.start[0], time.perf_counter() - clock.start[1]
    print(f"{'total (after interpreter start)':34} cpu {cpu:6.3f}  wall {wall:6.3f}")
    if args.repeat > 1:
        warm: dict[str, list[float]] = {"run_study": [], "write_results": []}
        for _ in range(args.repeat):
            began = time.process_time()
            run = runner.run_study(study, store)
            warm["run_study"].append(time.process_time() - began)
            began = time.process_time()
            write_results(run, folder)
            warm["write_results"].append(time.process_time() - began)
        for name, values in warm.items():
            print(f"{name + ' (warm, median)':34} cpu {statistics.median(values):6.3f}")
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
