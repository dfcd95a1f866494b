"""Captures of the terminal at 80 and 100 columns: backtest, compare, sweep, risk and paper status.

    python benchmarks/captures.py OUT_DIR

Runs, in OUT_DIR/work (its ./results is what `latest` reads), at COLUMNS=80 and 100:
`carryguard backtest` (the default study), `compare latest`, `sweep` of the shipped
sweep_sma_4h study, `risk`, and `paper status` of a paper state file made offline: two
`paper run --once` books against the local Binance emulator of the tests (real 4h bars
from ../shared/data, served on 127.0.0.1). Writes OUT_DIR/<verb>_<columns>.txt (the
command line, then stderr and stdout as printed) and prints each command's wall and CPU
time. Needs the store in $CARRYGUARD_DATA_DIR (`carryguard data import ../shared/data`).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SWEEP_STUDY = str(files("carryguard.backtests") / "studies" / "sweep_sma_4h.toml")
PAPER = ["paper", "run", "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "4h", "--history", "300"]
BOOKS = (["--strategy", "sma_cross", "--overlay", "carry"], ["--strategy", "breakout", "--overlay", "vol_target*carry"])
VERBS = {
    "backtest": ["backtest"],
    "compare": ["compare", "latest"],
    "sweep": ["sweep", SWEEP_STUDY],
    "risk": ["risk"],
    "paper_status": ["paper", "status", "--state", "paper.db"],
}


def run(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], str]:
    """``carryguard ARGS`` in ``cwd``, and its wall and CPU (user+sys of the children) time."""
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    done = subprocess.run(["carryguard", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return done, f"{time.perf_counter() - started:.1f} s wall, {cpu:.1f} s CPU"


def paper_state(work: Path) -> None:
    """work/paper.db: two paper books decided offline against the emulator (the tests' fake Binance)."""
    sys.path.insert(0, str(REPO))
    import pandas as pd

    from tests.fakes.binance import BinanceEmulator
    from tests.paper_support import FIRST_DECISION, STEP, replay_bars

    bars = replay_bars(REPO.parent / "shared" / "data", decisions=24)
    start = FIRST_DECISION + STEP * 17 + pd.Timedelta(seconds=5)
    with BinanceEmulator({("BTCUSDT", "4h"): bars}, now=start) as emulator:
        env = {**os.environ, "CARRYGUARD_BINANCE_URL": emulator.url}
        for book in BOOKS:  # each: a first run (decides the last closed bar), then 4 bars later a second
            for later in (0, 4):
                emulator.set_now(start + STEP * later)
                done, took = run([*PAPER, *book, "--once", "--state", "paper.db"], work, env)
                print(f"paper run {' '.join(book)}: exit {done.returncode}, {took}: {done.stdout.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    out = parser.parse_args().out_dir.resolve()
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    (work / "paper.db").unlink(missing_ok=True)
    paper_state(work)
    print(f"load average {os.getloadavg()[0]:.1f} (1 min) at the start")
    for name, args in VERBS.items():
        for columns in (80, 100):
            done, took = run(args, work, {**os.environ, "COLUMNS": str(columns)})
            text = f"$ COLUMNS={columns} carryguard {' '.join(args)}\n{done.stderr}{done.stdout}"
            (out / f"{name}_{columns}.txt").write_text(text, encoding="utf-8")
            print(f"{name} at {columns} columns: exit {done.returncode}, {took}")
    print(f"captures in {out}; load average {os.getloadavg()[0]:.1f} (1 min) at the end")


if __name__ == "__main__":
    main()
