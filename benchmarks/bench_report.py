"""Time ``carryguard report`` on a run folder: per stage in this process, then as a whole command.

    python benchmarks/bench_report.py RUN_DIR [--runs 3]

Per stage: wall and CPU of this process (the PNG charts are drawn by a forked second process
while this one runs the bootstrap, the tearsheets and the interactive charts; in the last stage,
"PNG charts", this process draws the charts the child has not started and waits for it; the
child's CPU is printed on its own line). Then each PNG chart drawn once more in this process, its
CPU split into building the figure and rendering + encoding the PNG. Then RUNS whole
``carryguard report RUN_DIR`` processes (after the in-process run has warmed numba's cache):
wall, user+sys CPU of the process and its children, min/median/max, and the load average,
since timings on a busy machine are inflated (the target is <= 8 s wall on a quiet 2-core box).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from itertools import pairwise

from carryguard.backtests.report.charts import chart_jobs
from carryguard.backtests.report.html import write_report
from carryguard.backtests.run.folder import load_run


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stages(run_dir: str) -> None:
    """Per-stage wall and CPU of ``write_report`` in this process."""
    marks: list[tuple[str, float, float]] = []

    def step(stage: str) -> None:
        marks.append((stage, time.perf_counter(), time.process_time()))

    started, cpu, children = time.perf_counter(), time.process_time(), _children_cpu()
    report = write_report(run_dir, progress=step)
    marks.append(("done", time.perf_counter(), time.process_time()))
    for (stage, wall, used), (_, next_wall, next_used) in pairwise(marks):
        print(f"{stage:<20} {next_wall - wall:6.2f} s wall {next_used - used:6.2f} s CPU")
    print(f"{'total':<20} {marks[-1][1] - started:6.2f} s wall {marks[-1][2] - cpu:6.2f} s CPU (this process)")
    print(f"{'PNG process':<20} {'':13} {_children_cpu() - children:6.2f} s CPU")
    print(f"wrote {report.html} ({report.html.stat().st_size / 1e6:.1f} MB) and {len(report.charts)} PNGs")


def charts(run_dir: str) -> None:
    """CPU of each PNG chart in this process (warm): building the figure, then the PNG."""
    run = load_run(run_dir)
    total = 0.0
    for job in chart_jobs(run):
        started = time.process_time()
        chart = job.draw(run)
        built = time.process_time()
        chart.png()
        done = time.process_time()
        total += done - started
        print(f"chart {job.slug:<26} {built - started:5.2f} s build {done - built:5.2f} s PNG (CPU)")
    print(f"{'charts':<32} {total:5.2f} s CPU in all")


def whole(run_dir: str, runs: int) -> None:
    """``carryguard report RUN_DIR`` as a whole process, ``runs`` times."""
    walls, cpus = [], []
    for _ in range(runs):
        before, started = _children_cpu(), time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "carryguard.backtests.cli", "report", run_dir],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        walls.append(time.perf_counter() - started)
        cpus.append(_children_cpu() - before)
    for name, values in (("wall", walls), ("user+sys CPU", cpus)):
        print(
            f"carryguard report, {name:<13} min {min(values):6.2f}  median {statistics.median(values):6.2f}  "
            f"max {max(values):6.2f} s  ({runs} runs)"
        )
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} (target: <= 8 s wall, quiet 2-core box)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("--runs", type=int, default=3, help="whole-process runs (default 3)")
    args = parser.parse_args()
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    stages(args.run_dir)
    charts(args.run_dir)
    whole(args.run_dir, args.runs)


if __name__ == "__main__":
    main()
