"""Time and memory of importing one large, valid publisher file; prints figures.

    python benchmarks/bench_import.py [--rows 2000000] [--keep DIR]

Writes a Binance-style OHLCV CSV of ``--rows`` one-minute bars (from 2019-01-01), then
runs ``carryguard data import FILE`` into an empty store in a child process, twice: a
new series, then the same file again (merge against the stored series). Figures: wall
seconds and the child's peak resident memory (MB) for each. Issue 16's target for 2M
rows: under 15 s and 600 MB.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
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


def run_import(store: Path, file: Path) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MB) and exit code of one ``data import`` child process."""
    cli = Path(sys.executable).parent / "carryguard"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run([str(cli), "--data-dir", str(store), "data", "import", str(file)], capture_output=True)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if done.returncode:
        print(done.stderr.decode().strip()[-500:])
    return seconds, max(peak, before) / 1024, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--keep", type=Path, help="write the CSV and store here instead of a temp dir")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        file = root / "btcusdt_1m_binance.csv"
        started = time.perf_counter()
        write_file(file, args.rows)
        print(f"wrote {args.rows:,} rows ({file.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f} s")
        for label in ("new series", "same file again (merge)"):
            seconds, peak_mb, code = run_import(root / "store", file)
            print(f"import {label:<24} {seconds:6.1f} s  peak RSS {peak_mb:6.0f} MB  exit {code}")


if __name__ == "__main__":
    main()
