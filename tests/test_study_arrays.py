"""A study run on arrays: books keep arrays and build their frames on use, the metrics and
the run-folder tables read the arrays and equal what the frames give."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from carryguard.backtests.engine.book import Book, fill_arrays, fills_frame, make_book, trades_from_fills
from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.backtests.engine.fast import run_fast
from carryguard.backtests.engine.measures import drawdown_periods
from carryguard.backtests.engine.metrics import compute_metrics
from carryguard.backtests.run.runner import RunResult
from carryguard.backtests.run.write import book_tables

CONFIG = ExecutionConfig(cash=1_000.0, commission=0.001, slippage_bps=5.0, rebalance_band=0.05)


def random_bars(n: int, seed: int, unit: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.03, n)))
    open_ = close * np.exp(rng.normal(0.0, 0.01, n))
    index = pd.date_range("2021-03-01 04:00", periods=n, freq="4h", tz="UTC", name="time").as_unit(unit)
    high, low = np.maximum(open_, close) * 1.01, np.minimum(open_, close) * 0.99
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": 1.0}, index=index)


def targets(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    switching = (rng.random(n) > 0.6).astype(float)
    switching[-5:] = 1.0  # a trade still open at the end
    return {
        "switching": switching,
        "partial": np.round(rng.random(n), 1),
        "flat": np.zeros(n),  # no fill at all
        "held": np.ones(n),
    }


def reference_metrics(book: Book, bars: pd.DataFrame) -> dict[str, object]:
    """The duration and trade metrics as the frames give them (pandas means and maxima)."""
    periods = drawdown_periods(book.equity)
    trades = book.trades
    held = trades["exit_time"] - trades["entry_time"]

    def rounded(value: pd.Timedelta) -> str:
        return str(pd.Timedelta(value).round("s"))

    return {
        "Fees [$]": float(book.fills["fee"].sum()),
        "Avg. Drawdown [%]": float(periods["depth"].mean()) * 100.0 if len(periods) else 0.0,
        "Max. Drawdown Duration": str(pd.Timedelta(periods["length"].max()) if len(periods) else pd.Timedelta(0)),
        "Avg. Drawdown Duration": rounded(periods["length"].mean() if len(periods) else pd.Timedelta(0)),
        "# Trades": len(trades),
        "Max. Trade Duration": rounded(held.max()) if len(trades) else None,
        "Avg. Trade Duration": rounded(held.mean()) if len(trades) else None,
        "Expectancy [%]": float(trades["return_pct"].mean()) if len(trades) else float("nan"),
        "Turnover": float((book.fills["qty"] * book.fills["price"]).sum()) / float(np.mean(book.equity.to_numpy())),
        "Exposure Time [%]": float((book.position.to_numpy() > 0).sum()) / len(bars) * 100.0,
    }


def same(a: object, b: object) -> bool:
    return (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("unit", ["ns", "us", "s"])
def test_compute_metrics_given_books_of_any_time_unit_equals_the_frame_based_values(unit: str) -> None:
    # Arrange: 4h bars (drawdowns and trades of odd lengths, so the mean durations round)
    bars = random_bars(700, seed=3, unit=unit)

    for name, target in targets(len(bars), seed=4).items():
        book = run_fast(bars, pd.Series(target, index=bars.index), CONFIG)

        # Act
        metrics = compute_metrics(book, bars, timeframe="4h")

        # Assert: exactly the frames' values (not approximately)
        for key, expected in reference_metrics(book, bars).items():
            assert same(metrics[key], expected), (unit, name, key, metrics[key], expected)


def test_book_given_fast_engine_frames_equal_the_frames_built_from_its_fills() -> None:
    # Arrange
    bars = random_bars(300, seed=5, unit="ns")
    book = run_fast(bars, pd.Series(targets(300, seed=6)["switching"], index=bars.index), CONFIG)

    # Act
    fills, trades = book.fills, book.trades

    # Assert
    rebuilt = make_book(
        bars, cash=book.cash_values, position=book.position_values, fills=fills, initial_cash=CONFIG.cash
    )
    pd.testing.assert_frame_equal(rebuilt.fills, fills)
    pd.testing.assert_frame_equal(
        trades, trades_from_fills(fills, last_time=bars.index[-1], last_close=bars["close"].iloc[-1])
    )
    assert book.equity.index.equals(bars.index) and book.equity.name == "equity"
    np.testing.assert_array_equal(book.equity.to_numpy(), book.cash_values + book.position_values * bars["close"])
    assert fills["side"].tolist() == ["buy" if q > 0 else "sell" for q in fill_arrays(fills).qty]


def test_fills_frame_given_times_of_a_unit_keeps_it_through_the_arrays() -> None:
    # Arrange
    times = pd.date_range("2024-01-01", periods=2, freq="D", tz="UTC").as_unit("s")
    fills = fills_frame(times, [1.0, -1.0], [10.0, 11.0], [0.1, 0.1])

    # Act
    again = fill_arrays(fills)

    # Assert
    assert again.time.dtype == np.dtype("datetime64[s]")
    pd.testing.assert_frame_equal(again.frame(), fills)


def result(book: Book, strategy: str, overlay: str, sizing: dict[str, np.ndarray]) -> RunResult:
    return RunResult(strategy, "BTC/USDT", "4h", overlay, False, book, sizing, {})


def test_book_tables_given_books_with_and_without_fills_equal_the_books_frames_one_chunk_each() -> None:
    # Arrange: two books sharing one regime array, one with its own, one never filled
    bars = random_bars(200, seed=7, unit="ns")
    shared = np.array(["calm", "stress"] * 100, dtype=object)
    own = np.array(["unwind"] * 200, dtype=object)
    score = np.where(np.arange(200) < 10, np.nan, 0.5)  # missing readings: written as null
    results = []
    for (name, target), regime in zip(targets(200, seed=8).items(), [shared, shared, own, shared], strict=True):
        book = run_fast(bars, pd.Series(target, index=bars.index), CONFIG)
        sizing = {
            "strategy_exposure": target,
            "risk_score": score,
            "regime": regime,
            "multiplier": np.ones(200),
            "vol_scale": np.ones(200),
            "final_exposure": target,
        }
        results.append(result(book, name, "none", sizing))

    # Act
    tables = book_tables(results)

    # Assert
    assert list(tables) == ["equity", "exposure", "fills", "trades"]
    for name, table in tables.items():
        assert all(column.num_chunks == len(results) for column in table.columns), name
    equity = tables["equity"].to_pandas()
    fills = tables["fills"].to_pandas()
    trades = tables["trades"].to_pandas()
    exposure = tables["exposure"]
    assert equity.columns.tolist() == [
        "time",
        "strategy",
        "symbol",
        "timeframe",
        "overlay",
        "equity",
        "cash",
        "position",
    ]
    assert fills.columns.tolist() == [
        "time",
        "strategy",
        "symbol",
        "timeframe",
        "overlay",
        "side",
        "qty",
        "price",
        "fee",
    ]
    assert tables["fills"].schema.field("time").type == pa.timestamp("ns", "UTC")
    for position, r in enumerate(results):
        rows = equity[equity["strategy"] == r.strategy]
        assert rows["equity"].tolist() == r.book.equity.tolist()
        assert pd.DatetimeIndex(rows["time"]).equals(r.book.equity.index.rename(None))
        mine = fills[fills["strategy"] == r.strategy].drop(columns=["strategy", "symbol", "timeframe", "overlay"])
        pd.testing.assert_frame_equal(mine.reset_index(drop=True), r.book.fills, check_dtype=False)
        theirs = trades[trades["strategy"] == r.strategy].drop(columns=["strategy", "symbol", "timeframe", "overlay"])
        pd.testing.assert_frame_equal(theirs.reset_index(drop=True), r.book.trades, check_dtype=False)
        assert exposure.column("regime").chunk(position).to_pylist() == r.sizing["regime"].tolist()
        assert exposure.column("risk_score").chunk(position).null_count == 10
    assert not len(fills[fills["strategy"] == "flat"])


def test_engine_import_given_no_numba_config_file_leaves_yaml_unimported_and_importable(tmp_path) -> None:
    # Act: a fresh interpreter in a folder without .numba_config.yaml
    code = (
        "import sys; import carryguard.backtests.engine.fast; "
        "print('yaml' in sys.modules); import yaml; print(yaml.safe_load('a: 1'))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)

    # Assert
    assert out.stdout.split("\n")[:2] == ["False", "{'a': 1}"]
