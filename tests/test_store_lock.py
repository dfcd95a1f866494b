"""Concurrent writers of one series: every writer's rows survive (the per-series OS lock)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd

from carryguard.signals.store import Store

REPO = Path(__file__).resolve().parents[1]
WRITERS = 6
ROWS = 400

# One "fetcher": merges its own slice of daily bars through store_update, as `data fetch` does.
FETCHER = textwrap.dedent(
    """
    import sys
    import numpy as np, pandas as pd
    from carryguard.signals.frames import OHLCV_COLUMNS
    from carryguard.signals.sources.update import store_update
    from carryguard.signals.store import SeriesMeta, Store

    root, start, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
    index = pd.date_range(start, periods=rows, freq="1D", tz="UTC", name="time", unit="ns")
    close = 100.0 + np.arange(rows)
    frame = pd.DataFrame({"open": close, "high": close + 1, "low": close - 1, "close": close,
                          "volume": 1.0}, index=index)
    meta = SeriesMeta(id="binance/BTC-USDT/1d", kind="ohlcv", source="ccxt", publisher="test",
                      symbol="BTC/USDT", fields=OHLCV_COLUMNS, units="USDT", frequency="1d",
                      availability="bar_close", timeframe="1d")
    store_update(Store(root), frame, meta)
    """
)

LOCK_HOLDER = textwrap.dedent(
    """
    import sys, time
    from carryguard.signals.store import Store
    with Store(sys.argv[1]).lock("binance/BTC-USDT/1d"):
        print("locked", flush=True)
        time.sleep(600)
    """
)


def binance_csv(path: Path, start: str, rows: int) -> None:
    """A Binance-style export of ``rows`` daily bars (+1 still-open bar the importer drops)."""
    index = pd.date_range(start, periods=rows + 1, freq="1D", tz="UTC")
    close = 100.0 + np.arange(rows + 1)
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [f"{t:%Y-%m-%d},{c},{c + 1},{c - 1},{c},1" for t, c in zip(index, close, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def test_store_given_concurrent_importers_and_fetchers_on_one_series_keeps_union_of_rows(tmp_path: Path) -> None:
    # Arrange: a long stored series (each merge takes a while), then six writers of disjoint
    # 400-day slices of it; half import files, half fetch
    root = tmp_path / "store"
    history = subprocess.run(
        [sys.executable, "-c", FETCHER, str(root), "1800-01-01", "70000"], cwd=REPO, capture_output=True, text=True
    )
    assert history.returncode == 0, history.stderr
    starts = [pd.Timestamp("2001-01-01") + pd.Timedelta(days=ROWS * 2 * i) for i in range(WRITERS)]
    procs = []
    env = {**os.environ, "CARRYGUARD_DATA_DIR": str(root)}
    for i, start in enumerate(starts):
        if i % 2:
            cmd = [sys.executable, "-c", FETCHER, str(root), start.strftime("%Y-%m-%d"), str(ROWS)]
        else:
            folder = tmp_path / f"in{i}"
            folder.mkdir()
            binance_csv(folder / "btcusdt_1d_binance.csv", start.strftime("%Y-%m-%d"), ROWS)
            cmd = [str(Path(sys.executable).parent / "carryguard"), "data", "import", str(folder)]
        procs.append(subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    # Act
    results = [(p.wait(timeout=300), p.stderr.read().decode()) for p in procs]
    # Assert: every writer succeeded and every writer's rows are stored
    assert all(code == 0 for code, _ in results), results
    stored = Store(root).read("binance/BTC-USDT/1d")
    expected = pd.date_range("1800-01-01", periods=70_000, freq="1D", tz="UTC")
    for start in starts:
        expected = expected.union(pd.date_range(start, periods=ROWS, freq="1D", tz="UTC"))
    assert len(stored) == 70_000 + WRITERS * ROWS
    assert stored.index.equals(expected.as_unit("ns").rename("time"))


def test_store_lock_given_holder_killed_with_sigkill_is_released(tmp_path: Path) -> None:
    # Arrange: another process holds the series lock, then dies by kill -9
    holder = subprocess.Popen(
        [sys.executable, "-c", LOCK_HOLDER, str(tmp_path)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "locked"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    # Act: a writer in a child process (so a never-released lock cannot hang the test run)
    writer = subprocess.Popen(
        [sys.executable, "-c", FETCHER, str(tmp_path), "2020-01-01", "10"], cwd=REPO, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 120
    while writer.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if writer.poll() is None:
        writer.kill()
    # Assert
    assert writer.returncode == 0, writer.stderr.read().decode()
    assert len(Store(tmp_path).read("binance/BTC-USDT/1d")) == 10
