"""Time ``carryguard report`` on a run folder, per stage (wall and CPU of this process).

    python benchmarks/bench_report.py RUN_DIR

The PNG charts are drawn in a second process while this one runs the bootstrap, the
tearsheets and the interactive charts; the last stage ("PNG charts") is the wait for it.
"""

from __future__ import annotations

import sys
import time
from itertools import pairwise

from carryguard.backtests.report.html import write_report


def main() -> None:
    marks: list[tuple[str, float, float]] = []

    def step(stage: str) -> None:
        marks.append((stage, time.perf_counter(), time.process_time()))

    started, cpu = time.perf_counter(), time.process_time()
    report = write_report(sys.argv[1], progress=step)
    marks.append(("done", time.perf_counter(), time.process_time()))
    for (stage, wall, used), (_, next_wall, next_used) in pairwise(marks):
        print(f"{stage:<20} {next_wall - wall:6.2f} s wall {next_used - used:6.2f} s CPU")
    print(f"{'total':<20} {marks[-1][1] - started:6.2f} s wall {marks[-1][2] - cpu:6.2f} s CPU (this process)")
    print(f"wrote {report.html} ({report.html.stat().st_size / 1e6:.1f} MB) and {len(report.charts)} PNGs")


if __name__ == "__main__":
    main()
