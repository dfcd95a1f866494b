"""Time and memory of importing one large, valid publisher file; prints figures.

    python benchmarks/bench_import.py [--rows 2000000] [--keep DIR]

Writes a Binance-style OHLCV CSV of ``--rows`` one-minute bars (from 2019-01-01; with
``--keep`` a CSV already there is reused), then runs ``carryguard data import FILE`` into
an empty store in a child process, twice: a new series, then the same file again (merge
against the stored series). Figures for each child: wall seconds, CPU seconds (user +
sys), peak resident memory (MB), and the 1-minute load average before it started (on
a busy machine wall time exceeds CPU time). Issue 16's target for 2M rows: under 15 s
and 600 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


def write_file(path: Path, rows: int) -> None:
    """``rows`` closed one-minute bars plus the still-open one the importer drops."""
    rng = np.random.default_rng(16)
    index = pd.date_range("2019-01-01", periods=rows + 1, freq="1min", tz="UTC")
    close = 10_000 * np.exp(np.cumsum(rng.normal(0, 5e-4, rows + 1)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 1e-3, rows + 1))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 1e-3, rows + 1))
    frame = pd.DataFrame(
        {"open": open_, "high": high, "low": low, "close": close, "volume": rng.uniform(0, 50, rows + 1)},
        index=pd.Index(index.strftime("%Y-%m-%d %H:%M:%S"), name="timestamp"),
    )
    frame.to_csv(path, float_format="%.6f")


@dataclass(frozen=True)
class Figures:
    """One child process: wall and CPU seconds, peak RSS (MB), exit code, stderr tail."""

    wall: float
    cpu: float
    peak_mb: float
    code: int
    stderr: str


def run_import(store: Path, file: Path) -> Figures:
    """Run one ``data import`` child process and measure it (its own rusage, from wait4)."""
    cli = Path(sys.executable).parent / "carryguard"
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(
            [str(cli), "--data-dir", str(store), "data", "import", str(file)], stdout=subprocess.DEVNULL, stderr=err
        )
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        err.seek(0)
        stderr = err.read().decode(errors="replace").strip()
    return Figures(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, child.returncode, stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--keep", type=Path, help="write the CSV and store here instead of a temp dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        file = root / "btcusdt_1m_binance.csv"
        if args.keep and file.is_file():
            print(f"reusing {file} ({file.stat().st_size / 1e6:.0f} MB)")
        else:
            started = time.perf_counter()
            write_file(file, args.rows)
            seconds = time.perf_counter() - started
            print(f"wrote {args.rows:,} rows ({file.stat().st_size / 1e6:.0f} MB) in {seconds:.1f} s")
        shutil.rmtree(root / "store", ignore_errors=True)
        for label in ("new series", "same file again (merge)"):
            load = os.getloadavg()[0]
            run = run_import(root / "store", file)
            print(
                f"import {label:<24} {run.wall:5.1f} s wall  {run.cpu:5.1f} s cpu  peak RSS {run.peak_mb:4.0f} MB  "
                f"load {load:4.1f}  exit {run.code}"
            )
            if run.code:
                print(run.stderr[-500:])


if __name__ == "__main__":
    main()
