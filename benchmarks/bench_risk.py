"""Time the Carry-Unwind Risk Index over its full daily history (target: < 1 s).

Usage:  python benchmarks/bench_risk.py [DATA_DIR]
DATA_DIR is a store with ../shared/data imported (default: $CARRYGUARD_DATA_DIR, else a
temporary store imported from ../shared/data). Prints the best and median of 5 runs for
each stage: reading the store, features (availability keys + components on their own
calendars), score (as-of join + combination), and 4h targets 2017-2026.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pandas as pd
from bench_support import open_store, timed

from carryguard.signals.features import components
from carryguard.signals.pit import MemoryStore
from carryguard.signals.risk import RiskConfig, combine, latest_time, load_inputs, risk_at

RUNS = 5


def main(argv: list[str]) -> None:
    cfg = RiskConfig()
    with tempfile.TemporaryDirectory() as scratch:
        store = open_store(argv, Path(scratch), ("mof/jgb",))
        read = timed(lambda: MemoryStore.load(store, cfg.series_ids()), RUNS)
        memory = read[2]
        days = pd.date_range(pd.Timestamp("1999-01-01", tz="UTC"), latest_time(memory, cfg), freq="D")

        def features():
            inputs = load_inputs(memory, cfg)
            us = {"us10y": inputs["us10y"], "us2y": inputs["us2y"]}
            return inputs, components(inputs["jgb"], inputs["usdjpy"], us, cfg)

        feat = timed(features, RUNS)
        inputs, native = feat[2]
        score = timed(lambda: combine(native, inputs, days, cfg), RUNS)
        total = timed(lambda: risk_at(memory, days, cfg), RUNS)
        bars = pd.date_range(
            pd.Timestamp("2017-08-17 04:00", tz="UTC"), pd.Timestamp("2026-01-06", tz="UTC"), freq="4h"
        )
        four_hour = timed(lambda: risk_at(memory, bars, cfg), RUNS)
        from_disk = timed(lambda: risk_at(store, days, cfg), RUNS)
    print(f"daily history {days[0]:%Y-%m-%d} .. {days[-1]:%Y-%m-%d}: {len(days)} days; best / median of {RUNS} runs")
    for label, (best, median, _) in [
        ("read inputs from the store", read),
        ("features (availability keys + components)", feat),
        ("score (as-of join + combination)", score),
        ("features + score (risk_at, inputs in memory)", total),
        ("risk_at straight from the store (incl. parquet reads)", from_disk),
        (f"risk_at on {len(bars)} 4h bar closes 2017-2026", four_hour),
    ]:
        print(f"  {label:<55} {best * 1000:8.1f} ms  {median * 1000:8.1f} ms")
    print(f"target: features + score < 1000 ms -> {'met' if total[0] < 1.0 else 'NOT met'}")


if __name__ == "__main__":
    main(sys.argv)
