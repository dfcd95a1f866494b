"""Time the default study with the overlay controls, and its report; prints figures.

    python benchmarks/bench_overlays.py [--repeat 3] [--data-dir DIR] [--skip-report]

Whole-process wall times (median of ``--repeat`` runs) of ``carryguard backtest`` on the
default study (every strategy x BTC/ETH x the overlays it lists: none, the two controls
and the carry-based policies) with each engine, of the same study restricted to
``none,carry`` (the books of the study before the controls), of ``backtest
--walk-forward`` and of ``carryguard report`` (which now computes the verdict).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
CARRYGUARD = str(Path(sys.executable).parent / "carryguard")  # the venv's entry point


def timed(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Wall seconds of one whole ``carryguard`` process and its stdout's last line."""
    began = time.perf_counter()
    done = subprocess.run([CARRYGUARD, *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"carryguard {' '.join(args)} failed: {done.stderr.strip()}")
    return seconds, done.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, help="a store (default: import ../shared/data into a temp one)")
    parser.add_argument("--skip-report", action="store_true")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        env = dict(os.environ)
        env["CARRYGUARD_DATA_DIR"] = str(options.data_dir or Path(scratch) / "store")
        if options.data_dir is None:
            subprocess.run(
                [CARRYGUARD, "data", "import", str(SHARED_DATA)],
                env=env,
                check=True,
                capture_output=True,
            )
        results = str(Path(scratch) / "results")
        cases = [
            ("default study, --engine fast", ["backtest", "--engine", "fast"]),
            (
                "default study, none,carry only, --engine fast",
                ["backtest", "--engine", "fast", "--overlays", "none,carry"],
            ),
            ("default study, --engine backtrader", ["backtest", "--engine", "backtrader"]),
            ("default study + --walk-forward, --engine fast", ["backtest", "--engine", "fast", "--walk-forward"]),
        ]
        last_run = ""
        print(f"{'command':52} {'median s':>9} {'runs':>5}")
        for label, args in cases:
            times = []
            for _ in range(options.repeat if "backtrader" not in label else 1):
                seconds, line = timed([*args, "--results-dir", results], env)
                times.append(seconds)
                last_run = line.removeprefix("results: ")
            print(f"{label:52} {statistics.median(times):9.2f} {len(times):5d}")
        if not options.skip_report:
            seconds, _ = timed(["report", last_run], env)
            print(f"{'report on the default run (verdict included)':52} {seconds:9.2f} {1:5d}")


if __name__ == "__main__":
    main()
