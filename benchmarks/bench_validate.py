"""Time a full ``risk validate`` (v1 and v2 at two thresholds, three plain rules, yen,
BTC and ETH events, 500 circular shifts each) on 2015 to the latest data (target: < 10 s).

Usage:  python benchmarks/bench_validate.py [DATA_DIR]
DATA_DIR is a store with ../shared/data imported (default: $CARRYGUARD_DATA_DIR, else a
temporary store imported from ../shared/data). Prints the best and median of 3 runs of
each stage: reading the store, the whole validation, and the event study alone.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from bench_support import open_store, timed

from carryguard.signals.pit import MemoryStore
from carryguard.signals.risk import RiskConfig, latest_time
from carryguard.signals.validate import EventRule, study
from carryguard.signals.validate_run import CRYPTO, validate

RUNS = 3


def main(argv: list[str]) -> None:
    cfg, rule = RiskConfig(), EventRule()
    with tempfile.TemporaryDirectory() as scratch:
        store = open_store(argv, Path(scratch), ("mof/jgb", "yahoo/BTC-USD/1d"))
        ids = [*cfg.series_ids(), *(sid for group in CRYPTO.values() for sid in group)]
        read = timed(lambda: MemoryStore.load(store, ids), RUNS)
        memory = read[2]
        start, end = pd.Timestamp("2015-01-01", tz="UTC"), latest_time(memory, cfg)
        full = timed(lambda: validate(memory, cfg, rule, start, end, cfg.thresholds[1:]), RUNS)
        alarm = np.random.default_rng(0).random(len(pd.date_range(start, end))) < 0.1
        starts = np.arange(100, len(alarm) - 100, 150)
        one = timed(lambda: study(alarm, starts, rule), RUNS)
    result = full[2]
    alarms = len(next(iter(result.results.values())))
    print(
        f"validate {start:%Y-%m-%d} .. {end:%Y-%m-%d}: {alarms} alarms x {len(result.events)} event sets, "
        f"{rule.shifts} shifts; best / median of {RUNS} runs"
    )
    for label, (best, median, _) in [
        ("read inputs from the store", read),
        ("full validation (indices, rules, events, nulls)", full),
        ("one alarm x one event set (500 shifts)", one),
    ]:
        print(f"  {label:<50} {best * 1000:8.1f} ms  {median * 1000:8.1f} ms")
    print(f"target: full validation < 10 s -> {'met' if full[0] < 10.0 else 'NOT met'}")


if __name__ == "__main__":
    main(sys.argv)
